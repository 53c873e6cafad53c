"""Notifications end to end inside one server: data stored through the companion app's ingestion
is announced to a real local receiver — queued in the data's transaction, coalesced over the
window, signed with the app's secret, retried on Withings' schedule (a frozen clock moves through
it), given up after the last cycle with the subscription marked failing, delivered once per
delivery id."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.conftest import ContainerFactory, Receiver, free_port, start_receiver
from tests.flows.test_health_ingest import T0, account, weight
from tests.flows.test_resource_protector import Issued
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.notifications import RETRY_SCHEDULE, TRIES_PER_CYCLE, Appli, Change, Delivery, Subscription
from vitalkey.flows.health_ingest import Batch, GroupEdit, NewActivityDay, NewMeasure
from vitalkey.flows.notify_delivery import next_try

SCOPES = ("user.info", "user.metrics", "user.activity")
WINDOW = timedelta(seconds=10)


@pytest.fixture
def container(make_container: ContainerFactory, clock: FrozenClock) -> Container:
    return make_container(clock=clock, notify_allow_http=True, notify_allow_local=True, notify_coalesce_s=10)


def tick(clock: FrozenClock, delta: timedelta) -> None:
    clock.advance(seconds=delta.total_seconds())


def subscribe(container: Container, issued: Issued, url: str, *applis: Appli) -> None:
    async def each() -> None:
        for appli in applis:
            await container.notify.subscribe(issued.account_id, issued.client_id, SCOPES, url, appli, "")

    asyncio.run(each())


def run(container: Container, *steps: Callable[[], object]) -> None:
    """Each step, then one round of the worker (claim what is due, send it, wait), in one loop."""

    async def rounds() -> None:
        for step in steps:
            outcome = step()
            if isinstance(outcome, Awaitable):
                await outcome
            await container.delivery_worker.run_once()
            await container.delivery_worker.drain()
        await container.callbacks.aclose()

    asyncio.run(rounds())


def secret_of(container: Container, client_id: str) -> str:
    with container.uow.read() as tx:
        app = tx.apps.get(client_id)
    assert app is not None
    return container.sealer.open(app.secret_sealed)


def verify(request: dict[str, object], secret: str) -> None:
    """What a partner does: recompute the signature over the raw body and compare."""
    headers = request["headers"]
    assert isinstance(headers, dict)
    fields = dict(part.split("=", 1) for part in headers["vitalkey-signature"].split(","))
    body = request["body"]
    assert isinstance(body, bytes)
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)


def readme_verifier() -> Callable[..., bool]:
    """The verification snippet the README gives partners, as they would paste it."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = text.split("## Verifying a notification")[1].split("```python")[1].split("```")[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    verified: Callable[..., bool] = namespace["verified"]
    return verified


def test_a_batch_is_one_signed_callback_per_appli_after_the_window(
    container: Container, clock: FrozenClock, receiver: Receiver
) -> None:
    ann = Issued(container, SCOPES)
    subscribe(container, ann, receiver.url + "/hook", Appli.WEIGHT, Appli.ACTIVITY, Appli.SLEEP)
    receiver.received.clear()  # the HEADs
    batch = Batch(
        measure_groups=(weight(T0), weight(T0 + 600, value=7240), weight(T0 - 600)),
        activity=(NewActivityDay(date=date(2026, 1, 14), data={"steps": 10}, timezone="UTC"),),
    )
    run(
        container,
        lambda: container.health_ingest.ingest(ann.account_id, "k1", "d1", batch),
        lambda: tick(clock, WINDOW - timedelta(seconds=1)),  # not yet due
    )
    assert receiver.received == []
    run(container, lambda: tick(clock, timedelta(seconds=1)))
    posts = receiver.of("POST")
    assert sorted(post["form"]["appli"] for post in posts) == ["1", "16"]  # nothing about sleep
    weights = next(post for post in posts if post["form"]["appli"] == "1")
    assert weights["form"] == {
        "userid": str(ann.account_id),
        "appli": "1",
        "startdate": str(T0 - 600),
        "enddate": str(T0 + 600),
        "change": "new",
        "backfill": "0",
    }
    activity = next(post for post in posts if post["form"]["appli"] == "16")
    assert activity["form"]["date"] == "2026-01-14" and "startdate" not in activity["form"]
    readme_says = readme_verifier()
    for post in posts:
        verify(post, secret_of(container, ann.client_id))
        # the frozen clock is months from now: the snippet's replay window is widened for it
        assert readme_says(secret_of(container, ann.client_id), post["headers"]["vitalkey-signature"],
                           post["body"], tolerance_s=10**9)  # fmt: skip
        assert not readme_says("another secret", post["headers"]["vitalkey-signature"], post["body"], 10**9)
        assert post["headers"]["content-type"] == "application/x-www-form-urlencoded"
        assert len(post["headers"]["vitalkey-delivery"]) >= 16
    assert posts[0]["headers"]["vitalkey-delivery"] != posts[1]["headers"]["vitalkey-delivery"]


