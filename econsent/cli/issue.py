"""``econsent issue``, ``present``, ``challenge`` and ``prove``: a credential from claims, and a code from it.

Proof of possession: the issuer's desk runs ``challenge`` and hands the holder the challenge and its key
id; the holder's device runs ``prove`` (or ``wallet new-key --challenge``) and returns ``proof.json``
with its public key; ``issue`` (and ``issuer issue``, with the same options) binds the key only if the
proof answers that challenge (SPEC section 6.2). A refused proof exits 1 with its stable code.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import qr
from .._wire import MAX_TIME
from ..errors import EXIT_VALID
from ..issue import Issuer
from ..keys import PublicKey, SigningKey
from ..model import Credential
from ..possession import (
    ATTESTED_OUT_OF_BAND,
    KeyAttestation,
    PossessionProof,
    new_challenge,
    prove_possession,
)
from ..present import DEFAULT_LIFETIME, present, read_credential_unverified
from ._common import (
    SIGNING_KEY_HELP,
    UsageError,
    add_force_option,
    add_issuer_algorithm_option,
    add_passphrase_option,
    csv_list,
    emit,
    int_range,
    parse_hex,
    parse_time,
    passphrase,
    read_bytes,
    read_claims_request,
    refuse_existing,
    signer_from_option,
    write_file,
)

__all__ = [
    "add_issue_options",
    "add_proof_request_options",
    "issue_request",
    "issued_summary",
    "proof_request",
    "register",
]


def register(sub: Any) -> None:
    """Add the ``challenge``, ``prove``, ``issue`` and ``present`` commands to the top-level sub-parsers."""
    challenge = sub.add_parser("challenge", help="issuer: a fresh challenge for a holder's proof of possession")
    challenge.add_argument("--issuer-key", required=True, type=Path, help="the issuer's public key (PEM)")
    challenge.add_argument("--json", action="store_true")
    challenge.set_defaults(handler=_cmd_challenge)

    prove = sub.add_parser("prove", help="holder: prove control of a holder key to an issuer (proof.json)")
    prove.add_argument("--holder-key", required=True, type=Path, help="holder private key (PEM)")
    add_passphrase_option(prove, "passphrase of the holder key, from this environment variable")
    add_proof_request_options(prove, required=True)
    prove.add_argument("--out", "-o", required=True, type=Path, help="proof file to write, for `econsent issue`")
    add_force_option(prove)
    prove.add_argument("--json", action="store_true")
    prove.set_defaults(handler=_cmd_prove)

    issue = sub.add_parser("issue", help="issue a signed credential")
    add_issue_options(issue)
    issue.add_argument("--serial", type=int, help="serial number (default: random)")
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
    add_issuer_algorithm_option(pres)
    pres.add_argument("--png", type=Path, help="write the QR code as PNG")
    pres.add_argument("--svg", type=Path, help="write the QR code as SVG")
    pres.add_argument("--terminal", action="store_true", help="draw the QR code in the terminal")
    add_force_option(pres)
    pres.add_argument("--now", help="the phone's time, ISO 8601 or Unix seconds (default: the clock)")
    pres.add_argument("--json", action="store_true")
    pres.set_defaults(handler=_cmd_present)


def add_issue_options(parser: argparse.ArgumentParser) -> None:
    """The options ``issue`` and ``issuer issue`` share: key, claims, holder binding, validity, output."""
    parser.add_argument("--key", required=True, help="issuer " + SIGNING_KEY_HELP)
    add_passphrase_option(parser, "passphrase of the issuer key file, from this environment variable")
    parser.add_argument(
        "--claims",
        required=True,
        type=Path,
        help="JSON file: an object of claims, or a document with credential_type, claims, valid_from, valid_until",
    )
    parser.add_argument("--type", dest="credential_type", help="credential type (default: from the claims file)")
    holder = parser.add_mutually_exclusive_group(required=True)
    holder.add_argument("--holder-key", type=Path, help="holder public key (PEM) to bind the credential to")
    holder.add_argument("--bearer", action="store_true", help="issue a bearer credential (printed certificates)")
    parser.add_argument("--possession", type=Path, help="the holder's proof of possession (proof.json)")
    parser.add_argument("--challenge", help="the challenge `econsent challenge` gave this holder, hex")
    parser.add_argument(
        "--holder-key-attested",
        action="store_true",
        help="bind --holder-key without a proof: its control was attested out of band (e.g. hardware attestation)",
    )
    parser.add_argument("--valid-from", help="ISO 8601 (default: from the claims file)")
    parser.add_argument("--valid-until", help="ISO 8601 (default: from the claims file)")
    parser.add_argument("--derive", default="", help="comma-separated claims to derive, e.g. age_over_18")
    parser.add_argument("--out", "-o", required=True, type=Path, help="credential file to write")
    add_force_option(parser)
    parser.add_argument("--now", help="issuance time, ISO 8601 or Unix seconds (default: the clock)")
    parser.add_argument("--json", action="store_true")


def issue_request(args: argparse.Namespace) -> tuple[Issuer, str, dict[str, Any], dict[str, Any]]:
    """What the :func:`add_issue_options` ask for: the issuer, the type name, the claims, and the keywords
    of :meth:`Issuer.issue` (holder key, possession, challenge, validity, now, derive)."""
    ctype, claims, valid_from, valid_until = read_claims_request(args)
    issuer = Issuer(signer_from_option(args, args.key))
    holder_key = None if args.bearer else PublicKey.from_pem(read_bytes(args.holder_key))
    possession, challenge = _possession(args)
    options = {
        "holder_key": holder_key,
        "possession": possession,
        "challenge": challenge,
        "valid_from": parse_time(valid_from),
        "valid_until": parse_time(valid_until),
        "now": parse_time(args.now),
        "derive": csv_list(args.derive),
    }
    return issuer, ctype.name, claims, options


def issued_summary(credential: Credential, out: Path) -> dict[str, Any]:
    """The JSON both issue commands print about a credential they wrote to ``out``."""
    return {
        "credential_type": credential.credential_type,
        "serial": credential.serial,
        "kid": credential.kid.hex(),
        "issuer_algorithm": credential.issuer_algorithm,  # the holder presents in its suite (SM2: SM3)
        "bearer": credential.is_bearer,
        "bytes": len(credential.encoded),
        "out": str(out),
    }


def _possession(args: argparse.Namespace) -> tuple[PossessionProof | KeyAttestation | None, bytes | None]:
    """The ``possession`` and ``challenge`` for :meth:`Issuer.issue`, or a usage error naming what is missing."""
    if args.bearer:
        if args.possession or args.challenge or args.holder_key_attested:
            raise UsageError("--bearer binds no holder key: --possession, --challenge and --holder-key-attested")
        return None, None
    if args.holder_key_attested:
        if args.possession or args.challenge:
            raise UsageError("--holder-key-attested takes no --possession or --challenge")
        return ATTESTED_OUT_OF_BAND, None
    if args.possession is None or args.challenge is None:
        raise UsageError(
            "--holder-key needs the holder's proof of possession (--possession proof.json --challenge HEX, "
            "see `econsent challenge` and `econsent prove`) or --holder-key-attested"
        )
    return PossessionProof.decode(read_bytes(args.possession)), parse_hex(args.challenge, "--challenge")


def add_proof_request_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``--challenge`` and ``--issuer-kid``: what the issuer's ``econsent challenge`` printed."""
    parser.add_argument("--challenge", required=required, help="the issuer's challenge, hex")
    parser.add_argument("--issuer-kid", required=required, help="the issuer's key id, hex (16 digits)")


