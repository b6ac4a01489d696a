"""EU DCC (HC1:) through the public API and the CLI: codes made here, every check, limits and named attacks.

The suites in ../shared/testdata run in test_formats_suites.py; this file needs nothing outside the
repository. Codes are built the way an issuer does (CWT claims, COSE_Sign1, zlib, Base45), with a test
signer certificate, so each check can be hit on purpose.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import io
import json
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from testkeys import p256_private_key

from econsent import ErrorCode, Policy, TrustStore, TrustStoreError, VerificationError, Verifier, raw_signature_from_der
from econsent.cli import main
from econsent.formats import DccFormat, DccTrust, DscEntry, _cbor
from econsent.formats import dcc as steps

NOW = dt.datetime(2025, 6, 1, 8, 30, tzinfo=dt.UTC)
NOW_S = int(NOW.timestamp())
DAY = 86_400
OID_TEST, OID_VACCINATION = "1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.1847.2021.1.2"
HCERT = {
    "ver": "1.3.0",
    "nam": {"fn": "Musterfrau", "fnt": "MUSTERFRAU", "gn": "Erika", "gnt": "ERIKA"},
    "dob": "1964-08-12",
    "v": [{"tg": "840539006", "vp": "1119349007", "dn": 2, "sd": 2, "dt": "2021-05-29", "co": "AT",
           "is": "Ministry of Health, Austria", "ci": "URN:UVCI:01:AT:TEST#0"}],
}  # fmt: skip


# --- a tiny CBOR encoder and the issuer side of a DCC -------------------------------------------------------


class Raw(bytes):
    """Bytes inserted into an encoding as they are (to build malformed CBOR)."""


def cbor(value: Any) -> bytes:
    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes((major << 5 | n,))
        for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if n < 1 << (8 * size):
                return bytes((major << 5 | info,)) + n.to_bytes(size, "big")
        raise ValueError(n)

    if isinstance(value, Raw):
        return bytes(value)
    if value is None:
        return b"\xf6"
    if isinstance(value, bool):
        return b"\xf5" if value else b"\xf4"
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        data = value.encode()
        return head(3, len(data)) + data
    if isinstance(value, list):
        return head(4, len(value)) + b"".join(cbor(item) for item in value)
    if isinstance(value, dict):
        return head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    if isinstance(value, _cbor.Tag):
        return head(6, value.number) + cbor(value.value)
    raise TypeError(type(value))


B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def base45(data: bytes) -> str:
    out = []
    for i in range(0, len(data), 2):
        chunk = data[i : i + 2]
        n = int.from_bytes(chunk, "big")
        digits = 3 if len(chunk) == 2 else 2
        out += [B45[(n // 45**k) % 45] for k in range(digits)]
    return "".join(out)


def certificate(
    key: Any, *, country: str = "AT", days: tuple[int, int] = (-365, 365), eku: list[str] | None = None
) -> bytes:
    name = x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, country), x509.NameAttribute(NameOID.COMMON_NAME, "DSC")]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(hashlib.sha256(str(id(key)).encode()).digest()[:8], "big"))
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in eku]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def ec_key(label: str) -> ec.EllipticCurvePrivateKey:
    return p256_private_key(label)


class Dsc:
    """A test Document Signer: a key and its certificate, able to sign DCCs (and mis-sign them on request)."""

    def __init__(self, key: Any, **cert_options: Any) -> None:
        self.key = key
        self.der = certificate(key, **cert_options)
        self.entry = DscEntry(self.der)
        self.algorithm = -7 if isinstance(key, ec.EllipticCurvePrivateKey) else -37

    def sign_bytes(self, data: bytes) -> bytes:
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return raw_signature_from_der(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        return self.key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())

    def code(
        self,
        hcert: Any = None,
        *,
        iat: float = NOW_S - DAY,
        exp: float = NOW_S + 180 * DAY,
        claims: dict[Any, Any] | None = None,
        protected: dict[Any, Any] | None = None,
        unprotected: dict[Any, Any] | None = None,
        payload: bytes | None = None,
        sign: Callable[[bytes], bytes] | None = None,
        tags: tuple[int, ...] = (18,),
        after_cose: bytes = b"",
        compress: Callable[[bytes], bytes] = zlib.compress,
    ) -> str:
        body = (
            payload
            if payload is not None
            else cbor(claims if claims is not None else {1: "AT", 6: iat, 4: exp, -260: {1: hcert or HCERT}})
        )
        header = cbor(protected if protected is not None else {1: self.algorithm, 4: self.entry.kid})
        signed = cbor(["Signature1", header, b"", body])
        message: Any = [header, unprotected or {}, body, (sign or self.sign_bytes)(signed)]
        for tag in reversed(tags):
            message = _cbor.Tag(tag, message)
        return "HC1:" + base45(compress(cbor(message) + after_cose))


@pytest.fixture(scope="module")
def dsc() -> Dsc:
    return Dsc(ec_key("econsent DCC test DSC"))


@pytest.fixture(scope="module")
def rsa_dsc() -> Dsc:
    return Dsc(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def verifier_for(*signers: Dsc, policy: Policy | None = None, **options: Any) -> Verifier:
    return Verifier(TrustStore([]), policy, formats=[DccFormat(DccTrust(s.entry for s in signers), **options)])


def rejected(verifier: Verifier, text: str, code: ErrorCode, *, now: int = NOW_S, nonce: bytes | None = None) -> str:
    with pytest.raises(VerificationError) as info:
        verifier.verify(text, now=now, nonce=nonce)
    assert info.value.code is code, info.value
    return info.value.detail


# --- what a valid code proves ---------------------------------------------------------------------------------


def test_es256_dcc_verifies_with_its_claims_and_document(dsc: Dsc) -> None:
    verdict = verifier_for(dsc).verify(dsc.code(), now=NOW)
    assert verdict.format == "eu-dcc/1" and verdict.credential_type == "eu-dcc-vaccination"
    assert verdict.issuer.zh == "AT" and verdict.kid == hashlib.sha256(dsc.der).digest()[:8].hex()
    assert verdict.algorithm == "ES256" and not verdict.holder_bound and verdict.serial == 0
    assert verdict.valid_until == NOW + dt.timedelta(days=180)
    assert dict(verdict.claims) == {
        "family_name": "Musterfrau",
        "given_name": "Erika",
        "birth_date": "1964-08-12",
        "certificate_type": "vaccination",
        "certificate_id": "URN:UVCI:01:AT:TEST#0",
    }
    assert verdict.document is not None and verdict.document["v"][0]["dn"] == 2
    document = json.loads(json.dumps(verdict.to_json()))
    assert document["document"] == HCERT and document["format"] == "eu-dcc/1"
    with pytest.raises(TypeError):
        verdict.document["ver"] = "x"  # type: ignore[index]


def test_ps256_dcc_verifies(rsa_dsc: Dsc) -> None:
    verdict = verifier_for(rsa_dsc).verify(rsa_dsc.code(), now=NOW)
    assert verdict.algorithm == "PS256"


def test_ps256_needs_the_rfc_8230_salt_length(rsa_dsc: Dsc) -> None:
    def wrong_salt(data: bytes) -> bytes:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
        return rsa_dsc.key.sign(data, pss, hashes.SHA256())  # type: ignore[no-any-return]

    rejected(verifier_for(rsa_dsc), rsa_dsc.code(sign=wrong_salt), ErrorCode.BAD_ISSUER_SIGNATURE)


@pytest.mark.parametrize("tags", [(18,), (), (61, 18)], ids=["tag-18", "untagged", "cwt-61-around-18"])
def test_cose_tagging_variants_are_accepted(dsc: Dsc, tags: tuple[int, ...]) -> None:
    assert verifier_for(dsc).verify(dsc.code(tags=tags), now=NOW)


@pytest.mark.parametrize("tags", [(61,), (18, 61), (1,)], ids=["61-alone", "18-around-61", "foreign-tag"])
def test_other_taggings_are_refused(dsc: Dsc, tags: tuple[int, ...]) -> None:
    rejected(verifier_for(dsc), dsc.code(tags=tags), ErrorCode.MALFORMED)


def test_kid_from_the_unprotected_header_only_when_the_protected_has_none(dsc: Dsc) -> None:
    verifier = verifier_for(dsc)
    assert verifier.verify(dsc.code(protected={1: -7}, unprotected={4: dsc.entry.kid}), now=NOW)
    wrong = dsc.code(protected={1: -7, 4: b"foo"}, unprotected={4: dsc.entry.kid})
    rejected(verifier, wrong, ErrorCode.UNKNOWN_KEY)


@pytest.mark.parametrize(
    ("protected", "unprotected"),
    [({1: [-7]}, {}), ({1: {1: -7}}, {}), ({}, {1: [-7, -37]}), ({}, {1: {"alg": -7}})],
    ids=["protected-list", "protected-map", "unprotected-list", "unprotected-map"],
)
def test_a_cose_algorithm_that_is_a_list_or_a_map_is_malformed(
    dsc: Dsc, protected: dict[Any, Any], unprotected: dict[Any, Any]
) -> None:
    """Only a public DSC key id is needed to reach the algorithm check; its type is checked before a lookup."""
    code = dsc.code(protected={**protected, 4: dsc.entry.kid}, unprotected=unprotected)
    assert "not an integer or text" in rejected(verifier_for(dsc), code, ErrorCode.MALFORMED)


CBOR_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64 - 1)
    | st.floats()
    | st.binary(max_size=12)
    | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.integers(-300, 300) | st.text(max_size=3), children, max_size=3)
        | st.builds(_cbor.Tag, st.sampled_from([0, 1, 18, 61, 1004]), children)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    where=st.sampled_from(["protected", "unprotected", "claims", "hcert"]),
    key=st.sampled_from([1, 4, 6, -260, 33, "v", "nam", "dob"]),
    value=CBOR_VALUES,
)
def test_a_value_of_any_cbor_type_anywhere_in_a_signed_dcc_verifies_or_is_refused_with_a_code(
    where: str, key: Any, value: Any
) -> None:
    """Every place a decoded value's type is assumed (alg, kid, iss, iat, exp, hcert, the DCC's fields)."""
    dsc, _ = _fuzz_subject()
    protected: dict[Any, Any] = {1: -7, 4: dsc.entry.kid}
    unprotected: dict[Any, Any] = {}
    claims: dict[Any, Any] = {1: "AT", 6: NOW_S - DAY, 4: NOW_S + DAY, -260: {1: dict(HCERT)}}
    target = {"protected": protected, "unprotected": unprotected, "claims": claims, "hcert": claims[-260][1]}[where]
    target[key] = value
    code = dsc.code(protected=protected, unprotected=unprotected, claims=claims)
    try:
        verdict = verifier_for(dsc).verify(code, now=NOW)
    except VerificationError as exc:
        assert isinstance(exc.code, ErrorCode)
    else:
        json.dumps(verdict.to_json())


@pytest.mark.parametrize("command", ["scan", "verify"])
def test_stdin_goes_on_to_the_next_line_after_a_dcc_whose_algorithm_is_a_list(
    dsc: Dsc, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A keyboard-wedge scanner types one code a line: a hostile code is refused and the genuine one after it read."""
    (tmp_path / "dsc.der").write_bytes(dsc.der)
    hostile = dsc.code(protected={1: [-7], 4: dsc.entry.kid})
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{hostile}\n{dsc.code()}\n"))
    assert main([command, "-", "--dcc-certs", str(tmp_path), "--now", NOW.isoformat(), "--json"]) == 1
    verdicts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [v.get("code") for v in verdicts] == ["MALFORMED", None]
    assert verdicts[1]["valid"] is True and verdicts[1]["format"] == "eu-dcc/1"


