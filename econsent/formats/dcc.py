"""EU Digital COVID Certificates (``HC1:``): Base45, zlib, COSE_Sign1 and CWT, verified offline against DSCs.

The pipeline, each step capped before it runs: the ``HC1:`` prefix, Base45 (RFC 9285), zlib (RFC 1950,
at most :data:`MAX_COSE_BYTES` inflated), COSE_Sign1 (tag 18, untagged, or CWT tag 61 around it), the
signer found by key id among the Document Signer Certificates (DSCs) in a :class:`DccTrust` (every
certificate with that key id is tried: DCC key ids can collide), the signature (ES256 on P-256 keys,
PS256 on RSA keys: the algorithm follows the key, and the header must agree), the CWT claims (``iat``,
``exp``, ``hcert``), the times against the verifier's clock, and the DSC's extended key usage against the
certificate type. Business rules, value sets and the JSON schema are not checked (see docs/formats.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ..errors import ErrorCode, TrustStoreError, VerificationError
from ..keys import Algorithm, PublicKey
from ..model import IssuerName, Verdict
from ..schema import ClaimValue
from ..verify import Policy
from . import _cbor
from ._common import check_static_code, inflate, instant, load_json, malformed, unix_time

__all__ = [
    "FORMAT",
    "MAX_COSE_BYTES",
    "MAX_TEXT_CHARS",
    "PREFIX",
    "DccFormat",
    "DccTrust",
    "DscEntry",
]

FORMAT = "eu-dcc/1"
PREFIX = "HC1:"
MAX_TEXT_CHARS = 4296  # the most alphanumeric characters any QR code holds (version 40, level L)
MAX_COSE_BYTES = 32 * 1024  # real DCCs inflate to well under 4 KiB
MAX_CBOR_DEPTH = 16
MAX_CERTIFICATE_BYTES = 64 * 1024
MAX_TRUST_LIST_BYTES = 16 * 1024 * 1024
MIN_RSA_BITS = 2048
KID_BYTES = 8

_ALGORITHM_IDS = {-7: "ES256", -37: "PS256"}
_ENTRY_TYPES = {"v": "vaccination", "t": "test", "r": "recovery"}
# Extended key usages that restrict a DSC to certificate types; the ".0." forms are the legacy spelling.
_TYPE_OIDS = {
    "t": ("1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.0.1847.2021.1.1"),
    "v": ("1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.0.1847.2021.1.2"),
    "r": ("1.3.6.1.4.1.1847.2021.1.3", "1.3.6.1.4.1.0.1847.2021.1.3"),
}
_BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_BASE45_VALUES = {char: value for value, char in enumerate(_BASE45)}


# --- trust material -------------------------------------------------------------------------------


class DscEntry:
    """A Document Signer Certificate: its key id, key, country, validity and the certificate types it may sign.

    ``algorithm`` is ``"ES256"`` (EC P-256) or ``"PS256"`` (RSA, at least 2048 bits), or None for a key
    econsent does not verify with (``unsupported`` says why). ``allowed_types`` is None when the certificate
    has no extended key usage (it may sign every type), else the subset of ``{"v", "t", "r"}`` its DCC
    key usages name: an extended key usage without any DCC usage allows no type.
    """

    __slots__ = (
        "_key",
        "algorithm",
        "allowed_types",
        "country",
        "der",
        "kid",
        "not_after",
        "not_before",
        "subject",
        "unsupported",
    )

    def __init__(self, der: bytes, *, country: str | None = None) -> None:
        if len(der) > MAX_CERTIFICATE_BYTES:
            raise TrustStoreError(f"certificate larger than {MAX_CERTIFICATE_BYTES} bytes")
        try:
            cert = x509.load_der_x509_certificate(der)
            public_key = cert.public_key()
            subject = cert.subject.rfc4514_string()
            countries = cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
        except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
            raise TrustStoreError(f"not a DER X.509 certificate: {exc}") from exc
        self.der = bytes(der)
        self.kid = hashlib.sha256(der).digest()[:KID_BYTES]
        self.subject = subject
        subject_country = str(countries[0].value) if countries else None
        self.country = country or subject_country
        self.not_before = cert.not_valid_before_utc
        self.not_after = cert.not_valid_after_utc
        self.allowed_types = _allowed_types(cert)
        self._key: PublicKey | rsa.RSAPublicKey | None = None
        self.algorithm: str | None = None
        self.unsupported = ""
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if isinstance(public_key.curve, ec.SECP256R1):
                self._key, self.algorithm = PublicKey(Algorithm.ES256, public_key), "ES256"
            else:
                self.unsupported = f"EC {public_key.curve.name} key (ES256 needs P-256)"
        elif isinstance(public_key, rsa.RSAPublicKey):
            if public_key.key_size >= MIN_RSA_BITS:
                self._key, self.algorithm = public_key, "PS256"
            else:
                self.unsupported = f"RSA-{public_key.key_size} key (PS256 needs at least {MIN_RSA_BITS} bits)"
        else:
            self.unsupported = f"{type(public_key).__name__} key"

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True when ``signature`` is this key's signature of ``data`` (raw r||s for ES256, RSASSA-PSS for PS256)."""
        if isinstance(self._key, PublicKey):
            return self._key.verify(signature, data)
        if isinstance(self._key, rsa.RSAPublicKey):
            if len(signature) != (self._key.key_size + 7) // 8:
                return False
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)  # RFC 8230: salt = hash length
            try:
                self._key.verify(signature, data, pss, hashes.SHA256())
            except InvalidSignature:
                return False
            return True
        return False

    def valid_at(self, moment: float) -> bool:
        return self.not_before.timestamp() <= moment <= self.not_after.timestamp()

    def __repr__(self) -> str:
        return f"DscEntry(kid={self.kid.hex()}, country={self.country}, {self.algorithm or self.unsupported})"


