"""The conformance protocol of tests/vectors/README.md: the runner, our reference verifier, and a wrong one.

The reference verifier command runs through the runner as another implementation's would: one subprocess
for every vector, one JSON line each. A verifier that answers wrongly must be reported, vector by vector.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

VECTOR_DIR = Path(__file__).parent / "vectors"
RUNNER = VECTOR_DIR / "run_conformance.py"
REFERENCE = VECTOR_DIR / "reference_verifier.py"
CREDENTIAL_VECTORS = len(list(VECTOR_DIR.glob("[0-9][0-9][0-9]-*.json")))
VECTOR_COUNT = CREDENTIAL_VECTORS + len(list((VECTOR_DIR / "possession").glob("[0-9][0-9]-*.json")))


def run_runner(verifier: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUNNER), "--verifier", verifier, *extra],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=600,
        check=False,
    )


def fake_verifier(tmp_path: Path, body: str) -> str:
    """A verifier command in Python that prints ``body`` per file: an expression of ``path``, ``vector`` and
    ``expected`` (the vector's expected result codes, one per text)."""
    script = tmp_path / "fake_verifier.py"
    script.write_text(
        "import json, sys\n"
        "for path in sys.argv[1:]:\n"
        "    vector = json.load(open(path, encoding='utf-8'))\n"
        "    expected = vector['expected'].get('results') or [vector['expected']['result']]\n"
        f"    print(json.dumps({body}))\n",
        encoding="utf-8",
    )
    return f"{sys.executable} {script}"


def test_reference_verifier_agrees_with_every_vector_through_the_runner() -> None:
    completed = run_runner(f"{sys.executable} {REFERENCE}")
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    # a proof of possession has no stages: only verification vectors report one
    summary = f"{VECTOR_COUNT} of {VECTOR_COUNT} vectors agree ({CREDENTIAL_VECTORS} with stages reported)"
    assert summary in completed.stdout


def test_reference_verifier_prints_one_line_per_file_in_the_protocol_shape() -> None:
    files = [VECTOR_DIR / "023-replayed.json", VECTOR_DIR / "170-status-list-sequence-reused.json"]
    completed = subprocess.run(
        [sys.executable, str(REFERENCE), *map(str, files)], capture_output=True, text=True, check=True
    )
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(file) for file in files]
    assert [r["result"] for r in lines[0]["results"]] == ["valid", "REPLAYED"]
    assert lines[0]["results"][1]["stage"] == "policy"
    assert lines[1]["lists"] == ["accepted", "SEQUENCE_REUSED"]


def test_runner_reports_a_verifier_that_accepts_everything(tmp_path: Path) -> None:
    verifier = fake_verifier(tmp_path, '{"file": path, "results": [{"result": "valid"}], "lists": []}')
    completed = run_runner(verifier, "--failures-only")
    assert completed.returncode == 1
    assert "DISAGREE 047-unknown-issuer-key.json: expected UNKNOWN_KEY, got 'valid'" in completed.stdout
    assert "agree    001" not in completed.stdout  # --failures-only


def test_runner_compares_the_stage_a_verifier_reports(tmp_path: Path) -> None:
    body = '{"file": path, "results": [{"result": r, "stage": "text"} for r in expected], "lists": []}'
    completed = run_runner(fake_verifier(tmp_path, body), "--failures-only")
    assert completed.returncode == 1
    assert "DISAGREE 047-unknown-issuer-key.json: UNKNOWN_KEY at stage text, expected issuer_signature" in (
        completed.stdout
    )
    assert "DISAGREE 027-bad-prefix-lowercase.json" not in completed.stdout


def test_runner_reports_a_refused_list_the_verifier_accepted(tmp_path: Path) -> None:
    body = (
        '{"file": path, "results": [{"result": r} for r in '
        "expected], "
        '"lists": ["accepted"] * (len(vector.get("status_lists", [])) + len(vector.get("refused_status_lists", [])))}'
    )
    completed = run_runner(fake_verifier(tmp_path, body), "--failures-only")
    assert "DISAGREE 170-status-list-sequence-reused.json: lists: expected ['accepted', 'SEQUENCE_REUSED']" in (
        completed.stdout
    )


@pytest.mark.parametrize(
    ("verifier", "message"),
    [
        ("/nonexistent/verifier", "cannot run the verifier: FileNotFoundError"),
        (f"{sys.executable} -c 'import sys; sys.exit(3)'", "the verifier exited with 3"),
    ],
)
def test_runner_exits_2_when_the_verifier_cannot_run(verifier: str, message: str) -> None:
    completed = run_runner(verifier)
    assert completed.returncode == 2
    assert message in completed.stderr


def test_runner_reports_a_file_the_verifier_left_out(tmp_path: Path) -> None:
    verifier = fake_verifier(tmp_path, '{"file": "elsewhere", "results": []}')
    completed = run_runner(verifier, "--failures-only")
    assert completed.returncode == 1
    assert "DISAGREE 001-driving-licence-full.json: no output line for this file" in completed.stdout
