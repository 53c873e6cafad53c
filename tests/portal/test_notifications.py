"""The notification callback's checks, on the portal's own store (both engines): the signature
(good, wrong, missing, an old timestamp replayed), a retried delivery done once, an unknown
account answered like any other, malformed bodies, unknown providers; and unlinking while the
provider cannot be reached."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from sqlalchemy import Engine

from tests.portal.conftest import SECRET, add_user
from vitalkey_portal.core import Core, build_core
from vitalkey_portal.db.store import JobKind, Tokens
from vitalkey_portal.providers import Provider, ProviderKind
from vitalkey_portal.records import LinkState, UnlinkReason
from vitalkey_portal.settings import load_settings

CLIENT_SECRET = "the-partner-secret-of-health2go"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers


def provider(slug: str, signs: bool) -> Provider:
    return Provider(
        slug=slug, name=slug.upper(), logo="", kind=ProviderKind.WITHINGS, authorize_url=UNREACHABLE + "/authorize",
        api_url=UNREACHABLE, client_id="portal", client_secret=CLIENT_SECRET, signs_notifications=signs,
    )  # fmt: skip


@pytest.fixture
def core(tmp_path: Path, portal_engine: Engine, portal_database_url: str) -> Iterator[Core]:
    settings = load_settings(
        environ={},
        data_dir=str(tmp_path),
        database_url=portal_database_url,
        secret_key=SECRET,
        providers=(provider("vitalkey", True), provider("plain", False)),
    )
    built = build_core(settings, portal_engine)
    yield built
    anyio.run(built.aclose)


def signed(body: bytes, at: int | None = None, secret: str = CLIENT_SECRET) -> str:
    moment = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={moment},v1={mac}"


def linked(core: Core, engine: Engine, slug: str = "vitalkey", userid: str = "363") -> int:
    user = add_user(engine, f"user-{slug}")
    tokens = Tokens("access", "refresh", int(time.time()) + 3600)
    return core.store.save_link(
        user, slug, userid, LinkState.LINKED, True, "user.metrics", tokens, datetime.now(UTC)
    ).id


BODY = b"userid=363&appli=1&startdate=1764000000&enddate=1764003600&change=new&backfill=0"


def test_only_a_good_fresh_signature_is_accepted(core: Core, portal_engine: Engine) -> None:
    link_id = linked(core, portal_engine)
    accept = core.notifications.accept
    assert accept("vitalkey", BODY, {}) == 401  # missing
    assert accept("vitalkey", BODY, {"VitalKey-Signature": signed(BODY, secret="another-secret")}) == 401
    assert accept("vitalkey", BODY + b"0", {"VitalKey-Signature": signed(BODY)}) == 401  # the body changed
    assert accept("vitalkey", BODY, {"VitalKey-Signature": signed(BODY, int(time.time()) - 600)}) == 401  # replayed
    assert accept("vitalkey", BODY, {"VitalKey-Signature": "t=abc,v1=00"}) == 401
    assert core.store.jobs(link_id) == []
    assert accept("vitalkey", BODY, {"vitalkey-signature": signed(BODY)}) == 204
    (job,) = core.store.jobs(link_id)
    assert (job.kind, job.appli, job.start, job.end, job.day) == (JobKind.NOTIFIED, 1, 1764000000, 1764003600, None)


def test_a_retried_delivery_is_done_once(core: Core, portal_engine: Engine) -> None:
    link_id = linked(core, portal_engine)
    headers = {"VitalKey-Signature": signed(BODY), "VitalKey-Delivery": "d-0001"}
    assert core.notifications.accept("vitalkey", BODY, headers) == 204
    retried = {"VitalKey-Signature": signed(BODY), "VitalKey-Delivery": "d-0001"}
    assert core.notifications.accept("vitalkey", BODY, retried) == 204
    assert len(core.store.jobs(link_id)) == 1
    other = {"VitalKey-Signature": signed(BODY), "VitalKey-Delivery": "d-0002"}
    assert core.notifications.accept("vitalkey", BODY, other) == 204
    assert len(core.store.jobs(link_id)) == 2


def test_what_is_not_for_us_is_answered_without_work(core: Core, portal_engine: Engine) -> None:
    link_id = linked(core, portal_engine, slug="plain")
    accept = core.notifications.accept
    unknown = b"userid=999&appli=1&startdate=1&enddate=2"
    assert accept("plain", unknown, {}) == 204  # nobody here links that account: nothing revealed
    assert accept("nowhere", BODY, {}) == 404
    for malformed in (
        b"appli=1",
        b"userid=abc&appli=1",
        b"userid=363",
        b"\xff\xfe",
        b"userid=363&appli=1&" + b"x" * 5000,
    ):
        assert accept("plain", malformed, {}) == 400, malformed
    assert accept("plain", b"userid=363&appli=46&action=update", {}) == 204  # a profile update: nothing to sync
    assert core.store.jobs(link_id) == []
    assert accept("plain", b"userid=363&appli=16&date=2026-11-30", {}) == 204  # unsigned provider: no signature asked
    (job,) = core.store.jobs(link_id)
    assert (job.appli, job.day, job.start) == (16, "2026-11-30", None)


def test_a_signed_unlink_notice_marks_the_link_unlinked(core: Core, portal_engine: Engine) -> None:
    link_id = linked(core, portal_engine)
    body = b"userid=363&appli=46&action=unlink"
    assert core.notifications.accept("vitalkey", body, {"VitalKey-Signature": signed(body)}) == 204
    anyio.run(core.worker.drain)
    link = core.store.link(link_id)
    assert link is not None and (link.state, link.unlinked_reason) == (LinkState.UNLINKED, UnlinkReason.PROVIDER)
    assert core.store.jobs(link_id) == []


def test_a_job_the_provider_cannot_serve_is_kept_for_later(core: Core, portal_engine: Engine) -> None:
    link_id = linked(core, portal_engine)
    assert core.notifications.accept("vitalkey", BODY, {"VitalKey-Signature": signed(BODY)}) == 204
    anyio.run(core.worker.drain)  # the provider is unreachable: the job goes back, due later
    (job,) = core.store.jobs(link_id)
    assert job.tries == 1 and job.due > datetime.now(UTC) and job.claimed_by is None


def test_unlink_while_the_provider_is_unreachable_still_unlinks_here(core: Core, portal_engine: Engine) -> None:
    link_id = linked(core, portal_engine)
    link = core.store.link(link_id)
    assert link is not None
    anyio.run(core.linking.unlink, link.user_id, "vitalkey")
    after = core.store.link(link_id)
    assert after is not None and (after.state, after.unlinked_reason) == (LinkState.UNLINKED, UnlinkReason.USER)
    assert core.store.tokens(link_id) is None
