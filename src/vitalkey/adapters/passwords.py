"""Password hashing (argon2id, argon2-cffi) and the common/breached password list."""

from __future__ import annotations

import gzip
from functools import cached_property
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from vitalkey.domain.passwords import PasswordPolicy


class Argon2Hasher:
    """argon2id with the configured cost. Verifying costs the same for a missing hash: it is
    checked against a dummy hash made with the same parameters (no timing difference between
    accounts with and without a password, or unknown addresses)."""

    def __init__(self, policy: PasswordPolicy) -> None:
        self.hasher = PasswordHasher(
            time_cost=policy.time_cost,
            memory_cost=policy.memory_kib,
            parallelism=policy.parallelism,
            type=Type.ID,
        )

    @cached_property
    def _dummy(self) -> str:
        return self.hasher.hash("not a password: used for accounts that have none")

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self.hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)


class CommonPasswords:
    """100,000 common and leaked passwords (see scripts/build-common-passwords), lower-cased."""

    @cached_property
    def entries(self) -> frozenset[str]:
        data = resources.files("vitalkey.adapters.data").joinpath("common-passwords.txt.gz").read_bytes()
        return frozenset(gzip.decompress(data).decode().splitlines())

    def __contains__(self, folded_password: str) -> bool:
        return folded_password in self.entries
