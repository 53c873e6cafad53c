"""The demo's run: its data folder, the two servers as child processes, the live feed, the stop."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import IO

import httpx

from vitalkey.container import build
from vitalkey.demo import seed
from vitalkey.demo.health import DAYS, Devices, live_update
from vitalkey.settings import load_settings

STATE_FILE = "demo.json"  # what a kept demo needs again, written once the seeding is done
MARK_FILE = ".vitalkey-demo"  # the folder is the demo's (written first): a later run may empty it
PORTAL_USERNAME = "demo"
PORTAL_DISPLAY_NAME = "Alex Martin"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
NOTIFY_COALESCE_S = 2  # the portal hears of a change within seconds, not VitalKey's default 10
MAX_EVERY_S = 3000  # below the API session's idle timeout (3600 s): each send keeps it alive
# The portal's logo on VitalKey's consent page: VitalKey shows https logos only, so the demo
# (which serves the portal over plain http) registers none; see the README.
PORTAL_LOGO_URL = ""


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    port: int = 8000
    portal_port: int = 8100
    keep: bool = False
    every_s: float = 60.0
    folder: Path = Path("demo-data")


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the demo keeps things, inside its folder."""

    root: Path

    @property
    def vitalkey(self) -> Path:
        return self.root / "vitalkey"

    @property
    def portal(self) -> Path:
        return self.root / "portal"

    @property
    def portal_config(self) -> Path:
        return self.root / "portal.toml"

    @property
    def state(self) -> Path:
        return self.root / STATE_FILE

    @property
    def mark(self) -> Path:
        return self.root / MARK_FILE

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"


@dataclass(frozen=True, slots=True)
class DemoState:
    """What the first run made, kept in ``demo.json`` for ``--keep``."""

    account_id: int
    client_id: str
    client_secret: str
    first_day: str  # the first of the seeded days (the weight trend starts there)
    history_until: str  # the moment the history was sent up to (a kept demo sends what followed)
    portal_password: str


def _urls(options: DemoOptions) -> tuple[str, str]:
    # The portal on "localhost", VitalKey on "127.0.0.1": two sites, so the browser keeps
    # their cookies apart (cookies ignore ports) as it would for two real domains.
    return f"http://127.0.0.1:{options.port}", f"http://localhost:{options.portal_port}"


def _clean_environ() -> dict[str, str]:
    """This process's environment without any VITALKEY_* setting: the demo runs on its own data."""
    return {name: value for name, value in os.environ.items() if not name.startswith("VITALKEY_")}


def vitalkey_environ(options: DemoOptions, layout: Layout) -> dict[str, str]:
    vitalkey_url, _ = _urls(options)
    return {
        "VITALKEY_DATA_DIR": str(layout.vitalkey),
        "VITALKEY_DEV_MODE": "true",
        "VITALKEY_HOST": "127.0.0.1",
        "VITALKEY_PORT": str(options.port),
        "VITALKEY_PUBLIC_URL": vitalkey_url,
        "VITALKEY_MAIL_CONSOLE": "false",  # the codes are at /dev/mail; the console shows the demo
        "VITALKEY_NOTIFY_ALLOW_HTTP": "true",  # the portal's callback is http://localhost:…
        "VITALKEY_NOTIFY_ALLOW_LOCAL": "true",
        "VITALKEY_NOTIFY_COALESCE_S": str(NOTIFY_COALESCE_S),
        "VITALKEY_LOG_LEVEL": "warning",
    }


def _toml_string(value: str) -> str:
    # A JSON string is a TOML basic string: the same quotes and escapes (\uXXXX for control
    # characters); other characters are written as they are (TOML has no surrogate escapes).
    return json.dumps(value, ensure_ascii=False)


def portal_toml(options: DemoOptions, layout: Layout, state: DemoState) -> str:
    """The portal's settings: itself, and VitalKey as a Withings-compatible provider."""
    vitalkey_url, portal_url = _urls(options)
    top = {
        "brand": "Health2Go",
        "public_url": portal_url,
        "host": "127.0.0.1",
        "port": options.portal_port,
        "dev_mode": True,
        "data_dir": str(layout.portal),
        "timezone": seed.DEMO_TIMEZONE,
    }
    provider = {
        "slug": "vitalkey",
        "name": "VitalKey",
        "logo": "logos/tracker.svg",
        "kind": "withings",
        "authorize_url": f"{vitalkey_url}/oauth2_user/authorize2",
        "api_url": vitalkey_url,
        "client_id": state.client_id,
        "client_secret": state.client_secret,
        "scopes": list(seed.PORTAL_SCOPES),
        "signs_notifications": True,
        "revocation": "withings",
    }
    lines = ["# Written by `vitalkey demo` (made again on each run)."]
    lines += [f"{key} = {_toml_value(value)}" for key, value in top.items()]
    lines += ["", "[[providers]]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in provider.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_string(str(item)) for item in value) + "]"
    return _toml_string(str(value))


