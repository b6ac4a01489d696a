"""Helpers shared by the command-line modules: input files, times, output, passphrases, atomic writes."""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from ._files import write_atomic
from ._terminal import json_text, printable
from ._wire import MAX_TIME
from .errors import EconsentError
from .schema import BUILTIN_TYPES, ClaimKind, CredentialType

__all__ = [
    "MAX_INPUT_FILE_BYTES",
    "UsageError",
    "add_passphrase_option",
    "claims_from_json",
    "csv_list",
    "emit",
    "float_range",
    "int_range",
    "parse_hex",
    "parse_time",
    "passphrase",
    "read_bytes",
    "read_claims_request",
    "say",
    "write_atomic",
    "write_new",
]

MAX_INPUT_FILE_BYTES = 1024 * 1024


class UsageError(EconsentError):
    """Bad command-line input: reported with exit code 2."""


def add_passphrase_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--passphrase-env", metavar="VAR", help=help_text)


def passphrase(args: argparse.Namespace) -> str | None:
    if not args.passphrase_env:
        return None
    value = os.environ.get(args.passphrase_env)
    if value is None:
        raise UsageError(f"environment variable {args.passphrase_env} is not set")
    return value


def read_bytes(path: Path) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read(MAX_INPUT_FILE_BYTES + 1)
    if len(data) > MAX_INPUT_FILE_BYTES:
        raise UsageError(f"{path} is larger than {MAX_INPUT_FILE_BYTES} bytes")
    return data


def parse_time(text: str | None) -> _dt.datetime:
    """A time option: ISO 8601 with a time zone, or Unix seconds; from 1970 to 9999 (the wire's range).

    None is the system clock. Anything else is a UsageError (exit 2), never an OverflowError.
    """
    if text is None:
        return _dt.datetime.now(_dt.UTC)
    shown = printable(text)
    if text.isascii() and text.lstrip("-").isdigit():
        seconds = int(text) if len(text) <= 20 else -1
        if not 0 <= seconds <= MAX_TIME:
            raise UsageError(f"{shown} is outside the years 1970 to 9999 (Unix seconds 0 to {MAX_TIME})")
        return _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC)
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"not an ISO 8601 time or Unix seconds: {shown!r}") from exc
    if moment.tzinfo is None:
        raise UsageError(f"give a time zone with the time, e.g. {shown}Z or {shown}+08:00")
    try:
        in_range = 0 <= moment.timestamp() <= MAX_TIME
    except (OverflowError, ValueError):  # a time zone that pushes year 1 or 9999 past the calendar
        in_range = False
    if not in_range:
        raise UsageError(f"{shown} is outside the years 1970 to 9999")
    return moment


def int_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number from ``low`` to ``high``: anything else is a usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # also a number longer than Python's digit limit
            raise argparse.ArgumentTypeError(f"not a whole number: {printable(text)!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{printable(text)} is not from {low} to {high}")
        return value

    return parse


def float_range(low: float, high: float, *, exclude_low: bool = False) -> Callable[[str], float]:
    """An argparse ``type`` for a finite number from ``low`` (or above it) to ``high``: never nan or infinity."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {printable(text)!r}") from None
        if not (low < value if exclude_low else low <= value) or not value <= high:  # also refuses nan
            bound = f"more than {low:g}" if exclude_low else f"{low:g} or more"
            raise argparse.ArgumentTypeError(f"{printable(text)} is not a number {bound}, at most {high:g}")
        return value

    return parse


def parse_hex(text: str | None, what: str) -> bytes | None:
    if text is None:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise UsageError(f"{what} must be hexadecimal") from exc


def csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def emit(args: argparse.Namespace, payload: dict[str, Any], lines: Sequence[str]) -> None:
    """A command's result: ``payload`` as one JSON line with ``--json``, else ``lines`` for people."""
    if args.json:
        print(json_text(payload))
    else:
        say(*lines)


def say(*lines: str, file: TextIO | None = None) -> None:
    """Print lines for people, each neutralised: they may quote file names, claims and codes from outside."""
    for line in lines:
        print(printable(line), file=file)


def write_new(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write a file that must not exist yet (never overwrite a key), private ones readable by the owner only."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(path, flags, 0o600 if private else 0o644)
    except FileExistsError as exc:
        raise UsageError(f"{path} exists: refusing to overwrite it") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def read_claims_request(args: argparse.Namespace) -> tuple[CredentialType, dict[str, Any], str, str]:
    """The credential type, claims (as Python values) and validity from ``--claims`` and the options.

    The claims file is either an object of claims or a document with ``credential_type``, ``claims``,
    ``valid_from`` and ``valid_until`` (as ``examples/data/driving-licence.json``); options win.
    """
    try:
        document = json.loads(read_bytes(args.claims).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{args.claims} is not a JSON file: {exc}") from exc
    if not isinstance(document, dict):
        raise UsageError(f"{args.claims} must hold a JSON object")
    nested = isinstance(document.get("claims"), dict)
    type_name = args.credential_type or (document.get("credential_type") if nested else None)
    valid_from = args.valid_from or (document.get("valid_from") if nested else None)
    valid_until = args.valid_until or (document.get("valid_until") if nested else None)
    if not type_name or not valid_from or not valid_until:
        raise UsageError("give --type, --valid-from and --valid-until (or put them in the claims file)")
    ctype = BUILTIN_TYPES.by_name(type_name)
    if ctype is None:
        raise UsageError(f"unknown credential type {type_name!r} (see `econsent types`)")
    return ctype, claims_from_json(ctype, document["claims"] if nested else document), valid_from, valid_until


def claims_from_json(ctype: CredentialType, raw: dict[str, Any]) -> dict[str, Any]:
    """JSON claims to Python values by the type's kinds: dates from ISO strings, bytes from base64."""
    kinds = {spec.name: spec.kind for spec in ctype.claims}
    result: dict[str, Any] = {}
    for name, value in raw.items():
        kind = kinds.get(name)
        if kind is None:
            raise UsageError(f"{ctype.name} has no claim {name!r} (see `econsent types`)")
        item_kind = kind.item_kind
        items = value if kind.is_list and isinstance(value, list) else [value]
        converted = [json_scalar(name, item_kind, item) for item in items]
        result[name] = tuple(converted) if kind.is_list else converted[0]
    return result


def json_scalar(name: str, kind: ClaimKind, value: Any) -> Any:
    try:
        if kind is ClaimKind.DATE and isinstance(value, str):
            return _dt.date.fromisoformat(value)
        if kind is ClaimKind.BYTES and isinstance(value, str):
            return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except ValueError as exc:
        raise UsageError(f"claim {name!r}: {exc}") from exc
    return value
