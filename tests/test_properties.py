"""Hypothesis properties, derandomized (the same examples every run):

1. every single-character change to a valid code is rejected with VerificationError;
2. arbitrary input (text, digits, bytes, msgpack structures, any value in any field of a valid code,
   re-signed by the holder) gives a verdict or a VerificationError, never another exception;
3. random disclosures verify and show exactly the chosen claims;
4. random claim values of every kind round-trip issue -> present -> verify exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from econsent import (
    BUILTIN_TYPES,
    Credential,
    ErrorCode,
    IssueError,
    SigningKey,
    TrustStore,
    VerificationError,
    Verifier,
    _wire,
    present,
)
from econsent.schema import DRIVING_LICENCE

pytestmark = pytest.mark.slow  # Hypothesis properties over the whole format

DIGITS = "0123456789"
NONCE = b"nonce-0123"


def examples(count: int) -> settings:
    return settings(
        derandomize=True,
        database=None,
        max_examples=count,
        deadline=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow],
    )


@dataclass(frozen=True)
class World:
    """What every property needs: a verifier trusting both issuer keys, codes that verify, and helpers."""

    now: dt.datetime
    verifier: Verifier
    texts: tuple[str, ...]
    full_credential: Credential
    holder: SigningKey
    sign_holder: Callable[[Any, SigningKey], str]
    decode: Callable[[str], list[Any]]
    issue: Callable[..., Credential]
    types: Any


@pytest.fixture(scope="module")
def world(
    trusted_key: Any,
    issuer_key: SigningKey,
    issuer_key_ed25519: SigningKey,
    holder_key: SigningKey,
    holder_key_ed25519: SigningKey,
    issue_licence: Any,
    licence_claims: Mapping[str, Any],
    staff_types: Any,
    forge: Any,
    now: dt.datetime,
) -> World:
    verifier = Verifier(TrustStore([trusted_key(issuer_key), trusted_key(issuer_key_ed25519)]), types=staff_types)
    full = issue_licence({**licence_claims, "portrait": bytes(range(32))}, derive=("age_over_18", "age_over_60"))
    ed25519 = issue_licence(issuer_key=issuer_key_ed25519, holder=holder_key_ed25519)
    texts = (
        present(full, holder_key, now=now, profile="driving-check", nonce=NONCE),
        present(ed25519, holder_key_ed25519, now=now),
    )
    verifier.verify(texts[0], now=now, nonce=NONCE)  # the starting points verify
    verifier.verify(texts[1], now=now)
    return World(now, verifier, texts, full, holder_key, forge.sign_holder, forge.decode, issue_licence, staff_types)


def verdict_or_verification_error(world: World, text: str, nonce: bytes | None = None) -> None:
    """The verifier's contract: any input verifies or raises VerificationError; nothing else escapes."""
    try:
        world.verifier.verify(text, now=world.now, nonce=nonce)
    except VerificationError as error:
        assert isinstance(error.code, ErrorCode)
        assert error.sentence


# --- 1. single-character changes ------------------------------------------------------------------


@st.composite
def single_character_changes(draw: st.DrawFn, texts: tuple[str, ...]) -> tuple[str, str]:
    text = draw(st.sampled_from(texts))
    operation = draw(st.sampled_from(["substitute", "delete", "insert"]))
    if operation == "insert":
        position = draw(st.integers(0, len(text)))
        return text, text[:position] + draw(st.sampled_from(DIGITS)) + text[position:]
    position = draw(st.integers(0, len(text) - 1))
    if operation == "delete":
        return text, text[:position] + text[position + 1 :]
    replacement = draw(st.sampled_from(DIGITS + "ECec:+- A\n").filter(lambda c: c != text[position]))
    return text, text[:position] + replacement + text[position + 1 :]


@examples(500)
@given(data=st.data())
def test_every_single_character_change_is_rejected(world: World, data: st.DataObject) -> None:
    original, changed = data.draw(single_character_changes(world.texts))
    assert changed != original
    nonce = NONCE if original == world.texts[0] else None
    with pytest.raises(VerificationError):
        world.verifier.verify(changed, now=world.now, nonce=nonce)


# --- 2. arbitrary input ---------------------------------------------------------------------------


@examples(300)
@given(text=st.text(max_size=300))
def test_arbitrary_text(world: World, text: str) -> None:
    verdict_or_verification_error(world, text)


@examples(200)
@given(text=st.text(DIGITS, max_size=400))
def test_arbitrary_digits_after_the_prefix(world: World, text: str) -> None:
    verdict_or_verification_error(world, "EC1:" + text)


