"""The coordinator: :func:`run_batch` reads the rows, reserves each block's serials and status slots in the
registry, has an engine sign it, appends it to the output and only then records it (see the package
docstring for what a crash at any point leaves).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .._files import write_atomic
from ..errors import (
    BatchError,
    BatchProblem,
    IssueError,
    RegistryError,
    RegistryErrorCode,
)
from ..issue import checked_validity, derived_claims
from ..keys import PublicKey
from ..model import Credential, Instant, StatusReference, to_unix
from ..schema import BUILTIN_TYPES
from .engines import (
    BlockJob,
    Engine,
    InProcessEngine,
    IssuedRow,
    SignerSpec,
    optional_dependency,
    worker_signer,
)
from .output import FolderOutput, Journal, JsonlOutput
from .rows import NAME, BadRow, BatchRow, InputFormat, read_rows

DEFAULT_BLOCK_SIZE = 2000
MAX_BLOCK_SIZE = 100_000


# --- the coordinator -----------------------------------------------------------------------------------


class BatchRegistry(Protocol):
    """What batch issuance needs of an issuer registry (SQLite or PostgreSQL)."""

    @property
    def issuer_keys(self) -> tuple[PublicKey, ...]: ...

    def reserve(self, batch_id: str, row_ids: Sequence[str]) -> list[tuple[int, StatusReference]]: ...

    def record_batch(
        self,
        batch_id: str,
        issued: Sequence[tuple[str, Credential]],
        *,
        record_personal_data: bool = False,
    ) -> int: ...

    def recorded_rows(self, batch_id: str) -> Iterable[str]: ...

    def reservation_count(self, batch_id: str) -> int: ...


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """What a run did: rows signed now, rows found in the output from an earlier run, and the bad rows."""

    batch_id: str
    issued: int
    resumed: int
    recorded_late: int
    bad_rows: tuple[BadRow, ...]
    seconds: float
    output_repaired: bool

    @property
    def rows_per_second(self) -> float:
        """Rows signed per second of the run (resumed rows cost no signature and are not counted)."""
        return self.issued / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "issued": self.issued,
            "resumed": self.resumed,
            "recorded_late": self.recorded_late,
            "bad_rows": len(self.bad_rows),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "output_repaired": self.output_repaired,
        }


def run_batch(
    *,
    registry: BatchRegistry,
    signer: SignerSpec,
    input_path: str | os.PathLike[str],
    input_format: InputFormat,
    output: str | os.PathLike[str],
    batch_id: str,
    now: Instant,
    engine: Engine | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    holder_keys_attested: bool = False,
    derive: Iterable[str] = (),
    record_personal_data: bool = False,
    report: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> BatchSummary:
    """Issue every good row of ``input_path`` into ``output`` (a JSON Lines file, or an existing folder).

    Resumable: run it again with the same ``batch_id`` and output after a crash (see the module docstring
    for what is guaranteed). ``engine`` defaults to this process. Bad rows are listed in ``report`` (JSON
    Lines, rewritten at the end of each run) and in the summary. The signer's key must be registered in
    the registry (``WRONG_KEY`` otherwise, before anything is reserved).
    """
    if not isinstance(batch_id, str) or NAME.fullmatch(batch_id) is None:
        raise BatchError(BatchProblem.BAD_BATCH_ID, "e.g. 2026-renewal-01")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or not 1 <= block_size <= MAX_BLOCK_SIZE:
        raise BatchError(BatchProblem.BAD_OPTION, f"the block size is 1 to {MAX_BLOCK_SIZE} rows")
    started = time.perf_counter()
    run = os.urandom(8).hex()
    public_key = worker_signer(signer, run).public_key
    if public_key not in registry.issuer_keys:
        raise RegistryError(
            RegistryErrorCode.WRONG_KEY,
            f"key {public_key.kid.hex()} is not a key of this registry",
        )
    derived = tuple(derive)
    _check_derive(derived)
    recorded = frozenset(registry.recorded_rows(batch_id))
    rows = read_rows(input_path, input_format, holder_keys_attested=holder_keys_attested)
    out = Path(output)
    try:
        sink = (FolderOutput if out.is_dir() else JsonlOutput)(out, batch_id, recorded, public_key.algorithm.value)
    except BaseException:
        rows.close()
        raise
    try:
        if sink.journal.new and registry.reservation_count(batch_id):
            # Rows of this batch were reserved for another output (or one since deleted): signing them here
            # would give a second credential under serials that may already have been handed out.
            sink.discard()
            raise BatchError(
                BatchProblem.BAD_OUTPUT,
                f"batch {batch_id} was started with another output: resume into that output, or use a new batch id",
            )
    except BaseException:
        sink.close()
        rows.close()
        raise
    bad: list[BadRow] = []
    counts = {"issued": 0, "resumed": 0}
    resumed_per_block: deque[int] = deque()
    now_unix = to_unix(now)

    def jobs() -> Iterator[BlockJob]:
        for block in _blocks(rows, block_size, bad, derived, now):
            allocations = registry.reserve(batch_id, [row.row_id for row in block])
            to_sign: list[tuple[BatchRow, tuple[int, StatusReference]]] = []
            for row, allocation in zip(block, allocations, strict=True):
                held = sink.journal.done.get(row.row_id)
                # Issued by this batch and recorded, yet not in this output: it went into another output (a cut
                # last line is the exception: its row is signed again with its serial, as the module says).
                if held is None and row.row_id in recorded and not sink.journal.repaired:
                    raise BatchError(
                        BatchProblem.BAD_OUTPUT,
                        f"row {row.row_id} was issued by batch {batch_id} into another output: resume into that one",
                    )
                if held is None:
                    to_sign.append((row, allocation))
                    continue
                if held != allocation:
                    raise BatchError(
                        BatchProblem.RESERVATION_MISMATCH,
                        f"row {row.row_id}: the output has serial {held[0]}, the registry reserved {allocation[0]}",
                    )
            resumed_per_block.append(len(block) - len(to_sign))
            yield BlockJob(
                signer=signer,
                run=run,
                rows=tuple(row for row, _ in to_sign),
                allocations=tuple(allocation for _, allocation in to_sign),
                now=now_unix,
                derive=derived,
            )

    bar = None
    try:
        recorded_late = _record_late(registry, batch_id, sink.journal, block_size, record_personal_data)
        bar = _progress_bar(progress)
        with engine or InProcessEngine() as runner:
            for results in runner.map(jobs()):
                resumed = resumed_per_block.popleft()
                issued = [item for item in results if isinstance(item, IssuedRow)]
                bad.extend(item for item in results if isinstance(item, BadRow))
                sink.append(issued)  # durable first: a crash after this re-records, never re-signs
                if issued:
                    registry.record_batch(
                        batch_id,
                        [(item.row_id, item.credential(public_key.kid)) for item in issued],
                        record_personal_data=record_personal_data,
                    )
                counts["issued"] += len(issued)
                counts["resumed"] += resumed
                if bar is not None:
                    bar.update(len(results) + resumed)
    finally:
        rows.close()
        sink.close()
        if bar is not None:
            bar.close()
        if report is not None:
            lines = "".join(json.dumps(row.to_json(), ensure_ascii=False) + "\n" for row in bad)
            write_atomic(report, lines.encode("utf-8"))
    return BatchSummary(
        batch_id=batch_id,
        issued=counts["issued"],
        resumed=counts["resumed"],
        recorded_late=recorded_late,
        bad_rows=tuple(bad),
        seconds=time.perf_counter() - started,
        output_repaired=sink.journal.repaired,
    )


def _check_derive(names: tuple[str, ...]) -> None:
    """Refuse a derived claim no credential type has, before a serial is reserved: every row would else be
    refused after its reservation, and a large input would use up serials and status slots for nothing."""
    known = {spec.name for ctype in BUILTIN_TYPES for spec in ctype.claims}
    unknown = sorted(set(names) - known)
    if unknown:
        raise BatchError(
            BatchProblem.BAD_OPTION,
            f"no credential type has the claims {unknown} to derive",
        )


def _blocks(
    rows: Iterable[BatchRow | BadRow], size: int, bad: list[BadRow], derive: tuple[str, ...], now: Instant
) -> Iterator[list[BatchRow]]:
    """The good rows in blocks of ``size``; bad rows go to ``bad`` as they are met, with the rows the issuer
    would refuse for their times or derived claims, found now so that they take no serial."""
    block: list[BatchRow] = []
    for row in rows:
        if isinstance(row, BadRow):
            bad.append(row)
            continue
        refusal = _refused_by_issuer(row, derive, now)
        if refusal is not None:
            bad.append(refusal)
            continue
        block.append(row)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


def _refused_by_issuer(row: BatchRow, derive: tuple[str, ...], now: Instant) -> BadRow | None:
    """The refusal :meth:`Issuer.issue` would give the row for its validity or its derived claims (the rules
    are the issuer's own functions), or None: such a row is refused before a serial is reserved for it."""
    try:
        checked_validity(now, row.valid_from, row.valid_until)
    except IssueError as exc:
        return BadRow(row.line, row.row_id, BatchProblem.BAD_VALIDITY, exc.detail)
    ctype = BUILTIN_TYPES.by_name(row.credential_type)
    if derive and ctype is not None:  # the row reader refused unknown types
        try:
            derived_claims(ctype, row.claims, derive, row.valid_from.date())  # the date changes values, not rules
        except IssueError as exc:
            return BadRow(row.line, row.row_id, BatchProblem.BAD_CLAIMS, exc.detail)
    return None


def _record_late(
    registry: BatchRegistry,
    batch_id: str,
    journal: Journal,
    block_size: int,
    record_personal_data: bool,
) -> int:
    """Record the credentials an earlier run wrote out but crashed before recording, once their reservation
    (asked again: reserving is idempotent) is shown to be theirs."""
    late = sorted(journal.unrecorded.items(), key=lambda item: item[1].serial)
    for start in range(0, len(late), block_size):
        chunk = late[start : start + block_size]
        allocations = registry.reserve(batch_id, [row_id for row_id, _ in chunk])
        for (row_id, credential), (serial, status) in zip(chunk, allocations, strict=True):
            if (credential.serial, credential.status) != (serial, status):
                raise BatchError(
                    BatchProblem.RESERVATION_MISMATCH,
                    f"row {row_id}: the output has serial {credential.serial}, the registry reserved {serial}",
                )
        registry.record_batch(batch_id, chunk, record_personal_data=record_personal_data)
    return len(late)


def _progress_bar(enabled: bool) -> Any:
    """A tqdm bar on stderr counting rows (with rows/s), or None when not asked for."""
    if not enabled:
        return None
    return optional_dependency("tqdm", "The progress bar (tqdm)").tqdm(
        unit=" rows",
        file=sys.stderr,
        mininterval=0.5,
        smoothing=0.1,
        dynamic_ncols=True,
    )
