"""Proof of possession at issuance (SPEC 6.2): an issuer binds a holder key only when the holder proved
control of it over the issuer's challenge, or when the caller says the key was attested out of band.

tests/vectors/possession/ holds the same cases as vectors; this file tests the API, the wallet and the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from econsent import (
    ATTESTED_OUT_OF_BAND,
    Credential,
    IssueError,
    Issuer,
    MemoryStorage,
    PossessionError,
    PossessionProblem,
    PossessionProof,
    PublicKey,
    SigningKey,
    Wallet,
    cli,
    present,
    prove_possession,
)
from econsent._envelope import PRESENTATION_CONTEXT, possession_input
from econsent.wallet import HolderKeyError, ScryptParams

CHEAP = ScryptParams(log2_n=10, r=8, p=1)
LICENCE = Path(__file__).resolve().parent.parent / "examples" / "data" / "driving-licence.json"


@pytest.fixture
def issue_to(issuer: Issuer, licence_claims: Mapping[str, Any], now: dt.datetime) -> Callable[..., Credential]:
    def issue(holder_key: PublicKey | None, **possession: Any) -> Credential:
        return issuer.issue(
            "driving-licence",
            licence_claims,
            holder_key=holder_key,
            valid_from=now,
            valid_until=now + dt.timedelta(days=1),
            now=now,
            **possession,
        )

    return issue


@pytest.mark.parametrize("algorithm", ["ES256", "Ed25519"])
def test_issuer_binds_a_key_whose_holder_signed_its_challenge(
    issuer: Issuer, issue_to: Callable[..., Credential], now: dt.datetime, algorithm: str
) -> None:
    holder = SigningKey.generate(algorithm)
    challenge = issuer.new_challenge()
    proof = prove_possession(holder, challenge, issuer_kid=issuer.kid)
    credential = issue_to(holder.public_key, possession=proof, challenge=challenge)
    assert credential.holder_key == holder.public_key.raw
    assert present(credential, holder, now=now)


def test_issuer_refuses_a_holder_key_without_a_proof(
    holder_key: SigningKey, issue_to: Callable[..., Credential]
) -> None:
    with pytest.raises(PossessionError) as caught:
        issue_to(holder_key.public_key)
    assert caught.value.code is PossessionProblem.MISSING
    assert "ATTESTED_OUT_OF_BAND" in str(caught.value)


def test_issuer_refuses_a_proof_without_the_challenge_it_handed_out(
    issuer: Issuer, holder_key: SigningKey, issue_to: Callable[..., Credential]
) -> None:
    proof = prove_possession(holder_key, issuer.new_challenge(), issuer_kid=issuer.kid)
    with pytest.raises(PossessionError) as caught:
        issue_to(holder_key.public_key, possession=proof)
    assert caught.value.code is PossessionProblem.MISSING


def test_proof_over_another_challenge_is_refused(
    issuer: Issuer, holder_key: SigningKey, issue_to: Callable[..., Credential]
) -> None:
    old_proof = prove_possession(holder_key, issuer.new_challenge(), issuer_kid=issuer.kid)
    with pytest.raises(PossessionError) as caught:
        issue_to(holder_key.public_key, possession=old_proof, challenge=issuer.new_challenge())
    assert caught.value.code is PossessionProblem.CHALLENGE_MISMATCH


def test_proof_made_for_another_issuer_is_refused(
    issuer: Issuer, issuer_key_ed25519: SigningKey, holder_key: SigningKey, issue_to: Callable[..., Credential]
) -> None:
    challenge = issuer.new_challenge()
    proof = prove_possession(holder_key, challenge, issuer_kid=issuer_key_ed25519.public_key.kid)
    with pytest.raises(PossessionError) as caught:
        issue_to(holder_key.public_key, possession=proof, challenge=challenge)
    assert caught.value.code is PossessionProblem.BAD_SIGNATURE


def test_proof_of_another_key_does_not_bind_this_one(
    issuer: Issuer, holder_key: SigningKey, other_holder_key: SigningKey, issue_to: Callable[..., Credential]
) -> None:
    """Someone sends a victim's public key with a proof for their own key: refused."""
    challenge = issuer.new_challenge()
    proof = prove_possession(other_holder_key, challenge, issuer_kid=issuer.kid)
    with pytest.raises(PossessionError) as caught:
        issue_to(holder_key.public_key, possession=proof, challenge=challenge)
    assert caught.value.code is PossessionProblem.BAD_SIGNATURE


