"""A small client of the Withings Public API (withings-api.md) on ``httpx.AsyncClient``: the
token endpoint, the data calls (following ``more``/``offset`` to the end) and ``/notify``.

Every answer is HTTP 200 with ``{"status", "body"}``; a non-zero status becomes a typed error.
Tokens, codes and values are never logged nor put in an error's text.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from vitalkey_portal.providers import Provider, Revocation

TOO_MANY_REQUESTS = 601
AUTH_FAILED = frozenset({100, 101, 102, 200, 401})  # Withings' "authentication failed" family
MAX_PAGES = 1000  # a provider that keeps saying "more" is not followed for ever
DEFAULT_WAIT_S = 60  # a 601 without wait_seconds: Withings counts per minute


class WithingsError(Exception):
    """Any failure talking to the provider."""


class Unreachable(WithingsError):
    """No answer (network, time-out) or not an API answer (HTTP error, not JSON): try again later."""


class ProviderError(WithingsError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"status {status}: {message}")
        self.status = status
        self.message = message


class RateLimited(ProviderError):
    """Status 601: the app's requests per minute are used up; ``wait_s`` until the next one."""

    def __init__(self, message: str, wait_s: float) -> None:
        super().__init__(TOO_MANY_REQUESTS, message)
        self.wait_s = wait_s


class TokenInvalid(ProviderError):
    """The access token is refused (401 family); from the token endpoint: the grant is refused
    (``invalid_grant``, a revoked refresh token): the user must link again."""


@dataclass(frozen=True, slots=True)
class Grant:
    """A token answer."""

    userid: str
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str

    def __repr__(self) -> str:
        return f"Grant(userid={self.userid!r}, expires_in={self.expires_in}, scope={self.scope!r})"


Pace = Callable[[], Awaitable[None]]


async def _no_pace() -> None:
    return None


