"""Linking and syncing against a real ``vitalkey serve`` process (one per module): the code
exchange with PKCE, the first sync of exactly the last 60 days (several pages), a second link
without the consent page, token refresh and rotation, a refused refresh, unlink revoking at
VitalKey, notifications applying new data, edits and deletions, and the one-wearable rule."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer
from tests.e2e.live_oauth import Partner, introspect, register
from tests.portal.conftest import SCOPES
from tests.portal.live import (
    SCALE,
    SLEEP_MONITOR,
    TRACKER,
    History,
    PortalUnderTest,
    VitalKeyUser,
    epoch,
    history,
    portal_settings,
    provider_for,
    running_portal,
    upload_history,
    window_start,
)
from vitalkey_portal.db.store import JobKind
from vitalkey_portal.ports import Linked, LinkFailed, NeedsConfirmation
from vitalkey_portal.providers import Revocation
from vitalkey_portal.records import LinkState, UnlinkReason
from vitalkey_portal.syncing import LinkGone
from vitalkey_portal.withings import TokenInvalid


@pytest.fixture(scope="module")
def second_partner(vitalkey: tuple[LiveServer, str], portal_port: int) -> Partner:
    """A second provider section backed by the same VitalKey (another registered app)."""
    server, url = vitalkey
    redirect = f"http://127.0.0.1:{portal_port}/link-device/other/callback"
    return register(server, url, name="Health2Go B", redirect_uri=redirect, scopes=SCOPES)


@pytest.fixture
def portal(
    tmp_path: Path, portal_port: int, vitalkey: tuple[LiveServer, str], partner: Partner, second_partner: Partner
) -> Iterator[PortalUnderTest]:
    server, _ = vitalkey
    providers = (provider_for(server, partner), provider_for(server, second_partner, slug="other"))
    settings = portal_settings(tmp_path / "portal", f"sqlite:///{tmp_path / 'portal.sqlite3'}", portal_port, providers)
    with running_portal(settings) as running:
        yield running


MakeAccount = Callable[[str], VitalKeyUser]


def a_user_with_history(make_account: MakeAccount, tag: str, days: int = 90) -> tuple[VitalKeyUser, History]:
    user = make_account(tag)
    scale, tracker, sleep = user.pair(SCALE, TRACKER, SLEEP_MONITOR)
    data = history({"scale": scale, "tracker": tracker, "sleep": sleep}, days=days)
    upload_history(user, data)
    return user, data


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_first_sync_holds_exactly_the_last_60_days(
    engine: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    portal_port: int,
    vitalkey: tuple[LiveServer, str],
    partner: Partner,
    make_account: MakeAccount,
) -> None:
    server, _ = vitalkey
    ann, data = a_user_with_history(make_account, "ann")
    database_url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    if engine == "postgresql":
        from tests.portal.conftest import truncate

        database_url = request.getfixturevalue("portal_pg_database")
        truncate(database_url)
    settings = portal_settings(tmp_path / "portal", database_url, portal_port, (provider_for(server, partner),))
    with running_portal(settings) as portal:
        store, user = portal.core.store, portal.user("ann")
        outcome = portal.link(ann.browser, user)
        assert isinstance(outcome, Linked), outcome
        assert outcome.section.linked and outcome.return_to == "/link-device"
        assert ann.browser.visits.consent_page is not None  # "Allow this app", the first time
        link = outcome.section.link
        assert link is not None and link.has_wearable and link.last_sync is None
        assert link.provider_userid == str(ann.account_id)
        assert sorted(job.appli for job in store.jobs(link.id) if job.kind is JobKind.FIRST) == [1, 16, 44]

        portal.drain()
        synced = store.link(link.id)
        assert synced is not None and synced.last_sync is not None
        assert store.jobs(link.id) == []

        first_day, start = window_start(datetime.now(UTC))
        expected = {g["date"]: g["measures"][0]["value"] for g in data.groups if g["date"] >= start}
        groups = store.measure_groups([link.id])
        assert len(groups) > 500  # more than one page of VitalKey's: more/offset followed
        assert {g.date: g.measures for g in groups} == {at: ((1, value, -3),) for at, value in expected.items()}
        steps = {a.day.isoformat(): a.steps for a in store.activity_days([link.id])}
        assert steps == {a["date"]: a["data"]["steps"] for a in data.activity if a["date"] >= first_day.isoformat()}
        assert len(steps) == 60
        workouts = store.workout_records([link.id])
        assert sorted(w.startdate for w in workouts) == sorted(
            w["startdate"] for w in data.workouts if w["date"] >= first_day.isoformat()
        )
        nights = {n.enddate: n.total_sleep_time for n in store.sleep_nights([link.id])}
        sent = {s["enddate"]: s["summary"]["total_sleep_time"] for s in data.sleep}
        assert nights and all(sent[end] == total for end, total in nights.items())
        assert min(n.day for n in store.sleep_nights([link.id])) >= first_day

        board = portal.core.dashboard.data(user, 7)
        today = datetime.now(UTC).date()
        assert [p.day for p in board.steps][-1] == today and board.steps[-1].value == 5000.0
        assert board.weight_kg[-1].value == 70.0  # today's last weigh-in: 70000 g × 10^-3
        assert board.last_sync == synced.last_sync

        again = portal.link(ann.browser, user)  # "Allow this app" only the first time
        assert isinstance(again, Linked) and again.section.linked
        assert ann.browser.visits.consent_page is None
        assert store.jobs(link.id) == []  # the same account: new tokens, no second first sync


@pytest.mark.slow
def test_tokens_rotate_on_refresh_and_a_refused_refresh_unlinks(
    portal: PortalUnderTest, vitalkey: tuple[LiveServer, str], partner: Partner, make_account: MakeAccount
) -> None:
    _server, _ = vitalkey
    bob = make_account("bob")
    bob.pair(SCALE)
    store, syncer, user = portal.core.store, portal.core.syncer, portal.user("bob")
    outcome = portal.link(bob.browser, user)
    assert isinstance(outcome, Linked) and outcome.section.link is not None
    link = outcome.section.link
    assert not link.has_wearable
    before = store.tokens(link.id)
    assert before is not None

    fresh = portal.call(syncer.refresh, link, before)
    assert fresh.refresh_token != before.refresh_token and fresh.access_token != before.access_token
    assert store.tokens(link.id) == fresh and fresh.previous_refresh == before.refresh_token
    portal.call(syncer.poll, link)  # the new access token works; its first use ends the old refresh token's grace
    with pytest.raises(TokenInvalid):
        portal.call(portal.core.clients["vitalkey"].refresh, before.refresh_token)

    with bob.api() as http:  # Connected apps → remove, at VitalKey
        assert http.delete(f"/api/v1/account/connected-apps/{partner.client_id}").status_code == 200
    current = store.tokens(link.id)
    assert current is not None
    with pytest.raises(LinkGone):
        portal.call(syncer.refresh, link, current)
    gone = store.link(link.id)
    assert gone is not None and (gone.state, gone.unlinked_reason) == (LinkState.UNLINKED, UnlinkReason.PROVIDER)
    assert store.tokens(link.id) is None


@pytest.mark.slow
def test_unlink_revokes_the_token_at_vitalkey(
    portal: PortalUnderTest, vitalkey: tuple[LiveServer, str], partner: Partner, make_account: MakeAccount
) -> None:
    server, _ = vitalkey
    cleo = make_account("cleo")
    user = portal.user("cleo")
    outcome = portal.link(cleo.browser, user)
    assert isinstance(outcome, Linked) and outcome.section.link is not None
    tokens = portal.core.store.tokens(outcome.section.link.id)
    assert tokens is not None
    assert partner.client_id in cleo.connected_apps()

    portal.call(portal.core.linking.unlink, user, "vitalkey")
    assert partner.client_id not in cleo.connected_apps()
    answer = httpx.post(server.url + "/v2/user", data={"action": "getdevice"},
                        headers={"authorization": f"Bearer {tokens.access_token}"}, timeout=10)  # fmt: skip
    assert answer.json()["status"] == 401  # the access token is dead too
    (section, _other) = portal.core.linking.sections(user)
    assert not section.linked and section.link is not None
    assert (section.link.state, section.link.unlinked_reason) == (LinkState.UNLINKED, UnlinkReason.USER)


def test_a_state_is_single_use_and_bound_to_its_user(
    portal: PortalUnderTest, vitalkey: tuple[LiveServer, str], make_account: MakeAccount
) -> None:
    _server, _ = vitalkey
    dan = make_account("dan")
    user, other = portal.user("dan"), portal.user("eve")
    authorize = portal.core.linking.begin(user, "vitalkey", "https://evil.example/")
    from tests.e2e.live_oauth import query_of

    back = query_of(dan.browser.link(authorize))
    refused = portal.call(portal.core.linking.complete, other, "vitalkey", back["code"], back["state"], None)
    assert isinstance(refused, LinkFailed)  # another user's state: refused, and spent
    again = portal.call(portal.core.linking.complete, user, "vitalkey", back["code"], back["state"], None)
    assert isinstance(again, LinkFailed)
    assert portal.core.store.link_of(user, "vitalkey") is None
    sent = query_of(authorize)
    assert (sent["code_challenge_method"], sent["scope"], sent["response_type"]) == ("S256", ",".join(SCOPES), "code")
    denied = portal.call(
        portal.core.linking.complete,
        user,
        "vitalkey",
        None,
        query_of(portal.core.linking.begin(user, "vitalkey", "/x"))["state"],
        "access_denied",
    )
    assert isinstance(denied, LinkFailed) and denied.return_to == "/x" and "did not allow" in denied.message


@pytest.mark.slow
def test_notifications_bring_new_data_edits_and_deletions(
    portal: PortalUnderTest, vitalkey: tuple[LiveServer, str], make_account: MakeAccount
) -> None:
    _server, _ = vitalkey
    fay = make_account("fay")
    (scale,) = fay.pair(SCALE)
    now = epoch(datetime.now(UTC)) - 600
    sent = fay.send({"measure_groups": [
        {"date": now - 3600, "deviceid": scale, "measures": [{"type": 1, "value": 80000, "unit": -3}]},
        {"date": now - 1800, "deviceid": scale, "measures": [{"type": 1, "value": 80500, "unit": -3}]},
    ]})  # fmt: skip
    first, second = sent["grpids"]
    store, user = portal.core.store, portal.user("fay")
    portal.start_worker()
    outcome = portal.link(fay.browser, user)
    assert isinstance(outcome, Linked) and outcome.section.link is not None
    link_id = outcome.section.link.id

    def weights() -> dict[int, int]:
        return {g.grpid: g.measures[0][1] for g in store.measure_groups([link_id])}

    assert portal.wait_for(lambda: weights() == {first: 80000, second: 80500})
    assert portal.wait_for(lambda: (store.link(link_id) or outcome.section.link).last_sync)

    (third,) = fay.send({"measure_groups": [
        {"date": now, "deviceid": scale, "measures": [{"type": 1, "value": 79900, "unit": -3}]}]})["grpids"]  # fmt: skip
    assert portal.wait_for(lambda: weights().get(third) == 79900)  # a new weigh-in, through a notification

    with fay.api() as http:
        edited = http.patch(
            f"/api/v1/health/measure-groups/{first}", json={"measures": [{"type": 1, "value": 81000, "unit": -3}]}
        )
        assert edited.status_code == 200, edited.text
        assert http.delete(f"/api/v1/health/measure-groups/{second}").status_code == 200
    assert portal.wait_for(lambda: weights() == {first: 81000, third: 79900})


@pytest.mark.slow
def test_one_wearable_at_a_time(
    portal: PortalUnderTest,
    vitalkey: tuple[LiveServer, str],
    partner: Partner,
    second_partner: Partner,
    make_account: MakeAccount,
) -> None:
    watch_a, watch_b, watch_c = (make_account(tag) for tag in ("gus-a", "gus-b", "gus-c"))
    for account in (watch_a, watch_b, watch_c):
        account.pair(TRACKER)
    linking, store, user = portal.core.linking, portal.core.store, portal.user("gus")

    first = portal.link(watch_a.browser, user, "vitalkey")
    assert isinstance(first, Linked) and first.section.link is not None and first.section.link.has_wearable

    declined = portal.link(watch_b.browser, user, "other")
    assert isinstance(declined, NeedsConfirmation)
    assert (declined.replaces.id, declined.pending.state) == (first.section.link.id, LinkState.PENDING)
    kept = portal.call(linking.confirm, user, declined.pending.id, False)
    assert isinstance(kept, Linked) and kept.section.provider.slug == "vitalkey" and kept.section.linked
    refused = store.link(declined.pending.id)
    assert refused is not None and refused.unlinked_reason is UnlinkReason.REFUSED
    assert second_partner.client_id not in watch_b.connected_apps()  # its tokens revoked at VitalKey

    replacing = portal.link(watch_c.browser, user, "other")
    assert isinstance(replacing, NeedsConfirmation)
    replaced = portal.call(linking.confirm, user, replacing.pending.id, True)
    assert isinstance(replaced, Linked) and replaced.section.provider.slug == "other" and replaced.section.linked
    old = store.link(first.section.link.id)
    assert old is not None and (old.state, old.unlinked_reason) == (LinkState.UNLINKED, UnlinkReason.REPLACED)
    assert partner.client_id not in watch_a.connected_apps()  # unlinked at its provider
    assert second_partner.client_id in watch_c.connected_apps()
    sections = {s.provider.slug: s.linked for s in linking.sections(user)}
    assert sections == {"vitalkey": False, "other": True}
    assert sorted(job.appli for job in store.jobs(replacing.pending.id)) == [1, 16, 44]  # its first sync
    again = portal.call(linking.confirm, user, replacing.pending.id, True)
    assert isinstance(again, LinkFailed)  # nothing waits any more


@pytest.mark.slow
def test_removing_the_app_at_vitalkey_shows_the_section_unlinked(
    portal: PortalUnderTest, partner: Partner, make_account: MakeAccount
) -> None:
    """The unlink notification (appli 46), signed by VitalKey, reaches the running portal."""
    hal = make_account("hal")
    user = portal.user("hal")
    portal.start_worker()
    outcome = portal.link(hal.browser, user)
    assert isinstance(outcome, Linked) and outcome.section.link is not None
    link_id = outcome.section.link.id
    portal.wait_for(lambda: (portal.core.store.link(link_id) or outcome.section.link).last_sync)
    with hal.api() as http:
        assert http.delete(f"/api/v1/account/connected-apps/{partner.client_id}").status_code == 200

    def unlinked() -> bool:
        link = portal.core.store.link(link_id)
        return link is not None and link.state is LinkState.UNLINKED

    portal.wait_for(unlinked)
    link = portal.core.store.link(link_id)
    assert link is not None and link.unlinked_reason is UnlinkReason.PROVIDER
    (section, _other) = portal.core.linking.sections(user)
    assert not section.linked
    assert portal.core.linking.begin(user, "vitalkey", "/link-device").startswith(section.provider.authorize_url + "?")


def test_unlink_with_rfc7009_revocation(
    tmp_path: Path, portal_port: int, vitalkey: tuple[LiveServer, str], partner: Partner, make_account: MakeAccount
) -> None:
    server, _ = vitalkey
    provider = provider_for(
        server, partner, revocation=Revocation.RFC7009, revocation_url=server.url + "/oauth2/revoke"
    )
    settings = portal_settings(
        tmp_path / "portal", f"sqlite:///{tmp_path / 'portal.sqlite3'}", portal_port, (provider,)
    )
    ivy = make_account("ivy")
    with running_portal(settings) as portal:
        user = portal.user("ivy")
        outcome = portal.link(ivy.browser, user)
        assert isinstance(outcome, Linked) and outcome.section.link is not None
        tokens = portal.core.store.tokens(outcome.section.link.id)
        assert tokens is not None
        assert introspect(server, partner, tokens.refresh_token)["active"] is True
        portal.call(portal.core.linking.unlink, user, "vitalkey")
        assert introspect(server, partner, tokens.refresh_token)["active"] is False  # revoked (RFC 7009)
        assert introspect(server, partner, tokens.access_token)["active"] is False
        with pytest.raises(TokenInvalid):
            portal.call(portal.core.clients["vitalkey"].refresh, tokens.refresh_token)
        link = portal.core.store.link_of(user, "vitalkey")
        assert link is not None and link.unlinked_reason is UnlinkReason.USER


def test_a_poll_brings_what_changed_since_the_last_one(portal: PortalUnderTest, make_account: MakeAccount) -> None:
    jon = make_account("jon")
    (scale,) = jon.pair(SCALE)
    store, user = portal.core.store, portal.user("jon")
    outcome = portal.link(jon.browser, user)
    assert isinstance(outcome, Linked) and outcome.section.link is not None
    link = outcome.section.link
    portal.drain()
    assert store.measure_groups([link.id]) == []
    cursor = store.poll_cursor(link.id)
    assert cursor is not None and abs(cursor - epoch(datetime.now(UTC))) < 300
    moment = epoch(datetime.now(UTC)) - 60
    (grpid,) = jon.send({"measure_groups": [
        {"date": moment, "deviceid": scale, "measures": [{"type": 1, "value": 65000, "unit": -3}]}]})["grpids"]  # fmt: skip
    portal.call(portal.core.syncer.poll, link)  # what the worker's poll job runs
    assert {g.grpid: g.measures for g in store.measure_groups([link.id])} == {grpid: ((1, 65000, -3),)}
    polled = store.link(link.id)
    assert polled is not None and polled.last_sync is not None and polled.last_sync > link.linked_at
    assert (store.poll_cursor(link.id) or 0) >= cursor


def test_an_unsigned_unlink_notice_is_checked_with_the_refresh_token(
    tmp_path: Path, portal_port: int, vitalkey: tuple[LiveServer, str], partner: Partner, make_account: MakeAccount
) -> None:
    """Withings does not sign its callbacks: anyone could post appli 46 for a user id. The portal
    ends the link only when the provider refuses its refresh token."""
    server, _ = vitalkey
    provider = provider_for(server, partner, signs_notifications=False)
    settings = portal_settings(
        tmp_path / "portal", f"sqlite:///{tmp_path / 'portal.sqlite3'}", portal_port, (provider,)
    )
    kim = make_account("kim")
    with running_portal(settings) as portal:
        store, user = portal.core.store, portal.user("kim")
        outcome = portal.link(kim.browser, user)
        assert isinstance(outcome, Linked) and outcome.section.link is not None
        link_id = outcome.section.link.id
        portal.drain()
        forged = f"userid={kim.account_id}&appli=46&action=unlink".encode()
        assert portal.core.notifications.accept("vitalkey", forged, {}) == 204
        portal.drain()
        still = store.link(link_id)
        assert still is not None and still.state is LinkState.LINKED  # the refresh worked: a forgery
        with kim.api() as http:
            assert http.delete(f"/api/v1/account/connected-apps/{partner.client_id}").status_code == 200
        assert portal.core.notifications.accept("vitalkey", forged, {}) == 204
        portal.drain()
        gone = store.link(link_id)
        assert gone is not None and (gone.state, gone.unlinked_reason) == (LinkState.UNLINKED, UnlinkReason.PROVIDER)
