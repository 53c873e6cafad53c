"""The demo's two servers as child processes: started in their own sessions (Ctrl-C reaches
the demo, which stops them in order), their output in log files, stopped cleanly."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

import httpx

from vitalkey.demo.setup import DemoError

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


def check_port_free(port: int, what: str, option: str) -> None:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise DemoError(
                f"port {port} (for {what}) is in use: stop what uses it or pick another with {option}"
            ) from None


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    log_handle: IO[bytes]


def start_server(name: str, command: list[str], env: dict[str, str], url: str, ready_path: str, log: Path) -> Server:
    """A child process in its own session (Ctrl-C reaches the demo, which stops its servers in
    order), its output in ``log``; returns once ``ready_path`` answers below 500."""
    handle = log.open("ab")
    process = subprocess.Popen(  # noqa: S603 (this installation's own commands)
        command, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    server = Server(name, url, process, log, handle)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DemoError(f"{name} stopped at its start; its output: {log}\n{tail(log)}")
            try:
                if httpx.get(url + ready_path, timeout=2).status_code < 500:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise DemoError(f"{name} did not answer within {READY_TIMEOUT_S:.0f} s; its output: {log}\n{tail(log)}")
    except BaseException:  # Ctrl-C while it starts included: it runs in its own session, so stop it here
        stop_servers([server])
        raise


def tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def stop_servers(servers: list[Server]) -> list[str]:
    """SIGTERM (each server shuts down cleanly), then SIGKILL for one that does not within 10 s;
    the ones that did not end cleanly, each with how it ended."""
    for server in servers:
        if server.process.poll() is None:
            server.process.terminate()
    unclean = []
    for server in servers:
        try:
            code = server.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
            unclean.append(f"{server.name} did not stop within {STOP_TIMEOUT_S:.0f} s and was killed")
        else:
            if code not in (0, -signal.SIGTERM):  # uvicorn ends by the signal once it has shut down
                unclean.append(f"{server.name} ended with exit status {code} (its output: {server.log})")
        server.log_handle.close()
    return unclean


@contextmanager
def interrupts_as_keyboard() -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM stop the demo. SIGINT is set explicitly: a shell starts a
    background command with it ignored, and Python then leaves it so."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
