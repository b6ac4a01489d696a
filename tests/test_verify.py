"""Verification: one named test per rejection code of SPEC section 7, each produced for real; the order of
the checks; leeway boundaries; the replay cache; and what a successful verdict reports.

Every rejection goes through the ``reject`` fixture, which also checks the error contract (stable code,
a sentence, no personal data in the error text).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from econsent import (
    ATTESTED_OUT_OF_BAND,
    Algorithm,
    Credential,
    ErrorCode,
    IssueError,
    Issuer,
    IssuerName,
    MemoryReplayCache,
    Policy,
    PublicKey,
    SigningKey,
    StatusReference,
    TrustStore,
    VerificationError,
    Verifier,
    _envelope,
    _wire,
    present,
)
from econsent.schema import DRIVING_LICENCE, encode_text
from econsent.trust import KeyStatus
from econsent.verify import StatusFallback

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SECOND = dt.timedelta(seconds=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
LEEWAY = 30  # the default clock leeway
LIFETIME = 60  # the wallet's default presentation lifetime


def unix(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def array(*parts: bytes) -> bytes:
    """A msgpack fixarray from already-encoded elements (to build deliberately odd encodings)."""
    assert len(parts) < 16
    return bytes([0x90 | len(parts)]) + b"".join(parts)


# --- success and the verdict ----------------------------------------------------------------------


@pytest.mark.parametrize("issuer_alg", ["ES256", "Ed25519"])
@pytest.mark.parametrize("holder_alg", ["ES256", "Ed25519"])
def test_every_issuer_and_holder_algorithm_combination_verifies(
    request: pytest.FixtureRequest,
    issue_licence: Any,
    verifier: Verifier,
    now: dt.datetime,
    issuer_alg: str,
    holder_alg: str,
) -> None:
    issuer_signer = request.getfixturevalue("issuer_key" if issuer_alg == "ES256" else "issuer_key_ed25519")
    holder = request.getfixturevalue("holder_key" if holder_alg == "ES256" else "holder_key_ed25519")
    cred = issue_licence(issuer_key=issuer_signer, holder=holder)
    verdict = verifier.verify(present(cred, holder, now=now), now=now)
    assert verdict.algorithm == issuer_alg
    assert verdict.holder_algorithm == holder_alg
    assert verdict.kid == issuer_signer.public_key.kid.hex()
    assert dict(verdict.claims) == dict(cred.claims)


def test_verdict_reports_every_field(
    issue_licence: Any, holder_key: SigningKey, issuer_key: SigningKey, trust: TrustStore, now: dt.datetime
) -> None:
    portrait = bytes(range(48))
    cred = issue_licence(
        {**issue_licence().claims, "portrait": portrait}, derive=("age_over_18", "age_over_60"), serial=7
    )
    verdict = Verifier(trust).verify(present(cred, holder_key, now=now - 10 * SECOND), now=now)

    assert dict(verdict.claims) == dict(cred.claims)
    assert verdict.claims["family_name"] == "张"
    assert verdict.claims["address"] == "上海市黄浦区豫园街道人民路一二三弄四号五零二室"
    assert verdict.claims["birth_date"] == dt.date(1985, 3, 14)
    assert verdict.claims["vehicle_classes"] == ("C1", "D")
    assert verdict.claims["age_over_18"] is True
    assert verdict.claims["age_over_60"] is False
    assert verdict.claims["portrait"] == portrait
    assert verdict.withheld == ()
    assert verdict.credential_type == "driving-licence"
    assert verdict.issuer == IssuerName(
        "上海市公安局交通警察总队", "Shanghai Public Security Bureau, Traffic Police Division"
    )
    assert verdict.kid == issuer_key.public_key.kid.hex() and len(verdict.kid) == 16
    assert verdict.algorithm == "ES256"
    assert verdict.serial == 7
    assert (verdict.issued_at, verdict.valid_from, verdict.valid_until) == (
        cred.issued_at,
        cred.valid_from,
        cred.valid_until,
    )
    assert verdict.holder_bound is True
    assert verdict.holder_algorithm == "ES256"
    assert verdict.presented_at == now - 10 * SECOND
    assert verdict.expires_at == now - 10 * SECOND + LIFETIME * SECOND
    assert verdict.clock_offset_seconds == -10
    assert verdict.nonce is None and verdict.audience is None


def test_verdict_reports_the_status_reference(
    issue_licence: Any, present_licence: Any, verifier: Verifier, trust: TrustStore, now: dt.datetime
) -> None:
    cred = issue_licence(status=StatusReference(3, 2**32 - 1))
    verdict = Verifier(trust, Policy(unknown_status=StatusFallback.WARN)).verify(present_licence(cred), now=now)
    assert verdict.status == StatusReference(3, 2**32 - 1)
    assert verdict.warnings and "revocation status not checked" in verdict.warnings[0]
    assert verdict.to_json()["status"] == {"list_id": 3, "index": 2**32 - 1}
    assert verifier.verify(present_licence(), now=now).status is None


def test_verdict_lists_withheld_claims_in_claim_order(
    present_licence: Any, verifier: Verifier, now: dt.datetime
) -> None:
    verdict = verifier.verify(present_licence(profile="driving-check"), now=now)
    assert set(verdict.claims) == {"family_name", "given_name", "vehicle_classes", "expiry_date"}
    assert verdict.withheld == ("birth_date", "licence_number", "issue_date", "issuing_authority", "address")


def test_verdict_claims_of_every_kind_equal_the_issued_ones(
    issue_licence: Any, holder_key: SigningKey, trust: TrustStore, staff_types: Any, now: dt.datetime
) -> None:
    claims = {
        "name": "李娜 Lina 🚗",
        "employee_number": -(2**63),
        "active": True,
        "hired_on": dt.date(1969, 12, 31),
        "badge": bytes(range(256)),
        "languages": ("中文", "English", "日本語"),
        "shift_codes": (0, 2**63 - 1, -1),
        "flags": (True, False, False),
        "training_dates": (dt.date(1970, 1, 1), dt.date(2024, 2, 29)),
        "door_keys": (b"", b"\x00\xff"),
    }
    cred = issue_licence(claims, credential_type="staff-card", types=staff_types)
    verdict = Verifier(trust, types=staff_types).verify(present(cred, holder_key, now=now, types=staff_types), now=now)
    assert dict(verdict.claims) == claims
    assert verdict.credential_type == "staff-card"


def test_verdict_to_json_is_json_serialisable(
    issue_licence: Any, holder_key: SigningKey, trust: TrustStore, now: dt.datetime
) -> None:
    cred = issue_licence({**issue_licence().claims, "portrait": b"\xfb\xff\x00"}, derive=("age_over_18",))
    text = present(cred, holder_key, now=now, nonce=b"challenge-123", audience="counter-7")
    verdict = Verifier(trust, Policy(audience="counter-7")).verify(text, now=now, nonce=b"challenge-123")
    document = json.loads(json.dumps(verdict.to_json(), ensure_ascii=False))
    assert document["valid"] is True
    assert document["kid"] == verdict.kid
    assert document["algorithm"] == "ES256"
    assert document["claims"]["birth_date"] == "1985-03-14"
    assert document["claims"]["vehicle_classes"] == ["C1", "D"]
    assert document["claims"]["portrait"] == "-_8A"  # base64url, no padding
    assert document["claims"]["age_over_18"] is True
    assert document["presented_at"] == "2025-06-01T08:30:00Z"
    assert document["nonce"] == "Y2hhbGxlbmdlLTEyMw"
    assert document["audience"] == "counter-7"


def test_bearer_credential_is_accepted_when_policy_allows(
    bearer_credential: Credential, trust: TrustStore, now: dt.datetime
) -> None:
    verdict = Verifier(trust, Policy(accept_bearer=True)).verify(present(bearer_credential, None, now=now), now=now)
    assert dict(verdict.claims) == dict(bearer_credential.claims)
    assert verdict.holder_bound is False
    assert verdict.holder_algorithm is None
    assert verdict.presented_at is None and verdict.expires_at is None and verdict.clock_offset_seconds is None


def test_nonce_and_audience_round_trip(present_licence: Any, trust: TrustStore, now: dt.datetime) -> None:
    nonce = bytes(range(16))
    text = present_licence(nonce=nonce, audience="上海浦东营业厅-3")
    verdict = Verifier(trust, Policy(audience="上海浦东营业厅-3")).verify(text, now=now, nonce=nonce)
    assert verdict.nonce == nonce
    assert verdict.audience == "上海浦东营业厅-3"


def test_nonce_presented_but_not_requested_is_accepted(
    present_licence: Any, verifier: Verifier, now: dt.datetime
) -> None:
    verdict = verifier.verify(present_licence(nonce=b"12345678"), now=now)
    assert verdict.nonce == b"12345678"


def test_reference_licence_from_shared_verifies(
    reference_licence: dict[str, Any],
    make_issuer: Any,
    trusted_key: Any,
    issuer_key: SigningKey,
    holder_key: SigningKey,
    now: dt.datetime,
) -> None:
    valid_from = dt.datetime.fromisoformat(reference_licence["valid_from"])
    valid_until = dt.datetime.fromisoformat(reference_licence["valid_until"])
    cred = make_issuer().issue(
        reference_licence["credential_type"],
        reference_licence["claims"],
        holder_key=holder_key.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=valid_from,
        valid_until=valid_until,
        now=valid_from,
    )
    issuer = IssuerName(reference_licence["issuer"]["name"], reference_licence["issuer"]["name_en"])
    trust = TrustStore([trusted_key(issuer_key, issuer=issuer, valid_from=valid_from - DAY)])
    ttl = reference_licence["presentation"]["ttl_seconds"]
    verdict = Verifier(trust).verify(present(cred, holder_key, now=now, lifetime=ttl), now=now)
    assert dict(verdict.claims) == reference_licence["claims"]
    assert verdict.issuer == issuer
    for profile, names in reference_licence["profiles"].items():
        shown = Verifier(trust).verify(present(cred, holder_key, now=now, profile=profile), now=now)
        assert set(shown.claims) == set(names)


def test_inline_licence_claims_match_the_shared_reference(
    reference_licence: dict[str, Any], licence_claims: Any
) -> None:
    assert dict(licence_claims) == reference_licence["claims"]


# --- step 1: TOO_LARGE ----------------------------------------------------------------------------


def test_too_large_text(verifier: Verifier, reject: Any) -> None:
    reject(verifier, "EC1:" + "1" * 3703, ErrorCode.TOO_LARGE)  # 3,707 characters


def test_too_large_payload(verifier: Verifier, reject: Any, forge: Any) -> None:
    text = forge.text(bytes(1537))
    assert len(text) == 3706  # the text is within its limit; the payload is one byte over
    reject(verifier, text, ErrorCode.TOO_LARGE)


def test_payload_at_the_limit_is_not_too_large(verifier: Verifier, reject: Any, forge: Any) -> None:
    reject(verifier, forge.text(bytes(1536)), ErrorCode.MALFORMED)


# --- step 2: UNSUPPORTED_VERSION ------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["EC2:", "EC10:", "EC0:"])
def test_unsupported_version(verifier: Verifier, reject: Any, presentation: str, prefix: str) -> None:
    reject(verifier, prefix + presentation.removeprefix("EC1:"), ErrorCode.UNSUPPORTED_VERSION)


# --- step 3: MALFORMED (text form) ----------------------------------------------------------------


def _digits(text: str) -> str:
    return text.removeprefix("EC1:")


TEXT_FORM_CASES: dict[str, Callable[[str, Any], str]] = {
    "empty": lambda t, f: "",
    "wrong-prefix": lambda t, f: "HC1:" + _digits(t),
    "lowercase-prefix": lambda t, f: "ec1:" + _digits(t),
    "prefix-without-colon": lambda t, f: "EC1" + _digits(t),
    "leading-space": lambda t, f: " " + t,
    "space-inside": lambda t, f: t[:40] + " " + t[40:],
    "empty-body": lambda t, f: "EC1:",
    "leading-zero": lambda t, f: "EC1:0" + _digits(t),
    "non-digit": lambda t, f: t[:40] + "A" + t[41:],
    "plus-sign": lambda t, f: "EC1:+" + _digits(t),
    "minus-sign": lambda t, f: "EC1:-" + _digits(t),
    "underscore": lambda t, f: t[:40] + "_" + t[40:],
    "arabic-indic-digits": lambda t, f: "EC1:" + "١٢٣٤٥",
    "fullwidth-digits": lambda t, f: "EC1:" + "\uff11\uff12\uff13\uff14\uff15",
    "missing-sentinel": lambda t, f: "EC1:" + str(int.from_bytes(_wire.payload_from_text(t), "big")),
    "wrong-sentinel": lambda t, f: "EC1:" + str(int.from_bytes(b"\x02" + _wire.payload_from_text(t), "big")),
    "trailing-byte": lambda t, f: f.text(_wire.payload_from_text(t) + b"\x00"),
    "truncated": lambda t, f: f.text(_wire.payload_from_text(t)[:-1]),
    "empty-payload": lambda t, f: f.text(b""),
}


@pytest.mark.parametrize("case", TEXT_FORM_CASES)
def test_malformed_text_form(verifier: Verifier, reject: Any, presentation: str, forge: Any, case: str) -> None:
    reject(verifier, TEXT_FORM_CASES[case](presentation, forge), ErrorCode.MALFORMED)


# --- step 3: MALFORMED (canonical msgpack, shapes and ranges) ---------------------------------------


class Shapes:
    """Odd payloads built from a valid full-disclosure presentation ``p`` (re-signed by the holder)."""

    def __init__(self, forge: Any, presentation: str, name_presentation: str, holder: SigningKey) -> None:
        self.forge = forge
        self._text = presentation
        self._name_text = name_presentation
        self.holder = holder

    @property
    def p(self) -> list[Any]:
        return self.forge.decode(self._text)

    @property
    def name_p(self) -> list[Any]:
        """A presentation of the name profile: seeds {16, 17}, nodes {5, 6, 18, 19}."""
        return self.forge.decode(self._name_text)

    def signed(self, payload: list[Any] | bytes) -> str:
        return self.forge.sign_holder(payload, self.holder)

    def with_element(self, index: int, value: Any) -> str:
        p = self.p
        p[index] = value
        return self.signed(p)

    def with_header(self, index: int, value: Any) -> str:
        p = self.p
        p[0][index] = value
        return self.signed(p)

    def with_value(self, index: int, value: Any) -> str:
        p = self.p
        p[1][index] = value
        return self.signed(p)

    def with_raw(self, index: int, raw: bytes, p: list[Any] | None = None) -> str:
        parts = [_wire.pack(element) for element in (self.p if p is None else p)]
        parts[index] = raw
        return self.signed(array(*parts))

    def with_raw_value(self, index: int, raw: bytes) -> str:
        p = self.p
        values = [_wire.pack(v) for v in p[1]]
        values[index] = raw
        return self.with_raw(1, array(*values), p)

    def with_raw_header(self, index: int, raw: bytes) -> str:
        p = self.p
        header = [_wire.pack(v) for v in p[0]]
        header[index] = raw
        return self.with_raw(0, array(*header), p)


def _out_of_order_nodes(s: Shapes) -> str:
    p = s.name_p
    p[3] = dict(reversed(p[3].items()))
    return s.signed(p)


def _duplicate_seed_key(s: Shapes) -> str:
    p = s.name_p
    (n0, s0), (_, s1) = p[2].items()
    raw = b"\x82" + _wire.pack(n0) + _wire.pack(s0) + _wire.pack(n0) + _wire.pack(s1)
    return s.with_raw(2, raw, p)


def _short_string_as_str8(s: Shapes) -> str:
    licence_number = s.p[1][5]
    assert licence_number == "310101198503140012"
    return s.with_raw_value(5, b"\xd9\x12" + licence_number.encode())


def _binding(nonce: Any, audience: Any) -> Callable[[Shapes], str]:
    return lambda s: s.with_element(7, [nonce, audience])


SHAPE_CASES: dict[str, Callable[[Shapes], str]] = {
    # non-canonical encodings
    "int-in-a-wider-form": lambda s: s.with_raw(6, b"\xcc" + bytes([LIFETIME])),
    "header-int-in-a-wider-form": lambda s: s.with_raw_header(0, b"\xcd\x00\x01"),
    "short-string-as-str8": _short_string_as_str8,
    "float32-lifetime": lambda s: s.with_raw(6, b"\xca" + struct.pack(">f", float(LIFETIME))),
    "map-keys-out-of-order": _out_of_order_nodes,
    "duplicate-map-key": _duplicate_seed_key,
    "invalid-utf8-string": lambda s: s.with_raw_value(5, b"\xa2\xff\xfe"),
    # array shapes
    "payload-of-4": lambda s: s.forge.text(s.p[:4]),
    "payload-of-6": lambda s: s.forge.text(s.p[:6]),
    "payload-of-10": lambda s: s.forge.text([*s.p[:8], None, s.p[8]]),
    "payload-not-an-array": lambda s: s.forge.text({1: s.p[0]}),
    "header-one-element-short": lambda s: s.with_element(0, s.p[0][:-1]),
    "header-one-element-long": lambda s: s.with_element(0, [*s.p[0], None]),
    "values-not-an-array": lambda s: s.with_element(1, {0: "张"}),
    "seeds-not-a-map": lambda s: s.with_element(2, [s.p[2][1]]),
    # fields of the header
    "kid-of-7-bytes": lambda s: s.with_header(1, s.p[0][1][:7]),
    "kid-of-9-bytes": lambda s: s.with_header(1, s.p[0][1] + b"\x00"),
    "kid-as-str": lambda s: s.with_header(1, s.p[0][1].hex()[:8]),
    "type-id-0": lambda s: s.with_header(0, 0),
    "type-id-65536": lambda s: s.with_header(0, 65536),
    "negative-serial": lambda s: s.with_header(2, -1),
    "time-beyond-2**40": lambda s: s.with_header(5, 2**40 + 1),
    "negative-time": lambda s: s.with_header(4, -1),
    "bool-as-time": lambda s: s.with_header(3, True),
    "empty-claim-bitmap": lambda s: s.with_header(6, 0),
    "holder-algorithm-4": lambda s: s.with_header(7, b"\x04" + s.p[0][7][1:]),  # 1-3 are ES256, Ed25519, SM2
    "holder-key-of-32-bytes-for-ES256": lambda s: s.with_header(7, s.p[0][7][:-1]),
    "holder-key-as-str": lambda s: s.with_header(7, "key"),
    "status-of-one-element": lambda s: s.with_header(8, [3]),
    "status-of-three-elements": lambda s: s.with_header(8, [3, 1, 0]),
    "status-list-id-65536": lambda s: s.with_header(8, [65536, 1]),
    "status-index-2**32": lambda s: s.with_header(8, [3, 2**32]),
    "status-negative-index": lambda s: s.with_header(8, [3, -1]),
    "status-as-int": lambda s: s.with_header(8, 3),
    # floats, nil, extension types, nesting
    "float-lifetime": lambda s: s.with_element(6, float(LIFETIME)),
    "float-presented-at": lambda s: s.with_element(5, float(s.p[5])),
    "float-claim-value": lambda s: s.with_value(3, 1.5),
    "float-in-header": lambda s: s.with_header(2, 42.0),
    "nil-claim-value": lambda s: s.with_value(0, None),
    "nested-list-claim-value": lambda s: s.with_value(2, [["C1"], "D"]),
    "map-claim-value": lambda s: s.with_value(5, {1: "x"}),
    "extension-type-claim-value": lambda s: s.with_raw_value(5, b"\xd4\x05\x00"),
    "timestamp-extension-presented-at": lambda s: s.with_raw(5, b"\xd6\xff" + s.p[5].to_bytes(4, "big")),
    # the disclosure maps
    "seed-of-15-bytes": lambda s: s.with_element(2, {1: s.p[2][1][:15]}),
    "node-id-0": lambda s: s.with_element(3, {0: bytes(16)}),
    "node-id-128": lambda s: s.with_element(3, {128: bytes(16)}),
    # signatures
    "issuer-signature-of-63-bytes": lambda s: s.with_element(4, s.p[4][:63]),
    "holder-signature-of-63-bytes": lambda s: s.forge.text([*s.p[:8], s.p[8][:63]]),
    "holder-signature-as-str": lambda s: s.forge.text([*s.p[:8], "x" * 64]),
    # the holder proof
    "lifetime-0": lambda s: s.with_element(6, 0),
    "lifetime-86401": lambda s: s.with_element(6, 86_401),
    "binding-nil-nil": _binding(None, None),
    "binding-of-one": lambda s: s.with_element(7, [b"12345678"]),
    "binding-as-map": lambda s: s.with_element(7, {0: b"12345678"}),
    "nonce-of-7-bytes": _binding(b"1234567", None),
    "nonce-of-33-bytes": _binding(bytes(33), None),
    "nonce-as-str": _binding("12345678", None),
    "audience-empty": _binding(None, ""),
    "audience-of-65": _binding(None, "a" * 65),
    "audience-as-bin": _binding(None, b"counter"),
    # claim values that do not decode by their kind
    "compact-text-sent-as-str": lambda s: s.with_value(0, "张"),
    "ascii-text-sent-as-compact-bin": lambda s: s.with_value(5, b"310101198503140012"),
    "chinese-text-sent-as-utf8-str": lambda s: s.with_value(8, "上海市黄浦区豫园街道人民路一二三弄四号五零二室"),
    "compact-bin-not-gb18030": lambda s: s.with_value(0, b"\xff\xff"),
    "int-where-text-expected": lambda s: s.with_value(5, 310101198503140012),
    "text-where-date-expected": lambda s: s.with_value(4, "1985-03-14"),
    "bool-where-date-expected": lambda s: s.with_value(4, True),
    "text-where-list-expected": lambda s: s.with_value(2, "C1"),
    "list-item-of-wrong-kind": lambda s: s.with_value(2, ["C1", 2]),
    "date-out-of-range": lambda s: s.with_value(3, 10**9),
    "list-of-33-items": lambda s: s.with_value(2, ["C"] * 33),
}


@pytest.fixture(scope="module")
def shapes(forge: Any, presentation: str, present_licence: Any, holder_key: SigningKey) -> Shapes:
    return Shapes(forge, presentation, present_licence(profile="name"), holder_key)


@pytest.mark.parametrize("case", SHAPE_CASES)
def test_malformed_payload(verifier: Verifier, reject: Any, shapes: Shapes, case: str) -> None:
    reject(verifier, SHAPE_CASES[case](shapes), ErrorCode.MALFORMED)


def test_shape_cases_start_from_a_valid_presentation(verifier: Verifier, shapes: Shapes, now: dt.datetime) -> None:
    """The mutations above are what makes the cases malformed: unchanged, the payload verifies."""
    assert verifier.verify(shapes.signed(shapes.p), now=now)
    assert verifier.verify(shapes.with_raw(6, _wire.pack(LIFETIME)), now=now)
    assert verifier.verify(shapes.signed(shapes.name_p), now=now)


# Payloads only a misbehaving issuer could sign: the issuer signature is valid, the content is not.


def _issuer_signed(
    forge: Any,
    credential: Credential,
    issuer_key: SigningKey,
    holder_key: SigningKey,
    now: dt.datetime,
    change: Callable[[list[Any]], None],
) -> str:
    payload = forge.unpack(credential.encoded)
    change(payload)
    return forge.prove(forge.sign_issuer(payload, issuer_key, DRIVING_LICENCE), holder_key, unix(now))


def _bitmap_beyond_type(payload: list[Any]) -> None:
    payload[0][6] |= 1 << 12  # the driving licence has claims 0..11; leaf 12 exists in its 16-leaf tree
    payload[1].append("extra")


def _set_header(index: int, value: Any) -> Callable[[list[Any]], None]:
    def change(payload: list[Any]) -> None:
        payload[0][index] = value(payload[0]) if callable(value) else value

    return change


ISSUER_SIGNED_CASES: dict[str, Callable[[list[Any]], None]] = {
    "valid-from-equals-valid-until": _set_header(4, lambda h: h[5]),
    "valid-from-after-valid-until": _set_header(4, lambda h: h[5] + 1),
    "claim-bitmap-beyond-the-type": _bitmap_beyond_type,
    "holder-key-not-on-the-curve": _set_header(7, b"\x01\x02" + b"\xff" * 32),
    "holder-key-uncompressed-prefix": _set_header(7, b"\x01\x04" + b"\x11" * 32),
    "ed25519-holder-key-y-not-below-p": _set_header(7, b"\x02" + (2**255 - 19).to_bytes(32, "little")),
}


@pytest.mark.parametrize("case", ISSUER_SIGNED_CASES)
def test_malformed_even_with_a_valid_issuer_signature(
    verifier: Verifier,
    reject: Any,
    forge: Any,
    credential: Credential,
    issuer_key: SigningKey,
    holder_key: SigningKey,
    now: dt.datetime,
    case: str,
) -> None:
    text = _issuer_signed(forge, credential, issuer_key, holder_key, now, ISSUER_SIGNED_CASES[case])
    reject(verifier, text, ErrorCode.MALFORMED)


def test_forged_issuer_signature_helper_makes_valid_codes(
    verifier: Verifier,
    forge: Any,
    credential: Credential,
    issuer_key: SigningKey,
    holder_key: SigningKey,
    now: dt.datetime,
) -> None:
    """Control for the test above: re-signing an unchanged credential gives a valid code."""
    text = _issuer_signed(forge, credential, issuer_key, holder_key, now, lambda payload: None)
    assert dict(verifier.verify(text, now=now).claims) == dict(credential.claims)


def test_malformed_bearer_credential_with_a_holder_proof(
    trust: TrustStore, reject: Any, forge: Any, bearer_credential: Credential, holder_key: SigningKey, now: dt.datetime
) -> None:
    text = forge.prove(forge.unpack(bearer_credential.encoded), holder_key, unix(now))
    reject(Verifier(trust, Policy(accept_bearer=True)), text, ErrorCode.MALFORMED)


def _ed25519_off_curve() -> bytes:
    """A canonical Ed25519 encoding (y < p) that is no point: x^2 = (y^2 - 1) / (d y^2 + 1) has no root."""
    p = 2**255 - 19
    d = (-121665 * pow(121666, -1, p)) % p
    y = next(y for y in range(2, 100) if pow((y * y - 1) * pow(d * y * y + 1, -1, p) % p, (p - 1) // 2, p) == p - 1)
    return y.to_bytes(32, "little")


def test_ed25519_holder_key_off_the_curve_fails_at_the_holder_signature(
    verifier: Verifier,
    reject: Any,
    forge: Any,
    credential: Credential,
    issuer_key: SigningKey,
    holder_key: SigningKey,
    now: dt.datetime,
) -> None:
    """SPEC step 15: an Ed25519 encoding with y < p decodes; a key off the curve fails at step 16."""
    text = _issuer_signed(
        forge, credential, issuer_key, holder_key, now, _set_header(7, b"\x02" + _ed25519_off_curve())
    )
    reject(verifier, text, ErrorCode.BAD_HOLDER_SIGNATURE)


# --- step 4: UNKNOWN_TYPE -------------------------------------------------------------------------


def test_unknown_type(
    issue_licence: Any, holder_key: SigningKey, staff_types: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    cred = issue_licence({"name": "李娜", "active": True}, credential_type="staff-card", types=staff_types)
    text = present(cred, holder_key, now=now, types=staff_types)
    error = reject(verifier, text, ErrorCode.UNKNOWN_TYPE)  # the default verifier knows only built-in types
    assert "1000" in error.detail


def test_unknown_type_id_in_a_forged_header(verifier: Verifier, reject: Any, shapes: Shapes) -> None:
    reject(verifier, shapes.with_header(0, 999), ErrorCode.UNKNOWN_TYPE)


# --- step 5: UNKNOWN_KEY --------------------------------------------------------------------------


def test_unknown_key_with_an_empty_trust_store(presentation: str, reject: Any, credential: Credential) -> None:
    error = reject(Verifier(TrustStore()), presentation, ErrorCode.UNKNOWN_KEY)
    assert credential.kid.hex() in error.detail


def test_unknown_key_when_only_another_issuer_is_trusted(
    presentation: str, reject: Any, trusted_key: Any, issuer_key_ed25519: SigningKey
) -> None:
    reject(Verifier(TrustStore([trusted_key(issuer_key_ed25519)])), presentation, ErrorCode.UNKNOWN_KEY)


# --- steps 6 and 9: ALGORITHM_NOT_ALLOWED ---------------------------------------------------------


def test_algorithm_not_allowed_for_the_issuer_key(presentation: str, trust: TrustStore, reject: Any) -> None:
    policy = Policy(issuer_algorithms=frozenset({Algorithm.ED25519}))
    error = reject(Verifier(trust, policy), presentation, ErrorCode.ALGORITHM_NOT_ALLOWED)
    assert "ES256" in error.detail


def test_algorithm_not_allowed_for_the_holder_key(
    issue_licence: Any, holder_key_ed25519: SigningKey, trust: TrustStore, reject: Any, now: dt.datetime
) -> None:
    cred = issue_licence(holder=holder_key_ed25519)
    policy = Policy(holder_algorithms=frozenset({Algorithm.ES256}))
    error = reject(Verifier(trust, policy), present(cred, holder_key_ed25519, now=now), ErrorCode.ALGORITHM_NOT_ALLOWED)
    assert "Ed25519" in error.detail


def test_allowed_algorithms_verify(presentation: str, trust: TrustStore, now: dt.datetime) -> None:
    es256 = frozenset({Algorithm.ES256})
    assert Verifier(trust, Policy(issuer_algorithms=es256, holder_algorithms=es256)).verify(presentation, now=now)


# --- step 7: TYPE_NOT_ALLOWED ---------------------------------------------------------------------


def test_type_not_allowed(presentation: str, reject: Any, trusted_key: Any, issuer_key: SigningKey) -> None:
    trust = TrustStore([trusted_key(issuer_key, types={"business-licence"})])
    error = reject(Verifier(trust), presentation, ErrorCode.TYPE_NOT_ALLOWED)
    assert "driving-licence" in error.detail


# --- step 8b: KEY_NOT_VALID ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "window",
    [
        pytest.param((SECOND, 10 * DAY), id="window-starts-after-issuance"),
        pytest.param((-10 * DAY, -SECOND), id="window-ends-before-issuance"),
    ],
)
def test_key_not_valid(
    presentation: str,
    credential: Credential,
    reject: Any,
    trusted_key: Any,
    issuer_key: SigningKey,
    window: tuple[dt.timedelta, dt.timedelta],
) -> None:
    start, end = window
    trust = TrustStore(
        [trusted_key(issuer_key, valid_from=credential.issued_at + start, valid_until=credential.issued_at + end)]
    )
    reject(Verifier(trust), presentation, ErrorCode.KEY_NOT_VALID)


@pytest.mark.parametrize("edge", ["starts", "ends"])
def test_key_window_includes_its_edges(
    presentation: str, credential: Credential, trusted_key: Any, issuer_key: SigningKey, now: dt.datetime, edge: str
) -> None:
    issued = credential.issued_at
    window = (issued, issued + DAY) if edge == "starts" else (issued - DAY, issued)
    trust = TrustStore([trusted_key(issuer_key, valid_from=window[0], valid_until=window[1])])
    assert Verifier(trust).verify(presentation, now=now)


# --- step 8a: KEY_COMPROMISED, and retired keys ---------------------------------------------------


def test_key_compromised(
    presentation: str, reject: Any, trusted_key: Any, issuer_key: SigningKey, credential: Credential
) -> None:
    """Compromised since after issuance: the key's holder could have backdated ``issued_at``, so nothing counts."""
    since = credential.issued_at + HOUR
    trust = TrustStore([trusted_key(issuer_key, status=KeyStatus.COMPROMISED, status_since=since)])
    reject(Verifier(trust), presentation, ErrorCode.KEY_COMPROMISED)


