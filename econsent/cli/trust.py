"""``econsent trust``: build a trust store, import government PKI keys, sign and check trust lists."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .._files import PUBLISHED
from .._terminal import json_text
from ..errors import EXIT_VALID
from ..keys import PublicKey, public_keys_from_jwks
from ..model import IssuerName
from ..schema import BUILTIN_TYPES
from ..trust import KeyStatus, TrustedKey, TrustLists, TrustStore, sign_trust_list
from ._common import (
    SIGNING_KEY_HELP,
    UsageError,
    add_force_option,
    add_passphrase_option,
    csv_list,
    emit,
    int_range,
    iso_time,
    needs_action,
    parse_time,
    read_bytes,
    refuse_existing,
    signer_from_option,
    write_file,
)

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``trust`` command and its actions to the top-level sub-parsers."""
    trust = sub.add_parser("trust", help="manage trusted issuer keys and signed trust lists")
    actions = trust.add_subparsers(metavar="ACTION")
    trust.set_defaults(handler=needs_action(trust))

    add = actions.add_parser("add", help="trust issuer public keys (PEM, X.509 certificate or JWKS)")
    add.add_argument("--store", required=True, type=Path, help="trust store JSON file (created if missing)")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--key", type=Path, help="issuer public key (PEM)")
    source.add_argument("--cert", type=Path, help="issuer X.509 certificate (PEM or DER)")
    source.add_argument("--jwks", type=Path, help="JWKS document: every key in it is added")
    add.add_argument("--ca", type=Path, help="with --cert: the CA certificate that must have issued it")
    add.add_argument("--issuer-id", help="stable issuer id, shared by the issuer's keys (needed for trust lists)")
    add.add_argument("--issuer-zh", required=True, help="issuer name in Chinese")
    add.add_argument("--issuer-en", default="", help="issuer name in English")
    add.add_argument("--types", required=True, help="comma-separated credential types the key may sign")
    add.add_argument("--valid-from", help="start of the key's signing period (default: the certificate's)")
    add.add_argument("--valid-until", help="end of the key's signing period (default: the certificate's)")
    add.add_argument("--now", help="the time a CA check is made at (default: the clock)")
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=_add)

    listing = actions.add_parser("list", help="list trusted keys")
    listing.add_argument("--store", required=True, type=Path)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)

    for status in (KeyStatus.RETIRED, KeyStatus.COMPROMISED):
        verb = "retire" if status is KeyStatus.RETIRED else "compromise"
        change = actions.add_parser(verb, help=f"mark a key {status.value} from a given time")
        change.add_argument("--store", required=True, type=Path)
        change.add_argument("--kid", required=True, help="key id (hex)")
        change.add_argument("--since", required=True, help="ISO 8601 time the key stopped signing / was compromised")
        change.add_argument("--json", action="store_true")
        change.set_defaults(handler=_set_status, status=status)

    sign = actions.add_parser("sign", help="sign the trust store as a trust list with a trust-anchor key")
    sign.add_argument("--store", required=True, type=Path)
    sign.add_argument("--anchor-key", required=True, help="trust-anchor " + SIGNING_KEY_HELP)
    add_passphrase_option(sign, "passphrase of the anchor key file, from this environment variable")
    sign.add_argument("--name", required=True, help="list name, e.g. shanghai")
    sign.add_argument(
        "--sequence", required=True, type=int_range(0, 2**53 - 1), help="sequence number, higher than the last one"
    )
    sign.add_argument("--next-update", required=True, help="ISO 8601 time by which a newer list will be out")
    sign.add_argument("--now", help="issued-at (default: the clock)")
    sign.add_argument("--out", "-o", required=True, type=Path)
    add_force_option(sign)
    sign.add_argument("--json", action="store_true")
    sign.set_defaults(handler=_sign)

    inspect = actions.add_parser("inspect", help="print a trust list's content WITHOUT verifying it")
    inspect.add_argument("list", type=Path)
    inspect.add_argument("--json", action="store_true", help='one JSON object, with "verified": false')
    inspect.set_defaults(handler=_inspect)

    check = actions.add_parser("verify", help="verify a trust list against pinned anchor keys")
    check.add_argument("list", type=Path)
    check.add_argument("--anchor", required=True, action="append", type=Path, help="pinned anchor public key")
    check.add_argument("--held", type=Path, help="the list currently in use: refuse a rollback to older")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=_verify)