def test_a_burst_within_the_window_is_one_callback_covering_it(
    container: Container, clock: FrozenClock, receiver: Receiver
) -> None:
    ann = Issued(container, SCOPES)
    subscribe(container, ann, receiver.url + "/hook", Appli.WEIGHT)
    receiver.received.clear()
    ingest = container.health_ingest
    run(
        container,
        lambda: ingest.ingest(ann.account_id, "a", "a", Batch(measure_groups=(weight(T0),))),
        lambda: tick(clock, timedelta(seconds=4)),
        lambda: ingest.ingest(ann.account_id, "b", "b", Batch(measure_groups=(weight(T0 - 7200),))),
        lambda: tick(clock, timedelta(seconds=6)),  # the first one's window is over: both go now
    )
    posts = receiver.of("POST")
    assert [(p["form"]["startdate"], p["form"]["enddate"]) for p in posts] == [(str(T0 - 7200), str(T0))]


def test_edits_and_deletions_say_so(container: Container, clock: FrozenClock, receiver: Receiver) -> None:
    ann = Issued(container, SCOPES)
    subscribe(container, ann, receiver.url + "/hook", Appli.WEIGHT, Appli.BLOOD_PRESSURE)
    ingest = container.health_ingest
    grpid = ingest.ingest(ann.account_id, "a", "a", Batch(measure_groups=(weight(T0),))).answer["grpids"][0]
    run(container, lambda: tick(clock, WINDOW))
    receiver.received.clear()
    edit = GroupEdit(date=T0 + 60, measures=(NewMeasure(1, 7300, -2), NewMeasure(11, 61, 0)))
    run(
        container,
        lambda: ingest.edit_group(ann.account_id, grpid, edit),
        lambda: tick(clock, WINDOW),
        lambda: ingest.delete_group(ann.account_id, grpid),
        lambda: tick(clock, WINDOW),
    )
    seen = [(p["form"]["change"], p["form"]["appli"], p["form"]["startdate"], p["form"]["enddate"]) for p in
            receiver.of("POST")]  # fmt: skip
    assert sorted(seen) == sorted([
        ("edit", "1", str(T0), str(T0 + 60)),
        ("edit", "4", str(T0), str(T0 + 60)),  # the heart pulse it gained
        ("delete", "1", str(T0 + 60), str(T0 + 60)),
        ("delete", "4", str(T0 + 60), str(T0 + 60)),
    ])  # fmt: skip


