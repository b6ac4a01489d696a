"""Keys: generation, PEM loading and saving, key ids, and the signer interface.

Three algorithms exist: ES256 (ECDSA P-256 with SHA-256, what phone secure hardware offers), Ed25519,
and SM2 (GB/T 32918.2 signatures on the curve sm2p256v1 with SM3, for issuers held to China's commercial
cryptography rules). Signatures are always raw and fixed-length: ``r || s`` (32 bytes each, big-endian)
for ES256 and SM2, the 64 RFC 8032 bytes for Ed25519. Public keys travel as SEC1 compressed points (33
bytes) or raw Ed25519 keys (32 bytes). A key id is the first 8 bytes of SHA-256 (SM3 for SM2 keys) over
the key's DER SubjectPublicKeyInfo.

SM2 arithmetic comes from the optional ``gmssl_pyx`` package (``pip install 'econsent[sm]'``), loaded
only when an SM2 key signs or verifies; point decoding and validation are done here, so a key is
checked the same way whichever way it enters.

Weak keys never enter (SPEC section 6.1): every :class:`PublicKey`, however it is loaded, refuses the
Ed25519 encodings of the 8 small-order points and every non-canonical Ed25519 encoding, because OpenSSL
accepts a signature R = identity, S = 0 under such a key for every message (identity) or one in n (order
n). Keys read from files (PEM, JWK, X.509) must also be points of their curve.

A :class:`Signer` is anything that can sign bytes with a key that may never leave its hardware (a
phone's secure element, an HSM); :class:`SigningKey` is the software implementation.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, Protocol, TypeAlias, cast, runtime_checkable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
)

from .errors import KeyLoadError, MissingDependencyError, SignerError

__all__ = [
    "MAX_SM2_USER_ID_BYTES",
    "SM2_DEFAULT_USER_ID",
    "Algorithm",
    "HashSuite",
    "PublicKey",
    "Signer",
    "SigningKey",
    "public_keys_from_jwks",
    "raw_signature_from_der",
    "sm2_available",
    "sm3",
]

_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P256_ORDER_BYTES = _P256_ORDER.to_bytes(32, "big")
_ZERO_SCALAR = bytes(32)
_P256 = ec.SECP256R1()
_ES256 = ec.ECDSA(hashes.SHA256())  # immutable: one object serves every signature and verification
_MAX_PEM_BYTES = 64 * 1024


class HashSuite(StrEnum):
    """The hash function family of a credential's disclosure tree, salts and replay fingerprint (SPEC 5.4).

    It follows the issuer key's algorithm, which the verifier takes from its trust store.
    """

    SHA2 = "SHA-256"
    SM3 = "SM3"


class Algorithm(StrEnum):
    """Signature algorithms, named as in JOSE/COSE registries where they exist (SM2 as GB/T 32918 names it)."""

    ES256 = "ES256"
    ED25519 = "Ed25519"
    SM2 = "SM2"

    @property
    def wire_id(self) -> int:
        """The one-byte id used for holder keys on the wire."""
        return _WIRE_IDS[self]

    @property
    def hash_suite(self) -> HashSuite:
        """The hash suite of credentials this algorithm's keys issue: SM3 for SM2, SHA-2 otherwise."""
        return HashSuite.SM3 if self is Algorithm.SM2 else HashSuite.SHA2

    @classmethod
    def from_wire_id(cls, wire_id: int) -> Algorithm:
        for alg in cls:
            if alg.wire_id == wire_id:
                return alg
        raise ValueError(f"unknown algorithm id {wire_id}")

    @classmethod
    def parse(cls, name: str) -> Algorithm:
        """Accept the canonical names and common spellings (``es256``, ``EdDSA``, ``ed25519``)."""
        folded = name.strip().lower()
        if folded in ("es256", "p-256", "p256"):
            return cls.ES256
        if folded in ("ed25519", "eddsa"):
            return cls.ED25519
        if folded == "sm2":
            return cls.SM2
        raise ValueError(f"unsupported algorithm {name!r} (use ES256, Ed25519 or SM2)")


_WIRE_IDS = {Algorithm.ES256: 1, Algorithm.ED25519: 2, Algorithm.SM2: 3}


# The SM2 key classes are defined with the rest of SM2 at the end of this module.
_PublicObject: TypeAlias = "ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | _Sm2Public"
_PrivateObject: TypeAlias = "ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | _Sm2Private"


