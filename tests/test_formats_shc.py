"""SMART Health Cards (shc:/) through the public API and the CLI: cards made here, every check and named attacks.

The spec's and the SDK's test data run in test_formats_suites.py; this file needs nothing outside the
repository. Cards are built as an issuer does (minified JSON, raw DEFLATE, compact JWS, numeric QR text).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from testkeys import p256_private_key

from econsent import (
    Algorithm,
    ErrorCode,
    Policy,
    SigningKey,
    StatusFallback,
    TrustStore,
    TrustStoreError,
    VerificationError,
    Verifier,
)
from econsent.cli import main
from econsent.formats import ShcFormat, ShcTrust, read_health_card_file
from econsent.formats import shc as steps

ISSUER = "https://issuer.example.org/shc"
NOW = dt.datetime(2025, 6, 1, 8, 30, tzinfo=dt.UTC)
NOW_S = int(NOW.timestamp())
PATIENT = {
    "resourceType": "Patient",
    "name": [{"family": "Anyperson", "given": ["John", "B."]}],
    "birthDate": "1951-01-20",
}
BUNDLE = {"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "resource:0", "resource": PATIENT}]}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


class Issuer:
    """A test SHC issuer: a P-256 key, its JWK (kid = thumbprint) and a way to make cards."""

    def __init__(self, label: str, url: str = ISSUER, **jwk_extra: Any) -> None:
        self.private = p256_private_key(label)
        numbers = self.private.public_key().public_numbers()
        jwk: dict[str, Any] = {"kty": "EC", "crv": "P-256", "x": b64(numbers.x.to_bytes(32, "big"))}
        jwk["y"] = b64(numbers.y.to_bytes(32, "big"))
        jwk.update(kid=steps.jwk_thumbprint(jwk), use="sig", alg="ES256", **jwk_extra)
        self.jwk, self.kid, self.url = jwk, jwk["kid"], url
        self.key = SigningKey(Algorithm.ES256, self.private)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk]}

    def jws(
        self,
        claims: dict[str, Any] | None = None,
        *,
        header: dict[str, Any] | None = None,
        payload: bytes | None = None,
        signature: bytes | None = None,
        **changes: Any,
    ) -> str:
        card: dict[str, Any] = {
            "iss": self.url,
            "nbf": NOW_S - 86_400,
            "vc": {
                "type": ["https://smarthealth.cards#health-card", "https://smarthealth.cards#immunization"],
                "credentialSubject": {"fhirVersion": "4.0.1", "fhirBundle": BUNDLE},
            },
        }
        card.update(claims or {})
        card.update(changes)
        body = payload if payload is not None else deflate(json.dumps(card, separators=(",", ":")).encode())
        head = b64(json.dumps(header or {"zip": "DEF", "alg": "ES256", "kid": self.kid}).encode())
        signed = f"{head}.{b64(body)}"
        return f"{signed}.{b64(signature if signature is not None else self.key.sign(signed.encode()))}"

    def qr(self, *args: Any, **kwargs: Any) -> str:
        return qr_text(self.jws(*args, **kwargs))


def qr_text(jws: str) -> str:
    return "shc:/" + "".join(f"{ord(char) - 45:02d}" for char in jws)


@functools.cache
def issuer() -> Issuer:
    return Issuer("econsent SHC test issuer")


def verifier_for(*issuers: Issuer, policy: Policy | None = None) -> Verifier:
    trust = ShcTrust()
    for each in issuers:
        trust.add_jwks(each.url, each.jwks())
    return Verifier(TrustStore([]), policy, formats=[ShcFormat(trust)])


def rejected(verifier: Verifier, text: str, code: ErrorCode, *, nonce: bytes | None = None) -> str:
    with pytest.raises(VerificationError) as info:
        verifier.verify(text, now=NOW, nonce=nonce)
    assert info.value.code is code, info.value
    return info.value.detail


# --- valid cards --------------------------------------------------------------------------------------------------


def test_card_verifies_with_its_claims_and_document() -> None:
    verdict = verifier_for(issuer()).verify(issuer().qr(), now=NOW)
    assert verdict.format == "smart-health-card/1" and verdict.credential_type == "smart-health-card"
    assert verdict.issuer.zh == ISSUER and verdict.kid == issuer().kid and verdict.algorithm == "ES256"
    assert dict(verdict.claims) == {
        "types": ("https://smarthealth.cards#health-card", "https://smarthealth.cards#immunization"),
        "family_name": "Anyperson",
        "given_name": "John B.",
        "birth_date": "1951-01-20",
    }
    assert verdict.valid_until == dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)  # a card without exp
    assert verdict.document is not None and verdict.document["credentialSubject"]["fhirVersion"] == "4.0.1"
    assert json.loads(json.dumps(verdict.to_json()))["document"]["credentialSubject"]["fhirBundle"] == BUNDLE


def test_expiry_when_the_card_has_one() -> None:
    verdict = verifier_for(issuer()).verify(issuer().qr(exp=NOW_S + 3600.5), now=NOW)
    assert verdict.valid_until.timestamp() == NOW_S + 3600.5


def test_health_card_files_and_fhir_parameters() -> None:
    jws = issuer().jws()
    assert read_health_card_file(json.dumps({"verifiableCredential": [jws, jws]}).encode()) == (jws, jws)
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "verifiableCredential", "valueString": jws}]}
    assert read_health_card_file(json.dumps(parameters).encode()) == (jws,)
    for bad in (b'{"verifiableCredential": []}', b"[]", json.dumps({"verifiableCredential": [jws]}).encode() + b" "):
        with pytest.raises(VerificationError):
            read_health_card_file(bad)
    shc = ShcFormat(verifier_trust())
    assert shc.verify_jws(jws, now=NOW_S, nonce=None, policy=Policy()).kid == issuer().kid


def verifier_trust() -> ShcTrust:
    trust = ShcTrust()
    trust.add_jwks(ISSUER, issuer().jwks())
    return trust


# --- QR text ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("shc:/1/2/5676", ErrorCode.UNSUPPORTED_VERSION),
        ("shc:/1/1/5676", ErrorCode.UNSUPPORTED_VERSION),
        ("shc:/567", ErrorCode.MALFORMED),
        ("shc:/5678", ErrorCode.MALFORMED),
        ("shc:/56 76", ErrorCode.MALFORMED),
        ("shc:/", ErrorCode.MALFORMED),
        ("shc:/" + "5" * steps.MAX_TEXT_CHARS, ErrorCode.TOO_LARGE),
    ],
    ids=["chunk-1-of-2", "chunk-1-of-1", "odd-digits", "pair-above-77", "space", "empty", "too-long"],
)
def test_qr_text_is_checked(text: str, code: ErrorCode) -> None:
    rejected(verifier_for(issuer()), text, code)


# --- JWS ------------------------------------------------------------------------------------------------------


def test_der_encoded_signature_is_refused_although_it_is_valid() -> None:
    card = issuer()
    head = b64(json.dumps({"zip": "DEF", "alg": "ES256", "kid": card.kid}).encode())
    body = b64(deflate(b'{"iss":"x"}'))
    der = card.private.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    assert "DER" in rejected(verifier_for(card), qr_text(f"{head}.{body}.{b64(der)}"), ErrorCode.MALFORMED)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ({"zip": "DEF", "alg": "none", "kid": "k"}, ErrorCode.ALGORITHM_NOT_ALLOWED),
        ({"zip": "DEF", "alg": "HS256", "kid": "k"}, ErrorCode.ALGORITHM_NOT_ALLOWED),
        ({"zip": "DEF", "kid": "k"}, ErrorCode.MALFORMED),
        ({"alg": "ES256", "kid": "k"}, ErrorCode.MALFORMED),
        ({"zip": "DEF", "alg": "ES256"}, ErrorCode.MALFORMED),
        ({"zip": "DEF", "alg": "ES256", "kid": "k", "crit": ["b64"]}, ErrorCode.MALFORMED),
    ],
    ids=["alg-none", "alg-hmac", "no-alg", "no-zip", "no-kid", "crit"],
)
def test_jws_header_is_checked(header: dict[str, Any], code: ErrorCode) -> None:
    rejected(verifier_for(issuer()), issuer().qr(header=header), code)


def test_tampered_and_unknown_signers_are_refused() -> None:
    card = issuer()
    head, body, signature = card.jws().split(".")
    other = card.jws(nbf=NOW_S - 10).split(".")[1]
    rejected(verifier_for(card), qr_text(f"{head}.{other}.{signature}"), ErrorCode.BAD_ISSUER_SIGNATURE)
    rejected(verifier_for(Issuer("someone else")), card.qr(), ErrorCode.UNKNOWN_KEY)
    rejected(verifier_for(card), qr_text(f"{head}.{body}"), ErrorCode.MALFORMED)
    rejected(verifier_for(card), qr_text(f"{head}.{body}.{signature}="), ErrorCode.MALFORMED)


def test_a_key_signs_only_for_its_own_issuer() -> None:
    """The SDK's issuer-kid-mismatch: a trusted key of issuer A under a card that names issuer B."""
    card = issuer()
    assert "not the card's iss" in rejected(
        verifier_for(card), card.qr(iss="https://other.example.org"), ErrorCode.UNKNOWN_KEY
    )
    shared = ShcTrust()
    shared.add_jwks("https://other.example.org", card.jwks())
    shared.add_jwks(ISSUER, card.jwks())
    verdict = Verifier(TrustStore([]), formats=[ShcFormat(shared)]).verify(card.qr(), now=NOW)
    assert verdict.issuer.zh == ISSUER


