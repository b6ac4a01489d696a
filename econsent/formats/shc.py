"""SMART Health Cards (``shc:/``): numeric QR text, compact JWS (ES256), raw DEFLATE, issuer JWKS and CRLs.

The pipeline, each step capped before it runs: the ``shc:/`` prefix (the deprecated chunked form
``shc:/i/n/...`` is refused), digit pairs to characters, the compact JWS and its header (``alg`` ES256,
``zip`` DEF, ``kid``), the signature (raw 64-byte r||s only: a DER-encoded signature is refused even
though it is mathematically valid) by a key with that ``kid`` in a :class:`ShcTrust`, then raw DEFLATE
(at most :data:`MAX_PAYLOAD_BYTES`), strict JSON, the issuer (``iss`` must be the issuer whose key
signed), ``nbf``/``exp`` against the verifier's clock, the credential type, and the issuer's revocation
list when the key has one and the card a ``rid``. The FHIR content is not validated (see docs/formats.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from ..errors import ErrorCode, KeyLoadError, TrustStoreError, VerificationError
from ..i18n import N_
from ..keys import Algorithm, PublicKey
from ..model import IssuerName, Notice, Verdict
from ..schema import ClaimValue
from ..verify import Policy, StatusFallback
from ._common import MAX_TIME, check_static_code, inflate, instant, load_json, malformed, unix_time

__all__ = [
    "FORMAT",
    "HEALTH_CARD_TYPE",
    "MAX_JWS_CHARS",
    "MAX_PAYLOAD_BYTES",
    "MAX_TEXT_CHARS",
    "PREFIX",
    "ShcFormat",
    "ShcIssuerKey",
    "ShcRevocationList",
    "ShcTrust",
    "read_health_card_file",
]

FORMAT = "smart-health-card/1"
PREFIX = "shc:/"
HEALTH_CARD_TYPE = "https://smarthealth.cards#health-card"
MAX_TEXT_CHARS = len(PREFIX) + 7089  # the most digits any QR code holds (version 40, level L)
MAX_JWS_CHARS = 16 * 1024  # a single-QR card is at most 1195 characters; files may carry longer ones
MAX_HEADER_BYTES = 1024
MAX_PAYLOAD_BYTES = 128 * 1024
MAX_JSON_DEPTH = 32
MAX_FILE_BYTES = 1024 * 1024
MAX_JWKS_BYTES = 1024 * 1024
MAX_ISSUER_CHARS = 2048
MAX_RID_CHARS = 24

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_CHUNK_HEADER = re.compile(r"shc:/(\d+)/(\d+)/")
_RID = re.compile(r"[A-Za-z0-9_-]{1,24}")
_CRL_ENTRY = re.compile(r"([A-Za-z0-9_-]{1,24})(?:\.(\d{1,12}))?")


def _b64url(text: str, what: str) -> bytes:
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise malformed(f"{what} is not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- trust material -------------------------------------------------------------------------------


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 thumbprint of an EC public JWK (SHA-256, base64url): what a SHC ``kid`` must be."""
    canonical = json.dumps({name: jwk[name] for name in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode("utf-8")).digest()).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class ShcIssuerKey:
    """An issuer's signing key: the issuer URL, the kid (its RFC 7638 thumbprint) and the CRL version, if any."""

    issuer: str
    kid: str
    public_key: PublicKey
    crl_version: int | None = None


@dataclass(frozen=True, slots=True)
class ShcRevocationList:
    """An issuer's CRL for one key: ``revoked`` maps a rid to the time before which it is revoked (None: always)."""

    issuer: str
    kid: str
    version: int
    revoked: Mapping[str, int | None]

    def revokes(self, rid: str, not_before: float) -> bool:
        if rid not in self.revoked:
            return False
        cutoff = self.revoked[rid]
        return cutoff is None or not_before < cutoff


def check_issuer_url(issuer: object) -> str:
    """A SHC issuer is an https URL without a trailing slash."""
    if not isinstance(issuer, str) or not issuer.startswith("https://") or issuer.endswith("/"):
        raise TrustStoreError(f"a SMART Health Card issuer is an https URL without a trailing slash: {issuer!r}")
    if len(issuer) > MAX_ISSUER_CHARS or any(char.isspace() for char in issuer):
        raise TrustStoreError("the issuer URL is too long or contains spaces")
    return issuer


