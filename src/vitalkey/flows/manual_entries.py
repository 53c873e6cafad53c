"""Measurements entered by hand on the web pages (attrib 2, "manual"): listed, added, edited and
deleted through the companion app's ingestion service, so that they are checked, stored and
announced to the partners (notifications queued in the same transaction) exactly as the app's."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from vitalkey.domain.health import Attrib, Category, Device, MeasureFilter, MeasureGroup, Page, RecordNotFound, Window
from vitalkey.domain.manual_entries import BLOOD_PRESSURE, PULSE, WEIGHT, Entry
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.health_ingest import Batch, GroupEdit, HealthIngest, NewGroup, NewMeasure

RECENT = timedelta(days=365)  # the list shows the manual entries of the last year
SHOWN = 100  # at most, newest first
PAGE = 500
TYPES = frozenset({WEIGHT, PULSE, *BLOOD_PRESSURE})  # read: the other measures of a group are kept on edit


class ManualEntries:
    def __init__(self, deps: FlowDeps, ingest: HealthIngest) -> None:
        self.deps = deps
        self.ingest = ingest

    def recent(self, account_id: int) -> list[MeasureGroup]:
        """The user's live manual weights and blood pressures of the last year, newest first."""
        now = self.deps.clock.now()
        window = Window(start=now - RECENT, end=now + timedelta(days=1))
        wanted = MeasureFilter(types=TYPES, category=Category.REAL)
        found: list[MeasureGroup] = []
        after = 0
        with self.deps.uow.read() as tx:
            while True:
                page = tx.measure_groups.find(account_id, window, wanted, Page(after=after, limit=PAGE))
                found.extend(g for g in page if _editable(g))
                if len(page) < PAGE:
                    break
                after = page[-1].grpid
        return sorted(found, key=lambda g: (g.date, g.grpid), reverse=True)[:SHOWN]

    def devices(self, account_id: int) -> list[Device]:
        return self.ingest.devices(account_id)

    def add(self, account_id: int, form_key: str, entry: Entry) -> int:
        """Store the entry once: the form's key with its content names the batch, so a form sent
        twice (a double click, a reload) stores one group; its ``grpid``."""
        measures = tuple(NewMeasure(m.type, m.value, m.unit) for m in entry.measures)
        group = NewGroup(
            int(entry.moment.timestamp()), measures, Category.REAL, Attrib.MANUAL, entry.timezone, None, None
        )
        digest = hashlib.sha256(repr(group).encode()).hexdigest()
        key = hashlib.sha256(f"{form_key}:{digest}".encode()).hexdigest()
        done = self.ingest.ingest(account_id, key, digest, Batch(measure_groups=(group,)))
        grpids: list[int] = done.answer["grpids"]
        return grpids[0]

    def get(self, account_id: int, grpid: int) -> MeasureGroup:
        """One of the user's live manual groups (a device's is not editable here)."""
        group = self.ingest.measure_group(account_id, grpid)
        if not _editable(group):
            raise RecordNotFound()
        return group

    def edit(self, account_id: int, grpid: int, entry: Entry) -> MeasureGroup:
        """The form's measures replace those of its kind; any other the group holds (a fat ratio
        the app stored with a manual weight) stays."""
        group = self.get(account_id, grpid)
        replaced = {WEIGHT} if any(m.type == WEIGHT for m in entry.measures) else {PULSE, *BLOOD_PRESSURE}
        kept = tuple(m for m in group.measures if m.type not in replaced)
        measures = tuple(NewMeasure(m.type, m.value, m.unit) for m in (*entry.measures, *kept))
        return self.ingest.edit_group(account_id, grpid, GroupEdit(int(entry.moment.timestamp()), measures))

    def delete(self, account_id: int, grpid: int) -> None:
        self.get(account_id, grpid)
        self.ingest.delete_group(account_id, grpid)


def _editable(group: MeasureGroup) -> bool:
    """A live manual group these pages show: a weight, or a systolic and diastolic pressure."""
    types = {m.type for m in group.measures}
    manual = group.attrib is Attrib.MANUAL and group.deleted is None
    return manual and (WEIGHT in types or types >= BLOOD_PRESSURE)