def test_policy_can_refuse_es256() -> None:
    rejected(
        verifier_for(issuer(), policy=Policy(issuer_algorithms=frozenset())),
        issuer().qr(),
        ErrorCode.ALGORITHM_NOT_ALLOWED,
    )


# --- payload ----------------------------------------------------------------------------------------------------


def test_decompression_bomb_stops_at_the_cap() -> None:
    bomb = deflate(b" " * (steps.MAX_PAYLOAD_BYTES + 1))
    rejected(verifier_for(issuer()), issuer().qr(payload=bomb), ErrorCode.TOO_LARGE)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (zlib.compress(b"{}"), ErrorCode.MALFORMED),
        (b"not deflate at all", ErrorCode.MALFORMED),
        (deflate(b"{}") + b"\x00", ErrorCode.MALFORMED),
        (deflate(b'{"iss": 1, "iss": 2}'), ErrorCode.MALFORMED),
        (deflate(b"\xef\xbb\xbf{}"), ErrorCode.MALFORMED),
        (deflate(b"[" * 40 + b"]" * 40), ErrorCode.TOO_LARGE),
        (deflate(b'"{\\"iss\\": 1}"'), ErrorCode.MALFORMED),
        (deflate(b'{"nbf": NaN}'), ErrorCode.MALFORMED),
        (deflate(b"{} x"), ErrorCode.MALFORMED),
        (deflate(b"\xff"), ErrorCode.MALFORMED),
    ],
    ids=["zlib-not-raw", "garbage", "trailing-bytes", "duplicate-key", "bom", "too-deep", "double-stringified",
         "nan", "trailing-text", "not-utf8"],
)  # fmt: skip
def test_payload_is_read_strictly(payload: bytes, code: ErrorCode) -> None:
    rejected(verifier_for(issuer()), issuer().qr(payload=payload), code)


