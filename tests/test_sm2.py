"""SM2 with SM3 (issue 17): the standards' vectors, weak keys, key files, the trust store's user ID, suites.

Vector sources (every value below is the standard's published one):

* SM3: GB/T 32905-2016 Annex A, examples 1 ("abc") and 2 ("abcd" x 16).
* SM2 on sm2p256v1: GB/T 32918.5-2017 (= GM/T 0003.5-2012) Annex A, digital signature example: private
  key, public key, ID "1234567812345678", message "message digest", Z_A, k and (r, s). The same values are
  in OpenSSL's ``test/sm2_internal_test.c`` and GmSSL's SM2 tests.
* SM2 on the standard's own Fp-256 example curve: GB/T 32918.2-2016 (= GM/T 0003.2-2012) Annex A.2, ID
  "ALICE123@YAHOO.COM": no library takes another curve, so a short textbook implementation here (affine
  arithmetic, deterministic k) reproduces the exact (r, s); the same code then reproduces the sm2p256v1
  signature exactly, which the library must verify.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
from pathlib import Path

import pytest
from testkeys import ed25519_test_key, es256_test_key, sm2_test_key

from econsent import (
    Algorithm,
    Credential,
    ErrorCode,
    Issuer,
    IssuerName,
    KeyLoadError,
    PublicKey,
    SigningKey,
    TrustedKey,
    TrustStore,
    VerificationError,
    Verifier,
    present,
    prove_possession,
)
from econsent.cli import main
from econsent.errors import CredentialError, TrustStoreError
from econsent.keys import SM2_DEFAULT_USER_ID, HashSuite, sm3
from econsent.trust import TrustStore as _TrustStore
from econsent.wallet import FileStorage, ScryptParams, Wallet

# GB/T 32905-2016 Annex A.
SM3_EXAMPLES = {
    b"abc": "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
    b"abcd" * 16: "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
}


@dataclasses.dataclass(frozen=True)
class Curve:
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int


# GB/T 32918.5-2017: the recommended curve sm2p256v1.
SM2P256V1 = Curve(
    p=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    a=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    b=0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    gx=0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    gy=0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
    n=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
)
# GB/T 32918.2-2016 Annex A.1: the example curve over Fp-256 of the worked signature.
EXAMPLE_FP256 = Curve(
    p=0x8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3,
    a=0x787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498,
    b=0x63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A,
    gx=0x421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D,
    gy=0x0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2,
    n=0x8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7,
)

# GB/T 32918.5-2017 Annex A (signature on sm2p256v1).
STD_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
STD_PUBLIC = bytes.fromhex(
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
STD_ZA = bytes.fromhex("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
STD_E = bytes.fromhex("F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640")
STD_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
STD_SIGNATURE = bytes.fromhex(
    "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
    "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
)
MESSAGE = b"message digest"


def _add(curve: Curve, p1: tuple[int, int] | None, p2: tuple[int, int] | None) -> tuple[int, int] | None:
    if p1 is None or p2 is None:
        return p1 or p2
    if p1[0] == p2[0] and (p1[1] + p2[1]) % curve.p == 0:
        return None
    if p1 == p2:
        slope = (3 * p1[0] * p1[0] + curve.a) * pow(2 * p1[1], -1, curve.p)
    else:
        slope = (p2[1] - p1[1]) * pow(p2[0] - p1[0], -1, curve.p)
    x = (slope * slope - p1[0] - p2[0]) % curve.p
    return x, (slope * (p1[0] - x) - p1[1]) % curve.p


def _multiply(curve: Curve, k: int, point: tuple[int, int]) -> tuple[int, int]:
    result: tuple[int, int] | None = None
    addend: tuple[int, int] | None = point
    while k:
        if k & 1:
            result = _add(curve, result, addend)
        addend = _add(curve, addend, addend)
        k >>= 1
    assert result is not None
    return result


def _textbook_sign(curve: Curve, d: int, k: int, user_id: bytes, message: bytes) -> tuple[bytes, bytes]:
    """GB/T 32918.2 sections 5.5 and 6.1 written out: returns (Z_A, r || s)."""
    xa, ya = _multiply(curve, d, (curve.gx, curve.gy))
    fields = (curve.a, curve.b, curve.gx, curve.gy, xa, ya)
    za = sm3((8 * len(user_id)).to_bytes(2, "big") + user_id + b"".join(v.to_bytes(32, "big") for v in fields))
    e = int.from_bytes(sm3(za + message), "big")
    x1 = _multiply(curve, k, (curve.gx, curve.gy))[0]
    r = (e + x1) % curve.n
    s = pow(1 + d, -1, curve.n) * (k - r * d) % curve.n
    return za, r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _compressed(uncompressed: bytes) -> bytes:
    return bytes((2 + (uncompressed[-1] & 1),)) + uncompressed[:32]


# --- the published vectors ------------------------------------------------------------------------------


@pytest.mark.parametrize("message", list(SM3_EXAMPLES))
def test_sm3_matches_gbt_32905_examples(message: bytes) -> None:
    assert sm3(message).hex() == SM3_EXAMPLES[message]


def test_textbook_sm2_reproduces_the_gbt_32918_2_worked_example_on_its_own_curve() -> None:
    za, signature = _textbook_sign(
        EXAMPLE_FP256,
        0x128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263,
        0x6CB28D99385C175C94F94E934817663FC176D925DD72B727260DBAAE1FB2F96F,
        b"ALICE123@YAHOO.COM",
        MESSAGE,
    )
    assert za.hex().upper() == "F4A38489E32B45B6F876E3AC2168CA392362DC8F23459C1D1146FC3DBFB7BC9A"
    assert signature.hex().upper() == (
        "40F1EC59F793D9F49E09DCEF49130D4194F79FB1EED2CAA55BACDB49C4E755D1"
        "6FC6DAC32C5D5CF10C77DFB20F7C2EB667A457872FB09EC56327A67EC7DEEBE7"
    )


def test_textbook_sm2_reproduces_the_gbt_32918_5_signature_exactly() -> None:
    za, signature = _textbook_sign(SM2P256V1, STD_D, STD_K, SM2_DEFAULT_USER_ID, MESSAGE)
    assert za == STD_ZA
    assert sm3(za + MESSAGE) == STD_E
    assert signature == STD_SIGNATURE


def test_the_library_derives_the_standard_public_key_and_z_and_verifies_the_standard_signature() -> None:
    key = sm2_key_of(STD_D)
    assert key.public_key.raw == _compressed(STD_PUBLIC)
    public = PublicKey.from_raw(Algorithm.SM2, _compressed(STD_PUBLIC))
    assert public.verify(STD_SIGNATURE, MESSAGE)
    assert public.verify(STD_SIGNATURE, MESSAGE, sm2_user_id=SM2_DEFAULT_USER_ID)
    assert not public.verify(STD_SIGNATURE, MESSAGE + b".")
    assert not public.verify(STD_SIGNATURE, MESSAGE, sm2_user_id=b"ALICE123@YAHOO.COM")
    tampered = bytearray(STD_SIGNATURE)
    tampered[40] ^= 1
    assert not public.verify(bytes(tampered), MESSAGE)


def test_the_library_signs_with_a_fresh_k_that_the_textbook_equations_accept() -> None:
    key = sm2_key_of(STD_D)
    first, second = key.sign(MESSAGE), key.sign(MESSAGE)
    assert first != second  # random k
    curve = SM2P256V1
    for signature in (first, second):
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        e = int.from_bytes(STD_E, "big")
        t = (r + s) % curve.n
        point = _add(
            curve,
            _multiply(curve, s, (curve.gx, curve.gy)),
            _multiply(curve, t, (int.from_bytes(STD_PUBLIC[:32], "big"), int.from_bytes(STD_PUBLIC[32:], "big"))),
        )
        assert point is not None and (e + point[0]) % curve.n == r


def sm2_key_of(d: int) -> SigningKey:
    from econsent.keys import _Sm2Private

    return SigningKey(Algorithm.SM2, _Sm2Private(d))


@pytest.mark.parametrize(
    "signature",
    [
        bytes(64),
        bytes(32) + STD_SIGNATURE[32:],
        STD_SIGNATURE[:32] + bytes(32),
        SM2P256V1.n.to_bytes(32, "big") + STD_SIGNATURE[32:],
        STD_SIGNATURE[:32] + SM2P256V1.n.to_bytes(32, "big"),
        (1).to_bytes(32, "big") + (SM2P256V1.n - 1).to_bytes(32, "big"),  # r + s = n: t = 0
        STD_SIGNATURE[:63],
        STD_SIGNATURE + b"\x00",
    ],
    ids=["zero", "r-zero", "s-zero", "r-is-n", "s-is-n", "r-plus-s-is-n", "63-bytes", "65-bytes"],
)
def test_out_of_range_signatures_are_false_not_errors(signature: bytes) -> None:
    assert PublicKey.from_raw(Algorithm.SM2, _compressed(STD_PUBLIC)).verify(signature, MESSAGE) is False


# --- weak keys (SPEC 6.1) -------------------------------------------------------------------------------


def _non_square_x() -> int:
    curve = SM2P256V1
    x = 1
    while pow((x**3 + curve.a * x + curve.b) % curve.p, (curve.p - 1) // 2, curve.p) == 1:
        x += 1
    return x


@pytest.mark.parametrize(
    "raw",
    [
        b"\x02" + _non_square_x().to_bytes(32, "big"),
        b"\x02" + SM2P256V1.p.to_bytes(32, "big"),
        b"\x03" + (2**256 - 1).to_bytes(32, "big"),
        b"\x04" + STD_PUBLIC[:32],
        b"\x00" * 33,
        b"\x00",
        b"\x04" + STD_PUBLIC,
        _compressed(STD_PUBLIC)[:32],
        _compressed(STD_PUBLIC) + b"\x00",
    ],
    ids=["off-curve", "x-equals-p", "x-above-p", "prefix-04", "infinity-33", "infinity-1", "uncompressed", "32", "34"],
)
def test_weak_or_misencoded_sm2_keys_never_enter(raw: bytes) -> None:
    with pytest.raises(KeyLoadError):
        PublicKey.from_raw(Algorithm.SM2, raw)


def test_an_off_curve_point_in_a_pem_file_is_refused() -> None:
    pem = sm2_test_key("pem").public_key.to_pem()
    der = _pem_der(pem)
    bad = der[:-1] + bytes((der[-1] ^ 1,))
    with pytest.raises(KeyLoadError, match="SM2"):
        PublicKey.from_pem(_to_pem(bad, "PUBLIC KEY"))


def test_an_sm2_key_under_another_algorithm_identifier_is_refused() -> None:
    der = _pem_der(sm2_test_key("pem").public_key.to_pem())
    sm2_signature_oid = der.replace(bytes.fromhex("06072a8648ce3d0201"), bytes.fromhex("06082a811ccf55018375"))
    with pytest.raises(KeyLoadError):
        PublicKey.from_pem(
            _to_pem(b"\x30" + bytes((len(sm2_signature_oid) - 1,)) + sm2_signature_oid[2:], "PUBLIC KEY")
        )


def _pem_der(pem: bytes) -> bytes:
    import base64

    return base64.b64decode(b"".join(pem.splitlines()[1:-1]))


def _to_pem(der: bytes, label: str) -> bytes:
    import base64

    return f"-----BEGIN {label}-----\n".encode() + base64.encodebytes(der) + f"-----END {label}-----\n".encode()


# --- key files, kid -------------------------------------------------------------------------------------


def test_public_pem_is_the_openssl_spki_and_the_kid_is_sm3_of_it() -> None:
    key = sm2_test_key("kid")
    der = _pem_der(key.public_key.to_pem())
    assert der.startswith(bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200"))
    assert key.public_key.kid == sm3(der)[:8]
    assert PublicKey.from_pem(key.public_key.to_pem()) == key.public_key


def test_compressed_spki_is_read_too() -> None:
    key = sm2_test_key("compressed")
    der = bytes.fromhex("3039301306072a8648ce3d020106082a811ccf5501822d032200") + key.public_key.raw
    assert PublicKey.from_pem(_to_pem(der, "PUBLIC KEY")) == key.public_key


@pytest.mark.parametrize("passphrase", [None, "correct horse"])
def test_private_pem_round_trips(passphrase: str | None) -> None:
    key = sm2_test_key("round trip", sm2_user_id=None)
    pem = key.to_pem(passphrase)
    assert (b"ENCRYPTED" in pem) is (passphrase is not None)
    loaded = SigningKey.from_pem(pem, passphrase)
    assert loaded.public_key == key.public_key
    assert key.public_key.verify(loaded.sign(b"x"), b"x")


def test_encrypted_private_pem_refuses_a_wrong_or_missing_passphrase() -> None:
    pem = sm2_test_key("pw").to_pem("right")
    with pytest.raises(KeyLoadError, match="passphrase"):
        SigningKey.from_pem(pem, "wrong")
    with pytest.raises(KeyLoadError, match="passphrase"):
        SigningKey.from_pem(pem)


def test_a_private_key_whose_stored_public_key_is_another_is_refused() -> None:
    der = _pem_der(sm2_test_key("a").to_pem())
    other = sm2_test_key("b").public_key.to_pem()
    swapped = der[:-64] + _pem_der(other)[-64:]
    with pytest.raises(KeyLoadError, match="does not belong"):
        SigningKey.from_pem(_to_pem(swapped, "PRIVATE KEY"))


# --- the trust store's user ID --------------------------------------------------------------------------

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
CLAIMS = {"family_name": "张", "given_name": "伟", "vehicle_classes": ("C1",)}


def _trusted(key: SigningKey, **extra: object) -> TrustedKey:
    return TrustedKey(
        public_key=key.public_key,
        issuer=IssuerName("上海市公安局", "Shanghai Public Security Bureau"),
        credential_types=frozenset({"driving-licence"}),
        valid_from=NOW - dt.timedelta(days=1),
        valid_until=NOW + dt.timedelta(days=365),
        **extra,
    )


def _issue(issuer_key: SigningKey, holder: SigningKey) -> Credential:
    issuer = Issuer(issuer_key)
    challenge = issuer.new_challenge()
    return issuer.issue(
        "driving-licence",
        CLAIMS,
        holder_key=holder.public_key,
        possession=prove_possession(holder, challenge, issuer_kid=issuer.kid),
        challenge=challenge,
        valid_from=NOW,
        valid_until=NOW + dt.timedelta(days=30),
        now=NOW,
    )


def test_sm2_user_id_is_refused_on_other_algorithms_and_outside_1_to_64_bytes() -> None:
    with pytest.raises(TrustStoreError):
        _trusted(es256_test_key("es"), sm2_user_id=b"id")
    for bad in (b"", b"x" * 65):
        with pytest.raises(TrustStoreError):
            _trusted(sm2_test_key("sm"), sm2_user_id=bad)
    with pytest.raises(KeyLoadError):
        SigningKey(Algorithm.ED25519, ed25519_test_key("ed")._key, sm2_user_id=b"id")


def test_sm2_user_id_round_trips_through_the_trust_store_file(tmp_path: Path) -> None:
    entry = _trusted(sm2_test_key("store"), sm2_user_id=b"gov.sh.cn")
    TrustStore([entry]).save(tmp_path / "trust.json")
    document = json.loads((tmp_path / "trust.json").read_text())
    assert document["keys"][0]["sm2_user_id"] == b"gov.sh.cn".hex()
    assert _TrustStore.load(tmp_path / "trust.json").get(entry.kid).sm2_user_id == b"gov.sh.cn"
    document["keys"][0]["sm2_user_id"] = "ABCD"
    (tmp_path / "trust.json").write_text(json.dumps(document))
    with pytest.raises(TrustStoreError, match="lowercase hex"):
        _TrustStore.load(tmp_path / "trust.json")


def test_the_issuer_signature_is_checked_with_the_trust_stores_user_id() -> None:
    issuer_key = sm2_test_key("issuer with id", sm2_user_id=b"gov.sh.cn")
    holder = sm2_test_key("holder of an issuer with id")
    credential = _issue(issuer_key, holder)
    text = present(credential, holder, now=NOW, issuer_algorithm="SM2")
    verdict = Verifier(TrustStore([_trusted(issuer_key, sm2_user_id=b"gov.sh.cn")])).verify(text, now=NOW)
    assert verdict.algorithm == "SM2"
    with pytest.raises(VerificationError) as refused:
        Verifier(TrustStore([_trusted(issuer_key)])).verify(text, now=NOW)  # default ID: another Z
    assert refused.value.code is ErrorCode.BAD_ISSUER_SIGNATURE


# --- suites ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "holder"),
    [("SM2", "SM2"), ("SM2", "ES256"), ("SM2", "Ed25519"), ("ES256", "SM2"), ("Ed25519", "SM2")],
)
def test_any_holder_algorithm_goes_with_any_issuer_algorithm(issuer: str, holder: str) -> None:
    make = {"SM2": sm2_test_key, "ES256": es256_test_key, "Ed25519": ed25519_test_key}
    issuer_key, holder_key = make[issuer](f"issuer {issuer}"), make[holder](f"holder {holder}")
    credential = _issue(issuer_key, holder_key)
    text = present(credential, holder_key, now=NOW, issuer_algorithm=issuer)
    verdict = Verifier(TrustStore([_trusted(issuer_key)])).verify(text, now=NOW)
    assert (verdict.algorithm, verdict.holder_algorithm) == (issuer, holder)


@pytest.mark.parametrize(("issuer", "claimed_suite_of"), [("SM2", "ES256"), ("ES256", "SM2"), ("Ed25519", "SM2")])
def test_a_code_whose_tree_is_in_the_other_suite_fails_the_issuer_signature(issuer: str, claimed_suite_of: str) -> None:
    make = {"SM2": sm2_test_key, "ES256": es256_test_key, "Ed25519": ed25519_test_key}
    issuer_key, holder_key = make[issuer]("mixed issuer"), sm2_test_key("mixed holder")
    credential = _issue(issuer_key, holder_key)
    # Withholding claims makes the code carry subtree hashes and child seeds: all in the wrong suite here.
    text = present(
        credential,
        holder_key,
        now=NOW,
        disclose=["family_name"],
        issuer_algorithm=claimed_suite_of,
    )
    with pytest.raises(VerificationError) as refused:
        Verifier(TrustStore([_trusted(issuer_key)])).verify(text, now=NOW)
    assert refused.value.code is ErrorCode.BAD_ISSUER_SIGNATURE


def test_the_suite_follows_the_algorithm() -> None:
    assert Algorithm.SM2.hash_suite is HashSuite.SM3
    assert Algorithm.ES256.hash_suite is Algorithm.ED25519.hash_suite is HashSuite.SHA2
    assert Algorithm.SM2.wire_id == 3 and Algorithm.from_wire_id(3) is Algorithm.SM2
    assert Algorithm.parse("sm2") is Algorithm.parse(" SM2 ") is Algorithm.SM2


def test_replay_fingerprints_of_sm2_issued_codes_are_sm3() -> None:
    from econsent._envelope import presentation_fingerprint

    assert presentation_fingerprint(b"x", HashSuite.SM3) == sm3(b"econsent/v1 replay\x00x")
    assert presentation_fingerprint(b"x") != presentation_fingerprint(b"x", HashSuite.SM3)


# --- CLI ------------------------------------------------------------------------------------------------


def test_cli_keygen_makes_an_sm2_key_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    private = tmp_path / "office.pem"
    assert main(["keygen", "--algorithm", "SM2", "--out", str(private), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    key = SigningKey.from_pem(private.read_bytes())
    public = PublicKey.from_pem((tmp_path / "office.pub.pem").read_bytes())
    assert report["algorithm"] == "SM2" and key.public_key == public and report["kid"] == public.kid.hex()


def test_the_sm2_example_runs_issuer_phone_png_and_counter_end_to_end(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "examples" / "sm2_licence.py"
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "counter: VALID, issuer SM2, holder SM2" in result.stdout
    assert "same code again: REPLAYED" in result.stdout
    assert (tmp_path / "show-driving-check.png").read_bytes().startswith(b"\x89PNG")


def test_sm3_suite_constants_match_spec_section_4() -> None:
    """The empty-subtree hashes SPEC section 4 publishes for the SM3 suite, rebuilt from the rule."""
    absent, published = bytes(16), []
    for _ in range(3):
        absent = sm3(b"econsent/v1 node\x00" + absent * 4)[:16]
        published.append(absent.hex())
    spec = (Path(__file__).resolve().parent.parent / "docs" / "SPEC.md").read_text(encoding="utf-8")
    assert all(value in spec for value in published)


def test_a_status_list_signed_by_an_sm2_key_with_its_user_id_loads() -> None:
    from econsent.status import CredentialStatus, StatusListBuilder, StatusListError, load_status_list

    issuer_key = sm2_test_key("status issuer", sm2_user_id=b"status@gov.sh.cn")
    builder = StatusListBuilder(64)
    builder.set(5, CredentialStatus.REVOKED)
    data = builder.sign(
        issuer_key,
        issuer_ref="kid:" + issuer_key.public_key.kid.hex(),
        list_id=0,
        sequence=1,
        issued_at=NOW,
        next_update=NOW + dt.timedelta(days=1),
    )
    loaded = load_status_list(data, TrustStore([_trusted(issuer_key, sm2_user_id=b"status@gov.sh.cn")]))
    assert loaded.status(5) is CredentialStatus.REVOKED and loaded.status(4) is CredentialStatus.VALID
    with pytest.raises(StatusListError):
        load_status_list(data, TrustStore([_trusted(issuer_key)]))  # checked with the default ID: another Z


def test_without_the_sm_extra_sm2_is_a_clear_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    from econsent.errors import MissingDependencyError

    holder = sm2_test_key("holder without extra")
    issuer_key = es256_test_key("issuer without extra")
    text = present(_issue(issuer_key, holder), holder, now=NOW)
    monkeypatch.setitem(sys.modules, "gmssl_pyx", None)  # what an interpreter without the package sees
    with pytest.raises(MissingDependencyError, match=r"econsent\[sm\]"):
        SigningKey.generate("SM2")
    with pytest.raises(VerificationError) as refused:
        Verifier(TrustStore([_trusted(issuer_key)])).verify(text, now=NOW)
    assert refused.value.code is ErrorCode.ALGORITHM_NOT_ALLOWED
    assert "econsent[sm]" in refused.value.detail


def test_a_wallet_makes_an_sm2_holder_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WALLET_PASS", "wallet passphrase")
    options = ["--wallet", str(tmp_path / "w.ecw"), "--passphrase-env", "WALLET_PASS"]
    assert main(["wallet", "create", *options, "--kdf-log2-n", "10"]) == 0
    capsys.readouterr()
    public = tmp_path / "holder.pub.pem"
    assert main(["wallet", "new-key", *options, "--algorithm", "SM2", "--out", str(public), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    key = PublicKey.from_pem(public.read_bytes())
    assert report["algorithm"] == "SM2" and key.algorithm is Algorithm.SM2


def test_openssl_reads_our_sm2_keys_and_verifies_our_signature_and_we_read_its_keys(tmp_path: Path) -> None:
    """Interoperability with OpenSSL 3 (apt package openssl): PEM both ways, encrypted PKCS#8, Z with the ID."""
    import shutil
    import subprocess

    from econsent.keys import _der_signature

    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is missing: apt-get install -y openssl"

    def run(*args: str) -> str:
        done = subprocess.run([openssl, *args], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    ours = sm2_test_key("openssl interop")
    (tmp_path / "ours.pem").write_bytes(ours.to_pem("pw"))
    (tmp_path / "ours.pub.pem").write_bytes(ours.public_key.to_pem())
    assert run("pkey", "-in", str(tmp_path / "ours.pem"), "-passin", "pass:pw", "-pubout").encode() == (
        ours.public_key.to_pem()
    )
    signature = ours.sign(MESSAGE)
    (tmp_path / "message").write_bytes(MESSAGE)
    (tmp_path / "signature.der").write_bytes(_der_signature(signature[:32], signature[32:]))
    verified = run(
        "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "ours.pub.pem"), "-rawin",
        "-in", str(tmp_path / "message"), "-sigfile", str(tmp_path / "signature.der"),
        "-digest", "sm3", "-pkeyopt", "distid:1234567812345678",
    )  # fmt: skip
    assert "Verified Successfully" in verified

    theirs = tmp_path / "theirs.pem"
    run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", str(theirs))
    public = PublicKey.from_pem(run("pkey", "-in", str(theirs), "-pubout"))
    assert SigningKey.from_pem(theirs.read_bytes()).public_key == public
    encrypted = run(
        "pkcs8", "-topk8", "-in", str(theirs), "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256", "-passout", "pass:x"
    )
    assert SigningKey.from_pem(encrypted, "x").public_key == public


# --- the wallet keeps the issuer's suite -------------------------------------------------------------


def _sm2_wallet(tmp_path: Path) -> tuple[Wallet, SigningKey, Credential]:
    """A wallet holding an SM2 holder key, and a credential an SM2 issuer bound to it."""
    wallet = Wallet.create(
        FileStorage(tmp_path / "sm2.ecw"), "wallet passphrase", kdf=ScryptParams(log2_n=10, r=8, p=1)
    )
    holder = sm2_test_key("wallet holder")
    issuer_key = sm2_test_key("wallet issuer")
    return wallet, issuer_key, _issue(issuer_key, holder)


def test_a_wallet_presents_an_sm2_issuers_credential_in_sm3_and_remembers_it_when_reopened(tmp_path: Path) -> None:
    wallet, issuer_key, credential = _sm2_wallet(tmp_path)
    holder = sm2_test_key("wallet holder")
    entry = wallet.add(credential, holder_key=holder)  # the issuer's Credential says SM2
    verifier = Verifier(TrustStore([_trusted(issuer_key)]))
    assert verifier.verify(wallet.present(entry, now=NOW, disclose=["given_name"]), now=NOW).algorithm == "SM2"
    reopened = Wallet.open(FileStorage(tmp_path / "sm2.ecw"), "wallet passphrase")
    assert reopened.credential(entry).issuer_algorithm == "SM2"
    later = NOW + dt.timedelta(seconds=5)
    assert verifier.verify(reopened.present(entry, now=later, disclose=["family_name"]), now=later).withheld


def test_credential_bytes_from_an_sm2_issuer_take_the_suite_from_the_trust_store_or_the_caller(tmp_path: Path) -> None:
    wallet, issuer_key, credential = _sm2_wallet(tmp_path)
    holder = sm2_test_key("wallet holder")
    trust = TrustStore([_trusted(issuer_key)])
    named = wallet.add(credential.encoded, holder_key=holder, issuer_algorithm="SM2")
    assert Verifier(trust).verify(wallet.present(named, now=NOW), now=NOW).algorithm == "SM2"
    trusting = Wallet.create(FileStorage(tmp_path / "t.ecw"), "p", kdf=ScryptParams(log2_n=10, r=8, p=1), trust=trust)
    looked_up = trusting.add(credential.encoded, holder_key=holder)
    assert Verifier(trust).verify(trusting.present(looked_up, now=NOW), now=NOW).algorithm == "SM2"
    # Bytes alone cannot tell the suite: SHA-2 is assumed, and the counter refuses the code (never a wrong VALID).
    blind = Wallet.create(FileStorage(tmp_path / "b.ecw"), "p", kdf=ScryptParams(log2_n=10, r=8, p=1))
    unknown = blind.add(credential.encoded, holder_key=holder)
    with pytest.raises(VerificationError) as refused:
        Verifier(trust).verify(blind.present(unknown, now=NOW, disclose=["family_name"]), now=NOW)
    assert refused.value.code is ErrorCode.BAD_ISSUER_SIGNATURE


def test_a_wallet_of_sha2_credentials_writes_no_suite_field_so_older_versions_still_read_it(tmp_path: Path) -> None:
    wallet = Wallet.create(FileStorage(tmp_path / "w.ecw"), "p", kdf=ScryptParams(log2_n=10, r=8, p=1))
    holder = es256_test_key("sha2 holder")
    wallet.add(_issue(es256_test_key("sha2 issuer"), holder), holder_key=holder)
    body = wallet._state.to_body()  # the decrypted contents, as sealed into the file
    assert all(set(entry) == {"id", "credential", "key", "external", "issuer", "label"} for entry in body["entries"])


def test_a_forged_sm2_signature_leaves_nothing_on_stderr_and_other_output_still_arrives(
    capfd: pytest.CaptureFixture[str],
) -> None:
    key = sm2_test_key("quiet")
    signature = key.sign(b"the message")
    assert key.public_key.verify(signature, b"the message")
    assert not key.public_key.verify(signature, b"another message")  # GmSSL prints its trace here, unfiltered
    captured = capfd.readouterr()
    assert captured.err == ""

    import econsent.keys as keys_module  # the filter itself: a line of ours written meanwhile is passed on

    with keys_module._gmssl_prints_filtered():
        os.write(2, b"/project/GmSSL/src/sm2_sign.c:328:sm2_do_verify():\nsomething else\n")
    assert capfd.readouterr().err == "something else\n"


def test_a_wallet_given_an_unknown_issuer_algorithm_refuses_it_as_present_does(tmp_path: Path) -> None:
    """One reading of the name for the wallet and present(): a CredentialError, not a bare ValueError."""
    wallet, _, credential = _sm2_wallet(tmp_path)
    with pytest.raises(CredentialError):
        wallet.add(credential.encoded, holder_key=sm2_test_key("wallet holder"), issuer_algorithm="RSA")