def test_key_compromised_from_the_second_it_is_declared(
    presentation: str, reject: Any, trusted_key: Any, issuer_key: SigningKey, now: dt.datetime
) -> None:
    trust = TrustStore([trusted_key(issuer_key, status=KeyStatus.COMPROMISED, status_since=now)])
    reject(Verifier(trust), presentation, ErrorCode.KEY_COMPROMISED)
    trust = TrustStore([trusted_key(issuer_key, status=KeyStatus.COMPROMISED, status_since=now + SECOND)])
    assert Verifier(trust).verify(presentation, now=now)


def test_retired_key_keeps_what_it_signed_before_retirement(
    presentation: str, trusted_key: Any, issuer_key: SigningKey, credential: Credential, now: dt.datetime
) -> None:
    for since in (credential.issued_at, credential.issued_at + HOUR):
        trust = TrustStore([trusted_key(issuer_key, status=KeyStatus.RETIRED, status_since=since)])
        assert Verifier(trust).verify(presentation, now=now)


def test_retired_key_may_not_sign_after_retirement(
    presentation: str, reject: Any, trusted_key: Any, issuer_key: SigningKey, credential: Credential
) -> None:
    since = credential.issued_at - SECOND
    trust = TrustStore([trusted_key(issuer_key, status=KeyStatus.RETIRED, status_since=since)])
    reject(Verifier(trust), presentation, ErrorCode.KEY_NOT_VALID)


