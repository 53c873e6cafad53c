"""Export → delete → import (issue #21 item 6), on both engines: an account's "Download my data"
ZIP, imported into a new account after the first is deleted, gives that account the same data —
the second account's export holds the same devices, measure groups (two at the same second, an
objective among them), activity days, workouts, nights with their states and series, intraday
samples, ECG and goals as the first's. Importing the ZIP again stores nothing more."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import ContainerFactory
from tests.flows.helpers import BROWSER, last_code
from tests.flows.test_health_ingest import PROFILE
from tests.health_seed import seed
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.data_exports import ExportStatus
from vitalkey.flows.export_format import JSON_NAME, ExportDocument, from_json

FIRST = "ann.before@example.org"
SECOND = "ann.after@example.org"
# When a device was paired is the new account's; its sessions are compared apart (the seed's
# are set by hand, and data outside them widens them, as a device's own batches would).
DEVICE_TIMES = ("paired_at", "first_session", "last_session")


@pytest.fixture
def container(make_container: ContainerFactory) -> Container:
    return make_container(clock=FrozenClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)))


def make_account(container: Container, email: str) -> int:
    with container.uow.begin() as tx:
        made = tx.accounts.create(email, email, "en", PROFILE, "2026-01", container.clock.now())
        assert made is not None
        return made.id


def export(container: Container, account_id: int) -> bytes:
    requested = asyncio.run(container.data_exports.request(account_id))
    assert requested.export.status is ExportStatus.READY and requested.content is not None
    return requested.content


def document(archive: bytes) -> ExportDocument:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return from_json(opened.read(JSON_NAME))


def data_of(doc: ExportDocument) -> dict[str, Any]:
    """The health data of a document, devices without their pairing time."""
    devices = [{k: v for k, v in dataclasses.asdict(d).items() if k not in DEVICE_TIMES} for d in doc.devices]
    kinds = ("measure_groups", "activity", "intraday", "workouts", "sleep", "heart")
    return {"goals": doc.goals, "devices": devices, **{kind: getattr(doc, kind) for kind in kinds}}


def delete(container: Container, email: str) -> None:
    flow = container.login.start(email, BROWSER).flow
    signed_in = container.login.submit_code(flow.id, last_code(container, email), BROWSER)
    container.account_deletion.delete_account(container.sessions.authenticate(signed_in.token), email)
    with container.uow.read() as tx:
        assert tx.accounts.by_email(email) is None


def test_export_delete_import_gives_the_same_data(container: Container) -> None:
    first = make_account(container, FIRST)
    seed(container, first)
    archive = export(container, first)
    before = document(archive)
    assert before.measure_groups and before.sleep and before.heart and before.intraday  # the seed's kinds are all there

    delete(container, FIRST)
    second = make_account(container, SECOND)
    report = container.data_import.import_file(second, "vitalkey-export.zip", archive, "UTC")
    assert not report.skipped, report.skipped
    after = document(export(container, second))

    assert after.profile.email == SECOND
    assert data_of(after) == data_of(before)
    for was, now in zip(before.devices, after.devices, strict=True):
        assert was.first_session and was.last_session and now.first_session and now.last_session
        assert now.first_session == was.first_session and now.last_session >= was.last_session

    again = container.data_import.import_file(second, "vitalkey-export.zip", archive, "UTC")
    assert sum(again.imported.values()) == 0
    assert data_of(document(export(container, second))) == data_of(before)