def test_colliding_key_ids_are_all_tried(dsc: Dsc) -> None:
    """DCC key ids are 8 bytes of a hash: two DSCs may share one, and the verifier must try each."""
    decoy = Dsc(ec_key("another DSC"))
    decoy.entry.kid = dsc.entry.kid
    assert verifier_for(decoy, dsc).verify(dsc.code(), now=NOW).kid == dsc.entry.kid.hex()
    assert len(DccTrust([decoy.entry, dsc.entry]).candidates(dsc.entry.kid)) == 2
    rejected(verifier_for(decoy), dsc.code(), ErrorCode.BAD_ISSUER_SIGNATURE)


# --- signature and algorithm ------------------------------------------------------------------------------------


def test_altered_payload_is_refused(dsc: Dsc) -> None:
    hcert = json.loads(json.dumps(HCERT))
    original = dsc.code()
    forged = dsc.code({**hcert, "dob": "1999-01-01"}, sign=lambda data: b"")
    rejected(verifier_for(dsc), forged, ErrorCode.BAD_ISSUER_SIGNATURE)
    body = cbor({1: "AT", 6: NOW_S - DAY, 4: NOW_S + 180 * DAY, -260: {1: {**hcert, "dob": "1999-01-01"}}})
    header = cbor({1: -7, 4: dsc.entry.kid})
    signature = dsc.sign_bytes(cbor(["Signature1", header, b"", cbor({1: "AT", 6: 0, 4: 0, -260: {}})]))
    rejected(verifier_for(dsc), "HC1:" + base45(zlib.compress(cbor(_cbor.Tag(18, [header, {}, body, signature])))),
             ErrorCode.BAD_ISSUER_SIGNATURE)  # fmt: skip
    assert verifier_for(dsc).verify(original, now=NOW)


