"""The indexed router picks exactly the route Starlette's router would, for every route of the app."""

from __future__ import annotations

import re

import pytest
from starlette.routing import BaseRoute, Match, Route
from starlette.testclient import TestClient

from vitalkey.web.routing import IndexedRouter, route_path

METHODS = ("GET", "HEAD", "POST", "DELETE", "PUT")
ODD_PATHS = ("/", "/nothing-here", "/login/", "/oauth2/token/", "/static/app.css", "/api/v1/", "/account/x/y", "//")


def example_paths(route: BaseRoute) -> list[str]:
    path = str(getattr(route, "path", ""))
    return [re.sub(r"\{[^}]+\}", filler, path) for filler in ("x", "123", "a-b_c")]


def chosen(routes: list[BaseRoute], path: str, method: str) -> tuple[BaseRoute | None, Match]:
    """Starlette's rule: the first full match, else the first partial one (a 405)."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method, "path_params": {}}
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route, match
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial, Match.PARTIAL if partial else Match.NONE


def test_same_route_as_a_scan_of_every_route(client: TestClient) -> None:
    router = client.app.router  # type: ignore[attr-defined]
    assert isinstance(router, IndexedRouter)
    paths = {p for route in router.routes for p in example_paths(route)} | set(ODD_PATHS)
    checked = 0
    for path in sorted(paths):
        for method in METHODS:
            scope = {"type": "http", "path": path, "root_path": ""}
            assert chosen(router.candidates(scope), path, method) == chosen(router.routes, path, method), (method, path)
            checked += 1
    assert checked > 300


def test_a_path_that_is_also_a_pattern_keeps_the_order() -> None:
    async def first(_: object) -> None: ...
    async def second(_: object) -> None: ...

    router = IndexedRouter([Route("/account/{action}", second, methods=["POST"]), Route("/account/apps", first)])
    candidates = router.candidates({"type": "http", "path": "/account/apps", "root_path": ""})
    assert [getattr(route, "endpoint", None) for route in candidates] == [second, first]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/healthz", 200), ("POST", "/healthz", 405), ("GET", "/nothing-here", 404), ("GET", "/healthz/", 307)],
)
def test_answers(client: TestClient, method: str, path: str, status: int) -> None:
    answer = client.request(method, path, follow_redirects=False)
    assert answer.status_code == status
    if status == 307:
        assert answer.headers["location"].endswith("/healthz")


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        ("/login", "", "/login"),
        ("/id/login", "/id", "/login"),
        ("/id", "/id", ""),
        ("/identity", "/id", "/identity"),  # a prefix of the name, not a parent folder
        ("/login", "/id", "/login"),  # not under the root path (as a server that already strips it)
    ],
)
def test_the_route_path_is_the_path_under_the_root_path(path: str, root_path: str, expected: str) -> None:
    assert route_path({"type": "http", "path": path, "root_path": root_path}) == expected


def test_a_mounted_app_routes_the_path_under_its_root_path(client: TestClient) -> None:
    """As Starlette's router does: the scope's path includes the root path (ASGI 3)."""
    router = client.app.router  # type: ignore[attr-defined]
    scope = {"type": "http", "path": "/id/healthz", "root_path": "/id"}
    assert [getattr(route, "path", None) for route in router.candidates(scope)] == ["/healthz"]
