"""One frozen Settings object, read from ``VITALKEY_*`` variables and an optional TOML file.

Precedence: environment > TOML file (``VITALKEY_CONFIG`` or ``--config``) > defaults.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

ENV_PREFIX = "VITALKEY_"
SQLITE_FILE = "vitalkey.sqlite3"  # the embedded database, in data_dir
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
# An address good enough for a mailto: link (one @, a dot in the domain, nothing that breaks a URL).
MAIL_ADDRESS = re.compile(r"[^@\s:/?#<>\"]+@[^@\s:/?#<>\"]+\.[^@\s:/?#<>\"]+")


# An origin a passkey may answer from: a web origin, or an Android app's signing-key hash.
PASSKEY_ORIGIN = re.compile(
    r"https://[a-z0-9.-]+(:[0-9]{1,5})?|http://localhost(:[0-9]{1,5})?|android:apk-key-hash:[A-Za-z0-9_-]{20,}"
)


class SettingsError(ValueError):
    """A configuration value cannot be used."""


# Sign-in with upstream providers (issue #23): what each kind needs, and its defaults.
UPSTREAM_KINDS = ("google", "apple", "oidc")
UPSTREAM_ISSUERS = {"google": "https://accounts.google.com", "apple": "https://appleid.apple.com"}
UPSTREAM_NAMES = {"google": "Google", "apple": "Apple"}
UPSTREAM_SCOPES = {
    "google": ("openid", "email", "profile"),
    # Apple's "name email", with openid (listed in Apple's scopes_supported) for the ID token.
    "apple": ("openid", "name", "email"),
    "oidc": ("openid", "email", "profile"),
}
UPSTREAM_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
UPSTREAM_KEYS = frozenset(
    {
        "id",
        "kind",
        "display_name",
        "issuer",
        "client_id",
        "client_secret",
        "team_id",
        "key_id",
        "private_key",
        "scopes",
        "logo_url",
        "trusted_for_second_factor",
    }
)


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """One configured upstream provider (an entry of ``federation_providers``), its defaults filled."""

    id: str
    kind: str  # google | apple | oidc
    display_name: str
    issuer: str  # discovery at {issuer}/.well-known/openid-configuration
    client_id: str
    client_secret: str = field(default="", repr=False)  # google and oidc
    team_id: str = ""  # apple: the client secret is a JWT signed with this team's key
    key_id: str = ""
    private_key: str = field(default="", repr=False)  # apple: the key's PEM text (read from a file if a path)
    scopes: tuple[str, ...] = ()
    logo_url: str = ""
    trusted_for_second_factor: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    # Where and how we are served.
    public_url: str = ""  # default: http://{host}:{port}
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    dev_mode: bool = True
    brand: str = "VitalKey"
    # Where "Contact us" in every page's footer leads: an https:// URL, a mailto: link or an
    # email address; empty: the address in mail_from.
    support_url: str = ""

    # Storage. The embedded default is an SQLite file under data_dir, a path relative to the
    # working directory (./vk runs from the project's root), made absolute once by load_settings.
    data_dir: str = "./vitalkey-data"
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "vitalkey:rate:"  # the keys' namespace, so installations may share one Redis
    auto_migrate: bool = True

    # Secrets. When empty, a random key is created once and kept in data_dir/secret.key.
    secret_key: str = ""

    # Mail.
    mail_from: str = "VitalKey <no-reply@vitalkey.localhost>"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"  # none | starttls | tls
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout_s: float = 10.0
    smtp_ca_file: str = ""  # a private CA for the SMTP server's certificate; default: the system's
    mail_console: bool = True
    relay_in_process: bool = True
    relay_batch: int = 100
    relay_poll_s: float = 1.0
    relay_max_attempts: int = 12

    # Flows and codes (numbers from SPEC.md).
    flow_ttl_s: int = 3600
    code_ttl_s: int = 600
    code_max_attempts: int = 5
    code_resend_cooldown_s: int = 60
    code_max_resends: int = 5
    privacy_policy_version: str = "2026-01"  # recorded on each account at sign-up
    privacy_policy_dir: str = ""  # the operator's policy: en.txt (required), de.txt, fr.txt, ja.txt, zh-Hans.txt

    # Rate limits on outgoing mail: "count/seconds".
    mail_limit_per_address: str = "10/3600"
    mail_limit_per_ip: str = "60/3600"
    # Wrong codes per address across all its flows: bounds guessing (NIST SP 800-63B §3.2.2: at
    # most 100), while a stranger needs 20 flows, each mailed to the owner, to lock an address out.
    code_failures_per_address: str = "100/86400"

    # Passwords (SPEC "Password (optional) and reset"; argon2id as OWASP recommends).
    password_min_length: int = 8
    password_max_length: int = 1024
    argon2_memory_kib: int = 19 * 1024
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    password_attempts_per_ip: str = "100/3600"  # noqa: S105 (a rate limit)
    upstream_starts_per_ip: str = "60/600"  # sign-ins with a provider started per client network
    password_reset_ttl_s: int = 86400

    # Two-factor authentication by SMS (SPEC "Two-factor authentication", "SMS delivery and abuse").
    # The gateway speaks Twilio's Messages API; a second one is used when the first fails. In dev
    # mode without a gateway, texts go to the dev outbox at /dev/sms.
    sms_provider_url: str = ""  # e.g. https://api.twilio.com
    sms_account_sid: str = ""
    sms_auth_token: str = ""
    sms_from: str = ""  # the sender: a number in E.164 or an alphanumeric sender id
    sms_fallback_url: str = ""
    sms_fallback_account_sid: str = ""
    sms_fallback_auth_token: str = ""
    sms_fallback_from: str = ""
    sms_timeout_s: float = 5.0
    sms_regions: tuple[str, ...] = (
        "AT", "AU", "BE", "CA", "CH", "CN", "DE", "DK", "ES", "FI", "FR", "GB", "IE", "IT", "JP", "LU",
        "NL", "NO", "NZ", "PT", "SE", "US",
    )  # fmt: skip
    # Toll-fraud defences, "count/seconds": per number, per number range (all but the last 4
    # digits), per country, per client network and per account; and a cap on all texts a day.
    sms_limit_per_number: str = "5/3600"
    sms_limit_per_range: str = "20/3600"
    sms_limit_per_country: str = "300/3600"
    sms_limit_per_ip: str = "10/3600"
    sms_limit_per_account: str = "10/3600"
    sms_daily_cap: int = 2000
    recovery_failures_per_account: str = "10/86400"
    reauth_window_s: int = 300  # a sign-in this recent may change the second factor
    # Passkeys (WebAuthn): the relying party is public_url's host and its origin; these origins
    # are accepted too (the companion apps': "android:apk-key-hash:…", or https:// origins).
    # public_url on an IP address, or plain http other than localhost, offers no passkeys.
    passkey_extra_origins: tuple[str, ...] = ()
    # Keys that seal recovery codes (Fernet, newest first); none: one derived from secret_key.
    encryption_keys: tuple[str, ...] = ()

    # The admin API (/api/v1/admin/…): off while empty; a bearer token of at least 32 characters.
    admin_token: str = ""

    # OAuth (withings-api.md: codes 30 s, access tokens 3 h, refresh tokens 1 year, 8 h grace).
    oauth_code_ttl_s: int = 30
    oauth_access_ttl_s: int = 3 * 3600
    oauth_refresh_ttl_s: int = 365 * 24 * 3600
    oauth_refresh_grace_s: int = 8 * 3600
    id_token_ttl_s: int = 3600
    id_token_alg: str = "ES256"  # noqa: S105 (or RS256)
    # The Withings data API: requests per minute per partner app (withings-api.md: 120), across processes.
    withings_requests_per_minute: int = 120
    # Notifications to partner apps: their callback URLs must be https on port 443 or 80, a host
    # name, and reach a public address; these two relax that for local testing (dev mode only).
    notify_allow_http: bool = False
    notify_allow_local: bool = False
    notify_timeout_s: float = 2.0  # a callback (and the HEAD at subscribe) answers within this
    notify_coalesce_s: float = 10.0  # changes of one user and appli within this give one callback

    # "Download my data".
    export_inline_limit: int = 20_000  # health records built at once; a larger account's ZIP is built by a worker
    export_link_ttl_s: int = 86_400  # a ready download (and its mailed link) works this long

    # Sessions.
    session_idle_s: int = 3600
    session_absolute_s: int = 30 * 24 * 3600
    session_absolute_two_factor_s: int = 24 * 3600  # SECURITY.md: 24 h for sessions with 2FA
    session_touch_s: int = 60

    # Web.
    max_body_bytes: int = 64 * 1024
    max_batch_bytes: int = 4 * 1024 * 1024  # a health batch (POST /api/v1/health/batches): up to 5,000 items
    # Importing a file of health history (flows/data_import.py): the file's size, and a ZIP's
    # unpacked size and member count (a ZIP bomb is refused before it fills the memory).
    import_max_bytes: int = 50 * 1024 * 1024
    import_max_unpacked_bytes: int = 200 * 1024 * 1024
    import_max_files: int = 1_000
    trusted_proxies: tuple[str, ...] = ()
    log_level: str = "info"
    log_json: bool = True

    # Sign-in with Apple, Google and OpenID Connect providers: JSON text (or a TOML array of
    # tables), a list of {id, kind, display_name, issuer, client_id, client_secret, team_id,
    # key_id, private_key, scopes, logo_url, trusted_for_second_factor}.
    federation_providers: tuple[UpstreamConfig, ...] = ()
    federation_leeway_s: int = 300  # clock skew allowed on an ID token's exp and iat
    federation_jwks_min_refetch_s: int = 60  # an unknown kid refetches a provider's keys at most this often

    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def https(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve() / SQLITE_FILE}"

    @property
    def support_href(self) -> str:
        """The "Contact us" link: support_url as a link, by default a mail to mail_from's address."""
        target = self.support_url or parseaddr(self.mail_from)[1]
        return target if target.startswith(("https://", "mailto:")) else f"mailto:{target}"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def parse_limit(text: str) -> tuple[int, int]:
    """``"10/3600"`` → (10 hits, 3600 seconds)."""
    try:
        count, seconds = (int(part) for part in text.split("/", 1))
    except ValueError as exc:
        raise SettingsError(f"rate limit {text!r} is not 'count/seconds'") from exc
    if count < 1 or seconds < 1:
        raise SettingsError(f"rate limit {text!r} must be positive")
    return count, seconds


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    if name == "federation_providers":
        return parse_upstream_providers(raw)
    origin = typing.get_origin(kind)
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise SettingsError(f"{name}: {raw!r} is not a boolean")
    if kind in (int, float, str):
        try:
            return kind(raw)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{name}: {raw!r} is not a {kind.__name__}") from exc
    if origin is tuple:
        items = raw if isinstance(raw, list | tuple) else [p for p in str(raw).split(",") if p.strip()]
        return tuple(str(item).strip() for item in items)
    if origin is dict or isinstance(kind, types.GenericAlias):
        if not isinstance(raw, dict):
            raise SettingsError(f"{name}: expected a table")
        return raw
    return raw


