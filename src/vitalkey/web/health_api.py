"""The JSON API of the companion app's health data (a signed-in user's bearer session): devices,
batches (idempotent, all or nothing), measure group edits and deletions, goals."""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from vitalkey.domain.health import Device, Goals, MeasureGroup, RecordNotFound
from vitalkey.flows.health_ingest import Batch, GroupEdit, NewMeasure
from vitalkey.web import schemas
from vitalkey.web.api import ApiEndpoint, api_endpoint, json_response
from vitalkey.web.context import in_unit_of_work, services
from vitalkey.web.openapi import HeaderParameter

BATCHES_PATH = "/api/v1/health/batches"
TAG = "health"
IDEMPOTENCY_KEY = HeaderParameter(
    "Idempotency-Key",
    "Chosen by the app, the same for every retry of one batch (1 to 255 printable ASCII characters): the same key "
    "and body get the first answer again and store nothing twice; the same key with another body is a 409",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
)
_canonical = msgspec.json.Encoder(order="sorted")
# Batches decoded and stored at once per process: up to 5,000 items each, a batch is the largest
# body the server decodes, and a process's memory is the high-water mark of those in hand at once.
BATCHES_AT_ONCE = 1


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def device_out(device: Device) -> schemas.DeviceOut:
    return schemas.DeviceOut(
        deviceid=device.deviceid,
        hash_deviceid=device.hash_deviceid,
        type=device.type.value,
        model=device.model,
        model_id=device.model_id,
        battery=device.battery.value,
        timezone=device.timezone,
        created=epoch(device.created),
        modified=epoch(device.modified),
        first_session_date=epoch(device.first_session) if device.first_session else None,
        last_session_date=epoch(device.last_session) if device.last_session else None,
    )


def group_out(group: MeasureGroup) -> schemas.MeasureGroupOut:
    return schemas.MeasureGroupOut(
        grpid=group.grpid,
        date=epoch(group.date),
        timezone=group.timezone,
        attrib=int(group.attrib),
        category=int(group.category),
        created=epoch(group.created),
        modified=epoch(group.modified),
        measures=[schemas.HealthMeasure(m.type, m.value, m.unit) for m in group.measures],
        deviceid=group.deviceid,
        comment=group.comment,
    )


def goals_out(goals: Goals) -> schemas.GoalsOut:
    weight = schemas.WeightGoalIO(goals.weight.value, goals.weight.unit) if goals.weight else None
    return schemas.GoalsOut(
        steps=goals.steps,
        sleep=goals.sleep,
        weight=weight,
        modified=epoch(goals.modified) if goals.modified else None,
    )


def _account_id(request: Request) -> int:
    return int(request.state.auth.account.id)


# Devices ------------------------------------------------------------------------------------------
@api_endpoint(
    "POST",
    "/api/v1/health/devices",
    "Pair a device: the server gives its opaque deviceid and hash_deviceid",
    body=schemas.DeviceIn,
    response=schemas.DeviceOut,
    status=201,
    auth=True,
    tag=TAG,
)
async def pair_device(request: Request, body: schemas.DeviceIn) -> schemas.DeviceOut:
    ingest = services(request).health_ingest
    device = await in_unit_of_work(
        request, ingest.pair, _account_id(request), body.type, body.model, body.model_id, body.timezone, body.battery
    )
    return device_out(device)


@api_endpoint("GET", "/api/v1/health/devices", "The paired devices", response=schemas.DeviceList, auth=True, tag=TAG)
async def list_devices(request: Request, _: None) -> schemas.DeviceList:
    devices = await in_unit_of_work(request, services(request).health_ingest.devices, _account_id(request))
    return schemas.DeviceList(devices=[device_out(device) for device in devices])


@api_endpoint(
    "PATCH",
    "/api/v1/health/devices/{deviceid}",
    "Update a device's battery level or time zone",
    body=schemas.DeviceUpdate,
    response=schemas.DeviceOut,
    auth=True,
    errors=(404,),
    tag=TAG,
)
async def update_device(request: Request, body: schemas.DeviceUpdate) -> schemas.DeviceOut:
    ingest = services(request).health_ingest
    device = await in_unit_of_work(
        request,
        ingest.update_device,
        _account_id(request),
        request.path_params["deviceid"],
        body.battery,
        body.timezone,
    )
    return device_out(device)


@api_endpoint(
    "DELETE",
    "/api/v1/health/devices/{deviceid}",
    "Unpair a device (what it measured stays)",
    response=schemas.Unpaired,
    auth=True,
    errors=(404,),
    tag=TAG,
)
async def unpair_device(request: Request, _: None) -> schemas.Unpaired:
    deviceid = request.path_params["deviceid"]
    await in_unit_of_work(request, services(request).health_ingest.unpair, _account_id(request), deviceid)
    return schemas.Unpaired(deviceid=deviceid)


