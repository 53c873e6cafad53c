"""``vitalkey demo`` as a newcomer runs it: a real process in a fresh folder, on free ports, with a
short ``--every``. What it prints is what the reader is told to use: the two URLs and the
sign-ins work, VitalKey serves the demo user's 90 days to the registered portal (read through the
partner API with a token the demo user granted), new weigh-ins arrive on schedule, and Ctrl-C
(SIGINT) stops both servers."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import LiveServer, Mailbox, free_port
from tests.e2e.live_oauth import WebUser, query_of

pytestmark = pytest.mark.slow

EVERY_S = 3
DEMO_EMAIL = "demo@example.org"
ZONE = ZoneInfo("Europe/Paris")


@dataclass
class DemoProcess:
    process: subprocess.Popen[str]
    folder: Path
    lines: list[str] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)  # when each line was read (monotonic)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self.stamps.append(time.monotonic())

    def wait_for_line(self, pattern: str, timeout: float, after: int = 0) -> int:
        """The index of the first line from ``after`` on matching ``pattern``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in range(after, len(self.lines)):
                if re.search(pattern, self.lines[index]):
                    return index
            if self.process.poll() is not None and not any(re.search(pattern, line) for line in self.lines[after:]):
                time.sleep(0.2)  # the reader thread's last lines
                if not any(re.search(pattern, line) for line in self.lines[after:]):
                    break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}; the demo printed:\n" + "\n".join(self.lines))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Demos:
    """Runs of ``vitalkey demo`` in one folder (the second may ``--keep`` the first's data)."""

    folder: Path
    port: int = field(default_factory=free_port)
    portal_port: int = field(default_factory=free_port)
    runs: list[tuple[DemoProcess, threading.Thread]] = field(default_factory=list)

    def start(self, *options: str) -> DemoProcess:
        env = {name: value for name, value in os.environ.items() if not name.startswith("VITALKEY_")}
        env["PYTHONUNBUFFERED"] = "1"
        command = [
            str(Path(sys.executable).with_name("vitalkey")),
            "demo",
            "--port", str(self.port),
            "--portal-port", str(self.portal_port),
            "--every", str(EVERY_S),
            *options,
        ]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=self.folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        running = DemoProcess(process, self.folder / "demo-data")
        reader = threading.Thread(target=running.read, daemon=True)
        reader.start()
        self.runs.append((running, reader))
        return running

    def stop_all(self) -> None:
        for running, reader in self.runs:
            process = running.process
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            reader.join(timeout=5)
            assert process.stdout is not None
            process.stdout.close()


@pytest.fixture
def demos(tmp_path: Path) -> Iterator[Demos]:
    runs = Demos(tmp_path)
    yield runs
    runs.stop_all()


class DevMailOutbox:
    """The demo's mail, read where its banner says: VitalKey's /dev/mail (the JSON of that page),
    with the test mailbox's interface (oldest first)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def to(self, address: str) -> list[EmailMessage]:
        answer = httpx.get(f"{self.url}/dev/mail", params={"to": address}, headers={"accept": "application/json"})
        messages = []
        for mail in reversed(answer.raise_for_status().json()["mails"]):
            message = EmailMessage()
            message["To"] = mail["recipient"]
            message["Subject"] = mail["subject"]
            message.set_content(mail["text"])
            messages.append(message)
        return messages

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.1)
        raise AssertionError(f"no mail #{count} to {address} at {self.url}/dev/mail")


def withings_all(http: httpx.Client, path: str, params: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """Every item of a Withings listing, following ``more`` and ``offset``."""
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        answer = http.get(path, params={**params, "offset": offset}).raise_for_status().json()
        assert answer["status"] == 0, answer
        items += answer["body"][key]
        if not answer["body"].get("more"):
            return items
        offset = answer["body"]["offset"]


def partner_token(vitalkey: str, portal: dict[str, Any], portal_url: str) -> str:
    """The demo user grants the registered portal access (signing in with the code from
    /dev/mail and allowing it), and the portal's code is exchanged as the portal would."""
    redirect_uri = f"{portal_url}/link-device/vitalkey/callback"
    query = {
        "response_type": "code",
        "client_id": portal["client_id"],
        "redirect_uri": redirect_uri,
        "scope": ",".join(portal["scopes"]),
        "state": "demo-test",
    }
    server = LiveServer(url=vitalkey, process=cast(Any, None), log=Path(), log_handle=None)
    user = WebUser(server, cast(Mailbox, DevMailOutbox(vitalkey)), DEMO_EMAIL)
    try:
        back = user.link(f"{vitalkey}/oauth2_user/authorize2?{urlencode(query)}")
    finally:
        user.close()
    assert back.startswith(redirect_uri + "?"), back
    assert user.visits.signed_in and user.visits.consent_page is not None
    assert "Health2Go" in user.visits.consent_page
    answer = httpx.post(
        f"{vitalkey}/v2/oauth2",
        data={
            "action": "requesttoken",
            "grant_type": "authorization_code",
            "client_id": portal["client_id"],
            "client_secret": portal["client_secret"],
            "code": query_of(back)["code"],
            "redirect_uri": redirect_uri,
        },
    ).json()
    assert answer["status"] == 0, answer
    return str(answer["body"]["access_token"])