def _issuer_key(issuer: str, jwk: object) -> ShcIssuerKey:
    """One JWK of an issuer's set, checked as the SHC specification requires of issuer keys."""
    if not isinstance(jwk, dict):
        raise TrustStoreError("a JWK must be a JSON object")
    kid = jwk.get("kid")
    if "d" in jwk:
        raise TrustStoreError(f"key {kid}: holds a private key (d): publish only the public members")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise TrustStoreError(f"key {kid}: must be an EC P-256 key (kty {jwk.get('kty')!r}, crv {jwk.get('crv')!r})")
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", "ES256") != "ES256":
        raise TrustStoreError(
            f"key {kid}: must have use sig and alg ES256 (use {jwk.get('use')!r}, alg {jwk.get('alg')!r})"
        )
    try:
        public_key = PublicKey.from_jwk(jwk)
    except KeyLoadError as exc:
        raise TrustStoreError(f"key {kid}: {exc.detail}") from exc
    if kid != jwk_thumbprint(jwk):
        raise TrustStoreError(f"key {kid!r}: the kid is not the key's RFC 7638 thumbprint")
    crl_version = jwk.get("crlVersion")
    if crl_version is not None and (
        isinstance(crl_version, bool) or not isinstance(crl_version, int) or crl_version < 1
    ):
        raise TrustStoreError(f"key {kid}: crlVersion must be a positive integer")
    if "x5c" in jwk:
        _check_x5c(issuer, kid, jwk["x5c"], public_key)
    return ShcIssuerKey(issuer, kid, public_key, crl_version)


