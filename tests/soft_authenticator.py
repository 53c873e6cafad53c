"""A software passkey authenticator for tests: ES256 keys, attestation "none", CBOR by cbor2.

It answers the options JSON that ``navigator.credentials.create``/``get`` would receive with the
JSON a browser posts (``credential.toJSON()``): clientDataJSON, authenticatorData (rpIdHash,
flags UP/UV/BE/BS/AT, counter, attested credential data) and an ECDSA signature. Each answer
can be bent (another origin or relying-party id, no user verification, a chosen counter or
backup-eligible flag, another challenge) to see a refusal.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes.fromhex("a11ce0000000400080000000000000ee")  # made up: "an authenticator of ours"
UNSET: Any = object()


@dataclass
class SoftCredential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0
    backup_eligible: bool = False
    backed_up: bool = False

    @property
    def id(self) -> str:
        return bytes_to_base64url(self.credential_id)

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


@dataclass
class SoftAuthenticator:
    """Holds discoverable credentials like a phone's passkey store. ``counting=False`` is a
    passkey that never counts (sign count 0 forever), as many synced passkeys do."""

    origin: str
    user_verified: bool = True
    backup_eligible: bool = False
    backed_up: bool = False
    counting: bool = True
    credentials: list[SoftCredential] = field(default_factory=list)

    def create(
        self,
        options_json: str,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool | None = None,
        challenge: bytes | None = None,
        ceremony: str = "webauthn.create",
    ) -> str:
        options = json.loads(options_json)
        excluded = {c["id"] for c in options.get("excludeCredentials", [])}
        if any(c.id in excluded for c in self.credentials):
            raise RuntimeError("InvalidStateError: this authenticator holds an excluded credential")
        assert any(p["alg"] == -7 for p in options["pubKeyCredParams"]), "ES256 must be offered"
        credential = SoftCredential(
            credential_id=secrets.token_bytes(16),
            key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=options["rp"]["id"],
            user_handle=base64url_to_bytes(options["user"]["id"]),
            backup_eligible=self.backup_eligible,
            backed_up=self.backed_up,
        )
        self.credentials.append(credential)
        client_data = self._client_data(ceremony, challenge or base64url_to_bytes(options["challenge"]), origin)
        attested = AAGUID + struct.pack(">H", len(credential.credential_id)) + credential.credential_id
        auth_data = self._auth_data(
            rp_id or credential.rp_id,
            self._flags(credential, user_verified) | AT,
            credential.sign_count,
            attested + credential.cose_public_key(),
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": credential.id,
                "rawId": credential.id,
                "type": "public-key",
                "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": bytes_to_base64url(client_data),
                    "attestationObject": bytes_to_base64url(attestation),
                    "transports": ["internal", "hybrid"],
                },
            }
        )

    def get(
        self,
        options_json: str,
        *,
        credential: SoftCredential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool | None = None,
        counter: int | None = None,
        backup_eligible: bool | None = None,
        user_handle: bytes | None = UNSET,
        challenge: bytes | None = None,
        ceremony: str = "webauthn.get",
    ) -> str:
        """Answers with ``credential``, or the one the allow list names, or the first one here."""
        options = json.loads(options_json)
        chosen = credential or self._pick(options)
        if counter is not None:
            chosen.sign_count = counter
        elif self.counting:
            chosen.sign_count += 1
        if backup_eligible is not None:
            chosen.backup_eligible = backup_eligible
        client_data = self._client_data(ceremony, challenge or base64url_to_bytes(options["challenge"]), origin)
        auth_data = self._auth_data(rp_id or chosen.rp_id, self._flags(chosen, user_verified), chosen.sign_count)
        signature = chosen.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        handle = chosen.user_handle if user_handle is UNSET else user_handle
        return json.dumps(
            {
                "id": chosen.id,
                "rawId": chosen.id,
                "type": "public-key",
                "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": bytes_to_base64url(client_data),
                    "authenticatorData": bytes_to_base64url(auth_data),
                    "signature": bytes_to_base64url(signature),
                    "userHandle": None if handle is None else bytes_to_base64url(handle),
                },
            }
        )

    def _pick(self, options: dict[str, Any]) -> SoftCredential:
        allowed = {c["id"] for c in options.get("allowCredentials", [])}
        mine = [c for c in self.credentials if c.rp_id == options["rpId"] and (not allowed or c.id in allowed)]
        if not mine:
            raise RuntimeError("NotAllowedError: no credential of this authenticator fits")
        return mine[0]

    def _client_data(self, ceremony: str, challenge: bytes, origin: str | None) -> bytes:
        data = {"type": ceremony, "challenge": bytes_to_base64url(challenge), "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}, separators=(",", ":")).encode()

    def _flags(self, credential: SoftCredential, user_verified: bool | None) -> int:
        verified = self.user_verified if user_verified is None else user_verified
        return (
            UP
            | (UV if verified else 0)
            | (BE if credential.backup_eligible else 0)
            | (BS if credential.backup_eligible and credential.backed_up else 0)
        )

    @staticmethod
    def _auth_data(rp_id: str, flags: int, counter: int, attested: bytes = b"") -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", counter) + attested
