"""Every test vector of tests/vectors/ (docs/SPEC.md, "Test vectors") through the public API.

Each file runs through the reference verifier (``vectors/reference_verifier.py``, the public API) and is
compared with ``vectors/run_conformance.py``: the same checker the generator runs before it writes a file. Positive
vectors are also checked layer by layer without econsent's verify path: the root is rebuilt from the
payload as SPEC section 4 says, and both signatures are checked with plain ``cryptography`` over the
published signed bytes (SM2, which ``cryptography`` lacks, through econsent's keys, whose SM2 arithmetic
test_sm2.py checks against the standard's vectors; SM3 is econsent's ``sm3``). Self-contained: no
fixtures from conftest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from econsent import (
    BUILTIN_TYPES,
    Algorithm,
    ErrorCode,
    KeyLoadError,
    PublicKey,
    SigningKey,
    TrustStore,
    TrustStoreError,
)
from econsent.keys import sm3

VECTOR_DIR = Path(__file__).parent / "vectors"
sys.path.insert(0, str(VECTOR_DIR))
import reference_verifier  # noqa: E402  (the reference verifier command and the runner live beside the vectors)
import run_conformance  # noqa: E402

FILES = sorted(VECTOR_DIR.glob("[0-9][0-9][0-9]-*.json"))
VECTORS = {path.name: json.loads(path.read_text(encoding="utf-8")) for path in FILES}
POSSESSION_FILES = sorted((VECTOR_DIR / "possession").glob("[0-9][0-9]-*.json"))
POSSESSION_VECTORS = {path.name: json.loads(path.read_text(encoding="utf-8")) for path in POSSESSION_FILES}
STAGES = ("text", "payload", "issuer_signature", "validity", "holder_signature", "freshness", "policy")

# The constants of SPEC sections 3.3, 3.4 and 4, written out here rather than imported from econsent.
CREDENTIAL_CONTEXT = b"econsent/v1 credential\x00"
PRESENTATION_CONTEXT = b"econsent/v1 presentation\x00"
POSSESSION_CONTEXT = b"econsent/v1 possession\x00"
HOLDER_ALGORITHM_IDS = {"ES256": 1, "Ed25519": 2, "SM2": 3}
SEED_TAG = b"econsent/v1 seed\x00"
LEAF_TAG = b"econsent/v1 leaf\x00"
NODE_TAG = b"econsent/v1 node\x00"
HOLDER_SIGNATURE_FIELD = 66


def named(kind: str) -> list[str]:
    return [name for name, vector in VECTORS.items() if kind_of(vector) == kind]


def kind_of(vector: dict[str, Any]) -> str:
    if vector["type"] == "replay":
        return "replay"
    return "positive" if vector["expected"]["result"] == "valid" else "negative"


@pytest.mark.parametrize("name", list(VECTORS))
def test_vector_result(name: str) -> None:
    """The one checker the generator also runs: the reference verifier's outcome against ``expected``
    (results, the failing stage, claims and withheld names, the verdict on every offered list)."""
    vector = VECTORS[name]
    actual = reference_verifier.run_credential_vector(vector)
    assert run_conformance.differences(run_conformance.expected_outcome(vector), actual) == []


@pytest.mark.parametrize("name", list(VECTORS))
def test_stage_expectations_are_consistent(name: str) -> None:
    vector = VECTORS[name]
    expected = vector["expected"]
    per_text = expected["stages"] if vector["type"] == "replay" else [expected]
    results = expected["results"] if vector["type"] == "replay" else [expected["result"]]
    for stages, result in zip(per_text, results, strict=True):
        states = [stages[stage] for stage in STAGES]
        assert set(states) <= {"ok", "fail", "skipped"}
        if result == "valid":
            assert "fail" not in states
        else:
            assert states.count("fail") == 1
            assert set(states[states.index("fail") + 1 :]) <= {"skipped"}


# ------------------------------------------------------------------------------ independent layer checks


def payload_from_text(text: str) -> bytes:
    assert text.startswith("EC1:")
    number = int(text[4:])
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    assert raw[0] == 0x01
    return raw[1:]


def read_fields(payload: bytes) -> tuple[list[Any], list[bytes]]:
    """The payload's top-level fields, and the exact bytes of the header and of each claim value."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(payload)
    count = unpacker.read_array_header()
    start = unpacker.tell()
    header = unpacker.unpack()
    spans = [payload[start : unpacker.tell()]]
    values = []
    for _ in range(unpacker.read_array_header()):
        start = unpacker.tell()
        values.append(unpacker.unpack())
        spans.append(payload[start : unpacker.tell()])
    rest = [unpacker.unpack() for _ in range(count - 2)]
    assert unpacker.tell() == len(payload)
    return [header, values, *rest], spans