def _check_x5c(issuer: str, kid: str, chain: object, public_key: PublicKey) -> None:
    """An ``x5c`` chain must hold the key itself, name the issuer URL as SAN and chain up.

    Validity periods are not enforced: trust comes from the JWKS the verifier was given, and the x5c is
    checked for consistency only (the spec's own example chain has expired).
    """
    if not isinstance(chain, list) or not chain or not all(isinstance(item, str) for item in chain):
        raise TrustStoreError(f"key {kid}: x5c must be a list of base64 certificates")
    try:
        certs = [x509.load_der_x509_certificate(base64.b64decode(item, validate=True)) for item in chain]
        leaf_key = certs[0].public_key()
        names = certs[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound as exc:
        raise TrustStoreError(f"key {kid}: the x5c certificate has no subject alternative name") from exc
    except (ValueError, binascii.Error, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        raise TrustStoreError(f"key {kid}: x5c is not a list of certificates: {exc}") from exc
    if not isinstance(leaf_key, ec.EllipticCurvePublicKey) or PublicKey(Algorithm.ES256, leaf_key) != public_key:
        raise TrustStoreError(f"key {kid}: the x5c certificate holds another key")
    if issuer not in uris:
        raise TrustStoreError(f"key {kid}: the x5c certificate's subject alternative name is not {issuer}")
    for cert, authority in itertools.pairwise(certs):
        try:
            cert.verify_directly_issued_by(authority)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as exc:
            raise TrustStoreError(f"key {kid}: the x5c chain does not verify") from exc


def _revocation_list(issuer: str, key: ShcIssuerKey, document: object) -> ShcRevocationList:
    if not isinstance(document, dict):
        raise TrustStoreError("a SMART Health Card CRL is a JSON object")
    if document.get("kid") != key.kid:
        raise TrustStoreError(f"the CRL names key {document.get('kid')!r}, not {key.kid}")
    if document.get("method") != "rid":
        raise TrustStoreError(f"CRL of key {key.kid}: method must be rid, not {document.get('method')!r}")
    version, entries = document.get("ctr"), document.get("rids")
    if isinstance(version, bool) or not isinstance(version, int) or version != key.crl_version:
        raise TrustStoreError(f"CRL of key {key.kid}: ctr {version!r} is not the key's crlVersion {key.crl_version}")
    if not isinstance(entries, list):
        raise TrustStoreError(f"CRL of key {key.kid}: rids must be a list")
    revoked: dict[str, int | None] = {}
    for entry in entries:
        match = _CRL_ENTRY.fullmatch(entry) if isinstance(entry, str) else None
        if match is None:
            raise TrustStoreError(f"CRL of key {key.kid}: {entry!r} is not a base64url rid of at most 24 characters")
        rid, cutoff = match.group(1), match.group(2)
        if rid in revoked:
            raise TrustStoreError(f"CRL of key {key.kid}: rid {rid} is listed twice")
        revoked[rid] = None if cutoff is None else int(cutoff)
    return ShcRevocationList(issuer, key.kid, version, revoked)


class ShcTrust:
    """Trusted SMART Health Card issuers: their keys by kid (from JWKS documents) and their CRLs."""

    __slots__ = ("_crls", "_keys")

    def __init__(self) -> None:
        self._keys: dict[str, list[ShcIssuerKey]] = {}
        self._crls: dict[tuple[str, str], ShcRevocationList] = {}

    def add_jwks(self, issuer: str, document: object) -> list[ShcIssuerKey]:
        """Trust every key of an issuer's JWKS document; one unusable key refuses the whole set."""
        check_issuer_url(issuer)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
            raise TrustStoreError('a JWKS document is an object with a non-empty "keys" list')
        keys = [_issuer_key(issuer, jwk) for jwk in document["keys"]]
        for key in keys:
            known = self._keys.setdefault(key.kid, [])
            if all(other.issuer != key.issuer for other in known):
                known.append(key)
        return keys

    def add_crl(self, issuer: str, document: object) -> ShcRevocationList:
        """Load an issuer's revocation list for one of its keys (load the key's JWKS first)."""
        kid = document.get("kid") if isinstance(document, dict) else None
        key = next((k for k in self._keys.get(str(kid), ()) if k.issuer == issuer), None)
        if key is None:
            raise TrustStoreError(f"a CRL for key {kid!r} of {issuer}, which is not trusted: load its JWKS first")
        crl = _revocation_list(issuer, key, document)
        self._crls[(issuer, key.kid)] = crl
        return crl

    def load_jwks(self, issuer: str, path: str | os.PathLike[str]) -> list[ShcIssuerKey]:
        """Trust an issuer's ``jwks.json`` file, with the CRLs published beside it (``crl/<kid>.json``)."""
        jwks_path = Path(path)
        keys = self.add_jwks(issuer, _read_json_file(jwks_path, "the JWKS"))
        for key in keys:
            crl_path = jwks_path.parent / "crl" / f"{key.kid}.json"
            if key.crl_version is not None and crl_path.is_file():
                self.add_crl(issuer, _read_json_file(crl_path, "the CRL"))
        return keys

    def load_issuer_folder(self, issuer: str, folder: str | os.PathLike[str]) -> list[ShcIssuerKey]:
        """Trust an offline copy of an issuer's site: ``<folder>/.well-known/jwks.json`` and its CRLs."""
        return self.load_jwks(issuer, Path(folder) / ".well-known" / "jwks.json")

    def keys_for(self, kid: str) -> tuple[ShcIssuerKey, ...]:
        return tuple(self._keys.get(kid, ()))

    def revocation_list(self, issuer: str, kid: str) -> ShcRevocationList | None:
        return self._crls.get((issuer, kid))

    def __iter__(self) -> Iterator[ShcIssuerKey]:
        return (key for keys in self._keys.values() for key in keys)

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._keys.values())


def _read_json_file(path: Path, what: str) -> Any:
    with open(path, "rb") as handle:
        data = handle.read(MAX_JWKS_BYTES + 1)
    try:
        return load_json(data, max_bytes=MAX_JWKS_BYTES, max_depth=MAX_JSON_DEPTH, what=f"{what} {path}")
    except VerificationError as exc:
        raise TrustStoreError(f"{path}: {exc.detail}") from exc


# --- the pipeline steps ---------------------------------------------------------------------------


def jws_from_qr_text(text: str) -> str:
    """The compact JWS in ``shc:/`` numeric QR text: each digit pair is a character's code minus 45."""
    if not isinstance(text, str):
        raise malformed("the code must be text")
    if len(text) > MAX_TEXT_CHARS:
        raise VerificationError(ErrorCode.TOO_LARGE, f"{len(text)} characters, at most {MAX_TEXT_CHARS}")
    chunk = _CHUNK_HEADER.match(text)
    if chunk is not None:
        raise VerificationError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"part {chunk.group(1)} of {chunk.group(2)} of a chunked card: the shc:/i/n/ form is deprecated",
        )
    if not text.startswith(PREFIX):
        raise malformed("a SMART Health Card QR code starts with shc:/")
    digits = text[len(PREFIX) :]
    if not digits or not digits.isascii() or not digits.isdigit():
        raise malformed("after shc:/ come only digits")
    if len(digits) % 2:
        raise malformed("the digits of a SMART Health Card come in pairs (odd count)")
    pairs = [int(digits[i : i + 2]) for i in range(0, len(digits), 2)]
    if max(pairs) > 77:
        raise malformed("a digit pair above 77 encodes no JWS character")
    return "".join(chr(pair + 45) for pair in pairs)