class WithingsClient:
    """One provider's API. ``pace`` is awaited before every request (pacing.py keeps the
    provider's requests per minute under its limit)."""

    def __init__(self, provider: Provider, http: httpx.AsyncClient, pace: Pace = _no_pace) -> None:
        self.provider = provider
        self.http = http
        self.pace = pace

    # Transport -----------------------------------------------------------------------------------
    async def _post(self, path: str, form: Mapping[str, str | int], access_token: str | None = None) -> dict[str, Any]:
        await self.pace()
        headers = {"authorization": f"Bearer {access_token}"} if access_token else {}
        url = self.provider.api_url + path
        try:
            answer = await self.http.post(url, data={k: str(v) for k, v in form.items()}, headers=headers)
        except httpx.HTTPError as error:
            raise Unreachable(f"{path}: {type(error).__name__}") from None
        if answer.status_code != 200:
            raise Unreachable(f"{path}: HTTP {answer.status_code}")
        try:
            payload = answer.json()
            status = int(payload["status"])
        except (ValueError, KeyError, TypeError):
            raise Unreachable(f"{path}: not a Withings answer") from None
        if status == 0:
            body = payload.get("body") or {}
            return body if isinstance(body, dict) else {}
        message = str(payload.get("error", ""))[:300]
        if status == TOO_MANY_REQUESTS:
            body = payload.get("body")
            wait = body.get("wait_seconds") if isinstance(body, dict) else None
            wait_s = float(wait) if isinstance(wait, int | float) and 0 < wait <= 3600 else DEFAULT_WAIT_S
            raise RateLimited(message, wait_s)
        if status in AUTH_FAILED:
            raise TokenInvalid(status, message)
        raise ProviderError(status, message)

    # Tokens --------------------------------------------------------------------------------------
    async def exchange_code(self, code: str, code_verifier: str, redirect_uri: str) -> Grant:
        """The authorization code (with its PKCE verifier) for tokens."""
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": code_verifier,
                "redirect_uri": redirect_uri,
            }
        )

    async def refresh(self, refresh_token: str) -> Grant:
        """New tokens. Withings rotates the refresh token on every refresh: keep the new one at
        once. The old one stays valid until the new access token is first used or 8 h pass, so
        a refresh whose answer was lost can be tried again with it."""
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def _token(self, form: dict[str, str]) -> Grant:
        values = {
            "action": "requesttoken",
            "client_id": self.provider.client_id,
            "client_secret": self.provider.client_secret,
            **form,
        }
        try:
            body = await self._post("/v2/oauth2", values)
        except ProviderError as error:
            if isinstance(error, RateLimited):
                raise
            if error.status in AUTH_FAILED or "invalid_grant" in error.message:
                raise TokenInvalid(error.status, error.message) from None
            raise
        try:
            return Grant(
                userid=str(body["userid"]),
                access_token=str(body["access_token"]),
                refresh_token=str(body["refresh_token"]),
                expires_in=int(body["expires_in"]),
                scope=str(body.get("scope", "")),
            )
        except (KeyError, TypeError, ValueError):
            raise Unreachable("/v2/oauth2: a token answer without its fields") from None

    async def revoke(self, userid: str, refresh_token: str) -> None:
        """End the link at the provider: Withings' signed ``action=revoke`` (its tokens and
        subscriptions die), or RFC 7009 on the refresh token."""
        if self.provider.revocation is Revocation.RFC7009:
            await self.pace()
            try:
                answer = await self.http.post(
                    self.provider.revocation_url,
                    data={"token": refresh_token, "token_type_hint": "refresh_token"},
                    auth=(self.provider.client_id, self.provider.client_secret),
                )
            except httpx.HTTPError as error:
                raise Unreachable(f"revocation: {type(error).__name__}") from None
            if answer.status_code != 200:
                raise ProviderError(answer.status_code, "the revocation was refused")
            return
        nonce = await self._nonce()
        await self._post(
            "/v2/oauth2",
            {
                "action": "revoke",
                "client_id": self.provider.client_id,
                "nonce": nonce,
                "signature": self._sign("revoke", self.provider.client_id, nonce),
                "userid": userid,
            },
        )

    async def _nonce(self) -> str:
        timestamp = str(int(time.time()))
        body = await self._post(
            "/v2/signature",
            {
                "action": "getnonce",
                "client_id": self.provider.client_id,
                "timestamp": timestamp,
                "signature": self._sign("getnonce", self.provider.client_id, timestamp),
            },
        )
        nonce = body.get("nonce")
        if not isinstance(nonce, str) or not nonce:
            raise Unreachable("/v2/signature: no nonce")
        return nonce

    def _sign(self, *values: str) -> str:
        """Withings' signature: hex HMAC-SHA256 keyed by the client secret over the values joined by commas."""
        return hmac.new(self.provider.client_secret.encode(), ",".join(values).encode(), hashlib.sha256).hexdigest()

    # Data ----------------------------------------------------------------------------------------
    async def get_devices(self, access_token: str) -> list[dict[str, Any]]:
        body = await self._post("/v2/user", {"action": "getdevice"}, access_token)
        return _items(body, "devices")

    async def get_measures(
        self, access_token: str, *, start: int | None = None, end: int | None = None, lastupdate: int | None = None
    ) -> list[dict[str, Any]]:
        """Measure groups (category 1, real measures) by window or by ``lastupdate``."""
        form: dict[str, str | int] = {"action": "getmeas", "category": 1}
        form.update(_window(start=start, end=end, lastupdate=lastupdate, names=("startdate", "enddate")))
        return await self._pages("/measure", form, "measuregrps", access_token)

    async def get_activity(
        self, access_token: str, *, first: str | None = None, last: str | None = None, lastupdate: int | None = None
    ) -> list[dict[str, Any]]:
        """Activity days by ``YYYY-MM-DD`` range or ``lastupdate``."""
        form: dict[str, str | int] = {
            "action": "getactivity",
            "data_fields": "steps,distance,elevation,soft,moderate,intense,active,calories,totalcalories,hr_average",
        }
        form.update(_window(start=first, end=last, lastupdate=lastupdate, names=("startdateymd", "enddateymd")))
        return await self._pages("/v2/measure", form, "activities", access_token)

    async def get_workouts(
        self, access_token: str, *, first: str | None = None, last: str | None = None, lastupdate: int | None = None
    ) -> list[dict[str, Any]]:
        form: dict[str, str | int] = {
            "action": "getworkouts",
            "data_fields": "calories,intensity,hr_average,hr_min,hr_max,steps,distance,elevation",
        }
        form.update(_window(start=first, end=last, lastupdate=lastupdate, names=("startdateymd", "enddateymd")))
        return await self._pages("/v2/measure", form, "series", access_token)

    async def get_sleep_summary(
        self, access_token: str, *, first: str | None = None, last: str | None = None, lastupdate: int | None = None
    ) -> list[dict[str, Any]]:
        form: dict[str, str | int] = {
            "action": "getsummary",
            "data_fields": "total_timeinbed,total_sleep_time,lightsleepduration,deepsleepduration,"
            "remsleepduration,wakeupcount,sleep_score,hr_average",
        }
        form.update(_window(start=first, end=last, lastupdate=lastupdate, names=("startdateymd", "enddateymd")))
        return await self._pages("/v2/sleep", form, "series", access_token)

    async def _pages(self, path: str, form: dict[str, str | int], key: str, access_token: str) -> list[dict[str, Any]]:
        """Every page: ask again from ``offset`` while the answer says ``more``."""
        found: list[dict[str, Any]] = []
        offset: int | None = None
        for _ in range(MAX_PAGES):
            page = dict(form) if offset is None else {**form, "offset": offset}
            body = await self._post(path, page, access_token)
            found += _items(body, key)
            following = body.get("offset")
            if not body.get("more") or not isinstance(following, int) or following == offset:
                return found
            offset = following
        raise ProviderError(0, f"{path}: more than {MAX_PAGES} pages")

    # Notifications -------------------------------------------------------------------------------
    async def subscribe(self, access_token: str, callbackurl: str, appli: int, comment: str) -> None:
        await self._post(
            "/notify",
            {"action": "subscribe", "callbackurl": callbackurl, "appli": appli, "comment": comment},
            access_token,
        )

    async def unsubscribe(self, access_token: str, callbackurl: str, appli: int | None = None) -> None:
        """Remove the subscription of ``appli`` to ``callbackurl`` (every appli's when None)."""
        form: dict[str, str | int] = {"action": "revoke", "callbackurl": callbackurl}
        if appli is not None:
            form["appli"] = appli
        await self._post("/notify", form, access_token)

    async def subscriptions(self, access_token: str) -> list[dict[str, Any]]:
        return _items(await self._post("/notify", {"action": "list"}, access_token), "profiles")


def _window(
    *, start: int | str | None, end: int | str | None, lastupdate: int | None, names: tuple[str, str]
) -> dict[str, str | int]:
    if lastupdate is not None:
        return {"lastupdate": lastupdate}
    if start is None or end is None:
        raise ValueError("a window (start and end) or lastupdate is needed")
    return {names[0]: start, names[1]: end}


def _items(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    found = body.get(key) or []
    if not isinstance(found, list):
        raise Unreachable(f"'{key}' is not a list")
    return [item for item in found if isinstance(item, dict)]