# The data folder -----------------------------------------------------------------------------------
def prepare_folder(layout: Layout, keep: bool) -> DemoState | None:
    """The kept state (``--keep`` on a folder a whole demo run made), or None after making the
    folder afresh. A folder without the demo's mark is someone else's: it is never emptied."""
    root = layout.root
    if keep and layout.state.exists():
        try:
            return DemoState(**json.loads(layout.state.read_text()))
        except (ValueError, TypeError):
            raise DemoError(f"{layout.state} cannot be read; run the demo without --keep to start afresh") from None
    if root.exists():
        if not layout.mark.exists() and any(root.iterdir()):
            raise DemoError(
                f"{root} holds files no demo made (no {MARK_FILE}); nothing was deleted. Use another folder."
            )
        shutil.rmtree(root)
    root.mkdir(parents=True)
    layout.mark.write_text("Made by `vitalkey demo`: emptied at its next run (unless --keep).\n")
    return None


def save_state(layout: Layout, state: DemoState) -> None:
    layout.state.write_text(json.dumps(asdict(state), indent=1))
    layout.state.chmod(0o600)  # it holds the portal's client secret and the portal user's password


# Seeding VitalKey ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Seeded:
    state: DemoState
    devices: Devices
    api_token: str


def seed_vitalkey(options: DemoOptions, layout: Layout, kept: DemoState | None) -> Seeded:
    """Everything VitalKey holds for the demo, before its server starts (one writer at a time)."""
    _, portal_url = _urls(options)
    container = build(load_settings(environ=vitalkey_environ(options, layout)))
    try:
        if kept is not None:
            devices = seed.devices_of(container, kept.account_id)
            now = datetime.now(UTC)
            print("Sending the demo user's data since the last run …", flush=True)
            first_day = date.fromisoformat(kept.first_day)
            seed.seed_history(
                container, kept.account_id, devices, now, first_day, datetime.fromisoformat(kept.history_until)
            )
            kept = replace(kept, history_until=now.isoformat())
            return Seeded(kept, devices, seed.api_session(container, kept.account_id))
        client = seed.register_portal(container, portal_url, PORTAL_LOGO_URL)
        account = seed.create_user(container)
        devices = seed.pair_devices(container, account.id)
        print(f"Seeding {DAYS} days of health data for {seed.DEMO_EMAIL} …", flush=True)
        now = datetime.now(UTC)
        first_day = seed.seed_history(container, account.id, devices, now)
        state = DemoState(
            account_id=account.id,
            client_id=client.client_id,
            client_secret=client.secret,
            first_day=first_day.isoformat(),
            history_until=now.isoformat(),
            portal_password=secrets.token_hex(6),
        )
        return Seeded(state, devices, seed.api_session(container, account.id))
    finally:
        container.close()


# The portal, through its command line ----------------------------------------------------------------
def _command(name: str) -> str:
    """A console script of this installation (beside this Python), else from PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise DemoError(f"cannot find the {name} command (install VitalKey with ./vk demo)")
    return found


def portal_environ(layout: Layout) -> dict[str, str]:
    return {**_clean_environ(), "VITALKEY_PORTAL_CONFIG": str(layout.portal_config)}


def create_portal_user(layout: Layout, state: DemoState) -> None:
    portal = _command("vitalkey-portal")
    env = portal_environ(layout)
    for args, stdin in (
        (["migrate"], None),
        (
            ["user", "add", PORTAL_USERNAME, "--display-name", PORTAL_DISPLAY_NAME, "--timezone", seed.DEMO_TIMEZONE,
             "--password-stdin"],
            state.portal_password + "\n",
        ),
    ):  # fmt: skip
        done = subprocess.run(  # noqa: S603 (this installation's own command, arguments of our own)
            [portal, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise DemoError(f"vitalkey-portal {args[0]} failed: {(done.stderr or done.stdout).strip()}")


# The servers ---------------------------------------------------------------------------------------
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
                raise DemoError(f"{name} stopped at its start; its output: {log}\n{_tail(log)}")
            try:
                if httpx.get(url + ready_path, timeout=2).status_code < 500:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise DemoError(f"{name} did not answer within {READY_TIMEOUT_S:.0f} s; its output: {log}\n{_tail(log)}")
    except BaseException:  # Ctrl-C while it starts included: it runs in its own session, so stop it here
        stop_servers([server])
        raise


def _tail(log: Path, lines: int = 15) -> str:
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


# The live feed ---------------------------------------------------------------------------------------
def send_update(
    http: httpx.Client, devices: Devices, first_day: date, since: datetime, now: datetime
) -> tuple[bool, str]:
    """One batch as the companion app sends it at ``now``: whether it was stored, and a line
    saying what happened (no health values)."""
    body = live_update(devices, now, first_day, since)
    headers = {"Idempotency-Key": f"demo-live-{int(now.timestamp())}"}
    try:
        answer = http.post("/api/v1/health/batches", json=body, headers=headers)
    except httpx.HTTPError as exc:
        return False, f"could not send the new data to VitalKey ({type(exc).__name__}); trying again next time"
    stamp = datetime.now().strftime("%H:%M:%S")
    if answer.status_code == 401:  # the session idled out: the computer slept for over an hour
        return False, f"{stamp} VitalKey ended the demo user's app session; restart the demo with --keep to go on"
    if answer.status_code != 201:
        return False, f"{stamp} VitalKey refused the new data: {answer.status_code} {answer.text[:200]}"
    return True, f"{stamp} a new weigh-in and today's steps sent to VitalKey"


def banner(options: DemoOptions, layout: Layout, state: DemoState) -> str:
    vitalkey_url, portal_url = _urls(options)
    every = f"{options.every_s:g} seconds" if options.every_s != 60 else "minute"
    return f"""
