"""The provider's notification callbacks: check the delivery (its signature when the provider
signs), record the work as a sync job, and answer at once; the worker syncs after the answer
(the provider waits 2 s at most)."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs

from sqlalchemy.exc import IntegrityError

from vitalkey_portal.db.store import Store
from vitalkey_portal.providers import Provider

log = logging.getLogger("vitalkey_portal.notifications")

SIGNATURE_HEADER = "vitalkey-signature"
DELIVERY_HEADER = "vitalkey-delivery"
TOLERANCE_S = 300  # a signature older (or newer) than this is a replay
USER_APPLI = 46
UNLINKING = frozenset({"unlink", "delete"})
MAX_BODY = 4096

DONE, MALFORMED, UNSIGNED, UNKNOWN = 204, 400, 401, 404


def signature_ok(secret: str, header: str, body: bytes, now: float) -> bool:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "<t>." + body>`` keyed with the client secret, within
    the tolerance; compared in constant time."""
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1":
            macs.append(value.strip().lower())
    if timestamp is None or not macs or abs(now - timestamp) > TOLERANCE_S:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, mac) for mac in macs)


@dataclass
class NotificationService:
    store: Store
    providers: Mapping[str, Provider]
    now: Callable[[], datetime]
    wake: Callable[[], None]

    def accept(self, provider: str, body: bytes, headers: Mapping[str, str]) -> int:
        chosen = self.providers.get(provider)
        if chosen is None:
            return UNKNOWN
        lowered = {name.lower(): value for name, value in headers.items()}
        now = self.now()
        if chosen.signs_notifications and not signature_ok(
            chosen.client_secret, lowered.get(SIGNATURE_HEADER, ""), body, now.timestamp()
        ):
            log.warning("a notification with a missing or wrong signature was refused", extra={"provider": provider})
            return UNSIGNED
        form = _form(body)
        if form is None:
            return MALFORMED
        userid, appli = form.get("userid", ""), form.get("appli", "")
        if not userid.isdigit() or len(userid) > 18 or not appli.isdigit() or len(appli) > 4:
            return MALFORMED
        start, end = _epoch(form.get("startdate")), _epoch(form.get("enddate"))
        day = form.get("date") if _is_day(form.get("date")) else None
        if int(appli) == USER_APPLI and form.get("action") not in UNLINKING:
            return DONE  # a profile update: nothing to sync
        delivery = lowered.get(DELIVERY_HEADER, "").strip()[:100] or None
        try:
            queued = self.store.notified(provider, delivery, userid, int(appli), (start, end, day), now)
        except IntegrityError:
            queued = None  # the same delivery, twice at once
        if queued:
            self.wake()
        return DONE  # also for an account nobody links here: nothing to do, and nothing revealed


def _form(body: bytes) -> dict[str, str] | None:
    if len(body) > MAX_BODY:
        return None
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body), max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in parsed.items()}


def _epoch(value: str | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 12:
        return None
    return int(value)


def _is_day(value: str | None) -> bool:
    if value is None or len(value) != 10:
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True
