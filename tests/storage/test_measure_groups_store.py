"""MeasureGroupRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from tests.health_records import a_group, rows_of
from tests.storage.conftest import LATER, NOW, an_account
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.health import Attrib, Category, Measure, MeasureFilter, MeasureGroup, MeasureValue, Page, Window

EVERY = MeasureFilter()


def test_a_group_reads_back_exactly(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    group = a_group(
        ann,
        attrib=Attrib.MANUAL,
        category=Category.OBJECTIVE,
        measures=(Measure(1, 72345, -3), Measure(173, 1234, -2), Measure(173, 1300, -2), Measure(12, -405, -1)),
        deviceid=None,
    )
    with store.begin() as tx:
        grpid = tx.measure_groups.add(group)
        second = tx.measure_groups.add(a_group(ann))
    assert second > grpid > 0  # ids grow
    with store.begin() as tx:
        assert tx.measure_groups.get(ann, grpid) == replace(group, grpid=grpid)
        assert tx.measure_groups.find(ann, Window(), EVERY, Page()) == [
            replace(group, grpid=grpid),
            replace(a_group(ann), grpid=second),
        ]


def test_huge_values_and_units_are_kept_exactly(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    group = a_group(ann, measures=(Measure(1, 10**15, -10), Measure(4, -(10**15), 10), Measure(6, 0, 0)))
    with store.begin() as tx:
        grpid = tx.measure_groups.add(group)
        assert tx.measure_groups.get(ann, grpid) == replace(group, grpid=grpid)


def test_an_edit_takes_date_measures_comment_and_bumps_modified(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        grpid = tx.measure_groups.add(a_group(ann))
    edited = replace(
        a_group(ann),
        grpid=grpid,
        date=NOW - timedelta(hours=2),
        measures=(Measure(1, 7100, -2),),
        comment=None,
        modified=LATER,
    )
    with store.begin() as tx:
        assert not tx.measure_groups.replace(replace(edited, account_id=bob))  # not bob's
        assert tx.measure_groups.replace(edited)
        stored = tx.measure_groups.get(ann, grpid)
    assert stored == edited
    assert stored is not None and stored.created == NOW and stored.modified == LATER
    assert rows_of(store, "measures") == 1  # the old measures are gone


def test_a_deletion_leaves_a_tombstone_without_contents(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        grpid = tx.measure_groups.add(a_group(ann))
        kept = tx.measure_groups.add(a_group(ann))
    with store.begin() as tx:
        assert not tx.measure_groups.delete(bob, grpid, LATER)
        assert tx.measure_groups.delete(ann, grpid, LATER)
        assert not tx.measure_groups.delete(ann, grpid, LATER)  # once
        assert not tx.measure_groups.replace(replace(a_group(ann), grpid=grpid, modified=LATER))
        assert tx.measure_groups.get(ann, grpid) is None
        assert [g.grpid for g in tx.measure_groups.find(ann, Window(), EVERY, Page())] == [kept]
        tombstone, live = tx.measure_groups.find(ann, Window(), EVERY, Page(), include_deleted=True)
    assert tombstone == replace(a_group(ann), grpid=grpid, measures=(), comment=None, modified=LATER, deleted=LATER)
    assert live.grpid == kept and live.deleted is None
    assert rows_of(store, "measures") == 3  # only the live group's


def test_the_window_bounds_are_inclusive_and_lastupdate_is_strictly_after(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    hour = timedelta(hours=1)
    with store.begin() as tx:
        ids = [tx.measure_groups.add(a_group(ann, NOW + n * hour, modified=NOW + n * hour)) for n in range(5)]

    def found(window: Window) -> list[int]:
        with store.begin() as tx:
            return [g.grpid for g in tx.measure_groups.find(ann, window, EVERY, Page())]

    assert found(Window(start=NOW + hour, end=NOW + 3 * hour)) == ids[1:4]
    assert found(Window(start=NOW + 3 * hour)) == ids[3:]
    assert found(Window(end=NOW)) == ids[:1]
    assert found(Window(updated_since=NOW + 3 * hour)) == ids[4:]
    assert found(Window(start=NOW, end=NOW + 2 * hour, updated_since=NOW)) == ids[1:3]
    assert found(Window(start=NOW + 5 * hour)) == []


def test_types_keep_only_those_measures_and_groups_holding_one(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    weight_and_fat = (Measure(1, 7000, -2), Measure(6, 2000, -2), Measure(8, 1400, -2))
    blood_pressure = (Measure(9, 80, 0), Measure(10, 120, 0), Measure(11, 60, 0))
    with store.begin() as tx:
        scale = tx.measure_groups.add(a_group(ann, measures=weight_and_fat))
        monitor = tx.measure_groups.add(a_group(ann, measures=blood_pressure))
        goal = tx.measure_groups.add(a_group(ann, category=Category.OBJECTIVE, measures=(Measure(1, 6500, -2),)))

    def found(wanted: MeasureFilter, *, include_deleted: bool = False) -> list[tuple[int, tuple[Measure, ...]]]:
        with store.begin() as tx:
            groups = tx.measure_groups.find(ann, Window(), wanted, Page(), include_deleted=include_deleted)
        return [(g.grpid, g.measures) for g in groups]

    assert found(MeasureFilter(frozenset({1}))) == [
        (scale, (Measure(1, 7000, -2),)),
        (goal, (Measure(1, 6500, -2),)),
    ]
    assert found(MeasureFilter(frozenset({8, 11}))) == [
        (scale, (Measure(8, 1400, -2),)),
        (monitor, (Measure(11, 60, 0),)),
    ]
    assert found(MeasureFilter(frozenset({1}), Category.REAL)) == [(scale, (Measure(1, 7000, -2),))]
    assert found(MeasureFilter(category=Category.OBJECTIVE)) == [(goal, (Measure(1, 6500, -2),))]
    assert found(MeasureFilter(frozenset({4}))) == []
    with store.begin() as tx:
        tx.measure_groups.delete(ann, monitor, LATER)
    # a lastupdate reader learns of deletions whatever types it asks for
    assert found(MeasureFilter(frozenset({1})), include_deleted=True) == [
        (scale, (Measure(1, 7000, -2),)),
        (monitor, ()),
        (goal, (Measure(1, 6500, -2),)),
    ]


def test_pages_follow_ids_and_hold_when_data_arrives(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    with store.begin() as tx:
        ids = [tx.measure_groups.add(a_group(ann, NOW - timedelta(minutes=n))) for n in range(5)]

    def page(after: int, limit: int) -> list[MeasureGroup]:
        with store.begin() as tx:
            return tx.measure_groups.find(ann, Window(end=NOW), EVERY, Page(after, limit))

    first = page(0, 2)
    assert [g.grpid for g in first] == ids[:2]
    assert all(len(g.measures) == 3 for g in first)  # the limit counts groups, not measures
    with store.begin() as tx:  # a new group dated before the ones listed arrives meanwhile
        newest = tx.measure_groups.add(a_group(ann, NOW - timedelta(days=1)))
    assert [g.grpid for g in page(first[-1].grpid, 2)] == ids[2:4]
    assert [g.grpid for g in page(ids[3], 2)] == [ids[4], newest]
    assert page(newest, 2) == []


def test_two_groups_of_the_same_moment_both_come_back(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    with store.begin() as tx:
        one = tx.measure_groups.add(a_group(ann, measures=(Measure(1, 7000, -2),)))
        two = tx.measure_groups.add(a_group(ann, measures=(Measure(6, 2000, -2),)))
        found = tx.measure_groups.find(ann, Window(start=NOW, end=NOW), EVERY, Page())
    assert [(g.grpid, g.measures) for g in found] == [(one, (Measure(1, 7000, -2),)), (two, (Measure(6, 2000, -2),))]


def test_other_accounts_groups_are_never_returned(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        bobs = tx.measure_groups.add(a_group(bob))
        tx.measure_groups.delete(bob, tx.measure_groups.add(a_group(bob)), LATER)
    with store.begin() as tx:
        assert tx.measure_groups.get(ann, bobs) is None
        assert tx.measure_groups.find(ann, Window(), EVERY, Page(), include_deleted=True) == []
        assert tx.measure_groups.find(ann, Window(), MeasureFilter(frozenset({1})), Page()) == []
        assert not tx.measure_groups.delete(ann, bobs, LATER)
        assert tx.measure_groups.get(bob, bobs) is not None


def test_many_groups_at_once_get_their_grpids_in_order(store: SqlUnitOfWork) -> None:
    """An ingested batch's groups: one call, each group's grpid in the order given, every
    group read back with its own measures (PostgreSQL: one pipelined statement for all)."""
    ann = an_account(store).id
    groups = [
        a_group(ann, NOW - timedelta(hours=n), measures=(Measure(1, 70_000 + n, -3), Measure(6, 2000 + n, -2)))
        for n in range(7)
    ]
    groups.insert(3, a_group(ann, NOW, measures=(Measure(11, 60, 0),), comment="only a pulse"))
    with store.begin() as tx:
        assert tx.measure_groups.add_many([]) == []
        grpids = tx.measure_groups.add_many(groups)
    assert grpids == sorted(grpids) and len(set(grpids)) == len(groups)
    with store.read() as tx:
        for grpid, group in zip(grpids, groups, strict=True):
            assert tx.measure_groups.get(ann, grpid) == replace(group, grpid=grpid)


def test_values_are_the_wanted_measures_of_live_groups_in_the_span_oldest_first(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    hour = timedelta(hours=1)
    with store.begin() as tx:
        late = tx.measure_groups.add(a_group(ann, NOW + hour, measures=(Measure(10, 121, 0), Measure(9, 79, 0))))
        early = tx.measure_groups.add(a_group(ann, NOW, timezone="Asia/Tokyo"))  # added later, dated earlier
        gone = tx.measure_groups.add(a_group(ann, NOW))
        tx.measure_groups.delete(ann, gone, LATER)
        tx.measure_groups.add(a_group(ann, NOW, category=Category.OBJECTIVE))
        tx.measure_groups.add(a_group(ann, NOW - hour))  # before the span
        tx.measure_groups.add(a_group(bob, NOW))
    with store.begin() as tx:
        found = tx.measure_groups.values(ann, NOW, NOW + hour, frozenset({1, 9, 10}), Category.REAL)
        assert tx.measure_groups.values(ann, NOW, NOW + hour, frozenset(), Category.REAL) == []
    assert found == [
        MeasureValue(early, NOW, "Asia/Tokyo", 1, Decimal("72.345")),
        MeasureValue(late, NOW + hour, "America/New_York", 10, Decimal(121)),  # in the group's order
        MeasureValue(late, NOW + hour, "America/New_York", 9, Decimal(79)),
    ]


def test_latest_values_are_each_types_latest_in_the_span(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    hour = timedelta(hours=1)
    with store.begin() as tx:
        tx.measure_groups.add(a_group(ann, NOW, measures=(Measure(8, 15_000, -3), Measure(88, 3_100, -3))))
        tx.measure_groups.add(a_group(ann, NOW + hour, measures=(Measure(8, 14_900, -3),), timezone="Europe/Paris"))
        newest = tx.measure_groups.add(a_group(ann, NOW + 3 * hour, measures=(Measure(8, 14_000, -3),)))
        tx.measure_groups.delete(ann, newest, LATER)
        tx.measure_groups.add(a_group(ann, NOW + 5 * hour, measures=(Measure(8, 1, 0),)))  # after the span
    with store.begin() as tx:
        found = tx.measure_groups.latest_values(ann, NOW, NOW + 4 * hour, frozenset({88, 8, 76}), Category.REAL)
        assert tx.measure_groups.latest_timezone(ann) == "America/New_York"  # the latest live group's
        assert tx.measure_groups.latest_timezone(bob) is None
    assert [(v.type, v.value, v.timezone, v.at) for v in found] == [
        (8, Decimal("14.900"), "Europe/Paris", NOW + hour),
        (88, Decimal("3.100"), "America/New_York", NOW),
    ]
