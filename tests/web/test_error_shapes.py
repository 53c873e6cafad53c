"""Every error on a JSON or OAuth path is JSON in that path's shape, unexpected ones included; an
unreachable database is a 503 with Retry-After, never a 500; tracebacks are one JSON field."""

from __future__ import annotations

import io
import json
import logging
import shutil
from contextlib import redirect_stderr
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.web.conftest import post_form
from vitalkey.adapters.mail.senders import SmtpSender
from vitalkey.container import build
from vitalkey.observability import capture_process_errors, configure_logging
from vitalkey.web.app import create_app

TOKEN_FORM = {"grant_type": "refresh_token", "refresh_token": "1.x", "client_id": "nobody", "client_secret": "s"}
WITHINGS_FORM = {"action": "requesttoken", **TOKEN_FORM}


def assert_json(answer: object, status: int) -> dict[str, object]:
    assert answer.status_code == status, answer.text  # type: ignore[attr-defined]
    assert answer.headers["content-type"].startswith("application/json")  # type: ignore[attr-defined]
    body: dict[str, object] = answer.json()  # type: ignore[attr-defined]
    return body


def test_not_found_and_wrong_method_are_json_on_json_and_oauth_paths(client: TestClient) -> None:
    assert assert_json(client.get("/api/v1/nothing"), 404)["error"] == "not_found"
    assert assert_json(client.get("/api/v1/login"), 405)["error"] == "method_not_allowed"
    assert assert_json(client.get("/oauth2/nothing"), 404)["error"] == "not_found"
    wrong = client.get("/oauth2/token")
    assert assert_json(wrong, 405) == {
        "error": "invalid_request",
        "error_description": "This method is not allowed here.",
    }
    assert wrong.headers["allow"] == "POST"
    assert assert_json(client.put("/oauth2/userinfo"), 405)["error"] == "invalid_request"
    assert assert_json(client.get("/.well-known/nothing"), 404)["error"] == "not_found"
    assert assert_json(client.get("/v2/nothing"), 404)["status"] == 2554
    assert assert_json(client.get("/v2/oauth2"), 405)["status"] == 2554
    # Pages stay pages.
    page = client.get("/nothing-here")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert client.get("/oauth2/authorize/x/y").headers["content-type"].startswith("text/html")


def test_a_body_too_large_is_json_on_the_token_endpoints(client: TestClient) -> None:
    big = {"refresh_token": "x" * 70_000}
    assert assert_json(client.post("/oauth2/token", data=big), 413)["error"] == "invalid_request"
    assert assert_json(client.post("/v2/oauth2", data=big), 413)["status"] == 503


def test_an_unexpected_error_is_json_on_every_json_and_oauth_path(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    container = client.app.state.container  # type: ignore[attr-defined]
    for target in (container.login, "start"), (container.oauth, "prepare_token"), (container.oauth, "revoke"):
        monkeypatch.setattr(*target, broken)
    for target in (container.oauth, "metadata"), (container.oauth, "jwks"), (container.withings, "prepare_oauth2"):
        monkeypatch.setattr(*target, broken)
    assert assert_json(client.post("/api/v1/login", json={"email": "a@example.org"}), 500)["error"] == "server_error"
    for path in ("/oauth2/token", "/oauth2/revoke"):
        body = assert_json(client.post(path, data=TOKEN_FORM), 500)
        assert body == {
            "error": "server_error",
            "error_description": "Something went wrong on our side. Please try again.",
        }
    assert assert_json(client.get("/oauth2/jwks"), 500)["error"] == "server_error"
    assert assert_json(client.get("/.well-known/openid-configuration"), 500)["error"] == "server_error"
    withings = assert_json(client.post("/v2/oauth2", data=WITHINGS_FORM), 500)
    assert withings["status"] == 5000 and withings["error"]
    assert client.post("/v2/oauth2", data=WITHINGS_FORM).headers["x-request-id"]


def test_an_unexpected_error_logs_one_json_line_with_its_traceback_and_no_values(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret-value-123")

    monkeypatch.setattr(client.app.state.container.login, "start", broken)  # type: ignore[attr-defined]
    stream = io.StringIO()
    with redirect_stderr(stream):
        configure_logging("warning", json=True)
        client.post("/api/v1/login", json={"email": "a@example.org"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (event,) = [line for line in lines if line["event"] == "unhandled"]
    (stack,) = event["exception"]
    assert stack["exc_type"] == "RuntimeError" and "exc_value" not in stack
    assert any(frame["name"] == "broken" for frame in stack["frames"])
    assert "secret-value-123" not in stream.getvalue()


def test_other_libraries_log_one_json_line_per_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's "Exception in ASGI application", asyncio's and SQLAlchemy's pool's errors and
    a dying thread: all through the same JSON renderer, never multi-line text."""
    import threading

    monkeypatch.setattr(threading, "excepthook", threading.excepthook)  # given back afterwards
    stream = io.StringIO()
    with redirect_stderr(stream):
        configure_logging("warning", json=True)
        capture_process_errors()
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
        logging.getLogger("noisy.library").debug("below warning: not logged")
        thread = threading.Thread(target=lambda: 1 / 0, name="doomed")
        thread.start()
        thread.join()
    logging.captureWarnings(False)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["Exception in ASGI application", "thread_died"]
    assert lines[0]["logger"] == "uvicorn.error" and lines[0]["exception"][0]["exc_type"] == "ValueError"
    assert lines[1]["thread"] == "doomed" and lines[1]["exception"][0]["exc_type"] == "ZeroDivisionError"


def test_a_sqlite_database_whose_directory_is_gone_answers_503(
    tmp_path: Path, sqlite_template: Path, smtp_sender: SmtpSender
) -> None:
    folder = tmp_path / "volume"
    folder.mkdir()
    shutil.copy(sqlite_template, folder / "vitalkey.sqlite3")
    container = build(make_settings(tmp_path, f"sqlite:///{folder / 'vitalkey.sqlite3'}"), sender=smtp_sender)
    client = TestClient(create_app(container), base_url=container.settings.public_url)
    with client:
        answers_503_once_the_volume_is_gone(client, folder)
    container.close()


def answers_503_once_the_volume_is_gone(client: TestClient, folder: Path) -> None:
    assert client.get("/readyz").status_code == 200
    assert client.post("/api/v1/signup", json={"email": "ann@example.org"}).status_code == 201
    page = client.get("/login")
    shutil.rmtree(folder)  # the volume went away under the running server

    api = client.post("/api/v1/signup", json={"email": "bo@example.org"})
    assert assert_json(api, 503) == {
        "error": "unavailable",
        "message": "The service is temporarily unavailable. Please try again in a moment.",
    }
    assert api.headers["retry-after"] == "5"
    form = post_form(client, "/login", {"email": "bo@example.org"})
    assert form.status_code == 503 and form.headers["retry-after"] == "5"
    assert form.headers["content-type"].startswith("text/html") and "try again in a moment" in form.text
    token = client.post("/oauth2/token", data=TOKEN_FORM)
    assert assert_json(token, 503)["error"] == "temporarily_unavailable" and token.headers["retry-after"] == "5"
    withings = client.post("/v2/oauth2", data=WITHINGS_FORM)
    assert assert_json(withings, 503)["status"] == 601 and withings.headers["retry-after"] == "5"
    assert client.get("/readyz").status_code == 503
    assert page.status_code == 200
