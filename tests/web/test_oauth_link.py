"""Link Device from the partner's side (seeds/partner-link-device.txt): redirect to sign-in,
"Allow this app" the first time only, back to the partner with a code, tokens in the Withings
envelope."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.conftest import Mailbox, code_in, text_of
from tests.web.conftest import ClientFactory, csrf_of, post_form
from tests.web.oauth_kit import (
    CALLBACK,
    allow,
    authorize_url,
    code_for,
    pkce,
    query_of,
    register,
    signed_up,
    withings_token,
)


def test_link_device_signs_in_asks_once_and_returns_a_code(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client = make_client()
    container = client.app.state.container  # type: ignore[attr-defined]
    partner = register(container)
    signed_up(client, mailbox)
    client.post("/account/logout", data={"csrf_token": csrf_of(client.get("/account").text)})
    client.cookies.clear()

    # Step 3: redirected to the login page, which says an app is waiting.
    start = client.get(authorize_url(partner), follow_redirects=False)
    assert start.status_code == 303 and start.headers["location"].startswith("/login?continue=")
    login = client.get(start.headers["location"])
    assert "An app is asking to connect to your account" in login.text
    answer = client.post(
        "/login",
        data={"csrf_token": csrf_of(login.text), "email": "ann@example.com", "continue": login.url.params["continue"]},
    )
    assert "form-action 'self' https://portal.example.com;" in answer.headers["content-security-policy"]
    code = code_in(mailbox.wait_for("ann@example.com", 2))
    consent = client.post(
        str(answer.url.path), data={"csrf_token": csrf_of(answer.text), "action": "code", "code": code}
    )
    # Step 4: the consent page names the app and the data, in plain words.
    assert consent.url.path.startswith("/oauth2/authorize/")
    assert "Acme Wellness Portal" in consent.text and "Allow this app" in consent.text
    assert "Your body measurements" in consent.text and "Your profile" in consent.text
    assert "Your sleep" not in consent.text
    # Its forms may end in the redirect to the app, and it shows the app's logo; nothing else.
    policy = consent.headers["content-security-policy"]
    assert "form-action 'self' https://portal.example.com;" in policy
    assert "img-src 'self' data: https://portal.example.com;" in policy
    back = allow(client, consent)
    assert back.status_code == 302
    params = query_of(back.headers["location"])
    assert back.headers["location"].startswith(CALLBACK)
    assert params["state"] == "xyz-state" and params["iss"] == container.settings.public_url and params["code"]

    tokens = withings_token(
        client, partner, grant_type="authorization_code", code=params["code"], redirect_uri=CALLBACK
    )
    assert tokens["status"] == 0, tokens
    body = tokens["body"]
    assert isinstance(body["userid"], int) and body["scope"] == "user.info,user.metrics"
    assert body["expires_in"] == 10800 and body["token_type"] == "Bearer" and body["refresh_token"]

    # The second link skips the consent page; a new scope brings it back, naming only that one.
    again = client.get(authorize_url(partner), follow_redirects=False)
    assert again.status_code == 302 and query_of(again.headers["location"])["code"]
    wider = client.get(authorize_url(partner, scope="user.info,user.metrics,user.sleepevents"))
    assert wider.status_code == 200 and "Your sleep" in wider.text
    assert code_for(client, partner, scope="user.sleepevents")["code"]


def test_deny_sends_access_denied_back(client: TestClient, mailbox: Mailbox) -> None:
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    signed_up(client, mailbox)
    consent = client.get(authorize_url(partner))
    back = allow(client, consent, decision="deny")
    params = query_of(back.headers["location"])
    assert params["error"] == "access_denied" and params["state"] == "xyz-state" and params["iss"]
    # The kept request was answered: it cannot be answered again.
    assert allow(client, consent).status_code == 400


def test_unknown_client_or_redirect_uri_gets_an_error_page_never_a_redirect(
    client: TestClient, mailbox: Mailbox
) -> None:
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    signed_up(client, mailbox)
    for url in (
        authorize_url(partner, client_id="nobody"),
        authorize_url(partner, redirect_uri="https://evil.example.com/steal"),
        authorize_url(partner, redirect_uri=CALLBACK + "/more"),
    ):
        answer = client.get(url, follow_redirects=False)
        assert answer.status_code == 400 and "location" not in answer.headers
        assert "cannot be completed" in answer.text


def test_a_hostile_redirect_uri_gets_the_error_page_never_a_redirect(client: TestClient, mailbox: Mailbox) -> None:
    """A public client registered with a loopback URI (its port may vary, nothing else): userinfo,
    a fragment, another spelling of the host or a backslash is refused on the error page, even
    for a signed-in user who allowed the app before."""
    partner = register(client.app.state.container, public=True)  # type: ignore[attr-defined]
    signed_up(client, mailbox)
    challenge = pkce()[1]
    pkce_params = {"code_challenge": challenge, "code_challenge_method": "S256"}
    assert code_for(client, partner, **pkce_params)["code"]  # allowed once: no consent page below
    moved = client.get(
        authorize_url(partner, redirect_uri="http://127.0.0.1:51234/callback", **pkce_params), follow_redirects=False
    )
    assert moved.headers["location"].startswith("http://127.0.0.1:51234/callback?code=")
    for uri in (
        "http://evil.example@127.0.0.1:51234/callback",
        "http://127.0.0.1:51234@evil.example/callback",
        "http://127.0.0.1:51234/callback#frag",
        "http://127.0.0.1:51234/callback#",
        "http://localhost:51234/callback",
        "http://127.0.0.1./callback",
        "http://127.0.0.1:51234\\@evil.example/callback",
        "http://127.0.0.1:51234/%63allback",
        "HTTP://127.0.0.1/callback",
    ):
        for prompt in ("none", "consent"):
            answer = client.get(
                authorize_url(partner, redirect_uri=uri, prompt=prompt, **pkce_params), follow_redirects=False
            )
            assert answer.status_code == 400 and "location" not in answer.headers, uri
            assert "cannot be completed" in answer.text


def test_every_link_off_the_sign_in_page_keeps_the_waiting_app(make_client: ClientFactory) -> None:
    """ "Create an account", its "Sign in", "Use another email address": the app's request goes
    along (only the id of a kept request: never a free URL)."""
    client = make_client()
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    waiting = client.get(authorize_url(partner), follow_redirects=False).headers["location"]
    kept = waiting.removeprefix("/login?continue=")
    login = client.get(waiting)
    assert f'href="/signup?continue={kept}"' in login.text
    signup = client.get(f"/signup?continue={kept}")
    assert f'name="continue" value="{kept}"' in signup.text and f'href="/login?continue={kept}"' in signup.text
    code_page = client.post(
        "/signup", data={"csrf_token": csrf_of(signup.text), "email": "bea@example.com", "continue": kept}
    )
    assert f"&amp;continue={kept}" in code_page.text  # "Use another email address"
    for foreign in ("https://evil.example/", "//evil.example", "/account"):
        page = client.get("/signup", params={"continue": foreign})
        assert "continue" not in page.text and "evil" not in page.text


def test_forgot_password_keeps_the_waiting_app_through_the_mailed_link(
    make_client: ClientFactory, mailbox: Mailbox
) -> None:
    """ "Forgot your password?" from a sign-in for an app: the "Update password" link, the page
    after it and its "Sign in" carry the app's request; a new account's mail does too."""
    client = make_client()
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    signed_up(client, mailbox)
    client.cookies.clear()
    kept = (
        client.get(authorize_url(partner), follow_redirects=False).headers["location"].removeprefix("/login?continue=")
    )
    login = client.get(f"/login?continue={kept}")
    code_page = client.post(
        "/login", data={"csrf_token": csrf_of(login.text), "email": "ann@example.com", "continue": kept}
    )
    flow_url = str(code_page.url.path)
    post_form(client, flow_url, {"action": "password_instead"})
    post_form(client, flow_url, {"action": "forgot"})
    sent = post_form(client, flow_url, {"action": "validate"})
    assert "A password update link has been sent" in sent.text
    link = re.search(r"(http\S+/password/reset/\S+)", text_of(mailbox.wait_for("ann@example.com", 3)))
    assert link and link.group(1).endswith(f"?continue={kept}")
    path = link.group(1).removeprefix(client.app.state.container.settings.public_url)  # type: ignore[attr-defined]
    form = client.get(path)
    assert f'action="{path}"' in form.text
    done = post_form(client, path, {"password": "correct horse battery staple 7", "end_sessions": "yes"})
    assert done.url.path == "/password/updated" and f'href="/login?continue={kept}"' in done.text
    forged = client.get("/password/updated", params={"continue": "https://evil.example/"})
    assert 'href="/login"' in forged.text and "evil" not in forged.text