def test_der_encoded_ecdsa_signature_is_refused(dsc: Dsc) -> None:
    assert isinstance(dsc.key, ec.EllipticCurvePrivateKey)
    der = dsc.code(sign=lambda data: dsc.key.sign(data, ec.ECDSA(hashes.SHA256())))
    rejected(verifier_for(dsc), der, ErrorCode.BAD_ISSUER_SIGNATURE)


def test_the_algorithm_comes_from_the_key(dsc: Dsc, rsa_dsc: Dsc) -> None:
    rejected(verifier_for(dsc), dsc.code(protected={1: -37, 4: dsc.entry.kid}), ErrorCode.ALGORITHM_NOT_ALLOWED)
    rejected(
        verifier_for(rsa_dsc), rsa_dsc.code(protected={1: -7, 4: rsa_dsc.entry.kid}), ErrorCode.ALGORITHM_NOT_ALLOWED
    )
    rejected(verifier_for(dsc), dsc.code(protected={1: -8, 4: dsc.entry.kid}), ErrorCode.ALGORITHM_NOT_ALLOWED)
    rejected(verifier_for(dsc), dsc.code(protected={4: dsc.entry.kid}), ErrorCode.MALFORMED)


def test_p384_key_under_an_es256_header_is_refused() -> None:
    """The ES 401-403 suite cases: ECDSA P-384 with SHA-256 is not ES256."""
    p384 = Dsc(ec.generate_private_key(ec.SECP384R1()))
    code = p384.code(protected={1: -7, 4: p384.entry.kid}, sign=lambda d: p384.key.sign(d, ec.ECDSA(hashes.SHA256())))
    assert "P-256" in rejected(verifier_for(p384), code, ErrorCode.ALGORITHM_NOT_ALLOWED)


