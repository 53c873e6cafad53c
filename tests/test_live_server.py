"""A real server process: the CLI starts it, 50 parallel right codes over HTTP give one session."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from tests.conftest import LiveServer, Mailbox, code_in, free_port, start_server, stop_server
from vitalkey.adapters.db import migrate
from vitalkey.adapters.db import schema as t


def call(
    url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"content-type": "application/json", **(headers or {})},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_fifty_parallel_right_codes_over_http(live_server: LiveServer, mailbox: Mailbox, sqlite_url: str) -> None:
    status, flow = call(live_server.url + "/api/v1/signup", {"email": "ann@example.org"})
    assert status == 201
    base = f"{live_server.url}/api/v1/signup/{flow['id']}"
    call(base + "/code", {"code": code_in(mailbox.wait_for("ann@example.org"))})
    call(base + "/policy", {"accept": True})
    call(
        base + "/details",
        {
            "first_name": "A",
            "last_name": "B",
            "birth_date": "1990-01-01",
            "sex": "female",
            "units": "metric",
            "height_cm": 170,
        },
    )
    call(base + "/two-factor", {"choice": "skip"})
    _, login = call(live_server.url + "/api/v1/login", {"email": "ann@example.org"})
    code = code_in(mailbox.wait_for("ann@example.org", 2))
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(
            pool.map(lambda _: call(f"{live_server.url}/api/v1/login/{login['id']}/code", {"code": code}), range(50))
        )
    assert sorted(status for status, _ in results).count(200) == 1
    assert all(status < 500 for status, _ in results)
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.sessions)).scalar_one() == 2  # sign-up + this one
    engine.dispose()


def test_the_http_server_neither_trusts_forwarded_addresses_nor_names_itself(
    live_server: LiveServer, mailbox: Mailbox
) -> None:
    """Which proxy may say who the client is is the app's setting (``trusted_proxies``, empty
    here), not the HTTP server's: a forged X-Forwarded-For from a local client changes nothing."""
    forged = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}
    _, flow = call(live_server.url + "/api/v1/signup", {"email": "bo@example.org"}, forged)
    base = f"{live_server.url}/api/v1/signup/{flow['id']}"
    call(base + "/code", {"code": code_in(mailbox.wait_for("bo@example.org"))}, forged)
    call(base + "/policy", {"accept": True}, forged)
    details = {"first_name": "B", "last_name": "O", "birth_date": "1990-01-01", "sex": "male", "units": "metric"}
    call(base + "/details", {**details, "height_cm": 180}, forged)
    status, done = call(base + "/two-factor", {"choice": "skip"}, forged)
    assert status == 200, done
    bearer = {**forged, "authorization": f"Bearer {done['session_token']}"}
    status, listed = call(live_server.url + "/api/v1/sessions", None, bearer)
    assert status == 200
    assert [session["ip"] for session in listed["sessions"]] == ["127.0.0.1"]
    with urllib.request.urlopen(live_server.url + "/healthz", timeout=10) as answer:
        assert answer.headers.get("server") is None
        assert answer.headers.get("x-content-type-options") == "nosniff"


def test_embedded_default_starts_and_prints_its_url(tmp_path: Path) -> None:
    port = free_port()
    server = start_server(tmp_path / "embedded", port, {"VITALKEY_DATABASE_URL": ""})
    try:
        assert (tmp_path / "embedded" / "vitalkey.sqlite3").exists()
        assert (tmp_path / "embedded" / "secret.key").stat().st_mode & 0o077 == 0
        status, _ = call(server.url + "/api/v1/signup", {"email": "dev@example.org"})
        assert status == 201
        for _ in range(100):
            with urllib.request.urlopen(
                urllib.request.Request(server.url + "/dev/mail", headers={"accept": "application/json"})
            ) as r:
                mails = json.loads(r.read())["mails"]
            if mails:
                break
            time.sleep(0.05)
        assert mails and mails[0]["recipient"] == "dev@example.org"
    finally:
        stop_server(server)
    assert f"http://127.0.0.1:{port}" in server.log.read_text()


def test_migrate_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    run = subprocess.run(
        [str(Path(sys.executable).with_name("vitalkey")), "migrate"],
        capture_output=True,
        text=True,
        env={"VITALKEY_DATABASE_URL": url, "VITALKEY_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert f"empty -> {migrate.HEAD}" in run.stdout
    again = subprocess.run(
        [str(Path(sys.executable).with_name("vitalkey")), "migrate"],
        capture_output=True,
        text=True,
        env={"VITALKEY_DATABASE_URL": url, "VITALKEY_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert f"{migrate.HEAD} -> {migrate.HEAD}" in again.stdout


def test_bad_configuration_is_a_clear_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [str(Path(sys.executable).with_name("vitalkey")), "serve"],
        capture_output=True,
        check=False,
        text=True,
        env={"VITALKEY_PORT": "eighty", "VITALKEY_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode != 0 and "port" in run.stderr and "Traceback" not in run.stderr
