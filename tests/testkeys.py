"""The one way the tests and the vector generator derive keys from a label, repeatable across runs.

* P-256 private scalar = int(SHA-256(label)) mod (n - 1) + 1
* Ed25519 private seed = SHA-256(label)

The vectors publish every key they use (PEM) and this derivation, so another implementation can make
its own presentations against the same trust stores. These keys are public: never trust them anywhere.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from econsent import Algorithm, SigningKey

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

KEY_DERIVATION = {
    Algorithm.ES256: "P-256 private scalar = int(SHA-256(name)) mod (n - 1) + 1",
    Algorithm.ED25519: "Ed25519 private seed = SHA-256(name)",
}


def p256_private_key(label: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 key of ``label`` as a ``cryptography`` object (for certificates, JWKs, DER signers)."""
    scalar = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") % (P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def es256_test_key(label: str) -> SigningKey:
    """The ES256 signing key of ``label``."""
    return SigningKey(Algorithm.ES256, p256_private_key(label))


def ed25519_test_key(label: str) -> SigningKey:
    """The Ed25519 signing key of ``label``."""
    seed = hashlib.sha256(label.encode()).digest()
    return SigningKey(Algorithm.ED25519, ed25519.Ed25519PrivateKey.from_private_bytes(seed))


SM2_ORDER = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
KEY_DERIVATION[Algorithm.SM2] = "SM2 private scalar = int(SHA-256(name)) mod (n - 2) + 1 (curve sm2p256v1)"


def sm2_test_key(label: str, *, sm2_user_id: bytes | None = None) -> SigningKey:
    """The SM2 signing key of ``label`` (d in 1 .. n - 2, as GB/T 32918.2 requires)."""
    from econsent.keys import _Sm2Private

    scalar = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") % (SM2_ORDER - 2) + 1
    return SigningKey(Algorithm.SM2, _Sm2Private(scalar), sm2_user_id=sm2_user_id)