def test_policy_and_format_limit_the_algorithms(dsc: Dsc, rsa_dsc: Dsc) -> None:
    rejected(
        verifier_for(dsc, policy=Policy(issuer_algorithms=frozenset())), dsc.code(), ErrorCode.ALGORITHM_NOT_ALLOWED
    )
    rejected(verifier_for(rsa_dsc, algorithms=("ES256",)), rsa_dsc.code(), ErrorCode.ALGORITHM_NOT_ALLOWED)
    with pytest.raises(ValueError):
        DccFormat(DccTrust(), algorithms=("RS256",))


def test_unknown_signer_is_refused(dsc: Dsc) -> None:
    rejected(verifier_for(Dsc(ec_key("stranger"))), dsc.code(), ErrorCode.UNKNOWN_KEY)


# --- times and key usage --------------------------------------------------------------------------------------


def test_times_are_judged_by_the_injected_clock(dsc: Dsc) -> None:
    verifier = verifier_for(dsc)
    assert verifier.verify(dsc.code(iat=NOW_S + 20), now=NOW)  # within the default 30 s leeway
    rejected(verifier, dsc.code(iat=NOW_S + 60), ErrorCode.NOT_YET_VALID)
    rejected(verifier, dsc.code(exp=NOW_S - 1), ErrorCode.EXPIRED)
    assert verifier.verify(dsc.code(iat=NOW_S - 0.5, exp=NOW_S + 0.25), now=NOW)  # fractional CBOR times
    rejected(verifier_for(dsc, policy=Policy(clock_leeway=0)), dsc.code(iat=NOW_S + 20), ErrorCode.NOT_YET_VALID)