def h16(data: bytes, suite: str = "SHA-2") -> bytes:
    return (sm3(data) if suite == "SM3" else hashlib.sha256(data).digest())[:16]


def expand(data: bytes, suite: str) -> bytes:
    """SPEC 4: a seed's 64 bytes for its children (SHA-512, or two SM3 blocks with a counter byte)."""
    return sm3(data + b"\x00") + sm3(data + b"\x01") if suite == "SM3" else hashlib.sha512(data).digest()


def spec_root(
    present: int,
    value_bytes: list[bytes],
    seeds: dict[int, bytes],
    nodes: dict[int, bytes],
    n: int,
    suite: str = "SHA-2",
) -> bytes:
    """The disclosure tree's root, rebuilt as SPEC section 4 describes, in the issuer key's hash suite."""
    depth = 1
    while 4**depth < n:
        depth += 1
    salts: dict[int, bytes] = {}
    for node, seed in seeds.items():
        level = 0
        while 4 ** (level + 1) <= node:
            level += 1
        frontier = {node - 4**level: seed}
        for _ in range(level, depth):
            frontier = {
                4 * x + j: expand(SEED_TAG + s, suite)[16 * j : 16 * j + 16]
                for x, s in frontier.items()
                for j in range(4)
            }
        salts.update(frontier)
    disclosed = [leaf for leaf in sorted(salts) if present >> leaf & 1]
    assert len(disclosed) == len(value_bytes)
    values = dict(zip(disclosed, value_bytes, strict=True))

    def node_hash(level: int, x: int) -> bytes:
        if 4**level + x in nodes:
            return nodes[4**level + x]
        if level == depth:
            return h16(LEAF_TAG + salts[x] + bytes((x,)) + values[x], suite) if present >> x & 1 else bytes(16)
        return h16(NODE_TAG + b"".join(node_hash(level + 1, 4 * x + j) for j in range(4)), suite)

    return node_hash(0, 0)


def verify_raw(
    algorithm: str, public_key: Any, signature: bytes, message: bytes, sm2_user_id: bytes | None = None
) -> None:
    """Raises InvalidSignature unless ``signature`` (raw r || s for ES256) signs ``message``."""
    assert len(signature) == 64
    if algorithm == "SM2":
        if not public_key.verify(signature, message, sm2_user_id=sm2_user_id):
            raise InvalidSignature
    elif algorithm == "ES256":
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    else:
        public_key.verify(signature, message)


def holder_public_key(holder: bytes) -> tuple[str, Any]:
    if holder[0] == 1:
        return "ES256", ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), holder[1:])
    if holder[0] == 3:
        return "SM2", PublicKey.from_raw(Algorithm.SM2, holder[1:])
    assert holder[0] == 2
    return "Ed25519", ed25519.Ed25519PublicKey.from_public_bytes(holder[1:])


HEADER_NAMES = ("type_id", "kid", "serial", "issued_at", "valid_from", "valid_until", "present", "holder", "status")


