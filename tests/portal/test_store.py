"""The portal's store on SQLite and PostgreSQL: sealed tokens, single-use states, leased jobs,
seen deliveries, and the synced data reconciled a window at a time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, select

from tests.portal.conftest import SECRET, add_user
from vitalkey_portal.db import tables as t
from vitalkey_portal.db.store import ActivityDay, JobKind, MeasureGroup, SleepNight, Store, Tokens
from vitalkey_portal.records import LinkState, UnlinkReason

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TOKENS = Tokens("access-1", "refresh-1", 1_800_000_000)


def a_link(store: Store, engine: Engine, provider: str = "vitalkey", userid: str = "42") -> int:
    user = add_user(engine)
    return store.save_link(user, provider, userid, LinkState.LINKED, True, "user.metrics", TOKENS, NOW).id


def test_tokens_are_sealed_at_rest_and_replaced_only_over_what_was_read(store: Store, portal_engine: Engine) -> None:
    link_id = a_link(store, portal_engine)
    with portal_engine.connect() as conn:
        sealed = conn.execute(select(t.links.c.sealed_tokens)).scalar_one()
    assert b"access-1" not in bytes(sealed) and b"refresh-1" not in bytes(sealed)
    assert store.tokens(link_id) == TOKENS
    newer = Tokens("access-2", "refresh-2", 1_800_010_800, previous_refresh="refresh-1")
    assert store.save_tokens(link_id, newer, replacing=TOKENS)
    assert not store.save_tokens(link_id, Tokens("a3", "r3", 1), replacing=TOKENS)  # another refreshed first
    assert store.tokens(link_id) == newer
    assert "access" not in repr(newer) and "refresh-2" not in repr(newer)
    assert Store(portal_engine, "another-secret-0123456789").tokens(link_id) is None  # another key opens nothing
    assert SECRET  # the fixture's key sealed them


def test_a_state_is_taken_once_and_expires_after_ten_minutes(store: Store, portal_engine: Engine) -> None:
    user = add_user(portal_engine)
    store.put_state("state-a", user, "vitalkey", "verifier-a", "/link-device", NOW)
    store.put_state("state-b", user, "vitalkey", "verifier-b", "/settings", NOW)
    taken = store.take_state("state-a", NOW + timedelta(minutes=9))
    assert taken is not None and (taken.user_id, taken.code_verifier, taken.return_to) == (
        user,
        "verifier-a",
        "/link-device",
    )
    assert store.take_state("state-a", NOW) is None  # single use
    assert store.take_state("state-b", NOW + timedelta(minutes=10, seconds=1)) is None  # expired
    assert store.take_state("never-made", NOW) is None


def test_jobs_are_leased_one_per_link_and_put_back_on_retry(store: Store, portal_engine: Engine) -> None:
    link_id = a_link(store, portal_engine)
    first = store.add_job(link_id, JobKind.FIRST, NOW)
    store.add_job(link_id, JobKind.NOTIFIED, NOW, appli=1, start=1, end=2)
    store.add_job(link_id, JobKind.POLL, NOW + timedelta(hours=1))
    claimed = store.claim(NOW, "worker-a", timedelta(minutes=2))
    assert [job.id for job in claimed] == [first]  # one job per link at a time
    assert store.claim(NOW, "worker-b", timedelta(minutes=2)) == []
    store.retry(claimed[0], NOW + timedelta(seconds=30))
    again = store.claim(NOW, "worker-b", timedelta(minutes=2))
    assert [(job.kind, job.appli, job.start, job.end) for job in again] == [(JobKind.NOTIFIED, 1, 1, 2)]
    store.finish(again[0])
    later = store.claim(NOW + timedelta(seconds=31), "worker-a", timedelta(minutes=2))
    assert [(job.id, job.tries) for job in later] == [(first, 1)]
    # a worker that died: its lease runs out and another takes the job
    taken_over = store.claim(NOW + timedelta(minutes=3), "worker-b", timedelta(minutes=2))
    assert [job.id for job in taken_over] == [first]
    store.finish(later[0])  # the dead worker's late finish changes nothing
    assert [(job.id, job.claimed_by) for job in store.jobs(link_id)][:1] == [(first, "worker-b")]
    store.unlink(link_id, UnlinkReason.USER, NOW)
    assert store.jobs(link_id) == []


def test_a_delivery_is_seen_once(store: Store) -> None:
    assert store.first_delivery("vitalkey", "d-1", NOW)
    assert not store.first_delivery("vitalkey", "d-1", NOW + timedelta(minutes=5))
    assert store.first_delivery("other", "d-1", NOW)


def test_a_window_is_replaced_by_what_the_provider_returned(store: Store, portal_engine: Engine) -> None:
    link_id = a_link(store, portal_engine)

    def group(grpid: int, at: int, grams: int) -> MeasureGroup:
        return MeasureGroup(grpid, at, 1, 0, "dev", at, ((1, grams, -3),))

    store.put_measures(link_id, [group(1, 100, 70000), group(2, 200, 71000), group(3, 300, 72000)], (0, 400))
    store.put_measures(link_id, [group(2, 200, 69000)], (150, 250))  # edited in the window
    store.put_measures(link_id, [], (280, 320))  # deleted
    assert [(g.grpid, g.measures) for g in store.measure_groups([link_id])] == [
        (1, ((1, 70000, -3),)),
        (2, ((1, 69000, -3),)),
    ]
    store.put_measures(link_id, [group(4, 500, 1)], None)  # a poll adds without deleting
    assert [g.grpid for g in store.measure_groups([link_id], since=150)] == [2, 4]

    d1, d2 = date(2026, 11, 1), date(2026, 11, 2)
    store.put_activity(
        link_id, [ActivityDay(d1, "", 5000, 3000, 200, 1), ActivityDay(d2, "", 8000, 4000, 300, 1)], (d1, d2)
    )
    store.put_activity(link_id, [ActivityDay(d2, "", 9000, 4100, 310, 2)], (d2, d2))
    assert [(a.day, a.steps) for a in store.activity_days([link_id])] == [(d1, 5000), (d2, 9000)]
    store.put_sleep(link_id, [SleepNight(7, d1, 10, 20, 25200, 1, {"total_sleep_time": 25200})], (d1, d2))
    store.put_sleep(link_id, [], (d1, d1))
    assert store.sleep_nights([link_id]) == []


def test_linking_another_account_in_a_section_forgets_the_old_data(store: Store, portal_engine: Engine) -> None:
    link_id = a_link(store, portal_engine)
    store.put_measures(link_id, [MeasureGroup(1, 100, 1, 0, None, 1, ((1, 70, 0),))], None)
    store.synced(link_id, NOW, poll_cursor=123)
    link = store.link(link_id)
    assert link is not None and link.last_sync == NOW
    user = link.user_id
    same = store.save_link(user, "vitalkey", "42", LinkState.LINKED, False, "s", TOKENS, NOW + timedelta(days=1))
    assert (same.id, same.linked_at, same.last_sync) == (link_id, NOW, NOW)
    assert len(store.measure_groups([link_id])) == 1
    other = store.save_link(user, "vitalkey", "43", LinkState.LINKED, False, "s", TOKENS, NOW + timedelta(days=1))
    assert (other.id, other.provider_userid, other.last_sync) == (link_id, "43", None)
    assert store.measure_groups([link_id]) == []


def test_polls_come_due_once_and_move_on_by_the_interval(store: Store, portal_engine: Engine) -> None:
    link_id = a_link(store, portal_engine)
    interval = timedelta(hours=6)
    store.schedule_poll(link_id, NOW + timedelta(minutes=30))
    assert store.queue_due_polls(NOW, interval) == 0
    assert store.next_poll() == NOW + timedelta(minutes=30)
    assert store.queue_due_polls(NOW + timedelta(minutes=31), interval) == 1
    assert [job.kind for job in store.jobs(link_id)] == [JobKind.POLL]
    assert store.next_poll() == NOW + timedelta(minutes=30) + interval  # the spread kept
    store.schedule_poll(link_id, NOW)  # due again while one is queued: not queued twice
    store.queue_due_polls(NOW + timedelta(minutes=1), interval)
    assert [job.kind for job in store.jobs(link_id)] == [JobKind.POLL]
    store.unlink(link_id, UnlinkReason.PROVIDER, NOW)
    assert store.next_poll() is None and store.queue_due_polls(NOW + timedelta(days=1), interval) == 0


def test_two_workers_never_take_the_same_job(store: Store, portal_engine: Engine) -> None:
    """Two stores (as two processes would have) claiming at once: every job is taken exactly once."""
    import threading

    user = add_user(portal_engine)
    links = [store.save_link(user, f"p{i}", "1", LinkState.LINKED, False, "s", TOKENS, NOW).id for i in range(40)]
    for link_id in links:
        store.add_job(link_id, JobKind.POLL, NOW)
    other = Store(portal_engine, SECRET)
    taken: dict[str, list[int]] = {"a": [], "b": []}

    def work(name: str, mine: Store) -> None:
        while True:
            claimed = mine.claim(NOW, name, timedelta(minutes=2), limit=3)
            if not claimed:
                return
            taken[name] += [job.id for job in claimed]

    threads = [threading.Thread(target=work, args=("a", store)), threading.Thread(target=work, args=("b", other))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everything = taken["a"] + taken["b"]
    assert sorted(everything) == sorted(job.id for job in store.jobs())
    assert len(set(everything)) == len(everything) == 40