def test_signer_certificate_must_be_valid_now() -> None:
    expired = Dsc(ec_key("expired DSC"), days=(-400, -1))
    rejected(verifier_for(expired), expired.code(), ErrorCode.KEY_NOT_VALID)


@pytest.mark.parametrize(
    ("claims", "detail"),
    [
        ({1: "AT", 4: NOW_S + DAY, -260: {1: HCERT}}, "iat"),
        ({1: "AT", 6: NOW_S - DAY, -260: {1: HCERT}}, "exp"),
        ({1: "AT", 6: "yesterday", 4: NOW_S + DAY, -260: {1: HCERT}}, "iat"),
        ({1: "AT", 6: NOW_S - DAY, 4: 1.7e12, -260: {1: HCERT}}, "milliseconds"),
        ({1: "AT", 6: NOW_S - DAY, 4: float("nan"), -260: {1: HCERT}}, "finite"),
        ({1: "AT", 6: NOW_S - DAY, 4: NOW_S + DAY, -260: {1: HCERT, 2: {}}}, "hcert"),
        ({1: 5, 6: NOW_S - DAY, 4: NOW_S + DAY, -260: {1: HCERT}}, "iss"),
    ],
    ids=["no-iat", "no-exp", "text-iat", "exp-in-ms", "nan-exp", "extra-hcert-key", "numeric-iss"],
)
def test_cwt_claims_are_checked(dsc: Dsc, claims: dict[Any, Any], detail: str) -> None:
    assert detail in rejected(verifier_for(dsc), dsc.code(claims=claims), ErrorCode.MALFORMED)


@pytest.mark.parametrize(
    "hcert",
    [
        {**HCERT, "t": [{"tg": "840539006"}]},
        {key: value for key, value in HCERT.items() if key != "v"},
        {**HCERT, "v": []},
        {**HCERT, "v": {"dn": 1}},
        {**HCERT, "nam": {"fn": b"bytes"}},
    ],
    ids=["two-types", "no-type", "empty-list", "not-a-list", "bytes-value"],
)
def test_dcc_shape_is_checked(dsc: Dsc, hcert: dict[str, Any]) -> None:
    rejected(verifier_for(dsc), dsc.code(hcert), ErrorCode.MALFORMED)


def test_a_null_entry_type_counts_as_absent(dsc: Dsc) -> None:
    """BG/1 and BG/2 in the suite carry "r": null and "t": null beside "v"."""
    assert verifier_for(dsc).verify(dsc.code({**HCERT, "r": None, "t": None}), now=NOW)