class DccTrust:
    """The DSCs a verifier trusts, by key id. Several certificates may share a key id; all are kept."""

    __slots__ = ("_by_kid", "_seen")

    def __init__(self, entries: Iterable[DscEntry] = ()) -> None:
        self._by_kid: dict[bytes, list[DscEntry]] = {}
        self._seen: set[bytes] = set()
        for entry in entries:
            self.add(entry)

    def add(self, entry: DscEntry) -> None:
        """Trust one DSC (the same certificate added twice is kept once)."""
        if entry.der in self._seen:
            return
        self._seen.add(entry.der)
        self._by_kid.setdefault(entry.kid, []).append(entry)

    def add_certificates(self, data: bytes, *, country: str | None = None) -> list[DscEntry]:
        """Trust the certificates in ``data``: PEM (one or more), DER, or base64 DER text."""
        entries = [DscEntry(der, country=country) for der in _certificates_in(data)]
        for entry in entries:
            self.add(entry)
        return entries

    def add_trust_list(self, document: object) -> list[DscEntry]:
        """Trust the DSCs of a trust list in the DCC Gateway's JSON shape.

        That is a list (or ``{"certificates": [...]}``) of objects with ``rawData`` (base64 DER) and
        optionally ``kid`` (base64, checked against the certificate), ``country`` and
        ``certificateType`` (entries other than ``DSC`` are skipped).
        """
        items = document.get("certificates") if isinstance(document, dict) else document
        if not isinstance(items, list):
            raise TrustStoreError('a DCC trust list is a JSON list of certificates (or {"certificates": [...]})')
        entries = []
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("rawData"), str):
                raise TrustStoreError(f"trust list entry {index} has no rawData")
            if item.get("certificateType", "DSC") != "DSC":
                continue
            country = item.get("country")
            if country is not None and not (isinstance(country, str) and len(country) == 2 and country.isalpha()):
                raise TrustStoreError(f"trust list entry {index}: country must be a two-letter code")
            entry = DscEntry(_b64decode(item["rawData"], f"trust list entry {index} rawData"), country=country)
            if "kid" in item and _b64decode(str(item["kid"]), f"trust list entry {index} kid") != entry.kid:
                raise TrustStoreError(f"trust list entry {index}: kid does not match the certificate")
            self.add(entry)
            entries.append(entry)
        return entries

    def load(self, path: str | os.PathLike[str]) -> list[DscEntry]:
        """Trust a certificate file (PEM/DER), a DCC trust list (``.json``), or every such file in a folder."""
        folder = Path(path)
        if folder.is_dir():
            files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _CERT_SUFFIXES)
            return [entry for file in files for entry in self.load(file)]
        with open(folder, "rb") as handle:
            data = handle.read(MAX_TRUST_LIST_BYTES + 1)
        if len(data) > MAX_TRUST_LIST_BYTES:
            raise TrustStoreError(f"{folder} is larger than {MAX_TRUST_LIST_BYTES} bytes")
        if data.lstrip()[:1] in (b"[", b"{"):
            try:
                document = load_json(data.strip(), max_bytes=MAX_TRUST_LIST_BYTES, max_depth=8, what=str(folder))
            except VerificationError as exc:
                raise TrustStoreError(exc.detail) from exc
            return self.add_trust_list(document)
        return self.add_certificates(data)

    def candidates(self, kid: bytes) -> tuple[DscEntry, ...]:
        return tuple(self._by_kid.get(kid, ()))

    def __iter__(self) -> Iterator[DscEntry]:
        return (entry for entries in self._by_kid.values() for entry in entries)

    def __len__(self) -> int:
        return len(self._seen)


