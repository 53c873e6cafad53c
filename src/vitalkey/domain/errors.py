"""Domain errors carry a stable ``code``; the web edge maps them to a page or a JSON 4xx."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from vitalkey.domain.i18n import N_, Nn_, Plural


def wait_seconds(until: datetime, now: datetime) -> int:
    """The whole seconds from ``now`` until ``until``, rounded up and at least 1: a refusal's
    ``seconds`` (the HTTP answer's Retry-After), after which the next attempt can succeed."""
    return max(1, math.ceil((until - now).total_seconds()))


class DomainError(Exception):
    code: ClassVar[str] = "invalid_request"
    message: ClassVar[str] = N_("The request could not be processed.")
    field: ClassVar[str | None] = None

    def __init__(self, message: str | None = None, *, field: str | None = None, **params: Any) -> None:
        self.message_id = message or self.message
        self.field_name = field or self.field
        self.params = params
        super().__init__(self.code)

    @property
    def problems(self) -> tuple[DomainError, ...]:
        """Each wrong field with its own message (forms show each beside its field)."""
        return (self,)

    def counted(self) -> tuple[Plural, int] | None:
        """A message whose wording depends on a count: its two forms and the count (``%(num)s``)."""
        return None


class WaitRefusal(DomainError):
    """A refusal that says how long to wait (``seconds``): in seconds, or in whole minutes
    (rounded up) from two minutes on."""

    in_seconds: ClassVar[Plural]
    in_minutes: ClassVar[Plural]

    def counted(self) -> tuple[Plural, int] | None:
        seconds = int(self.params["seconds"])
        if seconds < 120:
            return self.in_seconds, seconds
        return self.in_minutes, math.ceil(seconds / 60)


class InvalidInput(DomainError):
    code = "invalid_input"
    message = N_("Please check what you entered.")


class InvalidFields(InvalidInput):
    """Several fields of one form are wrong at once; the first is the error's own message."""

    def __init__(self, problems: Sequence[DomainError]) -> None:
        first = problems[0]
        super().__init__(first.message_id, field=first.field_name, **first.params)
        self._problems = tuple(problems)

    @property
    def problems(self) -> tuple[DomainError, ...]:
        return self._problems


class InvalidEmail(DomainError):
    code = "invalid_email"
    message = N_("Please enter a valid email address.")
    field = "email"


class FlowNotFound(DomainError):
    code = "flow_not_found"
    message = N_("This page has expired. Please start again.")


class FlowExpired(DomainError):
    code = "flow_expired"
    message = N_("This page has expired. Please start again.")


class FlowDead(DomainError):
    code = "flow_dead"
    message = N_("Too many wrong codes were entered. Please start again to get a new code.")


class WrongState(DomainError):
    code = "wrong_state"
    message = N_("This step is not available any more. Please continue from the current step.")


class WrongCode(DomainError):
    code = "wrong_code"
    message = N_("This code is not correct. Please check it and try again.")
    field = "code"


class CodeExpired(DomainError):
    code = "code_expired"
    message = N_("This code has expired. Please ask for a new one.")
    field = "code"


class CodeUsed(DomainError):
    code = "code_used"
    message = N_("This code has already been used.")
    field = "code"


class MalformedCode(DomainError):
    code = "malformed_code"
    message = N_("The code has 6 digits.")
    field = "code"


class ResendTooSoon(WaitRefusal):
    code = "resend_too_soon"
    in_seconds = Nn_(
        "Please wait %(num)s second before asking for a new code.",
        "Please wait %(num)s seconds before asking for a new code.",
    )
    in_minutes = Nn_(
        "Please wait %(num)s minute before asking for a new code.",
        "Please wait %(num)s minutes before asking for a new code.",
    )
    message = in_seconds.plural


class ResendLimit(DomainError):
    code = "resend_limit"
    message = N_("No more codes can be sent for this attempt. Please start again later.")


class RateLimited(DomainError):
    code = "rate_limited"
    message = N_("Too many requests. Please wait a while and try again.")


class TooManyCodeFailures(DomainError):
    code = "too_many_code_failures"
    message = N_("Too many wrong codes were entered for this address. Please try again later.")


class PolicyNotAccepted(DomainError):
    code = "policy_not_accepted"
    message = N_("Please accept the privacy policy to continue.")
    field = "accept"


class AccountExists(DomainError):
    code = "account_exists"
    message = N_("An account with this address already exists. Please sign in instead.")


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    message = N_("Please sign in.")


class SessionNotFound(DomainError):
    code = "session_not_found"
    message = N_("This session does not exist or has already ended.")


class CsrfFailed(DomainError):
    code = "csrf_failed"
    message = N_("Your form has expired. Please try again.")


class WrongPassword(DomainError):
    """Also the answer for an address without an account or an account without a password."""

    code = "wrong_password"
    message = N_("This password is not correct. Please try again, or sign in with the emailed code.")
    field = "password"


class PasswordThrottled(WaitRefusal):
    code = "password_throttled"
    in_seconds = Nn_(
        "Too many wrong passwords. Please wait %(num)s second and try again.",
        "Too many wrong passwords. Please wait %(num)s seconds and try again.",
    )
    in_minutes = Nn_(
        "Too many wrong passwords. Please wait %(num)s minute and try again.",
        "Too many wrong passwords. Please wait %(num)s minutes and try again.",
    )
    message = in_seconds.plural


class PasswordMissing(DomainError):
    """An empty password: nothing to judge, so nothing is counted or checked."""

    code = "password_missing"
    message = N_("Please enter your password.")
    field = "password"


class PasswordLocked(DomainError):
    code = "password_locked"
    message = N_(
        "Signing in with a password is closed after too many wrong passwords. Sign in with the "
        "emailed code, or reset your password, to open it again."
    )


class ResetLinkInvalid(DomainError):
    code = "reset_link_invalid"
    message = N_(
        "This password update link is no longer valid: it was already used, a newer link was sent, "
        "the password was changed, or the day it was valid for has passed. Please ask for a new link."
    )


class NoPassword(DomainError):
    code = "no_password"
    message = N_("Your account has no password yet. Set one with a code sent to your email address.")


class PasswordAlreadySet(DomainError):
    code = "password_already_set"
    message = N_("Your account already has a password. Change it with your current password.")


# Two-factor authentication ------------------------------------------------------------------
class ReauthenticationRequired(DomainError):
    code = "reauthentication_required"
    message = N_("For your security, please sign in again to continue (it must be within the last 5 minutes).")


class DeletionNotConfirmed(DomainError):
    """Deleting an account needs its email address typed out: a click alone deletes nothing."""

    code = "deletion_not_confirmed"
    message = N_("To delete your account, type your email address exactly as shown.")
    field = "confirmation"


class TwoFactorOff(DomainError):
    code = "two_factor_off"
    message = N_("Two-factor authentication is not on for this account.")


class SmsLimited(DomainError):
    code = "sms_limited"
    message = N_("Too many text messages have been requested. Please wait a while and try again.")


class SmsUnavailable(DomainError):
    code = "sms_unavailable"
    message = N_("Text messages cannot be sent right now. Please try again later, or sign in with your recovery code.")


class MalformedRecoveryCode(DomainError):
    code = "malformed_recovery_code"
    message = N_("A recovery code has 16 letters and digits, like ABCD-EFGH-JKMN-PQRS.")
    field = "recovery_code"


class WrongRecoveryCode(DomainError):
    code = "wrong_recovery_code"
    message = N_("This recovery code is not correct. Please check it and try again.")
    field = "recovery_code"


class TooManyRecoveryFailures(DomainError):
    code = "too_many_recovery_failures"
    message = N_("Too many wrong recovery codes were entered. Please try again later.")


class WrongTotpCode(WrongCode):
    """A code from an authenticator app that matches none of the steps around now."""

    code = "wrong_totp_code"
    message = N_(
        "This code is not correct. Please enter the code your authenticator app shows now, and check "
        "that your phone's clock is set automatically."
    )


class TotpCodeReused(CodeUsed):
    """A right code whose time step was already used: a replay, or signing in twice within 30 s."""

    code = "totp_code_used"
    message = N_("This code has already been used. Please wait for the next code in your authenticator app.")


class UnknownApp(DomainError):
    code = "unknown_app"
    message = N_("This app is not registered.")
    field = "app"


class AppDoesNotSupport2fa(DomainError):
    code = "app_does_not_support_2fa"
    message = N_(
        "This app does not support two-factor authentication. To use it, create an app password "
        "for it on the web (Account & Security → App passwords) and enter that instead of your "
        "password, or turn two-factor authentication off."
    )


class AppPasswordNotFound(DomainError):
    code = "app_password_not_found"
    message = N_("This app password does not exist or has already been revoked.")


class AppHasTwoFactor(DomainError):
    code = "app_supports_2fa"
    message = N_("This app supports two-factor authentication: sign in to it as usual, no app password is needed.")
    field = "app"


class AppExists(DomainError):
    code = "app_exists"
    message = N_("An app with this client id already exists.")
    field = "client_id"


class InvalidClientMetadata(DomainError):
    """A client registration that cannot be used (RFC 7591 §3.2.2). For operators: not translated."""

    code = "invalid_client_metadata"
    message = "The client settings are not valid."


class ConnectedAppNotFound(DomainError):
    code = "connected_app_not_found"
    message = N_("This app has no access to your account.")


# Passkeys (WebAuthn) ------------------------------------------------------------------------
# Cancelled, timed out, unsupported and already registered happen in the browser: passkey.js
# shows their messages (given to the page as data attributes); the server raises the others.
class PasskeyUnknown(DomainError):
    code = "passkey_unknown"
    message = N_(
        "This passkey is not registered with VitalKey. It may have been removed from your account: "
        "choose another passkey, or sign in another way."
    )


class PasskeyWrongSite(DomainError):
    code = "passkey_wrong_site"
    message = N_("This passkey answered for another website, not for VitalKey at this address.")


class PasskeyRefused(DomainError):
    code = "passkey_refused"
    message = N_(
        "This passkey could not be verified. Please try again, and unlock it with your fingerprint, "
        "face or PIN when asked."
    )


class PasskeyCounterError(DomainError):
    """The authenticator's use counter went backwards: the passkey may have been copied."""

    code = "passkey_counter_error"
    message = N_(
        "This passkey was refused because it may have been copied to another device. Please sign in "
        "another way, then remove this passkey from your account and add it again."
    )


class PasskeyMalformed(DomainError):
    code = "passkey_malformed"
    message = N_("The passkey's answer could not be read. Please try again.")


class PasskeyUnavailable(DomainError):
    code = "passkey_unavailable"
    message = N_("Passkeys cannot be used at this address of VitalKey. Please sign in another way.")


class PasskeyCancelled(DomainError):
    code = "passkey_cancelled"
    message = N_("The passkey request was cancelled. You can try again, or sign in another way.")


class PasskeyTimedOut(DomainError):
    code = "passkey_timed_out"
    message = N_("The passkey request timed out. Please try again.")


class PasskeyNotSupported(DomainError):
    code = "passkey_not_supported"
    message = N_("This browser cannot use passkeys. Please sign in another way.")


class PasskeyAlreadyRegistered(DomainError):
    code = "passkey_already_registered"
    message = N_("This passkey is already registered with your account.")


class AuthenticatorNotFound(DomainError):
    """A sign-in method that is not the account's (or no longer exists): the same answer for both."""

    code = "authenticator_not_found"
    message = N_("This sign-in method does not exist or has already been removed.")


# Sign-in with an upstream provider (Apple, Google, OpenID Connect) ---------------------------
class UpstreamRefused(DomainError):
    """The upstream provider's answer was refused; ``reason`` says which check failed (a stable
    code for metrics and logs: bad_state, unavailable, token_exchange_failed, alg_not_allowed,
    bad_signature, unknown_kid, wrong_issuer, wrong_audience, expired, issued_in_future,
    wrong_nonce, malformed). The message names the provider (``provider``: its display name)."""

    code = "upstream_refused"
    message = N_(
        "Signing in with %(provider)s did not work: its answer could not be verified. Please try again, "
        "or sign in another way."
    )
    MESSAGES: ClassVar[dict[str, str]] = {
        "bad_state": N_("This sign-in has expired or was already used. Please start again."),
        "unavailable": N_(
            "%(provider)s cannot be reached at the moment. Please try again in a few minutes, or sign in another way."
        ),
        "token_exchange_failed": N_(
            "%(provider)s did not complete the sign-in. Please try again, or sign in another way."
        ),
    }

    def __init__(self, reason: str, *, provider: str) -> None:
        super().__init__(self.MESSAGES.get(reason, self.message), provider=provider, reason=reason)
        self.reason = reason


class IdentityLinkedElsewhere(DomainError):
    """The upstream identity (issuer, subject) is linked to another account: never moved."""

    code = "identity_linked_elsewhere"
    message = N_("This account of the sign-in provider is already linked to another VitalKey account.")


class LinkGone(DomainError):
    """The identity kept for linking is gone: linked already, or its sign-in flow expired."""

    code = "link_gone"
    message = N_("This request to link an account has expired or was already used. Please start again.")


# Sign-in with an upstream provider from an app (the JSON API, web/federation_api.py) ---------
class UnknownProvider(DomainError):
    """No configured upstream provider has this id."""

    code = "unknown_provider"
    message = N_("This sign-in provider is not offered.")


class ReturnToNotRegistered(DomainError):
    """An app's sign-in with a provider may send the browser back only to one of the app's
    registered redirect URIs."""

    code = "invalid_return_to"
    message = N_("This address is not one of the app's registered redirect URIs.")
    field = "return_to"


class AccountToLink(DomainError):
    """A new identity whose verified address is an account's: the app signs in to that account,
    then links the identity (never linked automatically)."""

    code = "account_exists"
    message = N_("An account already uses %(email)s. Sign in to it to link your %(provider)s account.")


class AddressMissing(DomainError):
    """The provider gave no address: the app asks the user for one (then the sign-up confirms it)."""

    code = "address_needed"
    message = N_("%(provider)s did not give an email address. Please enter the address for your new account.")


class LinkForAnotherAddress(DomainError):
    """An app links a kept identity only to the account that uses its verified address."""

    code = "link_address_mismatch"
    message = N_("This sign-in can only be linked to the account that uses its email address.")


class UnlinkRefused(DomainError):
    """Unlinking would leave the account without a way to sign in (domain/federation.py)."""

    code = "unlink_refused"
    message = N_(
        "This is the only way you have confirmed to sign in. Add a password or a passkey, or sign in "
        "once with a code sent to your email address, before you unlink it."
    )