def test_json_depth_scan_ignores_brackets_in_strings() -> None:
    assert steps.load_json(b'{"a": "[[[[[[\\"]]]"}', max_bytes=100, max_depth=2, what="x") == {"a": '[[[[[["]]]'}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"nbf": NOW_S + 60}, ErrorCode.NOT_YET_VALID),
        ({"exp": NOW_S - 1}, ErrorCode.EXPIRED),
        ({"exp": (NOW_S + 3600) * 1000}, ErrorCode.MALFORMED),
        ({"nbf": NOW_S * 1000}, ErrorCode.MALFORMED),
        ({"exp": NOW_S - 2 * 86_400}, ErrorCode.MALFORMED),
        ({"nbf": None}, ErrorCode.MALFORMED),
        ({"nbf": "yesterday"}, ErrorCode.MALFORMED),
        ({"iss": None}, ErrorCode.MALFORMED),
        ({"vc": {"type": ["https://smarthealth.cards#immunization"]}}, ErrorCode.UNKNOWN_TYPE),
        ({"vc": {"type": ["https://smarthealth.cards#health-card"]}}, ErrorCode.MALFORMED),
        ({"vc": None}, ErrorCode.MALFORMED),
    ],
    ids=["nbf-future", "expired", "exp-in-ms", "nbf-in-ms", "exp-before-nbf", "no-nbf", "text-nbf", "no-iss",
         "not-a-health-card", "no-bundle", "no-vc"],
)  # fmt: skip
def test_claims_are_checked(changes: dict[str, Any], code: ErrorCode) -> None:
    card = issuer()
    claims = {key: value for key, value in changes.items() if value is not None}
    text = card.qr(claims) if len(claims) == len(changes) else qr_text(_without(card, *changes))
    rejected(verifier_for(card), text, code)


