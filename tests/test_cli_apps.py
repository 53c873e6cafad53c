"""`vitalkey apps list|add`: the registered apps and their 2FA support, from the command line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from vitalkey.cli import main


def test_apps_are_listed_and_added(tmp_path: Path) -> None:
    env = {"VITALKEY_DATA_DIR": str(tmp_path), "VITALKEY_SECRET_KEY": "cli-test-secret-0123456789abcdef"}
    runner = CliRunner(env=env)
    listed = runner.invoke(main, ["apps", "list"])
    assert listed.exit_code == 0, listed.output
    assert "vitalkey-app" in listed.output and "vitalkey-home-camera" in listed.output
    added = runner.invoke(main, ["apps", "add", "coach-pro", "--name", "Coach Pro", "--no-2fa", "--third-party"])
    assert added.exit_code == 0 and "does not support 2FA" in added.output
    line = next(row for row in runner.invoke(main, ["apps", "list"]).output.splitlines() if "coach-pro" in row)
    assert line.split()[1:3] == ["no", "third"] and line.endswith("Coach Pro")
    again = runner.invoke(main, ["apps", "add", "coach-pro", "--name", "Other"])
    assert again.exit_code != 0 and "app_exists" in again.output
