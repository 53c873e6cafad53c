"""The portal's settings: ``VITALKEY_PORTAL_*`` variables over an optional TOML file (its
``[[providers]]`` tables name the providers), over the defaults."""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


SQLITE_FILE = "portal.sqlite3"
SECRET_FILE = "secret.key"  # noqa: S105 (a file name)
_FIELDS = {f.name: f for f in fields(PortalSettings)}
_INTEGERS = {"port", "first_sync_days", "poll_interval_s"}
_BOOLEANS = {"dev_mode", "run_worker"}
_RATE = re.compile(r"(\d+)/(\d+)")


def load_settings(
    config_file: str | None = None, environ: dict[str, str] | None = None, **overrides: object
) -> PortalSettings:
    """Precedence: ``overrides`` > ``VITALKEY_PORTAL_*`` > the TOML file (``config_file`` or
    ``VITALKEY_PORTAL_CONFIG``) > defaults. Raises SettingsError naming the field."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or env.get(f"{ENV_PREFIX}CONFIG")
    if path:
        try:
            with open(path, "rb") as handle:
                values.update(tomllib.load(handle))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read the config file {path}: {exc}") from exc
    for name in _FIELDS:
        if name != "providers" and f"{ENV_PREFIX}{name.upper()}" in env:
            values[name] = env[f"{ENV_PREFIX}{name.upper()}"]
    values.update(overrides)
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]!r}")
    typed = {name: _typed(name, value) for name, value in values.items()}
    settings = PortalSettings(**typed)
    _check(settings)
    return _completed(settings)


def _typed(name: str, value: Any) -> Any:
    if name == "providers":
        return _providers(value)
    if name in _BOOLEANS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise SettingsError(f"{name} must be true or false")
    if name in _INTEGERS:
        if isinstance(value, bool):
            raise SettingsError(f"{name} must be an integer")
        try:
            return int(str(value).strip())
        except ValueError:
            raise SettingsError(f"{name} must be an integer") from None
    if not isinstance(value, str):
        raise SettingsError(f"{name} must be a string")
    return value.strip()


def _providers(value: Any) -> tuple[Provider, ...]:
    if isinstance(value, tuple) and all(isinstance(item, Provider) for item in value):
        return value
    if not isinstance(value, list):
        raise SettingsError("providers must be [[providers]] tables")
    made: list[Provider] = []
    for table in value:
        if isinstance(table, Provider):
            made.append(table)
            continue
        if not isinstance(table, dict):
            raise SettingsError("providers must be [[providers]] tables")
        try:
            made.append(Provider.from_config(table))
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
    slugs = [provider.slug for provider in made]
    for slug in slugs:
        if slugs.count(slug) > 1:
            raise SettingsError(f"providers: the slug {slug!r} is used twice")
    return tuple(made)


def _check(settings: PortalSettings) -> None:
    if not 1 <= settings.port <= 65535:
        raise SettingsError("port must be from 1 to 65535")
    if not 1 <= settings.first_sync_days <= 3650:
        raise SettingsError("first_sync_days must be from 1 to 3650")
    if not 60 <= settings.poll_interval_s <= 7 * 86400:
        raise SettingsError("poll_interval_s must be from 60 to 604800 (seconds)")
    if not _RATE.fullmatch(settings.login_failures) or "/0" in settings.login_failures:
        raise SettingsError("login_failures must be '<count>/<seconds>', e.g. 5/900")
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"timezone must be an IANA time zone name, not {settings.timezone!r}") from None
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise SettingsError("public_url must be an http(s) URL without query or fragment")
    if settings.database_url and not settings.database_url.startswith(("sqlite:", "postgresql", "postgres:")):
        raise SettingsError("database_url must be an sqlite:/// or postgresql:// URL")
    if not settings.data_dir:
        raise SettingsError("data_dir must not be empty")
    if settings.secret_key and len(settings.secret_key) < 16:
        raise SettingsError("secret_key must be at least 16 characters (or empty: made once in data_dir)")


def _completed(settings: PortalSettings) -> PortalSettings:
    data_dir = Path(settings.data_dir).expanduser().resolve()
    public_url = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    database_url = settings.database_url or f"sqlite:///{data_dir / SQLITE_FILE}"
    secret_key = settings.secret_key or _kept_secret(data_dir)
    return replace(
        settings, data_dir=str(data_dir), public_url=public_url, database_url=database_url, secret_key=secret_key
    )


def _kept_secret(data_dir: Path) -> str:
    """A random key made once and kept beside the database (readable by its owner only)."""
    path = data_dir / SECRET_FILE
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            kept = path.read_text().strip()
            if len(kept) < 16:
                raise SettingsError(f"secret_key: {path} is too short; delete it to make a new one") from None
            return kept
        key = secrets.token_urlsafe(32)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(key + "\n")
        return key
    except OSError as exc:
        raise SettingsError(f"secret_key: cannot keep a key in {path}: {exc}") from exc