def test_failures_are_retried_on_the_schedule_then_the_subscription_is_failing(
    container: Container, clock: FrozenClock, receiver: Receiver
) -> None:
    ann = Issued(container, SCOPES)
    subscribe(container, ann, receiver.url + "/hook", Appli.WEIGHT)
    receiver.received.clear()
    receiver.status = 500
    before = {outcome: counted(ann.client_id, outcome) for outcome in ("retried", "failed")}
    steps: list[Callable[[], object]] = [
        lambda: container.health_ingest.ingest(ann.account_id, "a", "a", Batch(measure_groups=(weight(T0),))),
        lambda: tick(clock, WINDOW),
    ]
    for wait in RETRY_SCHEDULE:
        steps.append(lambda wait=wait: tick(clock, wait * 0.9))  # before the jittered time: nothing
        steps.append(lambda wait=wait: tick(clock, wait * 0.25))  # past it: the next cycle
    run(container, *steps)
    posts = receiver.of("POST")
    assert len(posts) == TRIES_PER_CYCLE * (1 + len(RETRY_SCHEDULE))
    assert len({p["headers"]["vitalkey-delivery"] for p in posts}) == 1  # one delivery, tried again
    with container.uow.read() as tx:
        (subscription,) = tx.subscriptions.of_app(ann.account_id, ann.client_id)
    assert subscription.failing_since is not None  # kept, marked
    assert counted(ann.client_id, "retried") - before["retried"] == len(RETRY_SCHEDULE)  # the metrics say so
    assert counted(ann.client_id, "failed") - before["failed"] == 1
    run(container, lambda: tick(clock, timedelta(days=1)))
    assert len(receiver.of("POST")) == len(posts)  # given up: never again


def test_a_partner_back_after_a_failure_gets_it_once_and_is_working_again(
    container: Container, clock: FrozenClock, receiver: Receiver
) -> None:
    ann = Issued(container, SCOPES)
    subscribe(container, ann, receiver.url + "/hook", Appli.WEIGHT)
    receiver.received.clear()
    receiver.status = 503
    run(
        container,
        lambda: container.health_ingest.ingest(ann.account_id, "a", "a", Batch(measure_groups=(weight(T0),))),
        lambda: tick(clock, WINDOW),
    )
    receiver.status = 200
    run(container, lambda: tick(clock, RETRY_SCHEDULE[0] * 1.2), lambda: tick(clock, timedelta(hours=5)))
    assert counted(ann.client_id, "delivered") == 1
    ids = [p["headers"]["vitalkey-delivery"] for p in receiver.of("POST")]
    assert len(ids) == TRIES_PER_CYCLE + 1 and len(set(ids)) == 1
    with container.uow.read() as tx:
        (subscription,) = tx.subscriptions.of_app(ann.account_id, ann.client_id)
    assert subscription.failing_since is None


def test_next_try_follows_the_schedule_with_a_tenth_of_jitter() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def delivery(cycle: int) -> Delivery:
        return Delivery(1, "d", 1, 1, "app", "https://p.example/h", Appli.WEIGHT, Change.NEW, now, now, "", None,
                        False, now, now, cycle=cycle)  # fmt: skip

    for cycle, wait in enumerate(RETRY_SCHEDULE):
        assert next_try(delivery(cycle), now, lambda: 0.0) == now + wait
        assert next_try(delivery(cycle), now, lambda: 1.0) == now + wait * 1.1
    assert next_try(delivery(len(RETRY_SCHEDULE)), now) is None


def test_an_account_without_subscriptions_queues_nothing(container: Container, receiver: Receiver) -> None:
    ann = account(container, "solo@example.org")
    container.health_ingest.ingest(ann, "a", "a", Batch(measure_groups=(weight(T0),)))
    with container.uow.read() as tx:
        assert tx.deliveries.waiting(container.clock.now()) == 0


def test_removing_a_connected_app_ends_its_subscriptions_and_tells_it_once(
    container: Container, clock: FrozenClock, receiver: Receiver
) -> None:
    ann = Issued(container, SCOPES)
    with container.uow.begin() as tx:  # a consent, as the authorize page records it
        tx.consents.allow(ann.account_id, ann.client_id, SCOPES, clock.now())
    subscribe(container, ann, receiver.url + "/a", Appli.WEIGHT, Appli.SLEEP)
    subscribe(container, ann, receiver.url + "/b", Appli.USER)
    receiver.received.clear()
    run(container, lambda: container.connected_apps.remove(ann.account_id, ann.client_id))  # due at once
    posts = sorted(receiver.of("POST"), key=lambda post: post["path"])
    assert [(p["path"], p["form"]) for p in posts] == [
        (path, {"userid": str(ann.account_id), "appli": "46", "action": "unlink", "change": "delete", "backfill": "0"})
        for path in ("/a", "/b")
    ]
    for post in posts:
        verify(post, secret_of(container, ann.client_id))
    with container.uow.read() as tx:
        assert tx.subscriptions.of_app(ann.account_id, ann.client_id) == []
    container.health_ingest.ingest(ann.account_id, "a", "a", Batch(measure_groups=(weight(T0),)))
    run(container, lambda: tick(clock, WINDOW))
    assert len(receiver.of("POST")) == 2  # nothing more: unlinked