def _without(card: Issuer, *names: str) -> str:
    document = json.loads(zlib.decompress(base64.urlsafe_b64decode(card.jws().split(".")[1] + "=="), -15))
    for name in names:
        document.pop(name, None)
    return card.jws(payload=deflate(json.dumps(document).encode()))


def test_nbf_within_the_leeway_is_accepted() -> None:
    assert verifier_for(issuer()).verify(issuer().qr(nbf=NOW_S + 20), now=NOW)
    rejected(
        verifier_for(issuer(), policy=Policy(clock_leeway=0)), issuer().qr(nbf=NOW_S + 20), ErrorCode.NOT_YET_VALID
    )


# --- revocation --------------------------------------------------------------------------------------------------


def crl_trust(card: Issuer, rids: list[str], *, ctr: int = 1) -> ShcTrust:
    trust = ShcTrust()
    trust.add_jwks(card.url, card.jwks())
    trust.add_crl(card.url, {"kid": card.kid, "method": "rid", "ctr": ctr, "rids": rids})
    return trust


def test_revocation_by_rid() -> None:
    card = Issuer("revoking issuer", crlVersion=1)
    vc = {**json.loads(json.dumps(_vc(card))), "rid": "MKyCxh7p6uQ"}
    nbf = NOW_S - 86_400

    def verify(trust: ShcTrust, policy: Policy | None = None) -> Any:
        return Verifier(TrustStore([]), policy, formats=[ShcFormat(trust)]).verify(card.qr(vc=vc, nbf=nbf), now=NOW)

    for rids in (["MKyCxh7p6uQ"], [f"MKyCxh7p6uQ.{nbf + 1}"]):
        with pytest.raises(VerificationError) as info:
            verify(crl_trust(card, rids))
        assert info.value.code is ErrorCode.REVOKED
    assert verify(crl_trust(card, [f"MKyCxh7p6uQ.{nbf}", "other"]))  # issued at or after the cut-off: still good
    assert verify(crl_trust(card, []))
    no_crl = ShcTrust()
    no_crl.add_jwks(card.url, card.jwks())
    with pytest.raises(VerificationError) as info:
        verify(no_crl)
    assert info.value.code is ErrorCode.STATUS_UNKNOWN
    assert verify(no_crl, Policy(unknown_status=StatusFallback.WARN)).warnings
    assert verifier_for(card).verify(card.qr(), now=NOW)  # no rid on the card: nothing to look up


