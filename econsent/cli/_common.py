"""What every command shares: the parser, input files, times, passphrases, file writes, and output.

One of each, so that every command reads and reports the same way: :func:`parse_time` and
:func:`iso_time` for times in and out, :func:`read_secret` for passphrases, :func:`write_file` for
every file the CLI writes, :func:`emit` for results, and :func:`report_error` for every error and
refusal, in one JSON shape (``{"ok": false, "code", "sentence", "detail"}``) or one text form.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from .. import model
from .._files import PRIVATE, _full_fsync, write_atomic
from .._terminal import json_text, printable
from .._wire import MAX_TIME
from ..card import refusal_json
from ..errors import EXIT_REJECTED, EXIT_USAGE, EconsentError, GeneralCode, SchemaError, UsageError
from ..hsm import PIN_ENV, is_pkcs11_uri, load_signer
from ..i18n import N_, Language, translate
from ..keys import Algorithm, Signer
from ..registry import is_registry_url
from ..schema import BUILTIN_TYPES, CredentialType

__all__ = [
    "MAX_INPUT_FILE_BYTES",
    "SIGNING_KEY_HELP",
    "USAGE",
    "Parser",
    "ParserError",
    "UsageError",
    "add_force_option",
    "add_passphrase_option",
    "add_registry_option",
    "claims_from_json",
    "csv_list",
    "emit",
    "error_fields",
    "error_json",
    "existing_folder",
    "exit_code",
    "float_range",
    "int_range",
    "iso_time",
    "needs_action",
    "one_line_usage",
    "parse_hex",
    "parse_time",
    "passphrase",
    "read_bytes",
    "read_claims_request",
    "read_secret",
    "refuse_existing",
    "report_error",
    "say",
    "signer_from_option",
    "write_file",
]

MAX_INPUT_FILE_BYTES = 1024 * 1024
#: The code of every command-line usage error (exit 2), in JSON and text alike.
USAGE = GeneralCode.USAGE.value
#: The operating system's errors that mean the path was mistyped: a usage error, reported as NO_SUCH_FILE.
_MISTYPED_PATH = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


class ParserError(Exception):
    """argparse refused the command line; ``usage`` is the usage line of the (sub)command that refused it."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


#: Everything ``main`` reports as an error: the library's, argparse's and the operating system's.
CliError = EconsentError | ParserError | OSError


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`ParserError` instead of printing and exiting.

    ``main`` then reports the usage error like any other error: as JSON when ``--json`` was given.
    Subparsers are made with the same class (argparse's default), so every command behaves so.
    """

    def error(self, message: str) -> NoReturn:
        raise ParserError(message, one_line_usage(self))


def one_line_usage(parser: argparse.ArgumentParser) -> str:
    """The parser's usage as one line (argparse wraps it to the terminal's width)."""
    return " ".join(parser.format_usage().split())


def needs_action(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The handler of a command group (``trust``, ``issuer``, ``wallet``) run without an action: a usage error."""

    def handler(args: argparse.Namespace) -> int:
        raise ParserError("give an action", one_line_usage(parser))

    return handler


def add_registry_option(parser: argparse.ArgumentParser) -> None:
    """``--registry``: an issuer registry file (SQLite), or a ``postgresql://`` URL of a shared database."""
    parser.add_argument(
        "--registry",
        required=True,
        type=_registry_location,
        help="the issuer registry: a file (SQLite), or a postgresql:// URL of a database shared by offices "
        "(password from PGPASSWORD or ~/.pgpass rather than the URL)",
    )


def _registry_location(text: str) -> str | Path:
    """A ``postgresql://`` URL stays as given (a path would fold its ``//``); anything else is a file."""
    return text if is_registry_url(text) else Path(text)


# --- errors ----------------------------------------------------------------------------------------


def error_fields(exc: CliError, language: Language = "en") -> tuple[str, str, str]:
    """Any error the CLI reports as (code, sentence in ``language``, detail): the one adapter between errors
    and output.

    Every library error carries these three itself; only argparse's and the operating system's errors
    are translated here. Their own words (argparse's message, the system's ``strerror``) are English:
    in Chinese the code's sentence leads and they follow as the detail.
    """
    if isinstance(exc, EconsentError):
        return exc.code.value, exc.sentence_in(language), exc.detail
    if isinstance(exc, ParserError):
        if language == "zh":
            return USAGE, GeneralCode.USAGE.sentence_zh, exc.message
        return USAGE, exc.message, exc.usage
    filename = "" if exc.filename is None else str(exc.filename)
    general = _os_error_code(exc)
    if language == "zh":
        return general.value, general.sentence_zh, ": ".join(p for p in (exc.strerror, filename) if p)
    return general.value, exc.strerror or str(exc), filename