def parse_upstream_providers(raw: Any) -> tuple[UpstreamConfig, ...]:
    """``federation_providers`` from JSON text (the environment) or a list of tables (TOML)."""
    if isinstance(raw, tuple) and all(isinstance(item, UpstreamConfig) for item in raw):
        return raw
    if isinstance(raw, str):
        if not raw.strip():
            return ()
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise SettingsError(f"federation_providers: not valid JSON ({exc})") from exc
    if not isinstance(raw, list | tuple):
        raise SettingsError("federation_providers: expected a list of providers")
    providers = tuple(_upstream_config(index, entry) for index, entry in enumerate(raw))
    ids = [provider.id for provider in providers]
    for provider_id in ids:
        if ids.count(provider_id) > 1:
            raise SettingsError(f"federation_providers: the id {provider_id!r} is used twice")
    return providers


def _upstream_config(index: int, entry: Any) -> UpstreamConfig:
    where = f"federation_providers[{index}]"
    if not isinstance(entry, dict):
        raise SettingsError(f"{where}: expected an object")
    unknown = set(entry) - UPSTREAM_KEYS
    if unknown:
        raise SettingsError(f"{where}: unknown keys {', '.join(sorted(unknown))}")

    def text(key: str, default: str = "") -> str:
        value = entry.get(key, default)
        if not isinstance(value, str):
            raise SettingsError(f"{where}.{key}: expected a string")
        return value.strip()

    kind = text("kind")
    if kind not in UPSTREAM_KINDS:
        raise SettingsError(f"{where}.kind: must be one of {', '.join(UPSTREAM_KINDS)}")
    provider_id = text("id", kind if kind != "oidc" else "")
    where = f"federation_providers[{index}] ({provider_id or 'no id'})"
    if not UPSTREAM_ID.fullmatch(provider_id):
        raise SettingsError(f"{where}.id: 1 to 32 of a-z, 0-9, '-' and '_', starting with a letter or digit")
    display_name = text("display_name", UPSTREAM_NAMES.get(kind, ""))
    if not 0 < len(display_name) <= 64:
        raise SettingsError(f"{where}.display_name: 1 to 64 characters required")
    issuer = text("issuer", UPSTREAM_ISSUERS.get(kind, ""))
    if not secure_url(issuer) or urlsplit(issuer).query or urlsplit(issuer).fragment:
        raise SettingsError(f"{where}.issuer: an https:// URL (http:// only on a loopback address) is required")
    client_id = text("client_id")
    if not client_id:
        raise SettingsError(f"{where}.client_id: required")
    client_secret = text("client_secret")
    team_id, key_id, private_key = text("team_id"), text("key_id"), text("private_key")
    if kind == "apple":
        for key, value in (("team_id", team_id), ("key_id", key_id), ("private_key", private_key)):
            if not value:
                raise SettingsError(f"{where}.{key}: required for Sign in with Apple")
        private_key = _apple_key(where, private_key)
    elif not client_secret:
        raise SettingsError(f"{where}.client_secret: required")
    scopes_raw = entry.get("scopes", list(UPSTREAM_SCOPES[kind]))
    if isinstance(scopes_raw, str):
        scopes_raw = scopes_raw.split()
    if not isinstance(scopes_raw, list | tuple) or not all(isinstance(s, str) and s.strip() for s in scopes_raw):
        raise SettingsError(f"{where}.scopes: expected a list of scope names")
    scopes = tuple(dict.fromkeys(s.strip() for s in scopes_raw))
    if "openid" not in scopes:
        raise SettingsError(f"{where}.scopes: must include openid (the ID token)")
    logo_url = text("logo_url")
    if logo_url and not logo_url.startswith("https://"):
        raise SettingsError(f"{where}.logo_url: must be an https:// URL")
    trusted = entry.get("trusted_for_second_factor", False)
    if not isinstance(trusted, bool):
        raise SettingsError(f"{where}.trusted_for_second_factor: expected true or false")
    return UpstreamConfig(
        id=provider_id,
        kind=kind,
        display_name=display_name,
        issuer=issuer,
        client_id=client_id,
        client_secret=client_secret,
        team_id=team_id,
        key_id=key_id,
        private_key=private_key,
        scopes=scopes,
        logo_url=logo_url,
        trusted_for_second_factor=trusted,
    )