def test_order_type_not_allowed_before_key_compromised(
    presentation: str, reject: Any, trusted_key: Any, issuer_key: SigningKey, now: dt.datetime
) -> None:
    entry = trusted_key(issuer_key, types={"business-licence"}, status=KeyStatus.COMPROMISED, status_since=now - DAY)
    reject(Verifier(TrustStore([entry])), presentation, ErrorCode.TYPE_NOT_ALLOWED)


def test_order_key_compromised_before_key_not_valid(
    presentation: str, reject: Any, trusted_key: Any, issuer_key: SigningKey, credential: Credential
) -> None:
    entry = trusted_key(
        issuer_key,
        valid_from=credential.issued_at + SECOND,
        status=KeyStatus.COMPROMISED,
        status_since=credential.issued_at + HOUR,
    )
    reject(Verifier(TrustStore([entry])), presentation, ErrorCode.KEY_COMPROMISED)


# --- step 11: BAD_ISSUER_SIGNATURE ----------------------------------------------------------------


def test_bad_issuer_signature_for_a_changed_claim_value(verifier: Verifier, reject: Any, shapes: Shapes) -> None:
    # The holder changes their own licence number and signs the presentation with their own key.
    reject(verifier, shapes.with_value(5, "310101199912310099"), ErrorCode.BAD_ISSUER_SIGNATURE)