def test_a_backfill_batch_says_so(container: Container, clock: FrozenClock, receiver: Receiver) -> None:
    ann = Issued(container, SCOPES)
    subscribe(container, ann, receiver.url + "/hook", Appli.WEIGHT)
    receiver.received.clear()
    ingest = container.health_ingest
    history = Batch(measure_groups=(weight(T0 - 86400 * 30),), backfill=True)
    run(
        container,
        lambda: ingest.ingest(ann.account_id, "old", "old", history),
        lambda: ingest.ingest(ann.account_id, "new", "new", Batch(measure_groups=(weight(T0),))),
        lambda: tick(clock, WINDOW),
    )
    flags = sorted((p["form"]["backfill"], p["form"]["startdate"]) for p in receiver.of("POST"))
    assert flags == [("0", str(T0)), ("1", str(T0 - 86400 * 30))]  # not coalesced together


def test_a_partner_that_is_down_then_back_gets_it_on_the_next_cycle(container: Container, clock: FrozenClock) -> None:
    """Nothing listens at the callback's port (connection refused); then the partner starts."""
    ann = Issued(container, SCOPES)
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    now = clock.now()
    with container.uow.begin() as tx:  # subscribed while it was up (the HEAD passed then)
        tx.subscriptions.add(Subscription(0, ann.account_id, ann.client_id, Appli.WEIGHT, url, "", now, now))
    ingest = container.health_ingest
    run(
        container,
        lambda: ingest.ingest(ann.account_id, "a", "a", Batch(measure_groups=(weight(T0),))),
        lambda: tick(clock, WINDOW),  # tried twice: refused
    )
    (waiting,) = recent(container)
    assert (waiting.attempts, waiting.last_error, waiting.delivered) == (1, "connect", None)
    partner, stop = start_receiver(port)
    try:
        run(container, lambda: tick(clock, RETRY_SCHEDULE[0] * 1.2))
    finally:
        stop()
    (post,) = partner.of("POST")
    assert post["headers"]["vitalkey-delivery"] == waiting.delivery_id
    (done,) = recent(container)
    assert done.delivered is not None and done.last_status == 200


def test_a_partner_too_slow_to_answer_is_tried_again(
    make_container: ContainerFactory, clock: FrozenClock, receiver: Receiver
) -> None:
    container = make_container(clock=clock, notify_allow_http=True, notify_allow_local=True, notify_timeout_s=0.3)
    ann = Issued(container, SCOPES)
    subscribe(container, ann, receiver.url + "/hook", Appli.WEIGHT)
    receiver.received.clear()
    receiver.delay_s = 0.6
    run(
        container,
        lambda: container.health_ingest.ingest(ann.account_id, "a", "a", Batch(measure_groups=(weight(T0),))),
        lambda: tick(clock, WINDOW),
    )
    (late,) = recent(container)
    assert (late.attempts, late.last_error, late.delivered) == (1, "timeout", None)
    receiver.delay_s = 0
    run(container, lambda: tick(clock, RETRY_SCHEDULE[0] * 1.2))
    (done,) = recent(container)
    assert done.delivered is not None
    assert len({p["headers"]["vitalkey-delivery"] for p in receiver.of("POST")}) == 1


def counted(client_id: str, outcome: str) -> float:
    """``vitalkey_notify_deliveries_total`` as /metrics shows it (client ids are new in each test)."""
    value = REGISTRY.get_sample_value("vitalkey_notify_deliveries_total", {"client_id": client_id, "outcome": outcome})
    return value or 0.0


def recent(container: Container) -> list[Delivery]:
    with container.uow.read() as tx:
        return tx.deliveries.recent(10)
