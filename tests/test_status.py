"""Status lists: round trips at the boundaries, one named test per refusal, the cache, and the documented example."""

from __future__ import annotations

import datetime as dt
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st
from testkeys import ed25519_test_key, es256_test_key

from econsent import Algorithm, IssuerName, SignerError, SigningKey, TrustedKey, TrustStore, _envelope, _wire
from econsent import status as status_module
from econsent.keys import PublicKey
from econsent.status import (
    MAX_STATUS_LIST_BYTES,
    STATUS_LIST_CONTEXT,
    CredentialStatus,
    StatusList,
    StatusListBuilder,
    StatusListCache,
    StatusListError,
    StatusListReason,
    load_status_list,
    read_status_list_unverified,
    sign_status_list,
)
from econsent.trust import IssuerScope, KeyStatus

ROOT = Path(__file__).resolve().parent.parent
ISSUER_REF = "sh-traffic"
SCOPE = IssuerScope.local(ISSUER_REF)
ISSUED = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
NEXT = ISSUED + dt.timedelta(days=1)
KEY_FROM = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
KEY_UNTIL = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
VALID, REVOKED, SUSPENDED = CredentialStatus.VALID, CredentialStatus.REVOKED, CredentialStatus.SUSPENDED


KEY = es256_test_key("econsent status test issuer")
KEY_2 = ed25519_test_key("econsent status test issuer, second key")
OTHER_ISSUER_KEY = es256_test_key("econsent status test, another issuer")
UNTRUSTED_KEY = es256_test_key("econsent status test, untrusted")


def entry(key: SigningKey, *, issuer_id: str | None = ISSUER_REF, **changes: Any) -> TrustedKey:
    fields: dict[str, Any] = {
        "public_key": key.public_key,
        "issuer": IssuerName("上海市公安局交通警察总队", "Shanghai Traffic Police"),
        "credential_types": frozenset({"driving-licence"}),
        "valid_from": KEY_FROM,
        "valid_until": KEY_UNTIL,
        "issuer_id": issuer_id,
        **changes,
    }
    return TrustedKey(**fields)


@pytest.fixture
def trust() -> TrustStore:
    return TrustStore([entry(KEY), entry(KEY_2), entry(OTHER_ISSUER_KEY, issuer_id="sh-market")])


def build(size: int, marks: dict[int, CredentialStatus] | None = None) -> StatusListBuilder:
    builder = StatusListBuilder(size)
    for index, status in (marks or {}).items():
        builder.set(index, status)
    return builder


def signed(builder: StatusListBuilder, key: SigningKey = KEY, **changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "issuer_ref": ISSUER_REF,
        "list_id": 0,
        "sequence": 1,
        "issued_at": ISSUED,
        "next_update": NEXT,
        **changes,
    }
    return builder.sign(key, **fields)


def fields_of(data: bytes) -> list[Any]:
    return msgpack.unpackb(data, raw=False)  # type: ignore[no-any-return]


def forge(fields: list[Any], key: SigningKey = KEY) -> bytes:
    """Pack fields as given and sign them as the key's holder would (a buggy or malicious issuer)."""
    unsigned = _wire.pack([*fields[:11], bytes(64)])
    return unsigned[:-64] + sign_status_list(key, unsigned[:-66])


def forge_raw(unsigned_without_signature: bytes, key: SigningKey = KEY) -> bytes:
    """Sign hand-encoded bytes (everything before the signature field) and append the signature field."""
    return unsigned_without_signature + b"\xc4\x40" + sign_status_list(key, unsigned_without_signature)


def valid_fields(**changes: Any) -> list[Any]:
    fields = fields_of(signed(build(10, {1: REVOKED})))
    names = ["form", "version", "issuer_ref", "list_id", "sequence", "kid", "issued_at", "next_update", "size",
             "bits", "entries", "signature"]  # fmt: skip
    for name, value in changes.items():
        fields[names.index(name)] = value
    return fields


