"""The Withings-compatible token endpoint (withings-api.md "OAuth 2.0"): POST /v2/oauth2
``action=requesttoken|revoke`` and POST /v2/signature ``action=getnonce``, answered in the
Withings envelope (HTTP 200, ``{"status", "body"}``; ``error`` when the status is not 0). The
grants themselves are the same Authlib grants as /oauth2/token."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Error

from vitalkey.domain.tokens import new_token
from vitalkey.oauth.provider import OAuthProvider, TokenAnswer
from vitalkey.ports import Pending

OK = 0
AUTHENTICATION_FAILED = 401
INVALID_PARAMS = 503
NOT_IMPLEMENTED = 2554


def envelope(status: int, body: dict[str, Any] | None = None, error: str = "") -> dict[str, Any]:
    answer: dict[str, Any] = {"status": status, "body": body or {}}
    if status != OK:
        answer["error"] = error
    return answer


def _failure(body: dict[str, Any]) -> dict[str, Any]:
    error = str(body.get("error", "invalid_request"))
    description = str(body.get("error_description", "")) or error
    if error == "invalid_client":
        return envelope(AUTHENTICATION_FAILED, error=f"Authentication failed: {error}: {description}")
    return envelope(INVALID_PARAMS, error=f"Invalid Params: {error}: {description}")


def token_envelope(result: TokenAnswer) -> dict[str, Any]:
    """A token answer in the Withings envelope."""
    body = result.answer.body
    if result.answer.status != 200:
        return _failure(body)
    return envelope(
        OK,
        {
            "userid": result.account_id,  # an integer, as withings-api's model requires
            "access_token": body["access_token"],
            "refresh_token": body["refresh_token"],
            "expires_in": body["expires_in"],
            "scope": result.scope_text,  # exactly as requested: oauthlib compares the strings
            "csrf_token": new_token(16),
            "token_type": "Bearer",
        },
    )


class WithingsOAuth:
    def __init__(self, provider: OAuthProvider) -> None:
        self.provider = provider

    def oauth2(self, values: list[tuple[str, str]], headers: dict[str, str]) -> dict[str, Any]:
        action = dict(values).get("action", "")
        if action == "requesttoken":
            return self.request_token(values, headers)
        if action == "revoke":
            return self.revoke(values, headers)
        return envelope(NOT_IMPLEMENTED, error=f"Not implemented: action '{action[:40]}'")

    def prepare_oauth2(
        self, values: list[tuple[str, str]], headers: dict[str, str]
    ) -> dict[str, Any] | Pending[dict[str, Any]]:
        """:meth:`oauth2` for :meth:`UnitOfWork.run_optimistic`: a token request is checked on a
        read first (:meth:`OAuthProvider.prepare_token`)."""
        if dict(values).get("action", "") != "requesttoken":
            return Pending(lambda: self.oauth2(values, headers))
        outcome = self.provider.prepare_token(values, headers)
        if isinstance(outcome, Pending):
            return outcome.then(token_envelope)
        return token_envelope(outcome)

    def request_token(self, values: list[tuple[str, str]], headers: dict[str, str]) -> dict[str, Any]:
        return token_envelope(self.provider.token(values, headers))

    def get_nonce(self, values: list[tuple[str, str]]) -> dict[str, Any]:
        """A single-use nonce for a signed request; the request is signed over
        ``action,client_id,timestamp`` with a timestamp within a few minutes of ours."""
        data = dict(values)
        if data.get("action") != "getnonce":
            return envelope(NOT_IMPLEMENTED, error=f"Not implemented: action '{data.get('action', '')[:40]}'")
        client_id, timestamp, signature = (
            data.get("client_id", ""),
            data.get("timestamp", ""),
            data.get("signature", ""),
        )
        if not (client_id and timestamp.isdigit() and signature):
            return envelope(INVALID_PARAMS, error="Invalid Params: client_id, timestamp and signature are required")
        if len(timestamp) > 12:  # Unix seconds; never cut to fit
            return envelope(INVALID_PARAMS, error="Invalid Params: the timestamp is too long")
        skew = self.provider.policy.signature_skew.total_seconds()
        if abs(self.provider.clock.now().timestamp() - int(timestamp)) > skew:
            return envelope(INVALID_PARAMS, error="Invalid Params: the timestamp is too far from the server's time")
        nonce = self.provider.new_nonce(client_id, signature, timestamp)
        if nonce is None:
            return envelope(AUTHENTICATION_FAILED, error="Authentication failed: invalid client or signature")
        return envelope(OK, {"nonce": nonce})

    def revoke(self, values: list[tuple[str, str]], headers: dict[str, str]) -> dict[str, Any]:
        """The partner unlinks a user: its tokens die and the consent is forgotten."""
        userid = dict(values).get("userid", "")
        if not userid.isdigit() or len(userid) > 18:  # a user id, never cut to fit
            return envelope(INVALID_PARAMS, error="Invalid Params: userid is required (at most 18 digits)")
        try:
            self.provider.unlink(values, headers, int(userid))
        except OAuth2Error as error:
            return _failure(dict(error.get_body()))
        return envelope(OK)


__all__ = ["WithingsOAuth", "envelope"]