def test_signature_in_another_context_is_not_a_proof(
    issuer: Issuer, holder_key: SigningKey, issue_to: Callable[..., Credential]
) -> None:
    challenge = issuer.new_challenge()
    fields = possession_input(issuer.kid, holder_key.public_key, challenge)[len(b"econsent/v1 possession\x00") :]
    proof = PossessionProof(challenge, holder_key.sign(PRESENTATION_CONTEXT + fields))
    with pytest.raises(PossessionError) as caught:
        issue_to(holder_key.public_key, possession=proof, challenge=challenge)
    assert caught.value.code is PossessionProblem.BAD_SIGNATURE


def test_attested_out_of_band_binds_without_a_proof_and_takes_no_challenge(
    issuer: Issuer, holder_key: SigningKey, issue_to: Callable[..., Credential]
) -> None:
    assert issue_to(holder_key.public_key, possession=ATTESTED_OUT_OF_BAND).holder_key == holder_key.public_key.raw
    with pytest.raises(IssueError, match="challenge=None"):
        issue_to(holder_key.public_key, possession=ATTESTED_OUT_OF_BAND, challenge=issuer.new_challenge())


def test_bearer_credential_takes_no_proof(issuer: Issuer, issue_to: Callable[..., Credential]) -> None:
    with pytest.raises(IssueError, match="bearer"):
        issue_to(None, possession=ATTESTED_OUT_OF_BAND)


def test_challenges_are_32_fresh_bytes(holder_key: SigningKey) -> None:
    issuer = Issuer(holder_key)
    challenges = {issuer.new_challenge() for _ in range(100)}
    assert len(challenges) == 100 and {len(c) for c in challenges} == {32}


@pytest.mark.parametrize("size", [0, 15, 65])
def test_challenge_sizes_outside_16_to_64_bytes_are_malformed(holder_key: SigningKey, size: int) -> None:
    with pytest.raises(PossessionError) as caught:
        prove_possession(holder_key, bytes(size), issuer_kid=bytes(8))
    assert caught.value.code is PossessionProblem.MALFORMED


def test_proof_file_round_trips_and_is_parsed_strictly(holder_key: SigningKey) -> None:
    proof = prove_possession(holder_key, bytes(range(32)), issuer_kid=bytes(8))
    assert PossessionProof.decode(proof.encode()) == proof
    document = proof.to_json()
    for broken in (
        {**document, "extra": 1},
        {**document, "version": True},
        {**document, "format": "econsent-proof"},
        {**document, "signature": document["signature"].upper()},
        {**document, "signature": document["signature"][:-2]},
        {**document, "challenge": "zz" * 16},
    ):
        with pytest.raises(PossessionError) as caught:
            PossessionProof.from_json(broken)
        assert caught.value.code is PossessionProblem.MALFORMED
    duplicated = proof.encode().replace(b'"version":1', b'"version":1,"version":1')
    for data in (duplicated, b"[" * 1000, b"\xff", b" " * 2000):
        with pytest.raises(PossessionError):
            PossessionProof.decode(data)


# --- the wallet ----------------------------------------------------------------------------------------


def test_wallet_proves_possession_of_the_key_it_made(issuer: Issuer, issue_to: Callable[..., Credential]) -> None:
    wallet = Wallet.create(MemoryStorage(), "passphrase", kdf=CHEAP)
    public = wallet.new_holder_key()
    challenge = issuer.new_challenge()
    proof = wallet.prove_possession(public, challenge, issuer_kid=issuer.kid)
    credential = issue_to(public, possession=proof, challenge=challenge)
    wallet.add(credential.encoded)


def test_wallet_refuses_to_prove_a_key_it_does_not_hold(issuer: Issuer, holder_key: SigningKey) -> None:
    wallet = Wallet.create(MemoryStorage(), "passphrase", kdf=CHEAP)
    with pytest.raises(HolderKeyError):
        wallet.prove_possession(holder_key.public_key, issuer.new_challenge(), issuer_kid=issuer.kid)


# --- the command line ------------------------------------------------------------------------------------


