"""The portal's settings: ``VITALKEY_PORTAL_*`` variables over an optional TOML file (its
``[[providers]]`` tables name the providers), over the defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from vitalkey_portal.providers import Provider

ENV_PREFIX = "VITALKEY_PORTAL_"


class SettingsError(ValueError):
    """A configuration value cannot be used."""


@dataclass(frozen=True, slots=True)
class PortalSettings:
    brand: str = "Health2Go"
    public_url: str = ""  # default http://{host}:{port}; notification callbacks are built from it
    host: str = "127.0.0.1"
    port: int = 8100
    dev_mode: bool = False  # allows http public_url off loopback? never: only relaxes cookie Secure on http
    data_dir: str = "./portal-data"
    database_url: str = ""  # default: sqlite:///<data_dir>/portal.sqlite3; postgresql+psycopg://… works too
    secret_key: str = ""  # seals tokens and signs nothing else; empty: made once in data_dir/secret.key
    timezone: str = "UTC"  # how dates and times are shown when a user has none of their own
    first_sync_days: int = 60
    poll_interval_s: int = 6 * 3600  # the lastupdate safety net, spread over the interval
    login_failures: str = "5/900"  # failed sign-ins per username (and per address) per window, then throttled
    run_worker: bool = True  # `serve` runs the sync worker in-process
    providers: tuple[Provider, ...] = field(default_factory=tuple)


def load_settings(
    config_file: str | None = None, environ: dict[str, str] | None = None, **overrides: object
) -> PortalSettings:
    raise NotImplementedError  # portal-core
