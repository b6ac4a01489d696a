"""Rules docs/SPEC.md (v1, revision 3) decided where revision 2 read two ways, at the layer that decides each.

The vectors 201-215 pin them through the whole verifier; these tests say which layer owns each rule, so a
refactoring that moves a check to another step fails here by name.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from econsent import (
    ErrorCode,
    IssuerName,
    SigningKey,
    TrustedKey,
    TrustStore,
    VerificationError,
    _wire,
)
from econsent.trust import TrustListError, TrustListProblem, read_trust_list, sign_trust_list

NOW = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
VECTORS = Path(__file__).parent / "vectors"


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {name: SigningKey.generate() for name in ("issuer", "anchor")}


def trusted(key: SigningKey, **changes: Any) -> TrustedKey:
    fields: dict[str, Any] = {
        "public_key": key.public_key,
        "issuer": IssuerName("上海市公安局交通警察总队", "Shanghai Traffic Police"),
        "credential_types": frozenset({"driving-licence"}),
        "valid_from": NOW - 400 * DAY,
        "valid_until": NOW + 400 * DAY,
        "issuer_id": "sh-traffic",
        **changes,
    }
    return TrustedKey(**fields)


def vector_payload(name: str) -> bytes:
    return bytes.fromhex(json.loads((VECTORS / name).read_text(encoding="utf-8"))["layers"]["payload_hex"])


# --- step 3d: shape rules belong to the codec, before any key is looked up --------------------------------


def test_codec_refuses_a_bearer_payload_carrying_a_holder_proof() -> None:
    with pytest.raises(VerificationError) as caught:
        _wire.decode_payload(vector_payload("081-bearer-with-holder-proof.json"))
    assert caught.value.code is ErrorCode.MALFORMED
    assert "bearer" in str(caught.value)


def test_codec_refuses_an_empty_validity_window() -> None:
    with pytest.raises(VerificationError) as caught:
        _wire.decode_payload(vector_payload("052-validity-window-empty.json"))
    assert caught.value.code is ErrorCode.MALFORMED
    assert "valid-from" in str(caught.value)


# --- SPEC 9.2: loading a trust list -----------------------------------------------------------------------


def signed_list(keys: dict[str, SigningKey]) -> dict[str, Any]:
    data = sign_trust_list(
        TrustStore([trusted(keys["issuer"])]),
        keys["anchor"],
        name="shanghai",
        sequence=1,
        issued_at=NOW - DAY,
        next_update=NOW + DAY,
    )
    document: dict[str, Any] = json.loads(data)
    return document


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.mark.parametrize("field", ["payload", "signature"])
def test_trust_list_base64url_with_unused_bits_set_is_malformed(keys: dict[str, SigningKey], field: str) -> None:
    document = signed_list(keys)
    text = document[field]
    unused_bits = {2: 4, 3: 2}[len(text) % 4]  # 1 or 2 trailing bytes: 4 or 2 bits of the last character unused
    last = ALPHABET.index(text[-1])
    assert last % (1 << unused_bits) == 0
    document[field] = text[:-1] + ALPHABET[last + 1]
    with pytest.raises(TrustListError) as caught:
        read_trust_list(json.dumps(document).encode(), [keys["anchor"].public_key])
    assert caught.value.code is TrustListProblem.MALFORMED
    assert "canonical" in caught.value.detail


def test_trust_list_signature_of_63_bytes_is_malformed_not_a_bad_signature(keys: dict[str, SigningKey]) -> None:
    document = signed_list(keys)
    document["signature"] = document["signature"][:84]  # 63 bytes
    with pytest.raises(TrustListError) as caught:
        read_trust_list(json.dumps(document).encode(), [keys["anchor"].public_key])
    assert caught.value.code is TrustListProblem.MALFORMED
    assert "63 bytes" in caught.value.detail


def test_trust_list_reasons_are_the_spec_table_in_order() -> None:
    """SPEC 9.2's table lists every reason a trust list can be refused with, TOO_LARGE first."""
    spec = (Path(__file__).parent.parent / "docs" / "SPEC.md").read_text(encoding="utf-8")
    section = spec.split("### 9.2 Loading a list", 1)[1]
    rows = [line for line in section.split("\n\n", 3)[2].splitlines() if line.startswith("|")][2:]
    reasons = [row.rsplit("`", 2)[-2] for row in rows]
    assert reasons[0] == TrustListProblem.TOO_LARGE.value
    assert set(reasons) == {problem.value for problem in TrustListProblem}
