"""A real OpenID Connect provider for the tests of sign-in with Apple, Google and OpenID Connect
(issue #23): node's ``oidc-provider`` (the npm package, pinned), installed on first use into
tests/.node/ (git-ignored), with a small provider.mjs written beside it.

``OidcServer`` starts one provider process with keys the test made (private JWKs written to its
configuration file), flavoured Google-like (code flow, client_secret_post, ``email_verified``
true) or Apple-like (form_post, Apple's ``user`` field posted on an account's first
authorization, booleans as "true" strings, and the client secret an ES256 JWT — which
oidc-provider cannot check itself: provider.mjs verifies it with ``jose``, the JOSE library
oidc-provider is built on, against the team's public key, then lets oidc-provider authenticate
the client). ``sign_in`` plays the browser: it follows the authorization URL to the provider's
sign-in page, signs in as a given account, and returns what the provider sends back to the
redirect URI (its query, or the fields of its form_post page).

Test-only controls (``control``): ``skew_s`` shifts the provider's clock (oidc-provider then
really issues ID tokens that expired, or were issued in the future), ``id_token_ttl_s`` their
lifetime, ``publish`` replaces the published JWKS, ``jwks_delay_ms`` slows its answer, and ``tamper`` changes the ID token in the token endpoint's answer and signs it
again with the provider's own key (or not at all, or with HS256 keyed by the public key): the
only way to get ID tokens with alg "none", another audience or another issuer, which
oidc-provider refuses to make. ``stats`` counts the requests for the provider's keys (JWKS).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "tests" / ".node"
OIDC_PROVIDER_VERSION = "9.13.3"
IN_CI = os.environ.get("CI", "").lower() == "true"
REDIRECT_URI = "https://vitalkey.test/federation/callback"

PROVIDER_MJS = r"""// Written by tests/upstream_provider.py: oidc-provider for the upstream sign-in tests.
import fs from 'node:fs';
import http from 'node:http';
import * as jose from 'jose';
import Provider from 'oidc-provider';

const cfg = JSON.parse(fs.readFileSync(process.env.OIDC_TEST_CONFIG, 'utf8'));
const control = { skew_s: 0, tamper: '', id_token_ttl_s: 3600, publish: null, jwks_delay_ms: 0 };
const stats = { jwks: 0, discovery: 0, apple_secrets: 0, token_auth: null };
const named = new Set(); // accounts whose name Apple has posted once already
let lastLogin = null;

// The provider's clock, shifted by the test: ID tokens are then really issued in the past or future.
const realNow = Date.now.bind(Date);
Date.now = () => realNow() + control.skew_s * 1000;

const provider = new Provider(cfg.issuer, {
  clients: cfg.clients,
  jwks: { keys: cfg.keys },
  findAccount: (ctx, sub) => (cfg.accounts[sub]
    ? { accountId: sub, claims: () => ({ sub, ...cfg.accounts[sub] }) } : undefined),
  claims: cfg.claims,
  scopes: cfg.scopes,
  conformIdTokenClaims: false, // the scopes' claims in the ID token, as Google and Apple do
  clientAuthMethods: cfg.client_auth_methods,
  enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256', 'HS256'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  ttl: { IdToken: () => control.id_token_ttl_s },
  cookies: { keys: ['test-only-cookie-key'] },
});

async function text(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function part(value) {
  return JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
}

function b64(value) {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function tampered(idToken, mode) {
  const [h, p, s] = idToken.split('.');
  const header = part(h);
  const payload = part(p);
  const key = await jose.importJWK(cfg.keys.find((k) => k.kid === header.kid), header.alg);
  const resign = (claims) => new jose.SignJWT(claims).setProtectedHeader(header).sign(key);
  switch (mode) {
    case 'none': return `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`;
    case 'hs256_public_key': {
      // The classic confusion: HMAC keyed by the provider's public key, as PEM text.
      const publicJwk = { ...cfg.keys.find((k) => k.kid === header.kid) };
      for (const name of ['d', 'p', 'q', 'dp', 'dq', 'qi']) delete publicJwk[name];
      const pem = await jose.exportSPKI(await jose.importJWK(publicJwk, 'RS256'));
      return new jose.SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: header.kid })
        .sign(new TextEncoder().encode(pem));
    }
    case 'forged': return `${h}.${b64({ ...payload, sub: 'someone-else' })}.${s}`;
    case 'wrong_audience': return resign({ ...payload, aud: 'another-client' });
    case 'several_audiences': return resign({ ...payload, aud: [payload.aud, 'another-client'] });
    case 'wrong_issuer': return resign({ ...payload, iss: 'https://attacker.example' });
    case 'no_kid': {
      delete header.kid;
      return resign(payload);
    }
    default: throw new Error(`unknown tamper mode ${mode}`);
  }
}

