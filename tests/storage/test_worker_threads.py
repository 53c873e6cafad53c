"""On PostgreSQL, units of work run in worker threads, at most ``WORKER_THREADS`` at once per
event loop (more fought for the interpreter lock: bench/RESULTS.md, "PostgreSQL units of work
on 8 threads"); the others wait their turn and all of them run."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from vitalkey.adapters.db.uow import WORKER_THREADS, SqlUnitOfWork


def test_at_most_worker_threads_units_run_at_once(store: SqlUnitOfWork) -> None:
    if store.sqlite:
        pytest.skip("SQLite's units run on the event loop, one group commit at a time")
    lock = threading.Lock()
    running, most, done = 0, 0, 0

    def unit() -> None:
        nonlocal running, most, done
        with store.read():
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.02)
            with lock:
                running -= 1
                done += 1

    async def many() -> None:
        await asyncio.gather(*(store.run(unit) for _ in range(WORKER_THREADS * 3)))

    asyncio.run(many())
    assert done == WORKER_THREADS * 3
    assert most == WORKER_THREADS
