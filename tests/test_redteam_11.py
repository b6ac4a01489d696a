"""Red-team review of issue 11's fixes (weak keys, proof of possession, authority, wallet identity).

Each test is one attack the fixes' own tests did not cover; each was reproduced against the code of
b40a0ca in a scratch script before the fix (what it did then is in the test's docstring). Tests marked
"OPEN" show a defect in a module another engineer owns (status.py): they fail until the lead fixes it.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID
from testkeys import ed25519_test_key, es256_test_key

from econsent import (
    ATTESTED_OUT_OF_BAND,
    Algorithm,
    ErrorCode,
    FileStorage,
    IssueError,
    Issuer,
    IssuerName,
    KeyLoadError,
    PublicKey,
    SigningKey,
    StatusReference,
    TrustedKey,
    TrustStore,
    VerificationError,
    Verifier,
    Wallet,
    WalletError,
    _vault,
    present,
)
from econsent._vault import ScryptParams
from econsent.errors import WalletErrorCode
from econsent.possession import PossessionError, PossessionProblem, prove_possession
from econsent.status import CredentialStatus, StatusListBuilder, StatusListCache, load_status_list
from econsent.trust import KeyStatus

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
IDENTITY = (1).to_bytes(32, "little")  # the Ed25519 identity point: OpenSSL accepts R = identity, S = 0 under it
IDENTITY_SIGNATURE = IDENTITY + bytes(32)
LICENCE = {"family_name": "张", "given_name": "伟", "vehicle_classes": ["C1"], "expiry_date": dt.date(2029, 1, 15)}
TRAFFIC = IssuerName("上海市公安局交通警察总队", "Shanghai Traffic Police")


# --- weak keys: entry paths the fix's tests did not try ------------------------------------------------


def test_an_ed25519_key_object_passed_as_es256_is_refused_not_trusted_unchecked() -> None:
    """Before: PublicKey(ES256, <identity-point Ed25519 key>) skipped the weak-key check (it ran only for
    ED25519) yet verified as Ed25519, so the forged R = identity, S = 0 verified for any message."""
    identity = ed25519.Ed25519PublicKey.from_public_bytes(IDENTITY)
    with pytest.raises(KeyLoadError, match="not an ES256 key"):
        PublicKey(Algorithm.ES256, identity)


def test_a_p256_key_object_passed_as_ed25519_is_refused() -> None:
    """Before: accepted, a key whose algorithm says one thing and whose verification does another."""
    with pytest.raises(KeyLoadError, match="not an Ed25519 key"):
        PublicKey(Algorithm.ED25519, es256_test_key("red team: p256").public_key._key)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def test_a_certificate_forged_under_a_small_order_ca_key_is_refused() -> None:
    """Before: a CA certificate carrying the identity key (its own signature is never checked) made
    ``from_certificate(..., ca=...)`` accept a leaf whose signature is R = identity, S = 0: no private key."""
    signer = ed25519_test_key("red team: any key signs the CA certificate itself")._key
    assert isinstance(signer, ed25519.Ed25519PrivateKey)
    window = {"not_valid_before": NOW - DAY, "not_valid_after": NOW + 365 * DAY}
    ca = (
        x509.CertificateBuilder(**window)
        .subject_name(_name("weak CA"))
        .issuer_name(_name("weak CA"))
        .public_key(ed25519.Ed25519PublicKey.from_public_bytes(IDENTITY))
        .serial_number(1)
        .sign(signer, None)
    )
    leaf = (
        x509.CertificateBuilder(**window)
        .subject_name(_name("rogue issuer"))
        .issuer_name(_name("weak CA"))
        .public_key(es256_test_key("red team: rogue issuer").public_key._key)
        .serial_number(2)
        .sign(signer, None)
    )
    forged = leaf.public_bytes(serialization.Encoding.DER)[:-64] + IDENTITY_SIGNATURE
    assert x509.load_der_x509_certificate(forged).signature == IDENTITY_SIGNATURE
    with pytest.raises(KeyLoadError, match="CA certificate's key is refused"):
        PublicKey.from_certificate(forged, ca=ca.public_bytes(serialization.Encoding.PEM), at=NOW)


def _jwk_x(key: PublicKey) -> str:
    return base64.urlsafe_b64encode(key.raw).rstrip(b"=").decode("ascii")


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(lambda x: x[:-1] + chr(ord(x[-1]) + 1), id="trailing-bits-set"),
        pytest.param(lambda x: x.replace("-", "+").replace("_", "/"), id="standard-alphabet"),
        pytest.param(lambda x: x[:10] + "!!!!" + x[10:], id="stray-characters"),
        pytest.param(lambda x: x[:10] + "\n\t !" + x[10:], id="whitespace"),
    ],
)
def test_a_jwk_key_has_exactly_one_spelling(spelling: Callable[[str], str]) -> None:
    """Before: the lenient decoder skipped stray characters, read ``+``/``/`` as ``-``/``_`` and ignored set
    trailing bits, so each of these spellings of ``x`` loaded the same key (not strict parsing: a thumbprint
    or an allow-list keyed on the JWK text no longer names one key)."""
    key = ed25519_test_key("red team: jwk").public_key
    assert "-" in _jwk_x(key) and spelling(_jwk_x(key)) != _jwk_x(key)
    assert PublicKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": _jwk_x(key)}) == key
    with pytest.raises(KeyLoadError, match="base64url"):
        PublicKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": spelling(_jwk_x(key))})


def test_a_jwk_declaring_another_algorithm_than_its_key_type_is_refused() -> None:
    """Before: an EC P-256 JWK with ``"alg": "ES384"`` (or an OKP one with ``"alg": "ES256"``) loaded silently."""
    key = ed25519_test_key("red team: jwk alg").public_key
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": _jwk_x(key)}
    assert PublicKey.from_jwk({**jwk, "alg": "EdDSA"}) == key
    with pytest.raises(KeyLoadError, match="cannot declare alg 'ES256'"):
        PublicKey.from_jwk({**jwk, "alg": "ES256"})


# --- proof of possession: what a caller passes is checked, with typed errors ----------------------------


@pytest.fixture
def issuer() -> Issuer:
    return Issuer(es256_test_key("red team: issuer"))


def _issue(issuer: Issuer, **options: Any) -> None:
    issuer.issue("driving-licence", LICENCE, valid_from=NOW - DAY, valid_until=NOW + 300 * DAY, now=NOW, **options)


@pytest.mark.parametrize(
    "possession",
    ["attested-out-of-band", True, {"format": "econsent-possession"}],
    ids=["the-attestation-as-text", "a-bool", "the-proof-as-json"],
)
def test_a_possession_that_is_neither_a_proof_nor_an_attestation_is_a_typed_refusal(
    issuer: Issuer, possession: object
) -> None:
    """Before: ``AttributeError`` ('bool' object has no attribute 'challenge') escaped from Issuer.issue."""
    holder = ed25519_test_key("red team: holder")
    with pytest.raises(PossessionError) as caught:
        _issue(issuer, holder_key=holder.public_key, possession=possession, challenge=issuer.new_challenge())
    assert caught.value.code is PossessionProblem.MALFORMED


def test_a_holder_key_given_as_bytes_is_a_typed_refusal(issuer: Issuer) -> None:
    """Before: ``AttributeError`` ('bytes' object has no attribute 'is_on_curve') escaped from Issuer.issue."""
    holder = ed25519_test_key("red team: holder")
    challenge = issuer.new_challenge()
    proof = prove_possession(holder, challenge, issuer_kid=issuer.kid)
    with pytest.raises(IssueError, match="holder_key must be a PublicKey"):
        _issue(issuer, holder_key=holder.public_key.raw, possession=proof, challenge=challenge)


# --- wallet ---------------------------------------------------------------------------------------------


def test_a_wallet_file_at_the_last_generation_refuses_a_write_with_a_typed_error(tmp_path: Path) -> None:
    """Before: a file at generation 2**64 - 1 (only other software writes one) opened, and the next change
    raised a bare ``ValueError`` from the header packer instead of a WalletError."""
    path = tmp_path / "wallet.ecw"
    cheap = ScryptParams(log2_n=10, r=8, p=1)
    wallet = Wallet.create(FileStorage(path), "pass", kdf=cheap)
    data = path.read_bytes()
    header = _vault.read_header(data)
    key = _vault.derive_key("pass", header.params, header.salt)
    body = _vault.unseal(data, header, key)
    path.write_bytes(
        _vault.seal(body, key, _vault.VaultKind.WALLET, wallet_id=header.wallet_id or b"", generation=2**64 - 1)
    )
    last = Wallet.open(FileStorage(path), "pass", expected_id=wallet.wallet_id)
    assert last.generation == 2**64 - 1
    with pytest.raises(WalletError) as caught:
        last.new_holder_key()
    assert caught.value.code is WalletErrorCode.LIMITS_EXCEEDED
    assert path.read_bytes() == Wallet.open(FileStorage(path), "pass")._data  # nothing written


# --- OPEN: econsent/status.py (owned by another engineer; not fixed here) -------------------------------


def _status_list(key: SigningKey, *, revoked: tuple[int, ...] = (), sequence: int) -> bytes:
    builder = StatusListBuilder(8)
    builder.set_many(list(revoked), CredentialStatus.REVOKED)
    return builder.sign(
        key, issuer_ref="traffic", list_id=0, sequence=sequence, issued_at=NOW - DAY, next_update=NOW + DAY
    )


def _traffic_key(key: SigningKey, **changes: object) -> TrustedKey:
    fields: dict[str, object] = {
        "public_key": key.public_key,
        "issuer": TRAFFIC,
        "credential_types": frozenset({"driving-licence"}),
        "valid_from": NOW - 365 * DAY,
        "valid_until": NOW + 365 * DAY,
        "issuer_id": "traffic",
        **changes,
    }
    return TrustedKey(**fields)  # type: ignore[arg-type]


def test_a_list_from_a_key_later_found_compromised_does_not_block_the_issuers_next_list() -> None:
    """An attacker who stole the issuer's status key K2 publishes list 0 with sequence 1,000,000 and every
    entry valid; a counter loads it while K2 is still trusted. The issuer marks K2 compromised and publishes
    list 0 #2 with its new key K3, revoking slot 0. Before the fix ``cache.add`` refused #2 as ROLLBACK
    against the attacker's list, which the verifier then ignored (compromised signer): slot 0 stayed
    STATUS_UNKNOWN for as long as the process ran (VALID under ``unknown_status=warn``). Succession is now
    judged only against held lists that still count under the trust store the new list was verified with."""
    licence_key, stolen, new = (
        es256_test_key("red team: licence key"),
        es256_test_key("red team: stolen"),
        es256_test_key("red team: k3"),
    )
    holder = es256_test_key("red team: holder p256")
    credential = Issuer(licence_key).issue(
        "driving-licence",
        LICENCE,
        holder_key=holder.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=NOW - 30 * DAY,
        valid_until=NOW + 300 * DAY,
        now=NOW - DAY,
        status=StatusReference(0, 0),
    )
    before = TrustStore([_traffic_key(licence_key), _traffic_key(stolen), _traffic_key(new)])
    cache = StatusListCache()
    cache.add(load_status_list(_status_list(stolen, sequence=1_000_000), before))
    after = TrustStore(
        [
            _traffic_key(licence_key),
            _traffic_key(stolen, status=KeyStatus.COMPROMISED, status_since=NOW - 2 * DAY),
            _traffic_key(new),
        ]
    )
    cache.add(load_status_list(_status_list(new, revoked=(0,), sequence=2), after))
    with pytest.raises(VerificationError) as caught:
        Verifier(after, status_lists=cache).verify(present(credential, holder, now=NOW), now=NOW)
    assert caught.value.code is ErrorCode.REVOKED
