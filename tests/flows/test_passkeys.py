"""Passkey ceremonies against a software authenticator, without storage: what a registration
stores, that a sign-in passes, and that each wrong answer is refused with its own domain error
(never another exception)."""

from __future__ import annotations

import contextlib
import json
import random
import uuid
from dataclasses import replace

import pytest
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from tests.soft_authenticator import AAGUID, SoftAuthenticator
from vitalkey.domain.errors import (
    DomainError,
    PasskeyCounterError,
    PasskeyMalformed,
    PasskeyRefused,
    PasskeyUnavailable,
    PasskeyUnknown,
    PasskeyWrongSite,
)
from vitalkey.flows.passkeys import (
    NewPasskey,
    PostedAssertion,
    RelyingParty,
    StoredPasskey,
    authentication_options,
    choose_passkey,
    new_user_handle,
    read_assertion,
    registration_options,
    verify_authentication,
    verify_registration,
)

RP = RelyingParty.from_public_url("http://localhost:8123")
ORIGIN = "http://localhost:8123"
EMAIL = "ada@example.org"


def register(device: SoftAuthenticator, handle: bytes | None = None) -> tuple[NewPasskey, StoredPasskey]:
    handle = handle or new_user_handle()
    options, challenge = registration_options(RP, handle, EMAIL, "Ada", exclude=[])
    new = verify_registration(RP, device.create(options), challenge)
    stored = StoredPasskey(new.credential_id, new.public_key, new.sign_count, new.backup_eligible, handle)
    return new, stored


@pytest.fixture
def device() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN)


# Relying party --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "rp_id", "origin", "applies"),
    [
        ("http://localhost:8123", "localhost", "http://localhost:8123", True),
        ("http://localhost:8123/some/path?x=1", "localhost", "http://localhost:8123", True),
        ("https://id.example.org", "id.example.org", "https://id.example.org", True),
        ("https://ID.Example.org:443/", "id.example.org", "https://id.example.org", True),
        ("https://id.example.org:8443", "id.example.org", "https://id.example.org:8443", True),
        ("http://localhost:80", "localhost", "http://localhost", True),
        ("http://app.localhost:9000", "app.localhost", "http://app.localhost:9000", True),
        ("http://127.0.0.1:8000", "127.0.0.1", "http://127.0.0.1:8000", False),
        ("https://10.1.2.3", "10.1.2.3", "https://10.1.2.3", False),
        ("https://[::1]:8443", "::1", "https://[::1]:8443", False),
        ("http://id.example.org", "id.example.org", "http://id.example.org", False),
    ],
)
def test_relying_party_from_public_url(url: str, rp_id: str, origin: str, applies: bool) -> None:
    rp = RelyingParty.from_public_url(url)
    assert (rp.id, rp.origins, rp.applies, rp.name) == (rp_id, (origin,), applies, "VitalKey")


def test_extra_origins_are_accepted_too(device: SoftAuthenticator) -> None:
    app = "android:apk-key-hash:abc"
    rp = RelyingParty.from_public_url("https://id.example.org", name="VK", extra_origins=[app])
    assert rp.origins == ("https://id.example.org", app) and rp.name == "VK"
    options, challenge = registration_options(rp, new_user_handle(), EMAIL, "Ada", [])
    assert verify_registration(rp, device.create(options, origin=app), challenge).credential_id


@pytest.mark.parametrize("url", ["ftp://example.org", "localhost:8000", "https://"])
def test_a_public_url_without_http_and_host_is_a_setup_error(url: str) -> None:
    with pytest.raises(ValueError):
        RelyingParty.from_public_url(url)


def test_passkeys_are_unavailable_where_they_do_not_apply() -> None:
    rp = RelyingParty.from_public_url("http://127.0.0.1:8000")
    with pytest.raises(PasskeyUnavailable):
        registration_options(rp, new_user_handle(), EMAIL, "Ada", [])
    with pytest.raises(PasskeyUnavailable):
        authentication_options(rp)