def refused(reason: StatusListReason, call: Callable[[], object]) -> StatusListError:
    with pytest.raises(StatusListError) as caught:
        call()
    assert caught.value.code is reason, caught.value
    return caught.value


# --- round trips ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 1001])
@pytest.mark.parametrize("last", [VALID, REVOKED, SUSPENDED])
def test_first_and_last_entries_round_trip(trust: TrustStore, size: int, last: CredentialStatus) -> None:
    marks = {size - 1: last}
    if size > 1:
        marks[0] = SUSPENDED
    loaded = load_status_list(signed(build(size, marks)), trust)
    assert loaded.size == size
    assert loaded.status(size - 1) is last
    if size > 1:
        assert loaded.status(0) is SUSPENDED
    if size > 2:
        assert loaded.status(size - 2) is VALID


def test_round_trip_keeps_every_field(trust: TrustStore) -> None:
    data = signed(build(1000, {0: REVOKED, 999: SUSPENDED}), KEY_2, list_id=65535, sequence=2**63 - 1)
    loaded = load_status_list(data, trust)
    assert (loaded.issuer_ref, loaded.list_id, loaded.sequence, loaded.size) == (ISSUER_REF, 65535, 2**63 - 1, 1000)
    assert (loaded.issued_at, loaded.next_update, loaded.kid) == (ISSUED, NEXT, KEY_2.public_key.kid)
    assert loaded.counts() == {VALID: 998, REVOKED: 1, SUSPENDED: 1}
    assert "bitstring" not in repr(loaded)


def test_bit_order_is_the_token_status_list_order() -> None:
    builder = build(10, {1: REVOKED, 2: SUSPENDED, 9: REVOKED})
    entries = zlib.decompress(fields_of(signed(builder))[10])
    assert entries == bytes([0b00_10_01_00, 0x00, 0b0000_01_00])


def test_set_overwrites_and_set_many_checks_every_index_first(trust: TrustStore) -> None:
    builder = build(8, {3: REVOKED})
    builder.set(3, SUSPENDED)
    builder.set_many([0, 5], REVOKED)
    builder.set(5, VALID)
    refused(StatusListReason.INDEX_OUT_OF_RANGE, lambda: builder.set_many([1, 2, 8], REVOKED))
    refused(StatusListReason.INDEX_OUT_OF_RANGE, lambda: builder.set_many([-1], REVOKED))
    refused(StatusListReason.INDEX_OUT_OF_RANGE, lambda: builder.set(8, REVOKED))
    refused(StatusListReason.INDEX_OUT_OF_RANGE, lambda: builder.set(-1, REVOKED))
    refused(StatusListReason.INDEX_OUT_OF_RANGE, lambda: builder.set_many(range(7, 9), REVOKED))
    loaded = load_status_list(signed(builder), trust)
    assert [loaded.status(i) for i in range(8)] == [REVOKED, VALID, VALID, SUSPENDED, VALID, VALID, VALID, VALID]


@pytest.mark.parametrize(
    ("start", "stop"), [(0, 0), (0, 1), (1, 3), (1, 4), (2, 11), (4, 8), (3, 37), (0, 40), (39, 40)]
)
def test_set_many_over_a_range_fills_whole_bytes_and_partial_ends(start: int, stop: int, trust: TrustStore) -> None:
    builder = build(40, {i: REVOKED for i in range(0, 40, 3)})
    builder.set_many(range(start, stop), SUSPENDED)
    loaded = load_status_list(signed(builder), trust)
    expected = [SUSPENDED if start <= i < stop else REVOKED if i % 3 == 0 else VALID for i in range(40)]
    assert [loaded.status(i) for i in range(40)] == expected


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    size=st.integers(1, 70),
    operations=st.lists(
        st.tuples(
            st.sampled_from(["set", "many", "range"]),
            st.integers(0, 69),
            st.integers(0, 69),
            st.sampled_from(list(CredentialStatus)),
        ),
        max_size=12,
    ),
)
def test_builder_matches_a_plain_model(size: int, operations: list[tuple[str, int, int, CredentialStatus]]) -> None:
    builder = StatusListBuilder(size)
    model = [VALID] * size
    for kind, a, b, status in operations:
        low, high = sorted((a % size, b % size))
        if kind == "set":
            builder.set(low, status)
            model[low] = status
        elif kind == "many":
            builder.set_many([low, high], status)
            model[low] = model[high] = status
        else:
            builder.set_many(range(low, high), status)
            model[low:high] = [status] * (high - low)
    loaded = read_status_list_unverified(signed(builder))
    assert [loaded.status(i) for i in range(size)] == model
    assert loaded.counts() == {status: model.count(status) for status in CredentialStatus}


