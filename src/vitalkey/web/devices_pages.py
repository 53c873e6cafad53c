"""The user's paired devices (type, model, battery, last sync; unpair after a confirmation) and
the measurements they enter by hand (a weight or a blood pressure: add, edit, delete after a
confirmation). Plain forms, no script; another user's device or measure is a 404.

Routes: ``/devices``, ``/devices/{deviceid}/unpair``, ``/measurements``, ``/measurements/new``
(``?kind=pressure`` for a blood pressure), ``/measurements/{grpid}/edit`` and ``…/delete``."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_skeleton, format_time
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vitalkey.domain.dashboard import DisplayUnits, units_for
from vitalkey.domain.errors import InvalidInput
from vitalkey.domain.health import Battery, DeviceType, MeasureGroup, RecordNotFound, UnknownDevice, known_timezone
from vitalkey.domain.i18n import N_
from vitalkey.domain.manual_entries import DIASTOLE, PULSE, SYSTOLE, WEIGHT, entry, kind_of, shown_weight
from vitalkey.flows.sessions import Authenticated
from vitalkey.i18n import LANGUAGES
from vitalkey.web.context import in_unit_of_work, language, services
from vitalkey.web.dashboard_pages import Formats
from vitalkey.web.pages import current_user, posted_form, see_other
from vitalkey.web.render import page

DEVICE_TYPES = {
    DeviceType.SCALE: N_("Scale"),
    DeviceType.ACTIVITY_TRACKER: N_("Activity tracker"),
    DeviceType.BLOOD_PRESSURE_MONITOR: N_("Blood pressure monitor"),
    DeviceType.SLEEP_MONITOR: N_("Sleep monitor"),
    DeviceType.THERMOMETER: N_("Thermometer"),
}
BATTERY = {
    Battery.HIGH: N_("High"),
    Battery.MEDIUM: N_("Medium"),
    Battery.LOW: N_("Low"),
    Battery.UNKNOWN: N_("Unknown"),
}
KINDS = ("weight", "pressure")


async def _signed_in(request: Request) -> Authenticated | Response:
    auth = await current_user(request)
    return see_other(request, "/login") if auth is None else auth


def _moment(lang: str, at: datetime, zone: str) -> str:
    """A moment in its zone, formatted for the language (date and short time)."""
    local = at.astimezone(ZoneInfo(zone) if known_timezone(zone) else ZoneInfo("UTC"))
    locale = Locale.parse(LANGUAGES[lang][0])
    day = format_skeleton("yMMMd", local, locale=locale)
    clock = format_time(local, "short", locale=locale)
    return str(locale.datetime_formats["medium"]).format(clock, day)  # the language's "{1}, {0}"


# Devices -----------------------------------------------------------------------------------------
async def devices_page(request: Request) -> Response:
    auth = await _signed_in(request)
    if isinstance(auth, Response):
        return auth
    lang = language(request)
    found = await in_unit_of_work(request, services(request).health_ingest.devices, auth.account.id)
    rows = [
        {
            "deviceid": d.deviceid,
            "type": DEVICE_TYPES.get(d.type, d.type.value),
            "model": d.model,
            "battery": BATTERY[d.battery],
            "battery_key": d.battery.value,
            "last_sync": _moment(lang, d.last_session, d.timezone) if d.last_session else None,
        }
        for d in sorted(found, key=lambda d: d.created)
    ]
    return page(request, "devices.html", devices=rows, unpaired=request.query_params.get("unpaired") == "1")


async def unpair_page(request: Request) -> Response:
    auth = await _signed_in(request)
    if isinstance(auth, Response):
        return auth
    container = services(request)
    deviceid = request.path_params["deviceid"]
    found = await in_unit_of_work(request, container.health_ingest.devices, auth.account.id)
    device = next((d for d in found if d.deviceid == deviceid), None)
    if device is None:
        raise HTTPException(404)
    if request.method == "POST":
        form = await posted_form(request)
        if form.get("action") == "unpair":
            try:
                await in_unit_of_work(request, container.health_ingest.unpair, auth.account.id, deviceid)
            except UnknownDevice:
                raise HTTPException(404) from None
            return see_other(request, "/devices?unpaired=1")
        return see_other(request, "/devices")
    label = DEVICE_TYPES.get(device.type, device.type.value)
    return page(request, "device_unpair.html", device=device, type_label=label)


# Manual measurements --------------------------------------------------------------------------
async def _system(request: Request, auth: Authenticated) -> DisplayUnits:
    """The units the dashboard shows (kg, lb or st/lb): the forms take weights in them."""
    prefs = await in_unit_of_work(request, services(request).dashboard.prefs, auth.account.id)
    return units_for(prefs, auth.account.profile.units if auth.account.profile else None)


def _values(group: MeasureGroup, formats: Formats) -> str:
    """A group's measures as the list shows them, in the user's units."""
    by_type = {m.type: m.real() for m in group.measures}
    if WEIGHT in by_type:
        return formats.mass(by_type[WEIGHT])
    shown = f"{formats.number(by_type.get(SYSTOLE, 0), 0)}/{formats.number(by_type.get(DIASTOLE, 0), 0)} mmHg"
    if PULSE in by_type:
        shown += f", {formats.number(by_type[PULSE], 0)} bpm"
    return shown


async def measurements_page(request: Request) -> Response:
    auth = await _signed_in(request)
    if isinstance(auth, Response):
        return auth
    lang = language(request)
    system = await _system(request, auth)
    formats = Formats(lang, system)
    groups = await in_unit_of_work(request, services(request).manual_entries.recent, auth.account.id)
    rows = [
        {
            "grpid": g.grpid,
            "kind": kind_of(g.measures),
            "when": _moment(lang, g.date, g.timezone),
            "values": _values(g, formats),
        }
        for g in groups
    ]
    done = request.query_params.get("done")
    return page(request, "measurements.html", rows=rows, done=done if done in ("added", "edited", "deleted") else None)


async def _default_timezone(request: Request, account_id: int) -> str:
    found = await in_unit_of_work(request, services(request).health_ingest.devices, account_id)
    return found[0].timezone if found else "UTC"


def _now_fields(now: datetime, zone: str) -> dict[str, str]:
    now = now.astimezone(ZoneInfo(zone))
    return {"day": now.date().isoformat(), "time": now.strftime("%H:%M"), "timezone": zone}


def _group_fields(group: MeasureGroup, system: DisplayUnits) -> dict[str, str]:
    local = group.date.astimezone(ZoneInfo(group.timezone) if known_timezone(group.timezone) else ZoneInfo("UTC"))
    fields = {"day": local.date().isoformat(), "time": local.strftime("%H:%M"), "timezone": group.timezone}
    by_type = {m.type: m.real() for m in group.measures}
    if WEIGHT in by_type:
        fields.update(shown_weight(by_type[WEIGHT], system))
    for type_, name in ((SYSTOLE, "systolic"), (DIASTOLE, "diastolic"), (PULSE, "pulse")):
        if type_ in by_type:
            fields[name] = str(int(by_type[type_]))
    return fields


def _form_page(request: Request, status: int = 200, error: InvalidInput | None = None, **values: Any) -> Response:
    return page(request, "measurement_form.html", status=status, error=error, **values)


async def new_measurement(request: Request) -> Response:
    auth = await _signed_in(request)
    if isinstance(auth, Response):
        return auth
    container = services(request)
    system = await _system(request, auth)
    if request.method == "POST":
        form = await posted_form(request)
        kind = form.get("kind", "weight")
        if kind not in KINDS:
            kind = "weight"
        try:
            made = entry(form, kind, system, container.clock.now())
            key = form.get("form_key", "") or secrets.token_urlsafe(16)
            await in_unit_of_work(request, container.manual_entries.add, auth.account.id, key, made)
        except InvalidInput as refused:
            return _form_page(request, 400, refused, kind=kind, system=system.value, fields=form, grpid=None)
        return see_other(request, "/measurements?done=added")
    kind = request.query_params.get("kind", "weight")
    if kind not in KINDS:
        raise HTTPException(404)
    fields = _now_fields(container.clock.now(), await _default_timezone(request, auth.account.id))
    fields["form_key"] = secrets.token_urlsafe(16)
    return _form_page(request, kind=kind, system=system.value, fields=fields, grpid=None)


def _grpid(request: Request) -> int:
    raw = request.path_params["grpid"]
    if not raw.isdigit() or len(raw) > 18:
        raise HTTPException(404)
    return int(raw)


async def _own_entry(request: Request, account_id: int, grpid: int) -> MeasureGroup:
    """The user's own measurement entered by hand; another user's, or a device's, is a 404."""
    try:
        return await in_unit_of_work(request, services(request).manual_entries.get, account_id, grpid)
    except RecordNotFound:
        raise HTTPException(404) from None