def _os_error_code(exc: OSError) -> GeneralCode:
    """NO_SUCH_FILE for a path that does not exist or names the wrong kind of thing (a typo, as the library's
    :class:`~econsent.errors.InputFileError` says), FILE_ERROR for anything else the system refused."""
    return GeneralCode.NO_SUCH_FILE if isinstance(exc, _MISTYPED_PATH) else GeneralCode.FILE_ERROR


def exit_code(exc: CliError) -> int:
    """1 when the library refused what was asked (a rejection), else 2 (usage, input or storage error)."""
    return exc.exit_code if isinstance(exc, EconsentError) else EXIT_USAGE


def error_json(exc: CliError) -> dict[str, Any]:
    """The one JSON shape of an error or refusal: ``{"ok": false, "code", "sentence", "sentence_zh", "detail"}``
    (:func:`econsent.card.refusal_json`, which the counter's web API answers with too).

    A rejected code (:class:`VerificationError`) also carries ``"valid": false``, like a verdict.
    """
    if isinstance(exc, EconsentError):
        return refusal_json(exc)
    code, sentence, detail = error_fields(exc)
    sentence_zh = GeneralCode(code).sentence_zh
    return {"ok": False, "code": code, "sentence": sentence, "sentence_zh": sentence_zh, "detail": detail}


def report_error(exc: CliError, *, json_output: bool, language: Language = "en") -> int:
    """Print an error or refusal (JSON on stdout with ``--json``, else one line on stderr, in ``language``);
    returns the exit code."""
    code = exit_code(exc)
    if json_output:
        print(json_text(error_json(exc)), flush=True)
        return code
    name, sentence, detail = error_fields(exc, language)
    refused, error = translate(N_("REFUSED"), language), translate(N_("error"), language)
    head = (
        f"{refused}  {name}: "
        if code == EXIT_REJECTED
        else f"econsent: {error}: " + ("" if name == USAGE else f"{name}: ")
    )
    usage_apart = isinstance(exc, ParserError) and language == "en"  # its detail is the usage line, printed below
    say(head + sentence + (f" ({detail})" if detail and not usage_apart else ""), file=sys.stderr)
    if isinstance(exc, ParserError):
        say(exc.usage, file=sys.stderr)
    return code


# --- options and input -------------------------------------------------------------------------------


def add_passphrase_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--passphrase-env", metavar="VAR", help=help_text)


def passphrase(args: argparse.Namespace) -> str | None:
    """The key passphrase named by ``--passphrase-env``, or None (an unencrypted key) without it."""
    if not args.passphrase_env:
        return None
    return read_secret(args.passphrase_env, "--passphrase-env")


def read_secret(variable: str | None, option: str, prompt: str | None = None, *, confirm: bool = False) -> str:
    """A passphrase from the environment variable ``variable``, or typed at a terminal; never from argv.

    Without ``variable``, a ``prompt`` asks on a terminal; with no terminal (or no prompt) it is a usage
    error that names ``option``.
    """
    if variable:
        value = os.environ.get(variable)
        if value is None:
            raise UsageError(f"environment variable {printable(variable)} is not set")
        return value
    if prompt is None or not sys.stdin.isatty():
        raise UsageError(f"give {option} VAR: the passphrase is read from that environment variable")
    try:
        value = getpass.getpass(prompt)
        if confirm and getpass.getpass("Repeat: ") != value:
            raise UsageError("the passphrases do not match")
    except EOFError:  # Ctrl-D at the prompt
        raise UsageError(f"no passphrase was typed (give {option} VAR to read it from the environment)") from None
    return value


#: The help text of every option that names a signing key: a key file or a key on a token.
SIGNING_KEY_HELP = "private key: a PEM file, or a pkcs11: URI of a key in an HSM (its PIN from $" + PIN_ENV + ")"


