"""Email addresses: syntax, normalisation and "Did you mean …?" for mistyped domains."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import pymailcheck
from email_validator import EmailNotValidError, validate_email

from vitalkey.domain.errors import InvalidEmail
from vitalkey.domain.i18n import N_

MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit

# Large consumer mail providers, including those common where our five languages are spoken.
# mailcheck's own list misses several of them (hotmail.com, outlook.com, yahoo.com, …).
COMMON_PROVIDERS: frozenset[str] = frozenset(pymailcheck.DOMAINS) | {
    "gmail.com",
    "googlemail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "hotmail.de",
    "outlook.com",
    "outlook.fr",
    "outlook.de",
    "live.com",
    "live.fr",
    "live.de",
    "msn.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "yahoo.de",
    "yahoo.co.jp",
    "ymail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.de",
    "gmx.net",
    "gmx.at",
    "gmx.ch",
    "web.de",
    "t-online.de",
    "freenet.de",
    "posteo.de",
    "orange.fr",
    "free.fr",
    "sfr.fr",
    "laposte.net",
    "wanadoo.fr",
    "bbox.fr",
    "docomo.ne.jp",
    "ezweb.ne.jp",
    "softbank.ne.jp",
    "i.softbank.jp",
    "nifty.com",
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "sohu.com",
    "foxmail.com",
    "aliyun.com",
    "fastmail.com",
    "zoho.com",
    "mail.com",
    "yandex.com",
    "comcast.net",
    "verizon.net",
}
COMMON_SECOND_LEVEL: frozenset[str] = frozenset(
    {"gmail", "hotmail", "outlook", "live", "yahoo", "icloud", "gmx", "orange", "free", "qq", "proton"}
)
COMMON_TOP_LEVEL: frozenset[str] = frozenset(pymailcheck.TOP_LEVEL_DOMAINS) | {
    "com",
    "net",
    "org",
    "de",
    "fr",
    "jp",
    "cn",
    "co.jp",
    "ne.jp",
    "co.uk",
    "me",
    "ch",
    "at",
    "be",
}


def normalize_email(raw: str) -> str:
    """Validate syntax and return the address with a lower-cased domain (local part kept)."""
    text = unicodedata.normalize("NFC", raw.strip())
    if not text:
        raise InvalidEmail(N_("Please enter your email address."))
    if len(text) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(N_("This email address is too long (at most 254 characters)."))
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail() from exc
    normalized: str = result.normalized
    if "=?" in result.local_part:  # an RFC 2047 encoded word: mail software would decode it
        raise InvalidEmail()
    if len(normalized) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(N_("This email address is too long (at most 254 characters)."))
    return normalized


def account_key(address: str) -> str:
    """The form under which an address is unique: the whole address, case-folded."""
    return address.casefold()


def suggest_correction(address: str) -> str | None:
    """A likely intended address when the domain looks like a typo of a common provider."""
    local, _, domain = address.rpartition("@")
    corrected = _corrected_domain(domain.lower())
    return f"{local}@{corrected}" if local and corrected else None


@lru_cache(maxsize=8192)
def _corrected_domain(domain: str) -> str | None:
    """Cached per domain: the distance search over the provider list costs about 2 ms."""
    if domain in COMMON_PROVIDERS:
        return None
    found = pymailcheck.suggest(
        f"x@{domain}",
        domains=COMMON_PROVIDERS,
        second_level_domains=COMMON_SECOND_LEVEL,
        top_level_domains=COMMON_TOP_LEVEL,
    )
    corrected = str(found["domain"]) if found else None
    return None if corrected == domain else corrected
