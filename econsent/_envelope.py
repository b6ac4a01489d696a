"""Domain-separated signing inputs, so a signature made for one purpose can never pass for another.

Each signature covers a context tag naming the object and the format version, then exact bytes:

* credential (issuer key):    ``"econsent/v1 credential\\0" || header bytes || disclosure-tree root``
* presentation (holder key):  ``"econsent/v1 presentation\\0" || payload bytes before the holder signature``
* trust list (anchor key):    ``"econsent/v1 trust-list\\0" || the list's payload bytes``
* status list (issuer key):   ``"econsent/v1 status-list\\0" || list bytes before the signature``
* possession (holder key):    ``"econsent/v1 possession\\0" || issuer kid || holder alg id || holder key || challenge``
* key registration (issuer):  ``"econsent/v1 registry-key\\0" || new key's kid || nonce`` (local to an issuer registry)

No time, no claims policy: the verifier decides what a valid signature means. An SM2 key signs the same
inputs, hashed as GB/T 32918.2 says (SM3 over Z, which binds the user ID and the key, then the input);
``sm2_user_id`` is the trust store's user ID for an issuer key (None: the default ``1234567812345678``).
"""

from __future__ import annotations

import hashlib

from .errors import SignerError
from .keys import HashSuite, PublicKey, Signer, SigningKey, sm3

__all__ = [
    "CREDENTIAL_CONTEXT",
    "POSSESSION_CONTEXT",
    "PRESENTATION_CONTEXT",
    "REGISTRATION_CONTEXT",
    "STATUS_LIST_CONTEXT",
    "TRUST_LIST_CONTEXT",
    "possession_input",
    "presentation_fingerprint",
    "sign_credential",
    "sign_possession",
    "sign_presentation",
    "sign_registration",
    "sign_status_list",
    "sign_trust_list",
    "verify_credential",
    "verify_possession",
    "verify_presentation",
    "verify_registration",
    "verify_status_list",
    "verify_trust_list",
]

CREDENTIAL_CONTEXT = b"econsent/v1 credential\x00"
PRESENTATION_CONTEXT = b"econsent/v1 presentation\x00"
TRUST_LIST_CONTEXT = b"econsent/v1 trust-list\x00"
STATUS_LIST_CONTEXT = b"econsent/v1 status-list\x00"
POSSESSION_CONTEXT = b"econsent/v1 possession\x00"
REGISTRATION_CONTEXT = b"econsent/v1 registry-key\x00"
_FINGERPRINT_CONTEXT = b"econsent/v1 replay\x00"


def _checked_sign(signer: Signer, message: bytes) -> bytes:
    """Sign, and check what a foreign signer (hardware, HSM) returned before anyone relies on it.

    An in-memory :class:`SigningKey` is our own code and is not re-checked: that verify would cost
    three times the signature itself on the issuer's hot path.
    """
    try:
        signature = signer.sign(message)
    except SignerError:
        raise
    except Exception as exc:  # a hardware signer can fail in any way; report it as ours
        raise SignerError(f"the signer failed: {type(exc).__name__}") from exc
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise SignerError("the signer must return a raw 64-byte signature (r || s for ES256)")
    # An SM2 signer with its own user ID names it as ``sm2_user_id`` (as SigningKey does); others use the default.
    user_id = getattr(signer, "sm2_user_id", None)
    if not isinstance(signer, SigningKey) and not signer.public_key.verify(signature, message, sm2_user_id=user_id):
        raise SignerError("the signer's signature does not verify with its public key")
    return signature


def sign_credential(signer: Signer, header_bytes: bytes, root: bytes) -> bytes:
    return _checked_sign(signer, CREDENTIAL_CONTEXT + header_bytes + root)


def verify_credential(
    key: PublicKey, signature: bytes, header_bytes: bytes, root: bytes, *, sm2_user_id: bytes | None = None
) -> bool:
    return key.verify(signature, CREDENTIAL_CONTEXT + header_bytes + root, sm2_user_id=sm2_user_id)


def sign_presentation(signer: Signer, signed_bytes: bytes) -> bytes:
    return _checked_sign(signer, PRESENTATION_CONTEXT + signed_bytes)


def verify_presentation(key: PublicKey, signature: bytes, signed_bytes: bytes) -> bool:
    return key.verify(signature, PRESENTATION_CONTEXT + signed_bytes)


def sign_trust_list(signer: Signer, payload: bytes) -> bytes:
    return _checked_sign(signer, TRUST_LIST_CONTEXT + payload)


def verify_trust_list(key: PublicKey, signature: bytes, payload: bytes) -> bool:
    """An anchor is pinned as a bare key, so an SM2 anchor signs with the default user ID."""
    return key.verify(signature, TRUST_LIST_CONTEXT + payload)


def sign_status_list(signer: Signer, signed_bytes: bytes) -> bytes:
    return _checked_sign(signer, STATUS_LIST_CONTEXT + signed_bytes)


def verify_status_list(
    key: PublicKey, signature: bytes, signed_bytes: bytes, *, sm2_user_id: bytes | None = None
) -> bool:
    return key.verify(signature, STATUS_LIST_CONTEXT + signed_bytes, sm2_user_id=sm2_user_id)


def possession_input(issuer_kid: bytes, holder_key: PublicKey, challenge: bytes) -> bytes:
    """What a holder signs to prove it controls ``holder_key`` to the issuer ``issuer_kid`` (SPEC 6.2).

    Every field before the challenge has a fixed length (8-byte kid, 1-byte algorithm id, 33 or 32 key
    bytes by algorithm), so the challenge needs no length prefix and no two inputs share bytes.
    """
    return POSSESSION_CONTEXT + issuer_kid + bytes((holder_key.algorithm.wire_id,)) + holder_key.raw + challenge


def sign_possession(signer: Signer, issuer_kid: bytes, challenge: bytes) -> bytes:
    return _checked_sign(signer, possession_input(issuer_kid, signer.public_key, challenge))


def verify_possession(holder_key: PublicKey, signature: bytes, issuer_kid: bytes, challenge: bytes) -> bool:
    return holder_key.verify(signature, possession_input(issuer_kid, holder_key, challenge))


def sign_registration(signer: Signer, new_kid: bytes, nonce: bytes) -> bytes:
    """An issuer key's consent to registering ``new_kid`` in its registry (fresh ``nonce`` per request)."""
    return _checked_sign(signer, REGISTRATION_CONTEXT + new_kid + nonce)


def verify_registration(key: PublicKey, signature: bytes, new_kid: bytes, nonce: bytes) -> bool:
    return key.verify(signature, REGISTRATION_CONTEXT + new_kid + nonce)


def presentation_fingerprint(signed_bytes: bytes, suite: HashSuite = HashSuite.SHA2) -> bytes:
    """Identifies a presentation for replay detection: the holder-signed bytes, not the signature.

    Payloads are canonical, so the same presentation has exactly one byte form; a copy with another
    (re-made or malleated) signature over the same bytes has the same fingerprint. The hash is the
    credential's suite (SM3 when the issuer key is SM2).
    """
    if suite is HashSuite.SM3:
        return sm3(_FINGERPRINT_CONTEXT + signed_bytes)
    return hashlib.sha256(_FINGERPRINT_CONTEXT + signed_bytes).digest()
