"""An endpoint declared with ``at_once`` handles at most that many requests at once in a process,
queues the others (none refused, none lost), and hands freed memory back when it falls idle."""

from __future__ import annotations

import asyncio

import httpx
import msgspec
import pytest
from starlette.applications import Starlette
from starlette.requests import Request

from vitalkey.adapters.memory import FreeMemory
from vitalkey.web.api import api_endpoint


class Body(msgspec.Struct):
    n: int


class Answer(msgspec.Struct):
    n: int


def app_with(at_once: int | None) -> tuple[Starlette, dict[str, int]]:
    seen = {"now": 0, "most": 0, "done": 0}

    @api_endpoint("POST", "/slow", "a slow handler", body=Body, response=Answer, at_once=at_once)
    async def slow(request: Request, body: Body) -> Answer:
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        await asyncio.sleep(0.02)
        seen["now"] -= 1
        seen["done"] += 1
        return Answer(body.n)

    return Starlette(routes=[slow.route()]), seen


async def send_many(app: Starlette, count: int) -> list[int]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answers = await asyncio.gather(*(client.post("/slow", json={"n": n}) for n in range(count)))
    assert all(a.status_code == 200 for a in answers)
    return [a.json()["n"] for a in answers]


@pytest.mark.parametrize("at_once", [1, 2])
def test_at_most_at_once_requests_are_handled_together_and_every_one_is_answered(at_once: int) -> None:
    app, seen = app_with(at_once)
    assert asyncio.run(send_many(app, 6)) == list(range(6))
    assert seen["most"] == at_once
    assert seen["done"] == 6


def test_without_a_limit_the_requests_run_together() -> None:
    app, seen = app_with(None)
    asyncio.run(send_many(app, 6))
    assert seen["most"] == 6  # the control: the limit is what kept them apart


def test_a_refused_body_releases_its_turn() -> None:
    app, seen = app_with(1)

    async def run() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            bad = await client.post("/slow", content=b"{", headers={"content-type": "application/json"})
            good = await client.post("/slow", json={"n": 7})
        return bad.status_code, good.status_code

    assert asyncio.run(run()) == (400, 200)
    assert seen["done"] == 1


def test_free_memory_is_handed_back_when_idle_and_at_most_every_interval_meanwhile() -> None:
    memory = FreeMemory(every_s=3600)
    if not memory.available:
        pytest.skip("not glibc: malloc_trim is not there, and nothing is trimmed")
    assert memory.release(idle=True) is True
    assert memory.release(idle=False) is False  # busy, and the interval has not passed
    assert memory.release(idle=True) is True
    assert FreeMemory(every_s=0).release(idle=False) is True