@examples(30)
@given(text=st.text(DIGITS, min_size=3690, max_size=3720))
def test_arbitrary_digits_near_the_size_limit(world: World, text: str) -> None:
    verdict_or_verification_error(world, "EC1:" + text)


@examples(300)
@given(payload=st.binary(max_size=1536))
def test_arbitrary_payload_bytes(world: World, payload: bytes) -> None:
    verdict_or_verification_error(world, _wire.text_from_payload(payload))


MSGPACK_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.binary(max_size=70)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=10) | st.dictionaries(st.integers(0, 130), children, max_size=5),
    max_leaves=12,
)


@examples(150)
@given(payload=st.lists(MSGPACK_VALUES, min_size=4, max_size=10))
def test_arbitrary_msgpack_payloads(world: World, payload: list[Any]) -> None:
    data = _wire.pack(payload)
    if len(data) <= _wire.MAX_PAYLOAD_BYTES:
        verdict_or_verification_error(world, _wire.text_from_payload(data))


FIELD_VALUES = st.one_of(
    st.integers(0, 2**40),
    st.integers(-(2**63), 2**64 - 1),
    st.none(),
    st.booleans(),
    st.binary(max_size=40),
    st.text(max_size=8),
    st.lists(st.integers(-1, 2**33), max_size=3),
    st.floats(allow_nan=False),
)
HEADER_FIELDS = {
    0: "type_id",
    1: "kid",
    2: "serial",
    3: "issued_at",
    4: "valid_from",
    5: "valid_until",
    6: "present",
    7: "holder",
    8: "status",
}


@pytest.mark.parametrize("field", HEADER_FIELDS, ids=HEADER_FIELDS.values())
@examples(80)
@given(value=FIELD_VALUES)
def test_any_value_in_any_header_field(world: World, field: int, value: Any) -> None:
    """Header fields are read (type, key id, key window) before the issuer signature is checked, so they
    are attacker-controlled input there: any value must end in a verdict or a VerificationError."""
    p = world.decode(world.texts[0])
    p[0][field] = value
    verdict_or_verification_error(world, world.sign_holder(p, world.holder), nonce=NONCE)


@pytest.mark.parametrize(
    "element",
    [1, 2, 3, 4, 5, 6, 7],
    ids=["values", "seeds", "nodes", "issuer_sig", "presented_at", "lifetime", "binding"],
)
@examples(60)
@given(value=FIELD_VALUES | st.dictionaries(st.integers(0, 130), st.binary(min_size=16, max_size=16), max_size=4))
def test_any_value_in_any_payload_element(world: World, element: int, value: Any) -> None:
    p = world.decode(world.texts[0])
    p[element] = value
    verdict_or_verification_error(world, world.sign_holder(p, world.holder), nonce=NONCE)


# --- 3. random disclosures ------------------------------------------------------------------------


@examples(150)
@given(shown=st.sets(st.sampled_from(DRIVING_LICENCE.claim_names)))
def test_random_disclosures_show_exactly_the_chosen_claims(world: World, shown: set[str]) -> None:
    cred = world.full_credential
    verdict = world.verifier.verify(present(cred, world.holder, now=world.now, disclose=shown), now=world.now)
    assert dict(verdict.claims) == {name: cred.claims[name] for name in shown}
    assert verdict.withheld == tuple(name for name in DRIVING_LICENCE.claim_names if name not in shown)


@examples(100)
@given(data=st.data())
def test_random_claims_and_disclosures_of_every_builtin_type(world: World, data: st.DataObject) -> None:
    """Random present sets (which claims were issued) and random disclosed subsets of them."""
    ctype = data.draw(st.sampled_from(list(BUILTIN_TYPES)))
    sample = {
        "text": "王芳 Wang",
        "list[text]": ("C1",),
        "date": dt.date(1990, 1, 1),
        "bool": True,
        "bytes": b"\x01\x02",
    }
    issued = data.draw(st.sets(st.sampled_from(ctype.claim_names), min_size=1))
    claims = {name: sample[ctype.claims[ctype.index_of(name)].kind.value] for name in issued}
    shown = data.draw(st.sets(st.sampled_from(sorted(issued))))
    cred = world.issue(claims, credential_type=ctype.name)
    verdict = world.verifier.verify(present(cred, world.holder, now=world.now, disclose=shown), now=world.now)
    assert dict(verdict.claims) == {name: claims[name] for name in shown}
    assert verdict.withheld == tuple(name for name in ctype.claim_names if name in issued and name not in shown)


# --- 4. claim values of every kind round-trip -----------------------------------------------------

