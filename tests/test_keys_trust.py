"""Keys (PEM loading and saving, raw keys, key ids, the Signer interface and what a broken signer gets)
and the trust store file (round trip, and every way a document is refused)."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from econsent import (
    ATTESTED_OUT_OF_BAND,
    Algorithm,
    Credential,
    IssueError,
    Issuer,
    IssuerName,
    KeyLoadError,
    PublicKey,
    Signer,
    SignerError,
    SigningKey,
    TrustedKey,
    TrustStore,
    TrustStoreError,
    Verifier,
    present,
    raw_signature_from_der,
)

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519_P = 2**255 - 19
ED25519_D = (-121665 * pow(121666, -1, ED25519_P)) % ED25519_P
ALGORITHMS = [Algorithm.ES256, Algorithm.ED25519]


def _pem(private: Any, passphrase: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)  # type: ignore[no-any-return]


def _public_pem(private: Any) -> bytes:
    return private.public_key().public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- PEM ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("passphrase", [None, "correct horse 电池", b"\x00binary\xff"], ids=["plain", "str", "bytes"])
def test_pem_round_trip(algorithm: Algorithm, passphrase: str | bytes | None) -> None:
    key = SigningKey.generate(algorithm)
    pem = key.to_pem(passphrase)
    assert (b"ENCRYPTED" in pem) is (passphrase is not None)
    for data in (pem, pem.decode("ascii")):
        loaded = SigningKey.from_pem(data, passphrase)
        assert loaded.algorithm is algorithm
        assert loaded.public_key == key.public_key and loaded.public_key.kid == key.public_key.kid
        assert key.public_key.verify(loaded.sign(b"message"), b"message")
    assert PublicKey.from_pem(key.public_key.to_pem()) == key.public_key


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_wrong_passphrase_is_a_key_load_error(algorithm: Algorithm) -> None:
    pem = SigningKey.generate(algorithm).to_pem("right")
    with pytest.raises(KeyLoadError):
        SigningKey.from_pem(pem, "wrong")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_encrypted_key_without_passphrase_is_a_key_load_error(algorithm: Algorithm) -> None:
    pem = SigningKey.generate(algorithm).to_pem("secret")
    with pytest.raises(KeyLoadError, match="passphrase"):
        SigningKey.from_pem(pem)
    with pytest.raises(KeyLoadError):
        PublicKey.from_pem(pem)


def test_passphrase_for_an_unencrypted_key_is_a_key_load_error() -> None:
    with pytest.raises(KeyLoadError):
        SigningKey.from_pem(SigningKey.generate().to_pem(), "unexpected")


@pytest.mark.parametrize(
    "private",
    [
        pytest.param(lambda: ec.generate_private_key(ec.SECP384R1()), id="P-384"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP256K1()), id="secp256k1"),
        pytest.param(lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), id="RSA"),
        pytest.param(x25519.X25519PrivateKey.generate, id="X25519"),
    ],
)
def test_unsupported_key_types_are_key_load_errors(private: Callable[[], Any]) -> None:
    key = private()
    with pytest.raises(KeyLoadError):
        SigningKey.from_pem(_pem(key))
    with pytest.raises(KeyLoadError):
        PublicKey.from_pem(_public_pem(key))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"garbage", id="garbage"),
        pytest.param("\u5bc6\u94a5", id="non-ascii-str"),
        pytest.param(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", id="bad-body"),
        pytest.param(b"-----BEGIN PRIVATE KEY-----\n", id="no-end-line"),
        pytest.param(b"-----BEGIN " + b"A" * 70_000, id="oversized"),
    ],
)
def test_garbage_is_a_key_load_error(data: bytes | str) -> None:
    with pytest.raises(KeyLoadError):
        SigningKey.from_pem(data)
    with pytest.raises(KeyLoadError):
        PublicKey.from_pem(data)


def test_truncated_pem_is_a_key_load_error() -> None:
    pem = SigningKey.generate().to_pem()
    with pytest.raises(KeyLoadError):
        SigningKey.from_pem(pem[: len(pem) // 2] + b"\n-----END PRIVATE KEY-----\n")


def test_public_key_pem_is_not_a_signing_key() -> None:
    with pytest.raises(KeyLoadError):
        SigningKey.from_pem(SigningKey.generate().public_key.to_pem())


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_signing_key_repr_and_str_show_no_key_material(algorithm: Algorithm) -> None:
    if algorithm is Algorithm.ES256:
        secret = 0x1F2E3D4C5B6A79880123456789ABCDEF0F1E2D3C4B5A69788796A5B4C3D2E1F0
        key = SigningKey(algorithm, ec.derive_private_key(secret, ec.SECP256R1()))
        secrets = [f"{secret:x}", f"{secret:X}", str(secret)]
    else:
        seed = bytes(range(100, 132))
        key = SigningKey(algorithm, ed25519.Ed25519PrivateKey.from_private_bytes(seed))
        secrets = [seed.hex(), repr(seed)[2:-1]]
    pem_body = [line for line in key.to_pem().decode().splitlines() if not line.startswith("-----")]
    for shown in (repr(key), str(key), f"{key}", f"{key!r}"):
        assert "BEGIN" not in shown and "PRIVATE" not in shown
        assert not any(line[:16] in shown for line in pem_body)
        assert not any(s in shown for s in secrets)
        assert key.public_key.kid.hex() in shown


# --- raw public keys and key ids ------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_raw_public_key_round_trip(algorithm: Algorithm) -> None:
    public = SigningKey.generate(algorithm).public_key
    assert len(public.raw) == (33 if algorithm is Algorithm.ES256 else 32)
    assert PublicKey.from_raw(algorithm, public.raw) == public


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_kid_is_the_first_8_bytes_of_sha256_over_the_spki(algorithm: Algorithm) -> None:
    public = SigningKey.generate(algorithm).public_key
    der = serialization.load_pem_public_key(public.to_pem()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public.kid == hashlib.sha256(der).digest()[:8]
    assert PublicKey.from_raw(algorithm, public.raw).kid == public.kid


def _ed25519_non_point() -> bytes:
    """The smallest y whose x^2 = (y^2 - 1) / (d y^2 + 1) has no square root mod p (RFC 8032 5.1.3)."""
    for y in range(2, 1000):
        y2 = y * y % ED25519_P
        x2 = (y2 - 1) * pow(ED25519_D * y2 + 1, -1, ED25519_P) % ED25519_P
        if pow(x2, (ED25519_P - 1) // 2, ED25519_P) == ED25519_P - 1:
            return y.to_bytes(32, "little")
    raise AssertionError("no non-point found")


@pytest.mark.parametrize(
    ("algorithm", "raw"),
    [
        pytest.param(Algorithm.ES256, b"\x02" + bytes(31), id="es256-32-bytes"),
        pytest.param(Algorithm.ES256, b"\x04" + bytes(32), id="es256-uncompressed-prefix"),
        pytest.param(Algorithm.ES256, b"\x02" + b"\xff" * 32, id="es256-x-beyond-the-field"),
        pytest.param(Algorithm.ED25519, bytes(31), id="ed25519-31-bytes"),
        pytest.param(Algorithm.ED25519, bytes(33), id="ed25519-33-bytes"),
        pytest.param(Algorithm.ED25519, ED25519_P.to_bytes(32, "little"), id="ed25519-y-not-below-p"),
    ],
)
def test_invalid_raw_public_keys_are_key_load_errors(algorithm: Algorithm, raw: bytes) -> None:
    with pytest.raises(KeyLoadError):
        PublicKey.from_raw(algorithm, raw)


def test_ed25519_key_off_the_curve_is_detected() -> None:
    off_curve = PublicKey.from_raw(Algorithm.ED25519, _ed25519_non_point())
    assert off_curve.is_on_curve() is False
    for algorithm in ALGORITHMS:
        assert SigningKey.generate(algorithm).public_key.is_on_curve() is True


def test_issuer_refuses_a_holder_key_off_the_curve(
    licence_claims: Any, issuer_key: SigningKey, now: dt.datetime
) -> None:
    off_curve = PublicKey.from_raw(Algorithm.ED25519, _ed25519_non_point())
    with pytest.raises(IssueError):
        Issuer(issuer_key).issue(
            "driving-licence",
            licence_claims,
            holder_key=off_curve,
            possession=ATTESTED_OUT_OF_BAND,
            valid_from=now,
            valid_until=now + dt.timedelta(days=1),
            now=now,
        )


def test_public_key_verify_refuses_malformed_signatures() -> None:
    key = SigningKey.generate()
    signature = key.sign(b"m")
    assert key.public_key.verify(signature, b"m")
    assert not key.public_key.verify(signature, b"n")
    assert not key.public_key.verify(signature[:63], b"m")
    assert not key.public_key.verify(signature + b"\x00", b"m")
    assert not key.public_key.verify(bytes(32) + signature[32:], b"m")
    assert not key.public_key.verify(signature[:32] + P256_ORDER.to_bytes(32, "big"), b"m")


# --- the Signer interface -------------------------------------------------------------------------


class SecureElementSigner:
    """A phone secure element stand-in: the private key lives in a closure, signatures come out as DER
    (as Android Keystore and iOS Secure Enclave return them) and are converted to raw r || s."""

    def __init__(self) -> None:
        private = ec.generate_private_key(ec.SECP256R1())
        compressed = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
        self._public = PublicKey.from_raw(Algorithm.ES256, compressed)
        self._sign_der: Callable[[bytes], bytes] = lambda data: private.sign(data, ec.ECDSA(hashes.SHA256()))

    @property
    def algorithm(self) -> Algorithm:
        return Algorithm.ES256

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        return raw_signature_from_der(self._sign_der(data))


class BrokenSigner:
    """A signer that reports a real public key but returns whatever ``sign`` is told to."""

    def __init__(self, sign: Callable[[bytes, SigningKey], Any], algorithm: Algorithm = Algorithm.ES256) -> None:
        self._key = SigningKey.generate(algorithm)
        self._sign = sign

    @property
    def algorithm(self) -> Algorithm:
        return self._key.algorithm

    @property
    def public_key(self) -> PublicKey:
        return self._key.public_key

    def sign(self, data: bytes) -> bytes:
        return self._sign(data, self._key)  # type: ignore[no-any-return]


def _raise(exception: Exception) -> Callable[[bytes, SigningKey], bytes]:
    def sign(data: bytes, key: SigningKey) -> bytes:
        raise exception

    return sign


def _der(data: bytes, key: SigningKey) -> bytes:
    signature = key.sign(data)
    return encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))


BROKEN_SIGNERS: dict[str, Callable[[bytes, SigningKey], Any]] = {
    "63-bytes": lambda data, key: key.sign(data)[:63],
    "65-bytes": lambda data, key: key.sign(data) + b"\x00",
    "der-instead-of-raw": _der,
    "raises-runtime-error": _raise(RuntimeError("secure element unavailable")),
    "raises-os-error": _raise(OSError("keystore locked")),
    "by-another-key": lambda data, key: SigningKey.generate().sign(data),
    "over-other-bytes": lambda data, key: key.sign(data + b"x"),
    "none": lambda data, key: None,
    "str": lambda data, key: "x" * 64,
    "bytearray": lambda data, key: bytearray(key.sign(data)),
    "zeros": lambda data, key: bytes(64),
}


def test_secure_element_signer_is_a_signer() -> None:
    assert isinstance(SecureElementSigner(), Signer)


def test_secure_element_signer_makes_holder_presentations(
    issue_licence: Any, verifier: Verifier, now: dt.datetime
) -> None:
    holder = SecureElementSigner()
    cred = issue_licence(holder=holder)
    verdict = verifier.verify(present(cred, holder, now=now, profile="driving-check"), now=now)
    assert verdict.holder_algorithm == "ES256" and set(verdict.claims) == {
        "family_name",
        "given_name",
        "vehicle_classes",
        "expiry_date",
    }


def test_secure_element_signer_can_issue(
    licence_claims: Any, holder_key: SigningKey, trusted_key: Any, now: dt.datetime
) -> None:
    issuer = SecureElementSigner()
    cred = Issuer(issuer).issue(
        "driving-licence",
        licence_claims,
        holder_key=holder_key.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=now - dt.timedelta(days=1),
        valid_until=now + dt.timedelta(days=1),
        now=now - dt.timedelta(hours=1),
    )
    verdict = Verifier(TrustStore([trusted_key(issuer)])).verify(present(cred, holder_key, now=now), now=now)
    assert verdict.kid == issuer.public_key.kid.hex()


@pytest.mark.parametrize("case", BROKEN_SIGNERS)
def test_broken_holder_signer_is_a_signer_error(issue_licence: Any, now: dt.datetime, case: str) -> None:
    holder = BrokenSigner(BROKEN_SIGNERS[case])
    cred = issue_licence(holder=holder)
    with pytest.raises(SignerError):
        present(cred, holder, now=now)


@pytest.mark.parametrize("case", BROKEN_SIGNERS)
def test_broken_issuer_signer_is_a_signer_error(
    licence_claims: Any, holder_key: SigningKey, now: dt.datetime, case: str
) -> None:
    issuer = Issuer(BrokenSigner(BROKEN_SIGNERS[case]))
    with pytest.raises(SignerError):
        issuer.issue(
            "driving-licence",
            licence_claims,
            holder_key=holder_key.public_key,
            possession=ATTESTED_OUT_OF_BAND,
            valid_from=now,
            valid_until=now + dt.timedelta(days=1),
            now=now,
        )


def test_broken_ed25519_signer_is_a_signer_error(issue_licence: Any, now: dt.datetime) -> None:
    holder = BrokenSigner(lambda data, key: SigningKey.generate(Algorithm.ED25519).sign(data), Algorithm.ED25519)
    with pytest.raises(SignerError):
        present(issue_licence(holder=holder), holder, now=now)


def test_signer_error_keeps_the_cause(issue_licence: Any, now: dt.datetime) -> None:
    holder = BrokenSigner(_raise(RuntimeError("secure element unavailable")))
    with pytest.raises(SignerError) as info:
        present(issue_licence(holder=holder), holder, now=now)
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize(
    "der",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x30\x00", id="empty-sequence"),
        pytest.param(b"\x01" * 64, id="raw-not-der"),
        pytest.param(encode_dss_signature(0, 1), id="r-is-0"),
        pytest.param(encode_dss_signature(1, 0), id="s-is-0"),
        pytest.param(encode_dss_signature(1, P256_ORDER), id="s-is-n"),
        pytest.param(encode_dss_signature(P256_ORDER + 1, 1), id="r-above-n"),
    ],
)
def test_raw_signature_from_der_refuses_bad_input(der: bytes) -> None:
    with pytest.raises(SignerError):
        raw_signature_from_der(der)


def test_raw_signature_from_der_round_trip() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.sign(b"m", ec.ECDSA(hashes.SHA256()))
    raw = raw_signature_from_der(der)
    assert len(raw) == 64
    assert encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")) == der


# --- trust store ----------------------------------------------------------------------------------

UTC = dt.UTC


@pytest.fixture
def document(trust: TrustStore) -> dict[str, Any]:
    """A valid trust store document (two keys) to spoil."""
    return copy.deepcopy(trust.to_json())


def _write(tmp_path: Path, content: str | bytes | dict[str, Any]) -> Path:
    path = tmp_path / "trust.json"
    if isinstance(content, dict):
        content = json.dumps(content, ensure_ascii=False)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _entries(store: TrustStore) -> list[dict[str, Any]]:
    return sorted((key.to_json() for key in store), key=lambda entry: entry["kid"])


def test_trust_store_save_and_load_round_trip(
    tmp_path: Path, trust: TrustStore, presentation: str, credential: Credential, now: dt.datetime
) -> None:
    path = tmp_path / "trust.json"
    trust.save(path)
    assert not list(tmp_path.glob("*.tmp"))
    assert "上海市公安局交通警察总队" in path.read_text(encoding="utf-8")
    loaded = TrustStore.load(path)
    assert len(loaded) == len(trust) == 2
    assert _entries(loaded) == _entries(trust)
    for key in trust:
        twin = loaded.get(key.kid)
        assert twin is not None
        assert (twin.public_key, twin.issuer, twin.credential_types) == (
            key.public_key,
            key.issuer,
            key.credential_types,
        )
        assert (twin.valid_from, twin.valid_until) == (key.valid_from, key.valid_until)
    assert dict(Verifier(loaded).verify(presentation, now=now).claims) == dict(credential.claims)


def test_trust_store_from_json_round_trip(document: dict[str, Any], trust: TrustStore) -> None:
    assert _entries(TrustStore.from_json(json.loads(json.dumps(document)))) == _entries(trust)


def _key_entry(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    spoiled = copy.deepcopy(document)
    spoiled["keys"][0].update(changes)
    return spoiled


def _without(document: dict[str, Any], field: str) -> dict[str, Any]:
    spoiled = copy.deepcopy(document)
    del spoiled["keys"][0][field]
    return spoiled


SPOILED_DOCUMENTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "unknown-top-level-field": lambda d: {**d, "comment": "hello"},
    "missing-top-level-field": lambda d: {k: v for k, v in d.items() if k != "format"},
    "wrong-format": lambda d: {**d, "format": "jwks"},
    "version-2": lambda d: {**d, "version": 2},
    "version-0": lambda d: {**d, "version": 0},
    "version-as-string": lambda d: {**d, "version": "1"},
    "version-null": lambda d: {**d, "version": None},
    "keys-not-a-list": lambda d: {**d, "keys": d["keys"][0]},
    "document-is-a-list": lambda d: [d],
    "key-entry-not-an-object": lambda d: {**d, "keys": ["kid"]},
    "unknown-key-field": lambda d: _key_entry(d, comment="test key"),
    "unknown-issuer-field": lambda d: _key_entry(d, issuer={"zh": "某局", "en": "A bureau", "fr": "Un bureau"}),
    "issuer-not-an-object": lambda d: _key_entry(d, issuer="某局"),
    "issuer-name-not-text": lambda d: _key_entry(d, issuer={"zh": 1, "en": ""}),
    "missing-kid": lambda d: _without(d, "kid"),
    "missing-valid-until": lambda d: _without(d, "valid_until"),
    "duplicate-kid": lambda d: {**d, "keys": [d["keys"][0], copy.deepcopy(d["keys"][0])]},
    "wrong-kid": lambda d: _key_entry(d, kid=d["keys"][1]["kid"]),
    "kid-in-upper-case": lambda d: _key_entry(d, kid=d["keys"][0]["kid"].upper()),
    "kid-not-text": lambda d: _key_entry(d, kid=12345),
    "mismatched-algorithm": lambda d: _key_entry(d, algorithm="Ed25519"),
    "algorithm-in-lower-case": lambda d: _key_entry(d, algorithm="es256"),
    "algorithm-none": lambda d: _key_entry(d, algorithm="none"),
    "public-key-of-another-entry": lambda d: _key_entry(d, public_key=d["keys"][1]["public_key"]),
    "public-key-not-pem": lambda d: _key_entry(d, public_key="MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"),
    "public-key-not-text": lambda d: _key_entry(d, public_key=None),
    "naive-valid-from": lambda d: _key_entry(d, valid_from="2020-01-01T00:00:00"),
    "naive-valid-until": lambda d: _key_entry(d, valid_until="2035-01-01T00:00:00"),
    "date-without-time": lambda d: _key_entry(d, valid_from="2020-01-01"),
    "unix-seconds-as-time": lambda d: _key_entry(d, valid_from=1577836800),
    "not-a-time": lambda d: _key_entry(d, valid_from="soon"),
    "window-reversed": lambda d: _key_entry(d, valid_from="2036-01-01T00:00:00Z"),
    "empty-credential-types": lambda d: _key_entry(d, credential_types=[]),
    "credential-types-not-a-list": lambda d: _key_entry(d, credential_types="driving-licence"),
    "credential-type-not-text": lambda d: _key_entry(d, credential_types=[1]),
    "unknown-status": lambda d: _key_entry(d, status="revoked", status_since="2024-01-01T00:00:00Z"),
    "retired-without-since": lambda d: _key_entry(d, status="retired"),
    "naive-status-since": lambda d: _key_entry(d, status="retired", status_since="2024-01-01T00:00:00"),
}


@pytest.mark.parametrize("case", SPOILED_DOCUMENTS)
def test_trust_store_load_refuses(tmp_path: Path, document: dict[str, Any], case: str) -> None:
    spoiled = SPOILED_DOCUMENTS[case](document)
    with pytest.raises(TrustStoreError):
        TrustStore.load(_write(tmp_path, json.dumps(spoiled, ensure_ascii=False)))
    with pytest.raises(TrustStoreError):
        TrustStore.from_json(spoiled)


@pytest.mark.parametrize("version", [True, 1.0], ids=["true", "1.0"])
def test_trust_store_version_must_be_the_integer_1(tmp_path: Path, document: dict[str, Any], version: Any) -> None:
    """``"version": true`` and ``1.0`` are not version 1 (Python's ``True == 1 == 1.0`` must not leak in)."""
    with pytest.raises(TrustStoreError):
        TrustStore.load(_write(tmp_path, {**document, "version": version}))


def test_trust_store_refuses_duplicate_json_keys(tmp_path: Path, document: dict[str, Any]) -> None:
    text = json.dumps(document, ensure_ascii=False)
    top = text.replace('"version": 1', '"version": 1, "version": 1', 1)
    entry = text.replace('"kid": ', '"kid": "0000000000000000", "kid": ', 1)
    assert top != text and entry != text
    assert json.loads(entry)["keys"][0]["kid"] == document["keys"][0]["kid"]  # the last one wins in plain json
    for spoiled in (top, entry):
        with pytest.raises(TrustStoreError):
            TrustStore.load(_write(tmp_path, spoiled))


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"not json", id="text"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b"\xef\xbb\xbf{}", id="utf8-bom"),
        pytest.param(b"NaN", id="nan"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
    ],
)
def test_trust_store_load_refuses_non_json(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(TrustStoreError):
        TrustStore.load(_write(tmp_path, content))


def test_trust_store_load_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TrustStoreError):
        TrustStore.load(tmp_path / "missing.json")


