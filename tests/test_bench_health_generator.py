"""The health benchmark's generator at a tiny scale (the benchmark itself is not part of the suite):
the same seed gives the same data, and what it writes straight into the tables is what the server's
own repository reads back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bench.health_data import MEASURES_PER_GROUP, Shape, fill, generate
from bench.signin import add_accounts, create_database
from vitalkey.container import build
from vitalkey.domain.health import Measure, MeasureFilter, Page, Window
from vitalkey.settings import load_settings

SHAPE = Shape(users=12, days=60)


def test_the_generator_is_deterministic_and_consistent() -> None:
    first = [rows for chunk in generate(SHAPE) for rows in chunk]
    assert first == [rows for chunk in generate(SHAPE) for rows in chunk]
    groups = [row for chunk in generate(SHAPE) for row in chunk[0]]
    measures = [row for chunk in generate(SHAPE) for row in chunk[1]]
    assert len(measures) == MEASURES_PER_GROUP * len(groups)
    # every user weighs in every 14 days: 4 or 5 times in 60 days
    per_user = {user: sum(1 for g in groups if g[1] == user) for user in range(1, SHAPE.users + 1)}
    assert set(per_user.values()) <= {4, 5}
    by_group: dict[int, dict[int, int]] = {}
    for grpid, _, kind, value, unit in measures:
        assert unit == -3
        by_group.setdefault(grpid, {})[kind] = value
    for values in by_group.values():  # fat mass + fat-free mass = weight
        assert values[8] + values[5] == values[1]


def test_what_it_writes_is_read_back_by_the_repository(tmp_path: Path) -> None:
    url = create_database("sqlite", tmp_path)
    add_accounts(url, SHAPE.users)
    stats = fill(url, SHAPE)
    expected = [row for chunk in generate(SHAPE) for row in chunk[0] if row[1] == 3]
    assert stats["groups"] == sum(len(chunk[0]) for chunk in generate(SHAPE))
    container = build(load_settings(environ={"VITALKEY_DATABASE_URL": url, "VITALKEY_DATA_DIR": str(tmp_path)}))
    try:
        with container.uow.read() as tx:
            found = tx.measure_groups.find(3, Window(), MeasureFilter(), Page(limit=100))
            devices = tx.devices.for_account(3)
    finally:
        container.close()
    assert [g.grpid for g in found] == [row[0] for row in expected]
    assert [g.date for g in found] == [datetime.fromtimestamp(row[2] / 1e6, UTC) for row in expected]
    assert [m.type for m in found[0].measures] == [1, 5, 6, 8]
    assert all(isinstance(m, Measure) and m.unit == -3 for g in found for m in g.measures)
    assert [d.deviceid for d in devices] == [found[0].deviceid]
