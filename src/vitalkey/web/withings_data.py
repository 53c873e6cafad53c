"""The Withings data API (withings-api.md): ``/measure`` getmeas; ``/v2/measure`` getactivity,
getintradayactivity, getworkouts; ``/v2/sleep`` get, getsummary; ``/v2/user`` getdevice, getgoals;
``/v2/heart`` list, get — for OAuth access tokens, in the Withings envelope.

Parameters come from the query, a form body or both (merged, the form's win). The token comes in
``Authorization: Bearer``, or as ``access_token`` in the query or the form; it is checked by the
one protector (``oauth.resource.BearerProtector``) for the action's scope, in the same read
transaction as the action's data (:func:`serve`). Every answer is HTTP 200 JSON with a Withings
status: 0 ok, 401 no live token, 214 a token without the action's scope, 503
invalid params (the message names the parameter), 2554 unknown action, 601 past the app's
requests per minute (``body.wait_seconds``). Messages are English: Withings clients read them so.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vitalkey.domain.errors import DomainError
from vitalkey.domain.health import (
    ACTIVITY_FIELDS,
    MEASURE_TYPES,
    SLEEP_SERIES,
    ActivityDay,
    Category,
    Device,
    DeviceType,
    HeartRecording,
    MeasureFilter,
    MeasureGroup,
    SleepSession,
    Window,
    Workout,
)
from vitalkey.flows.health_reads import TooManyRequests
from vitalkey.oauth.resource import Bearer, BearerRefused
from vitalkey.oauth.withings import AUTHENTICATION_FAILED, INVALID_PARAMS, NOT_IMPLEMENTED, OK, envelope
from vitalkey.ports import Pending
from vitalkey.web.bearer import NO_STORE
from vitalkey.web.context import form_pairs, services

if TYPE_CHECKING:
    from vitalkey.container import Container

UNAUTHORIZED = 214  # Withings' "unauthorized" family (also 277): a token without the action's scope
TOO_MANY_REQUESTS = 601

SCOPE_METRICS, SCOPE_ACTIVITY, SCOPE_INFO = "user.metrics", "user.activity", "user.info"

SLEEP_MONITOR_MODEL, TRACKER_MODEL = 32, 16  # the sleep body's ``model`` (withings-api.md)

MAX_FIELDS, MAX_FIELDS_TEXT = 64, 1_000  # data_fields; meastypes
_UNIX = re.compile(r"[0-9]{1,11}")  # Unix seconds, up to the year 5138; no sign
_OFFSET = re.compile(r"[0-9]{1,18}")
_YMD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FIELD = re.compile(r"[a-z0-9_]{1,40}")
_MEASTYPE = re.compile(r"[0-9]{1,4}")

Params = Mapping[str, str]


class BadParam(Exception):
    """An invalid parameter: 503 naming it."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name}: {why}")
        self.text = f"Invalid Params: {name}: {why}"


# Parameters ------------------------------------------------------------------------------------
def unix_time(params: Params, name: str) -> datetime | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    if not _UNIX.fullmatch(text):
        raise BadParam(name, "a Unix time in seconds is expected")
    return datetime.fromtimestamp(int(text), UTC)


def ymd(params: Params, name: str) -> date | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        if not _YMD.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise BadParam(name, "a date YYYY-MM-DD is expected") from None


def offset_of(params: Params) -> int:
    text = params.get("offset") or "0"
    if not _OFFSET.fullmatch(text):
        raise BadParam("offset", "a whole number of at least 0 is expected")
    return int(text)


def meastypes_of(params: Params) -> frozenset[int]:
    types: set[int] = set()
    for name in ("meastype", "meastypes"):
        text = params.get(name)
        if not text:
            continue
        codes = text.split(",")
        if len(text) > MAX_FIELDS_TEXT or len(codes) > MAX_FIELDS:
            raise BadParam(name, f"at most {MAX_FIELDS} measure types")
        for code in codes:
            if not (_MEASTYPE.fullmatch(code.strip()) and int(code) in MEASURE_TYPES):
                raise BadParam(name, f"{code[:20]!r} is not a known measure type")
            types.add(int(code))
    return frozenset(types)


def category_of(params: Params) -> Category | None:
    text = params.get("category")
    if not text:
        return None
    if text not in ("1", "2"):
        raise BadParam("category", "1 (real) or 2 (objectives) is expected")
    return Category(int(text))


