"""``vitalkey serve | migrate | worker`` — the command line."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import click

from vitalkey.settings import Settings, SettingsError, load_settings


def _settings(config: str | None, **overrides: Any) -> Settings:
    if config:
        os.environ["VITALKEY_CONFIG"] = config
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"VITALKEY_{name.upper()}"] = str(value)  # worker processes read the same
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def main() -> None:
    """VitalKey account server."""


@main.command()
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")
@click.option("--host", default=None, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port to listen on.")
@click.option("--workers", type=int, default=None, help="Server processes.")
def serve(config: str | None, host: str | None, port: int | None, workers: int | None) -> None:
    """Start the web server (and, on the embedded default, the mail relay inside it)."""
    from granian import Granian
    from granian.constants import Interfaces

    from vitalkey.adapters.db import migrate as migrations
    from vitalkey.adapters.db.engine import make_engine
    from vitalkey.adapters.secrets import load_or_create

    settings = _settings(config, host=host, port=port, workers=workers)
    load_or_create(settings.secret_key, settings.data_dir)  # once, before the workers race for it
    if settings.auto_migrate:
        engine = make_engine(settings.effective_database_url)
        migrations.upgrade(engine)
        engine.dispose()
    mode = "dev mode: mail at /dev/mail" if settings.dev_mode else "production mode"
    click.echo(
        f"VitalKey is running at http://{settings.host}:{settings.port} ({mode}; public URL {settings.public_url})"
    )
    sys.stdout.flush()
    Granian(
        "vitalkey.web.asgi:create",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        factory=True,
        log_access=False,
    ).serve()


@main.command()
@click.option("--config", type=click.Path(dir_okay=False))
def migrate(config: str | None) -> None:
    """Bring the database schema up to date."""
    from vitalkey.adapters.db import migrate as migrations
    from vitalkey.adapters.db.engine import make_engine

    settings = _settings(config)
    engine = make_engine(settings.effective_database_url)
    before = migrations.current(engine)
    migrations.upgrade(engine)
    click.echo(f"schema: {before or 'empty'} -> {migrations.current(engine)}")


@main.command()
@click.option("--config", type=click.Path(dir_okay=False))
def worker(config: str | None) -> None:
    """Relay the outbox (for deployments that run it outside the web processes)."""
    from vitalkey.container import build
    from vitalkey.observability import configure_logging

    settings = _settings(config)
    configure_logging(settings.log_level, settings.log_json)
    container = build(settings)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await container.relay.run_forever(stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
