"""Run every fuzz harness for a bounded time; save what crashes into regressions/ and exit non-zero.

    python tests/fuzz/run.py --seconds 60                 # what CI runs: 7 s per harness
    python tests/fuzz/run.py --seconds 3600 --corpus ~/econsent-corpus --harness verify,text

Each harness runs in its own subprocess (atheris takes over the process) from a seed corpus generated
from real objects (``world.py``), with a fixed libFuzzer seed per harness. The corpus lives in a
temporary folder unless ``--corpus`` names one to keep and grow across runs. A crash, timeout or
out-of-memory input is copied to ``regressions/<harness>/`` (which ``tests/test_fuzz_regressions.py``
replays in every test run) and makes the run fail. The summary gives executions and coverage per harness.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REGRESSIONS = HERE / "regressions"
HARNESSES = ("text", "verify", "trust_list", "status_list", "wallet", "scan", "dcc", "shc")
MAX_LEN = {"scan": 16_384}  # the JPEG seed is ~15 kB; everything else fits libFuzzer's default 4,096
PER_INPUT_TIMEOUT = 10  # seconds: an input slower than this is a finding (time per scan, per verification)
RSS_LIMIT_MB = 2048
_ARTIFACT_KINDS = ("crash", "timeout", "oom", "leak")


@dataclass
class Outcome:
    harness: str
    seconds: float
    executions: int
    coverage: int | None
    features: int | None
    corpus: int | None
    findings: list[Path]
    returncode: int
    log_tail: str


def write_seeds(corpus: Path, harnesses: list[str]) -> dict[str, int]:
    """Write the seed corpus of each harness (generated in a subprocess, without atheris)."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import world; from pathlib import Path\n"
        "root = Path(sys.argv[2]); wanted = sys.argv[3].split(',')\n"
        "for harness in wanted:\n"
        "    folder = root / harness; folder.mkdir(parents=True, exist_ok=True)\n"
        "    for name, data in world.seeds_of(harness).items(): (folder / f'seed-{name}').write_bytes(data)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(HERE), str(corpus), ",".join(harnesses)], check=True)
    return {h: len(list((corpus / h).iterdir())) for h in harnesses}


def run_harness(harness: str, seconds: int, seed: int, corpus: Path, artifacts: Path) -> Outcome:
    artifacts.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(HERE / f"fuzz_{harness}.py"),
        str(corpus / harness),
        f"-max_total_time={seconds}",
        f"-seed={seed}",
        f"-timeout={PER_INPUT_TIMEOUT}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-max_len={MAX_LEN.get(harness, 4096)}",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
    ]
    started = time.monotonic()
    process = subprocess.run(command, capture_output=True, text=True, errors="replace", cwd=HERE)
    elapsed = time.monotonic() - started
    log = process.stderr + process.stdout
    executions = _last_int(r"stat::number_of_executed_units:\s*(\d+)", log)
    if executions is None:
        executions = _last_int(r"^#(\d+)\s", log) or 0
    findings = []
    for artifact in sorted(artifacts.iterdir()):
        if artifact.name.startswith(_ARTIFACT_KINDS):
            kind = artifact.name.split("-", 1)[0]
            digest = hashlib.sha256(artifact.read_bytes()).hexdigest()[:16]
            target = REGRESSIONS / harness / f"{kind}-{digest}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(artifact, target)
            findings.append(target)
    return Outcome(
        harness=harness,
        seconds=elapsed,
        executions=executions,
        coverage=_last_int(r"cov: (\d+)", log),
        features=_last_int(r"ft: (\d+)", log),
        corpus=_last_int(r"corp: (\d+)/", log),
        findings=findings,
        returncode=process.returncode,
        log_tail="\n".join(log.strip().splitlines()[-40:]),
    )


def _last_int(pattern: str, text: str) -> int | None:
    found = re.findall(pattern, text, flags=re.MULTILINE)
    return int(found[-1]) if found else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60, help="total fuzzing time, split evenly (default 60)")
    parser.add_argument("--harness", default=",".join(HARNESSES), help="comma-separated harnesses (default: all)")
    parser.add_argument("--corpus", type=Path, help="keep the corpus here (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer seed of the first harness (default 1)")
    args = parser.parse_args(argv)
    harnesses = [h.strip() for h in args.harness.split(",") if h.strip()]
    unknown = set(harnesses) - set(HARNESSES)
    if unknown or not harnesses:
        parser.error(f"unknown harness {sorted(unknown)}; choose from {', '.join(HARNESSES)}")
    per_harness = max(1, args.seconds // len(harnesses))
    with tempfile.TemporaryDirectory(prefix="econsent-fuzz-") as scratch:
        corpus = args.corpus or Path(scratch) / "corpus"
        seeds = write_seeds(corpus, harnesses)
        outcomes = [
            run_harness(harness, per_harness, args.seed + index, corpus, Path(scratch) / "artifacts" / harness)
            for index, harness in enumerate(harnesses)
        ]
    print(
        f"{'harness':<12} {'seeds':>5} {'seconds':>7} {'executions':>10} {'exec/s':>7} {'cov':>5} {'ft':>6} "
        f"{'corpus':>6} findings"
    )
    failed = False
    for outcome in outcomes:
        rate = outcome.executions / outcome.seconds if outcome.seconds else 0
        print(
            f"{outcome.harness:<12} {seeds[outcome.harness]:>5} {outcome.seconds:>7.1f} {outcome.executions:>10,} "
            f"{rate:>7,.0f} {outcome.coverage or 0:>5} {outcome.features or 0:>6} {outcome.corpus or 0:>6} "
            f"{len(outcome.findings)}"
        )
        if outcome.findings or outcome.returncode != 0:
            failed = True
    total = sum(o.executions for o in outcomes)
    print(f"total: {total:,} executions, {sum(len(o.findings) for o in outcomes)} findings")
    for outcome in outcomes:
        if outcome.findings or outcome.returncode != 0:
            print(f"\n--- {outcome.harness}: exit {outcome.returncode}; saved {[str(p) for p in outcome.findings]}")
            print(outcome.log_tail)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
