"""Freed memory handed back to the system after large requests.

glibc keeps what Python frees in its heaps for reuse, so after large request bodies (health
batches of up to 5,000 items) a process stays at its high-water mark. ``malloc_trim`` returns the
free pages: ~5 MB of a PostgreSQL server process after ingesting batches of 500 groups, in about
0.6 ms a call (bench/health_data.py, "Ingestion and memory"). Without glibc nothing happens.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


class FreeMemory:
    """Trims when a run of large requests ends, and during a long run at most every ``every_s``."""

    def __init__(self, every_s: float = 1.0) -> None:
        self._trim = _malloc_trim()
        self._every_s = every_s
        self._last = time.monotonic()

    @property
    def available(self) -> bool:
        return self._trim is not None

    def release(self, *, idle: bool) -> bool:
        """Hand free pages back when ``idle`` (no large request in hand) or once the interval
        has passed; says whether it trimmed."""
        now = time.monotonic()
        if self._trim is None or (not idle and now - self._last < self._every_s):
            return False
        self._last = now
        self._trim(0)
        return True
