"""The shortcuts of the verify and issue hot paths (issue 14) compute exactly what the plain definitions compute.

Each shortcut is checked against the definition it replaces, over random and edge-case inputs: the usual
header's one-expression check against the field-by-field checks (same result, same first error), the
code-body digit check against the SPEC's grammar, CPython's own SHA-2 against hashlib, the trust store's
Unix-second bounds against the datetime definitions, the verdict filled slot by slot against ``Verdict(...)``,
the per-shape disclosure view and the type's claim encoders against the per-claim definitions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib
import random
import re
from types import ModuleType
from typing import Any

import pytest
from testkeys import ed25519_test_key, es256_test_key

from econsent import ATTESTED_OUT_OF_BAND, Issuer, TrustStore, _disclosure, _wire, present
from econsent.errors import ErrorCode, SchemaError, VerificationError
from econsent.keys import Algorithm, HashSuite
from econsent.model import IssuerName, StatusReference, Verdict, from_unix, presentation_verdict, to_unix
from econsent.schema import (
    DRIVING_LICENCE,
    MAX_TEXT_BYTES,
    ClaimKind,
    _compact_text,
    _text_from_wire,
    _text_to_wire,
    decode_text,
    encode_text,
)
from econsent.trust import KeyStatus, TrustedKey, TrustListInfo
from econsent.verify import Policy, Verifier

RNG_SEED = 14


# --- CPython's own SHA-2 for the tree ---------------------------------------------------------------------


def test_the_tree_hashes_are_sha256_and_sha512_whichever_module_provides_them() -> None:
    rng = random.Random(RNG_SEED)
    tree_hash, expand = _disclosure._SUITES[HashSuite.SHA2]
    for size in [*range(0, 200), 1000, 5000]:
        data = rng.randbytes(size)
        assert tree_hash(data).digest() == hashlib.sha256(data).digest()
        assert expand(data).digest() == hashlib.sha512(data).digest()


@pytest.mark.parametrize("missing", [{"_sha2"}, {"_sha2", "_sha256", "_sha512"}])
def test_a_python_without_its_own_sha2_modules_hashes_the_tree_with_hashlib(
    monkeypatch: pytest.MonkeyPatch, missing: set[str]
) -> None:
    real_import = importlib.import_module

    def without(name: str, package: str | None = None) -> ModuleType:
        if name in missing:
            raise ImportError(f"no module named {name!r} in this build")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", without)
    sha256, sha512 = _disclosure._cpython_sha2()
    if missing >= {"_sha256", "_sha512"}:
        assert (sha256, sha512) == (hashlib.sha256, hashlib.sha512)
    data = b"econsent/v1 leaf\x00" + bytes(range(40))
    assert sha256(data).digest() == hashlib.sha256(data).digest()
    assert sha512(data).digest() == hashlib.sha512(data).digest()


# --- the usual header in one expression -------------------------------------------------------------------


def _random_field(rng: random.Random, good: Any) -> Any:
    """Mostly the good value; otherwise a value of a wrong type or just outside a range."""
    roll = rng.random()
    if roll < 0.75:
        return good
    return rng.choice(
        [
            True,
            False,
            None,
            -1,
            0,
            1,
            0xFFFF,
            0x10000,
            2**64 - 1,
            2**64,
            _wire.MAX_TIME,
            _wire.MAX_TIME + 1,
            b"",
            bytes(7),
            bytes(8),
            bytes(9),
            "text",
            [1, 2],
            [],
            [0, 0],
            [0xFFFF, 2**32 - 1],
            [0x10000, 0],
            [0, 2**32],
            [True, 0],
            [0, None],
            [1, 2, 3],
            b"\x01" + bytes(33),
            b"\x01" + bytes(32),
            b"\x02" + bytes(32),
            b"\x03" + bytes(33),
            b"\x04" + bytes(33),
            b"\x01",
            1.5,
        ]
    )


def _outcome(check: Any, value: Any) -> Any:
    try:
        return check(value)
    except VerificationError as exc:
        return (exc.code, exc.detail)


def test_the_usual_header_and_the_field_by_field_checks_agree_on_every_header() -> None:
    rng = random.Random(RNG_SEED)
    good = [1, bytes(8), 7, 1_700_000_000, 1_700_000_000, 1_800_000_000, 0b111, b"\x01" + bytes(33), None]
    fast = [0, 0]
    for _ in range(20_000):
        good[8] = rng.choice([None, [3, 1_000]])  # the status reference: none, or one in range
        header = [_random_field(rng, value) for value in good]
        if rng.random() < 0.05:
            header = header[: rng.randrange(9)] if rng.random() < 0.5 else [*header, None]
        if rng.random() < 0.2:  # order the times at random, equal ones included
            header[3:6] = sorted(rng.choice([0, 5, _wire.MAX_TIME]) for _ in range(3))[:: rng.choice([1, -1])]
        expected = _outcome(_wire._checked_header, header)
        assert _outcome(_wire._header, header) == expected, header
        if isinstance(expected, _wire.WireHeader) and expected.holder_key is not None:
            fast[expected.status is None] += 1
    assert min(fast) > 500  # the one-expression path was taken, with and without a status, not only the fallback


def test_the_usual_node_map_and_the_key_by_key_checks_agree_on_every_map() -> None:
    rng = random.Random(RNG_SEED)
    keys: list[Any] = [0, 1, 2, 5, 21, 64, 127, 128, -1, True, "1", None, 2**64]
    entries = [bytes(16), bytes(15), bytes(17), "x" * 16, None, [1]]
    accepted = 0
    for _ in range(20_000):
        chosen: list[Any] = rng.sample(keys, rng.randrange(0, 5))
        if rng.random() < 0.7:
            chosen = sorted(key for key in chosen if type(key) is int) or chosen
        node_map = {key: bytes(16) if rng.random() < 0.85 else rng.choice(entries) for key in chosen}
        value: Any = node_map if rng.random() < 0.97 else rng.choice([[], None, list(node_map)])
        expected = _outcome(lambda v: _wire._checked_node_map(v, "seeds"), value)
        assert _outcome(lambda v: _wire._node_map(v, "seeds"), value) == expected, value
        accepted += isinstance(expected, dict) and len(expected) > 1
    assert accepted > 500


# --- the code body: ASCII digits, no leading zero -------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "",
        "0",
        "01",
        "+1",
        "-1",
        " 1",
        "1 ",
        "1\n",
        "1_0",
        "1e3",
        "12a",
        "\u0661\u0662",
        "\uff11\uff12",
        "\u00b2",
        "1\u0660",
        "0x1",
    ],
)
def test_a_code_body_that_is_not_plain_digits_is_malformed(body: str) -> None:
    with pytest.raises(VerificationError) as raised:
        _wire.payload_from_text("EC1:" + body)
    assert raised.value.code is ErrorCode.MALFORMED
    assert "decimal digits" in raised.value.detail


def test_code_bodies_are_accepted_exactly_when_they_are_digits_without_a_leading_zero() -> None:
    rng = random.Random(RNG_SEED)
    grammar = re.compile("[1-9][0-9]*")
    alphabet = "0123456789" * 6 + " +-_a\u0661\uff12\n"  # Arabic-Indic and fullwidth digits among them
    for _ in range(5000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        try:
            _wire.payload_from_text("EC1:" + body)
            accepted = True
        except VerificationError as exc:
            accepted = "decimal digits" not in exc.detail  # refused later, for the sentinel byte
        assert accepted == bool(grammar.fullmatch(body)), body


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("EC01:1", ErrorCode.UNSUPPORTED_VERSION),
        ("EC2:1", ErrorCode.UNSUPPORTED_VERSION),
        ("EC12:1", ErrorCode.UNSUPPORTED_VERSION),
        ("EC1", ErrorCode.MALFORMED),
        ("ec1:1", ErrorCode.MALFORMED),
        ("EC:1", ErrorCode.MALFORMED),
        ("HC1:1", ErrorCode.MALFORMED),
    ],
)
def test_a_prefix_other_than_ec1_keeps_its_code(text: str, code: ErrorCode) -> None:
    with pytest.raises(VerificationError) as raised:
        _wire.payload_from_text(text)
    assert raised.value.code is code


# --- trusted keys: bounds in Unix seconds ------------------------------------------------------------------


def test_trusted_key_bounds_in_unix_seconds_follow_the_datetime_definitions() -> None:
    rng = random.Random(RNG_SEED)
    public_key = es256_test_key("issuer").public_key
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    source = TrustListInfo("shanghai", 1, base, base + dt.timedelta(days=1), bytes(8), bytes(32))
    for _ in range(300):
        start = base + dt.timedelta(seconds=rng.randrange(-10_000, 10_000))
        end = start + dt.timedelta(seconds=rng.randrange(1, 20_000))
        status = rng.choice(list(KeyStatus))
        since = None if status is KeyStatus.ACTIVE else start + dt.timedelta(seconds=rng.randrange(-5_000, 25_000))
        key = TrustedKey(public_key, IssuerName("测试"), frozenset({"driving-licence"}), start, end, status, since)
        for held in (key, dataclasses.replace(key, source=source)):
            for moment in {*(rng.randrange(-20_000, 40_000) for _ in range(20)), 0, -1, 1}:
                at = base + dt.timedelta(seconds=moment)
                window_end = end if since is None else min(end, since)
                assert held.signs_at(int(at.timestamp())) == (start <= at <= window_end)
                compromised = status is KeyStatus.COMPROMISED and since is not None and at >= since
                assert held.compromised_at(int(at.timestamp())) == compromised
                for edge in (start, end, since):
                    if edge is not None:
                        seconds = int(edge.timestamp())
                        assert held.signs_at(seconds) == (start <= edge <= window_end)


# --- time and the verdict ---------------------------------------------------------------------------------


def test_from_unix_is_fromtimestamp_in_utc() -> None:
    rng = random.Random(RNG_SEED)
    moments = [0, 1, -1, 86_399, 86_400, 951_782_400, _wire.MAX_TIME, -62_135_596_800]
    moments += [rng.randrange(-62_135_596_800, _wire.MAX_TIME) for _ in range(5000)]
    for seconds in moments:
        expected = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        got = from_unix(seconds)
        assert (got, got.tzinfo, repr(got), got.isoformat()) == (expected, dt.UTC, repr(expected), expected.isoformat())


@pytest.mark.parametrize("seconds", [_wire.MAX_TIME + 1, -62_135_596_801, 10**20, -(10**20)])
def test_from_unix_out_of_range_is_a_value_error_as_fromtimestamp_gives(seconds: int) -> None:
    with pytest.raises(ValueError):
        from_unix(seconds)


def test_the_verdict_filled_slot_by_slot_is_the_verdict_of_the_same_fields() -> None:
    claims = {"family_name": "张", "vehicle_classes": ("C1", "D"), "birth_date": dt.date(1985, 3, 14)}
    moment = from_unix(1_795_000_000)
    fields: dict[str, Any] = {
        "credential_type": "driving-licence",
        "claims": claims,
        "withheld": ("address",),
        "issuer": IssuerName("测试签发机关", "Test issuer"),
        "kid": "40148cd7f9697b83",
        "algorithm": "ES256",
        "serial": 31_000_123,
        "issued_at": moment,
        "valid_from": moment,
        "valid_until": from_unix(1_900_000_000),
        "holder_bound": True,
        "holder_algorithm": "ES256",
        "presented_at": moment,
        "expires_at": from_unix(1_795_000_060),
        "clock_offset_seconds": -3,
        "nonce": b"n-1234567",
        "audience": "counter-7",
        "status": StatusReference(0, 123_457),
        "trust_list": "shanghai#1",
        "warnings": ("a warning",),
    }
    made = presentation_verdict(**fields)
    expected = Verdict(**fields)
    assert made == expected
    assert made.to_json() == expected.to_json()
    assert repr(made) == repr(expected)
    assert made.format == "econsent/1" and made.document is None
    claims["family_name"] = "李"  # the verdict holds a read-only copy
    assert made.claims["family_name"] == "张"
    with pytest.raises(TypeError):
        made.claims["family_name"] = "李"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.serial = 1  # type: ignore[misc]


# --- claims: per-shape disclosure view, per-type encoders, compact text -----------------------------------


def _wire_value(rng: random.Random, kind: ClaimKind) -> Any:
    """A wire value for a claim of ``kind``: usually well formed, sometimes over a limit or of another kind."""
    if kind.is_list:
        return [_wire_value(rng, kind.item_kind) for _ in range(rng.randrange(4))]
    if kind is ClaimKind.TEXT:
        text = rng.choice(["Li", "张三", "上海市黄浦区", "x" * 513, "é", "\ue000"])
        return encode_text(text) if rng.random() < 0.7 else text
    if kind is ClaimKind.BYTES:
        return rng.randbytes(rng.choice([0, 3, 256, 257]))
    choices: dict[ClaimKind, list[Any]] = {
        ClaimKind.INT: [0, -1, 2**63, 7],
        ClaimKind.BOOL: [True, False, 1],
        ClaimKind.DATE: [0, 20_000, -719_163, 10**9, True],
    }
    return rng.choice(choices[kind])


def test_the_disclosure_view_of_a_shape_decodes_as_the_claims_one_by_one() -> None:
    rng = random.Random(RNG_SEED)
    count = len(DRIVING_LICENCE.claims)
    for _ in range(3000):
        present = rng.getrandbits(count) or 1
        disclosed = present & rng.getrandbits(count)
        indices = _disclosure.bits(disclosed)
        values = [_wire_value(rng, DRIVING_LICENCE.claims[i].kind) for i in indices]
        withheld = tuple(DRIVING_LICENCE.claims[i].name for i in _disclosure.bits(present & ~disclosed))
        try:
            expected: Any = (DRIVING_LICENCE.claims_from_wire(indices, values), withheld)
        except SchemaError as exc:
            expected = exc.detail
        try:
            got: Any = DRIVING_LICENCE.decode_disclosed(present, disclosed, values)
        except SchemaError as exc:
            got = exc.detail
        assert got == expected
    assert len(DRIVING_LICENCE._shapes) <= 256


def test_the_types_claim_encoders_check_each_claim_as_its_spec_does() -> None:
    rng = random.Random(RNG_SEED)
    python_values: dict[ClaimKind, list[Any]] = {
        ClaimKind.TEXT: ["Li", "张三", "x" * 512, "x" * 513, "张" * 256, "张" * 257, "\ud800", 5, b"x"],
        ClaimKind.TEXT_LIST: [["C1", "D"], ("C1",), ["x"] * 33, "C1", [1]],
        ClaimKind.DATE: [dt.date(1985, 3, 14), dt.datetime(2020, 1, 1), "1985-03-14"],
        ClaimKind.BOOL: [True, 1, None],
        ClaimKind.BYTES: [b"", bytearray(b"ab"), b"x" * 257, "ab"],
    }
    for _ in range(2000):
        claims = {}
        for spec in DRIVING_LICENCE.claims:
            if rng.random() < 0.6:
                claims[spec.name] = rng.choice(python_values.get(spec.kind, [True]))
        expected_wire: dict[int, Any] = {}
        expected_checked: dict[str, Any] = {}
        try:
            for index, spec in enumerate(DRIVING_LICENCE.claims):
                if spec.name in claims:
                    expected_wire[index], expected_checked[spec.name] = spec.to_wire(claims[spec.name])
            expected: Any = (expected_wire, expected_checked)
        except SchemaError as exc:
            expected = exc.detail
        try:
            got: Any = DRIVING_LICENCE.claims_to_wire(claims)
        except SchemaError as exc:
            got = exc.detail
        assert got == expected
        if not isinstance(got, str):
            assert list(got[0]) == sorted(got[0])  # ascending by claim index, as the tree and the wire need


def _text_reference(wire: object) -> str:
    """The definition: decode_text, then the byte limit on the bytes sent."""
    text = decode_text(wire)
    sent = len(wire) if isinstance(wire, bytes) else len(text.encode("utf-8"))
    if sent > MAX_TEXT_BYTES:
        raise SchemaError(f"text is longer than {MAX_TEXT_BYTES} bytes")
    return text


def test_wire_text_shortcuts_read_every_text_as_the_definition_does() -> None:
    rng = random.Random(RNG_SEED)
    samples: list[object] = ["", "Li", "x" * 512, "x" * 513, "张三", "é", "\ue000", 5, None, ["x"]]
    for _ in range(5000):
        text = "".join(rng.choice("ab张三上海·é\ue000\u1e3f𠀀") for _ in range(rng.randrange(0, 300)))
        samples += [text, encode_text(text), text.encode("gb18030"), rng.randbytes(rng.randrange(0, 20))]
    for wire in samples:
        outcomes: list[object] = []
        for read in (_text_reference, _text_from_wire):
            try:
                outcomes.append(read(wire))
            except SchemaError as exc:
                outcomes.append(("refused", exc.detail))
        assert outcomes[0] == outcomes[1], wire
        if isinstance(wire, bytes) and not isinstance(outcomes[0], tuple):
            assert _compact_text(wire) == outcomes[0]


def test_an_ascii_claim_text_is_sent_as_it_is_up_to_the_byte_limit() -> None:
    for size in (0, 1, 511, 512):
        assert _text_to_wire("a" * size) == ("a" * size, "a" * size)
    for size in (513, 1025, 5000):
        with pytest.raises(SchemaError, match="is longer than 512 bytes"):
            _text_to_wire("a" * size)


# --- the policy's algorithms, looked up without hashing enum members --------------------------------------


def test_the_policys_algorithms_still_decide() -> None:
    now = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
    issuer_key, holder = es256_test_key("issuer"), ed25519_test_key("holder")
    trust = TrustStore(
        [
            TrustedKey(
                issuer_key.public_key,
                IssuerName("测试"),
                frozenset({"driving-licence"}),
                now - dt.timedelta(days=1),
                now + dt.timedelta(days=1),
            )
        ]
    )
    credential = Issuer(issuer_key).issue(
        "driving-licence",
        {"family_name": "张"},
        holder_key=holder.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=now - dt.timedelta(hours=1),
        valid_until=now + dt.timedelta(hours=1),
        now=now,
    )
    code = present(credential, holder, now=now)
    assert Verifier(trust).verify(code, now=now).holder_algorithm == "Ed25519"
    for policy, detail in (
        (Policy(holder_algorithms=frozenset({Algorithm.ES256})), "holder key is Ed25519"),
        (Policy(issuer_algorithms=frozenset({Algorithm.ED25519})), "is ES256"),
    ):
        with pytest.raises(VerificationError) as raised:
            Verifier(trust, policy).verify(code, now=now)
        assert raised.value.code is ErrorCode.ALGORITHM_NOT_ALLOWED
        assert detail in raised.value.detail


# --- issue: the caller's datetimes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        dt.datetime.fromisoformat("2026-01-01T00:00:00Z"),
        dt.datetime(2026, 1, 1, 0, 0, 0, 999_999, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC, fold=1),
        1_767_225_600,
    ],
)
def test_a_credential_holds_utc_datetimes_of_whole_seconds_whatever_times_the_issuer_gave(moment: Any) -> None:
    issuer_key, holder = es256_test_key("issuer"), es256_test_key("holder")
    credential = Issuer(issuer_key).issue(
        "driving-licence",
        {"family_name": "张"},
        holder_key=holder.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=moment,
        valid_until=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        now=moment,
    )
    expected = from_unix(to_unix(moment))
    for held in (credential.issued_at, credential.valid_from):
        assert (held, held.tzinfo, held.fold, repr(held)) == (expected, dt.UTC, 0, repr(expected))
    if isinstance(moment, dt.datetime):
        assert to_unix(moment) == int(moment.timestamp())