_CERT_SUFFIXES = frozenset({".pem", ".crt", ".cer", ".der", ".json"})


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TrustStoreError(f"{what} is not base64") from exc


def _certificates_in(data: bytes) -> list[bytes]:
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            certs = x509.load_pem_x509_certificates(data)
        except (ValueError, x509.InvalidVersion) as exc:
            raise TrustStoreError(f"not a PEM certificate file: {exc}") from exc
        return [cert.public_bytes(Encoding.DER) for cert in certs]
    if data[:1] == b"\x30":
        return [data]
    return [_b64decode(data.decode("ascii", "replace"), "the certificate file")]


def _allowed_types(cert: x509.Certificate) -> frozenset[str] | None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        oids: list[str] | None = [oid.dotted_string for oid in usage]
    except x509.ExtensionNotFound:
        oids = None
    except ValueError:  # an extension cryptography refuses, e.g. an empty EKU: read the EKU from the DER
        try:
            oids = _eku_from_tbs(cert.tbs_certificate_bytes)
        except (ValueError, IndexError) as exc:
            raise TrustStoreError(f"the certificate's extensions cannot be read: {exc}") from exc
    if not oids:  # no extension, or an empty one: the DSC may sign every type
        return None
    return frozenset(kind for kind, names in _TYPE_OIDS.items() if any(name in oids for name in names))


