"""``vitalkey-portal serve | migrate | user add | worker`` — the portal's command line.

Settings come from ``VITALKEY_PORTAL_*`` variables over ``--config FILE`` (or
``VITALKEY_PORTAL_CONFIG``) over the defaults; see docs/portal.md.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

import anyio
import click
import uvicorn

from vitalkey_portal.accounts import AccountError, Accounts
from vitalkey_portal.core import build_core
from vitalkey_portal.db import migrate as migrations
from vitalkey_portal.db.engine import make_engine
from vitalkey_portal.settings import PortalSettings, SettingsError, load_settings
from vitalkey_portal.web.app import create_app

CONFIG = click.option(
    "--config", type=click.Path(dir_okay=False), default=None, help="TOML settings file (with [[providers]] tables)."
)


def _settings(config: str | None, **overrides: Any) -> PortalSettings:
    try:
        return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group()
def main() -> None:
    """Health2Go, the reference partner portal: its users link their account at a health-data provider."""


@main.command()
@CONFIG
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8100).")
def serve(config: str | None, host: str | None, port: int | None) -> None:
    """Serve the pages in one process, with the sync worker in it (unless run_worker is false)."""
    settings = _settings(config, host=host, port=port)
    _logging()
    app = create_app(settings)
    click.echo(f"{settings.brand} portal on {settings.public_url} (database {_shown_url(settings.database_url)})")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", proxy_headers=True, server_header=False)


@main.command()
@CONFIG
def migrate(config: str | None) -> None:
    """Create or upgrade the portal's database."""
    settings = _settings(config)
    engine = make_engine(settings)
    try:
        migrations.upgrade(engine)
        click.echo(f"The portal's database is at revision {migrations.current(engine)}.")
    finally:
        engine.dispose()


@main.group()
def user() -> None:
    """The portal's users."""


@user.command("add")
@CONFIG
@click.argument("username")
@click.option("--display-name", required=True, help="The name shown on the pages.")
@click.option("--timezone", default=None, help="IANA time zone for dates and times (default: the portal's).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def user_add(config: str | None, username: str, display_name: str, timezone: str | None, password_stdin: bool) -> None:
    """Add a user who signs in with USERNAME and a password."""
    settings = _settings(config)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = make_engine(settings)
    try:
        migrations.upgrade(engine)
        made = Accounts(engine, settings.login_failures).create(
            username, password, display_name, timezone or settings.timezone
        )
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(f"Added {made.username} ({made.display_name}, {made.timezone}).")


@main.command()
@CONFIG
def worker(config: str | None) -> None:
    """Run only the sync worker (when serve runs with run_worker = false)."""
    settings = _settings(config)
    _logging()
    asyncio.run(_worker_alone(settings))


async def _worker_alone(settings: PortalSettings) -> None:
    engine = make_engine(settings)
    migrations.upgrade(engine)
    core = build_core(settings, engine)
    stop = anyio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)  # finish the round, then stop
    click.echo(f"{settings.brand} sync worker running (database {_shown_url(settings.database_url)})")
    try:
        await core.worker.run(stop)
    finally:
        await core.aclose()
        engine.dispose()


def _shown_url(url: str) -> str:
    # A database URL may carry a password: show only the scheme and the place.
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


if __name__ == "__main__":  # pragma: no cover
    main()
