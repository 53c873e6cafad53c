"""A router that answers exactly as Starlette's does, without trying every route on every request.

Starlette's ``Router`` matches its routes in order, one regular expression each: with some eighty
routes that was most of the cost of a trivial request. This one keeps the order and the answers
(first full match wins, else the first partial match gives a 405, else the slash redirect or 404)
but only tries the routes that can match the path: for a path some route spells out exactly, the
routes that match it (computed once); for any other path, the routes with parameters and mounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send


def _is_fixed(route: BaseRoute) -> bool:
    return isinstance(route, Route) and not route.param_convertors


class IndexedRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute], **options: Any) -> None:
        super().__init__(list(routes), **options)
        self._with_parameters = [route for route in self.routes if not _is_fixed(route)]
        self._by_path: dict[str, list[BaseRoute]] = {}
        for route in self.routes:
            if isinstance(route, Route) and _is_fixed(route) and route.path not in self._by_path:
                self._by_path[route.path] = [
                    other
                    for other in self.routes
                    if (_is_fixed(other) and getattr(other, "path", None) == route.path)
                    or (not _is_fixed(other) and _matches_path(other, route.path))
                ]

    def candidates(self, scope: Scope) -> list[BaseRoute]:
        """The routes that can match this request's path, in the router's order."""
        return self._by_path.get(route_path(scope), self._with_parameters)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)  # lifespan (and websockets, if ever)
            return
        scope.setdefault("router", self)
        partial: BaseRoute | None = None
        partial_scope: Scope = {}
        for route in self.candidates(scope):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:  # the path is known, the method is not: 405
            scope["route"] = partial
            scope.update(partial_scope)
            await partial.handle(scope, receive, send)
            return
        await super().app(scope, receive, send)  # no match: Starlette's slash redirect, else 404


def route_path(scope: Scope) -> str:
    """The path the routes match: ``path`` without the ``root_path`` it is mounted under, when
    it is, as Starlette's routes compute it (its own helper is private)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    return path[len(root_path) :] if path[len(root_path)] == "/" else path


def _matches_path(route: BaseRoute, path: str) -> bool:
    regex = getattr(route, "path_regex", None)
    return regex is not None and regex.match(path) is not None