def test_bad_issuer_signature_for_an_upgraded_vehicle_class(verifier: Verifier, reject: Any, shapes: Shapes) -> None:
    reject(verifier, shapes.with_value(2, ["A1", "C1", "D"]), ErrorCode.BAD_ISSUER_SIGNATURE)


@pytest.mark.parametrize(
    ("index", "change"),
    [
        pytest.param(2, lambda v: v + 1, id="serial"),
        pytest.param(5, lambda v: v + 365 * 86_400, id="valid-until-extended"),
        pytest.param(3, lambda v: v - 1, id="issued-at"),
    ],
)
def test_bad_issuer_signature_for_a_changed_header(
    verifier: Verifier, reject: Any, shapes: Shapes, index: int, change: Callable[[int], int]
) -> None:
    reject(verifier, shapes.with_header(index, change(shapes.p[0][index])), ErrorCode.BAD_ISSUER_SIGNATURE)


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(None, id="removed"),
        pytest.param([3, 1235], id="other-index"),
        pytest.param([4, 1234], id="other-list"),
    ],
)
def test_bad_issuer_signature_when_the_status_reference_is_changed(
    issue_licence: Any,
    present_licence: Any,
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    reject: Any,
    status: Any,
) -> None:
    """A holder whose licence was revoked points the verifier at another status entry, or at none."""
    p = forge.decode(present_licence(issue_licence(status=StatusReference(3, 1234))))
    assert p[0][8] == [3, 1234]
    p[0][8] = status
    reject(verifier, forge.sign_holder(p, holder_key), ErrorCode.BAD_ISSUER_SIGNATURE)


