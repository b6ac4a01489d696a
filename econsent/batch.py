"""Batch issuance: rows of claims and holder keys in, one signed credential per good row out, resumable.

The coordinator (the calling process) reads rows from CSV or JSON Lines strictly, reports bad rows with
their line number and a :class:`~econsent.errors.BatchProblem` code while the good ones go on, and cuts
the good rows into blocks. Each block's serials and status slots are reserved in ONE registry transaction
(:meth:`BatchRegistry.reserve`, idempotent by row id), the block goes to a worker of an :class:`Engine`
(in this process, a process pool, or Dask), which signs with its own signer (loaded once per worker
thread: one HSM session each), and the coordinator appends the credentials to the output, fsyncs it, and
only then records the block (:meth:`BatchRegistry.record_batch`).

The output is the journal. Run again with the same batch id after a crash and: rows whose credential is
in the output are not signed again (and are recorded if the crash came before ``record_batch``); rows
reserved but not in the output are signed again with the SAME serial and status slot (the first
signature never left the machine); a last line cut short by the crash is cut off. What this guarantees:
every row id is in the output at most once; every credential in the output carries the serial and slot
the registry reserved for its row id, and no serial or slot is reserved twice; a serial of a batch is
unused only when its row was refused after reservation (holder key, proof of possession or a claim value
refused by the signing worker), and such a row keeps its serial and slot for the next run.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as _dt
import importlib
import io
import json
import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

from ._files import PRIVATE, _fsync_directory, _full_fsync, write_atomic
from ._json import loads_strict
from ._wire import MAX_PAYLOAD_BYTES
from .errors import (
    BatchError,
    BatchProblem,
    EconsentError,
    IssueError,
    KeyLoadError,
    MissingDependencyError,
    PossessionError,
    RegistryError,
    RegistryErrorCode,
    SchemaError,
)
from .hsm import load_signer
from .issue import Issuer
from .keys import PublicKey, Signer
from .model import Credential, Instant, StatusReference, claims_from_json, from_unix, to_unix
from .possession import ATTESTED_OUT_OF_BAND, PossessionProof
from .present import read_credential_unverified
from .schema import BUILTIN_TYPES, CredentialType

__all__ = [
    "CREDENTIAL_FILE_SUFFIX",
    "DEFAULT_BLOCK_SIZE",
    "FOLDER_MARKER",
    "MAX_BLOCK_SIZE",
    "MAX_ROW_BYTES",
    "BadRow",
    "BatchRegistry",
    "BatchRow",
    "BatchSummary",
    "BlockJob",
    "DaskEngine",
    "Engine",
    "InProcessEngine",
    "InputFormat",
    "IssuedRow",
    "PoolEngine",
    "RowReader",
    "SignerSpec",
    "read_rows",
    "run_batch",
    "sign_block",
    "worker_signer",
]

#: A physical line of the input, and a whole row (a CSV record may span lines), in bytes of UTF-8.
MAX_ROW_BYTES = 16 * 1024
DEFAULT_BLOCK_SIZE = 2000
MAX_BLOCK_SIZE = 100_000
#: The folder form of the output: one ``<row id>.ecc`` file per credential, as ``econsent issue`` writes it.
CREDENTIAL_FILE_SUFFIX = ".ecc"
FOLDER_MARKER = ".econsent-batch.json"
_MAX_OUTPUT_LINE_BYTES = 2 * MAX_PAYLOAD_BYTES + 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_REQUIRED = ("row_id", "credential_type", "holder_key", "valid_from", "valid_until")
_PROOF_FIELDS = ("possession", "challenge")
_JSONL_FIELDS = frozenset((*_REQUIRED, "claims", *_PROOF_FIELDS))
_CLAIM_COLUMN = "claim."
_OUTPUT_FIELDS = frozenset({"batch_id", "row_id", "serial", "status", "issuer_algorithm", "credential"})

InputFormat = Literal["csv", "jsonl"]


# --- rows ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One good input row, checked as far as it can be without cryptography (the worker does the rest)."""

    line: int
    row_id: str
    credential_type: str
    claims: dict[str, Any]
    holder_key: str
    possession: PossessionProof | None
    challenge: bytes | None
    valid_from: _dt.datetime
    valid_until: _dt.datetime