def _der_items(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(tag, content start, content end) of each DER element in data[start:end]."""
    i = start
    while i < end:
        tag, length = data[i], data[i + 1]
        i += 2
        if tag & 0x1F == 0x1F:
            raise ValueError("multi-byte DER tags are not expected in a certificate")
        if length & 0x80:
            count = length & 0x7F
            if not 1 <= count <= 4:
                raise ValueError("bad DER length")
            length = int.from_bytes(data[i : i + count], "big")
            i += count
        if i + length > end:
            raise ValueError("DER element overruns its parent")
        yield tag, i, i + length
        i += length


def _oid_text(encoded: bytes) -> str:
    parts: list[int] = []
    value = 0
    for byte in encoded:
        value = value << 7 | byte & 0x7F
        if not byte & 0x80:
            parts.append(value)
            value = 0
    if not parts:
        raise ValueError("empty OID")
    first = parts[0]
    head = [first // 40, first % 40] if first < 80 else [2, first - 80]
    return ".".join(map(str, head + parts[1:]))


def _eku_from_tbs(tbs: bytes) -> list[str] | None:
    """The extended key usage OIDs of a DER TBSCertificate (None without the extension)."""
    ((_, seq_start, seq_end),) = list(_der_items(tbs, 0, len(tbs)))
    for tag, start, end in _der_items(tbs, seq_start, seq_end):
        if tag != 0xA3:  # [3] extensions
            continue
        ((_, exts_start, exts_end),) = list(_der_items(tbs, start, end))
        for _, ext_start, ext_end in _der_items(tbs, exts_start, exts_end):
            fields = list(_der_items(tbs, ext_start, ext_end))
            if tbs[fields[0][1] : fields[0][2]] != b"\x55\x1d\x25":  # 2.5.29.37 extKeyUsage
                continue
            _, value_start, value_end = fields[-1]
            ((_, list_start, list_end),) = list(_der_items(tbs, value_start, value_end))
            return [_oid_text(tbs[s:e]) for _, s, e in _der_items(tbs, list_start, list_end)]
    return None


# --- the pipeline steps ---------------------------------------------------------------------------


def strip_prefix(text: str) -> str:
    """The Base45 text after the ``HC1:`` context identifier."""
    if not isinstance(text, str):
        raise malformed("the code must be text")
    if len(text) > MAX_TEXT_CHARS:
        raise VerificationError(ErrorCode.TOO_LARGE, f"{len(text)} characters, at most {MAX_TEXT_CHARS}")
    if not text.startswith(PREFIX):
        if len(text) >= 4 and text[:2] == "HC" and text[3] == ":":
            raise VerificationError(ErrorCode.UNSUPPORTED_VERSION, f"context identifier {text[:4]!r}")
        raise malformed("an EU DCC starts with HC1:")
    return text[len(PREFIX) :]


def base45_decode(text: str) -> bytes:
    """RFC 9285 Base45, strictly: only the 45 characters, no dangling character, no value out of range."""
    if len(text) % 3 == 1:
        raise malformed("Base45 text cannot have a length of 3n+1")
    out = bytearray()
    values = _BASE45_VALUES
    for i in range(0, len(text), 3):
        chunk = text[i : i + 3]
        try:
            digits = [values[char] for char in chunk]
        except KeyError as exc:
            raise malformed(f"character {exc.args[0]!r} at {i} is not Base45") from exc
        number = sum(digit * 45**power for power, digit in enumerate(digits))
        if len(digits) == 3:
            if number > 0xFFFF:
                raise malformed(f"Base45 group at {i} is out of range")
            out += number.to_bytes(2, "big")
        else:
            if number > 0xFF:
                raise malformed(f"Base45 group at {i} is out of range")
            out.append(number)
    return bytes(out)


def decompress(data: bytes) -> bytes:
    """zlib-inflate the Base45-decoded bytes into the COSE message (at most MAX_COSE_BYTES)."""
    return inflate(data, raw=False, max_bytes=MAX_COSE_BYTES, what="the HC1 payload")


def cbor_loads(data: bytes, what: str, *, outer_tags: Collection[int] = ()) -> Any:
    """Decode one CBOR item strictly (see :mod:`econsent.formats._cbor`)."""
    return _cbor.loads(data, what, max_depth=MAX_CBOR_DEPTH, outer_tags=frozenset(outer_tags))


@dataclass(frozen=True, slots=True)
class CoseSign1:
    """A COSE_Sign1 message as received: the protected header bytes are kept for the Sig_structure."""

    protected_bytes: bytes
    protected: Mapping[Any, Any]
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes

    @property
    def kid(self) -> bytes:
        """The key id: from the protected header, from the unprotected one only when the protected has none."""
        kid = self.protected.get(4, self.unprotected.get(4))
        if not isinstance(kid, bytes) or not kid:
            raise VerificationError(ErrorCode.UNKNOWN_KEY, "the COSE message names no key id")
        return kid

    @property
    def algorithm(self) -> str:
        alg = self.protected.get(1, self.unprotected.get(1))
        if alg is None:
            raise malformed("the COSE message names no algorithm")
        if isinstance(alg, bool) or not isinstance(alg, int | str):  # a list or a map cannot name an algorithm
            raise malformed(f"the COSE algorithm is a {type(alg).__name__}, not an integer or text")
        if alg not in _ALGORITHM_IDS:
            raise VerificationError(ErrorCode.ALGORITHM_NOT_ALLOWED, f"COSE algorithm {alg!r}")
        return _ALGORITHM_IDS[alg]

    def signed_bytes(self) -> bytes:
        """The COSE Sig_structure ``["Signature1", protected, h'', payload]`` over the bytes received."""
        return (
            b"\x84"
            + _cbor_head(3, 10)
            + b"Signature1"
            + _cbor_head(2, len(self.protected_bytes))
            + self.protected_bytes
            + b"\x40"
            + _cbor_head(2, len(self.payload))
            + self.payload
        )


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes((major << 5 | length,))
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes((major << 5 | info,)) + length.to_bytes(size, "big")
    raise ValueError("length too large")


def read_cose(data: bytes) -> CoseSign1:
    """A COSE_Sign1 (tag 18, untagged, or tag 61 around tag 18) with a protected header map and a payload."""
    message = cbor_loads(data, "the COSE message", outer_tags=(18, 61))
    if isinstance(message, _cbor.Tag) and message.number == 61:
        message = message.value
        if not (isinstance(message, _cbor.Tag) and message.number == 18):
            raise malformed("CWT tag 61 must wrap a COSE_Sign1 (tag 18)")
    if isinstance(message, _cbor.Tag) and message.number == 18:
        message = message.value
    if not isinstance(message, list) or len(message) != 4:
        raise malformed("not a COSE_Sign1 message (an array of 4)")
    protected_bytes, unprotected, payload, signature = message
    if not isinstance(protected_bytes, bytes) or not isinstance(unprotected, dict):
        raise malformed("COSE headers must be a byte string and a map")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise malformed("COSE payload and signature must be byte strings (no detached payload)")
    protected = cbor_loads(protected_bytes, "the protected header") if protected_bytes else {}
    if not isinstance(protected, dict):
        raise malformed("the protected header is not a map")
    return CoseSign1(protected_bytes, protected, unprotected, payload, signature)


def find_signer(cose: CoseSign1, trust: DccTrust, algorithms: Collection[str]) -> DscEntry:
    """The trusted DSC whose key made the signature, trying every certificate with the message's key id.

    The algorithm is the key's (the header must name the same one); a key econsent cannot verify with, or
    an algorithm the policy does not allow, is ALGORITHM_NOT_ALLOWED.
    """
    kid = cose.kid
    candidates = trust.candidates(kid)
    if not candidates:
        raise VerificationError(ErrorCode.UNKNOWN_KEY, f"key id {kid.hex()}")
    header_alg = cose.algorithm
    if header_alg not in algorithms:
        raise VerificationError(ErrorCode.ALGORITHM_NOT_ALLOWED, f"{header_alg} is not allowed by this verifier")
    usable = [entry for entry in candidates if entry.algorithm == header_alg]
    if not usable:
        entry = candidates[0]
        what = entry.algorithm or entry.unsupported
        raise VerificationError(ErrorCode.ALGORITHM_NOT_ALLOWED, f"header says {header_alg}, signer key {what}")
    signed = cose.signed_bytes()
    for entry in usable:
        if entry.verify(cose.signature, signed):
            return entry
    raise VerificationError(
        ErrorCode.BAD_ISSUER_SIGNATURE, f"tried {len(usable)} certificate(s) with key id {kid.hex()}"
    )


@dataclass(frozen=True, slots=True)
class CwtClaims:
    """The CWT claims of a DCC: issuing country (claim 1, optional), iat, exp and the hcert payload."""

    issuer: str | None
    issued_at: float
    expires_at: float
    hcert: Mapping[str, Any]
    entry_type: str


def read_cwt(payload: bytes) -> CwtClaims:
    """The CWT claims map: ``iat`` (6) and ``exp`` (4) required, ``hcert`` (-260) holding exactly ``{1: dcc}``.

    The DCC must hold exactly one entry type of ``v``/``t``/``r`` (a key with a null value counts as absent).
    """
    claims = cbor_loads(payload, "the CWT payload")
    if not isinstance(claims, dict):
        raise malformed("the CWT payload is not a map")
    issuer = claims.get(1)
    if issuer is not None and not isinstance(issuer, str):
        raise malformed("CWT iss (1) must be text")
    for key, name in ((6, "iat"), (4, "exp")):
        if key not in claims:
            raise malformed(f"CWT claim {name} ({key}) is missing")
    issued_at = unix_time(claims[6], "CWT iat")
    expires_at = unix_time(claims[4], "CWT exp")
    hcert = claims.get(-260)
    if not isinstance(hcert, dict) or set(hcert) != {1} or not isinstance(hcert[1], dict):
        raise malformed("CWT claim hcert (-260) must be a map holding exactly {1: DCC}")
    document = _json_value(hcert[1], "the DCC")
    present = [kind for kind in _ENTRY_TYPES if document.get(kind) is not None]
    if len(present) != 1:
        raise malformed(f"a DCC holds exactly one of v, t and r (it holds {len(present)})")
    entries = document[present[0]]
    if not isinstance(entries, list) or not entries or not all(isinstance(item, dict) for item in entries):
        raise malformed(f"DCC {present[0]} must be a non-empty list of entries")
    return CwtClaims(issuer, issued_at, expires_at, document, present[0])


def _json_value(value: Any, where: str) -> Any:
    """The decoded DCC as JSON values (text keys; no byte strings or CBOR-only values)."""
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise malformed(f"{where} has a map key that is not text")
        return {key: _json_value(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_json_value(item, where) for item in value]
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return value
    raise malformed(f"{where} holds a value JSON cannot carry ({type(value).__name__})")


def check_times(cwt: CwtClaims, signer: DscEntry, now: float, leeway: int) -> None:
    """The DCC was issued by now (with leeway) and has not expired, and its DSC is valid now."""
    if cwt.issued_at > now + leeway:
        raise VerificationError(ErrorCode.NOT_YET_VALID, f"issued {cwt.issued_at - now:.0f} s in the future")
    if now > cwt.expires_at:
        raise VerificationError(ErrorCode.EXPIRED, f"expired {instant(cwt.expires_at).isoformat()}")
    if not signer.valid_at(now):
        raise VerificationError(
            ErrorCode.KEY_NOT_VALID,
            f"signer certificate valid {signer.not_before.isoformat()} to {signer.not_after.isoformat()}, not now",
        )


def check_key_usage(cwt: CwtClaims, signer: DscEntry) -> None:
    """A DSC whose extended key usage restricts it to some certificate types may sign only those."""
    if signer.allowed_types is not None and cwt.entry_type not in signer.allowed_types:
        raise VerificationError(
            ErrorCode.TYPE_NOT_ALLOWED, f"signer certificate may not sign {_ENTRY_TYPES[cwt.entry_type]} certificates"
        )


def _claims(cwt: CwtClaims) -> dict[str, ClaimValue]:
    """A few top-level claims, flattened for counters and ``Policy.required_claims``."""
    document = cwt.hcert
    nam = document.get("nam")
    names: Mapping[str, Any] = nam if isinstance(nam, dict) else {}
    found: dict[str, object] = {
        "family_name": names.get("fn") or names.get("fnt"),
        "given_name": names.get("gn") or names.get("gnt"),
        "birth_date": document.get("dob"),
        "certificate_type": _ENTRY_TYPES[cwt.entry_type],
        "certificate_id": document[cwt.entry_type][0].get("ci"),
    }
    return {name: value for name, value in found.items() if isinstance(value, str) and value}


# --- the format -----------------------------------------------------------------------------------


class DccFormat:
    """EU Digital COVID Certificates for :class:`~econsent.verify.Verifier` (``formats=[DccFormat(trust)]``).

    ``algorithms`` limits the signature algorithms accepted (ES256 also needs to be in the policy's
    ``issuer_algorithms``). Giving the format to a verifier is the opt-in to these static bearer codes.
    """

    __slots__ = ("_algorithms", "_trust")

    def __init__(self, trust: DccTrust, *, algorithms: Collection[str] = ("ES256", "PS256")) -> None:
        unknown = set(algorithms) - set(_ALGORITHM_IDS.values())
        if unknown:
            raise ValueError(f"unsupported DCC algorithms {sorted(unknown)} (use ES256 and/or PS256)")
        self._trust = trust
        self._algorithms = frozenset(algorithms)

    @property
    def prefixes(self) -> tuple[str, ...]:
        return (PREFIX,)

    @property
    def trust(self) -> DccTrust:
        return self._trust

    def verify(self, text: str, *, now: int, nonce: bytes | None, policy: Policy) -> Verdict:
        cose = read_cose(decompress(base45_decode(strip_prefix(text))))
        algorithms = {alg for alg in self._algorithms if alg != "ES256" or Algorithm.ES256 in policy.issuer_algorithms}
        signer = find_signer(cose, self._trust, algorithms)
        cwt = read_cwt(cose.payload)
        check_times(cwt, signer, now, policy.clock_leeway)
        check_key_usage(cwt, signer)
        claims = _claims(cwt)
        check_static_code(claims, nonce=nonce, policy=policy, format_name="EU DCC")
        assert signer.algorithm is not None  # find_signer only returns keys it verified with
        return Verdict(
            credential_type=f"eu-dcc-{_ENTRY_TYPES[cwt.entry_type]}",
            claims=claims,
            withheld=(),
            issuer=IssuerName(signer.country or cwt.issuer or ""),
            kid=signer.kid.hex(),
            algorithm=signer.algorithm,
            serial=0,
            issued_at=instant(cwt.issued_at),
            valid_from=instant(cwt.issued_at),
            valid_until=instant(cwt.expires_at),
            holder_bound=False,
            holder_algorithm=None,
            presented_at=None,
            expires_at=None,
            clock_offset_seconds=None,
            format=FORMAT,
            document=cwt.hcert,
        )
