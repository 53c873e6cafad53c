"""The demo's run: its folder and settings, VitalKey seeded, both servers, the live feed, the stop."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import httpx

from vitalkey.container import build
from vitalkey.demo import seed
from vitalkey.demo.health import DAYS, Devices, live_update
from vitalkey.demo.processes import Server, check_port_free, interrupts_as_keyboard, start_server, stop_servers, tail
from vitalkey.demo.setup import (
    PORTAL_USERNAME,
    DemoError,
    DemoOptions,
    DemoState,
    Layout,
    clean_environ,
    command,
    create_portal_user,
    portal_environ,
    portal_toml,
    prepare_folder,
    save_state,
    urls,
    vitalkey_environ,
)
from vitalkey.settings import load_settings

MAX_EVERY_S = 3000  # below the API session's idle timeout (3600 s): each send keeps it alive
# The portal's logo on VitalKey's consent page: VitalKey shows https logos only, so the demo
# (which serves the portal over plain http) registers none; see the README.
PORTAL_LOGO_URL = ""


# Seeding VitalKey ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Seeded:
    state: DemoState
    devices: Devices
    api_token: str


def seed_vitalkey(options: DemoOptions, layout: Layout, kept: DemoState | None) -> Seeded:
    """Everything VitalKey holds for the demo, before its server starts (one writer at a time)."""
    _, portal_url = urls(options)
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
    vitalkey_url, portal_url = urls(options)
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
    vitalkey_url, portal_url = urls(options)
    servers: list[Server] = []
    try:
        servers.append(
            start_server(
                "VitalKey",
                [command("vitalkey"), "serve"],
                {**clean_environ(), **vitalkey_environ(options, layout)},
                vitalkey_url,
                "/readyz",
                layout.log("vitalkey"),
            )
        )
        servers.append(
            start_server(
                "the portal",
                [command("vitalkey-portal"), "serve"],
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
                    raise DemoError(f"{server.name} stopped by itself; its output: {server.log}\n{tail(server.log)}")
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
