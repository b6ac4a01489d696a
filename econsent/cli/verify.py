"""``econsent verify``: verify a code given as QR text, an image file, or lines on stdin.

Also the pieces ``econsent scan`` builds on (it imports them; this module never imports scan): the
verification options, the policy and verifier they make, the stdin reader, and :func:`report_result`,
the one way a verdict or a rejection is printed, as the verdict card of :mod:`econsent.card` or as JSON.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from .. import card, qr
from .._terminal import json_text
from .._wire import MAX_TEXT_CHARS, MAX_TIME, PREFIX
from ..errors import EXIT_REJECTED, EXIT_VALID, ErrorCode, InputFileError, VerificationError
from ..i18n import N_
from ..keys import PublicKey
from ..model import Verdict
from ..status import StatusListCache
from ..trust import TrustLists, TrustStore
from ..verify import (
    DEFAULT_CLOCK_LEEWAY,
    DEFAULT_MAX_LIFETIME,
    MAX_CLOCK_LEEWAY,
    CodeFormat,
    MemoryReplayCache,
    Policy,
    StatusFallback,
    Verifier,
)
from ._common import (
    UsageError,
    csv_list,
    existing_folder,
    float_range,
    int_range,
    parse_hex,
    parse_time,
    progress,
    progress_done,
    read_bytes,
    say,
)

__all__ = [
    "add_verification_options",
    "policy_from_args",
    "register",
    "report_result",
    "stdin_codes",
    "verifier_from_args",
]


def register(sub: Any) -> None:
    """Add the ``verify`` command to the top-level sub-parsers."""
    ver = sub.add_parser("verify", help="verify a code: QR text, an image file, or - for lines on stdin")
    ver.add_argument("code", help="QR text, a path to an image (PNG/JPEG), or - to read one code per line")
    add_verification_options(ver)
    ver.add_argument("--json", action="store_true", help="one JSON object per code")
    ver.add_argument(
        "--deadline",
        type=float_range(0, qr.MAX_DEADLINE, exclude_low=True),
        default=qr.DEFAULT_DEADLINE,
        help=f"seconds an image may take to decode and scan before it is refused (default {qr.DEFAULT_DEADLINE:g})",
    )
    ver.set_defaults(handler=_cmd_verify)


def add_verification_options(parser: argparse.ArgumentParser) -> None:
    """The trust, revocation, other-format and policy options shared by ``verify`` and ``scan``."""
    trust_source = parser.add_mutually_exclusive_group()
    trust_source.add_argument("--trust", type=Path, help="trust store JSON file")
    trust_source.add_argument(
        "--trust-list", action="append", type=Path, help="signed trust list (repeat for several); needs --anchor"
    )
    parser.add_argument("--anchor", action="append", type=Path, default=[], help="pinned trust-anchor public key")
    parser.add_argument(
        "--status-lists", type=Path, help="folder of signed status lists (*.ecsl) for revocation checks"
    )
    parser.add_argument(
        "--unknown-status",
        choices=[fallback.value for fallback in StatusFallback],
        default=StatusFallback.REFUSE.value,
        help="when a credential's status list is missing or stale: refuse (default) or accept with a warning",
    )
    parser.add_argument(
        "--dcc-certs",
        action="append",
        type=Path,
        default=[],
        help="also verify EU DCCs (HC1:) signed by these DSCs: PEM/DER file, DCC trust list JSON, or folder",
    )
    parser.add_argument(
        "--shc-jwks",
        action="append",
        type=Path,
        default=[],
        help="also verify SMART Health Cards (shc:/) by this issuer's jwks.json (CRLs from crl/ beside it)",
    )
    parser.add_argument(
        "--shc-issuer", action="append", default=[], help="the issuer URL of each --shc-jwks, in the same order"
    )
    parser.add_argument("--now", help="the verifier's time, ISO 8601 or Unix seconds (default: the clock)")
    parser.add_argument("--nonce", help="the challenge this verifier gave the holder, hex")
    parser.add_argument("--audience", help="this verifier's identity; codes made for others are refused")
    parser.add_argument("--require", default="", help="comma-separated claims the code must show")
    parser.add_argument("--accept-bearer", action="store_true", help="accept credentials without holder binding")
    parser.add_argument(
        "--max-lifetime",
        type=int_range(1, MAX_TIME),
        default=DEFAULT_MAX_LIFETIME,
        help="longest lifetime accepted (s)",
    )
    parser.add_argument(
        "--leeway",
        type=int_range(0, MAX_CLOCK_LEEWAY),
        default=DEFAULT_CLOCK_LEEWAY,
        help=f"clock leeway in seconds (max {MAX_CLOCK_LEEWAY})",
    )


def policy_from_args(args: argparse.Namespace) -> Policy:
    """The Policy the verification options (see :func:`add_verification_options`) ask for."""
    try:
        return Policy(
            clock_leeway=args.leeway,
            max_lifetime=args.max_lifetime,
            accept_bearer=args.accept_bearer,
            required_claims=tuple(csv_list(args.require)),
            audience=args.audience,
            unknown_status=StatusFallback(args.unknown_status),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def verifier_from_args(args: argparse.Namespace, policy: Policy) -> Verifier:
    """A Verifier with the trust, status lists and other formats the options name, and one replay cache."""
    formats = _formats(args)
    trust = _trust(args, foreign_only=bool(formats))
    status_lists = None
    if args.status_lists is not None:
        status_lists = StatusListCache()
        folder = existing_folder(args.status_lists, "--status-lists")
        for path, error in status_lists.load_directory(folder, trust).errors:
            say(f"econsent: warning: status list {path} refused: {error}", file=sys.stderr)
    formats += _formats_not_set_up(args)
    return Verifier(trust, policy, replay_cache=MemoryReplayCache(), status_lists=status_lists, formats=formats)


def _trust(args: argparse.Namespace, *, foreign_only: bool = False) -> TrustStore:
    if args.trust is not None:
        if args.anchor:
            raise UsageError("--anchor goes with --trust-list")
        return TrustStore.load(args.trust)
    if not args.trust_list:
        if args.anchor:
            raise UsageError("--anchor goes with --trust-list")
        if not foreign_only:
            raise UsageError("give --trust or --trust-list (or --dcc-certs / --shc-jwks for other formats)")
        return TrustStore([])  # only foreign codes are trusted: every econsent code is UNKNOWN_KEY
    if not args.anchor:
        raise UsageError("a signed trust list needs the pinned anchor key: give --anchor")
    lists = TrustLists([PublicKey.from_pem(read_bytes(path)) for path in args.anchor])
    for path in args.trust_list:
        lists.update_file(path)
    return lists.store()


def _formats(args: argparse.Namespace) -> list[CodeFormat]:
    """EU DCC and SMART Health Card formats for the trust given on the command line (loaded only when asked)."""
    if len(args.shc_issuer) != len(args.shc_jwks):
        raise UsageError("give one --shc-issuer URL for each --shc-jwks file, in the same order")
    formats: list[CodeFormat] = []
    if args.dcc_certs:
        from ..formats import DccFormat, DccTrust

        dcc = DccTrust()
        for path in args.dcc_certs:
            dcc.load(path)
        if not len(dcc):
            raise UsageError("--dcc-certs: no certificate found")
        formats.append(DccFormat(dcc))
    if args.shc_jwks:
        from ..formats import ShcFormat, ShcTrust

        shc = ShcTrust()
        for issuer, path in zip(args.shc_issuer, args.shc_jwks, strict=True):
            shc.load_jwks(issuer, path)
        formats.append(ShcFormat(shc))
    return formats


# The other formats a counter can be set up for: (QR text prefix, name, the option that sets it up).
_OTHER_FORMATS = (("HC1:", "EU DCC", "--dcc-certs"), ("shc:/", "SMART Health Card", "--shc-jwks"))


class _FormatNotSetUp:
    """A :class:`~econsent.verify.CodeFormat` for a format this counter has no trust for: refuses its codes.

    Without it an ``HC1:`` code would be read as a broken econsent code (``MALFORMED``), which reads
    like a forgery; the clerk is told instead that the counter is not set up for that kind of code.
    """

    def __init__(self, prefix: str, name: str, option: str) -> None:
        self._prefix = prefix
        self._detail = f"{name} codes ({prefix}) need {option}"

    @property
    def prefixes(self) -> tuple[str, ...]:
        return (self._prefix,)

    def verify(self, text: str, *, now: int, nonce: bytes | None, policy: Policy) -> Verdict:
        raise VerificationError(ErrorCode.FORMAT_NOT_SET_UP, self._detail)


def _formats_not_set_up(args: argparse.Namespace) -> list[CodeFormat]:
    given = {"--dcc-certs": bool(args.dcc_certs), "--shc-jwks": bool(args.shc_jwks)}
    return [_FormatNotSetUp(*other) for other in _OTHER_FORMATS if not given[other[2]]]


def stdin_codes(stream: TextIO) -> Iterator[tuple[int, str]]:
    """The codes a keyboard-wedge scanner types: (line number, text) for each line that is not blank.

    A line is read at most one character past the longest code (the rest of a longer line is read and
    dropped in pieces of that size), so an endless line costs bounded memory and is refused as TOO_LARGE.
    """
    limit = MAX_TEXT_CHARS + 3  # a code, a CR LF, and one character more
    number = 0
    while line := stream.readline(limit):
        number += 1
        if len(line) == limit and not line.endswith("\n"):
            while (rest := stream.readline(limit)) and not rest.endswith("\n"):
                pass
        text = line.rstrip("\r\n")
        if text.strip():
            yield number, text


def report_result(
    result: Verdict | VerificationError,
    *,
    now: _dt.datetime,
    json_output: bool,
    out: TextIO,
    color: bool = False,
    extra: dict[str, Any] | None = None,
) -> None:
    """Print a verdict or a rejection: one JSON line (:func:`econsent.card.result_json`, as ``serve`` answers,
    with ``extra`` fields), or the verdict card.

    The card (:func:`econsent.card.render_card_text`) neutralises what the code carried; ``verify`` and
    ``scan`` both print through here, so they agree on every code.
    """
    if json_output:
        print(json_text({**card.result_json(result), **(extra or {})}), file=out, flush=True)
    else:
        print(card.render_card_text(result, now=now, color=color), file=out, flush=True)


def _cmd_verify(args: argparse.Namespace) -> int:
    verifier = verifier_from_args(args, policy_from_args(args))
    nonce = parse_hex(args.nonce, "--nonce")
    parse_time(args.now)  # a bad --now is a usage error before any code is read
    if args.code == "-":  # one verdict per line; a line that fails to verify never stops the lines after it
        results = [_verify_one(verifier, text, args, nonce) for _, text in stdin_codes(sys.stdin)]
        if not results:
            raise UsageError("no code was read from standard input (give one code per line)")
        return EXIT_VALID if all(results) else EXIT_REJECTED
    return EXIT_VALID if _verify_one(verifier, _code_or_image(args.code), args, nonce) else EXIT_REJECTED


def _code_or_image(argument: str) -> str | Path:
    """The ``code`` argument as QR text or as an image path; a path that is no file is a usage error (exit 2).

    A typo in a file name must not be verified as text and reported like a forged code. Text that
    starts with a code prefix is a code; text with a folder separator or a file suffix is a path.
    Anything else is verified as text, so that a garbled code is still reported as one.
    """
    if os.path.isfile(argument):
        return Path(argument)
    if argument.startswith((PREFIX, *(other[0] for other in _OTHER_FORMATS))):
        return argument
    path = Path(argument)
    if os.path.lexists(argument) or os.sep in argument or "/" in argument or path.suffix:
        state = "is not a file" if os.path.lexists(argument) else "does not exist"
        raise InputFileError(f"{argument} {state}: give an image file, a code (EC1:...), or - for stdin")
    return argument


def _verify_one(verifier: Verifier, code: str | Path, args: argparse.Namespace, nonce: bytes | None) -> bool:
    now = parse_time(args.now)
    result: Verdict | VerificationError
    try:
        # An image is scanned within --deadline (a scan worker stopped at it), then verified as text.
        if isinstance(code, str):
            result = verifier.verify(code, now=now, nonce=nonce)
        else:
            megabytes = f"{code.stat().st_size / 1e6:.1f}"
            progress(N_("reading {name} ({size} MB)…"), args.language, name=code.name, size=megabytes)
            result = qr.verify_image(verifier, code, now=now, nonce=nonce, deadline=args.deadline)
    except VerificationError as exc:
        result = exc
    finally:
        progress_done()
    color = not args.json and sys.stdout.isatty()
    report_result(result, now=now, json_output=args.json, out=sys.stdout, color=color)
    return isinstance(result, Verdict)
