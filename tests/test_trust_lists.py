"""Signed trust lists, key rotation, and importing keys from government PKI (X.509, JWKS)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from econsent import (
    ATTESTED_OUT_OF_BAND,
    ErrorCode,
    Issuer,
    IssuerName,
    KeyLoadError,
    Policy,
    PublicKey,
    SigningKey,
    TrustedKey,
    TrustStore,
    VerificationError,
    Verifier,
    present,
)
from econsent.cli import main
from econsent.keys import public_keys_from_jwks
from econsent.trust import KeyStatus, TrustListError, TrustListProblem, TrustLists, read_trust_list, sign_trust_list

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CLAIMS = {"family_name": "张", "given_name": "伟", "vehicle_classes": ["C1"], "expiry_date": dt.date(2029, 1, 15)}


def entry(key: SigningKey, *, issuer_id: str = "sh-traffic", **changes: object) -> TrustedKey:
    fields: dict[str, object] = {
        "public_key": key.public_key,
        "issuer": IssuerName("上海市公安局交通警察总队", "Shanghai Traffic Police"),
        "credential_types": frozenset({"driving-licence"}),
        "valid_from": NOW - 365 * DAY,
        "valid_until": NOW + 365 * DAY,
        "issuer_id": issuer_id,
        **changes,
    }
    return TrustedKey(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {name: SigningKey.generate("ES256") for name in ("anchor", "other-anchor", "issuer", "issuer-2", "holder")}


def signed(keys: dict[str, SigningKey], store: TrustStore, *, sequence: int = 1, anchor: str = "anchor",
           next_update: dt.datetime = NOW + 7 * DAY, name: str = "shanghai") -> bytes:  # fmt: skip
    return sign_trust_list(
        store, keys[anchor], name=name, sequence=sequence, issued_at=NOW - DAY, next_update=next_update
    )


def code(keys: dict[str, SigningKey], issuer: str = "issuer", issued_at: dt.datetime = NOW) -> str:
    credential = Issuer(keys[issuer]).issue(
        "driving-licence",
        CLAIMS,
        holder_key=keys["holder"].public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=NOW - 30 * DAY,
        valid_until=NOW + 300 * DAY,
        now=issued_at,
    )
    return present(credential, keys["holder"], now=NOW)


def test_a_signed_list_round_trips_and_verdicts_name_it(keys: dict[str, SigningKey]) -> None:
    data = signed(keys, TrustStore([entry(keys["issuer"])]), sequence=7)
    store = read_trust_list(data, [keys["anchor"].public_key])
    verdict = Verifier(store).verify(code(keys), now=NOW)
    assert verdict.trust_list == "shanghai#7"
    assert verdict.issuer == IssuerName("上海市公安局交通警察总队", "Shanghai Traffic Police")
    assert verdict.warnings == ()


def test_bad_list_signature_is_refused(keys: dict[str, SigningKey]) -> None:
    document = json.loads(signed(keys, TrustStore([entry(keys["issuer"])])))
    payload = json.loads(base64.urlsafe_b64decode(document["payload"] + "=="))
    payload["issuers"][0]["keys"][0]["credential_types"].append("marriage-certificate")
    document["payload"] = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(TrustListError) as caught:
        read_trust_list(json.dumps(document).encode(), [keys["anchor"].public_key])
    assert caught.value.code is TrustListProblem.BAD_SIGNATURE


def test_list_from_an_anchor_that_is_not_pinned_is_refused(keys: dict[str, SigningKey]) -> None:
    data = signed(keys, TrustStore([entry(keys["issuer"])]), anchor="other-anchor")
    with pytest.raises(TrustListError) as caught:
        read_trust_list(data, [keys["anchor"].public_key])
    assert caught.value.code is TrustListProblem.UNKNOWN_ANCHOR


def test_rollback_to_a_lower_sequence_is_refused(keys: dict[str, SigningKey]) -> None:
    lists = TrustLists([keys["anchor"].public_key])
    lists.update(signed(keys, TrustStore([entry(keys["issuer"])]), sequence=5))
    with pytest.raises(TrustListError) as caught:
        lists.update(signed(keys, TrustStore([entry(keys["issuer"])]), sequence=4))
    assert caught.value.code is TrustListProblem.ROLLBACK
    assert [info.sequence for info in lists.held()] == [5]


def test_a_different_list_under_the_same_sequence_is_refused(keys: dict[str, SigningKey]) -> None:
    lists = TrustLists([keys["anchor"].public_key])
    lists.update(signed(keys, TrustStore([entry(keys["issuer"])]), sequence=5))
    lists.update(signed(keys, TrustStore([entry(keys["issuer"])]), sequence=5))  # the same list again is fine
    with pytest.raises(TrustListError) as caught:
        lists.update(signed(keys, TrustStore([entry(keys["issuer"]), entry(keys["issuer-2"])]), sequence=5))
    assert caught.value.code is TrustListProblem.SEQUENCE_REUSED


def test_a_newer_list_replaces_the_held_one(keys: dict[str, SigningKey]) -> None:
    lists = TrustLists([keys["anchor"].public_key])
    lists.update(signed(keys, TrustStore([entry(keys["issuer"])]), sequence=1))
    lists.update(signed(keys, TrustStore([entry(keys["issuer-2"])]), sequence=2))
    assert [key.kid for key in lists.store()] == [keys["issuer-2"].public_key.kid]


def test_lists_from_several_anchors_are_used_together(keys: dict[str, SigningKey]) -> None:
    lists = TrustLists([keys["anchor"].public_key, keys["other-anchor"].public_key])
    lists.update(signed(keys, TrustStore([entry(keys["issuer"])]), name="shanghai"))
    lists.update(
        signed(keys, TrustStore([entry(keys["issuer-2"], issuer_id="js")]), name="jiangsu", anchor="other-anchor")
    )
    verifier = Verifier(lists.store())
    assert verifier.verify(code(keys, "issuer"), now=NOW).trust_list == "shanghai#1"
    assert verifier.verify(code(keys, "issuer-2"), now=NOW).trust_list == "jiangsu#1"


@pytest.mark.parametrize("where", ["envelope", "payload", "issuer", "key"])
def test_unknown_fields_anywhere_are_refused(keys: dict[str, SigningKey], where: str) -> None:
    document = json.loads(signed(keys, TrustStore([entry(keys["issuer"])])))
    payload = json.loads(base64.urlsafe_b64decode(document["payload"] + "=="))
    target = {
        "envelope": document,
        "payload": payload,
        "issuer": payload["issuers"][0],
        "key": payload["issuers"][0]["keys"][0],
    }[where]
    target["comment"] = "unexpected"
    payload_bytes = json.dumps(payload).encode()
    document["payload"] = base64.urlsafe_b64encode(payload_bytes).rstrip(b"=").decode()
    document["signature"] = (
        base64.urlsafe_b64encode(keys["anchor"].sign(b"econsent/v1 trust-list\x00" + payload_bytes))
        .rstrip(b"=")
        .decode()
    )
    with pytest.raises(TrustListError) as caught:
        read_trust_list(json.dumps(document).encode(), [keys["anchor"].public_key])
    assert caught.value.code is TrustListProblem.MALFORMED


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'{"format": "econsent-trust-list"}', b"\xff" * 10])
def test_garbage_is_malformed_not_a_crash(keys: dict[str, SigningKey], data: bytes) -> None:
    with pytest.raises(TrustListError) as caught:
        read_trust_list(data, [keys["anchor"].public_key])
    assert caught.value.code is TrustListProblem.MALFORMED


def test_newer_list_version_is_refused(keys: dict[str, SigningKey]) -> None:
    document = json.loads(signed(keys, TrustStore([entry(keys["issuer"])])))
    document["version"] = 2
    with pytest.raises(TrustListError) as caught:
        read_trust_list(json.dumps(document).encode(), [keys["anchor"].public_key])
    assert caught.value.code is TrustListProblem.UNSUPPORTED_VERSION


def test_expired_list_warns_during_grace_then_refuses(keys: dict[str, SigningKey]) -> None:
    data = signed(keys, TrustStore([entry(keys["issuer"])]), next_update=NOW - 10 * 3600 * dt.timedelta(seconds=1))
    store = read_trust_list(data, [keys["anchor"].public_key])
    within = Verifier(store, Policy(trust_list_grace=24 * 3600)).verify(code(keys), now=NOW)
    assert within.warnings == ("trust list shanghai#1 is 10.0 hours past its next update: update it",)
    with pytest.raises(VerificationError) as caught:
        Verifier(store, Policy(trust_list_grace=3600)).verify(code(keys), now=NOW)
    assert caught.value.code is ErrorCode.TRUST_LIST_EXPIRED
    assert "expired 10.0 hours ago" in caught.value.detail


def test_retired_key_keeps_its_credentials_valid_until_they_expire(keys: dict[str, SigningKey]) -> None:
    retired = entry(keys["issuer"], status=KeyStatus.RETIRED, status_since=NOW - DAY)
    verifier = Verifier(TrustStore([retired, entry(keys["issuer-2"])]))
    assert verifier.verify(code(keys, issued_at=NOW - 2 * DAY), now=NOW).kid == keys["issuer"].public_key.kid.hex()
    with pytest.raises(VerificationError) as caught:
        verifier.verify(code(keys, issued_at=NOW - 3600 * dt.timedelta(seconds=1)), now=NOW)
    assert caught.value.code is ErrorCode.KEY_NOT_VALID
    assert verifier.verify(code(keys, "issuer-2"), now=NOW).credential_type == "driving-licence"  # overlapping key


def test_compromised_key_is_refused_from_the_compromise_time_on(keys: dict[str, SigningKey]) -> None:
    compromised = entry(keys["issuer"], status=KeyStatus.COMPROMISED, status_since=NOW - 60 * dt.timedelta(seconds=1))
    verifier = Verifier(TrustStore([compromised]))
    old = code(keys, issued_at=NOW - 30 * DAY)  # issued long before the compromise, or backdated: no way to tell
    with pytest.raises(VerificationError) as caught:
        verifier.verify(old, now=NOW)
    assert caught.value.code is ErrorCode.KEY_COMPROMISED
    before = Verifier(TrustStore([compromised]), Policy(clock_leeway=300))
    assert before.verify(old, now=NOW - 120 * dt.timedelta(seconds=1)).serial > 0  # checked as of a time before


def test_list_keys_without_issuer_id_cannot_be_signed(keys: dict[str, SigningKey]) -> None:
    with pytest.raises(Exception, match="issuer_id"):
        signed(keys, TrustStore([entry(keys["issuer"], issuer_id=None)]))  # type: ignore[arg-type]


def _certificate(
    subject_key: SigningKey, ca_key: SigningKey, ca_name: str, *, days: int = 365, subject: str = "DS 上海市公安局"
) -> bytes:
    private = serialization.load_pem_private_key(ca_key.to_pem(), None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    subject_public = serialization.load_pem_public_key(subject_key.public_key.to_pem())
    assert isinstance(subject_public, ec.EllipticCurvePublicKey)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)]))
        .public_key(subject_public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + days * DAY)
        .sign(private, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_key_from_x509_certificate_checked_against_its_ca(keys: dict[str, SigningKey]) -> None:
    ca_key = SigningKey.generate("ES256")
    ca_cert = _certificate(ca_key, ca_key, "CSCA CN", subject="CSCA CN", days=3650)
    cert = _certificate(keys["issuer"], ca_key, "CSCA CN", days=90)
    key, valid_from, valid_until = PublicKey.from_certificate(cert, ca=ca_cert, at=NOW)
    assert key == keys["issuer"].public_key
    assert valid_until - valid_from == 91 * DAY
    with pytest.raises(KeyLoadError, match="not issued by that CA"):
        other_ca = _certificate(keys["other-anchor"], keys["other-anchor"], "CSCA CN", subject="CSCA CN")
        PublicKey.from_certificate(cert, ca=other_ca)
    with pytest.raises(KeyLoadError, match="not valid at"):
        PublicKey.from_certificate(cert, ca=ca_cert, at=NOW + 200 * DAY)
    with pytest.raises(KeyLoadError):
        PublicKey.from_certificate(b"-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")


def test_keys_from_jwks_and_private_jwk_refused(keys: dict[str, SigningKey]) -> None:
    numbers = serialization.load_pem_public_key(keys["issuer"].public_key.to_pem()).public_numbers()  # type: ignore[union-attr]
    ed = SigningKey.generate("Ed25519")

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    jwks = {
        "keys": [
            {"kty": "EC", "crv": "P-256", "x": b64(numbers.x.to_bytes(32, "big")),
             "y": b64(numbers.y.to_bytes(32, "big"))},
            {"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key.raw), "kid": "ignored"},
        ]
    }  # fmt: skip
    assert public_keys_from_jwks(jwks) == [keys["issuer"].public_key, ed.public_key]
    with pytest.raises(KeyLoadError, match="private key"):
        public_keys_from_jwks({"keys": [{**jwks["keys"][0], "d": "AAAA"}]})
    with pytest.raises(KeyLoadError, match="unsupported JWK"):
        public_keys_from_jwks({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]})
    with pytest.raises(KeyLoadError):
        public_keys_from_jwks({"keys": [{**jwks["keys"][0], "y": jwks["keys"][0]["x"]}]})  # not on the curve


def test_cli_builds_signs_verifies_and_uses_a_trust_list(keys: dict[str, SigningKey], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    (tmp_path / "anchor.pem").write_bytes(keys["anchor"].to_pem())
    (tmp_path / "anchor.pub.pem").write_bytes(keys["anchor"].public_key.to_pem())
    (tmp_path / "issuer.pub.pem").write_bytes(keys["issuer"].public_key.to_pem())
    store, listing = str(tmp_path / "store.json"), str(tmp_path / "list.json")
    assert main(["trust", "add", "--store", store, "--key", str(tmp_path / "issuer.pub.pem"), "--issuer-id",
                 "sh-traffic", "--issuer-zh", "上海市公安局交通警察总队", "--types", "driving-licence",
                 "--valid-from", "2026-01-01T00:00:00Z", "--valid-until", "2030-01-01T00:00:00Z"]) == 0  # fmt: skip
    assert main(["trust", "sign", "--store", store, "--anchor-key", str(tmp_path / "anchor.pem"), "--name",
                 "shanghai", "--sequence", "3", "--next-update", "2026-12-04T00:00:00Z", "--now",
                 "2026-11-27T00:00:00Z", "-o", listing]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["trust", "verify", listing, "--anchor", str(tmp_path / "anchor.pub.pem"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) | {"issued_at": None, "next_update": None} == {
        "valid": True, "name": "shanghai", "sequence": 3, "keys": 1, "issued_at": None, "next_update": None,
    }  # fmt: skip
    assert main(["trust", "inspect", listing]) == 0
    assert "UNVERIFIED" in capsys.readouterr().out
    now = "2026-11-27T09:00:00Z"
    assert main(["verify", code(keys), "--trust-list", listing, "--anchor", str(tmp_path / "anchor.pub.pem"),
                 "--now", now, "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["trust_list"] == "shanghai#3"
    assert main(["verify", code(keys), "--trust-list", listing, "--now", now]) == 2  # anchor missing: usage error
    assert main(["trust", "verify", listing, "--anchor", str(tmp_path / "issuer.pub.pem")]) == 1
    assert "UNKNOWN_ANCHOR" in capsys.readouterr().err  # a refusal is reported on stderr, like every command's


def test_cli_retire_and_compromise(keys: dict[str, SigningKey], tmp_path: Path) -> None:
    store_path = tmp_path / "store.json"
    TrustStore([entry(keys["issuer"])]).save(store_path)
    kid = keys["issuer"].public_key.kid.hex()
    assert main(["trust", "retire", "--store", str(store_path), "--kid", kid, "--since", "2026-11-01T00:00:00Z"]) == 0
    assert TrustStore.load(store_path).get(bytes.fromhex(kid)).status is KeyStatus.RETIRED  # type: ignore[union-attr]
    assert (
        main(["trust", "compromise", "--store", str(store_path), "--kid", kid, "--since", "2026-11-20T00:00:00Z"]) == 0
    )
    assert main(["trust", "retire", "--store", str(store_path), "--kid", kid, "--since", "2026-11-21T00:00:00Z"]) == 2


def test_cli_refuses_an_issuer_id_in_the_kid_namespace(keys: dict[str, SigningKey], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """``kid:<hex>`` names a key without an issuer id; declaring it would let another key speak for that one."""
    (tmp_path / "issuer-2.pub.pem").write_bytes(keys["issuer-2"].public_key.to_pem())
    store = tmp_path / "store.json"
    impostor = f"kid:{keys['issuer'].public_key.kid.hex()}"
    code = main(["trust", "add", "--store", str(store), "--key", str(tmp_path / "issuer-2.pub.pem"), "--issuer-id",
                 impostor, "--issuer-zh", "某市场监督管理局", "--types", "business-licence",
                 "--valid-from", "2026-01-01T00:00:00Z", "--valid-until", "2030-01-01T00:00:00Z"])  # fmt: skip
    assert code == 2 and "reserved" in capsys.readouterr().err
    assert not store.exists()