def fields_of(params: Params) -> frozenset[str] | None:
    """The ``data_fields`` asked for (None: every one). Names this server does not know are
    ignored, as Withings does; a list too long to be a list of fields is refused."""
    text = params.get("data_fields")
    if text is None or text == "":
        return None
    names = text.split(",")
    if len(text) > MAX_FIELDS_TEXT or len(names) > MAX_FIELDS:
        raise BadParam("data_fields", f"at most {MAX_FIELDS} fields")
    for name in names:
        if not _FIELD.fullmatch(name.strip()):
            raise BadParam("data_fields", f"{name[:40]!r} is not a field name")
    return frozenset(name.strip() for name in names)


def signalid_of(params: Params) -> int:
    text = params.get("signalid", "")
    if not _OFFSET.fullmatch(text) or int(text) == 0:
        raise BadParam("signalid", "the id of a recording is expected")
    return int(text)


def epoch(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


# Records as the clients read them ------------------------------------------------------------
def _device_fields(deviceid: str | None, devices: Mapping[str, Device]) -> Device | None:
    return devices.get(deviceid) if deviceid else None


def measure_group(group: MeasureGroup, devices: Mapping[str, Device]) -> dict[str, Any]:
    device = _device_fields(group.deviceid, devices)
    return {
        "grpid": group.grpid,
        "attrib": int(group.attrib),
        "date": epoch(group.date),
        "created": epoch(group.created),
        "modified": epoch(group.modified),
        "category": int(group.category),
        "deviceid": group.deviceid,
        "hash_deviceid": device.hash_deviceid if device else None,
        "model": device.model if device else None,
        "modelid": device.model_id if device else None,
        "comment": group.comment,
        "timezone": group.timezone,
        "measures": [{"value": m.value, "type": m.type, "unit": m.unit} for m in group.measures],
    }


def activity_day(day: ActivityDay, devices: Mapping[str, Device], wanted: frozenset[str] | None) -> dict[str, Any]:
    device = _device_fields(day.deviceid, devices)
    # Always answered, 0 when the day has none: aiowithings reads each of them, withings-api requires totalcalories.
    fields = [name for name in ACTIVITY_FIELDS if wanted is None or name in wanted or name == "totalcalories"]
    return {
        "date": day.date.isoformat(),
        "timezone": day.timezone,
        "deviceid": day.deviceid,
        "hash_deviceid": device.hash_deviceid if device else None,
        "brand": int(day.brand),
        "is_tracker": day.is_tracker,
        "modified": epoch(day.modified),
        "model": device.model if device else None,
        "modelid": device.model_id if device else None,
        **{name: day.data.get(name, 0) for name in fields},
    }


def workout(item: Workout, devices: Mapping[str, Device], wanted: frozenset[str] | None) -> dict[str, Any]:
    device = _device_fields(item.deviceid, devices)
    return {
        "id": item.id,
        "category": item.category,
        "timezone": item.timezone,
        "model": device.model_id if device else 0,
        "attrib": int(item.attrib),
        "startdate": epoch(item.startdate),
        "enddate": epoch(item.enddate),
        "date": item.date.isoformat(),
        "modified": epoch(item.modified),
        "deviceid": item.deviceid,
        "hash_deviceid": device.hash_deviceid if device else None,
        "data": _chosen(item.data, wanted),
    }


def sleep_model(device: Device | None) -> int:
    return SLEEP_MONITOR_MODEL if device and device.type is DeviceType.SLEEP_MONITOR else TRACKER_MODEL


def sleep_summary(
    session: SleepSession, devices: Mapping[str, Device], wanted: frozenset[str] | None
) -> dict[str, Any]:
    device = _device_fields(session.deviceid, devices)
    return {
        "id": session.id,
        "timezone": session.timezone,
        "model": sleep_model(device),
        "model_id": device.model_id if device else None,
        "hash_deviceid": device.hash_deviceid if device else None,
        "startdate": epoch(session.startdate),
        "enddate": epoch(session.enddate),
        "date": session.date.isoformat(),
        "created": epoch(session.created),
        "modified": epoch(session.modified),
        "completed": session.completed,
        "data": _chosen(session.summary, wanted),
    }


def sleep_states(
    session: SleepSession, devices: Mapping[str, Device], wanted: frozenset[str], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """The session's states that overlap ``start``..``end``, each with the samples of the
    series asked for that fall in it (a sample before the first state goes with the first, one
    between states with the one before: every stored sample is answered once)."""
    device = _device_fields(session.deviceid, devices)
    states = sorted(session.states, key=lambda state: state.startdate)
    starts = [epoch(state.startdate) or 0 for state in states]
    samples: list[dict[str, dict[str, int]]] = [{} for _ in states]
    for name in SLEEP_SERIES:
        if name not in wanted or name not in session.series:
            continue
        for second, value in sorted(session.series[name].items()):
            index = max(0, bisect_right(starts, second) - 1)
            if states:
                samples[index].setdefault(name, {})[str(second)] = value
    return [
        {
            "startdate": epoch(state.startdate),
            "enddate": epoch(state.enddate),
            "state": int(state.state),
            "model": device.model if device else None,
            "model_id": device.model_id if device else None,
            "hash_deviceid": device.hash_deviceid if device else None,
            **{name: series for name, series in samples[index].items()},
        }
        for index, state in enumerate(states)
        if state.enddate >= start and state.startdate <= end
    ]


def heart_item(recording: HeartRecording, devices: Mapping[str, Device]) -> dict[str, Any]:
    device = _device_fields(recording.deviceid, devices)
    item: dict[str, Any] = {
        "deviceid": recording.deviceid,
        "model": device.model_id if device else 0,
        "ecg": {"signalid": recording.signalid, "afib": int(recording.afib)},
        "heart_rate": recording.heart_rate,
        "timestamp": epoch(recording.at),
        "timezone": recording.timezone,
        "modified": epoch(recording.modified),
    }
    if recording.bloodpressure is not None:
        item["bloodpressure"] = {
            "diastole": recording.bloodpressure.diastole,
            "systole": recording.bloodpressure.systole,
        }
    return item


def device_item(device: Device) -> dict[str, Any]:
    return {
        "type": str(device.type),
        "model": device.model,
        "model_id": device.model_id,
        "battery": str(device.battery),
        "deviceid": device.deviceid,
        "hash_deviceid": device.hash_deviceid,
        "timezone": device.timezone,
        "first_session_date": epoch(device.first_session),
        "last_session_date": epoch(device.last_session),
    }


def _chosen(data: Mapping[str, Any], wanted: frozenset[str] | None) -> dict[str, Any]:
    return {name: value for name, value in data.items() if wanted is None or name in wanted}


def _timezone(zones: Iterable[str], devices: Mapping[str, Device]) -> str:
    """The body's ``timezone``: the first record's, else the first device's, else UTC."""
    for zone in zones:
        return zone
    return next((device.timezone for device in devices.values()), "UTC")


# Actions -------------------------------------------------------------------------------------
# An action reads and shapes its answer's body; it runs inside the request's one read transaction.
ActionHandler = Callable[["Container", Bearer, Params], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Action:
    scope: str
    handler: ActionHandler


def getmeas(services: Container, bearer: Bearer, params: Params) -> dict[str, Any]:
    window = Window(
        start=unix_time(params, "startdate"),
        end=unix_time(params, "enddate"),
        updated_since=unix_time(params, "lastupdate"),
    )
    wanted = MeasureFilter(types=meastypes_of(params), category=category_of(params))
    reads = services.health_reads
    listing = reads.measures(bearer.account.id, window, wanted, offset_of(params))
    return {
        "updatetime": epoch(services.clock.now()),
        "timezone": _timezone((group.timezone for group in listing.items), listing.devices),
        "more": int(listing.more),
        "offset": listing.offset,
        "measuregrps": [measure_group(group, listing.devices) for group in listing.items],
    }


def day_window(params: Params) -> Window:
    return Window(
        first_day=ymd(params, "startdateymd"),
        last_day=ymd(params, "enddateymd"),
        updated_since=unix_time(params, "lastupdate"),
    )


def getactivity(services: Container, bearer: Bearer, params: Params) -> dict[str, Any]:
    window, wanted, offset = day_window(params), fields_of(params), offset_of(params)
    listing = services.health_reads.activity(bearer.account.id, window, offset)
    return {
        "activities": [activity_day(day, listing.devices, wanted) for day in listing.items],
        "more": listing.more,
        "offset": listing.offset,
    }


def getintradayactivity(services: Container, bearer: Bearer, params: Params) -> dict[str, Any]:
    start, end, wanted = unix_time(params, "startdate"), unix_time(params, "enddate"), fields_of(params)
    found = services.health_reads.intraday(bearer.account.id, start, end)
    series: dict[str, dict[str, Any]] = {}
    for sample in found.samples:
        device = found.devices.get(sample.deviceid)
        series[str(epoch(sample.at))] = {
            "deviceid": sample.deviceid,
            "model": device.model if device else None,
            "model_id": device.model_id if device else None,
            **_chosen(sample.data, wanted),
        }
    return {"series": series}


def getworkouts(services: Container, bearer: Bearer, params: Params) -> dict[str, Any]:
    window, wanted, offset = day_window(params), fields_of(params), offset_of(params)
    listing = services.health_reads.workouts(bearer.account.id, window, offset)
    return {
        "series": [workout(item, listing.devices, wanted) for item in listing.items],
        "more": listing.more,
        "offset": listing.offset,
    }


def sleep_get(services: Container, bearer: Bearer, params: Params) -> dict[str, Any]:
    start, end = unix_time(params, "startdate"), unix_time(params, "enddate")
    if start is None or end is None:
        raise BadParam("startdate" if start is None else "enddate", "startdate and enddate are required")
    wanted = fields_of(params) or frozenset()
    found = services.health_reads.sleep_states(bearer.account.id, start, end)
    series = [state for s in found.sessions for state in sleep_states(s, found.devices, wanted, start, end)]
    devices = [found.devices.get(s.deviceid) if s.deviceid else None for s in found.sessions]
    return {"series": series, "model": max((sleep_model(device) for device in devices), default=TRACKER_MODEL)}


def sleep_getsummary(services: Container, bearer: Bearer, params: Params) -> dict[str, Any]:
    window, wanted, offset = day_window(params), fields_of(params), offset_of(params)
    reads = services.health_reads
    listing = reads.sleep_summaries(bearer.account.id, window, offset)
    return {
        "series": [sleep_summary(session, listing.devices, wanted) for session in listing.items],
        "more": listing.more,
        "offset": listing.offset,
    }


def getdevice(services: Container, bearer: Bearer, params: Params) -> dict[str, Any]:
    devices = services.health_reads.devices(bearer.account.id)
    return {"devices": [device_item(device) for device in devices]}


def getgoals(services: Container, bearer: Bearer, params: Params) -> dict[str, Any]:
    goals = services.health_reads.goals(bearer.account.id)
    answer: dict[str, Any] = {"steps": goals.steps, "sleep": goals.sleep}
    if goals.weight is not None:
        answer["weight"] = {"value": goals.weight.value, "unit": goals.weight.unit}
    return {"goals": answer}


def heart_list(services: Container, bearer: Bearer, params: Params) -> dict[str, Any]:
    window = Window(start=unix_time(params, "startdate"), end=unix_time(params, "enddate"))
    offset = offset_of(params)
    reads = services.health_reads
    listing = reads.heart_list(bearer.account.id, window, offset)
    return {
        "series": [heart_item(recording, listing.devices) for recording in listing.items],
        "more": listing.more,
        "offset": listing.offset,
    }


def heart_get(services: Container, bearer: Bearer, params: Params) -> dict[str, Any]:
    signalid = signalid_of(params)
    found = services.health_reads.heart_signal(bearer.account.id, signalid)
    if found is None:
        raise BadParam("signalid", "no recording of this user has this id")
    return {
        "signal": list(found.signal),
        "sampling_frequency": found.sampling_frequency,
        "wearposition": found.wearposition,
    }


ACTIONS: Mapping[str, Mapping[str, Action]] = {
    "/measure": {"getmeas": Action(SCOPE_METRICS, getmeas)},
    "/v2/measure": {
        "getactivity": Action(SCOPE_ACTIVITY, getactivity),
        "getintradayactivity": Action(SCOPE_ACTIVITY, getintradayactivity),
        "getworkouts": Action(SCOPE_ACTIVITY, getworkouts),
    },
    "/v2/sleep": {"get": Action(SCOPE_ACTIVITY, sleep_get), "getsummary": Action(SCOPE_ACTIVITY, sleep_getsummary)},
    "/v2/user": {"getdevice": Action(SCOPE_INFO, getdevice), "getgoals": Action(SCOPE_INFO, getgoals)},
    "/v2/heart": {"list": Action(SCOPE_METRICS, heart_list), "get": Action(SCOPE_METRICS, heart_get)},
}


# The endpoint --------------------------------------------------------------------------------
_encoder = msgspec.json.Encoder()


def answer(status: int, body: dict[str, Any] | None = None, error: str = "") -> Response:
    return Response(
        _encoder.encode(envelope(status, body, error)), 200, headers=NO_STORE, media_type="application/json"
    )


async def parameters(request: Request) -> dict[str, str]:
    """The query's fields, then the form's (which win); the first of repeated ones."""
    merged: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        merged.setdefault(name, value)
    if request.method == "POST":
        body = await request.body()
        if body:
            try:
                pairs = form_pairs(body)
            except ValueError:
                raise BadParam("body", "a form (application/x-www-form-urlencoded, UTF-8) is expected") from None
            form: dict[str, str] = {}
            for name, value in pairs:
                form.setdefault(name, value)
            merged.update(form)
    return merged


def refusal(refused: BearerRefused) -> Response:
    if refused.error == "insufficient_scope":
        return answer(UNAUTHORIZED, error=f"Unauthorized: the access token does not carry the {refused.scope} scope")
    if refused.error == "invalid_request":
        return answer(AUTHENTICATION_FAILED, error="Authentication failed: an access token is required")
    return answer(AUTHENTICATION_FAILED, error="Authentication failed: invalid_token: the access token is not valid")


@dataclass(frozen=True, slots=True)
class Call:
    """One request of the data API, as its one unit of work sees it."""

    method: str
    path: str
    authorization: str  # the Authorization header's value, or "Bearer <access_token parameter>"
    action: Action
    params: Params


def serve(services: Container, call: Call) -> Response | Pending[Response]:
    """The token's check, the app's limit and the action's read in one read transaction
    (``UnitOfWork.run_optimistic``), without a write when the token was used before and this
    process holds a share of the app's limit (:mod:`vitalkey.flows.app_quota`); otherwise the
    first use is recorded and the limit counted first, in a write transaction that serves the
    request too. Refusals in the order a Withings client expects: the token (401), its scope
    (214), the limit (601), then the parameters (503)."""
    protector = services.oauth.protector
    try:
        bearer = protector.check(call.method, call.path, call.authorization, call.action.scope, record_use=False)
    except BearerRefused as refused:
        return Pending(lambda: serve_writing(services, call)) if refused.first_use else refusal(refused)
    if bearer.first_use or not services.health_reads.admit_reserved(bearer.token.client_id):
        return Pending(lambda: serve_writing(services, call))
    return perform(services, call, bearer)


def serve_writing(services: Container, call: Call) -> Response:
    try:
        bearer = services.oauth.protector.bearer(call.method, call.path, call.authorization, call.action.scope)
        services.health_reads.admit(bearer.token.client_id)
    except BearerRefused as refused:
        return refusal(refused)
    except TooManyRequests as limited:
        return answer(
            TOO_MANY_REQUESTS,
            {"wait_seconds": limited.seconds},
            f"Too many requests: at most {services.health_reads.requests_per_minute} a minute per app",
        )
    return perform(services, call, bearer)


def perform(services: Container, call: Call, bearer: Bearer) -> Response:
    try:
        body = call.action.handler(services, bearer, call.params)
    except BadParam as bad:
        return answer(INVALID_PARAMS, error=bad.text)
    except DomainError as refused:
        text = refused.message_id % refused.params if refused.params else refused.message_id
        return answer(INVALID_PARAMS, error=f"Invalid Params: {refused.field_name or 'request'}: {text}")
    return answer(OK, body)


A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class Asked(Generic[A]):
    """What a Withings request asks for: its parameters, its action, and its token's header."""

    params: Params
    action: A
    authorization: str  # the Authorization header's value, or "Bearer <access_token parameter>"


async def asked(request: Request, actions: Mapping[str, A]) -> Asked[A] | Response:
    """The request's parameters, action and token, or the envelope refusing them (503 for a body
    that is no form, 2554 for an unknown action); the token itself is checked afterwards."""
    try:
        params = await parameters(request)
    except BadParam as bad:
        return answer(INVALID_PARAMS, error=bad.text)
    name = params.get("action", "")
    action = actions.get(name)
    if action is None:
        return answer(NOT_IMPLEMENTED, error=f"Not implemented: action {name[:40]!r}")
    authorization = request.headers.get("authorization", "")
    if not authorization and params.get("access_token"):
        authorization = "Bearer " + params["access_token"]
    return Asked(params, action, authorization)


async def data_endpoint(request: Request) -> Response:
    path: str = request.scope["path"]  # the route's own path (request.url would build the whole URL)
    found = await asked(request, ACTIONS[path])
    if isinstance(found, Response):
        return found
    container = services(request)
    call = Call(request.method, path, found.authorization, found.action, found.params)
    return await container.uow.run_optimistic(serve, container, call)


def routes() -> list[BaseRoute]:
    """This module's routes: one endpoint per Withings path, its actions in ``ACTIONS``."""
    return [Route(path, data_endpoint, methods=["GET", "POST"]) for path in ACTIONS]


__all__ = ["ACTIONS", "routes"]