@dataclass(frozen=True, slots=True)
class CompactJws:
    """A compact JWS split into its parts; ``signed_bytes`` is exactly what the signature covers."""

    header: Mapping[str, Any]
    payload: bytes
    signature: bytes
    signed_bytes: bytes

    @property
    def kid(self) -> str:
        return str(self.header["kid"])


def read_jws(jws: str) -> CompactJws:
    """Split and check a compact JWS: header ``alg`` ES256, ``zip`` DEF, ``kid``; a 64-byte raw signature."""
    if len(jws) > MAX_JWS_CHARS:
        raise VerificationError(ErrorCode.TOO_LARGE, f"JWS of {len(jws)} characters, at most {MAX_JWS_CHARS}")
    parts = jws.split(".")
    if len(parts) != 3:
        raise malformed("a compact JWS has three dot-separated parts")
    header_b64, payload_b64, signature_b64 = parts
    header = load_json(
        _b64url(header_b64, "the JWS header"), max_bytes=MAX_HEADER_BYTES, max_depth=4, what="the JWS header"
    )
    if not isinstance(header, dict):
        raise malformed("the JWS header is not a JSON object")
    if "alg" not in header:
        raise malformed("the JWS header names no algorithm")
    if header["alg"] != "ES256":
        raise VerificationError(ErrorCode.ALGORITHM_NOT_ALLOWED, f"JWS algorithm {header['alg']!r} (only ES256)")
    if header.get("zip") != "DEF":
        raise malformed('a SMART Health Card payload is DEFLATE-compressed: the header needs "zip": "DEF"')
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise malformed("the JWS header names no kid")
    if "crit" in header:
        raise malformed("the JWS header has critical extensions this verifier does not know")
    payload = _b64url(payload_b64, "the JWS payload")
    signature = _b64url(signature_b64, "the JWS signature")
    if len(signature) != 64:
        der = signature[:1] == b"\x30" and 8 <= len(signature) <= 72
        kind = "a DER-encoded ECDSA signature" if der else f"{len(signature)} bytes"
        raise malformed(f"an ES256 JWS signature is the raw 64-byte r||s, not {kind}")
    return CompactJws(header, payload, signature, f"{header_b64}.{payload_b64}".encode("ascii"))


def find_signer(jws: CompactJws, trust: ShcTrust, policy: Policy) -> list[ShcIssuerKey]:
    """The trusted keys with the JWS's kid whose signature verifies (usually one; one per issuer sharing it)."""
    candidates = trust.keys_for(jws.kid)
    if not candidates:
        raise VerificationError(ErrorCode.UNKNOWN_KEY, f"key id {jws.kid}")
    if Algorithm.ES256 not in policy.issuer_algorithms:
        raise VerificationError(ErrorCode.ALGORITHM_NOT_ALLOWED, "ES256 is not allowed by this verifier")
    verified = [key for key in candidates if key.public_key.verify(jws.signature, jws.signed_bytes)]
    if not verified:
        raise VerificationError(ErrorCode.BAD_ISSUER_SIGNATURE, f"key id {jws.kid}")
    return verified


