"""The app factory composes the modules' routes for each app: two apps in one process do not
share (or double-wrap) routes, and each guards its page POSTs exactly once."""

from __future__ import annotations

from starlette.routing import Route
from starlette.testclient import TestClient

from tests.web.conftest import ClientFactory, csrf_of
from vitalkey.web import pages
from vitalkey.web.app import routes
from vitalkey.web.csrf import CsrfGuard


def guarded(client: TestClient, path: str) -> Route:
    router = client.app.router  # type: ignore[attr-defined]
    return next(r for r in router.routes if isinstance(r, Route) and r.path == path and isinstance(r.app, CsrfGuard))


def test_two_apps_each_guard_their_page_posts_once(make_client: ClientFactory) -> None:
    first, second = make_client(), make_client()
    for client in (first, second):
        route = guarded(client, "/login")
        assert not isinstance(route.app.app, CsrfGuard)  # type: ignore[attr-defined]
        refused = client.post("/login", data={"email": "ann@example.org"}, follow_redirects=False)
        assert refused.status_code == 403
        token = csrf_of(client.get("/login").text)
        answer = client.post("/login", data={"csrf_token": token, "email": "ann@example.org"}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login/")
    assert guarded(first, "/login") is not guarded(second, "/login")


def test_composing_routes_changes_no_module() -> None:
    declared = pages.routes()
    assert all(not isinstance(getattr(r, "app", None), CsrfGuard) for r in declared)
    first, second = routes(), routes()
    assert {id(r) for r in first}.isdisjoint(id(r) for r in second)  # each app gets its own Route objects
    assert all(not isinstance(getattr(r, "app", None), CsrfGuard) for r in pages.routes())
