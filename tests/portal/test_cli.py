"""``vitalkey-portal`` as an operator runs it: migrate, user add, and serve in a real process."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.portal.web_support import CLI, PASSWORD, csrf_of, run_cli, serving, write_config


def test_migrate_then_add_a_user_then_serve_and_sign_in(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    migrated = run_cli("migrate", "--config", str(config))
    assert migrated.returncode == 0, migrated.stderr
    assert "The portal's database is at revision 0001." in migrated.stdout
    added = run_cli(
        "user", "add", "Ann", "--display-name", "Ann Example", "--timezone", "Europe/Paris",
        "--password-stdin", "--config", str(config), stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "Added ann (Ann Example, Europe/Paris)."
    with serving(config, port) as base, httpx.Client(base_url=base, follow_redirects=False) as browser:
        assert browser.get("/healthz").text == "ok"
        page = browser.get("/login")
        answer = browser.post(
            "/login", data={"username": "ann", "password": PASSWORD, "csrf_token": csrf_of(page.text)}
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        answer = browser.get("/")
        assert "Hello Ann Example." in answer.text
        assert "No data yet — link a device to see your weight, steps and sleep." in answer.text
        assert browser.head(f"{base}/notify/withings").status_code == 200
    log = config.with_suffix(".log").read_text()
    assert f"Health2Go portal on http://127.0.0.1:{port}" in log
    assert "sync worker started" in log and "sync worker stopped" in log  # in the same process
    assert PASSWORD not in log


def test_the_worker_runs_alone_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port(), run_worker=False)
    with subprocess.Popen(
        [CLI, "worker", "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        seen: list[str] = []
        while not any(line.startswith("Health2Go sync worker running (database sqlite:///") for line in seen):
            seen.append(process.stdout.readline())  # alembic's lines come first
            assert seen[-1] and len(seen) < 50, seen
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        assert "sync worker stopped" in "".join(seen) + process.stdout.read()


def test_user_add_refuses_bad_values_with_the_reason(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port())
    args = ("user", "add", "bob", "--display-name", "Bob", "--password-stdin", "--config", str(config))
    short = run_cli(*args, stdin="short\n")
    assert short.returncode == 1 and "A password is 8 to 1024 characters." in short.stderr
    zone = run_cli(*args, "--timezone", "Mars/Olympus", stdin=PASSWORD + "\n")
    assert zone.returncode == 1 and "Unknown time zone 'Mars/Olympus'" in zone.stderr
    assert run_cli(*args, stdin=PASSWORD + "\n").returncode == 0
    taken = run_cli(*args, stdin=PASSWORD + "\n")
    assert taken.returncode == 1 and "The username 'bob' is taken." in taken.stderr


def test_a_bad_setting_is_named_without_a_traceback(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port(), first_sync_days=0)
    answer = run_cli("migrate", "--config", str(config))
    assert answer.returncode == 1
    assert "first_sync_days must be from 1 to 3650" in answer.stderr and "Traceback" not in answer.stderr
