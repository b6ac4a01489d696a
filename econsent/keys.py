"""Keys: generation, PEM loading and saving, key ids, and the signer interface.

Two algorithms exist, ES256 (ECDSA P-256 with SHA-256, what phone secure hardware offers) and Ed25519.
Signatures are always raw and fixed-length: ``r || s`` (32 bytes each, big-endian) for ES256, the 64
RFC 8032 bytes for Ed25519. Public keys travel as SEC1 compressed points (33 bytes) or raw Ed25519
keys (32 bytes). A key id is the first 8 bytes of SHA-256 over the key's DER SubjectPublicKeyInfo.

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
import re
from enum import StrEnum
from typing import Protocol, runtime_checkable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
)

from .errors import KeyLoadError, SignerError

__all__ = [
    "Algorithm",
    "PublicKey",
    "Signer",
    "SigningKey",
    "public_keys_from_jwks",
    "raw_signature_from_der",
]

_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P256_ORDER_BYTES = _P256_ORDER.to_bytes(32, "big")
_ZERO_SCALAR = bytes(32)
_P256 = ec.SECP256R1()
_ES256 = ec.ECDSA(hashes.SHA256())  # immutable: one object serves every signature and verification
_MAX_PEM_BYTES = 64 * 1024


class Algorithm(StrEnum):
    """Signature algorithms, named as in JOSE/COSE registries where they exist."""

    ES256 = "ES256"
    ED25519 = "Ed25519"

    @property
    def wire_id(self) -> int:
        """The one-byte id used for holder keys on the wire."""
        return 1 if self is Algorithm.ES256 else 2

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
        raise ValueError(f"unsupported algorithm {name!r} (use ES256 or Ed25519)")


_PublicObject = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
_PrivateObject = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


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
        if isinstance(key, ec.EllipticCurvePublicKey):
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
        """The 8-byte key id: SHA-256 of the DER SubjectPublicKeyInfo, truncated (computed on first use)."""
        if self._kid is None:
            spki = self._key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            self._kid = hashlib.sha256(spki).digest()[:8]
        return self._kid

    @classmethod
    def from_raw(cls, algorithm: Algorithm, raw: bytes) -> PublicKey:
        """Load a compressed P-256 point (33 bytes) or a raw Ed25519 key (32 bytes)."""
        try:
            if algorithm is Algorithm.ES256:
                if len(raw) != 33:
                    raise ValueError("a P-256 public key must be a 33-byte compressed point")
                if raw[0] not in (2, 3):
                    raise ValueError("a P-256 public key must be a compressed point")
                key: _PublicObject = ec.EllipticCurvePublicKey.from_encoded_point(_P256, raw)
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
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyLoadError(f"not a PEM public key: {exc}") from exc
        return cls(_algorithm_of(key), key).on_curve()  # type: ignore[arg-type]

    def to_pem(self) -> bytes:
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
        """True when the key is a point of its curve (P-256 points are checked on load already)."""
        return self.algorithm is Algorithm.ES256 or _is_ed25519_point(self.raw)

    def on_curve(self) -> PublicKey:
        """This key, if it is a point of its curve; :class:`KeyLoadError` otherwise (for keys read from files)."""
        if not self.is_on_curve():
            raise KeyLoadError(f"not a valid {self.algorithm.value} public key: not a point of the curve")
        return self

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True when ``signature`` is a valid raw signature of ``data`` by this key."""
        if len(signature) != 64:
            return False
        try:
            if isinstance(self._key, ec.EllipticCurvePublicKey):
                der = _der_from_raw(signature)
                if der is None:
                    return False
                self._key.verify(der, data, _ES256)
            else:
                self._key.verify(signature, data)
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

    __slots__ = ("_key", "_public", "algorithm")

    def __init__(self, algorithm: Algorithm, key: _PrivateObject) -> None:
        self.algorithm = algorithm
        self._key = key
        self._public = PublicKey(algorithm, key.public_key())

    @classmethod
    def generate(cls, algorithm: Algorithm | str = Algorithm.ES256) -> SigningKey:
        alg = Algorithm.parse(algorithm) if isinstance(algorithm, str) else algorithm
        if alg is Algorithm.ES256:
            return cls(alg, ec.generate_private_key(ec.SECP256R1()))
        return cls(alg, ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, data: bytes | str, passphrase: bytes | str | None = None) -> SigningKey:
        """Load a PEM private key (PKCS#8 or SEC1), decrypting it with ``passphrase`` when it is encrypted."""
        pem = _pem_bytes(data)
        password = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
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
            encryption: serialization.KeySerializationEncryption = serialization.BestAvailableEncryption(password)
        else:
            encryption = serialization.NoEncryption()
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return raw_signature_from_der(self._key.sign(data, _ES256))
        return self._key.sign(data)

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
    r, s = r.lstrip(b"\x00"), s.lstrip(b"\x00")
    if r[0] & 0x80:
        r = b"\x00" + r
    if s[0] & 0x80:
        s = b"\x00" + s
    return b"\x30" + bytes((len(r) + len(s) + 4, 2, len(r))) + r + bytes((2, len(s))) + s


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
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyLoadError(f"EC keys must be on P-256, not {key.curve.name}")
        return Algorithm.ES256
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return Algorithm.ED25519
    raise KeyLoadError(f"unsupported key type {type(key).__name__} (use ES256/P-256 or Ed25519)")
