"""``econsent keygen`` and ``econsent types``: key pairs, and the credential types keys sign."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .._files import PUBLISHED
from ..errors import EXIT_VALID
from ..keys import Algorithm, SigningKey
from ..schema import BUILTIN_TYPES, CredentialType
from ._common import UsageError, add_passphrase_option, emit, passphrase, write_file

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``keygen`` and ``types`` commands to the top-level sub-parsers."""
    keygen = sub.add_parser("keygen", help="generate an issuer or holder key pair (PEM)")
    keygen.add_argument("--algorithm", "-a", default="ES256", help="ES256 (default), Ed25519 or SM2")
    keygen.add_argument("--out", "-o", required=True, type=Path, help="private key file to write")
    keygen.add_argument("--public-out", type=Path, help="public key file (default: OUT with .pub.pem)")
    add_passphrase_option(keygen, "encrypt the private key with the passphrase in this environment variable")
    keygen.add_argument("--json", action="store_true", help="print the result as JSON")
    keygen.set_defaults(handler=_cmd_keygen)

    types = sub.add_parser("types", help="list the credential types, their claims and profiles")
    types.add_argument("--json", action="store_true")
    types.set_defaults(handler=_cmd_types)


def _cmd_keygen(args: argparse.Namespace) -> int:
    try:
        algorithm = Algorithm.parse(args.algorithm)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    key = SigningKey.generate(algorithm)
    public_out = args.public_out or args.out.with_name(args.out.name.removesuffix(".pem") + ".pub.pem")
    write_file(args.out, key.to_pem(passphrase(args)), new=True)
    write_file(public_out, key.public_key.to_pem(), mode=PUBLISHED, new=True)
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
    lines = []
    for ctype in BUILTIN_TYPES:
        lines.append(f"{ctype.name} (id {ctype.type_id}, {ctype.label_zh} / {ctype.label_en})")
        lines += [f"  {i:2} {spec.name:28} {spec.kind.value:11} {spec.label_zh}" for i, spec in enumerate(ctype.claims)]
        lines += [f"  profile {name}: {', '.join(members)}" for name, members in ctype.profiles.items()]
    emit(args, {"types": [_describe_type(t) for t in BUILTIN_TYPES]}, lines)
    return EXIT_VALID


def _describe_type(ctype: CredentialType) -> dict[str, Any]:
    return {
        "name": ctype.name,
        "type_id": ctype.type_id,
        "claims": [{"name": c.name, "kind": c.kind.value} for c in ctype.claims],
        "profiles": {name: list(members) for name, members in ctype.profiles.items()},
    }
