"""Form in, JSON out, as a bare ASGI app: the shape of the OAuth token endpoints.

The token endpoint is the busiest route of the server (every partner refreshes through it), and
Starlette's Request, Response and per-route exception wrapping cost about a quarter of a refresh
grant while adding nothing such an endpoint needs. EdgeMiddleware still wraps it: request id,
body limit, security headers, metrics, and the answer to an unexpected error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from starlette.types import Receive, Scope, Send

from vitalkey.container import Container
from vitalkey.domain.i18n import N_
from vitalkey.web.context import MAX_FORM_FIELDS, UNREADABLE_FORM, form_pairs

FORM = b"application/x-www-form-urlencoded"
NOT_A_FORM = N_("Send the parameters as a form.")

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class FormRequest:
    values: list[tuple[str, str]]  # in order, repeats kept: Authlib refuses a repeated parameter
    authorization: str  # the Authorization header, for client authentication ("" if none)


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    body: Any
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)


class MalformedForm(Exception):
    """The body is not a readable form; ``message_id`` says why."""

    def __init__(self, message_id: str) -> None:
        super().__init__(message_id)
        self.message_id = message_id


Handler = Callable[[Container, FormRequest], Awaitable[JsonAnswer]]
Refusal = Callable[[str], JsonAnswer]  # the answer to a malformed form, from its message id


class FormEndpoint:
    """``handle`` gets the form (and the query's fields first, for Withings clients, when
    ``with_query``); ``refuse`` answers a body that is not a readable form."""

    def __init__(self, handle: Handler, refuse: Refusal, *, with_query: bool = False) -> None:
        self.handle, self.refuse, self.with_query = handle, refuse, with_query

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _body(receive)
        if body is None:
            return  # the client went away
        content_type = authorization = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"authorization":
                authorization = value
        try:
            values = self._query(scope) + parse_form(body, content_type)
        except MalformedForm as error:
            answer = self.refuse(error.message_id)
        else:
            container: Container = scope["app"].state.container
            answer = await self.handle(container, FormRequest(values, authorization.decode("latin-1")))
        await send_json(send, answer)

    def _query(self, scope: Scope) -> list[tuple[str, str]]:
        query: bytes = scope.get("query_string", b"")
        if not self.with_query or not query:
            return []
        return parse_qsl(query.decode("latin-1"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)


def parse_form(body: bytes, content_type: bytes) -> list[tuple[str, str]]:
    if not body:
        return []
    if content_type.split(b";")[0].strip().lower() != FORM:
        raise MalformedForm(NOT_A_FORM)
    try:
        return form_pairs(body)
    except ValueError as exc:
        raise MalformedForm(UNREADABLE_FORM) from exc


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_json(send: Send, answer: JsonAnswer) -> None:
    payload = _encoder.encode(answer.body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