@pytest.fixture
def office(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``run(*argv)`` in a folder holding an issuer key pair and a holder key pair."""
    issuer, holder = SigningKey.generate("ES256"), SigningKey.generate("Ed25519")
    for name, key in (("issuer", issuer), ("holder", holder)):
        (tmp_path / f"{name}.pem").write_bytes(key.to_pem())
        (tmp_path / f"{name}.pub.pem").write_bytes(key.public_key.to_pem())

    def run(*argv: str) -> tuple[int, str, str]:
        args = [str(tmp_path / a) if a.endswith((".pem", ".json", ".ecc", ".db")) else a for a in argv]
        code = cli.main([str(LICENCE) if a.endswith("driving-licence.json") else a for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


ISSUE = ("issue", "--key", "issuer.pem", "--claims", "driving-licence.json", "--now", "2026-01-02T00:00:00Z")


def test_cli_challenge_prove_and_issue(office: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = office("challenge", "--issuer-key", "issuer.pub.pem", "--json")
    assert code == 0
    request = json.loads(out)
    assert len(bytes.fromhex(request["challenge"])) == 32
    code, _, err = office(
        "prove", "--holder-key", "holder.pem", "--challenge", request["challenge"],
        "--issuer-kid", request["issuer_kid"], "-o", "proof.json",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = office(
        *ISSUE, "--holder-key", "holder.pub.pem", "--possession", "proof.json", "--challenge", request["challenge"],
        "-o", "c.ecc", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["bearer"] is False


def test_cli_issue_with_a_proof_for_another_challenge_is_refused_with_its_code(
    office: Callable[..., tuple[int, str, str]],
) -> None:
    _, out, _ = office("challenge", "--issuer-key", "issuer.pub.pem", "--json")
    kid = json.loads(out)["issuer_kid"]
    office("prove", "--holder-key", "holder.pem", "--challenge", "11" * 32, "--issuer-kid", kid, "-o", "proof.json")
    code, out, _ = office(
        *ISSUE, "--holder-key", "holder.pub.pem", "--possession", "proof.json", "--challenge", "22" * 32,
        "-o", "c.ecc", "--json",
    )  # fmt: skip
    assert code == 1
    assert json.loads(out)["code"] == "CHALLENGE_MISMATCH"


def test_cli_issue_needs_a_proof_or_the_attested_flag(office: Callable[..., tuple[int, str, str]]) -> None:
    code, _, err = office(*ISSUE, "--holder-key", "holder.pub.pem", "-o", "c.ecc")
    assert code == 2 and "--holder-key-attested" in err and "Traceback" not in err
    code, _, err = office(*ISSUE, "--holder-key", "holder.pub.pem", "--holder-key-attested", "-o", "c.ecc")
    assert code == 0, err


def test_cli_issuer_issue_takes_the_same_proof(office: Callable[..., tuple[int, str, str]]) -> None:
    code, _, err = office("issuer", "init", "--registry", "reg.db", "--key", "issuer.pub.pem")
    assert code == 0, err
    _, out, _ = office("challenge", "--issuer-key", "issuer.pub.pem", "--json")
    request = json.loads(out)
    office(
        "prove", "--holder-key", "holder.pem", "--challenge", request["challenge"],
        "--issuer-kid", request["issuer_kid"], "-o", "proof.json",
    )  # fmt: skip
    issue = ("issuer", "issue", "--registry", "reg.db", *ISSUE[1:], "--holder-key", "holder.pub.pem", "-o", "c.ecc")
    code, out, _ = office(*issue, "--possession", "proof.json", "--challenge", "33" * 32, "--json")
    assert code == 1 and json.loads(out)["code"] == "CHALLENGE_MISMATCH"
    code, _, err = office(*issue, "--possession", "proof.json", "--challenge", request["challenge"])
    assert code == 0, err


def test_cli_wallet_new_key_writes_a_proof(
    office: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WALLET_PASS", "wallet passphrase")
    wallet = ("-w", str(tmp_path / "w.ecw"), "--passphrase-env", "WALLET_PASS")
    code, _, err = office("wallet", "create", *wallet, "--kdf-log2-n", "10")
    assert code == 0, err
    _, out, _ = office("challenge", "--issuer-key", "issuer.pub.pem", "--json")
    request = json.loads(out)
    code, out, err = office(
        "wallet", "new-key", *wallet, "-o", "phone.pub.pem", "--challenge", request["challenge"],
        "--issuer-kid", request["issuer_kid"], "--proof-out", "proof.json", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["possession"]["challenge"] == request["challenge"]
    code, _, err = office(
        *ISSUE, "--holder-key", "phone.pub.pem", "--possession", "proof.json", "--challenge", request["challenge"],
        "-o", "c.ecc",
    )  # fmt: skip
    assert code == 0, err
