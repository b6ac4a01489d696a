"""``econsent issuer``: issue through the registry, revoke, suspend, reinstate, and publish status lists.

Exit codes as everywhere: 0 success, 1 refused by the registry (the code is printed: unknown serial,
already revoked, revocation is final, ...), 2 usage or input error. Personal data is never printed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import re
from pathlib import Path
from typing import Any

from .._files import PUBLISHED, folder_lock
from ..errors import EXIT_VALID
from ..keys import PublicKey
from ..registry import (
    DEFAULT_LIST_SIZE,
    CredentialRecord,
    IssuerRegistry,
    RegistryError,
    RegistryErrorCode,
)
from ..status import (
    MAX_STATUS_LIST_BYTES,
    STATUS_LIST_FILE_SUFFIX,
    CredentialStatus,
    StatusList,
    StatusListError,
    read_status_list_unverified,
)
from ._common import (
    SIGNING_KEY_HELP,
    UsageError,
    add_passphrase_option,
    add_registry_option,
    emit,
    iso_time,
    needs_action,
    parse_time,
    read_bytes,
    refuse_existing,
    signer_from_option,
    write_file,
)
from .batch import register as register_batch
from .issue import add_issue_options, issue_request, issued_summary

__all__ = ["register"]

DEFAULT_TTL = 24 * 3600


def register(sub: Any) -> None:
    """Add the ``issuer`` command and its actions to the top-level sub-parsers."""
    issuer = sub.add_parser("issuer", help="the issuer registry: issue, revoke, suspend, reinstate, publish status")
    actions = issuer.add_subparsers(metavar="ACTION")
    issuer.set_defaults(handler=needs_action(issuer))

    init = actions.add_parser(
        "init", help="create an issuer registry (an SQLite file or a PostgreSQL database) bound to the issuer's key"
    )
    add_registry_option(init)
    init.add_argument(
        "--key", required=True, action="append", type=Path, help="issuer public key (PEM) it issues with (repeat)"
    )
    init.add_argument(
        "--issuer-ref", help="the issuer id verifiers' trust stores give these keys (default with one key: kid:<hex>)"
    )
    init.add_argument("--list-size", type=int, default=DEFAULT_LIST_SIZE, help="entries per status list")
    init.add_argument("--json", action="store_true")
    init.set_defaults(handler=_init)

    add_key = actions.add_parser("add-key", help="register a rotated issuer key to issue and publish with")
    add_registry_option(add_key)
    add_key.add_argument("--key", required=True, type=Path, help="the issuer's new public key (PEM)")
    add_key.add_argument(
        "--authorised-by",
        required=True,
        help=SIGNING_KEY_HELP + " of a registered key that consents (in a registry with no key yet: the new key's)",
    )
    add_passphrase_option(add_key, "passphrase of the --authorised-by key file, from this environment variable")
    add_key.add_argument("--now", help="time of the registration (default: the clock)")
    add_key.add_argument("--json", action="store_true")
    add_key.set_defaults(handler=_add_key)

    issue = actions.add_parser("issue", help="issue a credential with the next serial and status slot")
    add_registry_option(issue)
    add_issue_options(issue)
    issue.add_argument(
        "--record-personal-data", action="store_true", help="also keep the claims in the registry (default: not)"
    )
    issue.set_defaults(handler=_issue)

    for verb, text in (
        ("revoke", "revoke a credential for good"),
        ("suspend", "suspend a valid credential"),
        ("reinstate", "make a suspended credential valid again"),
    ):
        change = actions.add_parser(verb, help=text)
        add_registry_option(change)
        change.add_argument("serial", type=int, help="the credential's serial number")
        change.add_argument("--reason", help="why, for the audit trail (no personal data)")
        change.add_argument("--now", help="time of the change (default: the clock)")
        change.add_argument("--json", action="store_true")
        change.set_defaults(handler=_change, verb=verb)

    status = actions.add_parser("status", help="a credential's status, status slot and audit trail")
    add_registry_option(status)
    status.add_argument("serial", type=int)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)

    publish = actions.add_parser("publish", help="sign status lists into DIR/<issuer>.<list>.ecsl files")
    add_registry_option(publish)
    publish.add_argument("--key", required=True, help="issuer " + SIGNING_KEY_HELP + " to sign with")
    add_passphrase_option(publish, "passphrase of the issuer key file, from this environment variable")
    publish.add_argument("--out-dir", required=True, type=Path, help="folder for the .ecsl files (created if missing)")
    publish.add_argument("--list", dest="lists", type=int, action="append", help="list id (repeat; default: all)")
    when = publish.add_mutually_exclusive_group()
    when.add_argument("--next-update", help="time by which a newer list will be out (ISO 8601)")
    when.add_argument("--ttl", type=int, default=DEFAULT_TTL, help="seconds until the next update (default 86400)")
    publish.add_argument("--now", help="issued-at of the lists (default: the clock)")
    publish.add_argument("--json", action="store_true")
    publish.set_defaults(handler=_publish)

    register_batch(actions)


def _open(args: argparse.Namespace) -> IssuerRegistry:
    return IssuerRegistry.open(args.registry, create=False)


def _init(args: argparse.Namespace) -> int:
    _refuse_existing_registry(args.registry)
    keys = [PublicKey.from_pem(read_bytes(path)) for path in args.key]
    with IssuerRegistry.open(
        args.registry, issuer_ref=args.issuer_ref, issuer_keys=keys, list_size=args.list_size
    ) as registry:
        emit(
            args,
            {
                "registry": registry.location,
                "issuer_ref": registry.issuer_ref,
                "list_size": registry.list_size,
                "keys": [key.kid.hex() for key in registry.issuer_keys],
            },
            [
                f"registry {registry.location} for {registry.issuer_ref}, "
                f"status lists of {registry.list_size} entries, "
                f"keys {', '.join(key.kid.hex() for key in registry.issuer_keys)}"
            ],
        )
    return EXIT_VALID


def _refuse_existing_registry(location: str | Path) -> None:
    """``init`` makes a new registry: a usage error if the file exists or the database already holds one."""
    if isinstance(location, Path):
        if location.exists() or location.is_symlink():
            raise UsageError(f"{location} exists: refusing to overwrite it")
        return
    try:
        existing = IssuerRegistry.open(location, create=False)
    except RegistryError as exc:
        if exc.code is RegistryErrorCode.WRONG_REGISTRY:
            return  # an empty database (or one holding something else, which creating then refuses)
        raise
    existing.close()
    raise UsageError(f"{existing.location} already holds an issuer registry: refusing to overwrite it")


def _add_key(args: argparse.Namespace) -> int:
    key = PublicKey.from_pem(read_bytes(args.key))
    with _open(args) as registry:
        authority = signer_from_option(args, args.authorised_by)
        registry.add_key(key, now=parse_time(args.now), authorised_by=authority)
        kids = [registered.kid.hex() for registered in registry.issuer_keys]
    emit(
        args,
        {"ok": True, "issuer_ref": registry.issuer_ref, "added": key.kid.hex(), "keys": kids},
        [f"registered key {key.kid.hex()} for {registry.issuer_ref}; keys: {', '.join(kids)}"],
    )
    return EXIT_VALID


def _issue(args: argparse.Namespace) -> int:
    refuse_existing(args.out, force=args.force)  # before a serial and a status slot are spent
    issuer, type_name, claims, options = issue_request(args)
    with _open(args) as registry:
        credential = registry.issue(
            issuer, type_name, claims, record_personal_data=args.record_personal_data, **options
        )  # a RegistryError or a PossessionError is a refusal: exit 1 with its code
    write_file(args.out, credential.encoded, replace=args.force)
    reference = credential.status
    assert reference is not None
    emit(
        args,
        {
            **issued_summary(credential, args.out),
            "status": {"list_id": reference.list_id, "index": reference.index},
            "personal_data_recorded": args.record_personal_data,
        },
        [
            f"issued {credential.credential_type} serial {credential.serial}, status list {reference.list_id} "
            f"index {reference.index} ({len(credential.encoded)} bytes) -> {args.out}"
        ],
    )
    return EXIT_VALID


def _change(args: argparse.Namespace) -> int:
    now = parse_time(args.now)
    with _open(args) as registry:
        actions = {"revoke": registry.revoke, "suspend": registry.suspend, "reinstate": registry.reinstate}
        before = actions[args.verb](args.serial, now=now, reason=args.reason)
        after = registry.status_of(args.serial)
    emit(
        args,
        {"ok": True, "serial": args.serial, "action": args.verb, "from": before.value, "to": after.value},
        [f"serial {args.serial}: {before.value} -> {after.value}"],
    )
    return EXIT_VALID


def _status(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        record = registry.record(args.serial)
        history = registry.history(args.serial)
    trail = [
        {
            "at": iso_time(entry.at),
            "action": entry.action,
            "from": None if entry.old_status is None else entry.old_status.value,
            "to": entry.new_status.value,
            "reason": entry.reason,
        }
        for entry in history
    ]
    lines = [
        f"serial {record.serial}  {record.credential_type}  {record.status.value.upper()}",
        f"  status   list {record.reference.list_id} index {record.reference.index}",
        f"  valid    {record.valid_from:%Y-%m-%d} .. {record.valid_until:%Y-%m-%d}"
        f"  (issued {iso_time(record.issued_at)})",
        f"  key      {record.kid.hex()}   claims recorded: {'yes' if record.has_personal_data else 'no'}",
    ]
    lines += [
        f"  {item['at']}  {item['action']:9} -> {item['to']}" + (f"  ({item['reason']})" if item["reason"] else "")
        for item in trail
    ]
    emit(args, {**_record_json(record), "history": trail}, lines)
    return EXIT_VALID


def _record_json(record: CredentialRecord) -> dict[str, Any]:
    return {
        "serial": record.serial,
        "credential_type": record.credential_type,
        "kid": record.kid.hex(),
        "status": record.status.value,
        "status_changed_at": None if record.status_changed_at is None else iso_time(record.status_changed_at),
        "list_id": record.reference.list_id,
        "index": record.reference.index,
        "issued_at": iso_time(record.issued_at),
        "valid_from": iso_time(record.valid_from),
        "valid_until": iso_time(record.valid_until),
        "personal_data_recorded": record.has_personal_data,
    }


def _publish(args: argparse.Namespace) -> int:
    now = parse_time(args.now)
    next_update = parse_time(args.next_update) if args.next_update else now + _dt.timedelta(seconds=args.ttl)
    signer = signer_from_option(args, args.key)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    published = []
    with _open(args) as registry, folder_lock(args.out_dir):  # check and write as one step
        issuer_ref = registry.issuer_ref
        prefix = _file_prefix(issuer_ref)
        targets = {
            list_id: args.out_dir / f"{prefix}.{list_id}{STATUS_LIST_FILE_SUFFIX}"
            for list_id in args.lists or registry.list_ids
        }
        # Every file is read and checked before any list is signed: never publish half the lists.
        held = {list_id: _held_list(path) for list_id, path in targets.items()}
        for list_id, path in targets.items():
            _check_name_is_ours(path, held[list_id], issuer_ref, list_id)
        for list_id, path in targets.items():
            data = registry.publish(list_id, signer, now=now, next_update=next_update)
            _check_not_older(path, held[list_id], data)
            write_file(path, data, mode=PUBLISHED, replace=True)  # a newer list replaces its older self
            published.append((path, data))
    summary = []
    for path, data in published:
        status_list = read_status_list_unverified(data)
        counts = status_list.counts()
        summary.append(
            {
                "list_id": status_list.list_id,
                "sequence": status_list.sequence,
                "size": status_list.size,
                "revoked": counts[CredentialStatus.REVOKED],
                "suspended": counts[CredentialStatus.SUSPENDED],
                "bytes": len(data),
                "file": str(path),
            }
        )
    emit(
        args,
        {"issuer_ref": issuer_ref, "next_update": iso_time(next_update), "lists": summary},
        [
            f"list {item['list_id']} #{item['sequence']}: {item['revoked']} revoked, {item['suspended']} suspended "
            f"of {item['size']}, {item['bytes']} bytes -> {item['file']}"
            for item in summary
        ],
    )
    return EXIT_VALID


def _held_list(path: Path) -> StatusList | None:
    """The status list a published file holds, unverified; None for a missing or unreadable file (replaced)."""
    try:
        with open(path, "rb") as handle:
            return read_status_list_unverified(handle.read(MAX_STATUS_LIST_BYTES + 1))
    except (OSError, StatusListError):
        return None


def _check_name_is_ours(path: Path, held: StatusList | None, issuer_ref: str, list_id: int) -> None:
    """Refuse to replace another issuer's (or another list's) published file that shares our file name.

    Two issuer refs can make the same file name (``sh:traffic`` and ``sh_traffic``) in a shared folder:
    replacing that file would take the other issuer's revocations away from every counter.
    """
    if held is not None and (held.issuer_ref, held.list_id) != (issuer_ref, list_id):
        raise RegistryError(
            RegistryErrorCode.NAME_TAKEN,
            f"{path} holds list {held.list_id} of issuer {held.issuer_ref!r}, not list {list_id} of "
            f"{issuer_ref!r}: publish this issuer's lists into a folder of their own",
        )


def _check_not_older(path: Path, held: StatusList | None, data: bytes) -> None:
    """Refuse to replace a published list with an older edition: verifiers holding it would refuse ours.

    That happens when the registry was restored from a backup or copied: its sequence numbers lag behind.
    """
    new = read_status_list_unverified(data)
    if held is not None and held.sequence >= new.sequence:
        raise RegistryError(
            RegistryErrorCode.ROLLBACK,
            f"{path} already holds list {new.list_id} #{held.sequence}; this registry is at #{new.sequence}, "
            "which verifiers would refuse as a rollback (was the registry restored from a backup?)",
        )


def _file_prefix(issuer_ref: str) -> str:
    """The issuer ref as a portable file name part (``kid:ab12`` becomes ``kid_ab12``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", issuer_ref)