def test_trust_store_refuses_private_key_material(
    tmp_path: Path, document: dict[str, Any], issuer_key: SigningKey
) -> None:
    """A trust store is copied to every counter: an issuer's private key in it must be refused, not used."""
    entry = next(e for e in document["keys"] if e["kid"] == issuer_key.public_key.kid.hex())
    entry["public_key"] = issuer_key.to_pem().decode("ascii")
    with pytest.raises(TrustStoreError):
        TrustStore.load(_write(tmp_path, document))


def test_trust_store_add_refuses_a_duplicate_kid(trust: TrustStore, trusted_key: Any, issuer_key: SigningKey) -> None:
    with pytest.raises(TrustStoreError):
        trust.add(trusted_key(issuer_key, types={"business-licence"}))
    with pytest.raises(TrustStoreError):
        TrustStore([trusted_key(issuer_key), trusted_key(issuer_key)])


def test_trust_store_remove(trust: TrustStore, issuer_key: SigningKey) -> None:
    trust.remove(issuer_key.public_key.kid)
    assert trust.get(issuer_key.public_key.kid) is None
    with pytest.raises(TrustStoreError):
        trust.remove(issuer_key.public_key.kid)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"credential_types": frozenset()}, id="no-types"),
        pytest.param({"valid_until": dt.datetime(2020, 1, 1, tzinfo=UTC)}, id="empty-window"),
        pytest.param({"valid_until": dt.datetime(2019, 1, 1, tzinfo=UTC)}, id="reversed-window"),
    ],
)
def test_trusted_key_refuses_bad_entries(issuer_key: SigningKey, changes: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "public_key": issuer_key.public_key,
        "issuer": IssuerName("某局", "A bureau"),
        "credential_types": frozenset({"driving-licence"}),
        "valid_from": dt.datetime(2020, 1, 1, tzinfo=UTC),
        "valid_until": dt.datetime(2035, 1, 1, tzinfo=UTC),
    }
    with pytest.raises(TrustStoreError):
        TrustedKey(**{**fields, **changes})


def test_trusted_key_signing_window_is_inclusive(trusted_key: Any, issuer_key: SigningKey) -> None:
    start, end = dt.datetime(2020, 1, 1, tzinfo=UTC), dt.datetime(2021, 1, 1, tzinfo=UTC)
    key = trusted_key(issuer_key, valid_from=start, valid_until=end)
    start_s, end_s = int(start.timestamp()), int(end.timestamp())
    assert key.signs_at(start_s) and key.signs_at(end_s)
    assert not key.signs_at(start_s - 1) and not key.signs_at(end_s + 1)