VitalKey and the Health2Go portal are running (Ctrl-C stops both).

  VitalKey  {vitalkey_url}
    sign in as {seed.DEMO_EMAIL} with the emailed code: the mails are at {vitalkey_url}/dev/mail
    (texts for two-factor sign-in at {vitalkey_url}/dev/sms; notifications sent at {vitalkey_url}/dev/notifications)

  Health2Go {portal_url}
    sign in as {PORTAL_USERNAME} with the password {state.portal_password}
    then the four-square menu → Link Device → VitalKey → Link Device (on a phone: Settings → Connected App → Apps)

The demo user has a scale, a wearable and a sleep monitor with {DAYS} days of data; a new weigh-in and
today's steps arrive every {every}. Data and logs: {layout.root}
""".rstrip()


def run(options: DemoOptions) -> int:
    """The demo, until Ctrl-C (0), or DemoError; Ctrl-C before the servers run stops it at once."""
    with interrupts_as_keyboard():
        return _run(options)


def _run(options: DemoOptions) -> int:
    if not 1 <= options.every_s <= MAX_EVERY_S:
        raise DemoError(f"--every must be from 1 to {MAX_EVERY_S} seconds")
    check_port_free(options.port, "VitalKey", "--port")
    check_port_free(options.portal_port, "the portal", "--portal-port")
    if options.port == options.portal_port:
        raise DemoError("--port and --portal-port must differ")
    layout = Layout(options.folder.expanduser().resolve())
    kept = prepare_folder(layout, options.keep)
    seeded = seed_vitalkey(options, layout, kept)
    state = seeded.state
    save_state(layout, state)
    layout.portal_config.write_text(portal_toml(options, layout, state))
    layout.portal_config.chmod(0o600)  # the client secret
    if kept is None:
        create_portal_user(layout, state)
    vitalkey_url, portal_url = _urls(options)
    servers: list[Server] = []
    try:
        servers.append(
            start_server(
                "VitalKey",
                [_command("vitalkey"), "serve"],
                {**_clean_environ(), **vitalkey_environ(options, layout)},
                vitalkey_url,
                "/readyz",
                layout.log("vitalkey"),
            )
        )
        servers.append(
            start_server(
                "the portal",
                [_command("vitalkey-portal"), "serve"],
                portal_environ(layout),
                portal_url,
                "/healthz",
                layout.log("portal"),
            )
        )
        print(banner(options, layout, state), flush=True)
        feed(options, layout, servers, seeded)
    except KeyboardInterrupt:
        print("\nStopping both servers …", flush=True)
    finally:
        unclean = stop_servers(servers)
    if unclean:
        print("\n".join(unclean), flush=True)
        return 1
    print("Both servers stopped.", flush=True)
    return 0


def feed(options: DemoOptions, layout: Layout, servers: list[Server], seeded: Seeded) -> None:
    """Every ``every_s`` seconds the companion app's new data; returns (raises) only on Ctrl-C,
    or raises DemoError when a server stopped by itself. What was sent is noted in the state, so
    that a kept demo sends what followed."""
    state = seeded.state
    first_day = date.fromisoformat(state.first_day)
    headers = {"Authorization": f"Bearer {seeded.api_token}"}
    with httpx.Client(base_url=servers[0].url, headers=headers, timeout=10) as http:
        due = time.monotonic() + options.every_s
        while True:
            for server in servers:
                if server.process.poll() is not None:
                    raise DemoError(f"{server.name} stopped by itself; its output: {server.log}\n{_tail(server.log)}")
            if time.monotonic() >= due:
                now = datetime.now(UTC)
                since = datetime.fromisoformat(state.history_until)
                stored, line = send_update(http, seeded.devices, first_day, since, now)
                print(line, flush=True)
                if stored:
                    state = replace(state, history_until=now.isoformat())
                    save_state(layout, state)
                due += options.every_s
                if due < time.monotonic():  # behind (the computer slept): no burst to catch up
                    due = time.monotonic() + options.every_s
            time.sleep(min(0.5, max(0.0, due - time.monotonic())))
