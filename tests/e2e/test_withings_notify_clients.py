"""withings-api 2.4.0's notification calls against a live ``vitalkey serve`` process, unmodified
but for its base URL: a linked partner subscribes its callback URL (a real local receiver, which
the server checks with a HEAD), lists, gets, updates and revokes, and a refused URL raises the
client's own invalid-params error. The server runs in dev mode with ``notify_allow_http`` and
``notify_allow_local`` (the receiver is plain http on 127.0.0.1); by default it refuses both."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from withings_api import AbstractWithingsApi, WithingsApi, WithingsAuth
from withings_api.common import AuthScope, Credentials2, InvalidParamsException, NotifyAppli

from tests.conftest import LiveServer, Mailbox, Receiver, free_port, live_environment, start_server, stop_server
from tests.e2e.companion_app import JSON, upload
from tests.e2e.live_oauth import WebUser, query_of, register, sign_up

EMAIL = "ann@example.org"
CALLBACK = "https://portal.example.com/withings/callback"
MORNING = int(datetime(2026, 11, 20, 7, 30, tzinfo=UTC).timestamp())
SCALE: JSON = {"type": "Scale", "model": "Body+", "model_id": 13, "timezone": "Europe/Paris", "battery": "high"}


def weigh_in(deviceids: list[str]) -> JSON:
    return {"measure_groups": [{"date": MORNING, "timezone": "Europe/Paris", "attrib": 0, "category": 1,
                                "deviceid": deviceids[0], "measures": [{"type": 1, "value": 7235, "unit": -2}]}]}  # fmt: skip


@pytest.fixture
def local_callbacks_server(tmp_path: Path, sqlite_url: str, smtp_server: tuple[Mailbox, int]) -> Iterator[LiveServer]:
    local_callbacks = {  # the receiver is plain http on 127.0.0.1; at once: the test waits for it
        "VITALKEY_NOTIFY_ALLOW_HTTP": "true",
        "VITALKEY_NOTIFY_ALLOW_LOCAL": "true",
        "VITALKEY_NOTIFY_COALESCE_S": "0",
    }
    server = start_server(
        tmp_path / "live", free_port(), live_environment(sqlite_url, smtp_server[1], **local_callbacks)
    )
    yield server
    stop_server(server)


@dataclass(frozen=True)
class Linked:
    api: WithingsApi
    secret: str  # the partner's client secret: it verifies the signatures


@pytest.fixture
def linked(
    local_callbacks_server: LiveServer, sqlite_url: str, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Linked]:
    server = local_callbacks_server
    sign_up(server, mailbox, EMAIL)
    user = WebUser(server, mailbox, EMAIL)
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setattr(WithingsAuth, "URL", server.url)
    monkeypatch.setattr(AbstractWithingsApi, "URL", server.url)
    partner = register(server, sqlite_url, name="Health2Go", redirect_uri=CALLBACK,
                       scopes=("user.info", "user.metrics", "user.activity"))  # fmt: skip
    assert partner.secret is not None
    auth = WithingsAuth(partner.client_id, partner.secret, callback_uri=CALLBACK,
                        scope=(AuthScope.USER_INFO, AuthScope.USER_METRICS, AuthScope.USER_ACTIVITY))  # fmt: skip
    with ExitStack() as closer:
        closer.callback(auth._session.close)  # its requests session keeps a socket open
        closer.callback(user.close)
        credentials: Credentials2 = auth.get_credentials(query_of(user.link(auth.get_authorize_url()))["code"])
        yield Linked(WithingsApi(credentials), partner.secret)


def test_withings_api_subscribes_lists_updates_and_revokes(linked: Linked, receiver: Receiver) -> None:
    hook, moved = receiver.url + "/withings/notify", receiver.url + "/withings/moved"
    linked.api.notify_subscribe(hook, NotifyAppli.WEIGHT, comment="Health2Go weight")
    linked.api.notify_subscribe(hook, NotifyAppli.SLEEP)
    assert [(r["method"], r["path"]) for r in receiver.received] == [("HEAD", "/withings/notify")] * 2

    profiles = linked.api.notify_list().profiles
    assert [(p.appli, p.callbackurl, p.comment) for p in profiles] == [
        (NotifyAppli.WEIGHT, hook, "Health2Go weight"),
        (NotifyAppli.SLEEP, hook, ""),
    ]
    assert all(p.expires is not None and p.expires.int_timestamp == 2_147_483_647 for p in profiles)
    got = linked.api.notify_get(hook, NotifyAppli.WEIGHT)
    assert (got.appli, got.callbackurl, got.comment) == (NotifyAppli.WEIGHT, hook, "Health2Go weight")

    linked.api.notify_update(hook, NotifyAppli.WEIGHT, moved, NotifyAppli.CIRCULATORY, comment="blood pressure")
    assert receiver.received[-1]["path"] == "/withings/moved"
    assert [(p.appli, p.callbackurl) for p in linked.api.notify_list(NotifyAppli.CIRCULATORY).profiles] == [
        (NotifyAppli.CIRCULATORY, moved)
    ]

    linked.api.notify_revoke(hook, NotifyAppli.SLEEP)
    linked.api.notify_revoke(moved, NotifyAppli.CIRCULATORY)
    assert linked.api.notify_list().profiles == ()


def test_the_companion_apps_upload_reaches_the_partner_signed(
    linked: Linked, receiver: Receiver, local_callbacks_server: LiveServer, mailbox: Mailbox
) -> None:
    """The whole story's second half: the scale's app uploads; the partner's receiver hears of it
    within moments, in Withings' form plus VitalKey's signature and delivery id."""
    hook = receiver.url + "/withings/notify"
    linked.api.notify_subscribe(hook, NotifyAppli.WEIGHT)
    uploaded = upload(local_callbacks_server, mailbox, EMAIL, [SCALE], weigh_in, {"steps": 10000, "sleep": 28800})
    deadline = time.monotonic() + 10
    while not receiver.of("POST") and time.monotonic() < deadline:
        time.sleep(0.05)
    (post,) = receiver.of("POST")
    assert post["form"] == {
        "userid": str(uploaded.account_id),
        "appli": "1",
        "startdate": str(MORNING),
        "enddate": str(MORNING),
        "change": "new",
        "backfill": "0",
    }
    signed = dict(part.split("=", 1) for part in post["headers"]["vitalkey-signature"].split(","))
    expected = hmac.new(linked.secret.encode(), signed["t"].encode() + b"." + post["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signed["v1"], expected)
    assert abs(int(signed["t"]) - time.time()) < 60


def test_a_refused_url_is_the_clients_invalid_params_error(linked: Linked, receiver: Receiver) -> None:
    receiver.status = 404
    with pytest.raises(InvalidParamsException) as refused:
        linked.api.notify_subscribe(receiver.url + "/gone", NotifyAppli.WEIGHT)
    assert str(refused.value) == "Error code 293"
    with pytest.raises(InvalidParamsException) as missing:
        linked.api.notify_get(receiver.url + "/gone", NotifyAppli.WEIGHT)
    assert str(missing.value) == "Error code 343"
    assert linked.api.notify_list().profiles == ()
