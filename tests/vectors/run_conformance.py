"""Run every test vector through a verifier command and report where it agrees (tests/vectors/README.md).

    python tests/vectors/run_conformance.py --verifier "CMD ARGS" [--vectors DIR] [--failures-only]

The command is started once, with every vector file path appended to its arguments, and must print one
JSON line per file (the protocol of the README, "Conformance"). Each line is compared with the file's
``expected`` results, the failing stage (when the line reports ``stage``), the claims of valid results and
the outcome of every offered trust or status list. Prints one row per vector and a summary; exits 0 when
the verifier agrees on every vector, 1 when it disagrees on any, 2 when the command cannot be run.
Needs only the standard library, so it can check a verifier on a machine without econsent.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
STAGES = ("text", "payload", "issuer_signature", "validity", "holder_signature", "freshness", "policy")


def vector_files(folder: Path) -> list[Path]:
    """The verification vectors, then the proof-of-possession vectors, each in number order."""
    return sorted(folder.glob("[0-9][0-9][0-9]-*.json")) + sorted((folder / "possession").glob("[0-9][0-9]-*.json"))


def failing_stage(stages: Mapping[str, str]) -> str | None:
    return next((stage for stage in STAGES if stages.get(stage) == "fail"), None)


def expected_outcome(vector: Mapping[str, Any]) -> dict[str, Any]:
    """What a conforming verifier prints for this vector (the stage is compared only when it reports one)."""
    expected = vector["expected"]
    if "challenge_hex" in vector:
        return {"results": [{"result": expected["result"]}], "lists": []}
    if vector["type"] == "replay":
        results = [
            {"result": result, "stage": failing_stage(stages)}
            for result, stages in zip(expected["results"], expected["stages"], strict=True)
        ]
    else:
        results = [{"result": expected["result"], "stage": failing_stage(expected)}]
    if results[0]["result"] == "valid":
        results[0].update(claims=expected["claims"], withheld=expected["withheld"])
    lists = ["accepted"] if "trust_list" in vector else []
    lists += [entry["reason"] for entry in vector.get("refused_trust_lists", {}).get("lists", [])]
    lists += ["accepted"] * len(vector.get("status_lists", []))
    lists += [entry["reason"] for entry in vector.get("refused_status_lists", [])]
    return {"results": results, "lists": lists}


def differences(expected: Mapping[str, Any], actual: Mapping[str, Any] | None) -> list[str]:
    """Human sentences for every way ``actual`` (one output line) departs from ``expected``."""
    if actual is None:
        return ["no output line for this file"]
    if "error" in actual:
        return [f"the verifier could not run it: {actual['error']}"]
    found = actual.get("results")
    if not isinstance(found, list) or len(found) != len(expected["results"]):
        return [f"expected {len(expected['results'])} result(s), got {found!r}"]
    problems = []
    for number, (want, got) in enumerate(zip(expected["results"], found, strict=True), start=1):
        where = f"text {number}: " if len(found) > 1 else ""
        result = got.get("result") if isinstance(got, dict) else got
        if not isinstance(got, dict) or result != want["result"]:
            problems.append(f"{where}expected {want['result']}, got {result!r}")
            continue
        if "stage" in got and "stage" in want and got["stage"] != want["stage"]:
            problems.append(f"{where}{want['result']} at stage {got['stage']}, expected {want['stage']}")
        for field in ("claims", "withheld"):
            if field in want and got.get(field) != want[field]:
                problems.append(f"{where}{field} differ: expected {want[field]!r}, got {got.get(field)!r}")
    if actual.get("lists", []) != expected["lists"]:
        problems.append(f"lists: expected {expected['lists']}, got {actual.get('lists')}")
    return problems


def run(command: Sequence[str], files: Sequence[Path], timeout: float) -> dict[str, dict[str, Any]]:
    """Start the verifier once on every file; its output lines by the file they name."""
    completed = subprocess.run(
        [*command, *map(str, files)], capture_output=True, text=True, encoding="utf-8", timeout=timeout, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the verifier exited with {completed.returncode}: {completed.stderr.strip()[-500:]}")
    lines: dict[str, dict[str, Any]] = {}
    for line in completed.stdout.splitlines():
        if line.strip():
            output = json.loads(line)
            lines[str(output["file"])] = output
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verifier", required=True, help="the command, with its arguments (split as a shell does)")
    parser.add_argument("--vectors", type=Path, default=HERE, help="the vector folder (default: this script's)")
    parser.add_argument("--failures-only", action="store_true", help="print only the vectors it disagrees on")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the whole run (default 600)")
    args = parser.parse_args(argv)
    files = vector_files(args.vectors)
    if not files:
        print(f"no vectors in {args.vectors}", file=sys.stderr)
        return 2
    try:
        outputs = run(shlex.split(args.verifier), files, args.timeout)
    except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError) as exc:
        print(f"cannot run the verifier: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    disagreements = 0
    staged = 0
    for file in files:
        vector = json.loads(file.read_text(encoding="utf-8"))
        actual = outputs.get(str(file))
        staged += actual is not None and any("stage" in r for r in actual.get("results", []) if isinstance(r, dict))
        problems = differences(expected_outcome(vector), actual)
        disagreements += bool(problems)
        name = file.relative_to(args.vectors).as_posix()
        if problems:
            print(f"DISAGREE {name}: {'; '.join(problems)}")
        elif not args.failures_only:
            print(f"agree    {name}")
    print(f"{len(files) - disagreements} of {len(files)} vectors agree ({staged} with stages reported)")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
