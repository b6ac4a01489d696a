"""Every example runs as a user would run it: as a script, in order, sharing one folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, folder: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("examples")


def test_issuing_office_writes_credential_and_trust_store(folder: Path) -> None:
    out = _run("issuing_office.py", folder)
    assert (folder / "licence.ecc").stat().st_size > 200
    assert (folder / "trust.json").exists()
    assert "issued Credential(driving-licence" in out


def test_citizen_phone_writes_png_codes(folder: Path) -> None:
    out = _run("citizen_phone.py", folder)
    assert (folder / "show-full.png").read_bytes().startswith(b"\x89PNG")
    assert (folder / "show-driving-check.png").exists()
    assert "QR version 11 at ECC L" in out  # driving-check at the phone's screen default (README, size goals)


def test_service_counter_accepts_once_then_refuses_the_replay(folder: Path) -> None:
    out = _run("service_counter.py", folder)
    assert "first scan: VALID driving-licence" in out
    assert "withheld: birth_date, licence_number" in out
    assert "same code again: REJECTED REPLAYED" in out


def test_third_party_verifier_checks_its_challenge(folder: Path) -> None:
    out = _run("third_party_verifier.py", folder)
    assert "answer to our challenge: VALID" in out
    assert "code made for another challenge: REJECTED NONCE_MISMATCH" in out


def test_demo_runs_all_parties_end_to_end(tmp_path: Path) -> None:
    out = _run("demo.py", tmp_path)
    for party in ("issuing office", "citizen phone", "service counter", "third party verifier"):
        assert f"== {party} ==" in out
    assert "first scan: VALID" in out