async function appleSecretProblem(form) {
  // What Apple checks of the client secret JWT (its key, team, client, audience, lifetime).
  try {
    const publicKey = await jose.importJWK(cfg.apple.public_jwk, 'ES256');
    const { payload, protectedHeader } = await jose.jwtVerify(form.client_secret || '', publicKey, {
      algorithms: ['ES256'], issuer: cfg.apple.team_id, subject: form.client_id, audience: cfg.issuer,
      currentDate: new Date(realNow()),
    });
    if (protectedHeader.kid !== cfg.apple.key_id) return 'wrong kid';
    if (typeof payload.iat !== 'number' || payload.exp - payload.iat > 300) return 'lives too long';
    return null;
  } catch (error) {
    return String(error.code || error.message);
  }
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/test/control' && ctx.method === 'POST') {
    const asked = JSON.parse(await text(ctx.req));
    if (asked.forget_names) named.clear(); // every account's next authorization is its first again
    delete asked.forget_names;
    Object.assign(control, asked);
    ctx.body = control;
    return;
  }
  if (ctx.path === '/test/stats') {
    ctx.body = stats;
    return;
  }
  if (ctx.path === '/jwks') {
    stats.jwks += 1;
    await new Promise((resolve) => { setTimeout(resolve, control.jwks_delay_ms); });
    if (control.publish) { // the test's JWKS instead of the provider's
      ctx.body = { keys: control.publish };
      return;
    }
  }
  if (ctx.path === '/.well-known/openid-configuration') stats.discovery += 1;
  const interaction = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (interaction) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (ctx.method === 'GET') {
      ctx.type = 'html';
      ctx.body = `<form method="post" action="/interaction/${details.uid}"><input name="login"><button>Sign in</button></form>`;
      return;
    }
    const accountId = new URLSearchParams(await text(ctx.req)).get('login');
    if (!cfg.accounts[accountId]) {
      ctx.status = 400;
      ctx.body = 'unknown account';
      return;
    }
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    lastLogin = accountId;
    const to = await provider.interactionResult(ctx.req, ctx.res,
      { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(to);
    return;
  }
  if (ctx.path === '/token' && ctx.method === 'POST') {
    // oidc-provider takes either secret method from any client: which one came is noted here.
    stats.token_auth = (ctx.get('authorization') || '').startsWith('Basic ') ? 'client_secret_basic' : 'client_secret_post';
  }
  if (cfg.apple && ctx.path === '/token' && ctx.method === 'POST') {
    const form = Object.fromEntries(new URLSearchParams(await text(ctx.req)));
    const problem = await appleSecretProblem(form);
    if (problem) {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: `client secret JWT refused: ${problem}` };
      return;
    }
    stats.apple_secrets += 1;
    ctx.req.body = { ...form, client_secret: cfg.apple.registered_secret };
  }
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && control.tamper && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: await tampered(ctx.body.id_token, control.tamper) };
  }
  if (cfg.apple && ctx.path.startsWith('/auth/') && typeof ctx.body === 'string'
      && ctx.body.includes('<form method="post"') && lastLogin && !named.has(lastLogin)) {
    // Apple posts the user's name with the code on the first authorization only.
    named.add(lastLogin);
    const user = JSON.stringify({ name: cfg.names[lastLogin], email: cfg.accounts[lastLogin].email });
    const field = `<input type="hidden" name="user" value="${user.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"/>`;
    ctx.body = ctx.body.replace(/(<form method="post" action="[^"]*">)/, `$1\n${field}`);
  }
});

http.createServer(provider.callback()).listen(cfg.port, '127.0.0.1');
"""


def ensure_oidc_provider() -> None:
    """oidc-provider (pinned) in tests/.node and provider.mjs beside it; without node or npm the
    tests are skipped, except in CI, where they fail."""
    if not (shutil.which("node") and shutil.which("npm")):
        message = "node and npm are needed for the upstream sign-in tests (node's oidc-provider)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    package = NODE_DIR / "node_modules" / "oidc-provider" / "package.json"
    installed = json.loads(package.read_text()).get("version") if package.is_file() else None
    if installed != OIDC_PROVIDER_VERSION:
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(NODE_DIR),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                f"oidc-provider@{OIDC_PROVIDER_VERSION}",
            ],
            check=True,
            timeout=240,
        )
    (NODE_DIR / "provider.mjs").write_text(PROVIDER_MJS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rsa_jwk(kid: str) -> dict[str, Any]:
    """A new private RSA signing key, as the provider's configuration takes it."""
    return {**RSAKey.generate_key(2048, private=True).as_dict(private=True), "kid": kid, "alg": "RS256", "use": "sig"}


