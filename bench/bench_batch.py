"""Batch issuance throughput: rows/s with 1 and 2 workers, an in-memory key (PEM) and SoftHSM2, on SQLite.

    .venv/bin/python bench/bench_batch.py --rows 1000000          # one full run per configuration
    .venv/bin/python bench/bench_batch.py --rows 20000 --rounds 3 # interleaved rounds, medians of ratios

It writes a JSON Lines input of ``--rows`` driving licences (each with its own challenge and a holder's
proof of possession, over a pool of holder keys; made in parallel), then runs ``econsent.batch.run_batch``
once per configuration and round, in a random order per round, each on a fresh SQLite registry and output.
It prints rows/s per run, the median per configuration, and the median of the per-round ratios to the
first configuration (the machine is shared: the ratios are the figures to trust). ``--postgres`` adds
one run on a PostgreSQL registry (a throwaway server started as the tests start it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' SoftHSM2 and PostgreSQL set-up, reused

from econsent.batch import Engine, InProcessEngine, PoolEngine, SignerSpec, run_batch  # noqa: E402
from econsent.keys import Algorithm, PublicKey, SigningKey  # noqa: E402
from econsent.possession import new_challenge, prove_possession  # noqa: E402
from econsent.registry import IssuerRegistry  # noqa: E402

NOW = dt.datetime(2026, 11, 27, 8, tzinfo=dt.UTC)
HOLDER_POOL = 64
CLAIMS = {
    "family_name": "张",
    "given_name": "伟",
    "birth_date": "1985-03-14",
    "vehicle_classes": ["C1", "D"],
    "issue_date": "2019-01-15",
    "expiry_date": "2029-01-15",
    "issuing_authority": "上海市公安局交通警察总队",
    "address": "上海市黄浦区豫园街道人民路一二三弄四号五零二室",
}


def _rows_part(args: tuple[int, int, bytes, int]) -> str:
    """Rows ``start`` to ``stop`` as JSON Lines text, holder keys from a seeded pool, each with its proof."""
    start, stop, issuer_kid, seed = args
    rng = random.Random(seed)
    holders = [SigningKey.generate(Algorithm.ES256) for _ in range(HOLDER_POOL)]
    pems = [holder.public_key.to_pem().decode("ascii") for holder in holders]
    lines = []
    for number in range(start, stop):
        which = rng.randrange(HOLDER_POOL)
        challenge = new_challenge()
        proof = prove_possession(holders[which], challenge, issuer_kid=issuer_kid)
        row = {
            "row_id": f"r{number:09d}",
            "credential_type": "driving-licence",
            "claims": {**CLAIMS, "licence_number": f"3101011985{number:08d}"},
            "holder_key": pems[which],
            "possession": proof.to_json(),
            "challenge": challenge.hex(),
            "valid_from": "2026-01-01T00:00:00+08:00",
            "valid_until": "2031-01-01T00:00:00+08:00",
        }
        lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines) + "\n"


def write_input(path: Path, rows: int, issuer_kid: bytes) -> float:
    """Write the input file with every core; returns the seconds it took."""
    started = time.perf_counter()
    step = 10_000
    parts = [(start, min(start + step, rows), issuer_kid, start) for start in range(0, rows, step)]
    with ProcessPoolExecutor() as pool, open(path, "w", encoding="utf-8") as handle:
        for text in pool.map(_rows_part, parts):
            handle.write(text)
    return time.perf_counter() - started


def run_once(
    folder: Path,
    name: str,
    source: Path,
    signer: SignerSpec,
    public_pem: bytes,
    workers: int,
    block: int,
    registry_location: str | None = None,
) -> tuple[float, float]:
    """One batch on a fresh SQLite registry and output: rows/s (signed rows over the whole run), and this
    process's CPU milliseconds per row (all of the work when it signs in-process; the coordinator's share
    with a pool). CPU time does not depend on what else the machine runs, so it is the figure to plan with."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=folder))
    public = PublicKey.from_pem(public_pem)
    engine: Engine = PoolEngine(workers) if workers > 1 else InProcessEngine()
    location = registry_location or str(run_dir / "reg.db")
    with IssuerRegistry.open(location, issuer_ref="bench", issuer_keys=[public], list_size=1_000_000) as registry:
        started, cpu = time.perf_counter(), time.process_time()
        summary = run_batch(
            registry=registry,
            signer=signer,
            input_path=source,
            input_format="jsonl",
            output=run_dir / "out.jsonl",
            batch_id="bench",
            now=NOW,
            engine=engine,
            block_size=block,
        )
        seconds = time.perf_counter() - started
        cpu_ms = (time.process_time() - cpu) * 1000 / summary.issued
    assert not summary.bad_rows, summary.bad_rows[:3]
    for leftover in run_dir.iterdir():
        leftover.unlink()
    run_dir.rmdir()
    return summary.issued / seconds, cpu_ms


