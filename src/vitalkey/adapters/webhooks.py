"""Outgoing HTTP to partners' callback URLs (``ports.CallbackSender``), guarded against SSRF.

The guard sits where the socket is opened. httpx 0.28's public transport takes no network
backend, so this adapter uses httpcore 1.0 — httpx's own engine — whose public
``AsyncConnectionPool(network_backend=...)`` does: ``_GuardedBackend.connect_tcp`` is handed the
URL's host name, resolves it, drops every address ``address_allowed`` refuses and lets httpcore's
``AnyIOBackend`` connect to an allowed IP only. The connection then starts TLS itself with the
URL's name as ``server_hostname``, so SNI and the certificate check use the name while the socket
goes to the checked address; the Host header is the URL's host too. (The stream handed back is
httpcore's own, wrapped only to close it when a time-out interrupts the TLS handshake.) Every new connection passes
there (a kept-alive one was checked when it was opened), so a name that changes its answers
between a check and a connection (DNS rebinding) cannot lead inside the network.

Per request: ``check_callback_url`` first (``invalid``), a turn among at most ``per_host``
requests in flight per (host, port) — one slow partner never holds up the others —, then the
exchange; from the turn on, resolving, connecting, TLS and the answer all fit in ``timeout_s``
(waiting for the turn is not the partner's time). Redirects are never followed, no Authorization or Cookie header is ever sent, and
at most a few KB of the answer are read and thrown away. The debug log names the host, the
status, the error and the time, never the path, query or anything the partner sent.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import anyio
import httpcore
import idna

from vitalkey.domain.notifications import (
    CallbackPolicy,
    CallbackRefused,
    CallbackTarget,
    address_allowed,
    check_callback_url,
)
from vitalkey.observability import logger
from vitalkey.ports import CallbackAnswer

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""The IP addresses of (host, port), in the order to try them."""

USER_AGENT = "VitalKey-Notifications/1.0"
MAX_ANSWER_BYTES = 4096  # read (then dropped) so a short answer completes and its connection can be kept
KEEPALIVE_S = 5.0
MAX_IDLE_CONNECTIONS = 32
# Headers this adapter sets itself, or never sends whatever the caller passes.
_NOT_FROM_CALLER = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "host",
        "user-agent",
        "content-type",
        "content-length",
        "transfer-encoding",
        "connection",
    }
)
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"

log = logger("vitalkey.webhooks")