# Characters at the edges of the compact (GB18030 two-byte) text form: two-byte in GB18030 but no
# shorter than UTF-8, shorter than UTF-8, four-byte in GB18030, private use, and full-width forms.
TRICKY = "·éā€—―、。《》\uff08\uff09\uff10\uff21\u1e3f\uff67\uff41\ue000\ue7c7\uf8ff\ufe10\u9fb4\u3000\u00a0\x00\x7f"
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)


def texts(max_size: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(st.characters(codec="ascii"), max_size=max_size),
        st.text(CJK, max_size=max_size),
        st.text(st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), max_size=max_size // 2),
        st.text(st.sampled_from(TRICKY) | CJK | st.sampled_from("abc 123-"), max_size=max_size),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=max_size // 2),
    )


STAFF_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": texts(60),
    "employee_number": st.integers(-(2**63), 2**63 - 1),
    "active": st.booleans(),
    "hired_on": st.dates(),
    "badge": st.binary(max_size=256),
    "languages": st.lists(texts(12), max_size=4),
    "shift_codes": st.lists(st.integers(-(2**63), 2**63 - 1), max_size=8),
    "flags": st.lists(st.booleans(), max_size=32),
    "training_dates": st.lists(st.dates(), max_size=8),
    "door_keys": st.lists(st.binary(max_size=24), max_size=4),
}


def _normalised(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@examples(250)
@given(data=st.data())
def test_claim_values_of_every_kind_round_trip(world: World, data: st.DataObject) -> None:
    names = data.draw(st.sets(st.sampled_from(list(STAFF_VALUES)), min_size=1))
    claims = {name: data.draw(STAFF_VALUES[name], label=name) for name in sorted(names)}
    cred = world.issue(claims, credential_type="staff-card", types=world.types)
    expected = {name: _normalised(value) for name, value in claims.items()}
    assert dict(cred.claims) == expected
    text = present(cred, world.holder, now=world.now, types=world.types)
    verdict = world.verifier.verify(text, now=world.now)
    assert dict(verdict.claims) == expected
    for name, value in verdict.claims.items():  # same types, not just equal values (True == 1)
        assert type(value) is type(expected[name]), name


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("name", "a" * 512, id="ascii-text-of-512-bytes"),
        pytest.param("name", "张" * 256, id="cjk-text-of-512-compact-bytes"),
        pytest.param("name", "🚗" * 128, id="emoji-text-of-512-bytes"),
        pytest.param("name", "", id="empty-text"),
        pytest.param("employee_number", -(2**63), id="int-min"),
        pytest.param("employee_number", 2**63 - 1, id="int-max"),
        pytest.param("hired_on", dt.date.min, id="date-min"),
        pytest.param("hired_on", dt.date.max, id="date-max"),
        pytest.param("hired_on", dt.date(1969, 12, 31), id="date-before-1970"),
        pytest.param("badge", bytes(range(256)), id="bytes-of-256"),
        pytest.param("badge", b"", id="empty-bytes"),
        pytest.param("flags", [True] * 32, id="list-of-32"),
        pytest.param("languages", [], id="empty-list"),
    ],
)
def test_claim_values_at_their_limits_round_trip(world: World, name: str, value: Any) -> None:
    cred = world.issue({name: value}, credential_type="staff-card", types=world.types)
    verdict = world.verifier.verify(present(cred, world.holder, now=world.now, types=world.types), now=world.now)
    assert verdict.claims[name] == _normalised(value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("name", "a" * 513, id="text-of-513-bytes"),
        pytest.param("name", "张" * 256 + "a", id="cjk-text-of-513-compact-bytes"),
        pytest.param("name", "\ud800", id="lone-surrogate"),
        pytest.param("employee_number", 2**63, id="int-above-max"),
        pytest.param("employee_number", True, id="bool-as-int"),
        pytest.param("active", 1, id="int-as-bool"),
        pytest.param("hired_on", dt.datetime(2020, 1, 1, tzinfo=dt.UTC), id="datetime-as-date"),
        pytest.param("badge", bytes(257), id="bytes-of-257"),
        pytest.param("badge", "text", id="text-as-bytes"),
        pytest.param("flags", [True] * 33, id="list-of-33"),
        pytest.param("languages", "C1", id="text-as-list"),
        pytest.param("languages", [["C1"]], id="nested-list"),
    ],
)
def test_claim_values_beyond_their_limits_are_refused_by_the_issuer(world: World, name: str, value: Any) -> None:
    with pytest.raises(IssueError):
        world.issue({name: value}, credential_type="staff-card", types=world.types)