def _vc(card: Issuer) -> dict[str, Any]:
    document = json.loads(zlib.decompress(base64.urlsafe_b64decode(card.jws().split(".")[1] + "=="), -15))
    return document["vc"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "document",
    [
        {"method": "rid", "ctr": 2, "rids": []},
        {"method": "other", "ctr": 1, "rids": []},
        {"method": "rid", "ctr": 1, "rids": ["abc", "abc.123"]},
        {"method": "rid", "ctr": 1, "rids": ["a" * 25]},
        {"method": "rid", "ctr": 1, "rids": ["not+base64url"]},
        {"method": "rid", "ctr": 1, "rids": "abc"},
    ],
    ids=["version-mismatch", "method", "duplicate-rid", "too-long-rid", "not-base64url", "not-a-list"],
)
def test_malformed_crls_are_refused(document: dict[str, Any]) -> None:
    card = Issuer("revoking issuer", crlVersion=1)
    trust = ShcTrust()
    trust.add_jwks(card.url, card.jwks())
    with pytest.raises(TrustStoreError):
        trust.add_crl(card.url, {"kid": card.kid, **document})
    with pytest.raises(TrustStoreError):
        ShcTrust().add_crl(card.url, {"kid": card.kid, "method": "rid", "ctr": 1, "rids": []})


# --- issuer keys --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer_url", "change"),
    [
        ("http://issuer.example.org", {}),
        ("https://issuer.example.org/", {}),
        (ISSUER, {"kid": "not-the-thumbprint"}),
        (ISSUER, {"d": "AAAA"}),
        (ISSUER, {"use": "enc"}),
        (ISSUER, {"alg": "ES384"}),
        (ISSUER, {"crv": "P-384"}),
        (ISSUER, {"kty": "RSA"}),
        (ISSUER, {"crlVersion": 0}),
        (ISSUER, {"x5c": ["not base64"]}),
    ],
    ids=["http", "trailing-slash", "wrong-kid", "private", "use-enc", "alg-es384", "p384", "rsa", "crl-version-0",
         "bad-x5c"],
)  # fmt: skip
def test_issuer_keys_are_checked(issuer_url: str, change: dict[str, Any]) -> None:
    with pytest.raises(TrustStoreError):
        ShcTrust().add_jwks(issuer_url, {"keys": [{**issuer().jwk, **change}]})


def test_keys_without_use_or_alg_are_accepted() -> None:
    jwk = {key: value for key, value in issuer().jwk.items() if key not in ("use", "alg")}
    assert ShcTrust().add_jwks(ISSUER, {"keys": [jwk]})[0].kid == issuer().kid


def test_jwks_with_crls_load_from_the_well_known_layout(tmp_path: Path) -> None:
    card = Issuer("revoking issuer", crlVersion=1)
    (tmp_path / ".well-known" / "crl").mkdir(parents=True)
    (tmp_path / ".well-known" / "jwks.json").write_text(json.dumps(card.jwks()))
    crl = {"kid": card.kid, "method": "rid", "ctr": 1, "rids": ["abc"]}
    (tmp_path / ".well-known" / "crl" / f"{card.kid}.json").write_text(json.dumps(crl))
    trust = ShcTrust()
    trust.load_issuer_folder(card.url, tmp_path)
    revocations = trust.revocation_list(card.url, card.kid)
    assert revocations is not None and revocations.revokes("abc", 0)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(TrustStoreError):
        ShcTrust().load_jwks(card.url, tmp_path / "bad.json")


# --- policy, properties, CLI --------------------------------------------------------------------------------------