def test_a_million_entries_at_one_percent(trust: TrustStore) -> None:
    builder = StatusListBuilder(1_000_000)
    revoked = list(range(17, 1_000_000, 100))
    builder.set_many(revoked, REVOKED)
    builder.set_many(range(500_000, 500_100), SUSPENDED)
    loaded = load_status_list(signed(builder), trust)
    assert loaded.counts() == {VALID: 1_000_000 - 10_000 - 99, REVOKED: 9_999, SUSPENDED: 100}
    assert loaded.status(17) is REVOKED and loaded.status(18) is VALID and loaded.status(500_099) is SUSPENDED
    assert loaded.status(999_917) is REVOKED and loaded.status(999_999) is VALID


def test_index_outside_the_list_is_refused(trust: TrustStore) -> None:
    loaded = load_status_list(signed(build(10)), trust)
    refused(StatusListReason.INDEX_OUT_OF_RANGE, lambda: loaded.status(10))
    refused(StatusListReason.INDEX_OUT_OF_RANGE, lambda: loaded.status(-1))


def test_any_issuer_key_may_sign_the_issuers_lists(trust: TrustStore) -> None:
    assert load_status_list(signed(build(4), KEY_2), trust).kid == KEY_2.public_key.kid


def test_key_without_issuer_id_signs_as_kid_ref() -> None:
    trust = TrustStore([entry(KEY, issuer_id=None)])
    loaded = load_status_list(signed(build(4), issuer_ref=f"kid:{KEY.public_key.kid.hex()}"), trust)
    assert loaded.issuer_ref == f"kid:{KEY.public_key.kid.hex()}"


def test_builder_refuses_fields_no_verifier_would_accept() -> None:
    builder = build(4)
    refused(StatusListReason.MALFORMED, lambda: signed(builder, next_update=ISSUED))
    refused(StatusListReason.MALFORMED, lambda: signed(builder, issuer_ref=""))
    refused(StatusListReason.MALFORMED, lambda: signed(builder, issuer_ref="x" * 65))
    refused(StatusListReason.MALFORMED, lambda: signed(builder, list_id=65536))
    refused(StatusListReason.MALFORMED, lambda: signed(builder, sequence=-1))
    with pytest.raises(ValueError):
        StatusListBuilder(0)
    with pytest.raises(ValueError):
        StatusListBuilder(2**28 + 1)


# --- refusals: one named test each ------------------------------------------------------------------


def test_refuses_bad_signature(trust: TrustStore) -> None:
    data = bytearray(signed(build(10, {1: REVOKED})))
    data[-1] ^= 1
    refused(StatusListReason.BAD_SIGNATURE, lambda: load_status_list(bytes(data), trust))


def test_refuses_changed_entries_under_the_old_signature(trust: TrustStore) -> None:
    original = fields_of(signed(build(10, {1: REVOKED})))
    unrevoked = fields_of(signed(build(10)))
    tampered = _wire.pack([*original[:10], unrevoked[10], original[11]])
    refused(StatusListReason.BAD_SIGNATURE, lambda: load_status_list(tampered, trust))


