"""Pacing: a provider's requests stay under its limit in every minute; a 601 pauses it."""

from __future__ import annotations

import anyio
import pytest

from vitalkey_portal.pacing import MAX_WAIT_S, Pacer, Paused


class Clock:
    """Time that moves only when a request sleeps (anyio.sleep is patched to advance it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    made = Clock()

    async def sleep(seconds: float) -> None:
        made.now += seconds

    monkeypatch.setattr("vitalkey_portal.pacing.anyio.sleep", sleep)
    return made


@pytest.mark.parametrize("limit", [120, 10, 1000])
def test_no_minute_holds_more_requests_than_the_limit(clock: Clock, limit: int) -> None:
    pacer = Pacer(clock)
    sent: list[float] = []

    async def send_many() -> None:
        for _ in range(limit * 3):
            try:
                await pacer.wait("vitalkey", limit)
            except Paused as paused:  # the worker puts the job back: time passes meanwhile
                clock.now += paused.retry_after_s
                continue
            sent.append(clock.now)

    anyio.run(send_many)
    assert len(sent) >= limit * 2  # it does not crawl either
    for index, moment in enumerate(sent):
        in_a_minute = [other for other in sent[index:] if other < moment + 60]
        assert len(in_a_minute) <= limit, (moment, len(in_a_minute))


def test_a_601_pauses_the_provider_and_only_it(clock: Clock) -> None:
    pacer = Pacer(clock)

    async def scenario() -> None:
        await pacer.wait("vitalkey", 120)
        pacer.pause("vitalkey", 45)
        assert pacer.paused_for("vitalkey") == 45
        with pytest.raises(Paused) as paused:
            await pacer.wait("vitalkey", 120)
        assert paused.value.retry_after_s == 45 > MAX_WAIT_S
        await pacer.wait("other", 120)  # another provider is not held up
        clock.now += 30
        before = clock.now
        await pacer.wait("vitalkey", 120)  # 15 s left: waited out in place
        assert clock.now >= before + 15

    anyio.run(scenario)
