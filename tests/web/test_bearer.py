"""Resource endpoints behind ``protected(scope)``: userinfo's RFC 6750 answers, exactly, and a route
family that renders refusals its own way (as the Withings data API will) with the token's owner
handed to its handler."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.flows.test_resource_protector import Issued
from vitalkey.container import Container
from vitalkey.oauth.resource import Bearer, BearerRefused
from vitalkey.web.bearer import protected

USERINFO = "/oauth2/userinfo"


def issued(client: TestClient, scopes: tuple[str, ...] = ("user.info", "openid")) -> Issued:
    return Issued(client.app.state.container, scopes)  # type: ignore[attr-defined]


def answer_of(response: Any) -> tuple[int, Any, str, str]:
    return (
        response.status_code,
        response.json(),
        response.headers["www-authenticate"],
        response.headers["cache-control"],
    )


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_answers_the_claims_of_the_token(client: TestClient, method: str) -> None:
    ann = issued(client, ("openid", "email"))
    answer = client.request(method, USERINFO, headers={"authorization": f"Bearer {ann.access}"})
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    assert answer.json() == {"sub": str(ann.account_id), "email": "ann@example.org", "email_verified": True}


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("headers", [{}, {"authorization": "Basic dXNlcjpwYXNz"}, {"authorization": "Bearer"}])
def test_userinfo_without_a_bearer_token(client: TestClient, method: str, headers: dict[str, str]) -> None:
    assert answer_of(client.request(method, USERINFO, headers=headers)) == (
        401,
        {"error": "invalid_request", "error_description": "A bearer token is required."},
        'Bearer realm="vitalkey"',
        "no-store",
    )


def test_userinfo_with_a_token_that_is_not_valid(client: TestClient) -> None:
    ann = issued(client)
    for token in ("unknown", ann.refresh, ann.access + "x"):
        assert answer_of(client.get(USERINFO, headers={"authorization": f"Bearer {token}"})) == (
            401,
            {"error": "invalid_token", "error_description": "The access token is not valid."},
            'Bearer realm="vitalkey", error="invalid_token"',
            "no-store",
        )


def test_userinfo_needs_the_openid_scope(client: TestClient) -> None:
    ann = issued(client, scopes=("user.info",))
    assert answer_of(client.post(USERINFO, headers={"authorization": f"Bearer {ann.access}"})) == (
        403,
        {"error": "insufficient_scope", "error_description": "The openid scope is required."},
        'Bearer realm="vitalkey", error="insufficient_scope", scope="openid"',
        "no-store",
    )


def test_a_route_family_renders_its_own_refusals_and_gets_the_owner(container: Container) -> None:
    def envelope(refused: BearerRefused) -> Response:  # the Withings data API's way: always HTTP 200
        return JSONResponse({"status": 401, "body": {}, "error": f"{refused.error}: {refused.scope}"})

    async def measures(request: Request, bearer: Bearer) -> Response:
        return JSONResponse({"status": 0, "body": {"userid": bearer.account.id, "client": bearer.token.client_id}})

    app = Starlette(routes=[Route("/v2/measure", protected("user.metrics", envelope)(measures), methods=["POST"])])
    app.state.container = container
    client = TestClient(app, base_url="https://vitalkey.example")
    metrics, info_only = Issued(container), Issued(container, ("user.info",), "bo@example.org")

    mine = client.post("/v2/measure", headers={"authorization": f"Bearer {metrics.access}"})
    assert mine.json() == {"status": 0, "body": {"userid": metrics.account_id, "client": metrics.client_id}}
    refused = client.post("/v2/measure", headers={"authorization": f"Bearer {info_only.access}"})
    assert refused.status_code == 200
    assert refused.json() == {"status": 401, "body": {}, "error": "insufficient_scope: user.metrics"}
    assert client.post("/v2/measure").json()["error"] == "invalid_request: user.metrics"
