"""Measurements entered by hand over real HTTP on SQLite and PostgreSQL: a weight (kg, lb, st/lb)
and a blood pressure added, edited and deleted, stored exactly as integers with attrib 2
(manual); a partner reads the weight through getmeas and is notified; bad values answered beside
their field; another user's measure refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import Mailbox
from tests.flows.test_resource_protector import Issued
from tests.web.conftest import csrf_of, web_sign_in, web_sign_up
from tests.web.test_dashboard import _account_id, _container
from tests.web.test_withings_data import ALL_SCOPES, call
from vitalkey.domain.health import Attrib, Measure, MeasureGroup
from vitalkey.domain.notifications import Appli, Change, Subscription
from vitalkey.flows.health_ingest import Batch, NewGroup, NewMeasure


def _groups(client: TestClient, email: str) -> list[MeasureGroup]:
    return _container(client).manual_entries.recent(_account_id(client, email))


def _submit(client: TestClient, url: str, fields: dict[str, str]) -> Any:
    form = client.get(url)
    assert form.status_code == 200
    values = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.text))
    values.update(fields)
    values["csrf_token"] = csrf_of(form.text)
    return client.post(url.split("?", maxsplit=1)[0], data=values)


def _field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="e-{name}">([^<]*)</p>', html)
    assert found, f"no message beside {name}"
    return found.group(1)


def test_add_edit_and_delete_a_weight(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    assert 'href="/measurements/new"' in client.get("/dashboard").text
    form = client.get("/measurements/new")
    today = datetime.now(UTC).date().isoformat()  # the user's zone: UTC without a device
    assert f'name="day" type="date" value="{today}"' in form.text and 'value="UTC"' in form.text
    added = _submit(client, "/measurements/new", {"weight": "72,35", "day": "2026-01-05", "time": "07:30"})
    assert added.status_code == 200 and added.url.path == "/measurements"
    assert "The measurement was added." in added.text and "72.4 kg" in added.text  # shown to a tenth
    (group,) = _groups(client, "ann@example.org")
    assert group.measures == (Measure(1, 7235, -2),) and group.attrib is Attrib.MANUAL
    assert group.date == datetime(2026, 1, 5, 7, 30, tzinfo=UTC) and group.deviceid is None
    # The dashboard shows it like a device's weight.
    assert "72.4 kg" in client.get("/dashboard?days=365").text

    edit_url = f"/measurements/{group.grpid}/edit"
    assert 'value="72.35"' in client.get(edit_url).text
    edited = _submit(client, edit_url, {"weight": "71.9", "time": "08:00"})
    assert edited.status_code == 200 and "The measurement was changed." in edited.text
    (changed,) = _groups(client, "ann@example.org")
    assert changed.grpid == group.grpid and changed.measures == (Measure(1, 719, -1),)
    assert changed.date == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

    delete_url = f"/measurements/{group.grpid}/delete"
    confirm = client.get(delete_url)
    assert "Delete 71.9 kg of Jan 5, 2026" in confirm.text
    kept = client.post(delete_url, data={"csrf_token": csrf_of(confirm.text)}, follow_redirects=False)
    assert kept.status_code == 303 and len(_groups(client, "ann@example.org")) == 1  # not confirmed
    deleted = client.post(delete_url, data={"csrf_token": csrf_of(confirm.text), "action": "delete"})
    assert "The measurement was deleted." in deleted.text
    assert _groups(client, "ann@example.org") == []
    assert client.get(edit_url).status_code == 404


def test_a_weight_in_pounds_and_in_stones_is_stored_exactly(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    client.get("/dashboard?units=us")
    form = client.get("/measurements/new").text
    assert "Weight (lb)" in form
    _submit(client, "/measurements/new", {"weight": "150.5", "day": "2026-01-05", "time": "07:30"})
    (group,) = _groups(client, "ann@example.org")
    assert group.measures == (Measure(1, 68265651685, -9),)  # 150.5 × 0.45359237 kg, exactly
    assert 'value="150.5"' in client.get(f"/measurements/{group.grpid}/edit").text
    client.get("/dashboard?units=uk")
    _submit(client, f"/measurements/{group.grpid}/edit", {"stones": "11", "pounds": "4"})
    (group,) = _groups(client, "ann@example.org")
    assert group.measures == (Measure(1, 7166759446, -8),)  # 158 lb = 71.66759446 kg
    edit = client.get(f"/measurements/{group.grpid}/edit").text
    assert 'name="stones" type="text" value="11"' in edit and 'name="pounds" type="text" value="4"' in edit
    assert "11 st 4.0 lb" in client.get("/measurements").text


def test_add_edit_and_delete_a_blood_pressure(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    fields = {"systolic": "128", "diastolic": "82", "pulse": "64", "day": "2026-02-01", "time": "21:15"}
    fields["timezone"] = "Europe/Paris"
    added = _submit(client, "/measurements/new?kind=pressure", fields)
    assert "128/82 mmHg, 64 bpm" in added.text
    (group,) = _groups(client, "ann@example.org")
    assert set(group.measures) == {Measure(10, 128, 0), Measure(9, 82, 0), Measure(11, 64, 0)}
    assert group.timezone == "Europe/Paris" and group.date == datetime(2026, 2, 1, 20, 15, tzinfo=UTC)
    edit_url = f"/measurements/{group.grpid}/edit"
    assert 'value="21:15"' in client.get(edit_url).text  # shown in its own zone again
    _submit(client, edit_url, {"systolic": "131", "pulse": ""})
    (group,) = _groups(client, "ann@example.org")
    assert set(group.measures) == {Measure(10, 131, 0), Measure(9, 82, 0)}
    confirm = client.get(f"/measurements/{group.grpid}/delete")
    client.post(f"/measurements/{group.grpid}/delete", data={"csrf_token": csrf_of(confirm.text), "action": "delete"})
    assert _groups(client, "ann@example.org") == []


def test_bad_values_are_answered_beside_their_field(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    refused = _submit(client, "/measurements/new", {"weight": "abc", "day": tomorrow, "timezone": "Mars/Base"})
    assert refused.status_code == 400
    assert _field_error(refused.text, "weight") == "Please enter a number with at most two decimals, such as 72.5."
    assert _field_error(refused.text, "day") == "This date is in the future."
    assert "Mars/Base is not a known time zone" in _field_error(refused.text, "timezone")
    assert 'value="abc"' in refused.text  # what was typed stays
    heavy = _submit(client, "/measurements/new", {"weight": "900"})
    assert _field_error(heavy.text, "weight") == "Please enter a value from 0.5 to 700 kg."
    bp = {"systolic": "80", "diastolic": "90", "pulse": "9"}
    refused = _submit(client, "/measurements/new?kind=pressure", bp)
    assert refused.status_code == 400
    assert _field_error(refused.text, "diastolic") == "The diastolic pressure must be lower than the systolic pressure."
    assert _field_error(refused.text, "pulse") == "Please enter a value from 10 to 300 bpm."
    missing = _submit(client, "/measurements/new?kind=pressure", {"systolic": "", "diastolic": "8.5", "day": "x"})
    assert _field_error(missing.text, "systolic") == "Please enter a value."
    assert _field_error(missing.text, "diastolic") == "Please enter a whole number, such as 120."
    assert _field_error(missing.text, "day") == "Please enter a date and a time."
    assert _groups(client, "ann@example.org") == []


def test_a_form_sent_twice_stores_one_measure(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    form = client.get("/measurements/new")
    values = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.text))
    values.update({"weight": "70", "csrf_token": csrf_of(form.text)})
    client.post("/measurements/new", data=values)
    client.post("/measurements/new", data=values)  # a double click
    assert len(_groups(client, "ann@example.org")) == 1


def test_another_users_measure_is_not_found(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "bob@example.org")
    _submit(client, "/measurements/new", {"weight": "80", "day": "2026-01-05", "time": "07:30"})
    (bobs,) = _groups(client, "bob@example.org")
    client.cookies.clear()
    web_sign_up(client, mailbox, "ann@example.org")
    token = csrf_of(client.get("/measurements/new").text)
    for action in ("edit", "delete"):
        url = f"/measurements/{bobs.grpid}/{action}"
        assert client.get(url).status_code == 404
        post = {"csrf_token": token, "action": "delete", "weight": "60", "day": "2026-01-05", "time": "07:30"}
        assert client.post(url, data=post).status_code == 404
    assert client.get("/measurements/abc/edit").status_code == 404
    assert _groups(client, "bob@example.org") == [bobs]


def test_a_manual_weight_reaches_a_partner_and_queues_a_notification(client: TestClient, mailbox: Mailbox) -> None:
    container = _container(client)
    partner = Issued(container, ALL_SCOPES)  # Ann's account, with an app's token
    now = container.clock.now()
    with container.uow.begin() as tx:  # the app subscribed to weights (the /notify API has its own tests)
        tx.consents.allow(partner.account_id, partner.client_id, ALL_SCOPES, now)
        hook = Subscription(
            0, partner.account_id, partner.client_id, Appli.WEIGHT, "https://p.example/hook", "", now, now
        )
        tx.subscriptions.add(hook)
    web_sign_in(client, mailbox, "ann@example.org", 1)
    _submit(client, "/measurements/new", {"weight": "64.8", "day": "2026-01-05", "time": "07:30"})
    answer = call(client, partner.access, "/measure", action="getmeas", meastype=1)
    (read,) = answer["body"]["measuregrps"]
    assert read["attrib"] == 2 and read["measures"] == [{"value": 648, "type": 1, "unit": -1}]
    assert read["date"] == int(datetime(2026, 1, 5, 7, 30, tzinfo=UTC).timestamp())
    with container.uow.read() as tx:
        queued = [d for d in tx.deliveries.recent(10) if d.account_id == partner.account_id]
    assert [(d.appli, d.change, d.callbackurl) for d in queued] == [(Appli.WEIGHT, Change.NEW, hook.callbackurl)]
    assert queued[0].start == datetime(2026, 1, 5, 7, 30, tzinfo=UTC)
    # Deleted on the page: the partner reads it no more, and is told.
    (group,) = _groups(client, "ann@example.org")
    confirm = client.get(f"/measurements/{group.grpid}/delete")
    client.post(f"/measurements/{group.grpid}/delete", data={"csrf_token": csrf_of(confirm.text), "action": "delete"})
    assert call(client, partner.access, "/measure", action="getmeas", meastype=1)["body"]["measuregrps"] == []
    with container.uow.read() as tx:
        queued = [d for d in tx.deliveries.recent(10) if d.account_id == partner.account_id]
    assert {(d.appli, d.change) for d in queued} == {(Appli.WEIGHT, Change.NEW), (Appli.WEIGHT, Change.DELETE)}


def test_the_form_and_its_messages_in_the_page_language(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    client.get("/lang/fr")
    form = client.get("/measurements/new?kind=pressure").text
    assert "Ajouter une tension artérielle" in form and "Systolique (mmHg)" in form
    refused = _submit(client, "/measurements/new?kind=pressure", {"systolic": "", "diastolic": "400"})
    assert _field_error(refused.text, "systolic") == "Veuillez saisir une valeur."
    assert _field_error(refused.text, "diastolic") == "Veuillez saisir une valeur de 10 à 300 mmHg."
    client.get("/lang/ja")
    added = _submit(client, "/measurements/new", {"weight": "55.2", "day": "2026-01-05", "time": "07:30"})
    assert "測定値を追加しました。" in added.text and "55.2 kg" in added.text


def test_an_edit_keeps_the_groups_other_measures(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    container, account_id = _container(client), _account_id(client, "ann@example.org")
    at = int(datetime(2026, 1, 5, 7, 30, tzinfo=UTC).timestamp())
    weight_and_fat = NewGroup(at, (NewMeasure(1, 7000, -2), NewMeasure(6, 215, -1)), timezone="UTC")
    pulse_only = NewGroup(at, (NewMeasure(11, 60, 0),), timezone="UTC")  # not a form of these pages
    answer = container.health_ingest.ingest(
        account_id, "app-1", "d", Batch(measure_groups=(weight_and_fat, pulse_only))
    )
    grpid, pulse_grpid = answer.answer["grpids"]
    assert [g.grpid for g in _groups(client, "ann@example.org")] == [grpid]
    assert client.get(f"/measurements/{pulse_grpid}/edit").status_code == 404
    _submit(client, f"/measurements/{grpid}/edit", {"weight": "69.5"})
    group = container.health_ingest.measure_group(account_id, grpid)
    assert set(group.measures) == {Measure(1, 695, -1), Measure(6, 215, -1)}
