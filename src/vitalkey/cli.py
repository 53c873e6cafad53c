"""``vitalkey serve | migrate | worker | demo | apps | client | keys`` — the command line."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from vitalkey.settings import SQLITE_FILE, Settings, SettingsError, load_settings


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


def _data_files(settings: Settings) -> dict[str, Path]:
    """What the server keeps in its data folder: the embedded database and the generated server
    key, each unless configured elsewhere (database_url, secret_key)."""
    from vitalkey.adapters.secrets import KEY_FILE

    folder = Path(settings.data_dir)
    files: dict[str, Path] = {}
    if not settings.database_url:
        files["database"] = folder / SQLITE_FILE
    if not settings.secret_key:
        files["server key"] = folder / KEY_FILE
    return files


def _missing_data(settings: Settings) -> list[str]:
    return [name for name, path in _data_files(settings).items() if not path.exists()]


def _existing_data(settings: Settings) -> Settings:
    """Commands on the server's data never create a data folder: one made by mistake (a command
    run from another folder) would hold clients and keys the running server never sees."""
    missing = _missing_data(settings)
    if missing:
        raise click.ClickException(
            f"No VitalKey data in {settings.data_dir} (no {' and no '.join(missing)} there); nothing was "
            "created. Start the server once with ./vk serve (or run the migrate command), or set "
            "VITALKEY_DATA_DIR or --config to the server's data folder."
        )
    return settings


def _announce_new_data(settings: Settings) -> None:
    """The commands that may create the data (serve, migrate) say so, naming the folder."""
    missing = _missing_data(settings)
    if missing:
        click.echo(f"No VitalKey data in {settings.data_dir} yet: creating the {' and the '.join(missing)} there")


@click.group()
def main() -> None:
    """VitalKey account server.

    The commands work on the data serve uses: data_dir (default ./vitalkey-data of the working
    directory; ./vk cli runs from the project's root) and database_url, from VITALKEY_* or
    --config. Only serve and migrate create it."""


@main.command()
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")
@click.option("--host", default=None, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port to listen on.")
@click.option("--workers", type=int, default=None, help="Server processes.")
def serve(config: str | None, host: str | None, port: int | None, workers: int | None) -> None:
    """Start the web server (and, on the embedded default, the mail relay inside it)."""
    import uvicorn

    from vitalkey.adapters.db import migrate as migrations
    from vitalkey.adapters.secrets import load_or_create
    from vitalkey.observability import capture_process_errors, configure_logging

    settings = _settings(config, host=host, port=port, workers=workers)
    configure_logging(settings.log_level, settings.log_json)  # uvicorn's supervisor logs here too
    capture_process_errors()
    _announce_new_data(settings)
    load_or_create(settings.secret_key, settings.data_dir)  # once, before the workers race for it
    if settings.auto_migrate and migrations.due(settings.effective_database_url):
        from vitalkey.adapters.db.engine import make_engine

        engine = make_engine(settings.effective_database_url)
        migrations.upgrade(engine)
        engine.dispose()
    click.echo(
        f"VitalKey is running at http://{settings.host}:{settings.port} ({_mode(settings)}; "
        f"public URL {settings.public_url})"
    )
    if _data_files(settings):
        click.echo(f"Data folder: {settings.data_dir}")
    sys.stdout.flush()
    # Uvicorn (httptools, uvloop): each process parses HTTP and runs the app on one thread. With
    # two processes on two cores it served ~20% more refresh grants than Granian, whose I/O thread
    # hands every request to the Python thread and back (bench/RESULTS.md).
    uvicorn.run(
        "vitalkey.web.asgi:create",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        proxy_headers=False,  # the app reads X-Forwarded-For itself, from trusted_proxies only
        server_header=False,
        access_log=False,  # EdgeMiddleware logs every request
        log_config=None,  # the app configures logging (structlog) in each process
    )


def _mode(settings: Settings) -> str:
    """Where a newcomer reads the mail and the texts: the dev outboxes (texts only without a gateway)."""
    if not settings.dev_mode:
        return "production mode"
    texts = "" if settings.sms_provider_url else ", texts at /dev/sms"
    return f"dev mode: mail at /dev/mail{texts}"


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="VitalKey's port.")
@click.option(
    "--portal-port", type=click.IntRange(1, 65535), default=8100, show_default=True, help="The portal's port."
)
@click.option("--keep", is_flag=True, help="Keep the data of the last run (default: start afresh).")
@click.option("--every", type=float, default=60, show_default=True, help="Seconds between the demo user's new data.")
@click.option(
    "--data", type=click.Path(file_okay=False), default="demo-data", show_default=True, help="The demo's own folder."
)
def demo(port: int, portal_port: int, keep: bool, every: float, data: str) -> None:
    """VitalKey and the partner portal together, with a demo user, 90 days of data and a portal
    user, on a data folder of their own; new data arrives every minute. Ctrl-C stops both."""
    from vitalkey.demo import DemoError, DemoOptions, run

    try:
        status = run(DemoOptions(port=port, portal_port=portal_port, keep=keep, every_s=every, folder=Path(data)))
    except DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(status)


@main.command()
@click.option("--config", type=click.Path(dir_okay=False))
def migrate(config: str | None) -> None:
    """Bring the database schema up to date (creating the data folder when there is none)."""
    from vitalkey.adapters.db import migrate as migrations
    from vitalkey.adapters.db.engine import make_engine
    from vitalkey.adapters.secrets import load_or_create

    settings = _settings(config)
    _announce_new_data(settings)
    load_or_create(settings.secret_key, settings.data_dir)  # the data folder is whole: database and key
    engine = make_engine(settings.effective_database_url)
    before = migrations.current(engine)
    migrations.upgrade(engine)
    click.echo(f"schema: {before or 'empty'} -> {migrations.current(engine)}")


@main.command()
@click.option("--config", type=click.Path(dir_okay=False))
def worker(config: str | None) -> None:
    """Relay the outbox, send the partners' notifications and build the large accounts' data
    exports (for deployments that run them outside the web processes)."""
    from vitalkey.container import build
    from vitalkey.observability import capture_process_errors, configure_logging

    settings = _existing_data(_settings(config))
    configure_logging(settings.log_level, settings.log_json)
    capture_process_errors()
    container = build(settings)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await asyncio.gather(
                container.relay.run_forever(stop),
                container.delivery_worker.run_forever(stop),
                container.export_worker.run_forever(stop),
            )
        finally:
            await container.callbacks.aclose()

    asyncio.run(run())


def _container(config: str | None) -> Any:
    from vitalkey.container import build

    return build(_existing_data(_settings(config)))


@main.group()
def apps() -> None:
    """The registered apps and whether they can ask for a second factor."""


@apps.command("list")
@click.option("--config", type=click.Path(dir_okay=False))
def apps_list(config: str | None) -> None:
    """List the registered apps."""
    container = _container(config)
    click.echo(f"{'client_id':<28} {'2FA':<4} {'party':<6} name")
    for app in container.apps.all():
        party = "first" if app.first_party else "third"
        click.echo(f"{app.client_id:<28} {'yes' if app.supports_2fa else 'no':<4} {party:<6} {app.name}")


@apps.command("add")
@click.argument("client_id")
@click.option("--name", required=True, help="The name users see.")
@click.option("--supports-2fa/--no-2fa", default=True, help="Whether the app can ask for a second factor.")
@click.option("--first-party/--third-party", default=True)
@click.option("--config", type=click.Path(dir_okay=False))
def apps_add(client_id: str, name: str, supports_2fa: bool, first_party: bool, config: str | None) -> None:
    """Register an app."""
    from vitalkey.domain.errors import DomainError

    container = _container(config)
    try:
        app = container.apps.add(client_id, name, supports_2fa=supports_2fa, first_party=first_party)
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(f"added {app.client_id} ({'supports' if app.supports_2fa else 'does not support'} 2FA)")


@main.group()
def client() -> None:
    """OAuth clients (partner apps): the id and secret are printed once."""


def _show(app: Any) -> None:
    click.echo(f"client_id:     {app.client_id}")
    click.echo(f"name:          {app.name}")
    click.echo(f"type:          {app.client_type.value}{' (has a secret)' if app.secret_digest else ''}")
    click.echo(f"party:         {'first' if app.first_party else 'third'}")
    click.echo(f"supports 2FA:  {'yes' if app.supports_2fa else 'no'}")
    click.echo(f"redirect URIs: {' '.join(app.redirect_uris) or '-'}")
    click.echo(f"scopes:        {' '.join(app.scopes) or '-'}")
    if app.logo_url or app.policy_url:
        click.echo(f"logo, policy:  {app.logo_url or '-'} {app.policy_url or '-'}")


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(f"{getattr(exc, 'code', 'error')}: {getattr(exc, 'message_id', exc)}")


@client.command("create")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True, help="Exact; repeat for several.")
@click.option("--scope", "scopes", multiple=True, required=True, help="Allowed scope; repeat for several.")
@click.option("--public", is_flag=True, help="A mobile or browser app: no secret, PKCE required.")
@click.option("--first-party", is_flag=True)
@click.option("--no-2fa", "no_2fa", is_flag=True, help="The app cannot ask for a second factor.")
@click.option("--logo-url", default="")
@click.option("--policy-url", default="", help="Its privacy policy, linked on the consent page.")
@click.option("--client-id", default="", help="Default: 32 random hex digits.")
@click.option("--config", type=click.Path(dir_okay=False))
def client_create(
    name: str,
    redirect_uris: tuple[str, ...],
    scopes: tuple[str, ...],
    public: bool,
    first_party: bool,
    no_2fa: bool,
    logo_url: str,
    policy_url: str,
    client_id: str,
    config: str | None,
) -> None:
    """Register a client; prints its id and (confidential clients) its secret, once."""
    from vitalkey.domain.apps import ClientType
    from vitalkey.domain.errors import DomainError
    from vitalkey.flows.clients import NewClient

    new = NewClient(
        name=name,
        client_type=ClientType.PUBLIC if public else ClientType.CONFIDENTIAL,
        redirect_uris=redirect_uris,
        scopes=tuple(part for scope in scopes for part in scope.replace(",", " ").split()),
        first_party=first_party,
        supports_2fa=not no_2fa,
        logo_url=logo_url,
        policy_url=policy_url,
        client_id=client_id,
    )
    try:
        registered = _container(config).apps.register(new)
    except DomainError as exc:
        raise _fail(exc) from exc
    _show(registered.app)
    if registered.secret:
        click.echo(f"client_secret: {registered.secret}")
        click.echo("Keep the secret now: it is stored only as a digest and cannot be shown again.")


@client.command("list")
@click.option("--config", type=click.Path(dir_okay=False))
def client_list(config: str | None) -> None:
    """List the clients."""
    for app in _container(config).apps.all():
        click.echo(f"{app.client_id:<34} {app.client_type.value:<12} {app.name}")


@client.command("show")
@click.argument("client_id")
@click.option("--config", type=click.Path(dir_okay=False))
def client_show(client_id: str, config: str | None) -> None:
    """Show one client (never its secret)."""
    from vitalkey.domain.errors import DomainError

    try:
        _show(_container(config).apps.get(client_id))
    except DomainError as exc:
        raise _fail(exc) from exc


@client.command("rotate-secret")
@click.argument("client_id")
@click.option("--config", type=click.Path(dir_okay=False))
def client_rotate_secret(client_id: str, config: str | None) -> None:
    """Give a confidential client a new secret (printed once); the old one stops working."""
    from vitalkey.domain.errors import DomainError

    try:
        secret = _container(config).apps.rotate_secret(client_id)
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(f"client_secret: {secret}")


@client.command("delete")
@click.argument("client_id")
@click.option("--config", type=click.Path(dir_okay=False))
def client_delete(client_id: str, config: str | None) -> None:
    """Delete a client."""
    from vitalkey.domain.errors import DomainError

    try:
        _container(config).apps.delete(client_id)
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(f"deleted {client_id}")


@main.group()
def keys() -> None:
    """Server keys: the ones that seal secrets at rest, and the ones that sign ID tokens."""


@keys.command("new")
def keys_new() -> None:
    """Print a new sealing key (put it first in VITALKEY_ENCRYPTION_KEYS)."""
    from vitalkey.adapters.sealing import new_key

    click.echo(new_key())


@keys.command("reseal")
@click.option("--config", type=click.Path(dir_okay=False))
def keys_reseal(config: str | None) -> None:
    """Re-encrypt every sealed value (recovery codes and TOTP secrets, client secrets for Withings
    signatures, ID-token keys) under the newest key; then older keys can be dropped."""
    from vitalkey.adapters.reseal import reseal_all

    container = _container(config)
    counts = reseal_all(container.engine, container.sealer)
    click.echo(", ".join(f"resealed {count} in {table}" for table, count in counts.items()))


@keys.command("rotate")
@click.option("--alg", type=click.Choice(["ES256", "RS256"]), default=None, help="Default: id_token_alg.")
@click.option("--config", type=click.Path(dir_okay=False))
def keys_rotate(alg: str | None, config: str | None) -> None:
    """A new ID-token signing key. The old one stops signing and stays in the JWKS until the ID
    tokens it signed have expired (id_token_ttl_s); servers pick the new key up within a minute."""
    container = _container(config)
    key = container.signing_keys.rotate(alg)
    click.echo(f"new signing key {key.kid} ({key.alg})")


if __name__ == "__main__":
    main()
