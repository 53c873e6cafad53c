"""The server key: configured, or created once beside the embedded database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_FILE = "secret.key"  # in the data folder, when no secret_key is configured


def load_or_create(configured: str, data_dir: str) -> bytes:
    if configured:
        return configured.encode()
    path = Path(data_dir) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        key = base64.urlsafe_b64encode(secrets.token_bytes(32))
        handle.write(key)
    return key


def derive(master: bytes, purpose: str) -> bytes:
    """A separate key per purpose, so that one use can never stand in for another."""
    return hmac.new(master, purpose.encode(), hashlib.sha256).digest()
