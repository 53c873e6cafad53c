"""The command line works on the server's data, from any folder, and never makes a new empty one.

The real ``vitalkey`` command in its own process, as a newcomer runs it, from another folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.conftest import free_port, start_server, stop_server

VITALKEY = str(Path(sys.executable).with_name("vitalkey"))
PROJECT = Path(__file__).resolve().parent.parent


def environment(**variables: str) -> dict[str, str]:
    """This process's environment without any VitalKey setting, plus ``variables``."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("VITALKEY_")}
    return {**clean, "VITALKEY_LOG_LEVEL": "warning", **variables}


def run(*argv: str, cwd: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def vitalkey(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run(VITALKEY, *args, cwd=cwd, env=env)


CREATE = [
    "client",
    "create",
    "--name",
    "Acme Portal",
    "--redirect-uri",
    "https://portal.example/cb",
    "--scope",
    "user.info",
]


def test_a_command_from_another_folder_works_on_the_running_servers_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, free_port(), {"VITALKEY_MAIL_CONSOLE": "false"})
    try:
        started = server.log.read_text()
        assert f"No VitalKey data in {data} yet: creating the database and the server key there" in started
        assert "(dev mode: mail at /dev/mail, texts at /dev/sms; public URL" in started
        assert f"Data folder: {data}" in started
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        created = vitalkey(*CREATE, cwd=elsewhere, env=environment(VITALKEY_DATA_DIR=str(data)))
        assert created.returncode == 0, created.stderr
        client_id = created.stdout.split("client_id:")[1].split()[0]
        with urllib.request.urlopen(server.url + "/api/v1/apps", timeout=10) as answer:
            apps = json.loads(answer.read())["apps"]
        assert client_id in [app["client_id"] for app in apps]  # the running server knows it
        assert list(elsewhere.iterdir()) == []
    finally:
        stop_server(server)


def test_without_data_a_command_refuses_names_the_folder_and_creates_nothing(tmp_path: Path) -> None:
    env = environment()
    for command in (CREATE, ["client", "list"], ["apps", "list"], ["keys", "rotate"], ["keys", "reseal"], ["worker"]):
        refused = vitalkey(*command, cwd=tmp_path, env=env)
        assert refused.returncode == 1, (command, refused.stdout)
        assert (
            f"Error: No VitalKey data in {tmp_path / 'vitalkey-data'} (no database and no server key there); "
            "nothing was created. Start the server once with ./vk serve (or run the migrate command), or set "
            "VITALKEY_DATA_DIR or --config to the server's data folder."
        ) in refused.stderr, command
        assert list(tmp_path.iterdir()) == []
    # A configured folder that holds no data yet: refused too, and left empty.
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = vitalkey("client", "list", cwd=tmp_path, env=environment(VITALKEY_DATA_DIR=str(empty)))
    assert refused.returncode == 1 and f"No VitalKey data in {empty} " in refused.stderr
    assert list(empty.iterdir()) == []
    # migrate makes the data, saying where; then the commands work on it.
    made = vitalkey("migrate", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "vitalkey-data"
    assert f"No VitalKey data in {folder} yet: creating the database and the server key there" in made.stdout
    assert sorted(path.name for path in folder.iterdir()) == ["secret.key", "vitalkey.sqlite3"]
    listed = vitalkey("client", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0 and "vitalkey-app" in listed.stdout, listed.stderr


def test_vk_cli_runs_the_command_line_in_the_servers_environment(tmp_path: Path) -> None:
    # The first run installs the server's environment (.venv-serve), as ./vk serve does.
    ran = run(str(PROJECT / "vk"), "cli", "--help", cwd=tmp_path, env=environment(), timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert "client" in ran.stdout and "Usage: vitalkey" in ran.stdout
    data = tmp_path / "data"
    listed = run(
        str(PROJECT / "vk"), "cli", "client", "list", cwd=tmp_path, env=environment(VITALKEY_DATA_DIR=str(data))
    )
    assert listed.returncode == 1 and f"No VitalKey data in {data} " in listed.stderr