def secure_url(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)


def _apple_key(where: str, value: str) -> str:
    """The PEM text of Apple's key (given as text or as a file's path), checked to be a P-256 key."""
    pem = value
    if not value.startswith("-----BEGIN"):
        try:
            pem = Path(value).expanduser().read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(
                f"{where}.private_key: cannot read the key file {value} ({type(exc).__name__})"
            ) from exc
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{where}.private_key: not a PEM private key without a password") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise SettingsError(f"{where}.private_key: Sign in with Apple needs an ES256 (P-256) key")
    return pem


def load_settings(config_file: str | None = None, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or env.get(f"{ENV_PREFIX}CONFIG")
    if path:
        try:
            with open(path, "rb") as handle:
                values.update(tomllib.load(handle))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read config file {path}: {exc}") from exc
    hints = typing.get_type_hints(Settings)
    known = {f.name for f in fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise SettingsError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
    for name in known:
        key = ENV_PREFIX + name.upper()
        if key in env:
            values[name] = env[key]
    values.update(overrides)
    coerced = {name: _coerce(name, hints[name], raw) for name, raw in values.items()}
    settings = Settings(**coerced)
    if not settings.public_url:
        settings = settings.replace(public_url=f"http://{settings.host}:{settings.port}")
    # Absolute once, so that every message names the folder in full.
    settings = settings.replace(data_dir=str(Path(settings.data_dir).expanduser().resolve()))
    _validate(settings)
    return settings


RATE_LIMITS = (
    "mail_limit_per_address",
    "mail_limit_per_ip",
    "code_failures_per_address",
    "password_attempts_per_ip",
    "upstream_starts_per_ip",
    *(f"sms_limit_per_{name}" for name in ("number", "range", "country", "ip", "account")),
    "recovery_failures_per_account",
)


def longest_rate_window_s(settings: Settings) -> int:
    """The longest window of any rate limit (the SMS cap's day included): older counts are useless."""
    return max(86400, *(parse_limit(getattr(settings, name))[1] for name in RATE_LIMITS))


def _validate(settings: Settings) -> None:
    if not 0 < len(settings.privacy_policy_version.strip()) <= 32:
        raise SettingsError("privacy_policy_version must have 1 to 32 characters")
    if settings.privacy_policy_dir:
        policy_dir = Path(settings.privacy_policy_dir)
        if not policy_dir.is_dir():
            raise SettingsError(f"privacy_policy_dir: {policy_dir} is not a folder")
        if not (policy_dir / "en.txt").is_file():
            raise SettingsError(
                f"privacy_policy_dir: {policy_dir / 'en.txt'} is missing (the English text is required)"
            )
    for name in RATE_LIMITS:
        parse_limit(getattr(settings, name))
    if settings.sms_provider_url and not (settings.sms_account_sid and settings.sms_auth_token and settings.sms_from):
        raise SettingsError("sms_provider_url needs sms_account_sid, sms_auth_token and sms_from")
    fallback = (settings.sms_fallback_account_sid, settings.sms_fallback_auth_token, settings.sms_fallback_from)
    if settings.sms_fallback_url and not all(fallback):
        raise SettingsError(
            "sms_fallback_url needs sms_fallback_account_sid, sms_fallback_auth_token and sms_fallback_from"
        )
    if settings.id_token_alg not in ("ES256", "RS256"):
        raise SettingsError("id_token_alg must be ES256 or RS256")
    if settings.admin_token and len(settings.admin_token) < 32:
        raise SettingsError("admin_token must have at least 32 characters (or be empty: no admin API)")
    if not settings.dev_mode and not settings.sms_provider_url:
        raise SettingsError("sms_provider_url is required outside dev mode (security codes would go nowhere)")
    if settings.smtp_security not in {"none", "starttls", "tls"}:
        raise SettingsError("smtp_security must be none, starttls or tls")
    if settings.public_url and not settings.public_url.startswith(("http://", "https://")):
        raise SettingsError("public_url must start with http:// or https://")
    _validate_support_url(settings.support_url)
    for origin in settings.passkey_extra_origins:
        if not PASSKEY_ORIGIN.fullmatch(origin):
            raise SettingsError(
                f"passkey_extra_origins: {origin!r} is not an origin (https://host[:port] or android:apk-key-hash:…)"
            )
    if settings.dev_mode and (settings.https or settings.host not in LOOPBACK):
        # Dev mode shows every mail, codes included, at /dev/mail: only ever on this machine.
        raise SettingsError(
            "dev_mode serves all mail at /dev/mail; it is allowed only on a loopback host over http "
            "(set VITALKEY_DEV_MODE=false and an smtp_host to serve others)"
        )
    if not settings.dev_mode and not settings.smtp_host:
        raise SettingsError("smtp_host is required outside dev mode (mail would go nowhere)")
    at_least = {
        "port": 1,
        "workers": 1,
        "smtp_port": 1,
        "relay_batch": 1,
        "relay_max_attempts": 1,
        "flow_ttl_s": 60,
        "code_ttl_s": 60,
        "code_max_attempts": 1,
        "code_resend_cooldown_s": 0,
        "code_max_resends": 0,
        "session_idle_s": 60,
        "session_absolute_s": 60,
        "session_touch_s": 1,
        "max_body_bytes": 1024,
        "max_batch_bytes": 1024,
        "import_max_bytes": 1024,
        "import_max_unpacked_bytes": 1024,
        "import_max_files": 1,
        "password_min_length": 8,  # NIST SP 800-63B: never fewer
        "password_max_length": 128,  # ASVS 6.2.9 asks for at least 64; we allow 128 at the least
        "argon2_memory_kib": 7 * 1024,  # OWASP's lowest argon2id setting
        "argon2_time_cost": 1,
        "argon2_parallelism": 1,
        "password_reset_ttl_s": 60,
        "sms_daily_cap": 1,
        "reauth_window_s": 60,
        "session_absolute_two_factor_s": 60,
        "withings_requests_per_minute": 1,
    }
    for name, lowest in at_least.items():
        if getattr(settings, name) < lowest:
            raise SettingsError(f"{name} must be at least {lowest}")
    if settings.password_min_length > settings.password_max_length:
        raise SettingsError("password_min_length must not exceed password_max_length")
    if settings.password_reset_ttl_s > 86400:
        raise SettingsError("password_reset_ttl_s must be at most one day (NIST SP 800-63B §4.2)")
    if settings.relay_poll_s <= 0 or settings.smtp_timeout_s <= 0 or settings.sms_timeout_s <= 0:
        raise SettingsError("relay_poll_s, smtp_timeout_s and sms_timeout_s must be positive")
    if not 0 < settings.notify_timeout_s <= 30:
        raise SettingsError("notify_timeout_s must be more than 0 and at most 30")
    if not 0 <= settings.notify_coalesce_s <= 3600:
        raise SettingsError("notify_coalesce_s must be from 0 to 3600")
    if not 0 <= settings.export_inline_limit <= 1_000_000:
        raise SettingsError("export_inline_limit must be from 0 to 1000000")
    if not 60 <= settings.export_link_ttl_s <= 7 * 86_400:
        raise SettingsError("export_link_ttl_s must be from 60 to 604800 (a week)")
    if not 0 <= settings.federation_leeway_s <= 600:
        raise SettingsError("federation_leeway_s must be from 0 to 600 (ten minutes)")
    if not 1 <= settings.federation_jwks_min_refetch_s <= 86_400:
        raise SettingsError("federation_jwks_min_refetch_s must be from 1 to 86400")
    if not settings.dev_mode and (settings.notify_allow_http or settings.notify_allow_local):
        raise SettingsError(
            "notify_allow_http and notify_allow_local are for local testing: refused outside dev mode "
            "(partners' callbacks could then reach this server's own network)"
        )


def _validate_support_url(value: str) -> None:
    """A link a visitor can follow safely: https://host/…, mailto:address or a bare address."""
    if not value:
        return
    if value.startswith("https://"):
        parts = urlsplit(value)
        if parts.hostname and not any(char.isspace() for char in value):
            return
    elif MAIL_ADDRESS.fullmatch(value.removeprefix("mailto:")):
        return
    raise SettingsError(f"support_url {value!r} must be an https:// URL, a mailto: link or an email address")
