"""The OpenAPI 3.1 document, generated from the registered JSON routes and their Structs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from vitalkey.web.schemas import Error


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    summary: str
    body: type[msgspec.Struct] | None
    response: type[msgspec.Struct] | None
    status: int = 200
    auth: bool = False
    errors: tuple[int, ...] = ()
    tags: tuple[str, ...] = field(default=())
    also: tuple[tuple[int, type[msgspec.Struct], str], ...] = ()  # further answers: (status, body, meaning)
    headers: tuple[HeaderParameter, ...] = ()  # request headers (and query parameters) the operation reads
    raw_body: tuple[str, ...] = ()  # media types of a body taken as it is (a file), not JSON


@dataclass(frozen=True)
class HeaderParameter:
    """A request header an operation requires (or a query parameter, ``where="query"``; or one it
    may do without, ``required=False``), as the OpenAPI document describes it."""

    name: str
    description: str
    schema: dict[str, Any]
    required: bool = True
    where: str = "header"


def document(routes: list[ApiRoute], title: str, version: str, server_url: str) -> dict[str, Any]:
    structs: list[Any] = [Error]
    for route in routes:
        structs.extend(kind for kind in (route.body, route.response) if kind is not None)
        structs.extend(kind for _, kind, _ in route.also if kind not in structs)
    schemas, components = msgspec.json.schema_components(structs, ref_template="#/components/schemas/{name}")
    by_type = dict(zip(structs, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": f"{route.method.lower()}_{route.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "tags": list(route.tags),
            "responses": {},
        }
        params = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
            for name in params
        ]
        parameters += [
            {"name": h.name, "in": h.where, "required": h.required, "description": h.description, "schema": h.schema}
            for h in route.headers
        ]
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": by_type[route.body]}},
            }
        elif route.raw_body:
            binary = {"schema": {"type": "string", "format": "binary"}}
            operation["requestBody"] = {"required": True, "content": dict.fromkeys(route.raw_body, binary)}
        ok: dict[str, Any] = {"description": "Success"}
        if route.response is not None:
            ok["content"] = {"application/json": {"schema": by_type[route.response]}}
        operation["responses"][str(route.status)] = ok
        for status, kind, meaning in route.also:
            operation["responses"][str(status)] = {
                "description": meaning,
                "content": {"application/json": {"schema": by_type[kind]}},
            }
        error_statuses = set(route.errors) | {400}
        if route.auth:
            error_statuses.add(401)
            operation["security"] = [{"bearer": []}]
        if route.body is not None or route.raw_body:
            error_statuses |= {413, 415}
        for status in sorted(error_statuses):
            operation["responses"][str(status)] = {
                "description": "Error",
                "content": {"application/json": {"schema": by_type[Error]}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": 'Account, sign-in, session and health-data API. Errors are {"error", "message"} with a 4xx status.',
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A session token"}},
        },
    }
