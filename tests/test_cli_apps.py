"""`vitalkey apps list|add`: the registered apps and their 2FA support, from the command line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from vitalkey.cli import main


def test_apps_are_listed_and_added(tmp_path: Path) -> None:
    env = {"VITALKEY_DATA_DIR": str(tmp_path), "VITALKEY_SECRET_KEY": "cli-test-secret-0123456789abcdef"}
    runner = CliRunner(env=env)
    assert runner.invoke(main, ["migrate"]).exit_code == 0  # the data the server would have made
    listed = runner.invoke(main, ["apps", "list"])
    assert listed.exit_code == 0, listed.output
    assert "vitalkey-app" in listed.output and "vitalkey-home-camera" in listed.output
    added = runner.invoke(main, ["apps", "add", "coach-pro", "--name", "Coach Pro", "--no-2fa", "--third-party"])
    assert added.exit_code == 0 and "does not support 2FA" in added.output
    line = next(row for row in runner.invoke(main, ["apps", "list"]).output.splitlines() if "coach-pro" in row)
    assert line.split()[1:3] == ["no", "third"] and line.endswith("Coach Pro")
    again = runner.invoke(main, ["apps", "add", "coach-pro", "--name", "Other"])
    assert again.exit_code != 0 and "app_exists" in again.output


def test_client_commands_print_the_secret_once(tmp_path: Path) -> None:
    env = {"VITALKEY_DATA_DIR": str(tmp_path), "VITALKEY_SECRET_KEY": "cli-test-secret-0123456789abcdef"}
    runner = CliRunner(env=env)
    assert runner.invoke(main, ["migrate"]).exit_code == 0  # the data the server would have made
    created = runner.invoke(
        main,
        [
            "client", "create", "--name", "Acme Portal",
            "--redirect-uri", "https://portal.example.com/callback",
            "--scope", "user.info,user.metrics", "--scope", "user.activity",
        ],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    client_id = created.output.split("client_id:")[1].split()[0]
    secret = created.output.split("client_secret:")[1].split()[0]
    shown = runner.invoke(main, ["client", "show", client_id])
    assert "confidential (has a secret)" in shown.output and "user.info user.metrics user.activity" in shown.output
    assert secret not in shown.output and secret not in runner.invoke(main, ["client", "list"]).output
    rotated = runner.invoke(main, ["client", "rotate-secret", client_id])
    assert rotated.exit_code == 0 and rotated.output.split("client_secret:")[1].split()[0] != secret
    bad = runner.invoke(
        main, ["client", "create", "--name", "X", "--redirect-uri", "http://x.example/cb", "--scope", "user.info"]
    )
    assert bad.exit_code != 0 and "invalid_client_metadata" in bad.output
    assert runner.invoke(main, ["client", "delete", client_id]).exit_code == 0
    assert runner.invoke(main, ["client", "show", client_id]).exit_code != 0


def test_signing_keys_rotate_and_everything_sealed_reseals(tmp_path: Path) -> None:
    env = {"VITALKEY_DATA_DIR": str(tmp_path), "VITALKEY_SECRET_KEY": "cli-test-secret-0123456789abcdef"}
    runner = CliRunner(env=env)
    assert runner.invoke(main, ["migrate"]).exit_code == 0  # the data the server would have made
    first = runner.invoke(main, ["keys", "rotate"])
    assert first.exit_code == 0 and "(ES256)" in first.output, first.output
    second = runner.invoke(main, ["keys", "rotate", "--alg", "RS256"])
    assert "(RS256)" in second.output
    created = runner.invoke(
        main, ["client", "create", "--name", "P", "--redirect-uri", "https://p.example/cb", "--scope", "user.info"]
    )
    assert created.exit_code == 0
    resealed = runner.invoke(main, ["keys", "reseal"])
    assert "resealed 1 in apps" in resealed.output and "resealed 2 in signing_keys" in resealed.output
