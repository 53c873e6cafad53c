"""Password rules (SPEC "Password (optional) and reset"; NIST SP 800-63B §3.1.1.2; ASVS 6.2).

A password is taken whole: NFKC-normalised, counted in Unicode code points, never truncated,
no composition rules. It is refused, with the reason, when it is too short, too long, on the
common/breached list, or built from the user's own address or name. Strength (for the meter) is
zxcvbn's estimate, 0–4.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from vitalkey.domain.errors import DomainError
from vitalkey.domain.i18n import N_

RECOMMENDED_LENGTH = 15  # NIST SP 800-63B rev 4 for a password used alone
ESTIMATE_PREFIX = 72  # zxcvbn refuses longer input; a longer password is at least as strong


class PasswordRejected(DomainError):
    code = "password_rejected"
    message = N_("Please choose another password.")
    field = "password"


TOO_SHORT = N_("Your password needs at least %(min)s characters.")
TOO_LONG = N_("Your password can have at most %(max)s characters.")
COMMON = N_("This password is on a list of common or leaked passwords. Please choose another one.")
PERSONAL = N_("Your password must not be built from your email address or your name.")


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    min_length: int = 8
    max_length: int = 1024
    # Argon2id (OWASP): memory in KiB, passes, lanes.
    memory_kib: int = 19 * 1024
    time_cost: int = 2
    parallelism: int = 1
    # Throttling per account (NIST §3.2.2): waits after ``free_failures`` consecutive failures,
    # doubling from ``first_wait`` up to ``max_wait``; closed after ``lockout_failures``.
    free_failures: int = 5
    first_wait: timedelta = timedelta(seconds=1)
    max_wait: timedelta = timedelta(minutes=15)
    lockout_failures: int = 100
    reset_ttl: timedelta = timedelta(days=1)

    def wait_after(self, consecutive_failures: int) -> timedelta:
        """How long the password stage stays closed after that many consecutive failures."""
        if consecutive_failures < self.free_failures:
            return timedelta(0)
        doublings = min(consecutive_failures - self.free_failures, 30)
        wait: timedelta = self.first_wait * 2**doublings
        return min(wait, self.max_wait)


def normalize_password(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw)


def personal_words(email: str, names: Iterable[str | None]) -> list[str]:
    """The user's own data a password must not be built from: the address, its local part and
    the pieces of it, and the names (each at least 3 characters, case-folded)."""
    local, _, domain = email.casefold().rpartition("@")
    words = {email.casefold(), local, domain.split(".")[0]}
    for separator in ".-_+":
        local = local.replace(separator, " ")
    words.update(local.split())
    for name in names:
        if name:
            words.add(name.casefold())
            words.update(name.casefold().split())
    return sorted(w for w in words if len(w) >= 3)


def check_password(
    password: str,
    policy: PasswordPolicy,
    *,
    is_common: Callable[[str], bool],
    personal: Iterable[str],
) -> None:
    """Raise :class:`PasswordRejected` with the reason; ``password`` is already NFKC."""
    length = len(password)
    if length < policy.min_length:
        raise PasswordRejected(TOO_SHORT, min=policy.min_length)
    if length > policy.max_length:
        raise PasswordRejected(TOO_LONG, max=policy.max_length)
    folded = password.casefold()
    if is_common(folded):
        raise PasswordRejected(COMMON)
    if _built_from(folded, personal):
        raise PasswordRejected(PERSONAL)


def _built_from(folded: str, personal: Iterable[str]) -> bool:
    """The password is mostly one of the user's own words: what is left once the word is taken
    out is at most a few digits or symbols (``ada.lovelace2024!``, ``Lovelace123``)."""
    for word in personal:
        if word and word in folded:
            rest = folded.replace(word, "")
            if len(rest) <= 4 or not any(c.isalpha() for c in rest):
                return True
    return False


@dataclass(frozen=True, slots=True)
class Strength:
    score: int  # 0 (weakest) … 4 (strongest), zxcvbn's scale
    length: int
    recommended_length: int
    warning: str  # zxcvbn's English hint; pages show their own translated label

    @property
    def label(self) -> str:
        return STRENGTH_LABELS[self.score]


STRENGTH_LABELS = (
    N_("Very weak"),
    N_("Weak"),
    N_("Fair"),
    N_("Strong"),
    N_("Very strong"),
)


def estimate(password: str, personal: Iterable[str] = ()) -> Strength:
    if not password:  # zxcvbn fails on the empty string
        return Strength(score=0, length=0, recommended_length=RECOMMENDED_LENGTH, warning="")
    from zxcvbn import zxcvbn  # noqa: PLC0415 (here, not at start-up: its dictionaries take 15 MB a process)

    result = zxcvbn(password[:ESTIMATE_PREFIX], user_inputs=list(personal))
    score = int(result["score"])
    if len(password) < RECOMMENDED_LENGTH:
        score = min(score, 2)  # the meter recommends 15 characters
    return Strength(
        score=score,
        length=len(password),
        recommended_length=RECOMMENDED_LENGTH,
        warning=str(result["feedback"].get("warning") or ""),
    )