def test_refuses_changed_sequence_under_the_old_signature(trust: TrustStore) -> None:
    original = fields_of(signed(build(10), sequence=1))
    refused(
        StatusListReason.BAD_SIGNATURE, lambda: load_status_list(_wire.pack([*original[:4], 9, *original[5:]]), trust)
    )


def test_refuses_signature_without_the_status_list_context(trust: TrustStore) -> None:
    unsigned = signed(build(10))[:-64]
    for message in (
        unsigned[:-2],
        _envelope.CREDENTIAL_CONTEXT + unsigned[:-2],
        b"econsent/v1 trust-list\x00" + unsigned[:-2],
    ):
        data = unsigned + KEY.sign(message)
        refused(StatusListReason.BAD_SIGNATURE, lambda data=data: load_status_list(data, trust))  # type: ignore[misc]


def test_refuses_unknown_key(trust: TrustStore) -> None:
    refused(StatusListReason.UNKNOWN_KEY, lambda: load_status_list(signed(build(10), UNTRUSTED_KEY), trust))


def test_refuses_wrong_issuer(trust: TrustStore) -> None:
    error = refused(StatusListReason.WRONG_ISSUER, lambda: load_status_list(signed(build(10), OTHER_ISSUER_KEY), trust))
    assert "sh-market" in str(error)


def test_refuses_key_ref_of_another_key() -> None:
    trust = TrustStore([entry(KEY, issuer_id=None), entry(KEY_2, issuer_id=None)])
    data = signed(build(4), KEY_2, issuer_ref=f"kid:{KEY.public_key.kid.hex()}")
    refused(StatusListReason.WRONG_ISSUER, lambda: load_status_list(data, trust))


@pytest.mark.parametrize("issued_at", [KEY_FROM - dt.timedelta(seconds=1), KEY_UNTIL + dt.timedelta(seconds=1)])
def test_refuses_key_not_valid_at_issued_at(trust: TrustStore, issued_at: dt.datetime) -> None:
    data = signed(build(10), issued_at=issued_at, next_update=issued_at + dt.timedelta(days=1))
    refused(StatusListReason.KEY_NOT_VALID, lambda: load_status_list(data, trust))


def test_refuses_retired_key_after_retirement_and_accepts_it_before() -> None:
    retired = ISSUED - dt.timedelta(hours=1)
    trust = TrustStore([entry(KEY, status=KeyStatus.RETIRED, status_since=retired)])
    refused(StatusListReason.KEY_NOT_VALID, lambda: load_status_list(signed(build(10)), trust))
    earlier = signed(build(10), issued_at=retired - dt.timedelta(hours=1))
    assert load_status_list(earlier, trust).issued_at == retired - dt.timedelta(hours=1)


def test_refuses_compromised_key() -> None:
    trust = TrustStore([entry(KEY, status=KeyStatus.COMPROMISED, status_since=ISSUED - dt.timedelta(hours=1))])
    refused(StatusListReason.KEY_NOT_VALID, lambda: load_status_list(signed(build(10)), trust))


def test_refuses_compromised_key_even_with_a_backdated_list() -> None:
    """Whoever holds a compromised key can date a list before the compromise: such lists are never trusted."""
    compromised = ISSUED - dt.timedelta(hours=1)
    trust = TrustStore([entry(KEY, status=KeyStatus.COMPROMISED, status_since=compromised)])
    backdated = signed(build(10), issued_at=compromised - dt.timedelta(days=1), next_update=KEY_UNTIL)
    refused(StatusListReason.KEY_NOT_VALID, lambda: load_status_list(backdated, trust))


def test_refuses_oversized_input_before_parsing(monkeypatch: pytest.MonkeyPatch, trust: TrustStore) -> None:
    monkeypatch.setattr(status_module, "_unpack_strict", lambda data: pytest.fail("parsed an oversized input"))
    refused(StatusListReason.TOO_LARGE, lambda: load_status_list(bytes(MAX_STATUS_LIST_BYTES + 1), trust))