# Registration ---------------------------------------------------------------------------------
def test_registration_options_ask_for_a_discoverable_verified_passkey() -> None:
    handle = new_user_handle()
    options_json, challenge = registration_options(RP, handle, EMAIL, "Ada L.", exclude=["AAEC", "AwQF"])
    options = json.loads(options_json)
    assert options["rp"] == {"id": "localhost", "name": "VitalKey"}
    assert options["user"] == {"id": bytes_to_base64url(handle), "name": EMAIL, "displayName": "Ada L."}
    assert base64url_to_bytes(options["challenge"]) == challenge and len(challenge) == 32
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["authenticatorSelection"] == {
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "required",
    }
    assert options["attestation"] == "none"
    assert [c["id"] for c in options["excludeCredentials"]] == ["AAEC", "AwQF"]


def test_user_handles_are_random_and_not_the_address() -> None:
    handles = {new_user_handle() for _ in range(20)}
    assert len(handles) == 20 and all(len(h) == 32 for h in handles)
    assert all(EMAIL.encode() not in h for h in handles)


def test_registration_stores_the_right_fields(device: SoftAuthenticator) -> None:
    new, _ = register(device)
    credential = device.credentials[0]
    assert new.credential_id == credential.id
    assert new.public_key == credential.cose_public_key()
    assert new.sign_count == 0
    assert new.transports == ("internal", "hybrid")
    assert new.aaguid == str(uuid.UUID(bytes=AAGUID))
    assert new.fmt == "none"
    assert (new.backup_eligible, new.backed_up) == (False, False)


def test_registration_keeps_the_backup_flags() -> None:
    synced = SoftAuthenticator(origin=ORIGIN, backup_eligible=True, backed_up=True)
    new, _ = register(synced)
    assert (new.backup_eligible, new.backed_up) == (True, True)


@pytest.mark.parametrize(
    ("bend", "error"),
    [
        ({"origin": "http://localhost:9999"}, PasskeyWrongSite),
        ({"origin": "https://evil.example"}, PasskeyWrongSite),
        ({"rp_id": "evil.example"}, PasskeyWrongSite),
        ({"challenge": b"another challenge"}, PasskeyRefused),
        ({"user_verified": False}, PasskeyRefused),
        ({"ceremony": "webauthn.get"}, PasskeyRefused),
    ],
)
def test_registration_refusals(device: SoftAuthenticator, bend: dict[str, object], error: type[DomainError]) -> None:
    options, challenge = registration_options(RP, new_user_handle(), EMAIL, "Ada", [])
    with pytest.raises(error):
        verify_registration(RP, device.create(options, **bend), challenge)  # type: ignore[arg-type]


# Sign-in --------------------------------------------------------------------------------------
def test_discoverable_sign_in(device: SoftAuthenticator) -> None:
    _, stored = register(device)
    options_json, challenge = authentication_options(RP, [])
    options = json.loads(options_json)
    assert options["rpId"] == "localhost" and options["allowCredentials"] == []
    assert options["userVerification"] == "required"
    answer = device.get(options_json)
    posted = read_assertion(answer)
    assert posted == PostedAssertion(stored.credential_id, stored.user_handle)
    use = verify_authentication(RP, answer, challenge, choose_passkey(posted, [stored]), require_user_verification=True)
    assert (use.new_sign_count, use.backed_up, use.user_verified) == (1, False, True)


def test_second_factor_sign_in_with_an_allow_list(device: SoftAuthenticator) -> None:
    _, first = register(device)
    _, second = register(device, first.user_handle)
    options_json, challenge = authentication_options(RP, [second.credential_id], require_user_verification=False)
    options = json.loads(options_json)
    assert [c["id"] for c in options["allowCredentials"]] == [second.credential_id]
    assert options["userVerification"] == "preferred"
    answer = device.get(options_json, user_verified=False)
    stored = choose_passkey(read_assertion(answer), [first, second])
    assert stored == second
    use = verify_authentication(RP, answer, challenge, stored, require_user_verification=False)
    assert use.user_verified is False


def test_counter_must_grow_once_it_counts(device: SoftAuthenticator) -> None:
    _, stored = register(device)
    options, challenge = authentication_options(RP)
    use = verify_authentication(RP, device.get(options, counter=7), challenge, stored, True)
    assert use.new_sign_count == 7
    stored = replace(stored, sign_count=use.new_sign_count)
    for backwards in (7, 6, 0):
        options, challenge = authentication_options(RP)
        with pytest.raises(PasskeyCounterError):
            verify_authentication(RP, device.get(options, counter=backwards), challenge, stored, True)
    options, challenge = authentication_options(RP)
    assert verify_authentication(RP, device.get(options, counter=8), challenge, stored, True).new_sign_count == 8


