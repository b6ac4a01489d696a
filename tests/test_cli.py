"""The command line, through its real entry points: the console script, python -m, and main(argv)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from econsent.cli import main

ROOT = Path(__file__).resolve().parent.parent
LICENCE = ROOT / "examples" / "data" / "driving-licence.json"
ISSUED = "2026-11-27T08:00:00Z"
SHOWN = "2026-11-27T09:00:00Z"
CHECKED = "2026-11-27T09:00:20Z"


def run(
    *args: str, stdin: str | None = None, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``econsent`` console script (falls back to ``python -m econsent``)."""
    script = shutil.which("econsent")
    command = [script] if script else [sys.executable, "-m", "econsent"]
    return subprocess.run(
        [*command, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with issuer and holder keys, a trust store and an issued credential, made by the CLI."""
    folder = tmp_path_factory.mktemp("cli")
    env = {"ISSUER_PASS": "correct horse battery staple"}
    assert run("keygen", "-o", "issuer.pem", "--passphrase-env", "ISSUER_PASS", cwd=folder, env=env).returncode == 0
    assert run("keygen", "-o", "holder.pem", "-a", "Ed25519", cwd=folder).returncode == 0
    added = run(
        "trust", "add", "--store", "trust.json", "--key", "issuer.pub.pem", "--issuer-zh", "上海市公安局交通警察总队",
        "--issuer-en", "Shanghai Traffic Police", "--types", "driving-licence",
        "--valid-from", "2026-01-01T00:00:00Z", "--valid-until", "2031-01-01T00:00:00Z", cwd=folder,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    challenged = run("challenge", "--issuer-key", "issuer.pub.pem", "--json", cwd=folder)
    assert challenged.returncode == 0, challenged.stderr
    request = json.loads(challenged.stdout)
    proved = run(
        "prove", "--holder-key", "holder.pem", "--challenge", request["challenge"], "--issuer-kid",
        request["issuer_kid"], "-o", "proof.json", cwd=folder,
    )  # fmt: skip
    assert proved.returncode == 0, proved.stderr
    issued = run(
        "issue", "--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS", "--claims", str(LICENCE),
        "--holder-key", "holder.pub.pem", "--possession", "proof.json", "--challenge", request["challenge"],
        "--serial", "31000123", "--out", "licence.ecc", "--now", ISSUED, "--json", cwd=folder, env=env,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    assert json.loads(issued.stdout)["serial"] == 31000123
    return folder


def present_text(folder: Path, *extra: str) -> str:
    shown = run("present", "-c", "licence.ecc", "--holder-key", "holder.pem", "--now", SHOWN, *extra, cwd=folder)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.strip()


def test_keygen_writes_private_key_readable_by_owner_only(office: Path) -> None:
    assert (office / "issuer.pem").stat().st_mode & 0o077 == 0
    assert b"ENCRYPTED" in (office / "issuer.pem").read_bytes()


def test_keygen_refuses_to_overwrite_a_key(office: Path) -> None:
    result = run("keygen", "-o", "holder.pem", cwd=office)
    assert result.returncode == 2
    assert "refusing to overwrite" in result.stderr


def test_trust_list_shows_the_key(office: Path) -> None:
    listed = run("trust", "list", "--store", "trust.json", "--json", cwd=office)
    document = json.loads(listed.stdout)
    assert document["keys"][0]["issuer"]["zh"] == "上海市公安局交通警察总队"


def test_present_then_verify_text_is_valid_with_exit_0(office: Path) -> None:
    text = present_text(office, "--profile", "driving-check")
    verified = run("verify", text, "--trust", "trust.json", "--now", CHECKED, "--json", cwd=office)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    verdict = json.loads(verified.stdout)
    assert verdict["valid"] is True
    assert verdict["claims"] == {
        "family_name": "张",
        "given_name": "伟",
        "vehicle_classes": ["C1", "D"],
        "expiry_date": "2029-01-15",
    }
    assert "address" in verdict["withheld"]


def test_verify_png_and_svg_written_by_present(office: Path) -> None:
    present_text(office, "--png", "code.png", "--svg", "code.svg")
    verified = run("verify", "code.png", "--trust", "trust.json", "--now", CHECKED, cwd=office)
    assert verified.returncode == 0, verified.stdout
    assert verified.stdout.startswith("VALID  driving-licence")
    assert "豫园街道" in verified.stdout
    assert (office / "code.svg").read_text(encoding="utf-8").startswith("<?xml")


def test_rejection_exits_1_with_code_and_sentence(office: Path) -> None:
    text = present_text(office)
    late = run("verify", text, "--trust", "trust.json", "--now", "2026-11-27T09:10:00Z", cwd=office)
    assert late.returncode == 1
    assert "REJECTED  STALE_PRESENTATION" in late.stdout
    assert "phone's clock" in late.stdout


def test_stdin_lines_like_a_keyboard_wedge_scanner(office: Path) -> None:
    good = present_text(office)
    lines = f"{good}\r\n{good}\r\nEC1:123\r\n"
    result = run("verify", "-", "--trust", "trust.json", "--now", CHECKED, "--json", stdin=lines, cwd=office)
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [v.get("code") for v in verdicts] == [None, "REPLAYED", "MALFORMED"]
    assert result.returncode == 1


def test_required_claims_and_audience_policies(office: Path) -> None:
    text = present_text(office, "--profile", "name", "--audience", "counter-7")
    needs = run("verify", text, "--trust", "trust.json", "--now", CHECKED, "--audience", "counter-7",
                "--require", "vehicle_classes", "--json", cwd=office)  # fmt: skip
    assert json.loads(needs.stdout)["code"] == "MISSING_CLAIMS"
    other = run("verify", text, "--trust", "trust.json", "--now", CHECKED, "--audience", "counter-8", cwd=office)
    assert "AUDIENCE_MISMATCH" in other.stdout


def test_nonce_round_trip(office: Path) -> None:
    text = present_text(office, "--nonce", "00112233445566778899aabbccddeeff")
    ok = run("verify", text, "--trust", "trust.json", "--now", CHECKED, "--nonce", "00112233445566778899aabbccddeeff",
             cwd=office)  # fmt: skip
    assert ok.returncode == 0
    bad = run("verify", text, "--trust", "trust.json", "--now", CHECKED, "--nonce", "ff" * 16, cwd=office)
    assert "NONCE_MISMATCH" in bad.stdout


def test_terminal_output_is_half_blocks(office: Path) -> None:
    shown = run("present", "-c", "licence.ecc", "--holder-key", "holder.pem", "--terminal", cwd=office)
    assert shown.returncode == 0
    assert set(shown.stdout) <= set("▀▄█ \n")


def test_bearer_credential_needs_accept_bearer(office: Path) -> None:
    env = {"ISSUER_PASS": "correct horse battery staple"}
    issued = run("issue", "--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS", "--claims", str(LICENCE),
                 "--bearer", "--out", "printed.ecc", "--now", ISSUED, cwd=office, env=env)  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    text = run("present", "-c", "printed.ecc", cwd=office).stdout.strip()
    refused = run("verify", text, "--trust", "trust.json", "--now", CHECKED, cwd=office)
    assert "BEARER_REFUSED" in refused.stdout
    accepted = run("verify", text, "--trust", "trust.json", "--now", CHECKED, "--accept-bearer", cwd=office)
    assert accepted.returncode == 0
    assert "bearer" in accepted.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify"], "the following arguments are required"),
        (["issue", "--key", "missing.pem", "--claims", "x.json", "--bearer", "-o", "c"], "No such file"),
        (["present", "-c", "trust.json"], "not an econsent credential"),
        (["present", "-c", "licence.ecc"], "give the holder's signer"),
        (["present", "-c", "licence.ecc", "--holder-key", "holder.pem", "--profile", "nope"], "no profile 'nope'"),
        (["verify", "x", "--trust", "trust.json", "--now", "yesterday"], "not an ISO 8601 time"),
        (["verify", "x", "--trust", "trust.json", "--leeway", "9999"], "argument --leeway: 9999 is not from 0 to 300"),
        (["issue", "--key", "issuer.pem", "--claims", str(LICENCE), "--bearer", "-o", "c"], "passphrase"),
        (["trust", "add", "--store", "t2.json", "--key", "holder.pub.pem", "--issuer-zh", "x", "--types", "pets",
          "--valid-from", "2026-01-01T00:00:00Z", "--valid-until", "2027-01-01T00:00:00Z"], "unknown credential types"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_with_a_message_and_no_traceback(office: Path, args: list[str], message: str) -> None:
    result = run(*args, cwd=office)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_python_dash_m_and_main_agree(office: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = subprocess.run([sys.executable, "-m", "econsent", "types", "--json"], capture_output=True, text=True,
                            check=True, cwd=office)  # fmt: skip
    assert main(["types", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(module.stdout)
    assert main([]) == 2
