"""Encryption at rest for what must be shown again (the recovery code): Fernet (AES-128-CBC +
HMAC-SHA256) under a list of keys, newest first, so that a key can be rotated: add a new key in
front, run ``vitalkey keys reseal``, then drop the old one."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from vitalkey.adapters import secrets


class SealingError(ValueError):
    """A configured key is not a Fernet key, or a sealed value opens with none of the keys."""


class FernetSealer:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SealingError("at least one encryption key is needed")
        try:
            self.fernet = MultiFernet([Fernet(key) for key in keys])
        except ValueError as exc:
            raise SealingError("an encryption key is not 32 url-safe base64-encoded bytes") from exc

    @classmethod
    def from_settings(cls, configured: tuple[str, ...], master: bytes) -> FernetSealer:
        """The configured keys, or one derived from the server key when none is configured."""
        keys = [key.encode() for key in configured if key.strip()]
        return cls(keys or [base64.urlsafe_b64encode(secrets.derive(master, "sealing"))])

    def seal(self, plaintext: str) -> str:
        return self.fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self.fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise SealingError("sealed with a key that is no longer configured") from exc

    def reseal(self, sealed: str) -> str:
        """The same plaintext under the newest key."""
        try:
            return self.fernet.rotate(sealed.encode()).decode()
        except InvalidToken as exc:
            raise SealingError("sealed with a key that is no longer configured") from exc


def new_key() -> str:
    return Fernet.generate_key().decode()