# Batches ------------------------------------------------------------------------------------------
@api_endpoint(
    "POST",
    BATCHES_PATH,
    "Send measure groups, activity days, intraday samples, workouts, sleep sessions and heart recordings: every "
    "item is checked and every problem named (400), then all are stored or none; at most 5,000 items (413)",
    body=schemas.BatchIn,
    response=schemas.BatchOut,
    status=201,
    auth=True,
    errors=(409, 413),
    tag=TAG,
    headers=(IDEMPOTENCY_KEY,),
    at_once=BATCHES_AT_ONCE,
)
async def send_batch(request: Request, body: schemas.BatchIn) -> Response:
    # what the request means, whatever its spacing, key order or spelled-out defaults
    digest = hashlib.sha256(_canonical.encode(msgspec.to_builtins(body, str_keys=True))).hexdigest()
    batch = msgspec.convert(body, Batch, from_attributes=True)
    ingested = await in_unit_of_work(
        request,
        services(request).health_ingest.ingest,
        _account_id(request),
        request.headers.get("idempotency-key"),
        digest,
        batch,
    )
    answer = json_response(msgspec.convert(ingested.answer, schemas.BatchOut), 201)
    if ingested.replayed:
        answer.headers["idempotent-replayed"] = "true"
    return answer


# Measure groups -----------------------------------------------------------------------------------
def _grpid(request: Request) -> int:
    """The path's group id (anything else names no group of the user's)."""
    text = request.path_params["grpid"]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise RecordNotFound()
    return int(text)


@api_endpoint(
    "GET",
    "/api/v1/health/measure-groups/{grpid}",
    "A measure group as stored",
    response=schemas.MeasureGroupOut,
    auth=True,
    errors=(404,),
    tag=TAG,
)
async def get_measure_group(request: Request, _: None) -> schemas.MeasureGroupOut:
    ingest = services(request).health_ingest
    return group_out(await in_unit_of_work(request, ingest.measure_group, _account_id(request), _grpid(request)))


@api_endpoint(
    "PATCH",
    "/api/v1/health/measure-groups/{grpid}",
    "Edit a measure group's date, measures or comment (its modified time moves on)",
    body=schemas.MeasureGroupEdit,
    response=schemas.MeasureGroupOut,
    auth=True,
    errors=(404,),
    tag=TAG,
)
async def edit_measure_group(request: Request, body: schemas.MeasureGroupEdit) -> schemas.MeasureGroupOut:
    ingest = services(request).health_ingest
    edit = msgspec.convert(body, GroupEdit, from_attributes=True)
    group = await in_unit_of_work(request, ingest.edit_group, _account_id(request), _grpid(request), edit)
    return group_out(group)


@api_endpoint(
    "DELETE",
    "/api/v1/health/measure-groups/{grpid}",
    "Delete a measure group (partners reading what changed since a time learn of the deletion)",
    response=schemas.MeasureGroupDeleted,
    auth=True,
    errors=(404,),
    tag=TAG,
)
async def delete_measure_group(request: Request, _: None) -> schemas.MeasureGroupDeleted:
    ingest, grpid = services(request).health_ingest, _grpid(request)
    deleted = await in_unit_of_work(request, ingest.delete_group, _account_id(request), grpid)
    return schemas.MeasureGroupDeleted(grpid=grpid, deleted=epoch(deleted))


# Goals --------------------------------------------------------------------------------------------
@api_endpoint("GET", "/api/v1/health/goals", "The user's goals", response=schemas.GoalsOut, auth=True, tag=TAG)
async def get_goals(request: Request, _: None) -> schemas.GoalsOut:
    return goals_out(await in_unit_of_work(request, services(request).health_ingest.goals, _account_id(request)))


@api_endpoint(
    "PUT",
    "/api/v1/health/goals",
    "Set the goals: steps a day, seconds of sleep a night, and a weight (none: no weight goal)",
    body=schemas.GoalsIn,
    response=schemas.GoalsOut,
    auth=True,
    tag=TAG,
)
async def set_goals(request: Request, body: schemas.GoalsIn) -> schemas.GoalsOut:
    weight = NewMeasure(1, body.weight.value, body.weight.unit) if body.weight else None
    ingest = services(request).health_ingest
    goals = await in_unit_of_work(request, ingest.set_goals, _account_id(request), body.steps, body.sleep, weight)
    return goals_out(goals)


def endpoints() -> list[ApiEndpoint]:
    """This module's JSON endpoints, in the order they are matched and documented."""
    return [
        pair_device,
        list_devices,
        update_device,
        unpair_device,
        send_batch,
        get_measure_group,
        edit_measure_group,
        delete_measure_group,
        get_goals,
        set_goals,
    ]