def signer_from_option(args: argparse.Namespace, spec: str) -> Signer:
    """The signer a key option names (``--key``, ``--anchor-key``, ``--authorised-by``), through
    :func:`econsent.hsm.load_signer`: a PEM file with the passphrase of ``--passphrase-env``, or a
    ``pkcs11:`` URI whose PIN comes from ``ECONSENT_PKCS11_PIN`` or, at a terminal, a prompt; never argv.
    """
    if not is_pkcs11_uri(spec):
        return load_signer(spec, passphrase=passphrase(args))
    if args.passphrase_env:
        raise UsageError(f"--passphrase-env is for key files: a token's PIN comes from {PIN_ENV} or a prompt")
    pin = None
    if PIN_ENV not in os.environ and sys.stdin.isatty():
        pin = read_secret(None, PIN_ENV, "PIN of the token: ")
    return load_signer(spec, pin=pin)


def read_bytes(path: Path, *, limit: int = MAX_INPUT_FILE_BYTES) -> bytes:
    """An input file of at most ``limit`` bytes (a usage error beyond it: nothing is read without a cap)."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"{path} is larger than {limit} bytes")
    return data


def write_file(path: Path, data: bytes, *, mode: int = PRIVATE, new: bool = False, replace: bool = False) -> None:
    """Every file the CLI writes: with permissions ``mode`` whatever the umask, never through a planted link.

    ``new`` files (private keys) must not exist yet and are created exclusively, never overwritten.
    Others are written atomically and durably (:func:`econsent._files.write_atomic`); one that exists
    is replaced only with ``replace`` (a command's ``--force``), so a typo never destroys a credential.
    """
    if not new:
        refuse_existing(path, force=replace)
        write_atomic(path, data, mode=mode)
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError as exc:
        raise UsageError(f"{path} exists: refusing to overwrite it") from exc
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)
        handle.flush()
        _full_fsync(handle.fileno())


def add_issuer_algorithm_option(parser: argparse.ArgumentParser) -> None:
    """``--issuer-algorithm``: the holder builds presentations in the issuer key's hash suite (SPEC 4), which
    credential bytes alone do not name; SM3 for an SM2 issuer, SHA-2 (the default) otherwise."""
    parser.add_argument(
        "--issuer-algorithm",
        choices=[algorithm.value for algorithm in Algorithm],
        help="the issuer key's algorithm, for SM2 issuers (default: from --trust if given, else SHA-2's)",
    )


def add_force_option(parser: argparse.ArgumentParser) -> None:
    """``--force``: every command that writes a file the user names refuses to replace one without it."""
    parser.add_argument("--force", action="store_true", help="replace output files that already exist")


def refuse_existing(*paths: Path | None, force: bool) -> None:
    """A usage error if one of ``paths`` exists and ``force`` is not set (None paths are options not given).

    Commands call it before any work too, so that nothing is signed or recorded for an output that
    would then be refused. A dangling link counts as existing: the user named something there.
    """
    for path in paths:
        if path is not None and not force and os.path.lexists(path):
            raise UsageError(f"{path} exists: give --force to replace it")


def parse_time(text: str | None) -> _dt.datetime:
    """A time option: ISO 8601 with a time zone, or Unix seconds; from 1970 to 9999 (the wire's range).

    None is the system clock. The ISO form is exactly ``YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]]`` followed by
    ``Z`` or ``+HH:MM``/``-HH:MM``; anything else is a UsageError (exit 2), never an OverflowError. A date
    or a time without a zone is refused with hints built from what was typed, each one a time this
    function accepts.
    """
    if text is None:
        return _dt.datetime.now(_dt.UTC)
    shown = printable(text)
    if text.isascii() and text.lstrip("-").isdigit():
        seconds = int(text) if len(text) <= 20 else -1
        if not 0 <= seconds <= MAX_TIME:
            raise UsageError(f"{shown} is outside the years 1970 to 9999 (Unix seconds 0 to {MAX_TIME})")
        return _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC)
    match = _ISO_TIME.fullmatch(text)
    if match is None:
        raise UsageError(f"not an ISO 8601 time or Unix seconds: {shown!r} (e.g. {_TIME_EXAMPLE})")
    date, clock, zone = match.group("date", "clock", "zone")
    if clock is None or zone is None:
        moment = f"{date}T{clock or '00:00:00'}"
        raise UsageError(f"give a time zone with the time, e.g. {moment}Z or {moment}+08:00")
    try:
        moment_parsed = _dt.datetime.fromisoformat(f"{date}T{clock}{'+00:00' if zone == 'Z' else zone}")
    except ValueError as exc:  # the shape is right but a field is out of range (month 13, 25:00, +24:00)
        raise UsageError(f"not a valid time: {shown!r} ({exc})") from exc
    try:
        in_range = 0 <= moment_parsed.timestamp() <= MAX_TIME
    except (OverflowError, ValueError):  # a time zone that pushes year 1 or 9999 past the calendar
        in_range = False
    if not in_range:
        raise UsageError(f"{shown} is outside the years 1970 to 9999")
    return moment_parsed


# The one ISO 8601 shape time options take (ASCII digits only: \d would match other scripts' digits).
_ISO_TIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ](?P<clock>[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_TIME_EXAMPLE = "2026-01-01T08:00:00+08:00"


def iso_time(moment: _dt.datetime) -> str:
    """The one way the CLI writes a time, in JSON and text alike: ISO 8601 in UTC to the second, with ``Z``."""
    return moment.astimezone(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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


def existing_folder(path: Path, option: str) -> Path:
    """``path`` when it is a folder; else a usage error naming ``option`` and the path (never a silent empty set)."""
    if not path.is_dir():
        state = "is not a folder" if os.path.lexists(path) else "does not exist"
        raise UsageError(f"{option} {path}: {state}")
    return path


def parse_hex(text: str | None, what: str) -> bytes | None:
    if text is None:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise UsageError(f"{what} must be hexadecimal") from exc


def csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# --- output ----------------------------------------------------------------------------------------


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


def progress(message: str, language: Language, **values: object) -> None:
    """Say on stderr, in ``language``, what long work is doing (scanning a 24 MP photo takes seconds), when a
    person watches stderr; the line is overwritten by the next one and never reaches a pipe or a log."""
    if not sys.stderr.isatty():
        return
    text = printable(translate(message, language).format(**values))
    print(f"\r\033[K{text}", end="", file=sys.stderr, flush=True)


def progress_done() -> None:
    """Clear the progress line, so that the verdict starts on a clean line."""
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr, flush=True)


# --- claims ----------------------------------------------------------------------------------------


def read_claims_request(args: argparse.Namespace) -> tuple[CredentialType, dict[str, Any], str, str]:
    """The credential type, claims (as Python values) and validity from ``--claims`` and the options.

    The claims file is either an object of claims or a document with ``credential_type``, ``claims``,
    ``valid_from`` and ``valid_until`` (as ``examples/data/driving-licence.json``); options win.
    """
    try:
        document = json.loads(read_bytes(args.claims).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UsageError(f"{args.claims} is not a JSON file: {exc}") from exc
    if not isinstance(document, dict):
        raise UsageError(f"{args.claims} must hold a JSON object")
    nested = isinstance(document.get("claims"), dict)
    type_name = args.credential_type or (document.get("credential_type") if nested else None)
    valid_from = args.valid_from or (document.get("valid_from") if nested else None)
    valid_until = args.valid_until or (document.get("valid_until") if nested else None)
    if not type_name or not valid_from or not valid_until:
        raise UsageError("give --type, --valid-from and --valid-until (or put them in the claims file)")
    for name, value in (("credential_type", type_name), ("valid_from", valid_from), ("valid_until", valid_until)):
        if not isinstance(value, str):
            raise UsageError(f"{args.claims}: {name} must be a string")
    ctype = BUILTIN_TYPES.by_name(type_name)
    if ctype is None:
        raise UsageError(f"unknown credential type {type_name!r} (see `econsent types`)")
    return ctype, claims_from_json(ctype, document["claims"] if nested else document), valid_from, valid_until


def claims_from_json(ctype: CredentialType, raw: dict[str, Any]) -> dict[str, Any]:
    """:func:`econsent.model.claims_from_json`, its refusals as usage errors (the claims came from a file)."""
    try:
        return model.claims_from_json(ctype, raw)
    except SchemaError as exc:
        raise UsageError(exc.detail) from exc