@dataclass(frozen=True, slots=True)
class CardClaims:
    """The JWT claims of a card: issuer, nbf, optional exp, the ``vc`` object and its optional rid."""

    issuer: str
    not_before: float
    expires_at: float | None
    vc: Mapping[str, Any]
    rid: str | None


def read_payload(jws: CompactJws) -> CardClaims:
    """Inflate (raw DEFLATE, capped) and read the JWT claims strictly."""
    data = inflate(jws.payload, raw=True, max_bytes=MAX_PAYLOAD_BYTES, what="the JWS payload")
    claims = load_json(data, max_bytes=MAX_PAYLOAD_BYTES, max_depth=MAX_JSON_DEPTH, what="the JWS payload")
    if not isinstance(claims, dict):
        raise malformed("the JWS payload is not a JSON object")
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise malformed("the card names no issuer (iss)")
    if "nbf" not in claims:
        raise malformed("the card has no nbf")
    not_before = unix_time(claims["nbf"], "nbf")
    expires_at = None if claims.get("exp") is None else unix_time(claims["exp"], "exp")
    if expires_at is not None and expires_at < not_before:
        raise malformed("the card expires (exp) before it becomes valid (nbf)")
    vc = claims.get("vc")
    if not isinstance(vc, dict):
        raise malformed("the card has no vc object")
    types = vc.get("type")
    if not isinstance(types, list) or not all(isinstance(item, str) for item in types):
        raise malformed("vc.type must be a list of strings")
    if HEALTH_CARD_TYPE not in types:
        raise VerificationError(ErrorCode.UNKNOWN_TYPE, f"vc.type lacks {HEALTH_CARD_TYPE}")
    subject = vc.get("credentialSubject")
    bundle = subject.get("fhirBundle") if isinstance(subject, dict) else None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise malformed("vc.credentialSubject.fhirBundle must be a FHIR Bundle")
    rid = vc.get("rid")
    if rid is not None and not (isinstance(rid, str) and _RID.fullmatch(rid)):
        raise malformed(f"vc.rid must be base64url of at most {MAX_RID_CHARS} characters")
    return CardClaims(issuer, not_before, expires_at, vc, rid)


def check_times(card: CardClaims, now: float, leeway: int) -> None:
    if card.not_before > now + leeway:
        raise VerificationError(ErrorCode.NOT_YET_VALID, f"valid from {instant(card.not_before).isoformat()}")
    if card.expires_at is not None and now > card.expires_at:
        raise VerificationError(ErrorCode.EXPIRED, f"expired {instant(card.expires_at).isoformat()}")


def check_revocation(card: CardClaims, key: ShcIssuerKey, trust: ShcTrust, policy: Policy) -> tuple[str, ...]:
    """Look the card's rid up in the CRL of its key, when the key has one (``crlVersion``) and the card a rid."""
    if key.crl_version is None or card.rid is None:
        return ()
    crl = trust.revocation_list(key.issuer, key.kid)
    if crl is None:
        detail = f"no CRL version {key.crl_version} is loaded for key {key.kid} of {key.issuer}"
        if policy.unknown_status is StatusFallback.REFUSE:
            raise VerificationError(ErrorCode.STATUS_UNKNOWN, detail)
        return (Notice(N_("revocation status not checked: {detail}"), detail=detail),)
    if crl.revokes(card.rid, card.not_before):
        raise VerificationError(ErrorCode.REVOKED, f"CRL version {crl.version} of key {key.kid}")
    return ()


