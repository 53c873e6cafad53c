"""Password hashing (argon2id, argon2-cffi) and the common/breached password list."""

from __future__ import annotations

import asyncio
import gzip
import os
from concurrent.futures import ThreadPoolExecutor
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
        # One hash per core at a time (argon2-cffi releases the GIL): more would only queue in
        # the kernel and multiply the memory (19 MiB each).
        self.workers = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="vitalkey-argon2")
        self.hasher = PasswordHasher(
            time_cost=policy.time_cost,
            memory_cost=policy.memory_kib,
            parallelism=policy.parallelism,
            type=Type.ID,
        )

    @cached_property
    def _dummy(self) -> str:
        return self.hasher.hash("not a password: used for accounts that have none")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self.workers, self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(self.workers, self.verify_now, stored, password)

    def verify_now(self, stored: str | None, password: str) -> bool:
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