@dataclass(frozen=True)
class AppleTeam:
    """Apple's side of the Apple-like provider: the team's key the client secret is signed with."""

    team_id: str = "TEAM123456"
    key_id: str = "KEY1234567"
    key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256", private=True))

    @property
    def private_pem(self) -> str:
        return self.key.as_pem(private=True).decode()


GOOGLE_CLAIMS = {
    "openid": ["sub"],
    "email": ["email", "email_verified"],
    "profile": ["name", "given_name", "family_name"],
}
APPLE_CLAIMS = {"openid": ["sub"], "email": ["email", "email_verified", "is_private_email"], "name": []}


@dataclass
class OidcServer:
    """One oidc-provider process (see the module's docstring)."""

    folder: Path
    flavour: str  # "google" or "apple"
    keys: list[dict[str, Any]]
    accounts: dict[str, dict[str, Any]]
    names: dict[str, dict[str, str]] = field(default_factory=dict)  # Apple: the posted names
    client_id: str = "vitalkey-client"
    client_secret: str = "s3cret-of-the-test-client-0123456789"
    apple: AppleTeam | None = None
    auth_method: str = "client_secret_post"  # the client's, and the only one advertised beside basic
    callback: str = ""  # a VitalKey server's callback page, registered beside REDIRECT_URI
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        apple = self.flavour == "apple"
        client = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": [REDIRECT_URI, *([self.callback] if self.callback else [])],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": self.auth_method,
        }
        hs_client = {**client, "client_id": "hs256-client", "id_token_signed_response_alg": "HS256"}
        config: dict[str, Any] = {
            "port": self.port,
            "issuer": self.issuer,
            "keys": self.keys,
            "clients": [client, hs_client],
            "accounts": self.accounts,
            "names": self.names,
            "claims": APPLE_CLAIMS if apple else GOOGLE_CLAIMS,
            "scopes": ["openid", "email", "name"] if apple else ["openid", "email", "profile"],
            # Google's discovery lists client_secret_post first, Apple's only it.
            "client_auth_methods": list(dict.fromkeys([self.auth_method, "client_secret_basic"])),
        }
        if apple:
            assert self.apple is not None
            config["apple"] = {
                "team_id": self.apple.team_id,
                "key_id": self.apple.key_id,
                "public_jwk": self.apple.key.as_dict(private=False),
                "registered_secret": self.client_secret,
            }
        return config

    def start(self) -> OidcServer:
        path = self.folder / f"provider-{self.flavour}.json"
        path.write_text(json.dumps(self.config()))
        log = open(self.folder / f"provider-{self.flavour}.log", "ab")  # noqa: SIM115 (the process's)
        self.process = subprocess.Popen(
            ["node", str(NODE_DIR / "provider.mjs")],
            env={**os.environ, "OIDC_TEST_CONFIG": str(path), "NODE_ENV": "test"},
            stdout=log,
            stderr=log,
        )
        log.close()
        began = time.monotonic()
        while time.monotonic() - began < 30:
            try:
                with urllib.request.urlopen(f"{self.issuer}/.well-known/openid-configuration", timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"oidc-provider did not start: {(self.folder / f'provider-{self.flavour}.log').read_text()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self, keys: list[dict[str, Any]]) -> None:
        """The provider again, on the same address, publishing (and signing with the first of) ``keys``."""
        self.stop()
        self.keys = keys
        self.start()

    def control(self, **values: Any) -> None:
        answer = httpx.post(f"{self.issuer}/test/control", json=values, timeout=5)
        answer.raise_for_status()

    def stats(self) -> dict[str, Any]:
        """Requests for the JWKS and the discovery, client secret JWTs accepted, and the client
        authentication of the last token request (``token_auth``)."""
        answer = httpx.get(f"{self.issuer}/test/stats", timeout=5)
        answer.raise_for_status()
        return dict(answer.json())

    def sign_in(self, url: str, login: str) -> dict[str, str]:
        """The browser's part: from the authorization URL to what reaches REDIRECT_URI (the
        query of the redirect, or the fields of the form_post page)."""
        with httpx.Client(timeout=10) as browser:
            answer = browser.get(url)
            for _ in range(10):
                if answer.is_redirect:
                    target = urljoin(str(answer.url), answer.headers["location"])
                    if target.startswith(REDIRECT_URI):
                        return dict(parse_qsl(urlsplit(target).query))
                    answer = browser.get(target)
                    continue
                answer.raise_for_status()
                form = re.search(r'<form method="post" action="([^"]*)"', answer.text)
                assert form, answer.text[:500]
                action = urljoin(str(answer.url), html.unescape(form.group(1)))
                if action.startswith(REDIRECT_URI):  # form_post: the browser would post these
                    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"/>', answer.text)
                    return {name: html.unescape(value) for name, value in fields}
                answer = browser.post(action, data={"login": login})
        raise AssertionError("the provider never sent the browser back")