def _claims(card: CardClaims) -> dict[str, ClaimValue]:
    """The patient's name and birth date (first Patient of the bundle) and the card's types, flattened."""
    claims: dict[str, ClaimValue] = {"types": tuple(card.vc["type"])}
    entries = card.vc["credentialSubject"]["fhirBundle"].get("entry")
    resources = [e.get("resource") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    patient = next((r for r in resources if isinstance(r, dict) and r.get("resourceType") == "Patient"), None)
    if patient is None:
        return claims
    names = patient.get("name")
    name = names[0] if isinstance(names, list) and names and isinstance(names[0], dict) else {}
    given = name.get("given")
    if isinstance(name.get("family"), str):
        claims["family_name"] = name["family"]
    if isinstance(given, list) and given and all(isinstance(part, str) for part in given):
        claims["given_name"] = " ".join(given)
    if isinstance(patient.get("birthDate"), str):
        claims["birth_date"] = patient["birthDate"]
    return claims


def read_health_card_file(data: bytes) -> tuple[str, ...]:
    """The compact JWSs of a ``.smart-health-card`` file or a FHIR ``Parameters`` resource ($health-cards-issue)."""
    document = load_json(data, max_bytes=MAX_FILE_BYTES, max_depth=MAX_JSON_DEPTH, what="the health card file")
    if isinstance(document, dict) and document.get("resourceType") == "Parameters":
        parameters = document.get("parameter")
        if not isinstance(parameters, list):
            raise malformed("a Parameters resource has a parameter list")
        found: list[object] = [
            p.get("valueString") for p in parameters if isinstance(p, dict) and p.get("name") == "verifiableCredential"
        ]
    elif isinstance(document, dict) and isinstance(document.get("verifiableCredential"), list):
        found = list(document["verifiableCredential"])
    else:
        raise malformed('a health card file is {"verifiableCredential": [...]} or a FHIR Parameters resource')
    if not found or not all(isinstance(jws, str) for jws in found):
        raise malformed("the file holds no verifiable credential")
    return tuple(str(jws) for jws in found)


# --- the format -----------------------------------------------------------------------------------


class ShcFormat:
    """SMART Health Cards for :class:`~econsent.verify.Verifier` (``formats=[ShcFormat(trust)]``).

    The verifier hands it ``shc:/`` QR text; :meth:`verify_jws` takes a compact JWS (from a
    ``.smart-health-card`` file, see :func:`read_health_card_file`). Giving the format to a verifier is
    the opt-in to these static bearer codes.
    """

    __slots__ = ("_trust",)

    def __init__(self, trust: ShcTrust) -> None:
        self._trust = trust

    @property
    def prefixes(self) -> tuple[str, ...]:
        return (PREFIX,)

    @property
    def trust(self) -> ShcTrust:
        return self._trust

    def verify(self, text: str, *, now: int, nonce: bytes | None, policy: Policy) -> Verdict:
        return self.verify_jws(jws_from_qr_text(text), now=now, nonce=nonce, policy=policy)

    def verify_jws(self, jws: str, *, now: int, nonce: bytes | None, policy: Policy) -> Verdict:
        """Verify a compact JWS; raises VerificationError."""
        if not isinstance(jws, str):
            raise malformed("the JWS must be text")
        parsed = read_jws(jws)
        verified = find_signer(parsed, self._trust, policy)
        card = read_payload(parsed)
        key = next((k for k in verified if k.issuer == card.issuer), None)
        if key is None:
            issuers = ", ".join(sorted(k.issuer for k in verified))
            raise VerificationError(ErrorCode.UNKNOWN_KEY, f"key {parsed.kid} signs for {issuers}, not the card's iss")
        check_times(card, now, policy.clock_leeway)
        warnings = check_revocation(card, key, self._trust, policy)
        claims = _claims(card)
        check_static_code(claims, nonce=nonce, policy=policy, format_name="SMART Health Card")
        return Verdict(
            credential_type="smart-health-card",
            claims=claims,
            withheld=(),
            issuer=IssuerName(key.issuer),
            kid=key.kid,
            algorithm=Algorithm.ES256.value,
            serial=0,
            issued_at=instant(card.not_before),
            valid_from=instant(card.not_before),
            valid_until=instant(MAX_TIME if card.expires_at is None else card.expires_at),
            holder_bound=False,
            holder_algorithm=None,
            presented_at=None,
            expires_at=None,
            clock_offset_seconds=None,
            warnings=warnings,
            format=FORMAT,
            document=card.vc,
        )
