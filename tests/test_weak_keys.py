"""Weak keys never enter (SPEC 6.1): small-order and non-canonical Ed25519 keys are refused on every path
into the system, although OpenSSL accepts a forged signature under them; P-256 keys must be on the curve.

The vectors 179-200 carry the forged presentations; this file checks each entry path one by one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from econsent import (
    Algorithm,
    ErrorCode,
    IssuerName,
    KeyLoadError,
    Policy,
    PublicKey,
    SigningKey,
    TrustedKey,
    TrustStore,
    TrustStoreError,
    VerificationError,
    Verifier,
    _envelope,
    cli,
)
from econsent.keys import ED25519_WEAK_ENCODINGS
from econsent.trust import TrustListError, TrustListProblem, TrustLists, sign_trust_list

P = 2**255 - 19
D = (-121665 * pow(121666, -1, P)) % P
L = 2**252 + 27742317777372353535851937790883648493
IDENTITY_SIGNATURE = (1).to_bytes(32, "little") + bytes(32)
SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
VECTORS = Path(__file__).parent / "vectors"


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P


def _times(k: int, point: tuple[int, int]) -> tuple[int, int]:
    total = (0, 1)
    while k:
        if k & 1:
            total = _add(total, point)
        point, k = _add(point, point), k >> 1
    return total


def _torsion() -> set[tuple[int, int]]:
    """The 8 small-order points, found another way than keys.py: [L]Q for a point Q with a torsion part."""
    for y in range(2, 100):
        x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
        x = pow(x2, (P + 3) // 8, P)
        if x * x % P != x2:
            x = x * pow(2, (P - 1) // 4, P) % P
        if x * x % P != x2:
            continue
        generator = _times(L, (x, y))
        if _times(4, generator) != (0, 1):
            return {_times(i, generator) for i in range(8)}
    raise AssertionError("no point with an order-8 torsion part")


def _encodings(point: tuple[int, int]) -> set[bytes]:
    """Every 32-byte string that decodes to ``point`` when y is taken mod p (canonical or not)."""
    x, y = point
    found = set()
    for y_encoded in (y, y + P):
        for sign in (0, 1):
            if y_encoded < 2**255 and (sign == x & 1 or x == 0):
                found.add((y_encoded | sign << 255).to_bytes(32, "little"))
    return found


def test_the_refused_set_is_every_encoding_of_the_8_small_order_points() -> None:
    torsion = _torsion()
    assert len(torsion) == 8
    assert all(_times(8, point) == (0, 1) for point in torsion)
    assert set(ED25519_WEAK_ENCODINGS) == set().union(*map(_encodings, torsion))
    assert len(ED25519_WEAK_ENCODINGS) == 14


@pytest.mark.parametrize("raw", sorted(ED25519_WEAK_ENCODINGS), ids=lambda raw: raw.hex()[:8] + raw.hex()[-2:])
def test_openssl_alone_accepts_a_forgery_under_each_small_order_key(raw: bytes) -> None:
    """R = identity, S = 0 verifies under every weak key for some message within 64 tries: the threat is real."""
    key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    accepted = 0
    for attempt in range(64):
        try:
            key.verify(IDENTITY_SIGNATURE, b"any message %d" % attempt)
            accepted += 1
        except InvalidSignature:
            pass
    assert accepted > 0


# --- each path a key can enter by ----------------------------------------------------------------------


@pytest.mark.parametrize("raw", sorted(ED25519_WEAK_ENCODINGS), ids=lambda raw: raw.hex()[:8] + raw.hex()[-2:])
def test_raw_small_order_key_is_refused(raw: bytes) -> None:
    with pytest.raises(KeyLoadError, match="small-order"):
        PublicKey.from_raw(Algorithm.ED25519, raw)


def weak_pem(raw: bytes = (1).to_bytes(32, "little")) -> str:
    der = base64.b64encode(SPKI_PREFIX + raw).decode("ascii")
    return f"-----BEGIN PUBLIC KEY-----\n{der}\n-----END PUBLIC KEY-----\n"


@pytest.mark.parametrize("raw", sorted(ED25519_WEAK_ENCODINGS), ids=lambda raw: raw.hex()[:8] + raw.hex()[-2:])
def test_pem_small_order_key_is_refused(raw: bytes) -> None:
    with pytest.raises(KeyLoadError, match="small-order"):
        PublicKey.from_pem(weak_pem(raw))


def test_non_canonical_y_is_refused_for_any_point_not_only_small_order_ones() -> None:
    beyond = (P + 5).to_bytes(32, "little")  # y = 5 + p: not small order, but not canonical
    assert beyond not in ED25519_WEAK_ENCODINGS
    with pytest.raises(KeyLoadError, match="canonical"):
        PublicKey.from_raw(Algorithm.ED25519, beyond)
    with pytest.raises(KeyLoadError, match="canonical"):
        PublicKey.from_pem(weak_pem(beyond))


def test_jwk_small_order_key_is_refused() -> None:
    x = base64.urlsafe_b64encode((1).to_bytes(32, "little")).rstrip(b"=").decode("ascii")
    with pytest.raises(KeyLoadError, match="small-order"):
        PublicKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": x})


def test_jwk_ed25519_key_off_the_curve_is_refused() -> None:
    raw = next(
        candidate
        for y in range(2, 200)
        if not PublicKey.from_raw(Algorithm.ED25519, candidate := y.to_bytes(32, "little")).is_on_curve()
    )
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    with pytest.raises(KeyLoadError, match="not a point of the curve"):
        PublicKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": x})


def certificate_for(raw: bytes) -> bytes:
    ca = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak issuer")])
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ed25519.Ed25519PublicKey.from_public_bytes(raw))
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(ca, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_certificate_with_a_small_order_key_is_refused() -> None:
    with pytest.raises(KeyLoadError, match="small-order"):
        PublicKey.from_certificate(certificate_for((1).to_bytes(32, "little")))


def genuine_store() -> TrustStore:
    key = SigningKey.generate("Ed25519").public_key
    return TrustStore(
        [
            TrustedKey(
                public_key=key,
                issuer=IssuerName("弱密钥签发机关", "Weak-key issuer"),
                credential_types=frozenset({"driving-licence"}),
                valid_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                valid_until=dt.datetime(2035, 1, 1, tzinfo=dt.UTC),
                issuer_id="weak-issuer",
            )
        ]
    )


def with_weak_key(document: dict[str, Any]) -> dict[str, Any]:
    """A trust store document whose one key entry holds the identity point instead of its genuine key."""
    entry = {**document["keys"][0], "public_key": weak_pem()}
    entry["kid"] = hashlib.sha256(SPKI_PREFIX + (1).to_bytes(32, "little")).digest()[:8].hex()
    return {**document, "keys": [entry]}


def test_trust_store_json_refuses_a_small_order_issuer_key() -> None:
    with pytest.raises(TrustStoreError, match="small-order"):
        TrustStore.from_json(with_weak_key(genuine_store().to_json()))


def test_signed_trust_list_carrying_a_small_order_key_is_refused_as_malformed() -> None:
    """An anchor-signed list (a compromised or careless list publisher) cannot slip a weak key in either."""
    anchor = SigningKey.generate("ES256")
    data = json.loads(sign_trust_list(genuine_store(), anchor, name="weak", sequence=1, issued_at=0, next_update=10**9))
    payload = json.loads(base64.urlsafe_b64decode(data["payload"] + "=" * (-len(data["payload"]) % 4)))
    payload["issuers"][0]["keys"] = with_weak_key(payload["issuers"][0])["keys"]
    payload_bytes = json.dumps(payload).encode()
    data["payload"] = base64.urlsafe_b64encode(payload_bytes).rstrip(b"=").decode()
    data["signature"] = base64.urlsafe_b64encode(_envelope.sign_trust_list(anchor, payload_bytes)).rstrip(b"=").decode()
    with pytest.raises(TrustListError) as caught:
        TrustLists([anchor.public_key]).update(json.dumps(data).encode())
    assert caught.value.code is TrustListProblem.MALFORMED
    assert "small-order" in caught.value.detail


def test_issue_command_refuses_a_small_order_holder_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    issuer = SigningKey.generate("ES256")
    (tmp_path / "issuer.pem").write_bytes(issuer.to_pem())
    (tmp_path / "weak.pub.pem").write_text(weak_pem())
    (tmp_path / "claims.json").write_text(
        json.dumps(
            {
                "credential_type": "driving-licence",
                "claims": {"family_name": "张"},
                "valid_from": "2026-01-01T00:00:00Z",
                "valid_until": "2027-01-01T00:00:00Z",
            }
        )
    )
    code = cli.main(
        [
            "issue", "--key", str(tmp_path / "issuer.pem"), "--claims", str(tmp_path / "claims.json"),
            "--holder-key", str(tmp_path / "weak.pub.pem"), "--holder-key-attested", "-o", str(tmp_path / "c.ecc"),
            "--now", "2026-01-01T00:00:00Z",
        ]
    )  # fmt: skip
    assert code == 2
    assert "small-order" in capsys.readouterr().err
    assert not (tmp_path / "c.ecc").exists()


def test_verifier_refuses_the_forged_identity_key_presentation_at_step_15() -> None:
    """Vector 179 (OpenSSL accepts its holder signature): MALFORMED, before any signature check."""
    vector = json.loads((VECTORS / "179-small-order-holder-key-order-1-010000.json").read_text(encoding="utf-8"))
    verifier = Verifier(TrustStore.from_json(vector["trust_store"]), Policy(audience=vector["policy"]["audience"]))
    with pytest.raises(VerificationError) as caught:
        verifier.verify(vector["layers"]["text"], now=vector["now"], nonce=bytes.fromhex(vector["nonce"]))
    assert caught.value.code is ErrorCode.MALFORMED
    assert "holder key" in caught.value.detail


# --- signatures and P-256 --------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [L, 0], ids=["S-plus-L", "S-equals-L-when-S-was-0"])
def test_ed25519_signature_with_s_at_or_above_the_group_order_is_refused(extra: int) -> None:
    key = SigningKey.generate("Ed25519")
    signature = key.sign(b"message")
    s = int.from_bytes(signature[32:], "little")
    forged = signature[:32] + ((s + L) if extra else L).to_bytes(32, "little")
    assert key.public_key.verify(signature, b"message")
    assert not key.public_key.verify(forged, b"message")


def test_p256_keys_must_be_points_of_the_curve_and_not_infinity() -> None:
    off_curve = next(
        b"\x02" + x.to_bytes(32, "big") for x in range(256) if _p256_refuses(b"\x02" + x.to_bytes(32, "big"))
    )
    with pytest.raises(KeyLoadError):
        PublicKey.from_raw(Algorithm.ES256, off_curve)
    with pytest.raises(KeyLoadError):
        PublicKey.from_raw(Algorithm.ES256, b"\x00")  # the SEC1 encoding of the point at infinity
    zero = base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode("ascii")
    with pytest.raises(KeyLoadError):
        PublicKey.from_jwk({"kty": "EC", "crv": "P-256", "x": zero, "y": zero})  # (0, 0): infinity in some libraries


def _p256_refuses(candidate: bytes) -> bool:
    try:
        PublicKey.from_raw(Algorithm.ES256, candidate)
    except KeyLoadError:
        return True
    return False


def test_generated_keys_are_never_refused() -> None:
    for algorithm in ("ES256", "Ed25519"):
        for _ in range(20):
            key = SigningKey.generate(algorithm).public_key
            assert PublicKey.from_raw(key.algorithm, key.raw) == key
            assert PublicKey.from_pem(key.to_pem()) == key
