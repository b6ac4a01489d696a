"""``econsent issuer batch``: issue a file of rows through the registry, resumable, on a process pool or Dask.

A thin layer over :func:`econsent.batch.run_batch`: it checks the paths (a typo is a usage error before a
serial is reserved), picks the engine and prints the summary. Exit 0 when every row was issued, 1 when
some rows were refused (they are listed in the report, by line number), 2 on a usage or input error.
"""

# The Chinese summary uses Chinese (full-width) punctuation on purpose.

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from ..batch import (
    DEFAULT_BLOCK_SIZE,
    MAX_BLOCK_SIZE,
    DaskEngine,
    Engine,
    InProcessEngine,
    InputFormat,
    PoolEngine,
    SignerSpec,
    run_batch,
)
from ..errors import EXIT_REJECTED, EXIT_VALID
from ..i18n import N_, translate
from ..registry import IssuerRegistry
from ._common import (
    SIGNING_KEY_HELP,
    UsageError,
    add_passphrase_option,
    add_registry_option,
    csv_list,
    emit,
    int_range,
    parse_time,
)

__all__ = ["register"]

_FORMATS: dict[str, InputFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_MAX_WORKERS = 256
_SHOWN_BAD_ROWS = 20


def register(actions: Any) -> None:
    """Add ``batch`` to the ``issuer`` actions."""
    batch = actions.add_parser("batch", help="issue every row of a CSV or JSON Lines file; resumable by batch id")
    add_registry_option(batch)
    batch.add_argument("--key", required=True, help="issuer " + SIGNING_KEY_HELP)
    add_passphrase_option(batch, "passphrase of the issuer key file, from this environment variable")
    batch.add_argument("--input", required=True, type=Path, help="rows to issue (.csv with a header, or .jsonl)")
    batch.add_argument("--format", choices=("csv", "jsonl"), help="input format (default: from the file suffix)")
    batch.add_argument(
        "--output", required=True, help="JSON Lines file of credentials, or an existing folder (one each)"
    )
    batch.add_argument("--batch-id", required=True, help="names the run: the same id resumes it")
    batch.add_argument(
        "--workers",
        type=int_range(0, _MAX_WORKERS),
        help="signing processes (0 or 1: in this process; default 1), or a Dask LocalCluster's workers",
    )
    batch.add_argument(
        "--dask",
        nargs="?",
        const="",
        metavar="ADDR",
        help="sign on Dask: the scheduler at ADDR, or a LocalCluster on this machine without ADDR",
    )
    batch.add_argument(
        "--block-size",
        type=int_range(1, MAX_BLOCK_SIZE),
        default=DEFAULT_BLOCK_SIZE,
        help=f"rows per reservation and per worker job (default {DEFAULT_BLOCK_SIZE})",
    )
    batch.add_argument(
        "--holder-keys-attested",
        action="store_true",
        help="bind the rows' holder keys without proofs: their control was attested out of band",
    )
    batch.add_argument("--derive", default="", help="comma-separated claims to derive, e.g. age_over_18")
    batch.add_argument("--report", type=Path, help="JSON Lines list of bad rows (default: OUTPUT.report.jsonl)")
    batch.add_argument("--progress", action="store_true", help="show a progress bar (default: when on a terminal)")
    batch.add_argument("--now", help="issuance time, ISO 8601 or Unix seconds (default: the clock)")
    batch.add_argument("--json", action="store_true")
    batch.set_defaults(handler=_batch)


def _batch(args: argparse.Namespace) -> int:
    input_format = _input_format(args)
    if args.output.endswith(os.sep) and not os.path.isdir(args.output):
        raise UsageError(f"--output {args.output}: the folder does not exist (create it first)")
    output = Path(args.output)
    report = args.report or Path(f"{output}.report.jsonl")
    _check_paths(args.input, output, report)
    now = parse_time(args.now)
    with IssuerRegistry.open(args.registry, create=False) as registry, _engine(args) as engine:
        summary = run_batch(
            registry=registry,
            signer=SignerSpec(args.key, args.passphrase_env),
            input_path=args.input,
            input_format=input_format,
            output=output,
            batch_id=args.batch_id,
            now=now,
            engine=engine,
            block_size=args.block_size,
            holder_keys_attested=args.holder_keys_attested,
            derive=csv_list(args.derive),
            report=report,
            progress=args.progress or (sys.stderr.isatty() and importlib.util.find_spec("tqdm") is not None),
        )
    language = args.language
    lines = [
        translate(
            N_(
                "batch {batch}: {issued} issued, {resumed} already in the output ({late} recorded now), "
                "{bad} bad rows; {rate} rows/s -> {output}"
            ),
            language,
        ).format(
            batch=summary.batch_id,
            issued=summary.issued,
            resumed=summary.resumed,
            late=summary.recorded_late,
            bad=len(summary.bad_rows),
            rate=f"{summary.rows_per_second:,.0f}",
            output=output,
        )
    ]
    lines += [
        translate(N_("  line {line}: {code} {sentence}"), language).format(
            line=row.line, code=row.code.value, sentence=row.code.sentence_in(language)
        )
        for row in summary.bad_rows[:_SHOWN_BAD_ROWS]
    ]
    if summary.bad_rows:
        lines.append(translate(N_("  bad rows: {report}"), language).format(report=report))
    emit(args, {**summary.to_json(), "output": str(output), "report": str(report)}, lines)
    return EXIT_REJECTED if summary.bad_rows else EXIT_VALID


def _input_format(args: argparse.Namespace) -> InputFormat:
    if args.format:
        chosen: InputFormat = args.format
        return chosen
    guessed = _FORMATS.get(args.input.suffix.lower())
    if guessed is None:
        raise UsageError(f"--input {args.input}: give --format csv or jsonl (the suffix does not say)")
    return guessed


def _check_paths(source: Path, output: Path, report: Path) -> None:
    """Typos are usage errors, found before anything is reserved or signed."""
    if not source.is_file():
        raise UsageError(f"--input {source}: " + ("not a file" if os.path.lexists(source) else "does not exist"))
    if not output.is_dir() and not output.parent.is_dir():
        raise UsageError(f"--output {output}: the folder {output.parent} does not exist")
    for path, option in ((output, "--output"), (report, "--report")):
        if (os.path.lexists(path) and os.path.samefile(path, source)) or path.resolve() == source.resolve():
            raise UsageError(f"{option} {path} is the input file")
    if report.resolve() == output.resolve():
        raise UsageError(f"--report {report} is the output")


def _engine(args: argparse.Namespace) -> Engine:
    if args.dask is not None:
        if args.dask and args.workers is not None:
            raise UsageError("--workers sizes a LocalCluster: a Dask scheduler at an address has its own workers")
        return DaskEngine(args.dask or None, workers=args.workers or os.cpu_count() or 1)
    if args.workers is None or args.workers <= 1:
        return InProcessEngine()
    return PoolEngine(args.workers)
