"""Data notifications to partner apps (the Withings ``/notify`` API and its callbacks).

A partner app subscribes a callback URL, per user (with the user's access token) and per
``appli`` — the kind of data it wants to hear about. When data of that kind is stored, edited or
deleted for the user, the server POSTs a small form to the URL (``userid``, ``appli`` and the
period that changed); the partner then reads the data through the data API. Deliveries are
queued in the transaction that stores the data, coalesced over a short window, signed, retried
on Withings' schedule, and never sent to an address inside the server's own network.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from urllib.parse import urlsplit

from vitalkey.domain.errors import InvalidInput
from vitalkey.domain.i18n import N_


class Appli(IntEnum):
    """What a subscription is about (Withings' ``appli`` codes)."""

    WEIGHT = 1  # weight and body composition
    TEMPERATURE = 2
    BLOOD_PRESSURE = 4  # blood pressure, heart rate, SpO2
    ACTIVITY = 16  # activity and workouts (payload: ``date``)
    SLEEP = 44
    USER = 46  # the user's profile: unlink, delete, update (payload: ``action``)
    IN_BED = 50
    OUT_OF_BED = 51
    INFLATION_DONE = 52
    NO_ACCOUNT = 53
    ECG = 54
    ECG_FAILED = 55
    GLUCOSE = 58


# The scope a token needs to subscribe to an appli: the scope that reads its data.
APPLI_SCOPES: Mapping[Appli, str] = {
    Appli.WEIGHT: "user.metrics",
    Appli.TEMPERATURE: "user.metrics",
    Appli.BLOOD_PRESSURE: "user.metrics",
    Appli.ACTIVITY: "user.activity",
    Appli.SLEEP: "user.activity",
    Appli.USER: "user.info",
    Appli.IN_BED: "user.activity",
    Appli.OUT_OF_BED: "user.activity",
    Appli.INFLATION_DONE: "user.metrics",
    Appli.NO_ACCOUNT: "user.info",
    Appli.ECG: "user.metrics",
    Appli.ECG_FAILED: "user.metrics",
    Appli.GLUCOSE: "user.metrics",
}

PERMANENT = 2_147_483_647  # ``expires`` of a subscription in ``list``: it does not expire


class Change(StrEnum):
    """What happened to the data a delivery announces (beyond Withings: partners ask for it)."""

    NEW = "new"
    EDIT = "edit"
    DELETE = "delete"


class UserAction(StrEnum):
    """Appli 46's ``action``."""

    UNLINK = "unlink"
    DELETE = "delete"
    UPDATE = "update"


# Retries after a failed cycle, Withings' schedule (each with up to a tenth of jitter); after the
# last one fails the subscription is marked failing, kept and listed as such.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(hours=1),
    timedelta(hours=4),
)
TRIES_PER_CYCLE = 2
ANSWER_WITHIN = timedelta(seconds=2)  # a callback (and the HEAD at subscribe) answers below 400 in time
COALESCE_WINDOW = timedelta(seconds=10)  # the default of the setting notify_coalesce_s
MAX_CALLBACK_URL = 255
MAX_COMMENT = 255
SIGNATURE_HEADER = "VitalKey-Signature"
DELIVERY_HEADER = "VitalKey-Delivery"


@dataclass(frozen=True, slots=True)
class Subscription:
    """One callback URL of one app for one user and appli. ``failing_since``: when its last
    retry cycle failed (None while deliveries succeed); a successful delivery clears it."""

    id: int
    account_id: int
    client_id: str
    appli: Appli
    callbackurl: str
    comment: str
    created: datetime
    modified: datetime
    failing_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """One delivery to queue: data of ``appli`` changed for the user between ``start`` and
    ``end`` (for appli 16 the local day ``date``; for appli 46 an ``action``)."""

    account_id: int
    appli: Appli
    change: Change
    start: datetime | None = None
    end: datetime | None = None
    date: str = ""  # YYYY-MM-DD, appli 16
    action: UserAction | None = None  # appli 46
    backfill: bool = False  # part of a first import of history, not live data


# The appli a body measure is announced under (Withings: body composition 1, temperature 2, blood
# pressure / heart rate / SpO2 / vascular measures 4, ECG results 54); a group holding several
# kinds is announced under each.
_APPLI_OF_MEASTYPE: Mapping[int, Appli] = {
    **dict.fromkeys((2, 12, 71, 73), Appli.TEMPERATURE),
    **dict.fromkeys((9, 10, 11, 54, 91, 155), Appli.BLOOD_PRESSURE),
    **dict.fromkeys((130, 135, 136, 137, 138), Appli.ECG),
}


def applis_of_meastypes(types: Iterable[int]) -> list[Appli]:
    """The applis a group of these measure types is announced under, in code order; body
    composition for any type not listed above (weight, fat, muscle, height, water, ...)."""
    return sorted({_APPLI_OF_MEASTYPE.get(kind, Appli.WEIGHT) for kind in types})


def merged(notices: Iterable[Notice]) -> list[Notice]:
    """One notice per user, appli, change, day, action and backfill flag, covering the periods of
    all (a batch of 500 weigh-ins is one notice per appli, not 500), in the order first seen."""
    kept: dict[tuple[object, ...], Notice] = {}
    for notice in notices:
        key = (notice.account_id, notice.appli, notice.change, notice.date, notice.action, notice.backfill)
        earlier = kept.get(key)
        kept[key] = (
            notice
            if earlier is None
            else replace(earlier, start=_earliest(earlier.start, notice.start), end=_latest(earlier.end, notice.end))
        )
    return list(kept.values())


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    return second if first is None else first if second is None else min(first, second)