@pytest.mark.parametrize("cut", [0, 1, 2, 30, 60, -70, -66, -65, -1])
def test_refuses_truncated_input(trust: TrustStore, cut: int) -> None:
    data = signed(build(10, {1: REVOKED}))
    refused(StatusListReason.MALFORMED, lambda: load_status_list(data[:cut], trust))


def test_refuses_trailing_bytes_after_the_array(trust: TrustStore) -> None:
    refused(StatusListReason.MALFORMED, lambda: load_status_list(signed(build(10)) + b"\x00", trust))


def test_refuses_decompression_bomb_from_a_trusted_key(trust: TrustStore) -> None:
    """Even a trusted (buggy) issuer cannot make a verifier inflate more than the declared size."""
    bomb = zlib.compress(bytes(50 * 1024 * 1024), 9)
    data = forge(valid_fields(size=8, entries=bomb))
    refused(StatusListReason.TOO_LARGE, lambda: load_status_list(data, trust))


def test_refuses_unsigned_bomb_without_inflating_it(monkeypatch: pytest.MonkeyPatch, trust: TrustStore) -> None:
    monkeypatch.setattr(status_module, "_inflate", lambda *args: pytest.fail("inflated before the signature"))
    bomb = zlib.compress(bytes(50 * 1024 * 1024), 9)
    data = forge(valid_fields(size=2**28, entries=bomb, kid=UNTRUSTED_KEY.public_key.kid), UNTRUSTED_KEY)
    refused(StatusListReason.UNKNOWN_KEY, lambda: load_status_list(data, trust))
    tampered = forge(valid_fields(size=2**28, entries=bomb))[:-1] + b"\x00"
    refused(StatusListReason.BAD_SIGNATURE, lambda: load_status_list(tampered, trust))


def test_refuses_entries_that_inflate_short(trust: TrustStore) -> None:
    data = forge(valid_fields(size=13, entries=zlib.compress(bytes(3))))
    refused(StatusListReason.MALFORMED, lambda: load_status_list(data, trust))


def test_refuses_truncated_zlib_stream(trust: TrustStore) -> None:
    data = forge(valid_fields(entries=zlib.compress(bytes(3))[:-4]))
    refused(StatusListReason.MALFORMED, lambda: load_status_list(data, trust))


def test_refuses_trailing_bytes_after_the_zlib_stream(trust: TrustStore) -> None:
    data = forge(valid_fields(entries=zlib.compress(bytes(3)) + b"\x00"))
    refused(StatusListReason.MALFORMED, lambda: load_status_list(data, trust))


def test_refuses_second_zlib_stream(trust: TrustStore) -> None:
    data = forge(valid_fields(entries=zlib.compress(bytes(3)) + zlib.compress(bytes(3))))
    refused(StatusListReason.MALFORMED, lambda: load_status_list(data, trust))


def test_refuses_corrupt_zlib_checksum(trust: TrustStore) -> None:
    stream = bytearray(zlib.compress(bytes(3)))
    stream[-1] ^= 1
    refused(StatusListReason.MALFORMED, lambda: load_status_list(forge(valid_fields(entries=bytes(stream))), trust))


@pytest.mark.parametrize(
    "entries", [b"\x03\x00\x00", b"\x00\x0c\x00", b"\x00\x00\x30", b"\xc0\x00\x00", b"\xff\xff\x0f"]
)
def test_refuses_bits_value_3(trust: TrustStore, entries: bytes) -> None:
    data = forge(valid_fields(entries=zlib.compress(entries)))
    refused(StatusListReason.MALFORMED, lambda: load_status_list(data, trust))


@pytest.mark.parametrize("last", [0x10, 0x20, 0x40, 0x80])
def test_refuses_nonzero_padding_bits(trust: TrustStore, last: int) -> None:
    data = forge(valid_fields(entries=zlib.compress(bytes([0, 0, last]))))
    refused(StatusListReason.MALFORMED, lambda: load_status_list(data, trust))


