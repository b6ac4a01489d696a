"""Helpers shared by the command-line modules: input files, times, output, passphrases, atomic writes."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import EconsentError

__all__ = [
    "MAX_INPUT_FILE_BYTES",
    "UsageError",
    "add_passphrase_option",
    "csv_list",
    "emit",
    "parse_hex",
    "parse_time",
    "passphrase",
    "read_bytes",
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
    if text is None:
        return _dt.datetime.now(_dt.UTC)
    if text.lstrip("-").isdigit():
        return _dt.datetime.fromtimestamp(int(text), tz=_dt.UTC)
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"not an ISO 8601 time or Unix seconds: {text!r}") from exc
    if moment.tzinfo is None:
        raise UsageError(f"give a time zone with the time, e.g. {text}Z or {text}+08:00")
    return moment


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
    if args.json:
        print(json.dumps(payload, ensure_ascii=False))
    else:
        for line in lines:
            print(line)


def write_new(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write a file that must not exist yet (never overwrite a key), private ones readable by the owner only."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(path, flags, 0o600 if private else 0o644)
    except FileExistsError as exc:
        raise UsageError(f"{path} exists: refusing to overwrite it") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
