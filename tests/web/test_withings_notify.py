"""The Withings /notify API: subscribe (the callback URL checked by rule and by a HEAD to a real
local receiver), get, list, update, revoke — per user and app, each appli needing the scope that
reads its data; Withings statuses (293, 343, 294, 214, 503, 2554, 401) in the envelope."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import PROD_SMS, Receiver
from tests.flows.test_resource_protector import Issued
from tests.web.conftest import ClientFactory
from tests.web.test_withings_data import container_of, withings
from vitalkey.domain.notifications import PERMANENT

ALL_SCOPES = ("user.info", "user.metrics", "user.activity")
LOCAL = {"notify_allow_http": True, "notify_allow_local": True}
WORKING = {"failing": False, "failing_since": None}


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    """A dev server whose partners may use local http callbacks (the receiver runs on 127.0.0.1)."""
    return make_client(**LOCAL)


@pytest.fixture
def ann(client: TestClient) -> Issued:
    return Issued(container_of(client), ALL_SCOPES)


def notify(client: TestClient, token: str, **params: Any) -> dict[str, Any]:
    return withings(client.post("/notify", data=params, headers={"authorization": f"Bearer {token}"}))


def refused_url(url: str) -> dict[str, Any]:
    return {"status": 293, "body": {}, "error": f"The callback URL '{url}' is either unknown or invalid"}


def test_subscribe_checks_the_url_with_a_head_then_get_and_list_show_it(
    client: TestClient, ann: Issued, receiver: Receiver
) -> None:
    url = receiver.url + "/hook?partner=1"
    assert notify(client, ann.access, action="subscribe", callbackurl=url, appli=1, comment="Health2Go") == {
        "status": 0,
        "body": {},
    }
    assert [(r["method"], r["path"]) for r in receiver.received] == [("HEAD", "/hook?partner=1")]
    assert "authorization" not in receiver.received[0]["headers"]
    got = notify(client, ann.access, action="get", callbackurl=url, appli=1)
    assert got["body"] == {"appli": 1, "callbackurl": url, "comment": "Health2Go"}
    assert notify(client, ann.access, action="get", callbackurl=url)["body"]["appli"] == 1  # get defaults to appli 1
    notify(client, ann.access, action="subscribe", callbackurl=url, appli=44)
    notify(client, ann.access, action="subscribe", callbackurl=url, appli=1, comment="again")  # kept, not doubled
    listed = notify(client, ann.access, action="list")["body"]["profiles"]
    assert listed == [
        {"appli": 1, "callbackurl": url, "comment": "again", "expires": PERMANENT, **WORKING},
        {"appli": 44, "callbackurl": url, "comment": "", "expires": PERMANENT, **WORKING},
    ]
    assert [p["appli"] for p in notify(client, ann.access, action="list", appli=44)["body"]["profiles"]] == [44]


@pytest.mark.parametrize("status", [404, 500])
def test_a_url_that_does_not_answer_below_400_is_293(
    client: TestClient, ann: Issued, receiver: Receiver, status: int
) -> None:
    receiver.status = status
    url = receiver.url + "/hook"
    assert notify(client, ann.access, action="subscribe", callbackurl=url, appli=1) == refused_url(url)
    assert notify(client, ann.access, action="list")["body"]["profiles"] == []


def test_a_url_that_answers_too_late_is_293(make_client: ClientFactory, receiver: Receiver) -> None:
    client = make_client(**LOCAL, notify_timeout_s=0.3)
    ann = Issued(container_of(client), ALL_SCOPES)
    receiver.delay_s = 1.0
    url = receiver.url + "/slow"
    assert notify(client, ann.access, action="subscribe", callbackurl=url, appli=1) == refused_url(url)


def test_by_default_local_and_plain_http_urls_are_refused_without_a_request(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    client = make_client()
    ann = Issued(container_of(client), ALL_SCOPES)
    for url in (receiver.url + "/hook", "https://127.0.0.1/hook", "https://localhost/hook", "https://intranet/hook"):
        assert notify(client, ann.access, action="subscribe", callbackurl=url, appli=1) == refused_url(url)
    assert receiver.received == []


def test_each_appli_needs_the_scope_that_reads_its_data(client: TestClient, receiver: Receiver) -> None:
    info_only = Issued(container_of(client), ("user.info",))
    url = receiver.url + "/hook"
    for appli, scope in ((1, "user.metrics"), (44, "user.activity"), (54, "user.metrics")):
        answer = notify(client, info_only.access, action="subscribe", callbackurl=url, appli=appli)
        assert answer == {
            "status": 214,
            "body": {},
            "error": f"Unauthorized: the access token does not carry the {scope} scope",
        }
    assert receiver.received == []  # refused before the URL is tried
    assert notify(client, info_only.access, action="subscribe", callbackurl=url, appli=46)["status"] == 0


def test_bad_parameters_and_tokens(client: TestClient, ann: Issued, receiver: Receiver) -> None:
    url = receiver.url + "/hook"
    for params, field in (
        ({"callbackurl": url, "appli": 3}, "appli"),
        ({"callbackurl": url, "appli": "weight"}, "appli"),
        ({"appli": 1}, "callbackurl"),
        ({"callbackurl": url, "appli": 1, "comment": "x" * 256}, "comment"),
    ):
        answer = notify(client, ann.access, action="subscribe", **params)
        assert answer["status"] == 503 and answer["error"].startswith(f"Invalid Params: {field}"), answer
    assert notify(client, ann.access, action="update", callbackurl=url, appli=1)["status"] == 503  # nothing to change
    assert notify(client, ann.access, action="nothing")["status"] == 2554
    assert withings(client.post("/notify", data={"action": "list"}))["status"] == 401
    assert notify(client, ann.refresh, action="list")["status"] == 401


def test_update_moves_a_subscription_and_checks_the_new_url(
    client: TestClient, ann: Issued, receiver: Receiver
) -> None:
    old, new = receiver.url + "/old", receiver.url + "/new"
    notify(client, ann.access, action="subscribe", callbackurl=old, appli=1)
    moved = notify(client, ann.access, action="update", callbackurl=old, appli=1, new_callbackurl=new, new_appli=4)
    assert moved == {"status": 0, "body": {}}
    assert [r["path"] for r in receiver.of("HEAD")] == ["/old", "/new"]
    assert notify(client, ann.access, action="get", callbackurl=new, appli=4)["body"]["callbackurl"] == new
    missing = notify(client, ann.access, action="get", callbackurl=old, appli=1)
    assert missing == {"status": 343, "body": {}, "error": "No notification matching the criteria was found"}
    assert notify(client, ann.access, action="update", callbackurl=old, appli=1, comment="c")["status"] == 343
    notify(client, ann.access, action="update", callbackurl=new, appli=4, comment="renamed")
    assert notify(client, ann.access, action="get", callbackurl=new, appli=4)["body"]["comment"] == "renamed"
    receiver.status = 500
    unreachable = receiver.url + "/broken"
    answer = notify(client, ann.access, action="update", callbackurl=new, appli=4, new_callbackurl=unreachable)
    assert answer == refused_url(unreachable)
    assert notify(client, ann.access, action="get", callbackurl=new, appli=4)["status"] == 0  # left as it was


def test_revoke_one_a_urls_or_all_and_nothing_left_is_294(client: TestClient, ann: Issued, receiver: Receiver) -> None:
    first, second = receiver.url + "/a", receiver.url + "/b"
    for url, appli in ((first, 1), (first, 44), (second, 1), (second, 16)):
        notify(client, ann.access, action="subscribe", callbackurl=url, appli=appli)
    assert notify(client, ann.access, action="revoke", callbackurl=first, appli=44)["status"] == 0
    assert notify(client, ann.access, action="revoke", callbackurl=first, appli=44) == {
        "status": 294,
        "body": {},
        "error": "No such subscription could be deleted",
    }
    assert notify(client, ann.access, action="revoke", callbackurl=second)["status"] == 0  # every appli of that URL
    profiles = notify(client, ann.access, action="list")["body"]["profiles"]
    assert [(p["callbackurl"], p["appli"]) for p in profiles] == [(first, 1)]
    assert notify(client, ann.access, action="revoke")["status"] == 0  # all of the app's, for this user
    assert notify(client, ann.access, action="list")["body"]["profiles"] == []


def test_a_token_sees_only_its_users_and_its_apps_subscriptions(client: TestClient, receiver: Receiver) -> None:
    container = container_of(client)
    ann = Issued(container, ALL_SCOPES)
    bob = Issued(container, ALL_SCOPES, email="bob@example.org")  # another user, another app
    url = receiver.url + "/hook"
    notify(client, ann.access, action="subscribe", callbackurl=url, appli=1)
    assert notify(client, bob.access, action="list")["body"]["profiles"] == []
    assert notify(client, bob.access, action="get", callbackurl=url, appli=1)["status"] == 343
    assert notify(client, bob.access, action="revoke", callbackurl=url, appli=1)["status"] == 294
    assert len(notify(client, ann.access, action="list")["body"]["profiles"]) == 1


def test_a_failing_subscription_is_listed_as_such_until_updated(
    client: TestClient, ann: Issued, receiver: Receiver
) -> None:
    url = receiver.url + "/hook"
    notify(client, ann.access, action="subscribe", callbackurl=url, appli=1)
    container = container_of(client)
    with container.uow.begin() as tx:
        (subscription,) = tx.subscriptions.of_app(ann.account_id, ann.client_id)
        tx.subscriptions.mark_failing(subscription.id, container.clock.now())
    (listed,) = notify(client, ann.access, action="list")["body"]["profiles"]
    assert listed["failing"] is True and listed["failing_since"] == int(container.clock.now().timestamp())
    notify(client, ann.access, action="update", callbackurl=url, appli=1, comment="fixed")
    (listed,) = notify(client, ann.access, action="list")["body"]["profiles"]
    assert (listed["failing"], listed["failing_since"], listed["comment"]) == (False, None, "fixed")


ADMIN = "admin-token-0123456789abcdef-0123456789"


def test_operators_see_a_clients_subscriptions_and_failures(make_client: ClientFactory, receiver: Receiver) -> None:
    client = make_client(**LOCAL, admin_token=ADMIN)
    container = container_of(client)
    ann = Issued(container, ALL_SCOPES)
    notify(client, ann.access, action="subscribe", callbackurl=receiver.url + "/a", appli=1)
    notify(client, ann.access, action="subscribe", callbackurl=receiver.url + "/b", appli=44)
    with container.uow.begin() as tx:
        failing = next(s for s in tx.subscriptions.of_app(ann.account_id, ann.client_id) if s.appli == 44)
        tx.subscriptions.mark_failing(failing.id, container.clock.now())
    admin = {"authorization": f"Bearer {ADMIN}"}
    path = f"/api/v1/admin/clients/{ann.client_id}/subscriptions"
    listed = client.get(path, headers=admin)
    assert listed.status_code == 200
    rows = listed.json()["subscriptions"]
    assert [(r["userid"], r["appli"], r["callbackurl"], r["failing_since"] is not None) for r in rows] == [
        (ann.account_id, 44, receiver.url + "/b", True),
        (ann.account_id, 1, receiver.url + "/a", False),
    ]
    assert client.get(path).status_code == 401
    assert client.get("/api/v1/admin/clients/nobody/subscriptions", headers=admin).status_code == 404


def test_the_dev_page_lists_deliveries_and_is_gone_outside_dev_mode(
    client: TestClient, ann: Issued, receiver: Receiver
) -> None:
    container = container_of(client)
    with container.uow.begin() as tx:
        tx.consents.allow(ann.account_id, ann.client_id, ALL_SCOPES, container.clock.now())
    notify(client, ann.access, action="subscribe", callbackurl=receiver.url + "/hook", appli=1)
    assert "No notifications yet." in client.get("/dev/notifications").text
    container.connected_apps.remove(ann.account_id, ann.client_id)  # queues appli 46 unlink
    page = client.get("/dev/notifications")
    assert page.status_code == 200
    assert f"{receiver.url}/hook" in page.text and "appli 46" in page.text and "unlink" in page.text
    assert "Waiting" in page.text
    assert 'href="/dev/notifications"' in page.text  # the footer's dev links name it


def test_no_dev_page_outside_dev_mode(make_client: ClientFactory) -> None:
    prod = make_client(dev_mode=False, smtp_host="127.0.0.1", **PROD_SMS)
    assert prod.get("/dev/notifications").status_code == 404


def test_connected_apps_say_which_app_receives_notifications(
    client: TestClient, ann: Issued, receiver: Receiver
) -> None:
    container = container_of(client)
    with container.uow.begin() as tx:
        tx.consents.allow(ann.account_id, ann.client_id, ALL_SCOPES, container.clock.now())
    (before,) = container.connected_apps.for_account(ann.account_id)
    notify(client, ann.access, action="subscribe", callbackurl=receiver.url + "/hook", appli=1)
    (after,) = container.connected_apps.for_account(ann.account_id)
    assert (before.notified, after.notified) == (False, True)