def test_a_passkey_that_never_counts_is_fine() -> None:
    device = SoftAuthenticator(origin=ORIGIN, counting=False, backup_eligible=True, backed_up=True)
    _, stored = register(device)
    for _ in range(3):
        options, challenge = authentication_options(RP)
        use = verify_authentication(RP, device.get(options), challenge, stored, True)
        assert (use.new_sign_count, use.backed_up) == (0, True)


@pytest.mark.parametrize(
    ("bend", "error"),
    [
        ({"origin": "http://localhost:9999"}, PasskeyWrongSite),
        ({"origin": "http://127.0.0.1:8123"}, PasskeyWrongSite),
        ({"rp_id": "example.org"}, PasskeyWrongSite),
        ({"challenge": b"an older challenge"}, PasskeyRefused),
        ({"ceremony": "webauthn.create"}, PasskeyRefused),
        ({"user_verified": False}, PasskeyRefused),
        ({"backup_eligible": True}, PasskeyRefused),
        ({"user_handle": b"someone else"}, PasskeyRefused),
    ],
)
def test_sign_in_refusals(device: SoftAuthenticator, bend: dict[str, object], error: type[DomainError]) -> None:
    _, stored = register(device)
    options, challenge = authentication_options(RP)
    with pytest.raises(error):
        verify_authentication(RP, device.get(options, **bend), challenge, stored, True)  # type: ignore[arg-type]


def test_backup_eligibility_lost_is_refused_too() -> None:
    device = SoftAuthenticator(origin=ORIGIN, backup_eligible=True)
    _, stored = register(device)
    options, challenge = authentication_options(RP)
    with pytest.raises(PasskeyRefused):
        verify_authentication(RP, device.get(options, backup_eligible=False), challenge, stored, True)


def test_no_user_handle_is_fine_for_a_listed_passkey(device: SoftAuthenticator) -> None:
    _, stored = register(device)
    options, challenge = authentication_options(RP, [stored.credential_id])
    answer = device.get(options, user_handle=None)
    assert read_assertion(answer).user_handle is None
    assert verify_authentication(RP, answer, challenge, stored, True).new_sign_count == 1


def test_a_signature_by_another_key_is_refused(device: SoftAuthenticator) -> None:
    _, stored = register(device)
    _, other = register(device, stored.user_handle)
    options, challenge = authentication_options(RP)
    answer = device.get(options, credential=device.credentials[0])
    with pytest.raises(PasskeyRefused):
        verify_authentication(RP, answer, challenge, replace(stored, public_key=other.public_key), True)


def test_an_unknown_passkey(device: SoftAuthenticator) -> None:
    _, stored = register(device)
    stranger = SoftAuthenticator(origin=ORIGIN)
    _, _unknown = register(stranger)
    options, challenge = authentication_options(RP)
    answer = stranger.get(options)
    with pytest.raises(PasskeyUnknown):
        choose_passkey(read_assertion(answer), [stored])
    with pytest.raises(PasskeyUnknown):
        choose_passkey(read_assertion(answer), [])
    with pytest.raises(PasskeyUnknown):
        verify_authentication(RP, answer, challenge, stored, True)
    assert "not registered with VitalKey" in PasskeyUnknown.message


# Malformed answers: always PasskeyMalformed (a 400), never anything else ------------------------
def sign_in_answer() -> tuple[str, bytes, StoredPasskey]:
    device = SoftAuthenticator(origin=ORIGIN)
    _, stored = register(device)
    options, challenge = authentication_options(RP)
    return device.get(options), challenge, stored


def registration_answer() -> tuple[str, bytes]:
    options, challenge = registration_options(RP, new_user_handle(), EMAIL, "Ada", [])
    return SoftAuthenticator(origin=ORIGIN).create(options), challenge


def bent(answer: str, path: tuple[str, ...], value: object) -> str:
    data = json.loads(answer)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(data)


