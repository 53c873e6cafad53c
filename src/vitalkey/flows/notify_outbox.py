"""What a change of a user's health data tells the partner apps: the notices of each kind of
record, and their deliveries queued in the same transaction as the change (a transactional
outbox: committed together, or not at all), one per subscription of the user to the appli.

Measure groups are announced under the applis of their measure types (body composition,
temperature, blood pressure and heart rate, ECG results), activity days and workouts under
appli 16 with their day, sleep sessions under 44, heart recordings under 54. A batch's records are
merged into one notice per appli first; the deliveries of a user and appli that are still waiting
for their first try are widened rather than repeated (``DeliveryRepository.queue``), so a burst
within the coalescing window gives one callback covering it all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from vitalkey.domain.health import ActivityDay, HeartRecording, MeasureGroup, SleepSession, Workout
from vitalkey.domain.notifications import Appli, Change, Notice, UserAction, applis_of_meastypes, merged
from vitalkey.domain.tokens import new_token
from vitalkey.ports import Transaction


def group_notices(group: MeasureGroup, change: Change, *, before: MeasureGroup | None = None) -> list[Notice]:
    """An edit announces the group's period before and after it, under the applis of both."""
    types = [measure.type for measure in group.measures]
    start, end = group.date, group.date
    if before is not None:
        types += [measure.type for measure in before.measures]
        start, end = min(start, before.date), max(end, before.date)
    return [Notice(group.account_id, appli, change, start, end) for appli in applis_of_meastypes(types or [1])]


def day_notice(day: ActivityDay, change: Change = Change.NEW) -> Notice:
    return Notice(day.account_id, Appli.ACTIVITY, change, date=day.date.isoformat())


def workout_notice(workout: Workout, change: Change = Change.NEW) -> Notice:
    return Notice(workout.account_id, Appli.ACTIVITY, change, date=workout.date.isoformat())


def sleep_notice(session: SleepSession, change: Change = Change.NEW) -> Notice:
    return Notice(session.account_id, Appli.SLEEP, change, session.startdate, session.enddate)


def heart_notice(recording: HeartRecording, change: Change = Change.NEW) -> Notice:
    return Notice(recording.account_id, Appli.ECG, change, recording.at, recording.at)


class ChangeNotifier:
    """Queues deliveries in the caller's transaction; each is first tried ``window`` after the
    change that queued it (the coalescing window)."""

    def __init__(self, window: timedelta) -> None:
        self.window = window

    def changed(self, tx: Transaction, notices: Iterable[Notice], now: datetime) -> int:
        """The deliveries queued or widened."""
        count = 0
        for notice in merged(notices):
            for subscription in tx.subscriptions.matching(notice.account_id, notice.appli):
                tx.deliveries.queue(subscription, notice, new_delivery_id(), now, now + self.window)
                count += 1
        return count


def unlinked(tx: Transaction, account_id: int, client_id: str, now: datetime) -> int:
    """The app lost its access to the user (the user removed it, or the partner revoked): its
    subscriptions for the user go, and each callback URL they named hears appli 46
    ``action=unlink`` once, at once. The URLs told."""
    return user_left(tx, account_id, client_id, now, UserAction.UNLINK)


def user_left(tx: Transaction, account_id: int, client_id: str, now: datetime, action: UserAction) -> int:
    """The app's subscriptions for the user go, and each callback URL they named hears appli 46
    with ``action`` (``unlink``, or ``delete`` when the account itself is deleted) once, at once.
    The deliveries keep the user's id without a foreign key, so they outlive the account. The
    URLs told."""
    removed = tx.subscriptions.remove(account_id, client_id)
    notice = Notice(account_id, Appli.USER, Change.DELETE, action=action)
    urls = sorted({subscription.callbackurl for subscription in removed})
    for url in urls:
        tx.deliveries.queue_to(account_id, client_id, url, notice, new_delivery_id(), now)
    return len(urls)


def new_delivery_id() -> str:
    """What a receiver sees in ``VitalKey-Delivery``: the same for every try of one delivery."""
    return new_token(16)


__all__ = [
    "ChangeNotifier",
    "day_notice",
    "group_notices",
    "heart_notice",
    "new_delivery_id",
    "sleep_notice",
    "unlinked",
    "user_left",
    "workout_notice",
]