def proof_request(args: argparse.Namespace) -> tuple[bytes, bytes]:
    """The ``--challenge`` and ``--issuer-kid`` bytes; a usage error unless both are given."""
    challenge = parse_hex(args.challenge, "--challenge")
    issuer_kid = parse_hex(args.issuer_kid, "--issuer-kid")
    if challenge is None or issuer_kid is None:
        raise UsageError("give both --challenge and --issuer-kid, as `econsent challenge` printed them")
    return challenge, issuer_kid


def _cmd_challenge(args: argparse.Namespace) -> int:
    issuer_kid = PublicKey.from_pem(read_bytes(args.issuer_key)).kid.hex()
    challenge = new_challenge().hex()
    emit(
        args,
        {"challenge": challenge, "issuer_kid": issuer_kid},
        [f"challenge {challenge}", f"issuer-kid {issuer_kid}"],
    )
    return EXIT_VALID


def _cmd_prove(args: argparse.Namespace) -> int:
    refuse_existing(args.out, force=args.force)
    holder = SigningKey.from_pem(read_bytes(args.holder_key), passphrase(args))
    challenge, issuer_kid = proof_request(args)
    write_file(args.out, prove_possession(holder, challenge, issuer_kid=issuer_kid).encode(), replace=args.force)
    holder_kid = holder.public_key.kid.hex()
    emit(
        args,
        {"holder_kid": holder_kid, "issuer_kid": issuer_kid.hex(), "out": str(args.out)},
        [f"proof of possession of holder key {holder_kid} for issuer {issuer_kid.hex()} -> {args.out}"],
    )
    return EXIT_VALID


def _cmd_issue(args: argparse.Namespace) -> int:
    refuse_existing(args.out, force=args.force)
    issuer, type_name, claims, options = issue_request(args)
    credential = issuer.issue(type_name, claims, serial=args.serial, **options)  # PossessionError: exit 1
    write_file(args.out, credential.encoded, replace=args.force)
    binding = "bearer" if credential.is_bearer else "holder-bound"
    emit(
        args,
        issued_summary(credential, args.out),
        [
            f"issued {credential.credential_type} serial {credential.serial} "
            f"({binding}, {len(credential.encoded)} bytes, issuer key {credential.issuer_algorithm}) -> {args.out}"
        ],
    )
    return EXIT_VALID


def _cmd_present(args: argparse.Namespace) -> int:
    refuse_existing(args.png, args.svg, force=args.force)
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
        issuer_algorithm=args.issuer_algorithm,
    )
    if args.png:
        write_file(args.png, qr.render_png(text, ecc=qr.SCREEN_ECC, border=qr.SCREEN_BORDER), replace=args.force)
    if args.svg:
        svg = qr.render_svg(text, ecc=qr.SCREEN_ECC, border=qr.SCREEN_BORDER)
        write_file(args.svg, svg.encode("utf-8"), replace=args.force)
    if args.terminal:
        print(qr.render_terminal(text, ecc=qr.SCREEN_ECC, border=qr.SCREEN_BORDER))
    emit(
        args,
        {
            "text": text,
            "characters": len(text),
            "qr_version": qr.qr_version(text, ecc=qr.SCREEN_ECC),
            "png": None if args.png is None else str(args.png),
            "svg": None if args.svg is None else str(args.svg),
        },
        [] if args.terminal else [text],
    )
    return EXIT_VALID