def test_key_usage_restricts_the_certificate_type() -> None:
    vaccinations_only = Dsc(ec_key("vaccination DSC"), eku=[OID_VACCINATION])
    verifier = verifier_for(vaccinations_only)
    assert verifier.verify(vaccinations_only.code(), now=NOW)
    test_hcert = {**{k: v for k, v in HCERT.items() if k != "v"}, "t": [{"tg": "840539006", "ci": "URN:X"}]}
    rejected(verifier, vaccinations_only.code(test_hcert), ErrorCode.TYPE_NOT_ALLOWED)
    tls_only = Dsc(ec_key("TLS DSC"), eku=["1.3.6.1.5.5.7.3.1"])  # an EKU naming no DCC type allows none
    rejected(verifier_for(tls_only), tls_only.code(), ErrorCode.TYPE_NOT_ALLOWED)
    assert DscEntry(certificate(ec_key("legacy"), eku=["1.3.6.1.4.1.0.1847.2021.1.2"])).allowed_types == {"v"}
    assert DscEntry(certificate(ec_key("any"))).allowed_types is None


def test_empty_extended_key_usage_is_read_as_absent() -> None:
    """cryptography refuses an empty EKU extension (suite case CO15); the DER fallback reads the EKU itself."""

    def tlv(tag: int, content: bytes) -> bytes:
        return bytes((tag, len(content))) + content

    def tbs(usages: bytes) -> bytes:
        extension = tlv(0x30, tlv(0x06, b"\x55\x1d\x25") + tlv(0x04, tlv(0x30, usages)))
        return tlv(0x30, tlv(0x02, b"\x01") + tlv(0xA3, tlv(0x30, extension)))

    assert steps._eku_from_tbs(tbs(b"")) == []
    assert steps._eku_from_tbs(tbs(_der_oid(OID_TEST) + _der_oid(OID_VACCINATION))) == [OID_TEST, OID_VACCINATION]
    assert steps._eku_from_tbs(tlv(0x30, tlv(0x02, b"\x01"))) is None
    real = x509.load_der_x509_certificate(certificate(ec_key("EKU"), eku=[OID_TEST])).tbs_certificate_bytes
    assert steps._eku_from_tbs(real) == [OID_TEST]