def weigh_ins(http: httpx.Client, since: datetime) -> list[dict[str, Any]]:
    start, end = int(since.timestamp()), int(time.time()) + 60
    groups = withings_all(http, "/measure", {"action": "getmeas", "startdate": start, "enddate": end}, "measuregrps")
    return [group for group in groups if any(m["type"] == 1 for m in group["measures"])]


def test_the_demo_runs_both_servers_with_90_days_and_new_data_and_stops_on_ctrl_c(demos: Demos) -> None:
    # What an interrupted earlier run left (its folder has the demo's mark): started afresh.
    (demos.folder / "demo-data").mkdir()
    (demos.folder / "demo-data" / ".vitalkey-demo").write_text("")
    (demos.folder / "demo-data" / "leftover.txt").write_text("from an interrupted run")
    running, port, portal_port = demos.start(), demos.port, demos.portal_port
    vitalkey, portal_url = f"http://127.0.0.1:{port}", f"http://localhost:{portal_port}"
    running.wait_for_line(r"Ctrl-C stops both", timeout=180)
    banner = running.text
    assert not (running.folder / "leftover.txt").exists()
    # The URLs and the sign-ins it prints.
    assert re.search(rf"^\s+VitalKey\s+{re.escape(vitalkey)}$", banner, re.M), banner
    assert re.search(rf"^\s+Health2Go\s+{re.escape(portal_url)}$", banner, re.M), banner
    assert f"sign in as {DEMO_EMAIL} with the emailed code: the mails are at {vitalkey}/dev/mail" in banner
    password_line = re.search(r"sign in as (\S+) with the password (\S+)", banner)
    assert password_line, banner
    username, password = password_line.groups()
    assert username == "demo"
    # Both servers answer; the portal's sign-in takes the printed password.
    assert httpx.get(f"{vitalkey}/readyz").status_code == 200
    with httpx.Client(base_url=portal_url, follow_redirects=True, timeout=10) as browser:
        sign_in = browser.get("/")
        assert sign_in.status_code == 200 and "Health2Go" in sign_in.text
        found = re.search(r'name="csrf_token" value="([^"]+)"', sign_in.text)
        assert found, sign_in.text[:2000]
        form = {"csrf_token": found.group(1), "username": username, "password": password}
        signed_in = browser.post(str(sign_in.url), data=form)
        assert signed_in.status_code == 200, signed_in.text[:2000]
        assert "Link Device" in signed_in.text and "Alex Martin" in signed_in.text
    # VitalKey serves the demo user's 90 days to the registered portal.
    portal = tomllib.loads((running.folder / "portal.toml").read_text())["providers"][0]
    assert (portal["api_url"], portal["authorize_url"]) == (vitalkey, f"{vitalkey}/oauth2_user/authorize2")
    assert portal["signs_notifications"] is True
    token = partner_token(vitalkey, portal, portal_url)
    today = datetime.now(ZONE).date()
    first = today - timedelta(days=89)
    with httpx.Client(base_url=vitalkey, headers={"authorization": f"Bearer {token}"}, timeout=10) as partner:
        days = {"startdateymd": (first - timedelta(days=5)).isoformat(), "enddateymd": today.isoformat()}
        activity = withings_all(partner, "/v2/measure", {"action": "getactivity", **days}, "activities")
        assert sorted(day["date"] for day in activity) == [(first + timedelta(days=n)).isoformat() for n in range(90)]
        assert all(day["steps"] > 0 for day in activity[:-1])
        nights = withings_all(partner, "/v2/sleep", {"action": "getsummary", **days}, "series")
        night_days = sorted({night["date"] for night in nights})
        assert night_days[0] == first.isoformat() and len(night_days) in (89, 90)  # tonight's may not be over
        assert all(night["data"]["total_sleep_time"] > 5 * 3600 for night in nights)
        workouts = withings_all(partner, "/v2/measure", {"action": "getworkouts", **days}, "series")
        assert 2 * 12 <= len(workouts) <= 4 * 13  # about three a week
        history = weigh_ins(partner, datetime.combine(first - timedelta(days=5), datetime.min.time(), ZONE))
        scale_days = sorted({datetime.fromtimestamp(g["date"], ZONE).date() for g in history})
        assert scale_days[0] == first and len(scale_days) in (89, 90)  # today's may still be ahead
        trend = [g for g in history if datetime.fromtimestamp(g["date"], ZONE).date() < today]
        kilos = [next(m["value"] * 10 ** m["unit"] for m in g["measures"] if m["type"] == 1) for g in trend]
        assert 80 < kilos[0] < 90 and kilos[-1] < kilos[0] - 1.5  # a gentle loss over three months
        assert {m["type"] for m in history[0]["measures"]} >= {1, 5, 6, 8, 11, 76, 77, 88}
        # A new weigh-in arrives every EVERY_S seconds.
        printed = running.wait_for_line(r"a new weigh-in and today's steps sent to VitalKey", timeout=EVERY_S + 10)
        since = datetime.now(UTC) - timedelta(minutes=5)
        seen = len(weigh_ins(partner, since))
        next_line = running.wait_for_line(r"a new weigh-in", timeout=EVERY_S + 10, after=printed + 1)
        assert EVERY_S - 1 <= running.stamps[next_line] - running.stamps[printed] <= EVERY_S + 2
        latest = weigh_ins(partner, since)
        assert len(latest) > seen
        assert abs(latest[-1]["date"] - time.time()) < EVERY_S + 5
    assert "refused" not in running.text and "could not send" not in running.text
    # Ctrl-C stops both servers.
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(timeout=30) == 0
    running.wait_for_line(r"^Both servers stopped\.$", timeout=5)  # each ended by itself after SIGTERM
    assert "Application shutdown complete." in (running.folder / "portal.log").read_text()
    for url in (vitalkey, portal_url):
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/", timeout=2)

    # --keep: the same data and sign-ins again, nothing seeded anew; the new data goes on.
    kept = demos.start("--keep")
    kept.wait_for_line(r"Ctrl-C stops both", timeout=120)
    assert "Seeding" not in kept.text and "Sending the demo user's data since the last run" in kept.text
    assert f"sign in as demo with the password {password}" in kept.text
    with httpx.Client(base_url=vitalkey, headers={"authorization": f"Bearer {token}"}, timeout=10) as partner:
        assert weigh_ins(partner, since)[: len(latest)] == latest
        kept.wait_for_line(r"a new weigh-in and today's steps sent to VitalKey", timeout=EVERY_S + 10)
        assert len(weigh_ins(partner, since)) > len(latest)
    kept.process.send_signal(signal.SIGINT)
    assert kept.process.wait(timeout=30) == 0


def test_the_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "demo-data").mkdir()
    (tmp_path / "demo-data" / "notes.txt").write_text("mine")
    env = {name: value for name, value in os.environ.items() if not name.startswith("VITALKEY_")}
    command = [str(Path(sys.executable).with_name("vitalkey")), "demo", "--port", str(free_port())]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "holds files no demo made (no .vitalkey-demo); nothing was deleted" in done.stderr
    assert (tmp_path / "demo-data" / "notes.txt").read_text() == "mine"


def test_the_demo_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {name: value for name, value in os.environ.items() if not name.startswith("VITALKEY_")}
        command = [
            str(Path(sys.executable).with_name("vitalkey")), "demo", "--port", str(free_port()), "--portal-port", str(port)
        ]  # fmt: skip
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert f"port {port} (for the portal) is in use" in done.stderr
    assert not (tmp_path / "demo-data").exists()
