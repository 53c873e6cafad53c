"""The sync worker: runs the durable sync jobs (first sync, notified windows, polls) under a
lease, so that two processes never run one job at once and a crashed worker's job is taken
again. A job that fails for a while (601, the provider unreachable) is put back with a back-off,
never dropped; polls are queued as links come due."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import anyio

from vitalkey_portal.db.store import Job, Store
from vitalkey_portal.pacing import Pacer, Paused
from vitalkey_portal.providers import Provider
from vitalkey_portal.syncing import LinkGone, Syncer
from vitalkey_portal.withings import ProviderError, RateLimited, WithingsError

log = logging.getLogger("vitalkey_portal.worker")

LEASE = timedelta(minutes=2)
IDLE_S = 30.0  # look at the queue at least this often (another process may have added work)
MAX_BACKOFF_S = 3600.0


def backoff(tries: int) -> timedelta:
    """10 s, 20 s, 40 s … up to an hour."""
    return timedelta(seconds=min(MAX_BACKOFF_S, 10.0 * 2 ** min(tries, 12)))


class SyncWorker:
    def __init__(
        self,
        store: Store,
        syncer: Syncer,
        pacer: Pacer,
        providers: Mapping[str, Provider],
        poll_interval: timedelta,
        now: Callable[[], datetime],
        concurrency: int = 4,
    ) -> None:
        self.store, self.syncer, self.pacer, self.providers = store, syncer, pacer, providers
        self.poll_interval, self.now, self.concurrency = poll_interval, now, concurrency
        self.owner = secrets.token_hex(8)
        self._woken: anyio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Look at the queue now (from the worker's event loop or any thread)."""
        event, loop = self._woken, self._loop
        if event is None or loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    async def run(self, stop: anyio.Event) -> None:
        """Until ``stop`` is set: queue due polls, run due jobs, sleep until the next is due."""
        self._loop = asyncio.get_running_loop()
        self._woken = anyio.Event()
        log.info("sync worker started")
        while not stop.is_set():
            self._woken = anyio.Event()
            try:
                worked = await self.run_due()
            except Exception:  # the database away for a moment: try again soon, never die
                log.exception("the sync worker's round failed")
                worked = False
            if worked:
                continue
            await self._sleep(stop, self._idle_s())
        log.info("sync worker stopped")

    async def run_due(self) -> bool:
        """One round: queue the polls that are due, then run the jobs that are due (at most
        ``concurrency`` at once). Whether there was a job."""
        self.store.queue_due_polls(self.now(), self.poll_interval)
        jobs = self.store.claim(self.now(), self.owner, LEASE, self.concurrency)
        if not jobs:
            return False
        async with anyio.create_task_group() as group:
            for job in jobs:
                group.start_soon(self.run_job, job)
        return True

    async def drain(self, timeout_s: float = 60.0) -> None:
        """Run every job that is due now, and those they lead to (tests, the benchmark, the CLI)."""
        with anyio.fail_after(timeout_s):
            while await self.run_due():
                pass

    async def run_job(self, job: Job) -> None:
        link = self.store.link(job.link_id)
        slug = link.provider if link is not None else ""
        try:
            await self.syncer.run(job)
        except LinkGone:
            self.store.finish(job)  # unlinked meanwhile: nothing left to do
            return
        except RateLimited as limited:
            self.pacer.pause(slug, limited.wait_s)
            self._retry(job, timedelta(seconds=limited.wait_s), "rate limited (601)")
            return
        except Paused as paused:
            self._retry(job, timedelta(seconds=paused.retry_after_s), "paced")
            return
        except (ProviderError, WithingsError) as failed:
            self._retry(job, backoff(job.tries), type(failed).__name__)
            return
        except Exception:
            log.exception("a sync job failed", extra={"job_id": job.id})
            self._retry(job, backoff(job.tries), "error")
            return
        self.store.finish(job)

    def _retry(self, job: Job, after: timedelta, why: str) -> None:
        log.info(
            "sync job put back",
            extra={"job_id": job.id, "kind": job.kind.value, "why": why, "after_s": after.total_seconds()},
        )
        self.store.retry(job, self.now() + after)

    def _idle_s(self) -> float:
        now = self.now()
        moments = [m for m in (self.store.next_due(), self.store.next_poll()) if m is not None]
        if not moments:
            return IDLE_S
        return max(0.05, min(IDLE_S, (min(moments) - now).total_seconds()))

    async def _sleep(self, stop: anyio.Event, seconds: float) -> None:
        woken = self._woken
        assert woken is not None
        with anyio.move_on_after(seconds):
            async with anyio.create_task_group() as group:

                async def until(event: anyio.Event) -> None:
                    await event.wait()
                    group.cancel_scope.cancel()

                group.start_soon(until, stop)
                group.start_soon(until, woken)