def test_static_code_policy() -> None:
    code = issuer().qr()
    assert verifier_for(issuer(), policy=Policy(accept_bearer=False)).verify(code, now=NOW)
    rejected(verifier_for(issuer()), code, ErrorCode.NONCE_MISMATCH, nonce=b"challenge-1234")
    rejected(verifier_for(issuer(), policy=Policy(audience="counter-7")), code, ErrorCode.AUDIENCE_MISMATCH)
    rejected(
        verifier_for(issuer(), policy=Policy(required_claims=("vehicle_classes",))), code, ErrorCode.MISSING_CLAIMS
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789/", max_size=400) | st.text(max_size=200))
def test_any_shc_text_verifies_or_is_refused_with_a_code(body: str) -> None:
    try:
        verifier_for(issuer()).verify("shc:/" + body, now=NOW)
    except VerificationError as exc:
        assert isinstance(exc.code, ErrorCode)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_payload_bytes_are_refused_with_a_code(payload: bytes) -> None:
    try:
        verifier_for(issuer()).verify(issuer().qr(payload=payload), now=NOW)
    except VerificationError as exc:
        assert isinstance(exc.code, ErrorCode)


def test_cli_verifies_a_card_with_issuer_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "jwks.json").write_text(json.dumps(issuer().jwks()))
    options = ["--shc-jwks", str(tmp_path / "jwks.json"), "--shc-issuer", ISSUER, "--now", NOW.isoformat()]
    assert main(["verify", issuer().qr(), *options, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["claims"]["family_name"] == "Anyperson"
    assert main(["verify", issuer().qr(nbf=NOW_S + 3600), *options]) == 1
    assert "NOT_YET_VALID" in capsys.readouterr().out
    assert main(["verify", issuer().qr(), "--shc-jwks", str(tmp_path / "jwks.json"), "--now", NOW.isoformat()]) == 2
    assert "--shc-issuer" in capsys.readouterr().err
    assert main(["verify", issuer().qr(), "--shc-jwks", str(tmp_path / "jwks.json"), "--shc-issuer", "http://x"]) == 2


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8,
)
_HEADER_KEYS = ["alg", "kid", "zip", "crit", "typ"]
_CARD_KEYS = ["iss", "nbf", "exp", "vc"]
_VC_KEYS = ["type", "credentialSubject", "rid"]
_PATIENT_KEYS = ["name", "birthDate", "resourceType"]


@settings(max_examples=300, deadline=None)
@given(
    where=st.sampled_from(["header", "card", "vc", "patient", "bundle"]),
    key=st.sampled_from(sorted({*_HEADER_KEYS, *_CARD_KEYS, *_VC_KEYS, *_PATIENT_KEYS, "entry"})),
    value=JSON_VALUES,
)
def test_a_value_of_any_json_type_anywhere_in_a_signed_card_verifies_or_is_refused_with_a_code(
    where: str, key: str, value: Any
) -> None:
    """Every place a decoded value's type is assumed: the header (alg, kid, zip, crit), the claims, vc, FHIR."""
    card = issuer()
    header: dict[str, Any] = {"zip": "DEF", "alg": "ES256", "kid": card.kid}
    patient = json.loads(json.dumps(PATIENT))
    bundle = {**BUNDLE, "entry": [{"fullUrl": "resource:0", "resource": patient}]}
    vc: dict[str, Any] = {
        "type": ["https://smarthealth.cards#health-card"],
        "credentialSubject": {"fhirVersion": "4.0.1", "fhirBundle": bundle},
        "rid": "MKjR5NqBOYA",
    }
    claims: dict[str, Any] = {"iss": card.url, "nbf": NOW_S - 86_400, "vc": vc}
    {"header": header, "card": claims, "vc": vc, "patient": patient, "bundle": bundle}[where][key] = value
    try:
        verdict = verifier_for(card).verify(card.qr(claims, header=header), now=NOW)
    except VerificationError as exc:
        assert isinstance(exc.code, ErrorCode)
    else:
        json.dumps(verdict.to_json())
