"""The rows of a batch: CSV or JSON Lines read strictly, one :class:`BatchRow` per good row and one
:class:`BadRow` (line number, :class:`~econsent.errors.BatchProblem` code) per bad one, while the good ones go on.
"""

from __future__ import annotations

import binascii
import csv
import datetime as _dt
import io
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from .._json import loads_strict
from ..errors import (
    BatchError,
    BatchProblem,
    PossessionError,
    SchemaError,
)
from ..model import claims_from_json
from ..possession import PossessionProof
from ..schema import BUILTIN_TYPES, CredentialType

#: A physical line of the input, and a whole row (a CSV record may span lines), in bytes of UTF-8.
MAX_ROW_BYTES = 16 * 1024
#: A row id or batch id: also a file name in the folder output, so no separators and no leading dot.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_REQUIRED = ("row_id", "credential_type", "holder_key", "valid_from", "valid_until")
_PROOF_FIELDS = ("possession", "challenge")
_JSONL_FIELDS = frozenset((*_REQUIRED, "claims", *_PROOF_FIELDS))
_CLAIM_COLUMN = "claim."
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
    path: str | os.PathLike[str],
    input_format: InputFormat,
    *,
    holder_keys_attested: bool = False,
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
        raise BatchError(
            BatchProblem.BAD_OPTION,
            f"unknown input format {input_format!r} (csv or jsonl)",
        )
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
                row = BadRow(
                    line,
                    row.row_id,
                    BatchProblem.DUPLICATE_ROW_ID,
                    "the row id was given before",
                )
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
            yield (
                number,
                BadRow(
                    number,
                    None,
                    BatchProblem.ROW_TOO_LARGE,
                    f"longer than {MAX_ROW_BYTES} bytes",
                ),
            )
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield (
                number,
                BadRow(number, None, BatchProblem.NOT_UTF8, f"byte {exc.start}"),
            )
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
                yield (
                    start,
                    BadRow(start, None, text.code, f"{text.detail} (line {number})"),
                )
                parts, size, quotes = [], 0, 0
            else:
                yield number, text
            continue
        if not parts:
            start = number
        parts.append(text)
        size += len(text.encode("utf-8"))  # the limit is in bytes, like a JSON Lines row's
        quotes += text.count('"')
        if size > MAX_ROW_BYTES:
            yield (
                start,
                BadRow(
                    start,
                    None,
                    BatchProblem.ROW_TOO_LARGE,
                    f"longer than {MAX_ROW_BYTES} bytes",
                ),
            )
            parts, size, quotes = [], 0, 0
        elif quotes % 2 == 0:
            yield start, "".join(parts)
            parts, size, quotes = [], 0, 0
    if parts:
        yield (
            start,
            BadRow(start, None, BatchProblem.MALFORMED_ROW, "a quoted field is not closed"),
        )


def _csv_parser(
    records: Iterator[tuple[int, str | BadRow]],
) -> Callable[[int, str], BatchRow | BadRow]:
    """Read the header record from ``records`` and return the parser of the records after it."""
    header = next(
        ((line, item) for line, item in records if not (isinstance(item, str) and not item.strip())),
        None,
    )
    if header is None:
        raise BatchError(
            BatchProblem.BAD_HEADER,
            "the CSV file is empty: its first line must be the header",
        )
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
            return BadRow(
                number,
                None,
                BatchProblem.MALFORMED_ROW,
                f"not a CSV record of {len(columns)} fields",
            )
        cells = {name: value for name, value in zip(columns, fields, strict=True) if value != ""}
        row_id = _shown_id(cells.get("row_id"))
        claims: dict[str, Any] = {}
        for name in [c for c in cells if c.startswith(_CLAIM_COLUMN)]:
            try:
                claims[name.removeprefix(_CLAIM_COLUMN)] = loads_strict(cells.pop(name))
            except (ValueError, RecursionError):
                return BadRow(
                    number,
                    row_id,
                    BatchProblem.BAD_CLAIMS,
                    f"column {name} does not hold a JSON value",
                )
        if "possession" in cells:
            try:
                cells["possession"] = loads_strict(cells["possession"])
            except (ValueError, RecursionError):
                return BadRow(
                    number,
                    row_id,
                    BatchProblem.BAD_PROOF,
                    "the possession column is not a JSON object",
                )
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
        return BadRow(
            number,
            None,
            BatchProblem.MALFORMED_ROW,
            "not a JSON object (or a key given twice)",
        )
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
    return value if isinstance(value, str) and NAME.fullmatch(value) else None


def _row(number: int, fields: Mapping[str, Any]) -> BatchRow | BadRow:
    """A row from its fields (the same for both formats): names, types and times checked; claims converted."""
    row_id = fields.get("row_id")
    if not isinstance(row_id, str) or NAME.fullmatch(row_id) is None:
        return BadRow(
            number,
            None,
            BatchProblem.BAD_ROW_ID if "row_id" in fields else BatchProblem.MISSING_FIELD,
        )
    missing = [name for name in _REQUIRED if name not in fields]
    if missing:
        return BadRow(number, row_id, BatchProblem.MISSING_FIELD, ", ".join(missing))
    if not all(isinstance(fields[name], str) for name in _REQUIRED):
        return BadRow(
            number,
            row_id,
            BatchProblem.MALFORMED_ROW,
            f"{', '.join(_REQUIRED)} are text",
        )
    ctype = BUILTIN_TYPES.by_name(fields["credential_type"])
    if ctype is None:
        return BadRow(
            number,
            row_id,
            BatchProblem.UNKNOWN_TYPE,
            f"known: {', '.join(BUILTIN_TYPES.names())}",
        )
    claims = _claims(ctype, fields["claims"])
    if isinstance(claims, str):
        return BadRow(number, row_id, BatchProblem.BAD_CLAIMS, claims)
    valid_from, valid_until = _time(fields["valid_from"]), _time(fields["valid_until"])
    if valid_from is None or valid_until is None:
        return BadRow(
            number,
            row_id,
            BatchProblem.BAD_VALIDITY,
            "ISO 8601 times with a time zone, e.g. ...Z",
        )
    if valid_from >= valid_until:
        return BadRow(
            number,
            row_id,
            BatchProblem.BAD_VALIDITY,
            "valid_from must be before valid_until",
        )
    possession: PossessionProof | None = None
    challenge: bytes | None = None
    if "possession" in fields or "challenge" in fields:
        text = fields.get("challenge")
        if not isinstance(text, str) or _HEX.fullmatch(text) is None:
            return BadRow(number, row_id, BatchProblem.BAD_PROOF, "challenge: lowercase hex")
        try:
            possession = PossessionProof.from_json(fields.get("possession"))
        except PossessionError as exc:
            return BadRow(
                number,
                row_id,
                BatchProblem.BAD_PROOF,
                f"{exc.code.value}: {exc.detail}",
            )
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
        return BadRow(
            row.line,
            row.row_id,
            BatchProblem.UNKNOWN_FIELD,
            "holder keys are attested: give no proof",
        )
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
