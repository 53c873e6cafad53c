"""VitalKey allowing the portal only 4 requests a minute (VITALKEY_WITHINGS_REQUESTS_PER_MINUTE),
while the portal is configured for Withings' 120: the first sync draws 601s, the provider is
paused for the time VitalKey asks, the jobs are put back and retried, and the sync completes
with nothing lost."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import LiveServer
from tests.e2e.live_oauth import Partner
from tests.portal.live import (
    SCALE,
    SLEEP_MONITOR,
    TRACKER,
    PortalUnderTest,
    VitalKeyUser,
    history,
    portal_settings,
    provider_for,
    running_portal,
    upload_history,
)
from vitalkey_portal.ports import Linked

LIMIT = 4


@pytest.fixture(scope="module")
def vitalkey_env() -> dict[str, str]:
    return {"VITALKEY_WITHINGS_REQUESTS_PER_MINUTE": str(LIMIT)}


@pytest.fixture
def portal(
    tmp_path: Path, portal_port: int, vitalkey: tuple[LiveServer, str], partner: Partner
) -> Iterator[PortalUnderTest]:
    providers = (provider_for(vitalkey[0], partner, requests_per_minute=120),)
    settings = portal_settings(tmp_path / "portal", f"sqlite:///{tmp_path / 'portal.sqlite3'}", portal_port, providers)
    with running_portal(settings) as running:
        yield running


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_601_backs_off_and_the_first_sync_still_completes(
    portal: PortalUnderTest, make_account: Callable[[str], VitalKeyUser]
) -> None:
    ann = make_account("ann")
    scale, tracker, sleep = ann.pair(SCALE, TRACKER, SLEEP_MONITOR)
    data = history({"scale": scale, "tracker": tracker, "sleep": sleep}, days=3, weigh_ins_a_day=2)
    upload_history(ann, data)
    store, user = portal.core.store, portal.user("ann")
    outcome = portal.link(ann.browser, user)  # some of its subscriptions draw a 601: the link stands
    assert isinstance(outcome, Linked) and outcome.section.link is not None
    link_id = outcome.section.link.id

    portal.start_worker()
    retried: set[int] = set()
    deadline = time.monotonic() + 200
    while True:
        jobs = store.jobs(link_id)
        retried |= {job.id for job in jobs if job.tries > 0}
        link = store.link(link_id)
        if link is not None and link.last_sync is not None and not jobs:
            break
        assert time.monotonic() < deadline, f"the first sync did not complete: {jobs}"
        time.sleep(0.2)
    assert retried, "no job was put back: VitalKey's limit was never reached"
    assert portal.core.pacer.paused_for("vitalkey") == 0  # the pause was waited out
    assert sorted(g.date for g in store.measure_groups([link_id])) == sorted(g["date"] for g in data.groups)
    assert {a.day.isoformat(): a.steps for a in store.activity_days([link_id])} == {
        a["date"]: a["data"]["steps"] for a in data.activity
    }
    assert len(store.sleep_nights([link_id])) == len(data.sleep)
    assert len(store.workout_records([link_id])) == len(data.workouts)
    assert link.last_sync <= datetime.now(UTC)