def _latest(first: datetime | None, second: datetime | None) -> datetime | None:
    return second if first is None else first if second is None else max(first, second)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A queued callback: what is POSTed and where. ``delivery_id`` is the same for every try.
    ``subscription_id`` is None for a delivery that outlives its subscription (appli 46 unlink
    and delete). ``delivered``/``failed``: when it was taken, or given up after the last cycle."""

    id: int
    delivery_id: str
    subscription_id: int | None  # None once the subscription is gone (unlink, delete)
    account_id: int
    client_id: str
    callbackurl: str
    appli: Appli
    change: Change
    start: datetime | None
    end: datetime | None
    date: str
    action: UserAction | None
    backfill: bool
    created: datetime
    due: datetime
    attempts: int = 0  # cycles tried so far (each up to TRIES_PER_CYCLE tries)
    cycle: int = 0  # retry cycles failed so far (the next wait is RETRY_SCHEDULE[cycle])
    delivered: datetime | None = None
    failed: datetime | None = None
    last_status: int | None = None  # the partner's last HTTP status, if it answered
    last_error: str = ""  # CallbackAnswer.error of the last try
    claimed_by: str = ""  # the worker holding its lease (set by claim); only it may record the outcome


def form_of(delivery: Delivery) -> list[tuple[str, str]]:
    """The callback's form fields, in Withings' names and order, then ours."""
    fields = [("userid", str(delivery.account_id)), ("appli", str(int(delivery.appli)))]
    if delivery.appli is Appli.USER and delivery.action is not None:
        fields.append(("action", str(delivery.action)))
    elif delivery.appli is Appli.ACTIVITY and delivery.date:
        fields.append(("date", delivery.date))
    if delivery.start is not None and delivery.end is not None:
        fields += [("startdate", str(int(delivery.start.timestamp()))), ("enddate", str(int(delivery.end.timestamp())))]
    fields += [("change", str(delivery.change)), ("backfill", "1" if delivery.backfill else "0")]
    return fields


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``VitalKey-Signature`` header's value: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of
    "<t>." followed by the raw body, keyed with the client secret>``. A partner recomputes it
    and compares in constant time, and refuses a timestamp far from its clock (replays)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


# Callback URLs -------------------------------------------------------------------------------
class CallbackRefused(InvalidInput):
    """Withings answers status 293 with its own message; ``why`` says which rule (logs, tests)."""

    code = "callback_refused"
    message = N_("The callback URL is either unknown or invalid.")

    field = "callbackurl"

    def __init__(self, why: str) -> None:
        super().__init__()
        self.why = why


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """What callback URLs may be: by default Withings' rules. ``allow_http`` and
    ``allow_local`` relax them for local testing (settings refused outside dev mode)."""

    allow_http: bool = False
    allow_local: bool = False


@dataclass(frozen=True, slots=True)
class CallbackTarget:
    url: str
    scheme: str
    host: str  # a name, lower case (an IP literal only under allow_local)
    port: int


def check_callback_url(url: str, policy: CallbackPolicy) -> CallbackTarget:
    """The URL's parts if it may be a callback (syntax only: where its name resolves is checked
    at every connection, :func:`address_allowed`); :class:`CallbackRefused` otherwise."""
    if not url or len(url) > MAX_CALLBACK_URL:
        raise CallbackRefused("length")
    if any(ord(char) <= 32 or ord(char) == 127 or char == "\\" for char in url):
        raise CallbackRefused("characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise CallbackRefused("syntax") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and policy.allow_http):
        raise CallbackRefused("scheme")
    host = (parts.hostname or "").rstrip(".")
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        raise CallbackRefused("syntax")
    port = port or (443 if scheme == "https" else 80)
    if not policy.allow_local:
        if port not in (80, 443):
            raise CallbackRefused("port")
        if _is_ip_literal(host) or host == "localhost" or host.endswith(".localhost") or "." not in host:
            raise CallbackRefused("host")
    return CallbackTarget(url, scheme, host, port)


def address_allowed(address: str, policy: CallbackPolicy) -> bool:
    """Whether a delivery may connect to ``address`` (the address actually connected to): a
    public unicast address, unless ``allow_local``. Loopback, private, link-local, shared,
    multicast, reserved and unspecified addresses, and IPv4 mapped or embedded in IPv6 ones
    (``::ffff:0:0/96``, 6to4, Teredo, NAT64 ``64:ff9b::/96``), are inside someone's network.
    IPv6 outside global unicast ``2000::/3`` is refused (IPv4-compatible ``::a.b.c.d``,
    site-local ``fec0::/10``, the local-use NAT64 prefix ``64:ff9b:1::/48``)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if policy.allow_local:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _public(ip.ipv4_mapped)
        if ip in _NAT64:  # a DNS64 answer: the IPv4 address it translates to decides
            return _public(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
        if ip not in _GLOBAL_UNICAST:
            return False
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not _public(embedded):
            return False
    return _public(ip)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def appli_of(code: str) -> Appli | None:
    """The appli a parameter names, or None for anything else (Withings: invalid params)."""
    if not code.isdigit() or len(code) > 3:
        return None
    try:
        return Appli(int(code))
    except ValueError:
        return None


__all__ = [
    "ANSWER_WITHIN",
    "APPLI_SCOPES",
    "COALESCE_WINDOW",
    "DELIVERY_HEADER",
    "MAX_CALLBACK_URL",
    "MAX_COMMENT",
    "PERMANENT",
    "RETRY_SCHEDULE",
    "SIGNATURE_HEADER",
    "TRIES_PER_CYCLE",
    "Appli",
    "CallbackPolicy",
    "CallbackRefused",
    "CallbackTarget",
    "Change",
    "Delivery",
    "Notice",
    "Subscription",
    "UserAction",
    "address_allowed",
    "appli_of",
    "applis_of_meastypes",
    "check_callback_url",
    "form_of",
    "merged",
    "signature",
]
