"""Proof of possession: the holder proves to the issuer that it controls the key it asks to have bound.

The issuer hands out a random challenge (:meth:`econsent.Issuer.new_challenge`); the holder signs it,
together with the issuer's key id and its own public key, in the possession context (SPEC section 6.2);
the issuer checks the proof before it binds the key. Without it an issuer binds whatever key it is sent:
someone else's key, or a key nobody holds. The proof is bound to one issuer (useless at another), one
holder key (useless for another) and one challenge (useless for another issuance).
"""

from __future__ import annotations

import binascii
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from ._envelope import sign_possession, verify_possession
from ._json import loads_strict
from ._wire import KID_BYTES, SIGNATURE_BYTES
from .errors import PossessionError, PossessionProblem
from .keys import PublicKey, Signer

__all__ = [
    "ATTESTED_OUT_OF_BAND",
    "CHALLENGE_BYTES",
    "MAX_CHALLENGE_BYTES",
    "MIN_CHALLENGE_BYTES",
    "KeyAttestation",
    "PossessionError",
    "PossessionProblem",
    "PossessionProof",
    "check_possession",
    "new_challenge",
    "prove_possession",
]

MIN_CHALLENGE_BYTES = 16
MAX_CHALLENGE_BYTES = 64
CHALLENGE_BYTES = 32
PROOF_FORMAT = "econsent-possession"
PROOF_VERSION = 1
MAX_PROOF_DOCUMENT_BYTES = 1024
_PROOF_FIELDS = frozenset({"format", "version", "challenge", "signature"})


class KeyAttestation(Enum):
    """How an issuer may know a holder key is the holder's other than by a proof it checks itself."""

    ATTESTED_OUT_OF_BAND = "attested-out-of-band"


ATTESTED_OUT_OF_BAND: Final = KeyAttestation.ATTESTED_OUT_OF_BAND
"""``Issuer.issue(..., possession=ATTESTED_OUT_OF_BAND)``: the caller vouches that the holder controls the
key (hardware key attestation, an enrolment ceremony), so the issuer binds it without a proof."""


@dataclass(frozen=True, slots=True)
class PossessionProof:
    """The holder's signature over an issuer's challenge (SPEC section 6.2); sizes are checked on creation."""

    challenge: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_challenge(self.challenge, "the proof's challenge")
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_BYTES:
            raise PossessionError(PossessionProblem.MALFORMED, f"the signature must be {SIGNATURE_BYTES} bytes")

    def to_json(self) -> dict[str, Any]:
        """The proof as a JSON object: ``{"format", "version", "challenge", "signature"}``, bytes in lowercase hex."""
        return {
            "format": PROOF_FORMAT,
            "version": PROOF_VERSION,
            "challenge": self.challenge.hex(),
            "signature": self.signature.hex(),
        }

    def encode(self) -> bytes:
        """The compact JSON form the CLI writes (``proof.json``)."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode("ascii") + b"\n"

    @classmethod
    def from_json(cls, document: object) -> PossessionProof:
        """Parse the JSON object form strictly: exactly its four fields, lowercase hex of the right sizes."""
        if not isinstance(document, dict) or set(document) != _PROOF_FIELDS:
            raise PossessionError(
                PossessionProblem.MALFORMED, f"a proof is an object with exactly {sorted(_PROOF_FIELDS)}"
            )
        if document["format"] != PROOF_FORMAT:
            raise PossessionError(PossessionProblem.MALFORMED, f"format must be {PROOF_FORMAT!r}")
        if document["version"] != PROOF_VERSION or isinstance(document["version"], bool):
            raise PossessionError(PossessionProblem.MALFORMED, f"version must be {PROOF_VERSION}")
        return cls(_hex_field(document["challenge"], "challenge"), _hex_field(document["signature"], "signature"))

    @classmethod
    def decode(cls, data: bytes) -> PossessionProof:
        """Read the file form written by :meth:`encode` (any JSON layout; duplicate keys refused)."""
        if len(data) > MAX_PROOF_DOCUMENT_BYTES:
            raise PossessionError(PossessionProblem.MALFORMED, f"larger than {MAX_PROOF_DOCUMENT_BYTES} bytes")
        try:
            document = loads_strict(data)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise PossessionError(PossessionProblem.MALFORMED, f"not JSON: {exc}") from exc
        return cls.from_json(document)


def new_challenge(random_bytes: Callable[[int], bytes] = os.urandom) -> bytes:
    """A fresh challenge of :data:`CHALLENGE_BYTES` random bytes, for one issuance only."""
    return random_bytes(CHALLENGE_BYTES)


def prove_possession(signer: Signer, challenge: bytes, *, issuer_kid: bytes) -> PossessionProof:
    """The holder's proof, for the issuer with key id ``issuer_kid``, that it controls ``signer``'s key."""
    _check_challenge(challenge, "the challenge")
    _check_kid(issuer_kid)
    return PossessionProof(challenge, sign_possession(signer, issuer_kid, challenge))


def check_possession(holder_key: PublicKey, proof: PossessionProof, *, issuer_kid: bytes, challenge: bytes) -> None:
    """Raise :class:`PossessionError` unless ``proof`` answers ``challenge`` (the one this issuer handed
    out) with a signature by ``holder_key`` for ``issuer_kid``."""
    _check_challenge(challenge, "the expected challenge")
    _check_kid(issuer_kid)
    if not hmac.compare_digest(proof.challenge, challenge):
        raise PossessionError(PossessionProblem.CHALLENGE_MISMATCH, "the proof's challenge is not the expected one")
    if not verify_possession(holder_key, proof.signature, issuer_kid, challenge):
        raise PossessionError(
            PossessionProblem.BAD_SIGNATURE, f"holder key {holder_key.kid.hex()}, issuer key {issuer_kid.hex()}"
        )


def _check_challenge(challenge: object, what: str) -> None:
    if not isinstance(challenge, bytes) or not MIN_CHALLENGE_BYTES <= len(challenge) <= MAX_CHALLENGE_BYTES:
        raise PossessionError(
            PossessionProblem.MALFORMED, f"{what} must be {MIN_CHALLENGE_BYTES} to {MAX_CHALLENGE_BYTES} bytes"
        )


def _check_kid(issuer_kid: object) -> None:
    if not isinstance(issuer_kid, bytes) or len(issuer_kid) != KID_BYTES:
        raise PossessionError(PossessionProblem.MALFORMED, f"the issuer key id must be {KID_BYTES} bytes")


def _hex_field(value: object, name: str) -> bytes:
    if not isinstance(value, str) or value != value.lower():
        raise PossessionError(PossessionProblem.MALFORMED, f"{name} must be lowercase hex")
    try:
        return binascii.unhexlify(value)
    except (binascii.Error, ValueError) as exc:
        raise PossessionError(PossessionProblem.MALFORMED, f"{name} must be lowercase hex") from exc
