"""The companion app on a live ``vitalkey serve`` process: it signs in through the JSON API with
the emailed code (a bearer session), pairs devices, sends a batch of health data under an
Idempotency-Key and sets the goals, keeping what it sent and what the server answered."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import LiveServer, Mailbox, code_in

JSON = dict[str, Any]


@dataclass(frozen=True)
class Uploaded:
    """What the app sent, with the server's answers, and when (whole seconds either side)."""

    account_id: int
    pairings: list[JSON]  # each device as sent
    devices: list[JSON]  # each pairing's answer (deviceid, hash_deviceid, …), in the same order
    batch: JSON
    ids: JSON  # the batch's answer: grpids, workout_ids, sleep_ids, signalids, …
    goals: JSON
    started: datetime
    finished: datetime

    def during(self, moment: datetime) -> bool:
        """``moment`` was set by the server while the app was uploading."""
        return self.started <= moment <= self.finished


def session_of(server: LiveServer, mailbox: Mailbox, email: str) -> tuple[str, int]:
    """Sign in with the emailed code: the session token and the account id."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        mail_number = len(mailbox.to(email)) + 1
        flow = http.post("/api/v1/login", json={"email": email}).raise_for_status().json()["id"]
        code = code_in(mailbox.wait_for(email, mail_number))
        signed_in = http.post(f"/api/v1/login/{flow}/code", json={"code": code}).raise_for_status().json()
    return signed_in["session_token"], int(signed_in["account"]["id"])


def upload(
    server: LiveServer,
    mailbox: Mailbox,
    email: str,
    pairings: Sequence[JSON],
    batch_for: Callable[[list[str]], JSON],
    goals: JSON,
) -> Uploaded:
    """Pair ``pairings``, send ``batch_for(their deviceids)`` (twice under one key: a retry stores
    nothing again) and set ``goals``."""
    token, account_id = session_of(server, mailbox, email)
    started = datetime.now(UTC).replace(microsecond=0)
    auth = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, timeout=30, headers=auth) as http:
        devices = [created(http.post("/api/v1/health/devices", json=pairing), 201) for pairing in pairings]
        batch = batch_for([device["deviceid"] for device in devices])
        key = {"idempotency-key": "first sync of the companion app"}
        ids = created(http.post("/api/v1/health/batches", json=batch, headers=key), 201)
        retry = http.post("/api/v1/health/batches", json=batch, headers=key)
        assert (retry.status_code, retry.json(), retry.headers.get("idempotent-replayed")) == (201, ids, "true")
        set_goals = created(http.put("/api/v1/health/goals", json=goals), 200)
        assert {name: set_goals[name] for name in goals} == goals
    finished = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    return Uploaded(account_id, list(pairings), devices, batch, ids, goals, started, finished)


def created(answer: httpx.Response, status: int) -> JSON:
    assert answer.status_code == status, answer.text
    body: JSON = answer.json()
    return body


def moments_of(batch: JSON, deviceid: str) -> Iterator[int]:
    """The moments (Unix seconds) the batch says the device was in use: a record's date, or its start."""
    kinds: Mapping[str, str] = {
        "measure_groups": "date", "intraday": "at", "workouts": "startdate", "sleep": "startdate", "heart": "at"
    }  # fmt: skip
    for kind, moment in kinds.items():
        yield from (item[moment] for item in batch.get(kind, ()) if item.get("deviceid") == deviceid)