def _add(args: argparse.Namespace) -> int:
    store = TrustStore.load(args.store) if args.store.exists() else TrustStore()
    valid_from = None if args.valid_from is None else parse_time(args.valid_from)
    valid_until = None if args.valid_until is None else parse_time(args.valid_until)
    if args.cert is not None:
        ca = None if args.ca is None else read_bytes(args.ca)
        key, cert_from, cert_until = PublicKey.from_certificate(read_bytes(args.cert), ca=ca, at=parse_time(args.now))
        keys = [key]
        valid_from, valid_until = valid_from or cert_from, valid_until or cert_until
    elif args.jwks is not None:
        try:
            document = json.loads(read_bytes(args.jwks))
        except (ValueError, RecursionError) as exc:
            raise UsageError(f"{args.jwks} is not JSON: {exc}") from exc
        keys = public_keys_from_jwks(document)
    else:
        if args.ca is not None:
            raise UsageError("--ca goes with --cert")
        keys = [PublicKey.from_pem(read_bytes(args.key))]
    if valid_from is None or valid_until is None:
        raise UsageError("give --valid-from and --valid-until (only a certificate brings its own)")
    types = frozenset(csv_list(args.types))
    unknown = sorted(t for t in types if BUILTIN_TYPES.by_name(t) is None)
    if unknown:
        raise UsageError(f"unknown credential types {unknown} (see `econsent types`)")
    entries = [
        TrustedKey(
            public_key=key,
            issuer=IssuerName(args.issuer_zh, args.issuer_en),
            credential_types=types,
            valid_from=valid_from,
            valid_until=valid_until,
            issuer_id=args.issuer_id,
        )
        for key in keys
    ]
    for entry in entries:
        store.add(entry)
    store.save(args.store)
    emit(
        args,
        {"added": [entry.to_json() for entry in entries]},
        [f"trusted {e.kid.hex()} ({e.issuer}) for {', '.join(sorted(e.credential_types))}" for e in entries],
    )
    return EXIT_VALID


def _list(args: argparse.Namespace) -> int:
    store = TrustStore.load(args.store)
    lines = [
        f"{key.kid.hex()}  {key.public_key.algorithm.value:7}  {key.status.value:11}  {key.issuer}  "
        f"{','.join(sorted(key.credential_types))}  {key.valid_from:%Y-%m-%d} .. {key.valid_until:%Y-%m-%d}"
        for key in store
    ]
    emit(args, store.to_json(), lines or ["(no trusted keys)"])
    return EXIT_VALID


def _set_status(args: argparse.Namespace) -> int:
    store = TrustStore.load(args.store)
    since = parse_time(args.since)
    try:
        kid = bytes.fromhex(args.kid)
    except ValueError as exc:
        raise UsageError("--kid must be hexadecimal") from exc
    key = store.get(kid)
    if key is None:
        raise UsageError(f"key {args.kid} is not in {args.store}")
    if key.status is KeyStatus.COMPROMISED:
        raise UsageError(f"key {args.kid} is already compromised: that cannot be undone")
    store.remove(kid)
    updated = TrustedKey(
        public_key=key.public_key,
        issuer=key.issuer,
        credential_types=key.credential_types,
        valid_from=key.valid_from,
        valid_until=key.valid_until,
        status=args.status,
        status_since=since,
        issuer_id=key.issuer_id,
    )
    store.add(updated)
    store.save(args.store)
    emit(args, updated.to_json(), [f"{args.kid} is {args.status.value} since {iso_time(since)}"])
    return EXIT_VALID


def _sign(args: argparse.Namespace) -> int:
    refuse_existing(args.out, force=args.force)
    anchor = signer_from_option(args, args.anchor_key)
    data = sign_trust_list(
        TrustStore.load(args.store),
        anchor,
        name=args.name,
        sequence=args.sequence,
        issued_at=parse_time(args.now),
        next_update=parse_time(args.next_update),
    )
    write_file(args.out, data, mode=PUBLISHED, replace=args.force)  # verifiers everywhere read it
    emit(
        args,
        {"name": args.name, "sequence": args.sequence, "anchor": anchor.public_key.kid.hex(), "out": str(args.out)},
        [f"signed trust list {args.name}#{args.sequence} with anchor {anchor.public_key.kid.hex()} -> {args.out}"],
    )
    return EXIT_VALID


def _inspect(args: argparse.Namespace) -> int:
    import base64

    try:
        envelope = json.loads(read_bytes(args.list))
        payload = envelope.get("payload", "") if isinstance(envelope, dict) else ""
        content = json.loads(base64.urlsafe_b64decode(str(payload) + "=" * (-len(str(payload)) % 4)))
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{args.list} is not a trust list: {exc}") from exc
    if not isinstance(content, dict):
        raise UsageError(f"{args.list} is not a trust list: its payload is not a JSON object")
    shown = {"anchor": envelope.get("anchor"), **content}
    if args.json:  # "verified" last, so the unverified content cannot set it to true
        print(json_text({**shown, "verified": False}))
        return EXIT_VALID
    print("UNVERIFIED content (use `econsent trust verify` to check the signature):")
    print(json_text(shown, indent=2))  # unverified: neutralised
    return EXIT_VALID


def _verify(args: argparse.Namespace) -> int:
    anchors = [PublicKey.from_pem(read_bytes(path)) for path in args.anchor]  # KeyLoadError: exit 2 with its code
    lists = TrustLists(anchors)
    if args.held is not None:
        lists.update(read_bytes(args.held))
    info = lists.update(read_bytes(args.list))  # a refused list is a TrustListError: exit 1 with its code
    keys = sum(1 for key in lists.store() if key.source == info)
    emit(
        args,
        {
            "valid": True,
            "name": info.name,
            "sequence": info.sequence,
            "issued_at": iso_time(info.issued_at),
            "next_update": iso_time(info.next_update),
            "keys": keys,
        },
        [f"VALID  trust list {info.label}, {keys} keys, next update {iso_time(info.next_update)}"],
    )
    return EXIT_VALID
