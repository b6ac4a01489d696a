"""The ``econsent`` command: a thin argparse layer over the public API.

One module per command group (``keys``, ``issue``, ``verify``, ``scan``, ``trust``, ``issuer``,
``wallet``); ``_common`` holds what they share. ``scan`` builds on ``verify``; nothing in the library
imports this package. Exit codes: 0 valid (or success), 1 rejected or refused (the code is printed),
2 usage or input error. Every error and refusal is printed in one shape (see :mod:`._common`), as
JSON with ``--json`` (usage errors too). Only this layer reads the system clock, and only when
``--now`` is not given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import EconsentError
from . import issue, issuer, keys, scan, trust, verify, wallet
from ._common import Parser, ParserError, one_line_usage, report_error

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code instead of exiting (tests call it directly)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    json_output = "--json" in arguments[: arguments.index("--")] if "--" in arguments else "--json" in arguments
    parser = _parser()
    try:
        args, extras = parser.parse_known_args(arguments)
    except SystemExit as exc:  # --help prints and exits 0
        return int(exc.code or 0)
    except ParserError as exc:
        return report_error(exc, json_output=json_output)
    handler = getattr(args, "handler", None)
    try:
        if extras:  # reported with the usage of the command that was given them, not of `econsent`
            unknown = f"unrecognized arguments: {' '.join(extras)}"
            raise ParserError(unknown, one_line_usage(_command_parser(parser, arguments)))
        if handler is None:
            raise ParserError("give a command", one_line_usage(parser))
        return int(handler(args))
    except (EconsentError, OSError, ParserError) as exc:
        return report_error(exc, json_output=json_output)


def _command_parser(parser: argparse.ArgumentParser, arguments: list[str]) -> argparse.ArgumentParser:
    """The parser of the command (and action) ``arguments`` name, e.g. that of ``trust add``."""
    for word in arguments:
        commands = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if commands is None or word not in commands.choices:
            break
        parser = commands.choices[word]
    return parser


def _parser() -> Parser:
    parser = Parser(
        prog="econsent",
        description="Issue electronic licences, show them as time-limited QR codes, verify them offline.",
    )
    sub = parser.add_subparsers(metavar="COMMAND")
    keys.register(sub)
    issue.register(sub)
    verify.register(sub)
    scan.register(sub)
    trust.register(sub)
    issuer.register(sub)
    wallet.register(sub)
    return parser