async def resolve_with_dns(host: str, port: int) -> list[str]:
    """The system's answer (DNS, hosts file) through the event loop's ``getaddrinfo``."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in found))


class AddressRefused(Exception):
    """The name led to no address the policy allows: nothing was connected to."""


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects to an address of the host name that the policy allows, and to nothing else."""

    def __init__(self, policy: CallbackPolicy, resolve: Resolver) -> None:
        self._policy = policy
        self._resolve = resolve
        self._sockets = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:  # the name does not resolve
            raise httpcore.ConnectError(type(exc).__name__) from exc
        allowed = [address for address in addresses if address_allowed(address, self._policy)]
        if not allowed:
            raise AddressRefused(host)
        failure: Exception | None = None
        for address in allowed:  # the next allowed one if an address does not answer
            try:
                stream = await self._sockets.connect_tcp(address, port, timeout, local_address, socket_options)
                return _ClosedOnCancel(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("callbacks go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._sockets.sleep(seconds)


class _ClosedOnCancel(httpcore.AsyncNetworkStream):
    """httpcore's stream, closed when starting TLS on it is interrupted: httpcore closes it on an
    error but not on a cancellation (our time limit during a handshake), which would leave the
    socket open."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            return await self._stream.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


@dataclass
class _Gate:
    """The turns of one destination; dropped once nobody holds or waits for one."""

    turns: asyncio.Semaphore
    users: int = 0


class HttpCallbackSender:
    """``ports.CallbackSender`` over HTTP/1.1. ``resolve`` replaces the system resolver (tests map
    a public-looking name to a local server); ``verify`` is True (the system's CAs and
    certifi's), an ``ssl.SSLContext`` (a test CA), or False (no check: local testing only).
    Call :meth:`aclose` at shutdown to close kept-alive connections."""

    def __init__(
        self,
        policy: CallbackPolicy,
        timeout_s: float = 2.0,
        *,
        per_host: int = 4,
        resolve: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._policy = policy
        self._timeout_s = timeout_s
        self._per_host = per_host
        self._gates: dict[tuple[str, int], _Gate] = {}
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(verify),
            max_connections=None,  # the per-destination turns are the limit
            max_keepalive_connections=MAX_IDLE_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_S,
            network_backend=_GuardedBackend(policy, resolve or resolve_with_dns),
        )

    async def probe(self, url: str) -> CallbackAnswer:
        return await self._send("HEAD", url, None, [])

    async def post(self, url: str, form: Sequence[tuple[str, str]], headers: Mapping[str, str]) -> CallbackAnswer:
        extra = [(name, value) for name, value in headers.items() if name.lower() not in _NOT_FROM_CALLER]
        extra.append(("Content-Type", "application/x-www-form-urlencoded"))
        return await self._send("POST", url, urlencode(list(form)).encode(), extra)

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def _send(self, method: str, url: str, body: bytes | None, extra: list[tuple[str, str]]) -> CallbackAnswer:
        began = time.perf_counter()
        try:
            target = check_callback_url(url, self._policy)
            request_url, host_header = _request_url(target)
        except (CallbackRefused, UnicodeError):
            return self._answer(began, "", None, "invalid")
        headers = [("Host", host_header), ("User-Agent", USER_AGENT), ("Accept", "*/*"), *extra]
        try:
            # The time limit is the partner's, from its turn on: waiting behind its own other
            # requests is ours (it failed healthy partners that received many at once).
            async with self._turn(target), asyncio.timeout(self._timeout_s):
                status = await self._exchange(method, request_url, headers, body)
        except (TimeoutError, httpcore.TimeoutException):
            return self._answer(began, target.host, None, "timeout")
        except AddressRefused:
            return self._answer(began, target.host, None, "address_refused")
        except httpcore.ConnectError as exc:
            return self._answer(began, target.host, None, "tls" if _from_tls(exc) else "connect")
        except (httpcore.NetworkError, httpcore.RemoteProtocolError):  # dropped or garbled mid-exchange
            return self._answer(began, target.host, None, "connect")
        except (httpcore.LocalProtocolError, httpcore.UnsupportedProtocol):  # e.g. a header we may not send
            return self._answer(began, target.host, None, "invalid")
        return self._answer(began, target.host, status, "")

    async def _exchange(
        self, method: str, url: httpcore.URL, headers: list[tuple[str, str]], body: bytes | None
    ) -> int:
        limit = {"connect": self._timeout_s, "read": self._timeout_s, "write": self._timeout_s, "pool": self._timeout_s}
        async with self._pool.stream(
            method, url, headers=headers, content=body, extensions={"timeout": limit}
        ) as answer:
            read = 0
            if isinstance(answer.stream, AsyncIterable):  # httpcore's byte stream, closed on leaving
                async for chunk in answer.stream:
                    read += len(chunk)
                    if read >= MAX_ANSWER_BYTES:
                        break  # the rest is not wanted; the connection is closed, not kept
            return answer.status

    @asynccontextmanager
    async def _turn(self, target: CallbackTarget) -> AsyncIterator[None]:
        """One of the ``per_host`` turns of the destination, waiting for it if all are taken."""
        key = (target.host, target.port)
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _Gate(asyncio.Semaphore(self._per_host))
        gate.users += 1
        try:
            async with gate.turns:
                yield
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[key]

    @staticmethod
    def _answer(began: float, host: str, status: int | None, error: str) -> CallbackAnswer:
        elapsed_ms = round((time.perf_counter() - began) * 1000, 1)
        log.debug("callback.answer", host=host, status=status, error=error, elapsed_ms=elapsed_ms)
        return CallbackAnswer(status, error, elapsed_ms)


def _request_url(target: CallbackTarget) -> tuple[httpcore.URL, str]:
    """The URL as httpcore takes it (an ASCII host, a percent-encoded target) and the Host
    header's value. A name that cannot be written in ASCII raises ``UnicodeError``."""
    host = target.host if target.host.isascii() else idna.encode(target.host, uts46=True).decode("ascii")
    parts = urlsplit(target.url)
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    query = "?" + quote(parts.query, safe=_QUERY_SAFE) if parts.query else ""
    default_port = 443 if target.scheme == "https" else 80
    literal = f"[{host}]" if ":" in host else host
    host_header = literal if target.port == default_port else f"{literal}:{target.port}"
    url = httpcore.URL(scheme=target.scheme, host=host, port=target.port, target=path + query)
    return url, host_header


def _from_tls(exc: BaseException) -> bool:
    """Whether an ``ssl.SSLError`` (a refused certificate, a failed handshake) lies under it: httpcore
    raises its ``ConnectError`` from it, and its pool re-raises that ``from None`` (the context stays)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _ssl_context(verify: ssl.SSLContext | bool) -> ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify:
        return httpcore.default_ssl_context()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


__all__ = ["USER_AGENT", "AddressRefused", "HttpCallbackSender", "Resolver", "resolve_with_dns"]
