"""The verifier's and issuer's fast path computes exactly what the plain definitions compute (issue 14).

Root plans against the node-by-node reference of ``_disclosure``, the hand-built DER of a raw ES256
signature against cryptography's encoder, the credential assembled from its packed parts against packing
the whole payload, and the bounds of the caches keyed by tree shape.
"""

from __future__ import annotations

import contextlib
import os
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from econsent import _disclosure, _wire
from econsent.errors import SchemaError
from econsent.keys import _P256_ORDER, _der_from_raw
from econsent.schema import DRIVING_LICENCE


def _reference_root(count: int, present: int, disclosed: int, seed: bytes, values: dict[int, bytes]) -> bytes:
    """The root as the holder's path computes it: node by node, from the covers' seeds and hashes."""
    depth = _disclosure.tree_depth(count)
    seeds, nodes = _disclosure.disclose(count, present, disclosed, seed, values)
    salts = _disclosure.leaf_salts(depth, seeds, disclosed)
    return _disclosure.node_hash(depth, _disclosure.ROOT, present, salts, values.__getitem__, nodes)


def test_root_plans_agree_with_the_node_by_node_tree_for_every_shape() -> None:
    rng = random.Random(14)
    for _ in range(400):
        count = rng.randint(1, 64)
        present = rng.getrandbits(count) or 1
        disclosed = present & rng.getrandbits(count)
        seed = rng.randbytes(16)
        values = {i: rng.randbytes(rng.randint(1, 40)) for i in _disclosure.bits(present)}
        depth = _disclosure.tree_depth(count)
        full = _disclosure.node_hash(
            depth, _disclosure.ROOT, present, _disclosure.leaf_salts(depth, {1: seed}, present), values.__getitem__, {}
        )
        assert _disclosure.commit(count, present, seed, values) == full
        seeds, nodes = _disclosure.disclose(count, present, disclosed, seed, values)
        assert _disclosure.check_disclosure(count, present, seeds, nodes, disclosed.bit_count()) == disclosed
        shown = [values[i] for i in _disclosure.bits(disclosed)]
        assert _disclosure.rebuild_root(count, present, seeds, nodes, shown) == full
        assert _reference_root(count, present, disclosed, seed, values) == full


def test_a_root_plan_refuses_a_present_claim_with_neither_salt_nor_hash() -> None:
    with pytest.raises(ValueError, match="neither a salt nor a known subtree hash"):
        _disclosure.rebuild_root(12, 0b11, {}, {}, [])


def test_the_shape_caches_stay_bounded_under_many_shapes() -> None:
    for present in range(1, 2000):
        _disclosure.commit(12, present & 0xFFF or 1, bytes(16), {i: b"\x01" for i in range(12)})
        with contextlib.suppress(ValueError):  # most of these shapes are not canonical: refusals are not kept
            _disclosure.check_disclosure(12, present & 0xFFF or 1, [1], [], 0)
    assert _disclosure._root_plan.cache_info().currsize <= 256
    assert _disclosure._checked_shape.cache_info().currsize <= 256


@pytest.mark.parametrize(
    ("r", "s"),
    [(1, 1), (_P256_ORDER - 1, _P256_ORDER - 1), (0x80, 0x7F), (2**255, 2**248 - 1), (2**247, 2**255 + 5)],
)
def test_raw_signatures_become_the_der_cryptography_would_write(r: int, s: int) -> None:
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert _der_from_raw(raw) == encode_dss_signature(r, s)


def test_random_raw_signatures_become_the_der_cryptography_would_write() -> None:
    for _ in range(2000):
        raw = os.urandom(64)
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        assert _der_from_raw(raw) == (
            encode_dss_signature(r, s) if 0 < r < _P256_ORDER and 0 < s < _P256_ORDER else None
        )


@pytest.mark.parametrize(("r", "s"), [(0, 1), (1, 0), (_P256_ORDER, 1), (1, _P256_ORDER), (2**256 - 1, 1)])
def test_raw_signatures_with_a_scalar_out_of_range_have_no_der_form(r: int, s: int) -> None:
    assert _der_from_raw(r.to_bytes(32, "big") + s.to_bytes(32, "big")) is None


def test_a_credential_assembled_from_its_packed_parts_is_the_packed_payload() -> None:
    header = _wire.WireHeader(1, bytes(8), 7, 1_700_000_000, 1_700_000_000, 1_800_000_000, 0b111, 1, bytes(33))
    values = ["张三".encode("gb18030"), "Li", ["C1", "D"]] + [True] * 14
    seed, signature = os.urandom(16), os.urandom(64)
    assembled = _wire.encode_credential(_wire.pack(header.to_wire()), [_wire.pack(v) for v in values], seed, signature)
    assert assembled == _wire.pack(_wire.encode_payload(header, values, {1: seed}, {}, signature))


def test_claims_decoded_by_type_name_the_claim_that_is_wrong() -> None:
    assert DRIVING_LICENCE.claims_from_wire([0, 3], ["Li", 20_000]) == {
        "family_name": "Li",
        "expiry_date": DRIVING_LICENCE.claims[3].from_wire(20_000),
    }
    with pytest.raises(SchemaError, match="'expiry_date'"):
        DRIVING_LICENCE.claims_from_wire([0, 3], ["Li", "tomorrow"])
