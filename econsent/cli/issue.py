"""Proof of possession on the command line: ``econsent challenge`` (issuer), ``econsent prove`` (holder),
and the ``--possession``/``--challenge``/``--holder-key-attested`` options of ``issue`` and ``issuer issue``.

The issuer's desk runs ``challenge`` and hands the holder the challenge and its key id; the holder's
device runs ``prove`` (or ``wallet new-key --challenge``) and returns ``proof.json`` with its public key;
``issue`` binds the key only if the proof answers that challenge (SPEC section 6.2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._cli_common import (
    UsageError,
    add_passphrase_option,
    emit,
    parse_hex,
    passphrase,
    read_bytes,
    write_atomic,
)
from .errors import EXIT_REJECTED, EXIT_VALID
from .keys import PublicKey, SigningKey
from .possession import (
    ATTESTED_OUT_OF_BAND,
    KeyAttestation,
    PossessionError,
    PossessionProof,
    new_challenge,
    prove_possession,
)

__all__ = [
    "add_possession_options",
    "add_proof_request_options",
    "possession_from_args",
    "proof_request",
    "refused_possession",
    "register",
]


def register(sub: Any) -> None:
    """Add the ``challenge`` and ``prove`` commands to the top-level sub-parsers."""
    challenge = sub.add_parser("challenge", help="issuer: a fresh challenge for a holder's proof of possession")
    challenge.add_argument("--issuer-key", required=True, type=Path, help="the issuer's public key (PEM)")
    challenge.add_argument("--json", action="store_true")
    challenge.set_defaults(handler=_cmd_challenge)

    prove = sub.add_parser("prove", help="holder: prove control of a holder key to an issuer (proof.json)")
    prove.add_argument("--holder-key", required=True, type=Path, help="holder private key (PEM)")
    add_passphrase_option(prove, "passphrase of the holder key, from this environment variable")
    add_proof_request_options(prove, required=True)
    prove.add_argument("--out", "-o", required=True, type=Path, help="proof file to write, for `econsent issue`")
    prove.add_argument("--json", action="store_true")
    prove.set_defaults(handler=_cmd_prove)


def add_proof_request_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``--challenge`` and ``--issuer-kid``: what the issuer's ``econsent challenge`` printed."""
    parser.add_argument("--challenge", required=required, help="the issuer's challenge, hex")
    parser.add_argument("--issuer-kid", required=required, help="the issuer's key id, hex (16 digits)")


def add_possession_options(parser: argparse.ArgumentParser) -> None:
    """How ``issue`` knows the holder controls ``--holder-key``: a proof over a challenge, or an attestation."""
    parser.add_argument("--possession", type=Path, help="the holder's proof of possession (proof.json)")
    parser.add_argument("--challenge", help="the challenge `econsent challenge` gave this holder, hex")
    parser.add_argument(
        "--holder-key-attested",
        action="store_true",
        help="bind --holder-key without a proof: its control was attested out of band (e.g. hardware attestation)",
    )


def possession_from_args(args: argparse.Namespace) -> tuple[PossessionProof | KeyAttestation | None, bytes | None]:
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


def refused_possession(args: argparse.Namespace, exc: PossessionError) -> int:
    """Report an issuer's refusal to bind a holder key (exit 1), with its stable reason."""
    if args.json:
        print(json.dumps({"ok": False, "code": exc.reason.value, "message": str(exc)}, ensure_ascii=False))
    else:
        print(f"REFUSED  {exc.reason.value}: {exc.reason.sentence} ({exc.detail})", file=sys.stderr)
    return EXIT_REJECTED


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
    holder = SigningKey.from_pem(read_bytes(args.holder_key), passphrase(args))
    challenge, issuer_kid = proof_request(args)
    write_atomic(args.out, prove_possession(holder, challenge, issuer_kid=issuer_kid).encode())
    holder_kid = holder.public_key.kid.hex()
    emit(
        args,
        {"holder_kid": holder_kid, "issuer_kid": issuer_kid.hex(), "out": str(args.out)},
        [f"proof of possession of holder key {holder_kid} for issuer {issuer_kid.hex()} -> {args.out}"],
    )
    return EXIT_VALID