async def edit_measurement(request: Request) -> Response:
    auth = await _signed_in(request)
    if isinstance(auth, Response):
        return auth
    container = services(request)
    grpid = _grpid(request)
    group = await _own_entry(request, auth.account.id, grpid)
    system = await _system(request, auth)
    kind = kind_of(group.measures)
    if request.method == "POST":
        form = await posted_form(request)
        try:
            made = entry(form, kind, system, container.clock.now())
            await in_unit_of_work(request, container.manual_entries.edit, auth.account.id, grpid, made)
        except RecordNotFound:
            raise HTTPException(404) from None
        except InvalidInput as refused:
            return _form_page(request, 400, refused, kind=kind, system=system.value, fields=form, grpid=grpid)
        return see_other(request, "/measurements?done=edited")
    return _form_page(request, kind=kind, system=system.value, fields=_group_fields(group, system), grpid=grpid)


async def delete_measurement(request: Request) -> Response:
    auth = await _signed_in(request)
    if isinstance(auth, Response):
        return auth
    container = services(request)
    grpid = _grpid(request)
    group = await _own_entry(request, auth.account.id, grpid)
    if request.method == "POST":
        form = await posted_form(request)
        if form.get("action") != "delete":
            return see_other(request, "/measurements")
        try:
            await in_unit_of_work(request, container.manual_entries.delete, auth.account.id, grpid)
        except RecordNotFound:
            raise HTTPException(404) from None
        return see_other(request, "/measurements?done=deleted")
    lang = language(request)
    system = await _system(request, auth)
    shown = {
        "when": _moment(lang, group.date, group.timezone),
        "values": _values(group, Formats(lang, system)),
        "kind": kind_of(group.measures),
    }
    return page(request, "measurement_delete.html", grpid=grpid, shown=shown)


def routes() -> list[BaseRoute]:
    return [
        Route("/devices", devices_page, methods=["GET"]),
        Route("/devices/{deviceid}/unpair", unpair_page, methods=["GET", "POST"]),
        Route("/measurements", measurements_page, methods=["GET"]),
        Route("/measurements/new", new_measurement, methods=["GET", "POST"]),
        Route("/measurements/{grpid}/edit", edit_measurement, methods=["GET", "POST"]),
        Route("/measurements/{grpid}/delete", delete_measurement, methods=["GET", "POST"]),
    ]
