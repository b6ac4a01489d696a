"""The ``econsent`` command: a thin argparse layer over the public API.

One module per command group (``keys``, ``issue``, ``verify``, ``scan``, ``serve``, ``trust``,
``issuer``, ``wallet``); ``_common`` holds what they share. ``scan`` builds on ``verify``; nothing in the library
imports this package. Exit codes: 0 valid (or success), 1 rejected or refused (the code is printed),
2 usage or input error, 130 interrupted (Ctrl-C), 141 output pipe closed (``| head -1``). Every error
and refusal is printed in one shape (see :mod:`._common`), as JSON with ``--json`` (usage errors too),
its sentence in the language of ``--lang zh|en`` (anywhere on the line) or else of the locale (``LANG``).
Only this layer reads the system clock, and only when ``--now`` is not given.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import EconsentError
from ..i18n import Language, language_from_environment, parse_language
from . import issue, issuer, keys, scan, serve, trust, verify, wallet
from ._common import Parser, ParserError, one_line_usage, report_error

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_INTERRUPTED", "main"]

#: Ctrl-C: the shells' convention for a program stopped by SIGINT (128 + 2).
EXIT_INTERRUPTED = 130
#: The reader of our output went away (``econsent ... | head -1``): 128 + SIGPIPE, as a shell reports it.
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code instead of exiting (tests call it directly).

    Ctrl-C anywhere (a prompt, a stdin loop, a key derivation) and a closed output pipe end the run
    quietly with one line or none, never a traceback.
    """
    try:
        return _run(argv)
    except KeyboardInterrupt:
        print("econsent: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """Point the stdout descriptor at /dev/null, so that the interpreter's final flush does not fail again.

    As the Python documentation of SIGPIPE recommends; a stdout without a descriptor (a test's buffer) is left.
    """
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _run(argv: Sequence[str] | None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    json_output = "--json" in arguments[: arguments.index("--")] if "--" in arguments else "--json" in arguments
    language: Language = language_from_environment()
    parser = _parser()
    try:
        arguments, chosen = _take_language(arguments)
        language = chosen or language
        args, extras = parser.parse_known_args(arguments)
    except SystemExit as exc:  # --help prints and exits 0
        return int(exc.code or 0)
    except ParserError as exc:
        return report_error(exc, json_output=json_output, language=language)
    args.language, args.language_given = language, chosen is not None
    handler = getattr(args, "handler", None)
    try:
        if extras:  # reported with the usage of the command that was given them, not of `econsent`
            unknown = f"unrecognized arguments: {' '.join(extras)}"
            raise ParserError(unknown, one_line_usage(_command_parser(parser, arguments)))
        if handler is None:
            raise ParserError("give a command", one_line_usage(parser))
        return int(handler(args))
    except BrokenPipeError:  # an OSError, but not one to report: there is no one left to read it
        raise
    except (EconsentError, OSError, ParserError) as exc:
        return report_error(exc, json_output=json_output, language=language)


def _take_language(arguments: list[str]) -> tuple[list[str], Language | None]:
    """``--lang zh|en`` (or ``--lang=...``) taken out of the line wherever it stands before ``--``: every
    command has it, so it is read here once rather than declared by each."""
    end = arguments.index("--") if "--" in arguments else len(arguments)
    kept: list[str] = []
    language: Language | None = None
    position = 0
    while position < end:
        word = arguments[position]
        if word == "--lang" or word.startswith("--lang="):
            if word == "--lang":
                if position + 1 >= end:
                    raise ParserError("--lang needs a language: zh or en", "usage: econsent --lang zh|en COMMAND ...")
                value, position = arguments[position + 1], position + 2
            else:
                value, position = word.partition("=")[2], position + 1
            try:
                language = parse_language(value)
            except ValueError as exc:
                raise ParserError(str(exc), "usage: econsent --lang zh|en COMMAND ...") from exc
            continue
        kept.append(word)
        position += 1
    return kept + arguments[end:], language


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
    parser.add_argument("--version", action="version", version=f"econsent {__version__}")
    parser.add_argument(  # read by _take_language before parsing; declared here for --help and the docs
        "--lang",
        choices=("zh", "en"),
        help="the language of messages, on any command (default: from LC_ALL, LC_MESSAGES, LANG)",
    )
    sub = parser.add_subparsers(metavar="COMMAND")
    keys.register(sub)
    issue.register(sub)
    verify.register(sub)
    scan.register(sub)
    serve.register(sub)
    trust.register(sub)
    issuer.register(sub)
    wallet.register(sub)
    return parser