def test_refuses_non_canonical_msgpack(trust: TrustStore) -> None:
    """A list id of 0 as uint16 (cd 00 00) instead of a fixint: same value, another encoding, validly signed."""
    canonical = signed(build(10))[:-66]
    prefix = b"\x9c" + _wire.pack("econsent-status-list") + b"\x01" + _wire.pack(ISSUER_REF)
    assert canonical.startswith(prefix + b"\x00")
    data = forge_raw(prefix + b"\xcd\x00\x00" + canonical[len(prefix) + 1 :])
    refused(StatusListReason.MALFORMED, lambda: load_status_list(data, trust))


def test_refuses_non_canonical_str8_for_a_short_issuer_ref(trust: TrustStore) -> None:
    canonical = signed(build(10))[:-66]
    old = _wire.pack(ISSUER_REF)
    data = forge_raw(canonical.replace(old, b"\xd9" + bytes([len(ISSUER_REF)]) + ISSUER_REF.encode(), 1))
    refused(StatusListReason.MALFORMED, lambda: load_status_list(data, trust))


def test_refuses_extension_types(trust: TrustStore) -> None:
    fields = valid_fields()
    unsigned = b"\x9c" + b"".join(_wire.pack(f) for f in fields[:6]) + b"\xd6\xff" + bytes(4)
    unsigned += b"".join(_wire.pack(f) for f in fields[7:11])
    refused(StatusListReason.MALFORMED, lambda: load_status_list(forge_raw(unsigned), trust))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("form", "econsent-trust-list"),
        ("version", 2),
        ("version", True),
        ("version", 1.0),
        ("issuer_ref", ""),
        ("issuer_ref", "x" * 65),
        ("issuer_ref", b"sh-traffic"),
        ("list_id", 65536),
        ("list_id", -1),
        ("list_id", True),
        ("sequence", 2**63),
        ("sequence", None),
        ("kid", bytes(7)),
        ("kid", "14ff65a8eecca971"),
        ("issued_at", -1),
        ("issued_at", 1.5),
        ("next_update", int(ISSUED.timestamp())),
        ("size", 0),
        ("size", 2**28 + 1),
        ("bits", 1),
        ("bits", 2.0),
        ("bits", True),
        ("entries", "not bytes"),
        ("signature", bytes(63)),
    ],
)
def test_refuses_bad_fields(trust: TrustStore, field: str, value: Any) -> None:
    fields = valid_fields(**{field: value})
    data = _wire.pack(fields) if field == "signature" else forge(fields)
    refused(StatusListReason.MALFORMED, lambda: load_status_list(data, trust))


@pytest.mark.parametrize("count", [11, 13])
def test_refuses_wrong_number_of_fields(trust: TrustStore, count: int) -> None:
    fields = valid_fields()
    data = _wire.pack(fields[:count] if count < 12 else [*fields, 0])
    refused(StatusListReason.MALFORMED, lambda: load_status_list(data, trust))


@pytest.mark.parametrize("data", [b"", b"\xc1", _wire.pack({"a": 1}), _wire.pack("econsent-status-list"), b"\x9c"])
def test_refuses_garbage(trust: TrustStore, data: bytes) -> None:
    refused(StatusListReason.MALFORMED, lambda: load_status_list(data, trust))


def test_reading_unverified_skips_only_the_key_and_signature(trust: TrustStore) -> None:
    data = bytearray(signed(build(10, {1: REVOKED})))
    data[-1] ^= 1
    assert read_status_list_unverified(bytes(data)).status(1) is REVOKED
    refused(StatusListReason.BAD_SIGNATURE, lambda: load_status_list(bytes(data), trust))
    bad_entries = forge(valid_fields(entries=zlib.compress(b"\xff\xff\xff")))
    refused(StatusListReason.MALFORMED, lambda: read_status_list_unverified(bad_entries))


