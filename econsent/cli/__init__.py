"""The ``econsent`` command: a thin argparse layer over the public API.

Exit codes: 0 valid (or success), 1 rejected (the reason code is printed), 2 usage or input error.
Only this layer reads the system clock, and only when ``--now`` is not given.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import _cli_issuer, _cli_possession, _cli_scan, _cli_trust, _cli_wallet, qr
from ._cli_common import (
    UsageError,
    add_passphrase_option,
    csv_list,
    emit,
    float_range,
    int_range,
    parse_hex,
    parse_time,
    passphrase,
    read_bytes,
    read_claims_request,
    say,
    write_atomic,
    write_new,
)
from ._terminal import json_text
from ._wire import MAX_TIME
from .errors import EXIT_REJECTED, EXIT_USAGE, EXIT_VALID, EconsentError, VerificationError
from .issue import Issuer
from .keys import Algorithm, PublicKey, SigningKey
from .model import Verdict, claims_to_json
from .possession import PossessionError
from .schema import BUILTIN_TYPES, CredentialType
from .status import StatusListCache
from .trust import TrustLists, TrustStore
from .verify import (
    DEFAULT_CLOCK_LEEWAY,
    DEFAULT_MAX_LIFETIME,
    MAX_CLOCK_LEEWAY,
    CodeFormat,
    MemoryReplayCache,
    Policy,
    StatusFallback,
    Verifier,
    _text_from_image,
)
from .wallet import DEFAULT_LIFETIME, present, read_credential_unverified

__all__ = ["main"]

MAX_INPUT_FILE_BYTES = 1024 * 1024


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code instead of exiting (tests call it directly)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except VerificationError as exc:  # only reachable for a single code; verify handles its own output
        say(f"REJECTED {exc.code.value}: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except EconsentError as exc:
        say(f"econsent: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        say(f"econsent: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="econsent",
        description="Issue electronic licences, show them as time-limited QR codes, verify them offline.",
    )
    sub = parser.add_subparsers(metavar="COMMAND")

    keygen = sub.add_parser("keygen", help="generate an issuer or holder key pair (PEM)")
    keygen.add_argument("--algorithm", "-a", default="ES256", help="ES256 (default) or Ed25519")
    keygen.add_argument("--out", "-o", required=True, type=Path, help="private key file to write")
    keygen.add_argument("--public-out", type=Path, help="public key file (default: OUT with .pub.pem)")
    add_passphrase_option(keygen, "encrypt the private key with the passphrase in this environment variable")
    keygen.add_argument("--json", action="store_true", help="print the result as JSON")
    keygen.set_defaults(handler=_cmd_keygen)

    _cli_trust.register(sub)
    _cli_possession.register(sub)
    _cli_issuer.register(sub)
    _cli_wallet.register(sub)
    _cli_scan.register(sub)

    types = sub.add_parser("types", help="list the credential types, their claims and profiles")
    types.add_argument("--json", action="store_true")
    types.set_defaults(handler=_cmd_types)

    issue = sub.add_parser("issue", help="issue a signed credential")
    issue.add_argument("--key", required=True, type=Path, help="issuer private key (PEM)")
    add_passphrase_option(issue, "passphrase of the issuer key, from this environment variable")
    issue.add_argument(
        "--claims",
        required=True,
        type=Path,
        help="JSON file: an object of claims, or a document with credential_type, claims, valid_from, valid_until",
    )
    issue.add_argument("--type", dest="credential_type", help="credential type (default: from the claims file)")
    holder = issue.add_mutually_exclusive_group(required=True)
    holder.add_argument("--holder-key", type=Path, help="holder public key (PEM) to bind the credential to")
    holder.add_argument("--bearer", action="store_true", help="issue a bearer credential (printed certificates)")
    _cli_possession.add_possession_options(issue)
    issue.add_argument("--valid-from", help="ISO 8601 (default: from the claims file)")
    issue.add_argument("--valid-until", help="ISO 8601 (default: from the claims file)")
    issue.add_argument("--serial", type=int, help="serial number (default: random)")
    issue.add_argument("--derive", default="", help="comma-separated claims to derive, e.g. age_over_18")
    issue.add_argument("--out", "-o", required=True, type=Path, help="credential file to write")
    issue.add_argument("--now", help="issuance time, ISO 8601 or Unix seconds (default: the clock)")
    issue.add_argument("--json", action="store_true")
    issue.set_defaults(handler=_cmd_issue)

    pres = sub.add_parser("present", help="make a time-limited presentation (QR text, PNG, SVG or terminal)")
    pres.add_argument("--credential", "-c", required=True, type=Path, help="credential file from `issue`")
    pres.add_argument("--holder-key", type=Path, help="holder private key (PEM); not for bearer credentials")
    add_passphrase_option(pres, "passphrase of the holder key, from this environment variable")
    choose = pres.add_mutually_exclusive_group()
    choose.add_argument("--disclose", help="comma-separated claims to show (default: all)")
    choose.add_argument("--profile", help="a named set of claims of the credential type, e.g. driving-check")
    pres.add_argument(
        "--lifetime", type=int_range(1, MAX_TIME), default=DEFAULT_LIFETIME, help="seconds the code stays valid"
    )
    pres.add_argument("--nonce", help="the verifier's challenge, hex")
    pres.add_argument("--audience", help="the verifier the code is made for")
    pres.add_argument("--png", type=Path, help="write the QR code as PNG")
    pres.add_argument("--svg", type=Path, help="write the QR code as SVG")
    pres.add_argument("--terminal", action="store_true", help="draw the QR code in the terminal")
    pres.add_argument("--now", help="the phone's time, ISO 8601 or Unix seconds (default: the clock)")
    pres.add_argument("--json", action="store_true")
    pres.set_defaults(handler=_cmd_present)

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
    return parser


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


def _cmd_keygen(args: argparse.Namespace) -> int:
    try:
        algorithm = Algorithm.parse(args.algorithm)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    key = SigningKey.generate(algorithm)
    public_out = args.public_out or args.out.with_name(args.out.name.removesuffix(".pem") + ".pub.pem")
    write_new(args.out, key.to_pem(passphrase(args)), private=True)
    write_new(public_out, key.public_key.to_pem())
    emit(
        args,
        {
            "algorithm": algorithm.value,
            "kid": key.public_key.kid.hex(),
            "private": str(args.out),
            "public": str(public_out),
        },
        [f"{algorithm.value} key {key.public_key.kid.hex()}: private {args.out}, public {public_out}"],
    )
    return EXIT_VALID


def _cmd_types(args: argparse.Namespace) -> int:
    described = [_describe_type(t) for t in BUILTIN_TYPES]
    lines = []
    for ctype in BUILTIN_TYPES:
        lines.append(f"{ctype.name} (id {ctype.type_id}, {ctype.label_zh} / {ctype.label_en})")
        lines += [f"  {i:2} {spec.name:28} {spec.kind.value:11} {spec.label_zh}" for i, spec in enumerate(ctype.claims)]
        lines += [f"  profile {name}: {', '.join(members)}" for name, members in ctype.profiles.items()]
    emit(args, {"types": described}, lines)
    return EXIT_VALID


def _describe_type(ctype: CredentialType) -> dict[str, Any]:
    return {
        "name": ctype.name,
        "type_id": ctype.type_id,
        "claims": [{"name": c.name, "kind": c.kind.value} for c in ctype.claims],
        "profiles": {name: list(members) for name, members in ctype.profiles.items()},
    }


def _cmd_issue(args: argparse.Namespace) -> int:
    ctype, claims, valid_from, valid_until = read_claims_request(args)
    issuer = Issuer(SigningKey.from_pem(read_bytes(args.key), passphrase(args)))
    holder_key = None if args.bearer else PublicKey.from_pem(read_bytes(args.holder_key))
    possession, challenge = _cli_possession.possession_from_args(args)
    try:
        credential = issuer.issue(
            ctype.name,
            claims,
            holder_key=holder_key,
            possession=possession,
            challenge=challenge,
            valid_from=parse_time(valid_from),
            valid_until=parse_time(valid_until),
            now=parse_time(args.now),
            serial=args.serial,
            derive=csv_list(args.derive),
        )
    except PossessionError as exc:
        return _cli_possession.refused_possession(args, exc)
    write_atomic(args.out, credential.encoded)
    emit(
        args,
        {
            "credential_type": credential.credential_type,
            "serial": credential.serial,
            "kid": credential.kid.hex(),
            "bearer": credential.is_bearer,
            "bytes": len(credential.encoded),
            "out": str(args.out),
        },
        [
            f"issued {credential.credential_type} serial {credential.serial} "
            f"({'bearer' if credential.is_bearer else 'holder-bound'}, {len(credential.encoded)} bytes) -> {args.out}"
        ],
    )
    return EXIT_VALID


def _cmd_present(args: argparse.Namespace) -> int:
    credential = read_credential_unverified(read_bytes(args.credential))
    holder = None
    if args.holder_key is not None:
        holder = SigningKey.from_pem(read_bytes(args.holder_key), passphrase(args))
    text = present(
        credential,
        holder,
        now=parse_time(args.now),
        lifetime=args.lifetime,
        disclose=csv_list(args.disclose) if args.disclose is not None else None,
        profile=args.profile,
        nonce=parse_hex(args.nonce, "--nonce"),
        audience=args.audience,
    )
    if args.png:
        write_atomic(args.png, qr.render_png(text))
    if args.svg:
        write_atomic(args.svg, qr.render_svg(text).encode("utf-8"))
    if args.terminal:
        print(qr.render_terminal(text))
    version = qr.qr_version(text)
    emit(
        args,
        {
            "text": text,
            "characters": len(text),
            "qr_version": version,
            "png": _opt(args.png),
            "svg": _opt(args.svg),
        },
        [] if args.terminal else [text],
    )
    return EXIT_VALID


def _opt(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _cmd_verify(args: argparse.Namespace) -> int:
    verifier = verifier_from_args(args, policy_from_args(args))
    nonce = parse_hex(args.nonce, "--nonce")
    parse_time(args.now)  # a bad --now is a usage error before any code is read
    if args.code == "-":  # one verdict per line; a line that fails to verify never stops the lines after it
        results = [
            _verify_one(verifier, line.rstrip("\r\n"), args, nonce, sys.stdout) for line in sys.stdin if line.strip()
        ]
        return EXIT_VALID if results and all(results) else EXIT_REJECTED
    code: str | Path = Path(args.code) if os.path.isfile(args.code) else args.code
    return EXIT_VALID if _verify_one(verifier, code, args, nonce, sys.stdout) else EXIT_REJECTED


def policy_from_args(args: argparse.Namespace) -> Policy:
    """The Policy the verification options (see ``add_verification_options``) ask for."""
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
    formats = _formats_for_verify(args)
    trust = _trust_for_verify(args, foreign_only=bool(formats))
    status_lists = None
    if args.status_lists is not None:
        status_lists = StatusListCache()
        for path, error in status_lists.load_directory(args.status_lists, trust).errors:
            say(f"econsent: warning: status list {path} refused: {error}", file=sys.stderr)
    return Verifier(trust, policy, replay_cache=MemoryReplayCache(), status_lists=status_lists, formats=formats)


def _trust_for_verify(args: argparse.Namespace, *, foreign_only: bool = False) -> TrustStore:
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


def _formats_for_verify(args: argparse.Namespace) -> list[CodeFormat]:
    """EU DCC and SMART Health Card formats for the trust given on the command line (loaded only when asked)."""
    if len(args.shc_issuer) != len(args.shc_jwks):
        raise UsageError("give one --shc-issuer URL for each --shc-jwks file, in the same order")
    formats: list[CodeFormat] = []
    if args.dcc_certs:
        from .formats import DccFormat, DccTrust

        dcc = DccTrust()
        for path in args.dcc_certs:
            dcc.load(path)
        if not len(dcc):
            raise UsageError("--dcc-certs: no certificate found")
        formats.append(DccFormat(dcc))
    if args.shc_jwks:
        from .formats import ShcFormat, ShcTrust

        shc = ShcTrust()
        for issuer, path in zip(args.shc_issuer, args.shc_jwks, strict=True):
            shc.load_jwks(issuer, path)
        formats.append(ShcFormat(shc))
    return formats


def _verify_one(
    verifier: Verifier, code: str | Path, args: argparse.Namespace, nonce: bytes | None, out: TextIO
) -> bool:
    now = parse_time(args.now)
    try:
        # An image is scanned within --deadline (a scan worker stopped at it), then verified as text.
        text = code if isinstance(code, str) else _text_from_image(code, deadline=args.deadline)
        verdict = verifier.verify(text, now=now, nonce=nonce)
    except VerificationError as exc:
        if args.json:
            document = {"valid": False, "code": exc.code.value, "reason": exc.sentence, "detail": exc.detail}
            print(json_text(document), file=out)
        else:
            reason = f"  {exc.sentence}" + (f" ({exc.detail})" if exc.detail else "")
            say(f"REJECTED  {exc.code.value}", reason, file=out)
        return False
    if args.json:
        print(json_text(verdict.to_json()), file=out)
    else:
        say(*_card(verdict), file=out)
    return True


def _card(verdict: Verdict) -> list[str]:
    """The verdict as lines for people (``say`` neutralises what the code carried: claims, issuer, key id)."""
    ctype = BUILTIN_TYPES.by_name(verdict.credential_type)
    labels = {c.name: c.label_zh or c.name for c in ctype.claims} if ctype else {}
    foreign = verdict.format != "econsent/1"
    lines = [
        f"VALID  {verdict.credential_type}  ({verdict.format})"
        if foreign
        else f"VALID  {verdict.credential_type}  serial {verdict.serial}",
        f"  issuer   {verdict.issuer}  (key {verdict.kid}, {verdict.algorithm})",
        f"  valid    {verdict.valid_from:%Y-%m-%d} .. {verdict.valid_until:%Y-%m-%d}",
    ]
    if verdict.holder_bound and verdict.presented_at is not None:
        lines.append(
            f"  shown    {verdict.presented_at:%Y-%m-%d %H:%M:%S}Z by the holder's {verdict.holder_algorithm} key, "
            f"expires {verdict.expires_at:%H:%M:%S}Z"
        )
    else:
        lines.append("  bearer   not bound to a holder: check the holder's identity by other means")
    for name, value in claims_to_json(verdict.claims).items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        lines.append(f"  {labels.get(name, name)} {name}: {shown}")
    if verdict.withheld:
        lines.append(f"  withheld {', '.join(verdict.withheld)}")
    lines += [f"  WARNING  {warning}" for warning in verdict.warnings]
    return lines