@pytest.mark.parametrize("name", named("positive"))
def test_positive_layers(name: str) -> None:
    vector = VECTORS[name]
    layers = vector["layers"]
    payload = payload_from_text(layers["text"])
    assert payload.hex() == layers["payload_hex"]
    fields, spans = read_fields(payload)
    header, _, seeds, nodes, issuer_signature = fields[:5]
    header_bytes, value_bytes = spans[0], spans[1:]

    decoded = dict(zip(HEADER_NAMES, header, strict=True))
    decoded["kid"] = decoded["kid"].hex()
    decoded["holder"] = None if decoded["holder"] is None else decoded["holder"].hex()
    assert decoded == layers["header"]

    types = reference_verifier.build_types(vector.get("types", []))
    ctype = types.by_id(header[0])
    assert ctype is not None
    entry = next(k for k in vector["trust_store"]["keys"] if k["kid"] == header[1].hex())
    suite = "SM3" if entry["algorithm"] == "SM2" else "SHA-2"  # the issuer key's, from the trust store
    root = spec_root(header[6], value_bytes, seeds, nodes, len(ctype.claims), suite)
    assert root.hex() == layers["root_hex"]
    issuer_signed = CREDENTIAL_CONTEXT + header_bytes + root
    assert issuer_signed.hex() == layers["issuer_signed_hex"]

    if entry["algorithm"] == "SM2":
        issuer_key: Any = PublicKey.from_pem(entry["public_key"])
        user_id = bytes.fromhex(entry["sm2_user_id"]) if "sm2_user_id" in entry else None
        verify_raw("SM2", issuer_key, issuer_signature, issuer_signed, user_id)
    else:
        issuer_key = serialization.load_pem_public_key(entry["public_key"].encode("ascii"))
        verify_raw(entry["algorithm"], issuer_key, issuer_signature, issuer_signed)

    if len(fields) == 5:
        assert header[7] is None
        assert "holder_signed_hex" not in layers
        return
    assert len(fields) == 9
    holder_signed = PRESENTATION_CONTEXT + payload[:-HOLDER_SIGNATURE_FIELD]
    assert holder_signed.hex() == layers["holder_signed_hex"]
    algorithm, holder_key = holder_public_key(header[7])
    verify_raw(algorithm, holder_key, fields[8], holder_signed)


REPLAY_CONTEXT = b"econsent/v1 replay\x00"
PRESENTATION_VECTORS = [name for name, v in VECTORS.items() if "holder_signed_hex" in v["layers"]]


@pytest.mark.parametrize("name", PRESENTATION_VECTORS)
def test_replay_fingerprint_is_sha256_of_context_and_holder_signed_bytes(name: str) -> None:
    """SPEC 7.4, byte for byte: the holder-signed bytes without the presentation context, after the replay context."""
    layers = VECTORS[name]["layers"]
    signed = bytes.fromhex(layers["holder_signed_hex"])
    assert signed.startswith(PRESENTATION_CONTEXT)
    kid = read_fields(payload_from_text(layers.get("text") or layers["texts"][0]))[0][0][1].hex()
    issuer = next(k for k in VECTORS[name]["trust_store"]["keys"] if k["kid"] == kid)
    data = REPLAY_CONTEXT + signed[len(PRESENTATION_CONTEXT) :]
    expected = (sm3(data) if issuer["algorithm"] == "SM2" else hashlib.sha256(data).digest()).hex()
    assert layers["replay_fingerprint_hex"] == expected


def test_every_presentation_vector_publishes_its_replay_fingerprint() -> None:
    assert len(PRESENTATION_VECTORS) >= 20
    assert all("replay_fingerprint_hex" in VECTORS[name]["layers"] for name in PRESENTATION_VECTORS)


TEST_KEYS = {name: key for vector in VECTORS.values() for name, key in vector["test_keys"].items()}
P256_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")  # id-ecPublicKey, prime256v1
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")  # RFC 8410
SM2_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")  # id-ecPublicKey, sm2p256v1


def _pem_der(pem: bytes) -> bytes:
    return base64.b64decode(b"".join(pem.splitlines()[1:-1]))


@pytest.mark.parametrize("name", sorted(TEST_KEYS))
def test_kid_is_sha256_of_the_named_curve_uncompressed_spki(name: str) -> None:
    """SPEC 6: the one SPKI a kid is computed over, rebuilt from the raw key without a DER library."""
    entry = TEST_KEYS[name]
    spki = bytes.fromhex(entry["spki_der_hex"])
    raw = bytes.fromhex(entry["public_raw_hex"])
    if entry["algorithm"] == "SM2":  # SM3 over the same SPKI form, on the curve sm2p256v1
        assert sm3(spki)[:8].hex() == entry["kid"]
        key = PublicKey.from_raw(Algorithm.SM2, raw)
        assert spki == SM2_SPKI_PREFIX + _pem_der(key.to_pem())[-65:]
        assert spki[-65] == 4 and spki[-64:-32] == raw[1:]
        return
    assert hashlib.sha256(spki).digest()[:8].hex() == entry["kid"]
    if entry["algorithm"] == "Ed25519":
        assert spki == ED25519_SPKI_PREFIX + raw
        return
    point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    uncompressed = point.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert spki == P256_SPKI_PREFIX + uncompressed
    library_spki = point.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert library_spki == spki  # what a DER library writes by default is this form too