def main() -> None:
    """Parse the options, and remove the working folder at the end unless ``--folder`` named it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--block-size", type=int, default=2000)
    parser.add_argument("--no-hsm", action="store_true", help="leave out the SoftHSM2 configurations")
    parser.add_argument("--only", help="comma-separated configuration names to run")
    parser.add_argument(
        "--postgres", action="store_true", help="then one pem-2 run on a PostgreSQL registry (a throwaway server)"
    )
    parser.add_argument("--folder", type=Path, help="where to put the input and the runs (default: a temp folder)")
    args = parser.parse_args()

    if args.folder is not None:
        args.folder.mkdir(parents=True, exist_ok=True)
        measure(args, args.folder)
        return
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as temporary:  # a million rows take 0.5 GB
        measure(args, Path(temporary))


def measure(args: argparse.Namespace, folder: Path) -> None:
    """Write the inputs into ``folder``, run every configuration and round, and print the table."""
    key = SigningKey.generate(Algorithm.ES256)
    (folder / "issuer.pem").write_bytes(key.to_pem())
    configurations: dict[str, tuple[SignerSpec, bytes, int]] = {
        "pem-1": (SignerSpec(str(folder / "issuer.pem")), key.public_key.to_pem(), 1),
        "pem-2": (SignerSpec(str(folder / "issuer.pem")), key.public_key.to_pem(), 2),
    }
    input_kids = {key.public_key.kid}
    if not args.no_hsm:
        import softhsm

        from econsent.hsm import load_signer

        hsm = softhsm.start(folder / "softhsm")
        os.environ["ECONSENT_PKCS11_PIN"] = hsm.pin
        uri = hsm.generate("ES256", "bench-issuer")
        token_signer = load_signer(uri)
        token_public = token_signer.public_key.to_pem()
        input_kids.add(token_signer.public_key.kid)
        configurations["hsm-1"] = (SignerSpec(uri), token_public, 1)
        configurations["hsm-2"] = (SignerSpec(uri), token_public, 2)
    if args.only:
        configurations = {name: configurations[name] for name in args.only.split(",")}

    inputs: dict[bytes, Path] = {}
    for kid in sorted(input_kids):  # the proofs of possession name the issuer key: one input per key
        inputs[kid] = folder / f"rows-{kid.hex()}.jsonl"
        took = write_input(inputs[kid], args.rows, kid)
        print(f"input: {args.rows:,} rows for key {kid.hex()} in {took:.1f} s -> {inputs[kid]}", flush=True)

    results: dict[str, list[float]] = {name: [] for name in configurations}
    cpu: dict[str, list[float]] = {name: [] for name in configurations}
    for round_number in range(args.rounds):
        order = list(configurations)
        random.shuffle(order)
        for name in order:
            signer, public_pem, workers = configurations[name]
            source = inputs[PublicKey.from_pem(public_pem).kid]
            rate, cpu_ms = run_once(folder, name, source, signer, public_pem, workers, args.block_size)
            results[name].append(rate)
            cpu[name].append(cpu_ms)
            print(f"round {round_number + 1} {name:6} {rate:10,.0f} rows/s {cpu_ms:6.2f} CPU ms/row here", flush=True)

    if args.postgres:
        import postgres

        server_life = postgres.postgres_server.__wrapped__()  # the tests' fixture, run by hand
        server = next(server_life)
        url = server.url(server.create_database())
        signer, public_pem, workers = SignerSpec(str(folder / "issuer.pem")), key.public_key.to_pem(), 2
        rate, cpu_ms = run_once(
            folder, "pg-2", inputs[key.public_key.kid], signer, public_pem, workers, args.block_size, url
        )
        print(f"postgres pem-2 {rate:10,.0f} rows/s {cpu_ms:6.2f} CPU ms/row here (server with fsync=off)")
        server_life.close()

    if not args.rounds:
        return
    first = next(iter(configurations))
    print(f"\n{args.rows:,} rows, block {args.block_size}, {args.rounds} round(s), {os.cpu_count()} cores")
    print(
        f"{'configuration':14} {'median rows/s':>14} {'ratio to ' + first:>16} {'hours for 50M':>14}"
        f" {'CPU ms/row in this process':>27}"
    )
    for name, rates in results.items():
        ratio = statistics.median(rate / base for rate, base in zip(rates, results[first], strict=True))
        median = statistics.median(rates)
        print(
            f"{name:14} {median:14,.0f} {ratio:16.2f} {50e6 / median / 3600:14.1f} {statistics.median(cpu[name]):27.2f}"
        )


if __name__ == "__main__":
    main()
