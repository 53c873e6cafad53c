"""Passkeys (WebAuthn) with py_webauthn: the relying party, the options and the checks.

No storage and no flow state here: a caller keeps the challenge (single use, in its flow) and
the passkeys (in its store), and gets back plain values or a domain error.

Relying-party rules:

- The relying-party id is the host of ``public_url``; the one accepted origin is its scheme,
  host and port (the default port left out), plus ``extra_origins`` for the companion apps.
- Passkeys do not apply when that host is an IP literal (Chromium refuses an IP as the id) or
  when plain http is used for a host other than localhost (browsers offer WebAuthn in secure
  contexts only).
- Registration asks for a discoverable credential (resident key) and user verification,
  attestation "none", and ES256, EdDSA or RS256 keys; the account's passkeys are excluded.
- The user handle is 32 random bytes, never the address.
- Sign-in checks, in order: the answer can be read (else ``PasskeyMalformed``); it is for the
  stored passkey and its user handle (``PasskeyUnknown``, ``PasskeyRefused``); the page's
  origin and the relying-party id (``PasskeyWrongSite``); the challenge, user presence, user
  verification when required and the signature (``PasskeyRefused``); the backup-eligible flag
  as at registration (``PasskeyRefused``); and the sign counter: a stored counter above zero
  must grow (``PasskeyCounterError``), while both at zero is fine, as many passkeys never count.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AttestationFormat,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    ClientDataType,
    CollectedClientData,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from vitalkey.domain.errors import (
    PasskeyCounterError,
    PasskeyMalformed,
    PasskeyRefused,
    PasskeyUnknown,
    PasskeyWrongSite,
)
from vitalkey.flows.relying_party import RelyingParty

ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
TIMEOUT_MS = 300_000  # what the WebAuthn spec suggests when user verification is required
USER_HANDLE_BYTES = 32
MAX_USER_HANDLE_BYTES = 64  # the WebAuthn limit
CHALLENGE_BYTES = 32

# py_webauthn parses bytes the browser sent, so a bad answer can fail deep inside it (CBOR, COSE,
# base64, struct). Each of these from that parsing is the client's fault: a 400, never a 500.
UNREADABLE = (
    WebAuthnException,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    RecursionError,
    AttributeError,
    struct.error,
)
Parsed = TypeVar("Parsed")
Raw = TypeVar("Raw")


@dataclass(frozen=True, slots=True)
class NewPasskey:
    """A verified registration: what to store."""

    credential_id: str  # base64url, as the browser names it
    public_key: bytes  # COSE
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str
    fmt: str
    backup_eligible: bool
    backed_up: bool


@dataclass(frozen=True, slots=True)
class StoredPasskey:
    """What a sign-in is checked against."""

    credential_id: str
    public_key: bytes
    sign_count: int
    backup_eligible: bool
    user_handle: bytes


@dataclass(frozen=True, slots=True)
class PasskeyUse:
    """A verified sign-in: what to write back."""

    new_sign_count: int
    backed_up: bool
    user_verified: bool


@dataclass(frozen=True, slots=True)
class PostedAssertion:
    """Read from a sign-in answer before any check, to find the stored passkey."""

    credential_id: str
    user_handle: bytes | None  # discoverable passkeys always send it


def new_user_handle() -> bytes:
    """A WebAuthn user handle: random, never the address (authenticators show and sync it)."""
    return secrets.token_bytes(USER_HANDLE_BYTES)


# Registration --------------------------------------------------------------------------------
def registration_options(
    rp: RelyingParty, user_handle: bytes, email: str, display_name: str, exclude: Sequence[str]
) -> tuple[str, bytes]:
    """The options JSON for ``navigator.credentials.create`` and the challenge to keep."""
    rp.require()
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=email,
        user_id=user_handle,
        user_display_name=display_name or email,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in exclude],
        supported_pub_key_algs=ALGORITHMS,
    )
    return options_to_json(options), challenge


def verify_registration(rp: RelyingParty, credential_json: str, challenge: bytes) -> NewPasskey:
    rp.require()
    credential = _read(parse_registration_credential_json, credential_json)
    if credential.id != bytes_to_base64url(credential.raw_id) or not credential.raw_id:
        raise PasskeyMalformed()
    client_data = _read(parse_client_data_json, credential.response.client_data_json)
    _check_client_data(rp, client_data, ClientDataType.WEBAUTHN_CREATE, challenge)
    auth_data = _read(parse_attestation_object, credential.response.attestation_object).auth_data
    _check_rp_id_hash(rp, auth_data.rp_id_hash)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            require_user_verification=True,
            supported_pub_key_algs=ALGORITHMS,
        )
    except UNREADABLE as error:
        raise PasskeyRefused() from error
    return NewPasskey(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=tuple(AuthenticatorTransport(t).value for t in credential.response.transports or ()),
        aaguid=verified.aaguid,
        fmt=AttestationFormat(verified.fmt).value,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
    )


# Sign-in -------------------------------------------------------------------------------------
def authentication_options(
    rp: RelyingParty, allow: Sequence[str] = (), *, require_user_verification: bool = True
) -> tuple[str, bytes]:
    """The options JSON for ``navigator.credentials.get`` and the challenge to keep. An empty
    ``allow`` lets the user pick any of their passkeys for this site (a discoverable sign-in)."""
    rp.require()
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in allow],
        user_verification=(
            UserVerificationRequirement.REQUIRED if require_user_verification else UserVerificationRequirement.PREFERRED
        ),
    )
    return options_to_json(options), challenge


def read_assertion(credential_json: str) -> PostedAssertion:
    """The credential id and user handle of a sign-in answer, to look the passkey up by."""
    credential = _read_assertion(credential_json)
    return PostedAssertion(credential_id=credential.id, user_handle=credential.response.user_handle)


def _read_assertion(credential_json: str) -> AuthenticationCredential:
    credential = _read(parse_authentication_credential_json, credential_json)
    handle = credential.response.user_handle
    if credential.id != bytes_to_base64url(credential.raw_id) or not credential.raw_id:
        raise PasskeyMalformed()
    if handle is not None and not 1 <= len(handle) <= MAX_USER_HANDLE_BYTES:
        raise PasskeyMalformed()
    return credential


def choose_passkey(posted: PostedAssertion, candidates: Iterable[StoredPasskey]) -> StoredPasskey:
    """The one of ``candidates`` (e.g. an account's passkeys) that answered."""
    for candidate in candidates:
        if secrets.compare_digest(candidate.credential_id, posted.credential_id):
            return candidate
    raise PasskeyUnknown()


def verify_authentication(
    rp: RelyingParty, credential_json: str, challenge: bytes, stored: StoredPasskey, require_user_verification: bool
) -> PasskeyUse:
    rp.require()
    credential = _read_assertion(credential_json)
    if credential.id != stored.credential_id:
        raise PasskeyUnknown()
    handle = credential.response.user_handle
    if handle is not None and not secrets.compare_digest(handle, stored.user_handle):
        raise PasskeyRefused()
    client_data = _read(parse_client_data_json, credential.response.client_data_json)
    _check_client_data(rp, client_data, ClientDataType.WEBAUTHN_GET, challenge)
    auth_data = _read(parse_authenticator_data, credential.response.authenticator_data)
    _check_rp_id_hash(rp, auth_data.rp_id_hash)
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=stored.public_key,
            # The counter is compared below, after the signature, so that only a genuine answer
            # can be called a copied passkey.
            credential_current_sign_count=0,
            require_user_verification=require_user_verification,
        )
    except UNREADABLE as error:
        raise PasskeyRefused() from error
    backup_eligible = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    if backup_eligible != stored.backup_eligible:
        # Eligibility is fixed when a passkey is made: a change means another authenticator.
        raise PasskeyRefused()
    if stored.sign_count > 0 and verified.new_sign_count <= stored.sign_count:
        raise PasskeyCounterError()
    return PasskeyUse(
        new_sign_count=max(verified.new_sign_count, stored.sign_count),
        backed_up=verified.credential_backed_up,
        user_verified=verified.user_verified,
    )


# Shared checks -------------------------------------------------------------------------------
def _read(parse: Callable[[Raw], Parsed], value: Raw) -> Parsed:
    try:
        return parse(value)
    except UNREADABLE as error:
        raise PasskeyMalformed() from error


def _check_client_data(
    rp: RelyingParty, client_data: CollectedClientData, kind: ClientDataType, challenge: bytes
) -> None:
    if client_data.origin not in rp.origins:
        raise PasskeyWrongSite()
    if client_data.type != kind or not secrets.compare_digest(client_data.challenge, challenge):
        raise PasskeyRefused()


def _check_rp_id_hash(rp: RelyingParty, rp_id_hash: bytes) -> None:
    if not secrets.compare_digest(rp_id_hash, hashlib.sha256(rp.id.encode()).digest()):
        raise PasskeyWrongSite()