def test_a_kid_over_another_encoding_of_the_same_key_is_refused() -> None:
    """The compressed-point SPKI is valid DER for the same key but gives another kid: a trust store refuses it."""
    document = VECTORS["001-driving-licence-full.json"]["trust_store"]
    entry = next(k for k in document["keys"] if k["algorithm"] == "ES256")
    raw = bytes.fromhex(TEST_KEYS["issuer-es256"]["public_raw_hex"])
    compressed_spki = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200") + raw
    serialization.load_der_public_key(compressed_spki)  # the same key, another DER
    other_kid = hashlib.sha256(compressed_spki).digest()[:8].hex()
    assert other_kid != entry["kid"]
    with pytest.raises(TrustStoreError, match="does not match"):
        TrustStore.from_json({**document, "keys": [{**entry, "kid": other_kid}]})


def test_replay_vector_is_one_presentation_signed_twice() -> None:
    layers = VECTORS["023-replayed.json"]["layers"]
    first, second = (payload_from_text(text) for text in layers["texts"])
    assert first != second
    assert first[:-64] == second[:-64]
    assert (PRESENTATION_CONTEXT + first[:-HOLDER_SIGNATURE_FIELD]).hex() == layers["holder_signed_hex"]


def test_absent_subtree_hashes_match_spec() -> None:
    """The constants SPEC section 4 publishes, so the root rebuilt above follows the same rule."""
    absent = bytes(16)
    published = []
    for _ in range(3):
        absent = h16(NODE_TAG + absent * 4)
        published.append(absent.hex())
    assert published == [
        "c9a01dd48cb3656f919903bae6410a3e",
        "1ddeb100df2309c6704d9314eb4d6cdd",
        "cf59994aad1d22fdff09bc45f2096746",
    ]


# ----------------------------------------------------------------------- small-order keys (SPEC 6.1)


WEAK_KEY_VECTORS = [name for name, vector in VECTORS.items() if "weak_key" in vector]


@pytest.mark.parametrize("name", WEAK_KEY_VECTORS)
def test_weak_key_forgery_passes_openssl_over_the_bytes_the_text_carries(name: str) -> None:
    """The forged signature is one OpenSSL accepts (so the refusal is ours), over exactly what the code signs."""
    vector = VECTORS[name]
    weak = vector["weak_key"]
    signed, signature = bytes.fromhex(weak["signed_hex"]), bytes.fromhex(weak["signature_hex"])
    ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(weak["raw_hex"])).verify(signature, signed)
    payload = bytes.fromhex(vector["layers"]["payload_hex"])
    fields, spans = read_fields(payload)
    if weak["role"] == "holder":
        assert fields[0][7] == b"\x02" + bytes.fromhex(weak["raw_hex"])
        assert signed == PRESENTATION_CONTEXT + payload[:-HOLDER_SIGNATURE_FIELD]
        assert fields[8] == signature
    else:
        header = fields[0]
        assert header[1].hex() == weak["kid"]
        n_claims = len(BUILTIN_TYPES.by_id(header[0]).claims)  # type: ignore[union-attr]
        root = spec_root(header[6], spans[1:], fields[2], fields[3], n_claims)
        assert signed == CREDENTIAL_CONTEXT + spans[0] + root
        assert fields[4] == signature


@pytest.mark.parametrize("name", WEAK_KEY_VECTORS)
def test_weak_key_is_refused_wherever_it_would_enter(name: str) -> None:
    weak = VECTORS[name]["weak_key"]
    with pytest.raises(KeyLoadError):
        PublicKey.from_raw(Algorithm.ED25519, bytes.fromhex(weak["raw_hex"]))
    with pytest.raises(KeyLoadError):
        PublicKey.from_pem(weak["pem"])
    document = VECTORS[name]["trust_store"]
    entry = {**document["keys"][0], "kid": weak["kid"], "algorithm": "Ed25519", "public_key": weak["pem"]}
    with pytest.raises(TrustStoreError, match="small-order"):
        TrustStore.from_json({**document, "keys": [entry]})


