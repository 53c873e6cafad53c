"""Password rules (SPEC "Password (optional) and reset"; NIST SP 800-63B §3.1.1.2; ASVS 6.2).

A password is taken whole: NFKC-normalised, counted in Unicode code points, never truncated,
no composition rules. It is refused, with the reason, when it is too short, too long, on the
common/breached list (also with a few digits or symbols added and look-alikes undone), built
from the user's own data (names, address, birth date, the service's name) with little added, or
guessed by zxcvbn, given that data, in fewer than MIN_GUESSES guesses. Strength (for the meter)
is zxcvbn's estimate, 0–4, with the same data.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import islice, product
from typing import Any

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
COMMON_VARIANT = N_(
    "This password is a common password with a few numbers or symbols added, or with letters swapped "
    "for look-alikes (like @ for a). Please choose another one."
)
PERSONAL = N_(
    "This password is built from your name, your email address, your birth date or the name of this "
    "service. Please choose another one."
)
DATE = N_("This password is easy to guess: it is mostly a date or a year. Please choose another one.")
PATTERN = N_(
    "This password is easy to guess: it is mostly a keyboard pattern, a sequence or a repetition "
    "(like qwerty, abcd or 1111). Please choose another one."
)
WORDS = N_(
    "This password is easy to guess: it is mostly common words or names with little added. "
    "Add more words, or less common ones."
)
GUESSABLE = N_(
    "This password is easy to guess. Longer ones are stronger: several unrelated words make a good password."
)
# zxcvbn's patterns (and dictionaries) → the reason given for a guessable password.
_REASONS = {
    "user_inputs": PERSONAL,
    "passwords": COMMON_VARIANT,
    "english_wikipedia": WORDS,
    "us_tv_and_film": WORDS,
    "surnames": WORDS,
    "male_names": WORDS,
    "female_names": WORDS,
    "date": DATE,
    "regex": DATE,  # zxcvbn's only regex is a recent year
    "spatial": PATTERN,
    "sequence": PATTERN,
    "repeat": PATTERN,
}


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
    # Words of the service (its name) that no password may be built from (NIST §3.1.1.2).
    context_words: tuple[str, ...] = ("VitalKey",)

    def wait_after(self, consecutive_failures: int) -> timedelta:
        """How long the password stage stays closed after that many consecutive failures."""
        if consecutive_failures < self.free_failures:
            return timedelta(0)
        doublings = min(consecutive_failures - self.free_failures, 30)
        wait: timedelta = self.first_wait * 2**doublings
        return min(wait, self.max_wait)


def normalize_password(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw)


def personal_words(
    email: str,
    names: Iterable[str | None],
    birth_date: date | None = None,
    context: Iterable[str] = (),
) -> list[str]:
    """The user's own data a password must not be built from, most personal first (zxcvbn ranks
    its ``user_inputs`` by position): the names, the address, its local part and the pieces of
    it, the birth date as people write it in passwords, and the service's name (``context``).
    Case-folded; words of at least 3 characters."""
    words: list[str] = []
    for name in names:
        if name:
            words.append(name.casefold())
            words.extend(name.casefold().split())
    local, _, domain = email.casefold().rpartition("@")
    words.extend((email.casefold(), local, domain.split(".")[0]))
    for separator in ".-_+":
        local = local.replace(separator, " ")
    words.extend(local.split())
    if birth_date:
        words.extend(_date_forms(birth_date))
    words.extend(word.casefold() for word in context)
    return list(dict.fromkeys(w for w in words if len(w) >= 3))


def _date_forms(day: date) -> list[str]:
    """1987-03-12 as 1987, 1203, 0312, 120387, 031287, 870312, 12031987, 03121987, 19870312, and
    written with separators (1987-03-12, 12.03.1987, 12/03/1987, 03/12/1987, 12-03-1987, 12.03.87)."""
    y, yy, m, d = f"{day.year:04d}", f"{day.year % 100:02d}", f"{day.month:02d}", f"{day.day:02d}"
    forms = [y, d + m, m + d, d + m + yy, m + d + yy, yy + m + d, d + m + y, m + d + y, y + m + d]
    forms += [f"{y}-{m}-{d}", f"{d}.{m}.{y}", f"{d}/{m}/{y}", f"{m}/{d}/{y}", f"{d}-{m}-{y}", f"{d}.{m}.{yy}"]
    return forms


def check_password(
    password: str,
    policy: PasswordPolicy,
    *,
    is_common: Callable[[str], bool],
    personal: Sequence[str],
) -> None:
    """Raise :class:`PasswordRejected` with the reason; ``password`` is already NFKC."""
    refusal = _refusal(password, policy, is_common, personal, lambda: _estimate(password, personal))
    if refusal:
        raise refusal


def rate(
    password: str,
    policy: PasswordPolicy,
    *,
    is_common: Callable[[str], bool],
    personal: Sequence[str],
) -> Strength:
    """The meter: zxcvbn's score with the same data the rules use, at most "Weak" for a password
    the rules refuse, at most "Fair" under RECOMMENDED_LENGTH."""
    if not password:
        return Strength(score=0, length=0, recommended_length=RECOMMENDED_LENGTH, warning="")
    estimated = _estimate(password, personal)
    score = _score(estimated.guesses)
    if len(password) < RECOMMENDED_LENGTH:
        score = min(score, 2)
    if _refusal(password, policy, is_common, personal, lambda: estimated):
        score = min(score, 1)
    return Strength(score=score, length=len(password), recommended_length=RECOMMENDED_LENGTH, warning=estimated.warning)


def _refusal(
    password: str,
    policy: PasswordPolicy,
    is_common: Callable[[str], bool],
    personal: Sequence[str],
    estimated: Callable[[], Estimate],
) -> PasswordRejected | None:
    """In order: the length; the common list as typed; the user's own data with a few characters
    added (``Danafox1987!x``); the common list once appended or prepended digits and symbols are
    taken off and look-alikes undone (``P@ssw0rd2024!``); zxcvbn's guesses, given that data, below
    :data:`MIN_GUESSES` (``estimated`` is called last: it is the slow part)."""
    length = len(password)
    if length < policy.min_length:
        return PasswordRejected(TOO_SHORT, min=policy.min_length)
    if length > policy.max_length:
        return PasswordRejected(TOO_LONG, max=policy.max_length)
    folded = password.casefold()
    if is_common(folded):
        return PasswordRejected(COMMON)
    if _built_from(folded, personal):
        return PasswordRejected(PERSONAL)
    if _common_with_additions(folded, is_common):
        return PasswordRejected(COMMON_VARIANT)
    estimate = estimated()
    if estimate.guesses < MIN_GUESSES:
        return PasswordRejected(_why_guessable(estimate.matches))
    return None


# Online guessing is held to 100 failures per account (PasswordPolicy.lockout_failures) and per
# network by the rate limiter. A password zxcvbn needs at least 10^6 guesses for (its score 2 and
# up; "protection from unthrottled online attacks" starts at 10^8, "throttled" at 10^6) leaves a
# 100-guess attacker at most a 1 in 10,000 chance per account even if they guess in zxcvbn's
# order; below it, a password is what NIST SP 800-63B calls "commonly used, expected or
# compromised": a common word, a name, a date, a keyboard walk or a sequence with little added.
MIN_GUESSES = 10**6
# Digits and symbols around a common password or the user's own data that password-cracking rules
# try first: years, dates, "123", "!"; up to this many characters add little whatever they are.
FEW_CHARACTERS = 6
# Look-alikes undone before the list is consulted; "1" and "|" may stand for "i" or "l".
SUBSTITUTIONS: dict[str, str] = {
    "@": "a", "4": "a", "8": "b", "(": "c", "3": "e", "6": "g", "9": "g", "1": "il", "!": "i",
    "|": "il", "0": "o", "$": "s", "5": "s", "7": "t", "+": "t", "2": "z",
}  # fmt: skip
MAX_VARIANTS = 16  # substitution variants tried per candidate: bounded on any input
MAX_LISTED_LENGTH = 64  # longer candidates are not looked up (the list's longest entry has 26)


def _common_with_additions(folded: str, is_common: Callable[[str], bool]) -> bool:
    """A listed password once a run of digits and symbols is taken off either end and look-alikes
    are undone, if what was taken off adds little. The runs may end in look-alikes of letters
    (``hell0!``), so the cut is also tried up to two characters inside each run."""
    lead = _run_length(folded)
    trail = _run_length(folded[::-1])
    if lead == len(folded):  # digits and symbols only: zxcvbn judges those
        return False
    if not _adds_little(folded[:lead] + folded[len(folded) - trail :]):
        return False
    end = len(folded)
    for start in range(lead, max(lead - 2, 0) - 1, -1):
        for stop in range(end - trail, min(end - trail + 2, end) + 1):
            core = folded[start:stop]
            if len(core) <= MAX_LISTED_LENGTH and any(is_common(v) for v in _undone_substitutions(core)):
                return True
    return False


def _run_length(text: str) -> int:
    """The length of the run of non-letters at the start of ``text``."""
    for index, char in enumerate(text):
        if char.isalpha():
            return index
    return len(text)


def _undone_substitutions(text: str) -> Iterator[str]:
    """``text`` itself, then at most MAX_VARIANTS - 1 readings of its look-alikes as letters."""
    yield text
    if not any(char in SUBSTITUTIONS for char in text):
        return
    choices = [SUBSTITUTIONS.get(char, char) for char in text]
    yield from ("".join(letters) for letters in islice(product(*choices), MAX_VARIANTS - 1))


def _built_from(folded: str, personal: Sequence[str]) -> bool:
    """The password is the user's own words (names, address, birth date, the service's name),
    look-alikes undone, with little else (``ada.lovelace2024!``, ``Danafox1987!x``, ``L0velace``)."""
    words = sorted({word for word in personal if len(word) >= 3}, key=len, reverse=True)
    rest = _without(folded, words)  # the date forms go before their digits are read as letters
    if len(rest) < len(folded) and _adds_little(rest):
        return True
    for variant in islice(_undone_substitutions(rest), 1, MAX_VARIANTS):
        left = _without(variant, words)
        if len(left) < len(folded) and len(left) <= FEW_CHARACTERS:
            return True
    return False


def _without(text: str, words: Sequence[str]) -> str:
    for word in words:
        text = text.replace(word, "")
    return text


def _adds_little(rest: str) -> bool:
    """A few characters, or a longer run that zxcvbn guesses soon (``123456789``, ``!@#$%^``).
    Beyond the estimator's prefix it is left to the estimate of the whole password."""
    if len(rest) <= FEW_CHARACTERS:
        return True
    return len(rest) <= ESTIMATE_PREFIX and _estimate(rest, ()).guesses < MIN_GUESSES


@dataclass(frozen=True, slots=True)
class Estimate:
    guesses: float
    matches: list[dict[str, Any]]  # zxcvbn's match sequence: pattern, dictionary_name, token …
    warning: str  # zxcvbn's English hint


# zxcvbn keeps the user inputs of a call in a module-level dictionary: two threads estimating at
# once would each see the other's (a password judged against another user's name). It is pure
# Python, so serialising the calls costs no parallelism.
_ZXCVBN = threading.Lock()
# A run of three or more copies of a unit, in a password longer than zxcvbn takes: kept as two
# copies (still seen as a repeat), so that "a" * 1000 or "password" + "1" * 1000 is not
# estimated piece by piece as if each piece were new.
_REPEATS = re.compile(r"(.{1,32}?)\1{2,}", re.DOTALL)


def _estimate(password: str, personal: Sequence[str]) -> Estimate:
    """zxcvbn's guesses and the patterns it found. zxcvbn takes at most ESTIMATE_PREFIX
    characters: a longer password, repeats shortened, is estimated piece by piece (distinct
    pieces multiply) until it is known to reach MIN_GUESSES, so any input costs a few calls."""
    from zxcvbn import zxcvbn  # noqa: PLC0415 (here, not at start-up: its dictionaries take 15 MB a process)

    if not password:
        return Estimate(guesses=1.0, matches=[], warning="")
    text = _REPEATS.sub(r"\1\1", password) if len(password) > ESTIMATE_PREFIX else password
    pieces = dict.fromkeys(text[start : start + ESTIMATE_PREFIX] for start in range(0, len(text), ESTIMATE_PREFIX))
    guesses, matches, warning = 1.0, [], ""
    for piece in pieces:
        with _ZXCVBN:
            result = zxcvbn(piece, user_inputs=list(personal))
        guesses *= float(result["guesses"])
        matches.extend(result["sequence"])
        warning = warning or str(result["feedback"].get("warning") or "")
        if guesses >= MIN_GUESSES:
            break
    return Estimate(guesses=guesses, matches=matches, warning=warning)


def _score(guesses: float) -> int:
    """zxcvbn's 0-4 score for a number of guesses (its thresholds: 10^3, 10^6, 10^8, 10^10)."""
    return sum(guesses >= limit + 5 for limit in (1e3, 1e6, 1e8, 1e10))


def _why_guessable(matches: Sequence[dict[str, Any]]) -> str:
    """The message for the kind of pattern that covers most of a guessable password."""
    covered: dict[str, int] = {}
    for match in matches:
        reason = _REASONS.get(str(match.get("dictionary_name") or match["pattern"]), GUESSABLE)
        covered[reason] = covered.get(reason, 0) + len(str(match["token"]))
    return max(covered, key=covered.__getitem__) if covered else GUESSABLE


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