def test_a_foreign_signer_must_return_a_valid_raw_signature() -> None:
    class BrokenSigner:
        algorithm = Algorithm.ES256
        public_key: PublicKey = KEY.public_key

        def sign(self, data: bytes) -> bytes:
            return bytes(64)

    with pytest.raises(SignerError):
        build(4).sign(BrokenSigner(), issuer_ref=ISSUER_REF, list_id=0, sequence=1, issued_at=ISSUED, next_update=NEXT)


def test_direct_construction_checks_the_entries() -> None:
    def make(size: int, bitstring: bytes) -> StatusList:
        return StatusList(ISSUER_REF, 0, 1, ISSUED, NEXT, size, KEY.public_key.kid, bitstring)

    assert make(5, b"\x00\x01").status(4) is REVOKED
    refused(StatusListReason.MALFORMED, lambda: make(5, b"\x00"))
    refused(StatusListReason.MALFORMED, lambda: make(5, b"\x03\x00"))
    refused(StatusListReason.MALFORMED, lambda: make(5, b"\x00\x04"))
    refused(StatusListReason.MALFORMED, lambda: make(0, b""))


# --- cache ------------------------------------------------------------------------------------------


def test_cache_keeps_the_newest_and_refuses_rollback(trust: TrustStore) -> None:
    cache = StatusListCache()
    first = load_status_list(signed(build(10, {1: REVOKED}), sequence=1), trust)
    second = load_status_list(signed(build(10, {1: REVOKED, 2: REVOKED}), sequence=2), trust)
    assert cache.get(SCOPE, 0) is None
    assert cache.add(first) and cache.add(second)
    assert cache.get(SCOPE, 0) is second
    error = refused(StatusListReason.ROLLBACK, lambda: cache.add(first))
    assert "sequence 1, already holding 2" in str(error)
    assert cache.get(SCOPE, 0) is second


def test_cache_refuses_another_list_under_the_same_sequence(trust: TrustStore) -> None:
    cache = StatusListCache()
    cache.add(load_status_list(signed(build(10, {1: REVOKED}), sequence=5), trust))
    other = load_status_list(signed(build(10), sequence=5), trust)
    refused(StatusListReason.SEQUENCE_REUSED, lambda: cache.add(other))
    assert cache.get(SCOPE, 0) is not None and cache.get(SCOPE, 0).status(1) is REVOKED  # type: ignore[union-attr]


def test_cache_accepts_the_same_list_again_even_signed_anew(trust: TrustStore) -> None:
    cache = StatusListCache()
    builder = build(10, {1: REVOKED})
    assert cache.add(load_status_list(signed(builder), trust))
    assert not cache.add(load_status_list(signed(builder), trust))
    assert not cache.add(load_status_list(signed(builder, KEY_2), trust))
    assert len(cache) == 1


def test_cache_keys_by_issuer_and_list(trust: TrustStore) -> None:
    cache = StatusListCache()
    cache.add(load_status_list(signed(build(10), sequence=9), trust))
    cache.add(load_status_list(signed(build(10), list_id=1, sequence=1), trust))
    cache.add(load_status_list(signed(build(10), OTHER_ISSUER_KEY, issuer_ref="sh-market"), trust))
    assert {(held.issuer_ref, held.list_id, held.sequence) for held in cache} == {
        (ISSUER_REF, 0, 9),
        (ISSUER_REF, 1, 1),
        ("sh-market", 0, 1),
    }


