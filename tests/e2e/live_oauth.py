"""Helpers for the OAuth tests on a live ``vitalkey serve`` process: partners registered with the
CLI against the server's own database and data dir, accounts made through the JSON API, a
cookie-keeping HTTP client that plays the user's browser on the sign-in and consent pages, and
the partner's introspection call."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import LiveServer, Mailbox, code_in
from tests.web.conftest import csrf_of


@dataclass(frozen=True)
class Partner:
    """A registered OAuth client, as the partner keeps it."""

    client_id: str
    secret: str | None
    redirect_uri: str


def register(
    server: LiveServer,
    database_url: str,
    *,
    name: str,
    redirect_uri: str,
    scopes: tuple[str, ...],
    public: bool = False,
) -> Partner:
    """``vitalkey client create`` on the server's database and data dir (the server key that
    digests the secret lives there); the id and secret read from what it prints."""
    command = [
        str(Path(sys.executable).with_name("vitalkey")),
        "client", "create",
        "--name", name,
        "--redirect-uri", redirect_uri,
        "--scope", ",".join(scopes),
    ]  # fmt: skip
    if public:
        command.append("--public")
    env = {**os.environ, "VITALKEY_DATABASE_URL": database_url, "VITALKEY_DATA_DIR": str(server.log.parent)}
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    printed = dict(line.split(":", 1) for line in run.stdout.splitlines() if ":" in line)
    secret = printed.get("client_secret", "").strip() or None
    assert (secret is None) == public, run.stdout
    return Partner(printed["client_id"].strip(), secret, redirect_uri)


def sign_up(server: LiveServer, mailbox: Mailbox, email: str, first_name: str = "Ann") -> None:
    """A finished account (no 2FA), made through the JSON API."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        flow = http.post("/api/v1/signup", json={"email": email}).raise_for_status().json()["id"]
        steps: list[tuple[str, dict[str, Any]]] = [
            ("code", {"code": code_in(mailbox.wait_for(email))}),
            ("policy", {"accept": True}),
            (
                "details",
                {
                    "first_name": first_name,
                    "last_name": "Lee",
                    "birth_date": "1990-05-01",
                    "sex": "female",
                    "units": "metric",
                    "height_cm": 168,
                },
            ),
            ("two-factor", {"choice": "skip"}),
        ]
        for step, body in steps:
            http.post(f"/api/v1/signup/{flow}/{step}", json=body).raise_for_status()


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


@dataclass
class Visits:
    """What the user saw on the way: whether they had to sign in, and the consent page."""

    signed_in: bool = False
    consent_page: str | None = None


class WebUser:
    """The user's browser on the server's pages, as plain HTTP with a cookie jar: never follows
    the last redirect, the one back to the partner."""

    def __init__(self, server: LiveServer, mailbox: Mailbox, email: str) -> None:
        self.server, self.mailbox, self.email = server, mailbox, email
        self.http = httpx.Client(base_url=server.url, follow_redirects=False, timeout=10)
        self.visits = Visits()

    def close(self) -> None:
        self.http.close()

    def link(self, authorize_url: str) -> str:
        """Open the authorization URL, sign in with the emailed code and press "Allow this app"
        when asked; the ``Location`` the server sends back to the partner."""
        assert authorize_url.startswith(self.server.url + "/"), authorize_url
        self.visits = Visits()
        answer = self.http.get(authorize_url)
        if answer.status_code == 303:
            answer = self._sign_in(answer.headers["location"])
        if answer.status_code == 200:
            answer = self._allow(answer)
        assert answer.status_code == 302, f"{answer.status_code}: {answer.text[:2000]}"
        return answer.headers["location"]

    def _sign_in(self, login_url: str) -> httpx.Response:
        assert urlsplit(login_url).path == "/login", login_url
        waiting = query_of(login_url)["continue"]
        login = self.http.get(login_url)
        assert "An app is asking to connect to your account" in login.text
        mail_number = len(self.mailbox.to(self.email)) + 1
        started = self.http.post(
            "/login", data={"csrf_token": csrf_of(login.text), "email": self.email, "continue": waiting}
        )
        assert started.status_code == 303, started.text[:2000]
        flow_url = started.headers["location"]
        code_page = self.http.get(flow_url)
        code = code_in(self.mailbox.wait_for(self.email, mail_number))
        signed_in = self.http.post(
            flow_url, data={"csrf_token": csrf_of(code_page.text), "action": "code", "code": code}
        )
        assert signed_in.status_code == 303, signed_in.text[:2000]
        assert urlsplit(signed_in.headers["location"]).path == f"/oauth2/authorize/{waiting}"
        self.visits.signed_in = True
        return self.http.get(signed_in.headers["location"])

    def _allow(self, consent: httpx.Response) -> httpx.Response:
        self.visits.consent_page = consent.text
        found = re.search(r'<form method="post" action="(/oauth2/authorize/[^"]+)"', consent.text)
        assert found, f"no consent form: {consent.text[:2000]}"
        return self.http.post(found.group(1), data={"csrf_token": csrf_of(consent.text), "decision": "allow"})


def introspect(server: LiveServer, partner: Partner, token: str) -> dict[str, Any]:
    """RFC 7662, authenticated as the partner (HTTP Basic)."""
    assert partner.secret is not None
    answer = httpx.post(
        server.url + "/oauth2/introspect",
        data={"token": token},
        auth=(partner.client_id, partner.secret),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body