def test_weak_key_vectors_cover_every_small_order_point_as_holder_and_issuer() -> None:
    by_role: dict[str, set[tuple[int, bool, str]]] = {"holder": set(), "issuer": set()}
    for name in WEAK_KEY_VECTORS:
        weak = VECTORS[name]["weak_key"]
        by_role[weak["role"]].add((weak["order"], weak["canonical"], weak["raw_hex"]))
    canonical = {entry for entry in by_role["holder"] if entry[1]}
    assert len(canonical) == 8 and sorted(order for order, _, _ in canonical) == [1, 2, 4, 4, 8, 8, 8, 8]
    assert {entry for entry in by_role["issuer"]} == canonical
    assert len(by_role["holder"] - canonical) == 6  # y >= p, and the sign bit on x = 0


# ------------------------------------------------------------------ proofs of possession (SPEC 6.2)


@pytest.mark.parametrize("name", list(POSSESSION_VECTORS))
def test_possession_vector_result(name: str) -> None:
    vector = POSSESSION_VECTORS[name]
    actual = reference_verifier.run_possession_vector(vector)
    assert run_conformance.differences(run_conformance.expected_outcome(vector), actual) == []


@pytest.mark.parametrize("name", [n for n, v in POSSESSION_VECTORS.items() if v["expected"]["result"] == "valid"])
def test_valid_possession_layers(name: str) -> None:
    """The signed bytes rebuilt as SPEC 6.2 says, and the signature checked with plain cryptography."""
    vector = POSSESSION_VECTORS[name]
    holder = vector["holder_key"]
    raw = bytes.fromhex(holder["raw_hex"])
    challenge = bytes.fromhex(vector["challenge_hex"])
    signed = (
        POSSESSION_CONTEXT
        + bytes.fromhex(vector["issuer_kid"])
        + bytes((HOLDER_ALGORITHM_IDS[holder["algorithm"]],))
        + raw
        + challenge
    )
    assert signed.hex() == vector["signed_hex"]
    assert vector["proof"]["challenge"] == challenge.hex()
    algorithm, key = holder_public_key(bytes((HOLDER_ALGORITHM_IDS[holder["algorithm"]],)) + raw)
    verify_raw(algorithm, key, bytes.fromhex(vector["proof"]["signature"]), signed)


@pytest.mark.parametrize("name", [n for n, v in POSSESSION_VECTORS.items() if v["expected"]["result"] != "valid"])
def test_refused_possession_signature_is_genuine_over_other_bytes(name: str) -> None:
    """Each refused proof is a real signature by some key over the published bytes: only the binding is wrong."""
    vector = POSSESSION_VECTORS[name]
    signature = bytes.fromhex(vector["proof"]["signature"])
    signed = bytes.fromhex(vector["signed_hex"])
    signers = [k for k in vector["test_keys"].values() if k["kid"] != vector["issuer_kid"]]
    verified = []
    for signer in signers:
        public = SigningKey.from_pem(signer["private_pem"]).public_key
        algorithm, key = holder_public_key(bytes((HOLDER_ALGORITHM_IDS[signer["algorithm"]],)) + public.raw)
        try:
            verify_raw(algorithm, key, signature, signed)
            verified.append(signer["kid"])
        except InvalidSignature:
            pass
    assert len(verified) == 1


def test_possession_vectors_cover_each_binding() -> None:
    results = [vector["expected"]["result"] for vector in POSSESSION_VECTORS.values()]
    assert results.count("valid") == 2
    assert {"BAD_SIGNATURE", "CHALLENGE_MISMATCH", "MALFORMED"} <= set(results)


# --------------------------------------------------------------------------------------------- coverage


def test_vectors_cover_every_error_code() -> None:
    """Every code of SPEC section 7 has a vector, except NO_QR_CODE (it needs an image, not a text) and
    FORMAT_NOT_SET_UP (it depends on the counter's set-up, not on the code)."""
    covered: set[str] = set()
    for vector in VECTORS.values():
        expected = vector["expected"]
        covered.update(expected["results"] if vector["type"] == "replay" else [expected["result"]])
    covered.discard("valid")
    assert covered == {code.value for code in ErrorCode} - {
        ErrorCode.NO_QR_CODE.value,
        ErrorCode.FORMAT_NOT_SET_UP.value,
    }


def test_there_are_at_least_40_vectors() -> None:
    assert len(FILES) >= 40
    assert [json.loads(path.read_text(encoding="utf-8"))["name"] for path in FILES] == [
        path.stem.split("-", 1)[1] for path in FILES
    ]