def test_load_directory_reports_each_file_and_keeps_going(tmp_path: Path, trust: TrustStore) -> None:
    (tmp_path / "a.0.ecsl").write_bytes(signed(build(10, {1: REVOKED}), sequence=3))
    (tmp_path / "b.0.ecsl").write_bytes(signed(build(10, {1: REVOKED, 2: SUSPENDED}), sequence=4))
    (tmp_path / "c.1.ecsl").write_bytes(signed(build(10), list_id=1))
    (tmp_path / "d.bad.ecsl").write_bytes(signed(build(10))[:-1] + b"\x00")
    (tmp_path / "e.unknown.ecsl").write_bytes(signed(build(10), UNTRUSTED_KEY))
    (tmp_path / "f.folder.ecsl").mkdir()
    (tmp_path / "notes.txt").write_text("not a status list")
    cache = StatusListCache()
    report = cache.load_directory(tmp_path, trust)
    assert [path.name for path in report.loaded] == ["b.0.ecsl", "c.1.ecsl"]
    assert [path.name for path in report.unchanged] == ["a.0.ecsl"]
    assert [(path.name, error.code) for path, error in report.errors] == [
        ("d.bad.ecsl", StatusListReason.BAD_SIGNATURE),
        ("e.unknown.ecsl", StatusListReason.UNKNOWN_KEY),
        ("f.folder.ecsl", StatusListReason.UNREADABLE),
    ]
    assert cache.get(SCOPE, 0).sequence == 4  # type: ignore[union-attr]

    (tmp_path / "b.0.ecsl").write_bytes(signed(build(10), sequence=2))
    again = cache.load_directory(tmp_path, trust)
    assert ("a.0.ecsl", StatusListReason.ROLLBACK) in [(path.name, error.code) for path, error in again.errors]
    assert [path.name for path in again.unchanged] == ["b.0.ecsl", "c.1.ecsl"]
    assert cache.get(SCOPE, 0).sequence == 4  # type: ignore[union-attr]


def test_load_directory_refuses_two_lists_under_one_sequence(tmp_path: Path, trust: TrustStore) -> None:
    (tmp_path / "a.ecsl").write_bytes(signed(build(10, {1: REVOKED}), sequence=3))
    (tmp_path / "b.ecsl").write_bytes(signed(build(10), sequence=3))
    report = StatusListCache().load_directory(tmp_path, trust)
    assert [p.name for p in report.loaded] == ["a.ecsl"]
    assert [(p.name, e.code) for p, e in report.errors] == [("b.ecsl", StatusListReason.SEQUENCE_REUSED)]


def test_error_carries_reason_sentence_and_detail(trust: TrustStore) -> None:
    error = refused(StatusListReason.UNKNOWN_KEY, lambda: load_status_list(signed(build(4), UNTRUSTED_KEY), trust))
    assert error.sentence == StatusListReason.UNKNOWN_KEY.sentence
    assert UNTRUSTED_KEY.public_key.kid.hex() in error.detail
    assert str(error).startswith("UNKNOWN_KEY: ")


# --- the worked example in docs/SPEC.md, section 10 ----------------------------------------------


def test_documented_example_loads_as_described() -> None:
    text = (ROOT / "docs" / "SPEC.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- example-file -->\s*```\n(.*?)```", text, re.S)
    assert block is not None
    data = bytes.fromhex("".join(re.findall(r"^([0-9a-f ]+?)(?:\s{2,}.*)?$", block.group(1), re.M)).replace(" ", ""))
    seed = bytes.fromhex(re.search(r"private key seed: `([0-9a-f]{64})`", text).group(1))  # type: ignore[union-attr]
    key = SigningKey(Algorithm.ED25519, ed25519.Ed25519PrivateKey.from_private_bytes(seed))
    loaded = load_status_list(data, TrustStore([entry(key)]))
    assert (loaded.issuer_ref, loaded.list_id, loaded.sequence, loaded.size) == (ISSUER_REF, 0, 1, 10)
    assert (loaded.issued_at, loaded.next_update) == (ISSUED, NEXT)
    assert [loaded.status(i) for i in range(10)] == [VALID, REVOKED, SUSPENDED] + [VALID] * 6 + [REVOKED]
    assert loaded.bitstring == bytes.fromhex("240004")
    assert key.public_key.kid.hex() == "14ff65a8eecca971"
    assert key.public_key.verify(data[-64:], STATUS_LIST_CONTEXT + data[:-66])
