"""The callback sender against real local HTTP(S) servers playing partners' receivers: what they
receive, the statuses, the address guard (a public-looking name that leads inside is never
connected to), TLS against the URL's name, the time limit and the per-destination limit."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import socket
import ssl
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import pytest
import trustme

from tests.conftest import free_port
from vitalkey.adapters.webhooks import USER_AGENT, HttpCallbackSender, Resolver
from vitalkey.domain.notifications import DELIVERY_HEADER, SIGNATURE_HEADER, CallbackPolicy
from vitalkey.observability import configure_logging
from vitalkey.ports import CallbackAnswer

LOCAL = CallbackPolicy(allow_http=True, allow_local=True)
DEFAULT = CallbackPolicy()
FORM = [("userid", "7"), ("appli", "4"), ("startdate", "1700000000"), ("enddate", "1700000600")]
SIGNED = {SIGNATURE_HEADER: "t=1700000000,v1=abc", DELIVERY_HEADER: "d-1"}
T = TypeVar("T")


# Receivers -----------------------------------------------------------------------------------
@dataclass
class Receiver:
    """What a partner's receiver got, and how it answers."""

    host: str
    port: int
    scheme: str
    status: int = 200
    location: str = ""
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)  # SNI of each TLS handshake
    connections: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)  # ends the waits at teardown

    def url(self, path: str = "/hook", name: str = "partner.example") -> str:
        return f"{self.scheme}://{name}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_HEAD(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers.get("content-length", "0"))))

    def _answer(self, body: bytes) -> None:
        state = self.server.state
        with state.lock:
            state.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": {name.lower(): value for name, value in self.headers.items()},
                    "header_names": [name.lower() for name in self.headers],
                    "form": parse_qsl(body.decode()),
                }
            )
            state.in_flight += 1
            state.most_in_flight = max(state.most_in_flight, state.in_flight)
        try:
            state.release.wait(state.delay_s)
            payload = b"" if state.status in (204, 304) else b"not for the logs"
            self.send_response(state.status)
            if state.location:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        finally:
            with state.lock:
                state.in_flight -= 1

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def __init__(self, state: Receiver, tls: ssl.SSLContext | None) -> None:
        self.state = state
        self.tls = tls
        super().__init__((state.host, state.port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.state.lock:
            self.state.connections += 1
        super().process_request(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        with self.tls.wrap_socket(request, server_side=True) as wrapped:  # the handshake, in this thread
            super().finish_request(wrapped, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (time-out, refused certificate): expected here


@pytest.fixture(autouse=True)
def sockets_closed() -> Iterator[None]:
    """A socket left open by a test shows up as that test's failure (ResourceWarning), not a later
    one's. What earlier tests of the session left for the collector is collected first, unreported
    here: it is not this file's (a browser test's socket surfaced here once, in a whole run)."""
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook
    yield
    gc.collect()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts the test CA only."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def receivers(ca: trustme.CA) -> Iterator[Callable[..., Receiver]]:
    servers: list[_Server] = []

    def start(*, cert_for: str | None = None, host: str = "127.0.0.1", port: int = 0) -> Receiver:
        """A receiver, plain HTTP or (``cert_for``) HTTPS with a certificate for that name."""
        tls = None
        state = Receiver(host, port or free_port(), "https" if cert_for else "http")
        if cert_for:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert(cert_for).configure_cert(tls)
            tls.sni_callback = lambda _sock, name, _context: state.server_names.append(name)  # type: ignore[assignment,func-returns-value]
        server = _Server(state, tls)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return state

    yield start
    for server in servers:
        server.state.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def local_443(receivers: Callable[..., Receiver]) -> Receiver:
    """An HTTPS receiver for partner.example on port 443 of a random loopback address: where a
    default-policy URL (port 443 only) would land if the guard let a local address through."""
    address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    try:
        return receivers(cert_for="partner.example", host=address, port=443)
    except PermissionError:
        pytest.skip("binding port 443 needs privileges")


def resolving(table: dict[str, list[str]], asked: list[tuple[str, int]] | None = None) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if asked is not None:
            asked.append((host, port))
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name")
        return table[host]

    return resolve


TO_LOOPBACK = resolving({"partner.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})


def run(sender: HttpCallbackSender, job: Callable[[HttpCallbackSender], Awaitable[T]]) -> T:
    async def main() -> T:
        try:
            return await job(sender)
        finally:
            await sender.aclose()

    return asyncio.run(main())


def post(sender: HttpCallbackSender, url: str, headers: dict[str, str] | None = None) -> CallbackAnswer:
    return run(sender, lambda s: s.post(url, FORM, SIGNED if headers is None else headers))


# What the receiver gets ----------------------------------------------------------------------
def test_a_post_carries_the_form_the_signature_and_our_user_agent(receivers: Callable[..., Receiver]) -> None:
    receiver = receivers()
    sneaky = {**SIGNED, "Authorization": "Bearer leak", "Cookie": "session=leak", "User-Agent": "x", "Host": "evil"}
    answer = post(HttpCallbackSender(LOCAL, resolve=TO_LOOPBACK), receiver.url("/hook?id=3"), sneaky)
    assert (answer.status, answer.error, answer.ok) == (200, "", True) and answer.elapsed_ms > 0
    [request] = receiver.requests
    assert (request["method"], request["path"], request["form"]) == ("POST", "/hook?id=3", FORM)
    headers = request["headers"]
    assert headers["host"] == f"partner.example:{receiver.port}"
    assert headers["user-agent"] == USER_AGENT
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert headers["vitalkey-signature"] == SIGNED[SIGNATURE_HEADER]
    assert headers["vitalkey-delivery"] == "d-1"
    assert "authorization" not in headers and "cookie" not in headers
    assert request["header_names"].count("host") == 1 and request["header_names"].count("user-agent") == 1


def test_a_probe_is_a_head_without_a_body(receivers: Callable[..., Receiver]) -> None:
    receiver = receivers()
    answer = run(HttpCallbackSender(LOCAL), lambda s: s.probe(receiver.url(name="127.0.0.1")))
    assert (answer.status, answer.ok) == (200, True)
    [request] = receiver.requests
    assert (request["method"], request["path"], request["form"]) == ("HEAD", "/hook", [])
    assert request["headers"]["host"] == f"127.0.0.1:{receiver.port}"
    assert request["headers"]["user-agent"] == USER_AGENT


def test_a_header_value_with_a_line_break_is_invalid_and_never_sent(receivers: Callable[..., Receiver]) -> None:
    receiver = receivers()
    headers = {SIGNATURE_HEADER: "t=1,v1=abc\r\nX-Injected: 1"}
    answer = post(HttpCallbackSender(LOCAL), receiver.url(name="127.0.0.1"), headers)
    assert (answer.status, answer.error) == (None, "invalid") and receiver.requests == []


@pytest.mark.parametrize(("status", "ok"), [(200, True), (204, True), (404, False), (500, False)])
def test_statuses_are_answers_and_ok_is_below_400(receivers: Callable[..., Receiver], status: int, ok: bool) -> None:
    receiver = receivers()
    receiver.status = status
    for answer in (post(HttpCallbackSender(LOCAL), receiver.url(name="127.0.0.1")),
                   run(HttpCallbackSender(LOCAL), lambda s: s.probe(receiver.url(name="127.0.0.1")))):  # fmt: skip
        assert (answer.status, answer.error, answer.ok) == (status, "", ok)
    assert [r["method"] for r in receiver.requests] == ["POST", "HEAD"]


def test_a_redirect_is_the_answer_and_never_followed(receivers: Callable[..., Receiver]) -> None:
    elsewhere = receivers()
    receiver = receivers()
    receiver.status, receiver.location = 302, elsewhere.url(name="127.0.0.1")
    answer = post(HttpCallbackSender(LOCAL), receiver.url(name="127.0.0.1"))
    probed = run(HttpCallbackSender(LOCAL), lambda s: s.probe(receiver.url(name="127.0.0.1")))
    assert (answer.status, answer.ok, probed.status) == (302, True, 302)
    assert len(receiver.requests) == 2 and elsewhere.connections == 0


def test_by_default_the_name_is_resolved_by_the_system(receivers: Callable[..., Receiver]) -> None:
    receiver = receivers()  # on 127.0.0.1; localhost may answer ::1 first, which refuses: the next is tried
    answer = post(HttpCallbackSender(LOCAL), receiver.url(name="localhost"))
    assert answer.status == 200 and receiver.requests[0]["headers"]["host"] == f"localhost:{receiver.port}"


def test_a_closed_port_is_a_connect_error() -> None:
    answer = post(HttpCallbackSender(LOCAL), f"http://127.0.0.1:{free_port()}/hook")
    assert (answer.status, answer.error, answer.ok) == (None, "connect", False)


def test_a_name_that_does_not_resolve_is_a_connect_error() -> None:
    answer = post(HttpCallbackSender(LOCAL, resolve=TO_LOOPBACK), "http://nowhere.example/hook")
    assert (answer.status, answer.error) == (None, "connect")


# The address guard (default policy) ----------------------------------------------------------
def test_a_name_leading_to_loopback_is_refused_and_nothing_connects(
    local_443: Receiver, trusting: ssl.SSLContext
) -> None:
    asked: list[tuple[str, int]] = []
    resolve = resolving({"partner.example": [local_443.host]}, asked)
    answer = post(HttpCallbackSender(DEFAULT, 0.5, resolve=resolve, verify=trusting), "https://partner.example/hook")
    assert (answer.status, answer.error, answer.ok) == (None, "address_refused", False)
    assert asked == [("partner.example", 443)] and local_443.connections == 0
    # The control: the same URL under allow_local reaches the receiver, so the refusal is the guard's.
    allowed = post(HttpCallbackSender(LOCAL, 0.5, resolve=resolve, verify=trusting), "https://partner.example/hook")
    assert allowed.status == 200 and local_443.connections == 1


@pytest.mark.parametrize(
    "address", ["::1", "::ffff:127.0.0.1", "10.0.0.1", "169.254.169.254", "fe80::1", "64:ff9b::7f00:1", "0.0.0.0"]
)
def test_names_leading_inside_are_refused_before_connecting(address: str) -> None:
    asked: list[tuple[str, int]] = []
    sender = HttpCallbackSender(DEFAULT, 0.5, resolve=resolving({"partner.example": [address]}, asked))
    answer = post(sender, "https://partner.example/hook")
    probed = run(HttpCallbackSender(DEFAULT, 0.5, resolve=resolving({"partner.example": [address]})),
                 lambda s: s.probe("https://partner.example/hook"))  # fmt: skip
    assert (answer.status, answer.error) == (None, "address_refused") and answer.elapsed_ms < 400
    assert (probed.status, probed.error) == (None, "address_refused")
    assert asked == [("partner.example", 443)]


def test_of_a_public_and_a_private_address_only_the_public_one_is_tried(
    local_443: Receiver, trusting: ssl.SSLContext
) -> None:
    # The private address first: a guard that checked only some of the answers would land there.
    resolve = resolving({"partner.example": [local_443.host, "93.184.216.34"]})
    answer = post(HttpCallbackSender(DEFAULT, 0.5, resolve=resolve, verify=trusting), "https://partner.example/hook")
    # Tried, so not refused; whatever answers at the public address (nothing, or a firewall) cannot
    # pass a certificate check that trusts the test CA only.
    assert answer.status is None and answer.error in ("connect", "timeout", "tls")
    assert local_443.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://93.184.216.34/hook",
        "http://partner.example/hook",
        "https://partner.example:8443/hook",
        "https://localhost/hook",
        "https://user:pw@partner.example/hook",
        "ftp://partner.example/hook",
        "",
    ],
)
def test_urls_the_policy_refuses_are_invalid_and_never_resolved(url: str) -> None:
    asked: list[tuple[str, int]] = []
    sender = HttpCallbackSender(DEFAULT, resolve=resolving({"partner.example": ["93.184.216.34"]}, asked))
    answer = post(sender, url)
    assert (answer.status, answer.error, answer.ok) == (None, "invalid", False) and asked == []


# TLS -----------------------------------------------------------------------------------------
def test_https_checks_the_certificate_against_the_urls_name(
    receivers: Callable[..., Receiver], trusting: ssl.SSLContext
) -> None:
    receiver = receivers(cert_for="partner.example")
    answer = post(HttpCallbackSender(LOCAL, resolve=TO_LOOPBACK, verify=trusting), receiver.url())
    assert (answer.status, answer.error) == (200, "")
    assert receiver.server_names == ["partner.example"]  # SNI is the name, not the address connected to
    assert receiver.requests[0]["headers"]["host"] == f"partner.example:{receiver.port}"


def test_a_certificate_for_another_name_is_a_tls_error(
    receivers: Callable[..., Receiver], trusting: ssl.SSLContext
) -> None:
    receiver = receivers(cert_for="other.example")
    answer = post(HttpCallbackSender(LOCAL, resolve=TO_LOOPBACK, verify=trusting), receiver.url())
    assert (answer.status, answer.error, answer.ok) == (None, "tls", False) and receiver.requests == []
    # The same certificate is fine under its own name: the refusal was about the name.
    assert post(HttpCallbackSender(LOCAL, resolve=TO_LOOPBACK, verify=trusting), receiver.url(name="other.example")).ok


def test_a_certificate_from_an_unknown_ca_is_a_tls_error(receivers: Callable[..., Receiver]) -> None:
    receiver = receivers(cert_for="partner.example")
    answer = post(HttpCallbackSender(LOCAL, resolve=TO_LOOPBACK), receiver.url())
    assert (answer.status, answer.error) == (None, "tls") and receiver.requests == []


# Time limit ----------------------------------------------------------------------------------
def test_a_slow_receiver_is_a_time_out_after_the_limit(receivers: Callable[..., Receiver]) -> None:
    receiver = receivers()
    receiver.delay_s = 5.0
    began = time.perf_counter()
    answer = post(HttpCallbackSender(LOCAL, 0.5), receiver.url(name="127.0.0.1"))
    took = time.perf_counter() - began
    assert (answer.status, answer.error, answer.ok) == (None, "timeout", False)
    assert 0.45 < took < 1.2 and 450 < answer.elapsed_ms < 1000
    assert len(receiver.requests) == 1  # it was sent; the answer did not come in time


def test_a_receiver_that_accepts_and_never_answers_is_a_time_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshakes; nobody ever reads
        port = silent.getsockname()[1]
        began = time.perf_counter()
        answer = post(HttpCallbackSender(LOCAL, 0.5), f"http://127.0.0.1:{port}/hook")
        tls = post(HttpCallbackSender(LOCAL, 0.5, resolve=TO_LOOPBACK), f"https://partner.example:{port}/hook")
    assert (answer.error, tls.error) == ("timeout", "timeout") and time.perf_counter() - began < 2.0


# Per-destination limit -----------------------------------------------------------------------
def test_a_slow_partner_gets_at_most_per_host_requests_and_never_holds_up_others(
    receivers: Callable[..., Receiver],
) -> None:
    slow, fast = receivers(), receivers()
    slow.delay_s = 0.6

    async def job(sender: HttpCallbackSender) -> tuple[list[CallbackAnswer], CallbackAnswer, float]:
        slow_posts = [asyncio.create_task(sender.post(slow.url(name="127.0.0.1"), FORM, SIGNED)) for _ in range(3)]
        await asyncio.sleep(0.1)
        began = time.perf_counter()
        quick = await sender.post(fast.url(name="127.0.0.1"), FORM, SIGNED)
        quick_took = time.perf_counter() - began
        return await asyncio.gather(*slow_posts), quick, quick_took

    slow_answers, quick, quick_took = run(HttpCallbackSender(LOCAL, 3.0, per_host=2), job)
    assert [a.status for a in slow_answers] == [200, 200, 200] and quick.status == 200
    assert quick_took < 0.3  # not behind the slow partner's queue
    assert slow.most_in_flight == 2 and len(slow.requests) == 3
    assert sorted(a.elapsed_ms for a in slow_answers)[2] > 1100  # the third waited for a turn


def test_waiting_for_a_turn_does_not_count_against_the_time_limit(receivers: Callable[..., Receiver]) -> None:
    """The partner has the whole time limit to answer, once its turn comes; waiting behind its
    own other requests is not its fault (a partner receiving many at once would fail them all)."""
    receiver = receivers()
    receiver.delay_s = 0.4

    async def job(sender: HttpCallbackSender) -> list[CallbackAnswer]:
        first = asyncio.create_task(sender.post(receiver.url(name="127.0.0.1"), FORM, SIGNED))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(sender.post(receiver.url(name="127.0.0.1"), FORM, SIGNED))
        return list(await asyncio.gather(first, second))

    first, second = run(HttpCallbackSender(LOCAL, 0.6, per_host=1), job)
    assert (first.status, second.status) == (200, 200)
    assert second.elapsed_ms > 700  # ~0.35 s waiting for its turn, then its own 0.4 s answer
    assert receiver.most_in_flight == 1


# Logs ----------------------------------------------------------------------------------------
def test_the_log_names_the_host_and_status_never_the_query_or_the_answer(
    receivers: Callable[..., Receiver], capsys: pytest.CaptureFixture[str]
) -> None:
    receiver = receivers()
    configure_logging("debug", json=True)
    post(HttpCallbackSender(LOCAL, resolve=TO_LOOPBACK), receiver.url("/hook/s3cr3t-path?token=s3cr3t-query"))
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "callback.answer" in line]
    assert len(lines) == 1
    [line] = lines
    assert (line["host"], line["status"], line["error"]) == ("partner.example", 200, "")
    assert set(line) <= {"event", "level", "timestamp", "host", "status", "error", "elapsed_ms"}
    assert "s3cr3t" not in json.dumps(line) and "not for the logs" not in json.dumps(line)