def test_bad_issuer_signature_for_a_flipped_signature_byte(verifier: Verifier, reject: Any, shapes: Shapes) -> None:
    signature = bytearray(shapes.p[4])
    signature[10] ^= 0x01
    reject(verifier, shapes.with_element(4, bytes(signature)), ErrorCode.BAD_ISSUER_SIGNATURE)


def test_bad_issuer_signature_when_a_thief_rebinds_the_credential_to_their_key(
    verifier: Verifier, reject: Any, forge: Any, presentation: str, other_holder_key: SigningKey
) -> None:
    p = forge.decode(presentation)
    p[0][7] = b"\x01" + other_holder_key.public_key.raw
    reject(verifier, forge.sign_holder(p, other_holder_key), ErrorCode.BAD_ISSUER_SIGNATURE)


def test_bad_issuer_signature_when_a_holder_bound_credential_is_turned_into_bearer(
    trust: TrustStore, reject: Any, forge: Any, presentation: str
) -> None:
    p = forge.decode(presentation)[:5]
    p[0][7] = None
    reject(Verifier(trust, Policy(accept_bearer=True)), forge.text(p), ErrorCode.BAD_ISSUER_SIGNATURE)


class ImpostorKey(SigningKey):
    """Signs with its own private key but reports the trusted issuer's public key, so the kid matches.

    (A SigningKey subclass, so the issuer does not re-check its signatures.)
    """

    __slots__ = ("claimed",)

    @property
    def public_key(self) -> PublicKey:
        return self.claimed  # type: ignore[no-any-return]


def test_bad_issuer_signature_from_another_key_with_the_trusted_kid(
    verifier: Verifier,
    reject: Any,
    holder_key: SigningKey,
    issuer_key: SigningKey,
    licence_claims: Any,
    now: dt.datetime,
) -> None:
    forger = ImpostorKey(Algorithm.ES256, ec.generate_private_key(ec.SECP256R1()))
    forger.claimed = issuer_key.public_key
    cred = Issuer(forger).issue(
        "driving-licence",
        licence_claims,
        holder_key=holder_key.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=now - DAY,
        valid_until=now + DAY,
        now=now - DAY,
    )
    assert cred.kid == issuer_key.public_key.kid
    reject(verifier, present(cred, holder_key, now=now), ErrorCode.BAD_ISSUER_SIGNATURE)


# --- steps 12 and 13: NOT_YET_VALID and EXPIRED ---------------------------------------------------