class PublicKey:
    """A public key with its algorithm. Compares by value; ``verify`` never raises on a bad signature.

    Construction refuses (:class:`KeyLoadError`) a small-order or non-canonical Ed25519 key, so no path
    into the system can carry one.
    """

    __slots__ = ("_key", "_kid", "algorithm", "raw")

    def __init__(self, algorithm: Algorithm, key: _PublicObject) -> None:
        # The algorithm picks the weak-key check and the verifier's policy, the key object the verification
        # itself: an Ed25519 key passed as ES256 would skip the check and still verify as Ed25519.
        if _algorithm_of(key) is not algorithm:
            raise KeyLoadError(f"a {type(key).__name__} is not an {algorithm.value} key")
        if isinstance(key, _Sm2Public):
            raw = key.compressed
        elif isinstance(key, ec.EllipticCurvePublicKey):
            raw = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
        else:
            raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self._set(algorithm, key, raw)

    def _set(self, algorithm: Algorithm, key: _PublicObject, raw: bytes) -> None:
        """Fill the slots, refusing a weak Ed25519 encoding; ``raw`` must be exactly ``key``'s bytes."""
        if algorithm is Algorithm.ED25519:
            _refuse_weak_ed25519(raw)
        self.algorithm = algorithm
        self._key = key
        self._kid: bytes | None = None
        self.raw = raw

    @property
    def kid(self) -> bytes:
        """The 8-byte key id: SHA-256 (SM3 for SM2) of the DER SubjectPublicKeyInfo, truncated (made on first use)."""
        if self._kid is None:
            if isinstance(self._key, _Sm2Public):
                self._kid = sm3(self._key.spki())[:8]
            else:
                spki = self._key.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                self._kid = hashlib.sha256(spki).digest()[:8]
        return self._kid

    @classmethod
    def from_raw(cls, algorithm: Algorithm, raw: bytes) -> PublicKey:
        """Load a compressed P-256 or sm2p256v1 point (33 bytes) or a raw Ed25519 key (32 bytes)."""
        try:
            if algorithm is Algorithm.SM2:
                key: _PublicObject = _Sm2Public.from_compressed(bytes(raw))
            elif algorithm is Algorithm.ES256:
                if len(raw) != 33:
                    raise ValueError("a P-256 public key must be a 33-byte compressed point")
                if raw[0] not in (2, 3):
                    raise ValueError("a P-256 public key must be a compressed point")
                key = ec.EllipticCurvePublicKey.from_encoded_point(_P256, raw)
            elif len(raw) != 32:
                raise ValueError("an Ed25519 public key must be 32 bytes")
            else:
                key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyLoadError(f"not a valid {algorithm.value} public key: {exc}") from exc
        # The key was made from these very bytes: skip re-encoding them, on the verifier's hot path.
        public = cls.__new__(cls)
        public._set(algorithm, key, bytes(raw))
        return public

    @classmethod
    def from_pem(cls, data: bytes | str) -> PublicKey:
        """Load a PEM SubjectPublicKeyInfo. A private key is refused: public-key files get copied around."""
        pem = _pem_bytes(data)
        if b"PRIVATE KEY" in pem:
            raise KeyLoadError("this is a private key: give the public key (the .pub.pem file)")
        der = _pem_body(pem, b"PUBLIC KEY")
        try:
            sm2_key = None if der is None else _sm2_public_from_spki(der)
        except ValueError as exc:
            raise KeyLoadError(f"not a valid SM2 public key: {exc}") from exc
        if sm2_key is not None:
            return cls(Algorithm.SM2, sm2_key)
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyLoadError(f"not a PEM public key: {exc}") from exc
        return cls(_algorithm_of(key), key).on_curve()  # type: ignore[arg-type]

    def to_pem(self) -> bytes:
        if isinstance(self._key, _Sm2Public):
            return _pem(b"PUBLIC KEY", self._key.spki())
        return self._key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @classmethod
    def from_certificate(
        cls, data: bytes, *, ca: bytes | None = None, at: _dt.datetime | None = None
    ) -> tuple[PublicKey, _dt.datetime, _dt.datetime]:
        """The key of an X.509 certificate (PEM or DER) with the certificate's validity period.

        With ``ca`` (the issuing CA's certificate, PEM or DER), the certificate must be directly signed by
        it, and both must be valid at ``at`` when given. This is how government PKI feeds a trust list.
        """
        cert = _load_certificate(data, "certificate")
        if ca is not None:
            authority = _load_certificate(ca, "CA certificate")
            _refuse_weak_authority(authority)
            try:
                cert.verify_directly_issued_by(authority)
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as exc:
                raise KeyLoadError(f"the certificate was not issued by that CA: {exc}") from exc
            if at is not None:
                for name, checked in (("CA certificate", authority), ("certificate", cert)):
                    if not checked.not_valid_before_utc <= at <= checked.not_valid_after_utc:
                        raise KeyLoadError(f"the {name} is not valid at {at.isoformat()}")
        try:
            key = cert.public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:  # e.g. an EC point that is not on its curve
            raise KeyLoadError(f"the certificate's public key cannot be read: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
            raise KeyLoadError(f"unsupported key type {type(key).__name__} in the certificate (use P-256 or Ed25519)")
        return cls(_algorithm_of(key), key).on_curve(), cert.not_valid_before_utc, cert.not_valid_after_utc

    @classmethod
    def from_jwk(cls, jwk: object) -> PublicKey:
        """A key from a JWK (RFC 7517): EC P-256 (``crv`` P-256, ``x``, ``y``) or OKP Ed25519 (``crv``, ``x``).

        Private members (``d``) are refused, so a private JWK pasted by mistake never enters a trust list.
        """
        if not isinstance(jwk, dict):
            raise KeyLoadError("a JWK must be a JSON object")
        if "d" in jwk:
            raise KeyLoadError("this JWK holds a private key: publish only the public members")
        kty, crv = jwk.get("kty"), jwk.get("crv")
        if "alg" in jwk and jwk["alg"] != _JWK_ALGORITHMS.get((kty, crv)):
            raise KeyLoadError(f"a {kty} {crv} JWK cannot declare alg {jwk['alg']!r}")
        try:
            if kty == "EC" and crv == "P-256":
                x, y = _b64url_int(jwk.get("x")), _b64url_int(jwk.get("y"))
                return cls(Algorithm.ES256, ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key())
            if kty == "OKP" and crv == "Ed25519":
                raw = _b64url(jwk.get("x"))
                return cls.from_raw(Algorithm.ED25519, raw).on_curve()
        except ValueError as exc:
            raise KeyLoadError(f"not a valid {kty} {crv} JWK: {exc}") from exc
        raise KeyLoadError(f"unsupported JWK (kty {kty!r}, crv {crv!r}): use EC P-256 or OKP Ed25519")

    def is_on_curve(self) -> bool:
        """True when the key is a point of its curve (P-256 and SM2 points are checked on load already)."""
        return self.algorithm is not Algorithm.ED25519 or _is_ed25519_point(self.raw)

    def on_curve(self) -> PublicKey:
        """This key, if it is a point of its curve; :class:`KeyLoadError` otherwise (for keys read from files)."""
        if not self.is_on_curve():
            raise KeyLoadError(f"not a valid {self.algorithm.value} public key: not a point of the curve")
        return self

    def verify(self, signature: bytes, data: bytes, *, sm2_user_id: bytes | None = None) -> bool:
        """True when ``signature`` is a valid raw signature of ``data`` by this key.

        ``sm2_user_id`` is the user ID of an SM2 key's Z value (the trust store's, else the default
        ``1234567812345678``); other algorithms have none.
        """
        if len(signature) != 64:
            return False
        try:
            if isinstance(self._key, _Sm2Public):
                return _sm2_verify(self._key, signature, data, sm2_user_id or SM2_DEFAULT_USER_ID)
            # The constructors tie the key object to the algorithm; a check of the key's ABC costs a microsecond.
            if self.algorithm is Algorithm.ES256:
                der = _der_from_raw(signature)
                if der is None:
                    return False
                cast(ec.EllipticCurvePublicKey, self._key).verify(der, data, _ES256)
            else:
                cast(ed25519.Ed25519PublicKey, self._key).verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and (self.algorithm, self.raw) == (other.algorithm, other.raw)

    def __hash__(self) -> int:
        return hash((self.algorithm, self.raw))

    def __repr__(self) -> str:
        return f"PublicKey({self.algorithm.value}, kid={self.kid.hex()})"


@runtime_checkable
class Signer(Protocol):
    """Signs bytes with a key that may live in secure hardware.

    ``sign`` returns the raw 64-byte signature (``r || s`` for ES256; use :func:`raw_signature_from_der`
    when the platform returns DER, as Android Keystore and iOS Secure Enclave do).
    """

    @property
    def algorithm(self) -> Algorithm: ...

    @property
    def public_key(self) -> PublicKey: ...

    def sign(self, data: bytes) -> bytes: ...


class SigningKey:
    """A private key held in memory. Its repr and str never show key material."""

    __slots__ = ("_key", "_public", "algorithm", "sm2_user_id")

    def __init__(self, algorithm: Algorithm, key: _PrivateObject, *, sm2_user_id: bytes | None = None) -> None:
        if sm2_user_id is not None and (
            algorithm is not Algorithm.SM2 or not 1 <= len(sm2_user_id) <= MAX_SM2_USER_ID_BYTES
        ):
            raise KeyLoadError(f"only an SM2 key takes a user ID, of 1 to {MAX_SM2_USER_ID_BYTES} bytes")
        self.algorithm = algorithm
        self._key = key
        self.sm2_user_id = sm2_user_id
        self._public = PublicKey(algorithm, key.public if isinstance(key, _Sm2Private) else key.public_key())

    @classmethod
    def generate(cls, algorithm: Algorithm | str = Algorithm.ES256) -> SigningKey:
        alg = Algorithm.parse(algorithm) if isinstance(algorithm, str) else algorithm
        if alg is Algorithm.SM2:
            _gm()  # a key that could never sign here is no use: say what to install now
            return cls(alg, _Sm2Private(secrets.randbelow(_SM2_N - 2) + 1))
        if alg is Algorithm.ES256:
            return cls(alg, ec.generate_private_key(ec.SECP256R1()))
        return cls(alg, ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, data: bytes | str, passphrase: bytes | str | None = None) -> SigningKey:
        """Load a PEM private key (PKCS#8 or SEC1), decrypting it with ``passphrase`` when it is encrypted."""
        pem = _pem_bytes(data)
        password = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        der = _pem_body(pem, b"PRIVATE KEY")
        if der is not None and _SM2_ALGORITHM_ID in der[:32]:
            if password is not None:
                raise KeyLoadError("the key is not encrypted")
            try:
                return cls(Algorithm.SM2, _Sm2Private.from_pkcs8(der))
            except ValueError as exc:
                raise KeyLoadError(f"not a valid SM2 private key: {exc}") from exc
        encrypted = _pem_body(pem, b"ENCRYPTED PRIVATE KEY")
        if encrypted is not None and password is not None:
            sm2_der = _decrypt_pkcs8(encrypted, password)
            if sm2_der is not None:
                try:
                    return cls(Algorithm.SM2, _Sm2Private.from_pkcs8(sm2_der))
                except ValueError as exc:
                    raise KeyLoadError(f"not a valid SM2 private key: {exc}") from exc
        try:
            key = serialization.load_pem_private_key(pem, password=password)
        except TypeError as exc:
            raise KeyLoadError(
                "the key is encrypted: give its passphrase" if password is None else "the key is not encrypted"
            ) from exc
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyLoadError("not a PEM private key, or the passphrase is wrong") from exc
        return cls(_algorithm_of(key), key)  # type: ignore[arg-type]

    def to_pem(self, passphrase: bytes | str | None = None) -> bytes:
        """PKCS#8 PEM, encrypted with the best available scheme when a passphrase is given."""
        if passphrase is not None:
            if not passphrase:
                raise KeyLoadError("an empty passphrase would leave the key unencrypted: give a real one or None")
            password = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
            if isinstance(self._key, _Sm2Private):
                return _pem(b"ENCRYPTED PRIVATE KEY", _encrypt_pkcs8(self._key.pkcs8(), password))
            encryption: serialization.KeySerializationEncryption = serialization.BestAvailableEncryption(password)
        else:
            if isinstance(self._key, _Sm2Private):
                return _pem(b"PRIVATE KEY", self._key.pkcs8())
            encryption = serialization.NoEncryption()
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        if isinstance(self._key, _Sm2Private):
            return _sm2_sign(self._key, data, self.sm2_user_id or SM2_DEFAULT_USER_ID)
        if self.algorithm is Algorithm.ES256:  # the key object is of this algorithm (an ABC check costs more)
            return raw_signature_from_der(cast(ec.EllipticCurvePrivateKey, self._key).sign(data, _ES256))
        return cast(ed25519.Ed25519PrivateKey, self._key).sign(data)

    def __repr__(self) -> str:
        return f"SigningKey({self.algorithm.value}, kid={self._public.kid.hex()})"


def _der_from_raw(signature: bytes) -> bytes | None:
    """The DER form of a raw 64-byte ES256 signature, or None when r or s is not in 1 .. n - 1.

    Byte strings of equal length compare as big-endian numbers, so the range check needs no integers; DER
    wants each number in its fewest bytes, with a zero byte in front when the top bit is set.
    """
    r, s = signature[:32], signature[32:]
    if not (_ZERO_SCALAR < r < _P256_ORDER_BYTES and _ZERO_SCALAR < s < _P256_ORDER_BYTES):
        return None
    return _der_signature(r, s)


def raw_signature_from_der(der: bytes) -> bytes:
    """Convert a DER ECDSA P-256 signature into the raw 64-byte ``r || s`` form."""
    try:
        r, s = decode_dss_signature(der)
    except ValueError as exc:
        raise SignerError("the signer returned a signature that is not DER ECDSA") from exc
    if not (0 < r < _P256_ORDER and 0 < s < _P256_ORDER):
        raise SignerError("the signer returned an out-of-range ECDSA signature")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


_ED25519_P = 2**255 - 19
_ED25519_D = (-121665 * pow(121666, -1, _ED25519_P)) % _ED25519_P


def _is_ed25519_point(raw: bytes) -> bool:
    """RFC 8032 section 5.1.3 decoding check: y < p, and x^2 = (y^2 - 1) / (d y^2 + 1) has a root.

    OpenSSL accepts any 32 bytes as an Ed25519 public key and only fails at signature verification.
    The square-root test costs ~130 us in Python, so it runs where a key enters the system (issuance,
    key files), not on every verification, where an off-curve key simply never verifies.
    """
    encoded = int.from_bytes(raw, "little")
    y, x_odd = encoded & ((1 << 255) - 1), encoded >> 255
    if y >= _ED25519_P:
        return False
    y2 = y * y % _ED25519_P
    u, v = (y2 - 1) % _ED25519_P, (_ED25519_D * y2 + 1) % _ED25519_P
    if u == 0:
        return not x_odd
    return pow(u * v % _ED25519_P, (_ED25519_P - 1) // 2, _ED25519_P) == 1


def _ed25519_sqrt(square: int) -> int:
    """A square root mod p (p = 5 mod 8, RFC 8032 section 5.1.3); ValueError when there is none."""
    root = pow(square, (_ED25519_P + 3) // 8, _ED25519_P)
    if root * root % _ED25519_P != square % _ED25519_P:
        root = root * pow(2, (_ED25519_P - 1) // 4, _ED25519_P) % _ED25519_P
    if root * root % _ED25519_P != square % _ED25519_P:
        raise ValueError("not a square")
    return root


def _small_order_points() -> list[tuple[int, int]]:
    """The 8 points (x, y) of -x^2 + y^2 = 1 + d x^2 y^2 with [8]P = identity, solved from the equations.

    Order 1 and 2: x = 0, so y^2 = 1. Order 4: [2]P = (0, -1) means y = 0 and x^2 = -1. Order 8:
    [2]P = (x', y') has y' = (x^2 + y^2) / (2 - y^2 + x^2), which is 0 when x^2 = -y^2; with the curve
    equation that is d y^4 + 2 y^2 - 1 = 0, so y^2 = (-1 + r) / d with r^2 = 1 + d (the root r for
    which y^2 is a square). ``tests/test_weak_keys.py`` checks [8]P = identity by point arithmetic.
    """
    p = _ED25519_P
    i = _ed25519_sqrt(p - 1)
    points = [(0, 1), (0, p - 1), (i, 0), (p - i, 0)]
    r = _ed25519_sqrt(1 + _ED25519_D)
    for root in (r, p - r):
        y2 = (root - 1) * pow(_ED25519_D, -1, p) % p
        try:
            y, x = _ed25519_sqrt(y2), _ed25519_sqrt(p - y2)
        except ValueError:
            continue
        points += [(x, y), (p - x, y), (x, p - y), (p - x, p - y)]
    return points


def _weak_ed25519_encodings() -> frozenset[bytes]:
    """Every 32-byte encoding of a small-order point: canonical, with y + p for y < 19 (y >= p), and with
    the sign bit set where x = 0 (only y = 1 and y = p - 1 have x = 0, both small-order: so this set
    also holds every x = 0 encoding with the sign bit set)."""
    encodings = set()
    for x, y in _small_order_points():
        for y_encoded in (y, y + _ED25519_P):
            for sign in (0, 1) if x == 0 else (x & 1,):
                if y_encoded < 1 << 255:
                    encodings.add((y_encoded | sign << 255).to_bytes(32, "little"))
    return frozenset(encodings)


ED25519_WEAK_ENCODINGS = _weak_ed25519_encodings()
"""The 14 Ed25519 public-key encodings of the 8 small-order points (8 canonical, 6 not): always refused."""


def _refuse_weak_ed25519(raw: bytes) -> None:
    """Refuse a small-order point in any encoding, and any non-canonical encoding (y >= p): O(1), no curve math.

    Cheap enough for every verification, where the holder key comes from the code itself (SPEC step 15).
    """
    if raw in ED25519_WEAK_ENCODINGS:
        raise KeyLoadError(
            "not a valid Ed25519 public key: a small-order point, under which a forged signature verifies"
        )
    if int.from_bytes(raw, "little") & ((1 << 255) - 1) >= _ED25519_P:
        raise KeyLoadError("not a valid Ed25519 public key: not a canonical point encoding (y >= p)")


MAX_JWKS_KEYS = 256
# The one JOSE "alg" (RFC 7518, RFC 8037) each supported key type may declare; another one is a contradiction.
_JWK_ALGORITHMS: dict[tuple[object, object], str] = {("EC", "P-256"): "ES256", ("OKP", "Ed25519"): "EdDSA"}


def public_keys_from_jwks(document: object) -> list[PublicKey]:
    """Every key of a JWKS document (``{"keys": [...]}``), refusing the whole set if one is unusable."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyLoadError('a JWKS document is an object with a "keys" list')
    if not 1 <= len(document["keys"]) <= MAX_JWKS_KEYS:
        raise KeyLoadError(f"a JWKS document holds 1 to {MAX_JWKS_KEYS} keys")
    return [PublicKey.from_jwk(jwk) for jwk in document["keys"]]


def _refuse_weak_authority(authority: x509.Certificate) -> None:
    """A CA's Ed25519 key passes the weak-key rule too: OpenSSL would accept a forged certificate under it."""
    try:
        key = authority.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"the CA certificate's public key cannot be read: {exc}") from exc
    if isinstance(key, ed25519.Ed25519PublicKey):
        try:
            PublicKey(Algorithm.ED25519, key).on_curve()
        except KeyLoadError as exc:
            raise KeyLoadError(f"the CA certificate's key is refused: {exc.detail}") from exc


def _load_certificate(data: bytes, what: str) -> x509.Certificate:
    if len(data) > _MAX_PEM_BYTES:
        raise KeyLoadError(f"{what} larger than {_MAX_PEM_BYTES} bytes")
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion) as exc:
        raise KeyLoadError(f"not an X.509 {what} (PEM or DER): {exc}") from exc


def _b64url(value: object) -> bytes:
    """Strict unpadded base64url (RFC 7515 section 2): only its alphabet, and the one encoding of the bytes,
    so a key has exactly one JWK spelling (the decoder alone would skip stray characters and ignore set
    trailing bits)."""
    if not isinstance(value, str) or not _B64URL.fullmatch(value):
        raise ValueError("expected an unpadded base64url string")
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != value:
        raise ValueError("not the canonical base64url encoding of its bytes")
    return raw


def _b64url_int(value: object) -> int:
    raw = _b64url(value)
    if len(raw) != 32:
        raise ValueError("a P-256 coordinate is 32 bytes")
    return int.from_bytes(raw, "big")


def _pem_bytes(data: bytes | str) -> bytes:
    pem = data.encode("ascii", "replace") if isinstance(data, str) else bytes(data)
    if len(pem) > _MAX_PEM_BYTES:
        raise KeyLoadError(f"key file larger than {_MAX_PEM_BYTES} bytes")
    if b"-----BEGIN" not in pem:
        raise KeyLoadError("not a PEM file (no -----BEGIN line)")
    return pem


def _algorithm_of(key: object) -> Algorithm:
    if isinstance(key, _Sm2Public | _Sm2Private):
        return Algorithm.SM2
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyLoadError(f"EC keys must be on P-256, not {key.curve.name}")
        return Algorithm.ES256
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return Algorithm.ED25519
    raise KeyLoadError(f"unsupported key type {type(key).__name__} (use ES256/P-256, Ed25519 or SM2)")


# --- SM2 (GB/T 32918.2 signatures on sm2p256v1, GB/T 32918.5) ------------------------------------------

SM2_DEFAULT_USER_ID = b"1234567812345678"
"""The user ID of the Z value when the trust store names none (GB/T 35276 section 5.2 and GM/T 0009)."""

_SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_SM2_A = _SM2_P - 3
_SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
_SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_SM2_G = (
    0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
)
_SM2_N_BYTES = _SM2_N.to_bytes(32, "big")
_SM2_CURVE_BYTES = b"".join(v.to_bytes(32, "big") for v in (_SM2_A, _SM2_B, *_SM2_G))
# DER of id-ecPublicKey (1.2.840.10045.2.1) and the curve sm2p256v1 (1.2.156.10197.1.301), as OpenSSL and
# GmSSL write an SM2 key's AlgorithmIdentifier; the SubjectPublicKeyInfo prefix before an uncompressed point.
_EC_PUBLIC_KEY_OID = bytes.fromhex("06072a8648ce3d0201")
_SM2_CURVE_OID = bytes.fromhex("06082a811ccf5501822d")
_SM2_ALGORITHM_ID = b"\x30\x13" + _EC_PUBLIC_KEY_OID + _SM2_CURVE_OID
_SM2_SPKI_PREFIX = b"\x30\x59" + _SM2_ALGORITHM_ID + b"\x03\x42\x00"
_SM2_SPKI_COMPRESSED_PREFIX = b"\x30\x39" + _SM2_ALGORITHM_ID + b"\x03\x22\x00"
_SM_EXTRA = "SM2 and SM3 need the gmssl_pyx package: pip install 'econsent[sm]'"


def _gm() -> Any:
    """The ``gmssl_pyx`` module (GmSSL 3 in a wheel), imported on first use; a clear error when absent."""
    try:
        import gmssl_pyx  # type: ignore[import-untyped,import-not-found,unused-ignore]  # no type information
    except ImportError as exc:
        raise MissingDependencyError(_SM_EXTRA) from exc
    return gmssl_pyx


def sm2_available() -> bool:
    """True when SM2 keys can sign and verify here (the ``sm`` extra is installed)."""
    try:
        _gm()
    except MissingDependencyError:
        return False
    return True


def sm3(data: bytes) -> bytes:
    """The 32-byte SM3 digest (GB/T 32905) of ``data``."""
    digest: bytes = _gm().sm3_hash(data)
    return digest


def _sm2_add(p1: tuple[int, int, int] | None, p2: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    """Jacobian point addition on sm2p256v1 (None is the point at infinity)."""
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    p = _SM2_P
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    z1z1, z2z2 = z1 * z1 % p, z2 * z2 % p
    u1, u2 = x1 * z2z2 % p, x2 * z1z1 % p
    s1, s2 = y1 * z2 * z2z2 % p, y2 * z1 * z1z1 % p
    if u1 == u2:
        if s1 != s2:
            return None
        return _sm2_double(p1)
    h, r = (u2 - u1) % p, (s2 - s1) % p
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    return x3, (r * (v - x3) - s1 * hhh) % p, h * z1 * z2 % p


def _sm2_double(point: tuple[int, int, int]) -> tuple[int, int, int] | None:
    p = _SM2_P
    x, y, z = point
    if y == 0:
        return None
    zz = z * z % p
    m = 3 * (x - zz) * (x + zz) % p  # a = -3
    s = 4 * x * y * y % p
    x3 = (m * m - 2 * s) % p
    return x3, (m * (s - x3) - 8 * pow(y, 4, p)) % p, 2 * y * z % p


def _sm2_base_multiple(scalar: int) -> tuple[int, int]:
    """[scalar]G in affine coordinates, for deriving a public key from a private one (never to sign)."""
    result: tuple[int, int, int] | None = None
    addend: tuple[int, int, int] | None = (*_SM2_G, 1)
    while scalar:
        if scalar & 1:
            result = _sm2_add(result, addend)
        addend = _sm2_double(addend) if addend is not None else None
        scalar >>= 1
    if result is None:
        raise ValueError("the point at infinity")
    x, y, z = result
    z_inv = pow(z, -1, _SM2_P)
    return x * z_inv * z_inv % _SM2_P, y * z_inv * z_inv * z_inv % _SM2_P


class _Sm2Public:
    """An SM2 public key: a point of sm2p256v1 other than infinity, checked when made."""

    __slots__ = ("_za", "compressed", "uncompressed", "x", "y")

    def __init__(self, x: int, y: int) -> None:
        if not (0 <= x < _SM2_P and 0 <= y < _SM2_P):
            raise ValueError("a coordinate is not below the field prime")
        if (y * y - (x * x * x + _SM2_A * x + _SM2_B)) % _SM2_P:
            raise ValueError("not a point of the curve sm2p256v1")
        self.x, self.y = x, y
        self.uncompressed = x.to_bytes(32, "big") + y.to_bytes(32, "big")
        self.compressed = bytes((2 + (y & 1),)) + self.uncompressed[:32]
        self._za: bytes | None = None

    @classmethod
    def from_compressed(cls, raw: bytes) -> _Sm2Public:
        """Decode a 33-byte compressed point: prefix 02 or 03, x < p, x^3 + ax + b a square (p = 3 mod 4)."""
        if len(raw) != 33:
            raise ValueError("an SM2 public key must be a 33-byte compressed point")
        if raw[0] not in (2, 3):
            raise ValueError("an SM2 public key must be a compressed point (prefix 02 or 03)")
        x = int.from_bytes(raw[1:], "big")
        if x >= _SM2_P:
            raise ValueError("x is not below the field prime")
        rhs = (x * x * x + _SM2_A * x + _SM2_B) % _SM2_P
        y = pow(rhs, (_SM2_P + 1) // 4, _SM2_P)
        if y * y % _SM2_P != rhs:
            raise ValueError("not a point of the curve sm2p256v1")
        if y & 1 != raw[0] & 1:
            y = _SM2_P - y
        return cls(x, y)

    def spki(self) -> bytes:
        """The DER SubjectPublicKeyInfo, with the uncompressed point as OpenSSL writes it."""
        return _SM2_SPKI_PREFIX + b"\x04" + self.uncompressed

    def za(self, user_id: bytes) -> bytes:
        """Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GB/T 32918.2 section 5.5); default ID cached."""
        if user_id == SM2_DEFAULT_USER_ID and self._za is not None:
            return self._za
        if not 1 <= len(user_id) <= MAX_SM2_USER_ID_BYTES:
            raise ValueError(f"an SM2 user ID is 1 to {MAX_SM2_USER_ID_BYTES} bytes")
        za = sm3((8 * len(user_id)).to_bytes(2, "big") + user_id + _SM2_CURVE_BYTES + self.uncompressed)
        if user_id == SM2_DEFAULT_USER_ID:
            self._za = za
        return za


MAX_SM2_USER_ID_BYTES = 64


class _Sm2Private:
    """An SM2 private key d in 1 .. n - 2 (GB/T 32918.2 needs 1 + d invertible mod n) with its public point."""

    __slots__ = ("d", "public")

    def __init__(self, d: int, public: _Sm2Public | None = None) -> None:
        if not 1 <= d <= _SM2_N - 2:
            raise ValueError("an SM2 private key must lie in 1 .. n - 2")
        derived = _Sm2Public(*_sm2_base_multiple(d))
        if public is not None and public.uncompressed != derived.uncompressed:
            raise ValueError("the stored public key does not belong to the private key")
        self.d, self.public = d, derived

    def pkcs8(self) -> bytes:
        """DER PKCS#8 PrivateKeyInfo holding an RFC 5915 ECPrivateKey with its public key, as OpenSSL writes."""
        ec_private = b"\x02\x01\x01\x04\x20" + self.d.to_bytes(32, "big") + b"\xa1\x44\x03\x42\x00\x04"
        ec_private = b"\x30\x77" + ec_private[:37] + b"\xa0\x0a" + _SM2_CURVE_OID + ec_private[37:]
        ec_private += self.public.uncompressed
        return b"\x30\x81\x93\x02\x01\x00" + _SM2_ALGORITHM_ID + b"\x04\x79" + ec_private

    @classmethod
    def from_pkcs8(cls, der: bytes) -> _Sm2Private:
        """Read exactly the PKCS#8 form :meth:`pkcs8` writes, with or without the optional [0] and [1] fields."""
        head = b"\x02\x01\x00" + _SM2_ALGORITHM_ID
        outer = _der_take(der, 0x30, whole=True)
        if not outer.startswith(head):
            raise ValueError("not an SM2 PKCS#8 private key")
        inner = _der_take(_der_take(outer[len(head) :], 0x04, whole=True), 0x30, whole=True)
        if not inner.startswith(b"\x02\x01\x01\x04\x20"):
            raise ValueError("not an RFC 5915 EC private key of 32 bytes")
        d = int.from_bytes(inner[5:37], "big")
        rest = inner[37:]
        if rest.startswith(b"\xa0"):
            if _der_take(rest, 0xA0) != _SM2_CURVE_OID:
                raise ValueError("the private key names another curve")
            rest = rest[2 + len(_SM2_CURVE_OID) :]
        public = None
        if rest:
            bits = _der_take(_der_take(rest, 0xA1, whole=True), 0x03, whole=True)
            if len(bits) != 66 or bits[:2] != b"\x00\x04":
                raise ValueError("the private key's public key is not an uncompressed point")
            public = _Sm2Public(int.from_bytes(bits[2:34], "big"), int.from_bytes(bits[34:], "big"))
        return cls(d, public)


def _der_split(data: bytes, tag: int) -> tuple[bytes, bytes]:
    """The content of the DER element with ``tag`` at the start of ``data``, and what follows it.

    Definite lengths below 65536 bytes, in their shortest form, are all an SM2 key file needs.
    """
    if len(data) < 2 or data[0] != tag:
        raise ValueError(f"expected DER tag {tag:#x}")
    length, start = data[1], 2
    if length == 0x81:
        if len(data) < 3 or data[2] < 0x80:
            raise ValueError("non-canonical DER length")
        length, start = data[2], 3
    elif length == 0x82:
        if len(data) < 4 or data[2] == 0 or int.from_bytes(data[2:4], "big") < 0x100:
            raise ValueError("non-canonical DER length")
        length, start = int.from_bytes(data[2:4], "big"), 4
    elif length > 0x80:
        raise ValueError("DER element too long")
    if len(data) < start + length:
        raise ValueError("DER element cut short")
    return data[start : start + length], data[start + length :]


def _der_take(data: bytes, tag: int, *, whole: bool = False) -> bytes:
    """The content of the DER element with ``tag`` at the start of ``data``; with ``whole``, nothing may follow."""
    content, rest = _der_split(data, tag)
    if whole and rest:
        raise ValueError("bytes after the DER element")
    return content


def _der(tag: int, content: bytes) -> bytes:
    """One DER element (the inverse of :func:`_der_split`)."""
    n = len(content)
    length = bytes((n,)) if n < 0x80 else b"\x81" + bytes((n,)) if n < 0x100 else b"\x82" + n.to_bytes(2, "big")
    return bytes((tag,)) + length + content


# PKCS#8 encryption of SM2 keys, as ``openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256`` writes it
# (cryptography cannot serialise a key of a curve it does not know): PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC.
_PBES2_OID = bytes.fromhex("06092a864886f70d01050d")
_PBKDF2_OID = bytes.fromhex("06092a864886f70d01050c")
_HMAC_SHA256_ID = _der(0x30, bytes.fromhex("06082a864886f70d02090500"))
_AES256_CBC_OID = bytes.fromhex("060960864801650304012a")
_PBKDF2_ITERATIONS = 600_000
_MAX_PBKDF2_ITERATIONS = 10_000_000


def _pbes2_parameters(salt: bytes, iterations: int, iv: bytes) -> bytes:
    kdf = _der(0x30, _der(0x04, salt) + _der(0x02, _der_int(iterations)) + _HMAC_SHA256_ID)
    scheme = _der(0x30, _AES256_CBC_OID + _der(0x04, iv))
    return _der(0x30, _PBES2_OID + _der(0x30, _der(0x30, _PBKDF2_OID + kdf) + scheme))


def _der_int(value: int) -> bytes:
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


def _pbes2_key(password: bytes, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password, salt, iterations, 32)


def _encrypt_pkcs8(der: bytes, password: bytes) -> bytes:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    salt, iv = secrets.token_bytes(16), secrets.token_bytes(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(der) + padder.finalize()
    cipher = Cipher(algorithms.AES(_pbes2_key(password, salt, _PBKDF2_ITERATIONS)), modes.CBC(iv)).encryptor()
    encrypted = cipher.update(padded) + cipher.finalize()
    return _der(0x30, _pbes2_parameters(salt, _PBKDF2_ITERATIONS, iv) + _der(0x04, encrypted))


def _decrypt_pkcs8(der: bytes, password: bytes) -> bytes | None:
    """The PrivateKeyInfo inside an EncryptedPrivateKeyInfo of exactly the form :func:`_encrypt_pkcs8` writes,
    when it holds an SM2 key; None for any other form (left to cryptography, which reads the other keys)."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    try:
        outer = _der_take(der, 0x30, whole=True)
        algorithm, rest = _der_split(outer, 0x30)
        encrypted = _der_take(rest, 0x04, whole=True)
        params = _der_take(algorithm[len(_PBES2_OID) :], 0x30, whole=True) if algorithm.startswith(_PBES2_OID) else b""
        kdf, scheme = _der_split(params, 0x30)
        kdf_params = _der_take(kdf[len(_PBKDF2_OID) :], 0x30, whole=True) if kdf.startswith(_PBKDF2_OID) else b""
        salt, rest = _der_split(kdf_params, 0x04)
        iterations = int.from_bytes(_der_split(rest, 0x02)[0], "big")
        iv = _der_take(_der_take(scheme, 0x30, whole=True)[len(_AES256_CBC_OID) :], 0x04, whole=True)
    except ValueError:
        return None
    if iterations < 1 or _der(0x30, algorithm) != _pbes2_parameters(salt, iterations, iv):
        return None
    if not (len(iv) == 16 and 8 <= len(salt) <= 64 and iterations <= _MAX_PBKDF2_ITERATIONS):
        raise KeyLoadError("the encrypted key's parameters are out of the accepted range")
    if not encrypted or len(encrypted) % 16:
        raise KeyLoadError("not a PEM private key, or the passphrase is wrong")
    decryptor = Cipher(algorithms.AES(_pbes2_key(password, salt, iterations)), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(decryptor.update(encrypted) + decryptor.finalize()) + unpadder.finalize()
    except ValueError as exc:
        raise KeyLoadError("not a PEM private key, or the passphrase is wrong") from exc
    return plain if _SM2_ALGORITHM_ID in plain[:32] else None


def _pem(label: bytes, der: bytes) -> bytes:
    body = base64.b64encode(der)
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return b"-----BEGIN " + label + b"-----\n" + lines + b"\n-----END " + label + b"-----\n"


def _sm2_public_from_spki(der: bytes) -> _Sm2Public | None:
    """The key of an SM2 SubjectPublicKeyInfo (uncompressed or compressed point); None for another algorithm."""
    if der.startswith(_SM2_SPKI_PREFIX) and len(der) == len(_SM2_SPKI_PREFIX) + 65 and der[len(_SM2_SPKI_PREFIX)] == 4:
        point = der[len(_SM2_SPKI_PREFIX) + 1 :]
        return _Sm2Public(int.from_bytes(point[:32], "big"), int.from_bytes(point[32:], "big"))
    if der.startswith(_SM2_SPKI_COMPRESSED_PREFIX) and len(der) == len(_SM2_SPKI_COMPRESSED_PREFIX) + 33:
        return _Sm2Public.from_compressed(der[len(_SM2_SPKI_COMPRESSED_PREFIX) :])
    if _SM2_CURVE_OID in der or bytes.fromhex("2a811ccf5501822d") in der:
        raise ValueError("an SM2 key in a form other than id-ecPublicKey on sm2p256v1")
    return None


def _pem_body(pem: bytes, label: bytes) -> bytes | None:
    """The DER inside the one ``-----BEGIN <label>-----`` block of ``pem``; None when there is none."""
    match = re.search(rb"-----BEGIN " + label + rb"-----([A-Za-z0-9+/=\s]+)-----END " + label + rb"-----", pem)
    if match is None:
        return None
    try:
        return base64.b64decode(b"".join(match.group(1).split()), validate=True)
    except ValueError as exc:
        raise KeyLoadError("the PEM body is not base64") from exc


def _sm2_verify(key: _Sm2Public, signature: bytes, data: bytes, user_id: bytes) -> bool:
    """GB/T 32918.2 verification of a raw ``r || s`` over e = SM3(Z || data), r and s in 1 .. n - 1."""
    r, s = signature[:32], signature[32:]
    if not (_ZERO_SCALAR < r < _SM2_N_BYTES and _ZERO_SCALAR < s < _SM2_N_BYTES):
        return False
    if (int.from_bytes(r, "big") + int.from_bytes(s, "big")) % _SM2_N == 0:  # t = 0: always invalid (step B5)
        return False
    der = _der_signature(r, s)
    gm = _gm()
    digest = sm3(key.za(user_id) + data)
    with _gmssl_prints_filtered():
        valid: bool = gm.sm2_verify_sm3_digest(key.uncompressed, digest, der)
    return valid


# GmSSL, as compiled into gmssl_pyx, prints "<file>.c:<line>:<function>():" to the process's stderr each
# time a signature fails to verify: a forged code would spill that onto a counter's screen.
_GMSSL_PRINT = re.compile(rb"\S+\.c:\d+:\w+\(\):\s*\Z")
_STDERR_LOCK = threading.Lock()


@contextmanager
def _gmssl_prints_filtered() -> Iterator[None]:
    """Point fd 2 into a pipe around a GmSSL call, then pass on to stderr whatever else arrived meanwhile.

    Serialised by a lock (the call holds the GIL anyway). Costs a few system calls next to a verification
    of about a millisecond. Without a usable fd 2 (a daemon without one) the call runs as it is.
    """
    with _STDERR_LOCK:
        try:
            saved = os.dup(2)
        except OSError:
            yield
            return
        read_end, write_end = os.pipe()
        try:
            os.dup2(write_end, 2)
            os.close(write_end)
            try:
                yield
            finally:
                os.dup2(saved, 2)
        finally:
            os.close(saved)
            arrived = _drain(read_end)
            kept = b"".join(line for line in arrived.splitlines(keepends=True) if not _GMSSL_PRINT.match(line))
            if kept:
                os.write(2, kept)


def _drain(read_end: int) -> bytes:
    """What a pipe holds now, without waiting for writers that may still hold its other end; then close it."""
    os.set_blocking(read_end, False)
    chunks = []
    try:
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    finally:
        os.close(read_end)
    return b"".join(chunks)


def _der_signature(r: bytes, s: bytes) -> bytes:
    """DER ECDSA-Sig-Value of two 32-byte big-endian numbers in range: each in its fewest bytes, with a zero
    byte in front when the top bit is set."""
    r, s = r.lstrip(b"\x00"), s.lstrip(b"\x00")
    if r[0] & 0x80:
        r = b"\x00" + r
    if s[0] & 0x80:
        s = b"\x00" + s
    return b"\x30" + bytes((len(r) + len(s) + 4, 2, len(r))) + r + bytes((2, len(s))) + s


def _sm2_sign(key: _Sm2Private, data: bytes, user_id: bytes) -> bytes:
    """GB/T 32918.2 signature over e = SM3(Z || data) with a fresh random k (GmSSL), as raw ``r || s``."""
    gm = _gm()
    digest = sm3(key.public.za(user_id) + data)
    try:
        r, s = decode_dss_signature(gm.sm2_sign_sm3_digest(key.d.to_bytes(32, "big"), digest))
    except (ValueError, gm.GmsslInnerError) as exc:
        raise SignerError("the SM2 signer failed") from exc
    if not (0 < r < _SM2_N and 0 < s < _SM2_N):
        raise SignerError("the SM2 signer returned an out-of-range signature")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