UNREADABLE_SIGN_INS = [
    lambda a: "",
    lambda a: "not json",
    lambda a: "[]",
    lambda a: "null",
    lambda a: '"a string"',
    lambda a: "{}",
    lambda a: "[" * 100_000,
    lambda a: bent(a, ("response",), "x"),
    lambda a: bent(a, ("type",), "password"),
    lambda a: bent(a, ("rawId",), 7),
    lambda a: bent(a, ("rawId",), "!!!"),
    lambda a: bent(a, ("response", "signature"), None),
    lambda a: bent(a, ("response", "userHandle"), 12),
    lambda a: bent(a, ("response", "userHandle"), "%%%"),
    lambda a: bent(a, ("response", "userHandle"), bytes_to_base64url(bytes(65))),
    lambda a: bent(a, ("authenticatorAttachment",), "usb"),
]
MALFORMED_SIGN_INS = [
    *UNREADABLE_SIGN_INS,
    lambda a: bent(a, ("response", "clientDataJSON"), "e30"),  # {}
    lambda a: bent(a, ("response", "clientDataJSON"), bytes_to_base64url(b"\xff\xfe")),
    lambda a: bent(a, ("response", "clientDataJSON"), bytes_to_base64url(b'{"type": 1, "challenge": 5}')),
    lambda a: bent(a, ("response", "authenticatorData"), "AAAA"),
    lambda a: bent(a, ("response", "authenticatorData"), ""),
]


@pytest.mark.parametrize("malform", UNREADABLE_SIGN_INS)
def test_unreadable_sign_in_answers_give_no_credential_id(malform: object) -> None:
    answer, _, _ = sign_in_answer()
    with pytest.raises(PasskeyMalformed):
        read_assertion(malform(answer))  # type: ignore[operator]


@pytest.mark.parametrize("malform", MALFORMED_SIGN_INS)
def test_malformed_sign_in_answers(malform: object) -> None:
    answer, challenge, stored = sign_in_answer()
    with pytest.raises(PasskeyMalformed):
        verify_authentication(RP, malform(answer), challenge, stored, True)  # type: ignore[operator]


MALFORMED_REGISTRATIONS = [
    lambda a: "",
    lambda a: "{",
    lambda a: "{}",
    lambda a: "42",
    lambda a: bent(a, ("response", "attestationObject"), None),
    lambda a: bent(a, ("response", "attestationObject"), "AAAA"),
    lambda a: bent(a, ("response", "attestationObject"), bytes_to_base64url(b"\xa1\x63fmt")),
    lambda a: bent(a, ("response", "clientDataJSON"), "bm90IGpzb24"),
    lambda a: bent(a, ("rawId",), "AAAA"),
    lambda a: bent(a, ("id",), None),
]


@pytest.mark.parametrize("malform", MALFORMED_REGISTRATIONS)
def test_malformed_registrations(malform: object) -> None:
    answer, challenge = registration_answer()
    with pytest.raises(PasskeyMalformed):
        verify_registration(RP, malform(answer), challenge)  # type: ignore[operator]


def flip_bytes(field: str, seed: int, answer: str) -> str:
    """``answer`` with one byte of a base64url field changed (so it still decodes)."""
    data = json.loads(answer)
    raw = bytearray(base64url_to_bytes(data["response"][field]))
    rng = random.Random(seed)
    raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    data["response"][field] = bytes_to_base64url(bytes(raw))
    return json.dumps(data)


@pytest.mark.parametrize("seed", range(40))
def test_random_damage_is_always_a_passkey_refusal(seed: int) -> None:
    """Whatever byte is damaged, the answer is a passkey error (a 400), never a crash or a pass."""
    answer, challenge, stored = sign_in_answer()
    for field in ("clientDataJSON", "authenticatorData", "signature"):
        with pytest.raises((PasskeyMalformed, PasskeyRefused, PasskeyWrongSite, PasskeyCounterError)):
            verify_authentication(RP, flip_bytes(field, seed, answer), challenge, stored, True)
    # A registration's "none" attestation signs nothing, so some damage still registers (a
    # key whose sign-ins will fail, or an ignored clientDataJSON member): no crash is the point.
    registration, reg_challenge = registration_answer()
    for field in ("clientDataJSON", "attestationObject"):
        with contextlib.suppress(PasskeyMalformed, PasskeyRefused, PasskeyWrongSite):
            assert verify_registration(RP, flip_bytes(field, seed, registration), reg_challenge).credential_id