def test_not_yet_valid_before_valid_from(
    issue_licence: Any, present_licence: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    cred = issue_licence(issued_at=now - DAY, valid_from=now + DAY)
    reject(verifier, present_licence(cred), ErrorCode.NOT_YET_VALID)


def test_valid_from_has_no_leeway(
    issue_licence: Any, present_licence: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    cred = issue_licence(issued_at=now - DAY, valid_from=now + SECOND)
    reject(verifier, present_licence(cred), ErrorCode.NOT_YET_VALID)
    cred = issue_licence(issued_at=now - DAY, valid_from=now)
    assert verifier.verify(present_licence(cred), now=now)


def test_not_yet_valid_when_issued_in_the_future_beyond_leeway(
    issue_licence: Any, present_licence: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    cred = issue_licence(issued_at=now + (LEEWAY + 1) * SECOND, valid_from=now - DAY)
    reject(verifier, present_licence(cred), ErrorCode.NOT_YET_VALID)


def test_issued_in_the_future_within_leeway_is_valid(
    issue_licence: Any, present_licence: Any, verifier: Verifier, now: dt.datetime
) -> None:
    cred = issue_licence(issued_at=now + LEEWAY * SECOND, valid_from=now - DAY)
    assert verifier.verify(present_licence(cred), now=now)


def test_expired(issue_licence: Any, present_licence: Any, verifier: Verifier, reject: Any, now: dt.datetime) -> None:
    cred = issue_licence(valid_until=now + HOUR)
    later = now + HOUR + SECOND
    reject(verifier, present_licence(cred, now=later), ErrorCode.EXPIRED, now=later)


def test_valid_at_the_last_second_of_validity(
    issue_licence: Any, present_licence: Any, verifier: Verifier, now: dt.datetime
) -> None:
    cred = issue_licence(valid_until=now + HOUR)
    assert verifier.verify(present_licence(cred, now=now + HOUR), now=now + HOUR)


# --- step 14a: bearer credentials -----------------------------------------------------------------


def test_bearer_refused_by_default(
    bearer_credential: Credential, present_licence: Any, verifier: Verifier, reject: Any
) -> None:
    reject(verifier, present_licence(bearer_credential), ErrorCode.BEARER_REFUSED)


def test_bearer_cannot_answer_a_nonce(
    bearer_credential: Credential, present_licence: Any, trust: TrustStore, reject: Any
) -> None:
    verifier = Verifier(trust, Policy(accept_bearer=True))
    reject(verifier, present_licence(bearer_credential), ErrorCode.NONCE_MISMATCH, nonce=b"12345678")


def test_bearer_cannot_name_an_audience(
    bearer_credential: Credential, present_licence: Any, trust: TrustStore, reject: Any
) -> None:
    verifier = Verifier(trust, Policy(accept_bearer=True, audience="counter-7"))
    reject(verifier, present_licence(bearer_credential), ErrorCode.AUDIENCE_MISMATCH)


# --- step 14b: MISSING_HOLDER_PROOF ---------------------------------------------------------------


def test_missing_holder_proof_for_the_credential_as_issued(
    credential: Credential, verifier: Verifier, reject: Any
) -> None:
    reject(verifier, _wire.text_from_payload(credential.encoded), ErrorCode.MISSING_HOLDER_PROOF)


def test_missing_holder_proof_when_the_proof_is_cut_off(
    present_licence: Any, forge: Any, verifier: Verifier, reject: Any
) -> None:
    p = forge.decode(present_licence(profile="driving-check"))
    reject(verifier, forge.text(p[:5]), ErrorCode.MISSING_HOLDER_PROOF)


def test_missing_holder_proof_even_when_bearer_is_accepted(
    credential: Credential, trust: TrustStore, reject: Any
) -> None:
    verifier = Verifier(trust, Policy(accept_bearer=True))
    reject(verifier, _wire.text_from_payload(credential.encoded), ErrorCode.MISSING_HOLDER_PROOF)


# --- step 16: BAD_HOLDER_SIGNATURE ----------------------------------------------------------------


def _unsigned_change(forge: Any, text: str, index: int, value: Any) -> str:
    p = forge.decode(text)
    p[index] = value
    return forge.text(p)


def test_bad_holder_signature_for_a_changed_presented_at(
    presentation: str, forge: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    # Someone who copied an old code re-dates it without the holder key.
    reject(verifier, _unsigned_change(forge, presentation, 5, unix(now) + 5), ErrorCode.BAD_HOLDER_SIGNATURE)


def test_bad_holder_signature_for_a_changed_lifetime(
    presentation: str, forge: Any, verifier: Verifier, reject: Any
) -> None:
    reject(verifier, _unsigned_change(forge, presentation, 6, 120), ErrorCode.BAD_HOLDER_SIGNATURE)


def test_bad_holder_signature_for_an_added_audience(
    presentation: str, forge: Any, trust: TrustStore, reject: Any
) -> None:
    text = _unsigned_change(forge, presentation, 7, [None, "counter-7"])
    reject(Verifier(trust, Policy(audience="counter-7")), text, ErrorCode.BAD_HOLDER_SIGNATURE)


def test_bad_holder_signature_for_a_changed_disclosure(
    present_licence: Any, forge: Any, verifier: Verifier, reject: Any
) -> None:
    # Presentations of the same credential from the same moment, one with fewer claims: its proof
    # does not carry over to the other disclosure.
    full = forge.decode(present_licence())
    narrow = forge.decode(present_licence(profile="driving-check"))
    reject(verifier, forge.text([*narrow[:8], full[8]]), ErrorCode.BAD_HOLDER_SIGNATURE)


def test_bad_holder_signature_by_another_holder_key(
    presentation: str, forge: Any, other_holder_key: SigningKey, verifier: Verifier, reject: Any
) -> None:
    reject(verifier, forge.sign_holder(forge.decode(presentation), other_holder_key), ErrorCode.BAD_HOLDER_SIGNATURE)


@pytest.mark.parametrize(
    "context",
    [pytest.param(b"", id="no-context"), pytest.param(_envelope.CREDENTIAL_CONTEXT, id="credential-context")],
)
def test_bad_holder_signature_without_the_presentation_context(
    presentation: str, forge: Any, holder_key: SigningKey, verifier: Verifier, reject: Any, context: bytes
) -> None:
    payload = _wire.payload_from_text(presentation)
    signature = holder_key.sign(context + payload[:-66])
    reject(verifier, forge.text(payload[:-64] + signature), ErrorCode.BAD_HOLDER_SIGNATURE)


def test_issuer_signature_is_not_accepted_as_a_holder_signature(
    issue_licence: Any, issuer_key: SigningKey, forge: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    """A credential bound to the issuer's own key: the issuer signature must not double as a holder proof."""
    cred = issue_licence(holder=issuer_key)
    p = forge.decode(present(cred, issuer_key, now=now))
    reject(verifier, forge.text([*p[:8], p[4]]), ErrorCode.BAD_HOLDER_SIGNATURE)


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(bytes(64), id="zero"),
        pytest.param(bytes(32) + (1).to_bytes(32, "big"), id="r-is-0"),
        pytest.param((1).to_bytes(32, "big") + P256_ORDER.to_bytes(32, "big"), id="s-is-n"),
        pytest.param(b"\xff" * 64, id="all-ones"),
    ],
)
def test_bad_holder_signature_for_out_of_range_ecdsa_values(
    presentation: str, forge: Any, verifier: Verifier, reject: Any, signature: bytes
) -> None:
    p = forge.decode(presentation)
    reject(verifier, forge.text([*p[:8], signature]), ErrorCode.BAD_HOLDER_SIGNATURE)


@pytest.mark.parametrize("holder_name", ["holder_key", "holder_key_ed25519"])
def test_bad_holder_signature_for_a_flipped_signature_byte(
    request: pytest.FixtureRequest,
    issue_licence: Any,
    forge: Any,
    verifier: Verifier,
    reject: Any,
    now: dt.datetime,
    holder_name: str,
) -> None:
    holder = request.getfixturevalue(holder_name)
    p = forge.decode(present(issue_licence(holder=holder), holder, now=now))
    signature = bytearray(p[8])
    signature[63] ^= 0x80
    reject(verifier, forge.text([*p[:8], bytes(signature)]), ErrorCode.BAD_HOLDER_SIGNATURE)


# --- step 17: LIFETIME_TOO_LONG -------------------------------------------------------------------


def test_lifetime_too_long(present_licence: Any, verifier: Verifier, reject: Any) -> None:
    error = reject(verifier, present_licence(lifetime=301), ErrorCode.LIFETIME_TOO_LONG)
    assert "301" in error.detail


def test_lifetime_at_the_policy_maximum_is_valid(present_licence: Any, verifier: Verifier, now: dt.datetime) -> None:
    assert verifier.verify(present_licence(lifetime=300), now=now).expires_at == now + 300 * SECOND


def test_lifetime_too_long_for_a_stricter_policy(
    present_licence: Any, trust: TrustStore, reject: Any, now: dt.datetime
) -> None:
    verifier = Verifier(trust, Policy(max_lifetime=30))
    reject(verifier, present_licence(lifetime=31), ErrorCode.LIFETIME_TOO_LONG)
    assert verifier.verify(present_licence(lifetime=30), now=now)


# --- step 18: PRESENTATION_FROM_FUTURE ------------------------------------------------------------


def test_presentation_from_the_future_names_the_clock_difference(
    present_licence: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    error = reject(verifier, present_licence(now=now + 100 * SECOND), ErrorCode.PRESENTATION_FROM_FUTURE)
    assert "100 s" in error.detail


def test_phone_clock_ahead_by_exactly_the_leeway_is_valid(
    present_licence: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    verdict = verifier.verify(present_licence(now=now + LEEWAY * SECOND), now=now)
    assert verdict.clock_offset_seconds == LEEWAY
    error = reject(verifier, present_licence(now=now + (LEEWAY + 1) * SECOND), ErrorCode.PRESENTATION_FROM_FUTURE)
    assert f"{LEEWAY + 1} s" in error.detail


def test_zero_leeway_refuses_a_phone_one_second_ahead(
    present_licence: Any, trust: TrustStore, reject: Any, now: dt.datetime
) -> None:
    verifier = Verifier(trust, Policy(clock_leeway=0))
    reject(verifier, present_licence(now=now + SECOND), ErrorCode.PRESENTATION_FROM_FUTURE)
    assert verifier.verify(present_licence(now=now), now=now)


# --- step 19: STALE_PRESENTATION ------------------------------------------------------------------


def test_stale_presentation_gives_the_age_of_the_code(
    present_licence: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    error = reject(verifier, present_licence(now=now - 200 * SECOND), ErrorCode.STALE_PRESENTATION)
    assert "200 s" in error.detail  # made 200 s before the verifier's clock
    assert f"{200 - LIFETIME} s" in error.detail  # expired 140 s ago


def test_stale_exactly_one_second_after_lifetime_plus_leeway(
    present_licence: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    made = now - (LIFETIME + LEEWAY) * SECOND
    assert verifier.verify(present_licence(now=made), now=now).clock_offset_seconds == -(LIFETIME + LEEWAY)
    reject(verifier, present_licence(now=made - SECOND), ErrorCode.STALE_PRESENTATION)


# --- step 20: NONCE_MISMATCH ----------------------------------------------------------------------


def test_nonce_mismatch_for_another_nonce(present_licence: Any, verifier: Verifier, reject: Any) -> None:
    reject(verifier, present_licence(nonce=b"nonce-AAAA"), ErrorCode.NONCE_MISMATCH, nonce=b"nonce-BBBB")


def test_nonce_mismatch_for_a_prefix_of_the_nonce(present_licence: Any, verifier: Verifier, reject: Any) -> None:
    reject(verifier, present_licence(nonce=b"nonce-AAAA"), ErrorCode.NONCE_MISMATCH, nonce=b"nonce-AAAA!")


def test_nonce_mismatch_when_the_asked_nonce_is_missing(present_licence: Any, verifier: Verifier, reject: Any) -> None:
    reject(verifier, present_licence(), ErrorCode.NONCE_MISMATCH, nonce=b"nonce-AAAA")


def test_nonce_mismatch_when_only_an_audience_is_bound(present_licence: Any, trust: TrustStore, reject: Any) -> None:
    verifier = Verifier(trust, Policy(audience="counter-7"))
    reject(verifier, present_licence(audience="counter-7"), ErrorCode.NONCE_MISMATCH, nonce=b"nonce-AAAA")


# --- step 21: AUDIENCE_MISMATCH -------------------------------------------------------------------


def test_audience_mismatch_for_another_audience(present_licence: Any, trust: TrustStore, reject: Any) -> None:
    reject(
        Verifier(trust, Policy(audience="counter-7")),
        present_licence(audience="counter-8"),
        ErrorCode.AUDIENCE_MISMATCH,
    )


def test_audience_mismatch_when_the_verifier_has_an_audience_and_the_code_none(
    present_licence: Any, trust: TrustStore, reject: Any
) -> None:
    reject(Verifier(trust, Policy(audience="counter-7")), present_licence(), ErrorCode.AUDIENCE_MISMATCH)


def test_audience_mismatch_when_the_code_has_an_audience_and_the_verifier_none(
    present_licence: Any, verifier: Verifier, reject: Any
) -> None:
    reject(verifier, present_licence(audience="counter-7"), ErrorCode.AUDIENCE_MISMATCH)


def test_audience_comparison_is_exact(present_licence: Any, trust: TrustStore, reject: Any) -> None:
    reject(
        Verifier(trust, Policy(audience="counter-7")),
        present_licence(audience="Counter-7"),
        ErrorCode.AUDIENCE_MISMATCH,
    )


# --- step 22: MISSING_CLAIMS ----------------------------------------------------------------------


def test_missing_claims(present_licence: Any, trust: TrustStore, reject: Any, now: dt.datetime) -> None:
    verifier = Verifier(trust, Policy(required_claims=("family_name", "birth_date")))
    error = reject(verifier, present_licence(profile="driving-check"), ErrorCode.MISSING_CLAIMS)
    assert "birth_date" in error.detail and "family_name" not in error.detail
    assert verifier.verify(present_licence(disclose=["family_name", "birth_date"]), now=now)


# --- step 23: REPLAYED ----------------------------------------------------------------------------


def _resigned_copy(presentation: str, holder: SigningKey, forge: Any) -> str:
    """The same signed bytes with a fresh ECDSA signature (random k: different signature bytes)."""
    payload = _wire.payload_from_text(presentation)
    signature = holder.sign(_envelope.PRESENTATION_CONTEXT + payload[:-66])
    assert signature != payload[-64:]
    return forge.text(payload[:-64] + signature)


def _malleated_copy(presentation: str, forge: Any) -> str:
    """The same signed bytes with the ECDSA signature (r, s) replaced by (r, n - s), also valid."""
    payload = _wire.payload_from_text(presentation)
    r, s = payload[-64:-32], int.from_bytes(payload[-32:], "big")
    return forge.text(payload[:-64] + r + (P256_ORDER - s).to_bytes(32, "big"))


def test_replayed_same_text_twice(presentation: str, trust: TrustStore, reject: Any, now: dt.datetime) -> None:
    verifier = Verifier(trust, replay_cache=MemoryReplayCache())
    assert verifier.verify(presentation, now=now)
    reject(verifier, presentation, ErrorCode.REPLAYED, now=now + 5 * SECOND)


@pytest.mark.parametrize("copy", ["resigned", "malleated"])
def test_replayed_copy_with_another_signature(
    presentation: str, holder_key: SigningKey, forge: Any, trust: TrustStore, reject: Any, now: dt.datetime, copy: str
) -> None:
    other = (
        _resigned_copy(presentation, holder_key, forge) if copy == "resigned" else _malleated_copy(presentation, forge)
    )
    assert other != presentation
    assert Verifier(trust).verify(other, now=now)  # without a replay cache, both verify
    assert Verifier(trust).verify(presentation, now=now)
    verifier = Verifier(trust, replay_cache=MemoryReplayCache())
    assert verifier.verify(presentation, now=now)
    reject(verifier, other, ErrorCode.REPLAYED)
    verifier = Verifier(trust, replay_cache=MemoryReplayCache())
    assert verifier.verify(other, now=now)
    reject(verifier, presentation, ErrorCode.REPLAYED)


def test_replayed_until_the_code_is_stale(presentation: str, trust: TrustStore, reject: Any, now: dt.datetime) -> None:
    verifier = Verifier(trust, replay_cache=MemoryReplayCache())
    assert verifier.verify(presentation, now=now)
    last = now + (LIFETIME + LEEWAY) * SECOND
    reject(verifier, presentation, ErrorCode.REPLAYED, now=last)
    reject(verifier, presentation, ErrorCode.STALE_PRESENTATION, now=last + SECOND)


def test_a_fresh_presentation_of_the_same_credential_is_not_a_replay(
    present_licence: Any, trust: TrustStore, now: dt.datetime
) -> None:
    verifier = Verifier(trust, replay_cache=MemoryReplayCache())
    assert verifier.verify(present_licence(), now=now)
    assert verifier.verify(present_licence(now=now + SECOND), now=now + SECOND)
    assert verifier.verify(present_licence(profile="name"), now=now + SECOND)


def test_rejected_presentations_are_not_remembered(
    present_licence: Any, trust: TrustStore, reject: Any, now: dt.datetime
) -> None:
    verifier = Verifier(trust, Policy(audience="counter-7"), replay_cache=MemoryReplayCache())
    text = present_licence(audience="counter-7")
    reject(verifier, text, ErrorCode.NONCE_MISMATCH, nonce=b"nonce-AAAA")
    assert verifier.verify(text, now=now)


def test_bearer_codes_are_not_replay_checked(
    bearer_credential: Credential, trust: TrustStore, now: dt.datetime
) -> None:
    verifier = Verifier(trust, Policy(accept_bearer=True), replay_cache=MemoryReplayCache())
    text = present(bearer_credential, None, now=now)
    assert verifier.verify(text, now=now)
    assert verifier.verify(text, now=now)


# --- NO_QR_CODE -----------------------------------------------------------------------------------


def test_no_qr_code_in_a_blank_image(verifier: Verifier, now: dt.datetime) -> None:
    from PIL import Image

    from econsent import qr

    buffer = io.BytesIO()
    Image.new("L", (120, 120), 255).save(buffer, format="PNG")
    with pytest.raises(VerificationError) as caught:
        qr.verify_image(verifier, buffer.getvalue(), now=now)
    assert caught.value.code is ErrorCode.NO_QR_CODE


# --- the order of the checks (the first failing step wins) ----------------------------------------


def test_order_unknown_type_before_unknown_key(shapes: Shapes, reject: Any) -> None:
    reject(Verifier(TrustStore()), shapes.with_header(0, 999), ErrorCode.UNKNOWN_TYPE)


def test_order_unknown_key_before_bad_issuer_signature(shapes: Shapes, reject: Any) -> None:
    reject(Verifier(TrustStore()), shapes.with_value(5, "310101199912310099"), ErrorCode.UNKNOWN_KEY)


def test_order_type_not_allowed_before_key_not_valid(
    presentation: str, credential: Credential, trusted_key: Any, issuer_key: SigningKey, reject: Any
) -> None:
    entry = trusted_key(issuer_key, types={"business-licence"}, valid_from=credential.issued_at + SECOND)
    reject(Verifier(TrustStore([entry])), presentation, ErrorCode.TYPE_NOT_ALLOWED)


def test_order_malformed_disclosure_before_bad_issuer_signature(
    shapes: Shapes, verifier: Verifier, reject: Any
) -> None:
    p = shapes.p
    p[1][5] = "310101199912310099"  # would fail the issuer signature ...
    p[1].append("extra")  # ... but the number of values is wrong first
    reject(verifier, shapes.signed(p), ErrorCode.MALFORMED)


def test_order_bad_issuer_signature_before_expired(
    issue_licence: Any,
    present_licence: Any,
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    reject: Any,
    now: dt.datetime,
) -> None:
    cred = issue_licence(valid_until=now - HOUR, issued_at=now - DAY)
    p = forge.decode(present_licence(cred))
    p[1][5] = "310101199912310099"
    reject(verifier, forge.sign_holder(p, holder_key), ErrorCode.BAD_ISSUER_SIGNATURE)


def test_order_expired_before_missing_holder_proof(
    issue_licence: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    cred = issue_licence(valid_until=now - HOUR, issued_at=now - DAY)
    reject(verifier, _wire.text_from_payload(cred.encoded), ErrorCode.EXPIRED)


def test_order_expired_before_bad_holder_signature(
    issue_licence: Any, present_licence: Any, forge: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    cred = issue_licence(valid_until=now - HOUR, issued_at=now - DAY)
    reject(verifier, _unsigned_change(forge, present_licence(cred), 6, 120), ErrorCode.EXPIRED)


def test_order_bad_holder_signature_before_lifetime_too_long(
    presentation: str, forge: Any, verifier: Verifier, reject: Any
) -> None:
    reject(verifier, _unsigned_change(forge, presentation, 6, 1000), ErrorCode.BAD_HOLDER_SIGNATURE)


def test_order_lifetime_too_long_before_stale(
    present_licence: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    reject(verifier, present_licence(now=now - DAY, lifetime=301), ErrorCode.LIFETIME_TOO_LONG)


def test_order_stale_before_nonce_mismatch(
    present_licence: Any, verifier: Verifier, reject: Any, now: dt.datetime
) -> None:
    reject(verifier, present_licence(now=now - HOUR), ErrorCode.STALE_PRESENTATION, nonce=b"nonce-AAAA")


def test_order_nonce_before_audience(present_licence: Any, trust: TrustStore, reject: Any) -> None:
    verifier = Verifier(trust, Policy(audience="counter-7"))
    reject(verifier, present_licence(audience="counter-8"), ErrorCode.NONCE_MISMATCH, nonce=b"nonce-AAAA")


def test_order_audience_before_missing_claims(present_licence: Any, trust: TrustStore, reject: Any) -> None:
    verifier = Verifier(trust, Policy(audience="counter-7", required_claims=("birth_date",)))
    reject(verifier, present_licence(profile="name", audience="counter-8"), ErrorCode.AUDIENCE_MISMATCH)


def test_order_missing_claims_before_replayed(
    present_licence: Any, trust: TrustStore, reject: Any, now: dt.datetime
) -> None:
    text = present_licence(profile="name")
    cache = MemoryReplayCache()
    assert Verifier(trust, replay_cache=cache).verify(text, now=now)
    verifier = Verifier(trust, Policy(required_claims=("birth_date",)), replay_cache=cache)
    reject(verifier, text, ErrorCode.MISSING_CLAIMS)


# --- times at the edges of the wire range ---------------------------------------------------------


@pytest.mark.parametrize(("issued_at", "code"), [(253_402_300_799, "KEY_NOT_VALID"), (253_402_300_800, "MALFORMED")])
def test_issued_at_up_to_year_9999_is_judged_and_beyond_it_is_malformed(
    shapes: Shapes, verifier: Verifier, reject: Any, issued_at: int, code: str
) -> None:
    """issued_at is unsigned input when the key check runs (step 8 precedes the issuer signature): the last
    second of 9999 is a time like any other (outside the key window), one more is off the wire's range."""
    reject(verifier, shapes.with_header(3, issued_at), ErrorCode(code))


@pytest.mark.parametrize("valid_until", [253_402_300_799, 253_402_300_800, 2**40])
def test_issuer_signed_validity_far_in_the_future_never_crashes_the_verifier(
    forge: Any,
    credential: Credential,
    issuer_key: SigningKey,
    holder_key: SigningKey,
    verifier: Verifier,
    now: dt.datetime,
    valid_until: int,
) -> None:
    """SPEC 3: times end at 9999-12-31. A verifier returns a verdict or raises VerificationError for any value."""
    text = _issuer_signed(forge, credential, issuer_key, holder_key, now, _set_header(5, valid_until))
    try:
        verdict = verifier.verify(text, now=now)
    except VerificationError:
        return
    assert verdict.claims


@pytest.mark.parametrize(
    ("issued_at", "valid_from", "valid_until"),
    [
        pytest.param(dt.datetime(1969, 12, 31, tzinfo=dt.UTC), None, None, id="issued-before-1970"),
        pytest.param(None, -1, None, id="valid-from-negative"),
        pytest.param(None, None, 2**40 + 1, id="valid-until-beyond-2**40"),
        pytest.param(None, None, 2**38, id="valid-until-beyond-year-9999"),
    ],
)
def test_issuer_refuses_times_it_cannot_put_on_the_wire(
    issue_licence: Any,
    present_licence: Any,
    verifier: Verifier,
    now: dt.datetime,
    issued_at: Any,
    valid_from: Any,
    valid_until: Any,
) -> None:
    """The issuer either raises IssueError or makes a credential a verifier accepts; never a foreign
    exception, never a credential that no wallet can present."""
    try:
        cred = issue_licence(issued_at=issued_at, valid_from=valid_from, valid_until=valid_until)
    except IssueError:
        return
    assert verifier.verify(present_licence(cred), now=now)


# --- the error contract ---------------------------------------------------------------------------


def test_every_error_code_has_a_sentence() -> None:
    for code in ErrorCode:
        assert code.sentence.strip() and code.sentence.endswith(".")
        error = VerificationError(code, "detail")
        assert error.code is code and error.sentence == code.sentence
        assert str(error).startswith(code.value)


@pytest.mark.parametrize(
    ("index", "value", "code"),
    [
        pytest.param(5, "310101198503140099", ErrorCode.BAD_ISSUER_SIGNATURE, id="licence-number-changed"),
        pytest.param(5, b"310101198503140012", ErrorCode.MALFORMED, id="licence-number-as-bin"),
        pytest.param(8, "上海市黄浦区豫园街道人民路一二三弄四号五零二室", ErrorCode.MALFORMED, id="address-as-str"),
        pytest.param(
            8,
            encode_text("上海市黄浦区豫园街道人民路一二三弄四号五零二室") + b"\xff",  # type: ignore[operator]
            ErrorCode.MALFORMED,
            id="address-invalid-gb18030",
        ),
        pytest.param(4, "1985-03-14", ErrorCode.MALFORMED, id="birth-date-as-text"),
    ],
)
def test_errors_never_contain_personal_data(
    shapes: Shapes, verifier: Verifier, reject: Any, index: int, value: Any, code: ErrorCode
) -> None:
    reject(verifier, shapes.with_value(index, value), code)  # ``reject`` checks the error text for personal data


class LeakyVerifier:
    """Raises an error whose text shows personal data: what ``reject`` must catch."""

    def __init__(self, detail: str) -> None:
        self.detail = detail

    def verify(self, text: str, *, now: Any, nonce: bytes | None = None) -> None:
        raise VerificationError(ErrorCode.MALFORMED, self.detail)


@pytest.mark.parametrize(
    "detail",
    ["licence 310101198503140012", "at 上海市黄浦区豫园街道人民路一二三弄四号五零二室", "born 1985-03-14", "name 张伟"],
)
def test_reject_fixture_catches_personal_data_in_errors(reject: Any, detail: str) -> None:
    with pytest.raises(AssertionError, match="personal data"):
        reject(LeakyVerifier(detail), "EC1:1", ErrorCode.MALFORMED)  # type: ignore[arg-type]


def test_verify_rejects_non_text_without_a_foreign_exception(verifier: Verifier, now: dt.datetime) -> None:
    with pytest.raises(VerificationError):
        verifier.verify(b"EC1:1234", now=now)