def _der_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([parts[0] * 40 + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body += bytes(reversed(chunk))
    return b"\x06" + bytes((len(body),)) + bytes(body)


# --- limits before every step, and malformed input ---------------------------------------------------------


def test_oversized_text_is_refused_before_decoding(dsc: Dsc) -> None:
    rejected(verifier_for(dsc), "HC1:" + "0" * steps.MAX_TEXT_CHARS, ErrorCode.TOO_LARGE)


def test_decompression_bomb_stops_at_the_cap(dsc: Dsc) -> None:
    bomb = "HC1:" + base45(zlib.compress(b"\x00" * (steps.MAX_COSE_BYTES + 1), 9))
    assert len(bomb) < steps.MAX_TEXT_CHARS
    rejected(verifier_for(dsc), bomb, ErrorCode.TOO_LARGE)


@pytest.mark.parametrize(
    ("mutate", "detail"),
    [
        (lambda code: code[:-1] + "a", "Base45"),
        (lambda code: "HC1:" + "0000", "3n+1"),
        (lambda code: "HC1:" + base45(b"\x00" * 10), "zlib"),
        (lambda code: "HC1:" + ":::", "range"),
    ],
    ids=["lowercase-char", "dangling-char", "not-zlib", "group-out-of-range"],
)
def test_broken_transport_encoding_is_malformed(dsc: Dsc, mutate: Callable[[str], str], detail: str) -> None:
    assert detail in rejected(verifier_for(dsc), mutate(dsc.code()), ErrorCode.MALFORMED)


def test_bytes_after_the_zlib_stream_or_the_cose_message_are_refused(dsc: Dsc) -> None:
    verifier = verifier_for(dsc)
    rejected(verifier, dsc.code(compress=lambda data: zlib.compress(data) + b"\x00"), ErrorCode.MALFORMED)
    rejected(verifier, dsc.code(after_cose=b"\x00"), ErrorCode.MALFORMED)


def test_unsupported_context_identifier(dsc: Dsc) -> None:
    dcc = DccFormat(DccTrust([dsc.entry]))
    with pytest.raises(VerificationError) as info:
        dcc.verify("HC2:" + dsc.code()[4:], now=NOW_S, nonce=None, policy=Policy())
    assert info.value.code is ErrorCode.UNSUPPORTED_VERSION


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (b"\xa2\x01\x62AT\x01\x62AT", "duplicate"),
        (b"\x81" * 40 + b"\x00", "deeper"),
        (b"\xd8\x1c\x81\xd8\x1d\x00", "no place"),
        (b"\xa1\xf5\x00", "key"),
        (b"\xf7", "simple"),
        (b"\x62\xc3\x28", "UTF-8"),
        (b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff", "longer than the data"),
        (b"\x5f\x41\x00\x61\x00\xff", "another kind"),
        (b"\xff", "misplaced"),
        (b"", "no data"),
    ],
    ids=["duplicate-key", "too-deep", "shared-reference-tags", "bool-key", "undefined", "bad-utf8",
         "huge-array", "mixed-indefinite-string", "lone-break", "empty"],
)  # fmt: skip
def test_strict_cbor(dsc: Dsc, payload: bytes, detail: str) -> None:
    assert detail in rejected(verifier_for(dsc), dsc.code(payload=payload), ErrorCode.MALFORMED)


def test_cbor_decoder_reads_what_dccs_use() -> None:
    encoded = bytes.fromhex("bf6176f97e00617482f93c00fa3f800000617ac074323032312d30362d31355430393a32343a30325aff")
    value = _cbor.loads(encoded, "x")
    assert value["t"] == [1.0, 1.0] and value["z"] == "2021-06-15T09:24:02Z" and value["v"] != value["v"]
    assert _cbor.loads(b"\x5f\x41\x01\x41\x02\xff", "x") == b"\x01\x02"
    assert _cbor.loads(b"\x3b\x7f\xff\xff\xff\xff\xff\xff\xff", "x") == -(2**63)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_cbor_input_decodes_or_is_malformed(data: bytes) -> None:
    try:
        _cbor.loads(data, "fuzz", outer_tags=frozenset({18, 61}))
    except VerificationError as exc:
        assert exc.code is ErrorCode.MALFORMED


@functools.cache
def _fuzz_subject() -> tuple[Dsc, str]:
    dsc = Dsc(ec_key("econsent DCC test DSC"))
    return dsc, dsc.code()  # made once: ECDSA signatures are randomised, Hypothesis needs a fixed input


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_mutation_of_a_valid_code_verifies_or_is_refused_with_a_code(data: st.DataObject) -> None:
    dsc, code = _fuzz_subject()
    raw = bytearray(zlib.decompress(steps.base45_decode(code[4:])))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] = data.draw(st.integers(0, 255))
    mutated = "HC1:" + base45(zlib.compress(bytes(raw)))
    text = data.draw(st.sampled_from([mutated, code[: data.draw(st.integers(0, len(code)))], mutated + "%"]))
    try:
        verifier_for(dsc).verify(text, now=NOW)
    except VerificationError as exc:
        assert isinstance(exc.code, ErrorCode)


# --- the static-code policy -------------------------------------------------------------------------------------


def test_static_code_policy(dsc: Dsc) -> None:
    code = dsc.code()
    assert verifier_for(dsc, policy=Policy(accept_bearer=False)).verify(code, now=NOW)  # the format is the opt-in
    rejected(verifier_for(dsc), code, ErrorCode.NONCE_MISMATCH, nonce=b"challenge-1234")
    rejected(verifier_for(dsc, policy=Policy(audience="counter-7")), code, ErrorCode.AUDIENCE_MISMATCH)
    rejected(verifier_for(dsc, policy=Policy(required_claims=("licence_number",))), code, ErrorCode.MISSING_CLAIMS)
    assert verifier_for(dsc, policy=Policy(required_claims=("family_name", "birth_date"))).verify(code, now=NOW)