@dataclass(frozen=True, slots=True)
class BadRow:
    """A refused row: its line number, its id when it has a readable one, a stable code, and never its claims.

    ``serial`` is set when the row was refused after its serial was reserved (by the signing worker).
    """

    line: int
    row_id: str | None
    code: BatchProblem
    detail: str = ""
    serial: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The report line: ``{"line", "row_id", "code", "sentence", "sentence_zh", "detail", "serial"}``."""
        return {
            "line": self.line,
            "row_id": self.row_id,
            "code": self.code.value,
            "sentence": self.code.sentence,
            "sentence_zh": self.code.sentence_zh,
            "detail": self.detail,
            "serial": self.serial,
        }


def read_rows(
    path: str | os.PathLike[str], input_format: InputFormat, *, holder_keys_attested: bool = False
) -> RowReader:
    """Every row of the input file in order: a :class:`BatchRow`, or a :class:`BadRow` with its line number.

    Strict: UTF-8, at most :data:`MAX_ROW_BYTES` per line and per row, exact fields, a CSV header naming
    ``row_id``, ``credential_type``, ``holder_key``, ``valid_from``, ``valid_until``, ``possession`` and
    ``challenge`` (unless ``holder_keys_attested``), and ``claim.<name>`` columns holding JSON values; JSON
    Lines objects with those fields and ``claims``, one object of claims. A row id seen before is a bad row.
    A header that is missing or wrong raises :class:`BatchError` (``BAD_HEADER``) here, before any row is
    asked for (and so before a batch opens its output).
    """
    if input_format not in ("csv", "jsonl"):
        raise BatchError(BatchProblem.BAD_OPTION, f"unknown input format {input_format!r} (csv or jsonl)")
    handle = open(path, "rb")  # noqa: SIM115 - the RowReader closes it, or this function when the header is bad
    try:
        records = _csv_records(handle) if input_format == "csv" else _lines(handle)
        parse = _csv_parser(records) if input_format == "csv" else _jsonl_row
    except BaseException:
        handle.close()
        raise
    return RowReader(handle, _rows(records, parse, holder_keys_attested))


class RowReader:
    """The rows of an input file, read as they are asked for; ``close`` (or the end, or ``with``) closes it."""

    def __init__(self, handle: BinaryIO, rows: Iterator[BatchRow | BadRow]) -> None:
        self._handle = handle
        self._rows = rows

    def __iter__(self) -> RowReader:
        return self

    def __next__(self) -> BatchRow | BadRow:
        try:
            return next(self._rows)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> RowReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _rows(
    records: Iterator[tuple[int, str | BadRow]],
    parse: Callable[[int, str], BatchRow | BadRow],
    holder_keys_attested: bool,
) -> Iterator[BatchRow | BadRow]:
    """The rows of :func:`read_rows`, each checked, duplicates refused."""
    seen: set[str] = set()
    for line, item in records:
        row = item if isinstance(item, BadRow) else parse(line, item)
        if isinstance(row, BatchRow):
            row = _checked_row(row, holder_keys_attested)
        if isinstance(row, BatchRow):
            if row.row_id in seen:
                row = BadRow(line, row.row_id, BatchProblem.DUPLICATE_ROW_ID, "the row id was given before")
            else:
                seen.add(row.row_id)
        yield row


def _lines(handle: BinaryIO) -> Iterator[tuple[int, str | BadRow]]:
    """Physical lines as text with their number; an over-long or non-UTF-8 line is a bad row, then skipped."""
    number = 0
    while True:
        raw = handle.readline(MAX_ROW_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_ROW_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = handle.readline(MAX_ROW_BYTES)
            yield number, BadRow(number, None, BatchProblem.ROW_TOO_LARGE, f"longer than {MAX_ROW_BYTES} bytes")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, BadRow(number, None, BatchProblem.NOT_UTF8, f"byte {exc.start}")
            continue
        if number == 1:
            text = text.removeprefix("\ufeff")  # a byte order mark, as spreadsheet programs write
        yield number, text


def _csv_records(handle: BinaryIO) -> Iterator[tuple[int, str | BadRow]]:
    """CSV records (RFC 4180: a quoted field may span lines) with the number of their first line.

    A record ends at a line end outside quotes: quotes inside a quoted field are doubled, so an even count
    of ``"`` so far means the field is closed. A record over :data:`MAX_ROW_BYTES` is a bad row.
    """
    parts: list[str] = []
    start = size = quotes = 0
    for number, text in _lines(handle):
        if isinstance(text, BadRow):
            if parts:  # the record it belonged to cannot be whole
                yield start, BadRow(start, None, text.code, f"{text.detail} (line {number})")
                parts, size, quotes = [], 0, 0
            else:
                yield number, text
            continue
        if not parts:
            start = number
        parts.append(text)
        size += len(text)
        quotes += text.count('"')
        if size > MAX_ROW_BYTES:
            yield start, BadRow(start, None, BatchProblem.ROW_TOO_LARGE, f"longer than {MAX_ROW_BYTES} bytes")
            parts, size, quotes = [], 0, 0
        elif quotes % 2 == 0:
            yield start, "".join(parts)
            parts, size, quotes = [], 0, 0
    if parts:
        yield start, BadRow(start, None, BatchProblem.MALFORMED_ROW, "a quoted field is not closed")


def _csv_parser(records: Iterator[tuple[int, str | BadRow]]) -> Callable[[int, str], BatchRow | BadRow]:
    """Read the header record from ``records`` and return the parser of the records after it."""
    header = next(((line, item) for line, item in records if not (isinstance(item, str) and not item.strip())), None)
    if header is None:
        raise BatchError(BatchProblem.BAD_HEADER, "the CSV file is empty: its first line must be the header")
    line, text = header
    if isinstance(text, BadRow):
        raise BatchError(BatchProblem.BAD_HEADER, f"line {line}: {text.code.value}")
    columns = _csv_fields(text)
    if columns is None:
        raise BatchError(BatchProblem.BAD_HEADER, f"line {line} is not a CSV header")
    known = {*_REQUIRED, *_PROOF_FIELDS}
    unknown = [c for c in columns if c not in known and not c.startswith(_CLAIM_COLUMN)]
    missing = [c for c in _REQUIRED if c not in columns]
    if unknown or missing or len(set(columns)) != len(columns) or _CLAIM_COLUMN in columns:
        raise BatchError(
            BatchProblem.BAD_HEADER,
            f"columns: required {list(_REQUIRED)}, optional {list(_PROOF_FIELDS)} and claim.<name>; "
            f"missing {missing}, unknown {unknown}, duplicates {len(columns) - len(set(columns))}",
        )

    def parse(number: int, text: str) -> BatchRow | BadRow:
        fields = _csv_fields(text)
        if fields is None or len(fields) != len(columns):
            return BadRow(number, None, BatchProblem.MALFORMED_ROW, f"not a CSV record of {len(columns)} fields")
        cells = {name: value for name, value in zip(columns, fields, strict=True) if value != ""}
        row_id = _shown_id(cells.get("row_id"))
        claims: dict[str, Any] = {}
        for name in [c for c in cells if c.startswith(_CLAIM_COLUMN)]:
            try:
                claims[name.removeprefix(_CLAIM_COLUMN)] = json.loads(cells.pop(name))
            except (ValueError, RecursionError):
                return BadRow(number, row_id, BatchProblem.BAD_CLAIMS, f"column {name} does not hold a JSON value")
        if "possession" in cells:
            try:
                cells["possession"] = loads_strict(cells["possession"])
            except (ValueError, RecursionError):
                return BadRow(number, row_id, BatchProblem.BAD_PROOF, "the possession column is not a JSON object")
        return _row(number, {**cells, "claims": claims})

    return parse


def _csv_fields(record: str) -> list[str] | None:
    """The fields of one CSV record, or None when it is not exactly one well-formed record."""
    try:
        rows = list(csv.reader(io.StringIO(record), strict=True))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def _jsonl_row(number: int, text: str) -> BatchRow | BadRow:
    try:
        document = loads_strict(text)
    except (ValueError, RecursionError):
        return BadRow(number, None, BatchProblem.MALFORMED_ROW, "not a JSON object (or a key given twice)")
    if not isinstance(document, dict):
        return BadRow(number, None, BatchProblem.MALFORMED_ROW, "a row is a JSON object")
    row_id = _shown_id(document.get("row_id"))
    unknown = sorted(set(document) - _JSONL_FIELDS)
    if unknown:
        return BadRow(number, row_id, BatchProblem.UNKNOWN_FIELD, f"fields {unknown[:5]}")
    if "claims" not in document:
        return BadRow(number, row_id, BatchProblem.MISSING_FIELD, "claims")
    return _row(number, {name: value for name, value in document.items() if value is not None})


def _shown_id(value: object) -> str | None:
    """A bad row's id as the report may show it: only a well-formed id (never free text from the row)."""
    return value if isinstance(value, str) and _NAME.fullmatch(value) else None


def _row(number: int, fields: Mapping[str, Any]) -> BatchRow | BadRow:
    """A row from its fields (the same for both formats): names, types and times checked; claims converted."""
    row_id = fields.get("row_id")
    if not isinstance(row_id, str) or _NAME.fullmatch(row_id) is None:
        return BadRow(number, None, BatchProblem.BAD_ROW_ID if "row_id" in fields else BatchProblem.MISSING_FIELD)
    missing = [name for name in _REQUIRED if name not in fields]
    if missing:
        return BadRow(number, row_id, BatchProblem.MISSING_FIELD, ", ".join(missing))
    if not all(isinstance(fields[name], str) for name in _REQUIRED):
        return BadRow(number, row_id, BatchProblem.MALFORMED_ROW, f"{', '.join(_REQUIRED)} are text")
    ctype = BUILTIN_TYPES.by_name(fields["credential_type"])
    if ctype is None:
        return BadRow(number, row_id, BatchProblem.UNKNOWN_TYPE, f"known: {', '.join(BUILTIN_TYPES.names())}")
    claims = _claims(ctype, fields["claims"])
    if isinstance(claims, str):
        return BadRow(number, row_id, BatchProblem.BAD_CLAIMS, claims)
    valid_from, valid_until = _time(fields["valid_from"]), _time(fields["valid_until"])
    if valid_from is None or valid_until is None:
        return BadRow(number, row_id, BatchProblem.BAD_VALIDITY, "ISO 8601 times with a time zone, e.g. ...Z")
    if valid_from >= valid_until:
        return BadRow(number, row_id, BatchProblem.BAD_VALIDITY, "valid_from must be before valid_until")
    possession: PossessionProof | None = None
    challenge: bytes | None = None
    if "possession" in fields or "challenge" in fields:
        text = fields.get("challenge")
        if not isinstance(text, str) or _HEX.fullmatch(text) is None:
            return BadRow(number, row_id, BatchProblem.BAD_PROOF, "challenge: lowercase hex")
        try:
            possession = PossessionProof.from_json(fields.get("possession"))
        except PossessionError as exc:
            return BadRow(number, row_id, BatchProblem.BAD_PROOF, f"{exc.code.value}: {exc.detail}")
        challenge = binascii.unhexlify(text)
    return BatchRow(
        line=number,
        row_id=row_id,
        credential_type=ctype.name,
        claims=claims,
        holder_key=fields["holder_key"],
        possession=possession,
        challenge=challenge,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def _checked_row(row: BatchRow, holder_keys_attested: bool) -> BatchRow | BadRow:
    """A proof of possession for every row, or none at all when the run says the keys were attested."""
    if holder_keys_attested and row.possession is not None:
        return BadRow(row.line, row.row_id, BatchProblem.UNKNOWN_FIELD, "holder keys are attested: give no proof")
    if not holder_keys_attested and row.possession is None:
        return BadRow(row.line, row.row_id, BatchProblem.MISSING_PROOF, "possession and challenge")
    return row


def _claims(ctype: CredentialType, raw: object) -> dict[str, Any] | str:
    """JSON claims as Python values by the type's kinds (dates from ISO text, bytes from base64url), or why not."""
    if not isinstance(raw, dict) or not raw:
        return "claims: a non-empty object"
    try:
        return claims_from_json(ctype, raw)
    except SchemaError as exc:
        return exc.detail


def _time(text: str) -> _dt.datetime | None:
    """An ISO 8601 time with a time zone, or None."""
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


# --- signing (the worker) --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignerSpec:
    """How a worker loads the issuer's signer: what :func:`econsent.hsm.load_signer` takes (a PEM file path
    or a ``pkcs11:`` URI) and the environment variable holding a key file's passphrase.

    Only names travel to workers (also to Dask workers on other machines), never a secret: each worker
    reads the passphrase, or the token's PIN (``ECONSENT_PKCS11_PIN``), from its own environment.
    """

    spec: str
    passphrase_env: str | None = None


@dataclass(frozen=True, slots=True)
class BlockJob:
    """What a worker signs: rows with their reserved serials and slots, and how to load the signer."""

    signer: SignerSpec
    run: str
    rows: tuple[BatchRow, ...]
    allocations: tuple[tuple[int, StatusReference], ...]
    now: int
    derive: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IssuedRow:
    """A credential a worker signed, in fields that cross process boundaries (a Credential's claims do not)."""

    row_id: str
    credential_type: str
    serial: int
    status: StatusReference
    issued_at: int
    valid_from: int
    valid_until: int
    holder_algorithm: str | None
    holder_key: bytes | None
    claims: dict[str, Any]
    encoded: bytes

    def credential(self, kid: bytes) -> Credential:
        return Credential(
            credential_type=self.credential_type,
            kid=kid,
            serial=self.serial,
            issued_at=from_unix(self.issued_at),
            valid_from=from_unix(self.valid_from),
            valid_until=from_unix(self.valid_until),
            holder_algorithm=self.holder_algorithm,
            holder_key=self.holder_key,
            claims=self.claims,
            encoded=self.encoded,
            status=self.status,
        )


_WORKER = threading.local()


def worker_signer(spec: SignerSpec, run: str) -> Signer:
    """The signer of ``spec`` for this worker thread, loaded once per run (one HSM session per worker, not
    per block). A new ``run`` (each :func:`run_batch` call) loads it afresh, so a long-lived worker never
    signs with a key file's or token's earlier contents; the signer of the previous run is closed."""
    held: tuple[tuple[SignerSpec, str], Signer] | None = getattr(_WORKER, "signer", None)
    if held is not None and held[0] == (spec, run):
        return held[1]
    if held is not None:
        _close(held[1])
    signer = _load_signer(spec)
    _WORKER.signer = ((spec, run), signer)
    return signer


def _close(signer: Signer) -> None:
    """End a signer's HSM session, if it has one (a key in memory has nothing to close)."""
    close = getattr(signer, "close", None)
    if callable(close):
        close()


def _load_signer(spec: SignerSpec) -> Signer:
    passphrase = None
    if spec.passphrase_env:
        passphrase = os.environ.get(spec.passphrase_env)
        if passphrase is None:
            raise KeyLoadError(f"environment variable {spec.passphrase_env} (the key's passphrase) is not set")
    return load_signer(spec.spec, passphrase=passphrase)


def sign_block(job: BlockJob) -> list[IssuedRow | BadRow]:
    """Sign one block (the function every engine runs): a credential per row, or the reason it was refused.

    A row's own fault (holder key, proof of possession, a claim value) refuses that row only; a failing
    signer raises, and stops the batch.
    """
    issuer = Issuer(worker_signer(job.signer, job.run))
    now = from_unix(job.now)
    results: list[IssuedRow | BadRow] = []
    for row, (serial, status) in zip(job.rows, job.allocations, strict=True):
        try:
            holder_key = PublicKey.from_pem(row.holder_key)
        except KeyLoadError as exc:
            results.append(BadRow(row.line, row.row_id, BatchProblem.BAD_HOLDER_KEY, exc.detail, serial))
            continue
        try:
            credential = issuer.issue(
                row.credential_type,
                row.claims,
                holder_key=holder_key,
                possession=ATTESTED_OUT_OF_BAND if row.possession is None else row.possession,
                challenge=row.challenge,
                valid_from=row.valid_from,
                valid_until=row.valid_until,
                now=now,
                serial=serial,
                derive=job.derive,
                status=status,
            )
        except PossessionError as exc:
            results.append(BadRow(row.line, row.row_id, BatchProblem.BAD_PROOF, exc.code.value, serial))
            continue
        except IssueError as exc:
            results.append(BadRow(row.line, row.row_id, BatchProblem.ISSUE_REFUSED, exc.detail, serial))
            continue
        results.append(
            IssuedRow(
                row_id=row.row_id,
                credential_type=credential.credential_type,
                serial=serial,
                status=status,
                issued_at=job.now,
                valid_from=to_unix(credential.valid_from),
                valid_until=to_unix(credential.valid_until),
                holder_algorithm=credential.holder_algorithm,
                holder_key=credential.holder_key,
                claims=dict(credential.claims),
                encoded=credential.encoded,
            )
        )
    return results


# --- engines -------------------------------------------------------------------------------------------


class _Pending(Protocol):
    def result(self) -> list[IssuedRow | BadRow]: ...


class Engine:
    """Runs :func:`sign_block` jobs somewhere; :meth:`map` keeps a bounded number in flight, in order.

    The coordinator uses only :meth:`map`, so every engine runs the same code path.
    """

    workers = 1

    def submit(self, job: BlockJob) -> _Pending:
        raise NotImplementedError

    def map(self, jobs: Iterable[BlockJob], *, window: int | None = None) -> Iterator[list[IssuedRow | BadRow]]:
        """The results of ``jobs`` in their order, with at most ``window`` (default: 2 per worker) in flight.

        A job is taken from ``jobs`` only when there is room, so reservations run just ahead of signing.
        """
        limit = window or 2 * self.workers
        pending: deque[_Pending] = deque()
        for job in jobs:
            pending.append(self.submit(job))
            if len(pending) >= limit:
                yield self._result(pending.popleft())
        while pending:
            yield self._result(pending.popleft())

    def _result(self, pending: _Pending) -> list[IssuedRow | BadRow]:
        try:
            return pending.result()
        except EconsentError:
            raise
        except Exception as exc:  # a dead process (BrokenProcessPool), a lost Dask worker, ...
            raise BatchError(BatchProblem.WORKER_FAILED, f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Stop the workers."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class InProcessEngine(Engine):
    """Signs in the calling process, one block at a time (``--workers 0`` or ``1``)."""

    def submit(self, job: BlockJob) -> _Pending:
        future: Future[list[IssuedRow | BadRow]] = Future()
        try:
            future.set_result(sign_block(job))
        except Exception as exc:  # delivered by result(), as a pool would
            future.set_exception(exc)
        return future


class PoolEngine(Engine):
    """A process pool on this machine (``forkserver`` processes: no inherited locks or HSM sessions)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("forkserver"))

    def submit(self, job: BlockJob) -> _Pending:
        return self._pool.submit(sign_block, job)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskEngine(Engine):
    """Dask distributed: a scheduler at ``address``, or a LocalCluster of ``workers`` single-threaded workers.

    Every worker loads the signer itself (:func:`worker_signer`), so it needs the key (or token) and the
    passphrase (or PIN) variable in its own environment; nothing secret is sent over the network.
    """

    def __init__(self, address: str | None = None, *, workers: int = 2, processes: bool = True) -> None:
        distributed = _optional("distributed", "Dask")

        self._cluster: Any = None
        if address:
            try:
                self._client: Any = distributed.Client(address, timeout=10)
            except (OSError, TimeoutError) as exc:  # no scheduler there, or it did not answer in time
                raise BatchError(BatchProblem.ENGINE_UNREACHABLE, f"{address}: {exc}") from exc
            self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))
        else:
            self._cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
                silence_logs=40,  # logging.ERROR: the batch reports its own failures
            )
            self._client = distributed.Client(self._cluster)
            self.workers = workers

    def submit(self, job: BlockJob) -> _Pending:
        pending: _Pending = self._client.submit(sign_block, job, pure=False)
        return pending

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


# --- the output journal ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Journal:
    """The credentials already in the output: row id -> (serial, status slot), and those still to record."""

    done: dict[str, tuple[int, StatusReference]] = field(default_factory=dict)
    unrecorded: dict[str, Credential] = field(default_factory=dict)
    repaired: bool = False
    new: bool = False  # this run made the output: no earlier run of the batch wrote here


def _lock(fd: int, what: Path) -> None:
    """Hold an exclusive lock on the output for the whole run: two runs writing one output would each sign
    every row (two credentials under one serial); the second is refused instead."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise BatchError(BatchProblem.BAD_OUTPUT, f"another run is writing {what} now") from exc


class _JsonlOutput:
    """JSON Lines output, one object per row: ``{"batch_id", "row_id", "serial", "status", "issuer_algorithm",
    "credential"}`` (the issuer key's algorithm tells the holder the hash suite to present in: SM3 for SM2).

    ``credential`` is the credential's bytes (what ``econsent issue`` writes) in base64url. Appends are
    flushed and fsynced before the registry records them; a last line cut short by a crash is cut off.
    """

    def __init__(self, path: Path, batch_id: str, recorded: frozenset[str], issuer_algorithm: str) -> None:
        self._path = path
        self._batch_id = batch_id
        self._issuer_algorithm = issuer_algorithm
        self.journal = _Journal()
        existed = os.path.lexists(path)
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
        try:
            self._fd = os.open(path, flags, PRIVATE)
        except OSError as exc:
            raise BatchError(BatchProblem.BAD_OUTPUT, f"{path}: {exc.strerror}") from exc
        self.journal.new = not existed
        try:
            _lock(self._fd, path)
            if existed:
                self._scan(recorded)
            else:
                _fsync_directory(path.parent)
        except BaseException:
            self.close()
            raise

    def _scan(self, recorded: frozenset[str]) -> None:
        with os.fdopen(os.dup(self._fd), "rb") as handle:
            handle.seek(0)
            good = 0
            number = 0
            while raw := handle.readline(_MAX_OUTPUT_LINE_BYTES + 1):
                number += 1
                if not raw.endswith(b"\n"):
                    if handle.read(1) or not self._cut_short(raw):
                        raise BatchError(BatchProblem.BAD_OUTPUT, f"{self._path} line {number} is not a batch line")
                    os.ftruncate(self._fd, good)  # the crash cut this last line short
                    _full_fsync(self._fd)
                    self.journal.repaired = True
                    return
                self._take(raw, number, recorded)
                good += len(raw)

    def _cut_short(self, raw: bytes) -> bool:
        """True when ``raw`` is the start of a line of this batch (or zeros a crash left): safe to cut off.
        Anything else is refused, so a file that is not this batch's output is never cut."""
        start = b'{"batch_id":' + json.dumps(self._batch_id).encode("ascii") + b","
        return raw.startswith(start) or start.startswith(raw) or not raw.strip(b"\0")

    def _take(self, raw: bytes, number: int, recorded: frozenset[str]) -> None:
        where = f"{self._path} line {number}"
        try:
            document = loads_strict(raw)
            status = document["status"]
            reference = StatusReference(status["list_id"], status["index"])
            row_id, serial, text = document["row_id"], document["serial"], document["credential"]
            ok = set(document) == _OUTPUT_FIELDS and set(status) == {"list_id", "index"}
        except (ValueError, RecursionError, TypeError, KeyError) as exc:
            raise BatchError(BatchProblem.BAD_OUTPUT, f"{where} is not a batch output line") from exc
        if not ok or not isinstance(row_id, str) or not isinstance(text, str):
            raise BatchError(BatchProblem.BAD_OUTPUT, f"{where} is not a batch output line")
        if document["batch_id"] != self._batch_id:
            raise BatchError(BatchProblem.BAD_OUTPUT, f"{where} belongs to another batch, not {self._batch_id}")
        if row_id in self.journal.done:
            raise BatchError(BatchProblem.BAD_OUTPUT, f"{where} holds row {row_id} a second time")
        self.journal.done[row_id] = (serial, reference)
        if row_id not in recorded:
            try:
                encoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
                credential = read_credential_unverified(encoded)
            except (ValueError, binascii.Error, EconsentError) as exc:
                raise BatchError(BatchProblem.BAD_OUTPUT, f"{where}: not a credential") from exc
            if (credential.serial, credential.status) != (serial, reference):
                raise BatchError(BatchProblem.BAD_OUTPUT, f"{where}: the credential's serial or slot differs")
            self.journal.unrecorded[row_id] = credential

    def append(self, issued: Sequence[IssuedRow]) -> None:
        """Append and make durable (flush and fsync) before the registry records the block."""
        if not issued:
            return
        lines = "".join(
            json.dumps(
                {
                    "batch_id": self._batch_id,
                    "row_id": item.row_id,
                    "serial": item.serial,
                    "status": {"list_id": item.status.list_id, "index": item.status.index},
                    "issuer_algorithm": self._issuer_algorithm,
                    "credential": base64.urlsafe_b64encode(item.encoded).rstrip(b"=").decode("ascii"),
                },
                separators=(",", ":"),
            )
            + "\n"
            for item in issued
        ).encode("ascii")
        view = memoryview(lines)
        while view:
            view = view[os.write(self._fd, view) :]
        _full_fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)  # releases the lock

    def discard(self) -> None:
        """Take back an output this run made and wrote nothing to (the run was refused before issuing)."""
        if self.journal.new and not self.journal.done:
            os.unlink(self._path)


class _FolderOutput:
    """One ``<row id>.ecc`` file per credential in a folder marked as this batch's (each written atomically)."""

    def __init__(self, path: Path, batch_id: str, recorded: frozenset[str], issuer_algorithm: str) -> None:
        self._path = path
        self.journal = _Journal()
        marker = path / FOLDER_MARKER
        entries = [entry for entry in os.scandir(path) if entry.name != FOLDER_MARKER]
        if marker.exists():
            try:
                owner = loads_strict(marker.read_bytes()[:1024]).get("batch_id")
            except (ValueError, AttributeError, OSError) as exc:
                raise BatchError(BatchProblem.BAD_OUTPUT, f"{marker} is damaged") from exc
            if owner != batch_id:
                raise BatchError(BatchProblem.BAD_OUTPUT, f"{path} holds batch {owner}, not {batch_id}")
        elif entries:
            raise BatchError(BatchProblem.BAD_OUTPUT, f"{path} is not empty and holds no batch")
        else:
            write_atomic(
                marker, json.dumps({"batch_id": batch_id, "issuer_algorithm": issuer_algorithm}).encode("ascii")
            )
            self.journal.new = True
        self._marker = marker
        self._lock_fd = os.open(marker, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            _lock(self._lock_fd, path)
        except BaseException:
            os.close(self._lock_fd)
            raise
        for entry in entries:
            name = entry.name
            if name.startswith(".") and name.endswith(".tmp"):  # write_atomic's file, left by a crash
                os.unlink(entry.path)
                continue
            row_id = name.removesuffix(CREDENTIAL_FILE_SUFFIX)
            if not name.endswith(CREDENTIAL_FILE_SUFFIX) or _NAME.fullmatch(row_id) is None:
                raise BatchError(BatchProblem.BAD_OUTPUT, f"{entry.path} is not a credential of the batch")
            try:
                with open(entry.path, "rb") as handle:
                    credential = read_credential_unverified(handle.read(MAX_PAYLOAD_BYTES + 1))
            except EconsentError as exc:
                raise BatchError(BatchProblem.BAD_OUTPUT, f"{entry.path}: not a credential") from exc
            if credential.status is None:
                raise BatchError(BatchProblem.BAD_OUTPUT, f"{entry.path}: a credential without a status slot")
            self.journal.done[row_id] = (credential.serial, credential.status)
            if row_id not in recorded:
                self.journal.unrecorded[row_id] = credential

    def append(self, issued: Sequence[IssuedRow]) -> None:
        for item in issued:
            write_atomic(self._path / f"{item.row_id}{CREDENTIAL_FILE_SUFFIX}", item.encoded, mode=PRIVATE)

    def close(self) -> None:
        os.close(self._lock_fd)  # releases the lock

    def discard(self) -> None:
        """Take back the mark this run put on an empty folder (the run was refused before issuing)."""
        if self.journal.new and not self.journal.done:
            os.unlink(self._marker)


# --- the coordinator -----------------------------------------------------------------------------------


class BatchRegistry(Protocol):
    """What batch issuance needs of an issuer registry (SQLite or PostgreSQL)."""

    @property
    def issuer_keys(self) -> tuple[PublicKey, ...]: ...

    def reserve(self, batch_id: str, row_ids: Sequence[str]) -> list[tuple[int, StatusReference]]: ...

    def record_batch(
        self, batch_id: str, issued: Sequence[tuple[str, Credential]], *, record_personal_data: bool = False
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
    if not isinstance(batch_id, str) or _NAME.fullmatch(batch_id) is None:
        raise BatchError(BatchProblem.BAD_BATCH_ID, "e.g. 2026-renewal-01")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or not 1 <= block_size <= MAX_BLOCK_SIZE:
        raise BatchError(BatchProblem.BAD_OPTION, f"the block size is 1 to {MAX_BLOCK_SIZE} rows")
    started = time.perf_counter()
    run = os.urandom(8).hex()
    public_key = worker_signer(signer, run).public_key
    if public_key not in registry.issuer_keys:
        raise RegistryError(RegistryErrorCode.WRONG_KEY, f"key {public_key.kid.hex()} is not a key of this registry")
    derived = tuple(derive)
    _check_derive(derived)
    recorded = frozenset(registry.recorded_rows(batch_id))
    rows = read_rows(input_path, input_format, holder_keys_attested=holder_keys_attested)
    out = Path(output)
    try:
        sink = (_FolderOutput if out.is_dir() else _JsonlOutput)(out, batch_id, recorded, public_key.algorithm.value)
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
        for block in _blocks(rows, block_size, bad):
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
        raise BatchError(BatchProblem.BAD_OPTION, f"no credential type has the claims {unknown} to derive")


def _blocks(rows: Iterable[BatchRow | BadRow], size: int, bad: list[BadRow]) -> Iterator[list[BatchRow]]:
    """The good rows in blocks of ``size``; bad rows go to ``bad`` as they are met."""
    block: list[BatchRow] = []
    for row in rows:
        if isinstance(row, BadRow):
            bad.append(row)
            continue
        block.append(row)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


def _record_late(
    registry: BatchRegistry, batch_id: str, journal: _Journal, block_size: int, record_personal_data: bool
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
    return _optional("tqdm", "The progress bar (tqdm)").tqdm(
        unit=" rows", file=sys.stderr, mininterval=0.5, smoothing=0.1, dynamic_ncols=True
    )


def _optional(module: str, what: str) -> Any:
    """An optional dependency of the ``batch`` extra, imported when first needed."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(f"{what} is not installed: pip install 'econsent[batch]'") from exc