def test_econsent_codes_still_verify_beside_the_format(
    dsc: Dsc, trust: TrustStore, presentation: str, now: dt.datetime
) -> None:
    verifier = Verifier(trust, formats=[DccFormat(DccTrust([dsc.entry]))])
    assert verifier.verify(presentation, now=now).format == "econsent/1"
    assert verifier.verify(dsc.code(), now=NOW).format == "eu-dcc/1"


# --- trust material ---------------------------------------------------------------------------------------------


def test_trust_loads_pem_der_base64_folders_and_trust_lists(dsc: Dsc, rsa_dsc: Dsc, tmp_path: Path) -> None:
    pem = b"".join(
        x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM) for d in (dsc.der, rsa_dsc.der)
    )
    (tmp_path / "both.pem").write_bytes(pem)
    (tmp_path / "one.der").write_bytes(dsc.der)
    (tmp_path / "one.cer").write_bytes(base64.b64encode(dsc.der))
    (tmp_path / "notes.txt").write_text("not a certificate")
    trust = DccTrust()
    assert len(trust.load(tmp_path)) == 4 and len(trust) == 2  # the same certificate is kept once
    listed = [
        {"certificateType": "DSC", "country": "DE", "kid": base64.b64encode(dsc.entry.kid).decode(),
         "rawData": base64.b64encode(dsc.der).decode()},
        {"certificateType": "CSCA", "rawData": "AAAA"},
    ]  # fmt: skip
    (tmp_path / "list.json").write_text(json.dumps({"certificates": listed}))
    from_list = DccTrust()
    (entry,) = from_list.load(tmp_path / "list.json")
    assert entry.country == "DE" and entry.kid == dsc.entry.kid


@pytest.mark.parametrize(
    "document",
    [
        {"certificates": [{"rawData": base64.b64encode(b"junk").decode()}]},
        [{"kid": "AAAAAAAAAAA=", "rawData": None}],
        "not a list",
        [{"rawData": "!!!"}],
    ],
    ids=["not-a-certificate", "no-raw-data", "not-a-list", "not-base64"],
)
def test_bad_trust_lists_are_refused(document: Any) -> None:
    with pytest.raises(TrustStoreError):
        DccTrust().add_trust_list(document)


def test_trust_list_kid_must_match_the_certificate(dsc: Dsc) -> None:
    entry = {"kid": base64.b64encode(b"12345678").decode(), "rawData": base64.b64encode(dsc.der).decode()}
    with pytest.raises(TrustStoreError):
        DccTrust().add_trust_list([entry])


def test_deeply_nested_trust_list_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 10_000 + "]" * 10_000)
    with pytest.raises(TrustStoreError):
        DccTrust().load(tmp_path / "deep.json")


def test_unsupported_keys_load_but_never_verify() -> None:
    small = DscEntry(certificate(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    assert small.algorithm is None and "1024" in small.unsupported and not small.verify(b"x" * 128, b"data")


# --- the command line ---------------------------------------------------------------------------------------------


def test_cli_verifies_a_dcc_with_signer_certificates(
    dsc: Dsc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dsc.der").write_bytes(dsc.der)
    code = dsc.code()
    assert main(["verify", code, "--dcc-certs", str(tmp_path), "--now", NOW.isoformat(), "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["format"] == "eu-dcc/1" and verdict["document"]["nam"]["fn"] == "Musterfrau"
    assert main(["verify", code, "--dcc-certs", str(tmp_path / "dsc.der"), "--now", NOW.isoformat()]) == 0
    card = capsys.readouterr().out
    assert "VALID 有效" in card and "eu-dcc/1" in card and "bearer" in card
    later = (NOW + dt.timedelta(days=400)).isoformat()
    assert main(["verify", code, "--dcc-certs", str(tmp_path), "--now", later]) == 1
    assert "EXPIRED" in capsys.readouterr().out


def test_cli_needs_some_trust(dsc: Dsc, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", dsc.code()]) == 2
    assert "--dcc-certs" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["verify", dsc.code(), "--dcc-certs", str(tmp_path / "empty")]) == 2


def test_importing_econsent_does_not_load_the_formats() -> None:
    probe = "import sys, econsent; print('econsent.formats' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
