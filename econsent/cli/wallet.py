"""``econsent wallet``: the holder's wallet on the command line, a thin layer over :class:`~econsent.wallet.Wallet`.

Subcommands: create, new-key, add, list, show, remove, export, import, change-passphrase. Passphrases
come from environment variables (``--passphrase-env``) or, on a terminal, from a prompt; never from
the command line, where other users could read them. Exit codes: 0 success, 1 the wallet refused
(the stable code is printed: wrong passphrase, damaged file, locked, no such entry ...), 2 usage or
input error. ``show`` redraws the QR code in the terminal with a countdown and renews it before it
expires; ``--once`` draws one frame and exits.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import qr
from .._files import PRIVATE, PUBLISHED
from .._terminal import json_text
from .._wire import MAX_TIME
from ..errors import EXIT_USAGE, EXIT_VALID, EconsentError
from ..keys import Algorithm, SigningKey
from ..model import IssuerName
from ..trust import TrustStore
from ..wallet import (
    DEFAULT_KDF,
    DEFAULT_LIFETIME,
    DEFAULT_REFRESH_BEFORE,
    EntryStatus,
    FileStorage,
    Frame,
    KeyMode,
    ScryptParams,
    Wallet,
    WalletEntry,
)
from ._common import (
    UsageError,
    add_force_option,
    add_issuer_algorithm_option,
    csv_list,
    emit,
    float_range,
    int_range,
    iso_time,
    needs_action,
    parse_hex,
    parse_time,
    read_bytes,
    read_secret,
    refuse_existing,
    write_file,
)
from .issue import add_proof_request_options, proof_request

__all__ = ["register"]

WALLET_ENV = "ECONSENT_WALLET"
_MAX_BACKUP_BYTES = 64 * 1024 * 1024
_CLEAR = "\x1b[H\x1b[2J"
_HOME = "\x1b[H"
_CLEAR_LINE = "\x1b[K"
_CLEAR_BELOW = "\x1b[J"
_HIDE_CURSOR = "\x1b[?25l"
_SHOW_CURSOR = "\x1b[?25h"

# The redraw loop's time sources; tests replace them to run the loop without waiting.
_SLEEP: Callable[[float], None] = time.sleep
_MONOTONIC: Callable[[], float] = time.monotonic


def register(sub: Any) -> None:
    """Add the ``wallet`` command and its actions to the top-level sub-parsers."""
    wallet = sub.add_parser("wallet", help="the holder's encrypted wallet of credentials and holder keys")
    actions = wallet.add_subparsers(metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--wallet", "-w", type=Path, help=f"wallet file (default: ${WALLET_ENV})")
    common.add_argument("--passphrase-env", metavar="VAR", help="take the wallet passphrase from this variable")
    common.add_argument(
        "--lock-timeout", type=float_range(0, 3600), default=10.0, help="seconds to wait for another writer"
    )
    common.add_argument("--expect-id", metavar="HEX", help="refuse any other wallet's file (the id `create` printed)")
    common.add_argument(
        "--min-generation", type=int, default=0, metavar="N", help="refuse a copy older than generation N, seen before"
    )
    common.add_argument("--now", help="the time to use, ISO 8601 or Unix seconds (default: the system clock)")
    common.add_argument("--json", action="store_true", help="print the result as JSON")

    create = actions.add_parser("create", parents=[common], help="create an empty wallet")
    create.add_argument(
        "--key-mode",
        choices=[mode.value for mode in KeyMode],
        default=KeyMode.PER_CREDENTIAL.value,
        help="a new holder key per credential (default; unlinkable) or one key for the whole wallet",
    )
    _kdf_option(create)
    create.set_defaults(handler=_guarded(_cmd_create))

    new_key = actions.add_parser("new-key", parents=[common], help="make a holder key for a credential to be issued")
    new_key.add_argument("--algorithm", "-a", default="ES256", help="ES256 (default), Ed25519 or SM2")
    new_key.add_argument("--out", "-o", type=Path, help="write the public key here (PEM) for `econsent issue`")
    add_proof_request_options(new_key, required=False)
    new_key.add_argument("--proof-out", type=Path, help="with --challenge: write the proof of possession here")
    add_force_option(new_key)
    new_key.set_defaults(handler=_guarded(_cmd_new_key))

    add = actions.add_parser("add", parents=[common], help="store a credential file from `econsent issue`")
    add.add_argument("credential", type=Path, help="the credential file")
    add.add_argument("--holder-key", type=Path, help="import this holder private key (PEM) into the wallet")
    add.add_argument("--holder-key-passphrase-env", metavar="VAR", help="passphrase of --holder-key")
    add.add_argument("--issuer-zh", help="issuer name to show in lists (Chinese)")
    add.add_argument("--issuer-en", default="", help="issuer name to show in lists (English)")
    add.add_argument("--trust", type=Path, help="trust store to take the issuer's name from")
    add.add_argument("--label", help="your own label for this credential")
    add_issuer_algorithm_option(add)
    add.set_defaults(handler=_guarded(_cmd_add))

    listing = actions.add_parser("list", parents=[common], help="list credentials with their validity")
    listing.add_argument("--trust", type=Path, help="trust store to name issuers")
    listing.set_defaults(handler=_guarded(_cmd_list))

    show = actions.add_parser("show", parents=[common], help="show a credential as a QR code that renews itself")
    show.add_argument("entry", help="entry id (or a unique prefix of it)")
    choose = show.add_mutually_exclusive_group()
    choose.add_argument("--profile", help="a named set of claims of the credential type, e.g. driving-check")
    choose.add_argument("--disclose", help="comma-separated claims to show (default: all)")
    show.add_argument(
        "--lifetime", type=int_range(1, MAX_TIME), default=DEFAULT_LIFETIME, help="seconds each code stays valid"
    )
    show.add_argument(
        "--refresh-before",
        type=int_range(0, MAX_TIME),
        default=DEFAULT_REFRESH_BEFORE,
        help="renew this many seconds before expiry",
    )
    show.add_argument("--nonce", help="the verifier's challenge, hex")
    show.add_argument("--audience", help="the verifier the code is made for")
    show.add_argument("--once", action="store_true", help="draw one code and exit")
    show.add_argument(
        "--duration",
        type=float_range(0, 366 * 86_400, exclude_low=True),
        help="stop redrawing after this many seconds (default: Ctrl-C)",
    )
    show.add_argument("--png", type=Path, help="write the current code as PNG (rewritten at each renewal)")
    show.add_argument("--svg", type=Path, help="write the current code as SVG (rewritten at each renewal)")
    show.add_argument("--invert", action="store_true", help="for light-on-dark terminals")
    add_force_option(show)
    show.set_defaults(handler=_guarded(_cmd_show))

    remove = actions.add_parser("remove", parents=[common], help="delete a credential and its holder key")
    remove.add_argument("entry", help="entry id (or a unique prefix of it)")
    remove.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    remove.set_defaults(handler=_guarded(_cmd_remove))

    export = actions.add_parser("export", parents=[common], help="write an encrypted backup")
    export.add_argument("--out", "-o", required=True, type=Path, help="backup file to write")
    export.add_argument("--backup-passphrase-env", metavar="VAR", help="take the backup passphrase from this variable")
    add_force_option(export)
    _kdf_option(export)
    export.set_defaults(handler=_guarded(_cmd_export))

    restore = actions.add_parser("import", parents=[common], help="merge an encrypted backup into the wallet")
    restore.add_argument("backup", type=Path, help="backup file from `econsent wallet export`")
    restore.add_argument("--backup-passphrase-env", metavar="VAR", help="take the backup passphrase from this variable")
    restore.set_defaults(handler=_guarded(_cmd_import))

    rekey = actions.add_parser("change-passphrase", parents=[common], help="re-encrypt under a new passphrase")
    rekey.add_argument("--new-passphrase-env", metavar="VAR", help="take the new passphrase from this variable")
    _kdf_option(rekey)
    rekey.set_defaults(handler=_guarded(_cmd_change_passphrase))

    wallet.set_defaults(handler=needs_action(wallet))


def _kdf_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kdf-log2-n",
        type=int,
        default=DEFAULT_KDF.log2_n,
        help=f"scrypt cost N = 2^this (default {DEFAULT_KDF.log2_n}: about 350 ms, 128 MiB); lower only for tests",
    )


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A wallet command whose ValueError (an argument the wallet refuses) is a usage error (exit 2).

    Wallet refusals (:class:`~econsent.wallet.WalletError`) go on to ``main``, which prints their code (exit 1).
    """

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except EconsentError:
            raise
        except ValueError as exc:
            raise UsageError(str(exc)) from exc

    return run


# --- helpers -------------------------------------------------------------------------------------


def _wallet_path(args: argparse.Namespace) -> Path:
    if args.wallet is not None:
        return Path(args.wallet)
    from_env = os.environ.get(WALLET_ENV)
    if not from_env:
        raise UsageError(f"give --wallet PATH or set {WALLET_ENV}")
    return Path(from_env)


def _storage(args: argparse.Namespace) -> FileStorage:
    return FileStorage(_wallet_path(args), lock_timeout=args.lock_timeout)


def _open(args: argparse.Namespace, trust: TrustStore | None = None) -> Wallet:
    passphrase = read_secret(args.passphrase_env, "--passphrase-env", "Wallet passphrase: ")
    return Wallet.open(
        _storage(args), passphrase, expected_id=args.expect_id, min_generation=args.min_generation, trust=trust
    )


def _kdf(args: argparse.Namespace) -> ScryptParams:
    try:
        return ScryptParams(args.kdf_log2_n, DEFAULT_KDF.r, DEFAULT_KDF.p)
    except ValueError as exc:  # the range is ScryptParams' to say
        raise UsageError(f"--kdf-log2-n {args.kdf_log2_n}: {exc}") from exc


def _trust(path: Path | None) -> TrustStore | None:
    return None if path is None else TrustStore.load(path)


def _clock(start: str | None) -> Callable[[], _dt.datetime]:
    """The system clock, or a clock that starts at ``start`` and advances in real time."""
    if start is None:
        return lambda: _dt.datetime.now(_dt.UTC)
    origin, began = parse_time(start), _MONOTONIC()
    return lambda: origin + _dt.timedelta(seconds=_MONOTONIC() - began)


def _issuer_text(entry: WalletEntry) -> str:
    return str(entry.issuer) if entry.issuer is not None else f"key {entry.issuer_kid}"


def _new_passphrase(variable: str | None, option: str) -> str:
    """A new wallet passphrase: from the environment variable, or typed twice; never empty."""
    passphrase = read_secret(variable, option, "New wallet passphrase: ", confirm=True)
    if not passphrase:
        raise UsageError("the passphrase must not be empty")
    return passphrase


# --- commands ------------------------------------------------------------------------------------


def _cmd_create(args: argparse.Namespace) -> int:
    path = _wallet_path(args)
    kdf = _kdf(args)
    passphrase = _new_passphrase(args.passphrase_env, "--passphrase-env")
    wallet = Wallet.create(
        FileStorage(path, lock_timeout=args.lock_timeout), passphrase, key_mode=args.key_mode, kdf=kdf
    )
    emit(
        args,
        {
            "wallet": str(path),
            "wallet_id": wallet.wallet_id,
            "generation": wallet.generation,
            "key_mode": wallet.key_mode.value,
            "kdf": {"name": "scrypt", "log2_n": kdf.log2_n, "r": kdf.r, "p": kdf.p},
        },
        [
            f"created wallet {path} ({wallet.key_mode.value} holder keys, scrypt N=2^{kdf.log2_n} r={kdf.r} p={kdf.p})",
            f"wallet id {wallet.wallet_id}: keep it and pass --expect-id to refuse any other wallet's file",
        ],
    )
    return EXIT_VALID


def _cmd_new_key(args: argparse.Namespace) -> int:
    try:
        algorithm = Algorithm.parse(args.algorithm)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    wanted = args.challenge is not None or args.issuer_kid is not None or args.proof_out is not None
    request = proof_request(args) if wanted else None
    refuse_existing(args.out, args.proof_out, force=args.force)  # before the wallet gets a key
    wallet = _open(args)
    public = wallet.new_holder_key(algorithm)
    pem = public.to_pem()
    if args.out is not None:
        write_file(args.out, pem, mode=PUBLISHED, replace=args.force)
    lines = [f"{algorithm.value} holder key {public.kid.hex()}" + (f": public key in {args.out}" if args.out else "")]
    proof = None
    if request is not None:
        proof = wallet.prove_possession(public, request[0], issuer_kid=request[1])
        if args.proof_out is not None:
            write_file(args.proof_out, proof.encode(), replace=args.force)
            lines.append(f"proof of possession for issuer {request[1].hex()} -> {args.proof_out}")
        else:
            lines.append(proof.encode().decode("ascii").rstrip())
    emit(
        args,
        {
            "kid": public.kid.hex(),
            "algorithm": algorithm.value,
            "public_key": pem.decode("ascii"),
            "out": None if args.out is None else str(args.out),
            "possession": None if proof is None else proof.to_json(),
            "proof_out": None if args.proof_out is None else str(args.proof_out),
        },
        lines if args.out is not None else [*lines, *pem.decode("ascii").splitlines()],
    )
    return EXIT_VALID


def _cmd_add(args: argparse.Namespace) -> int:
    trust = _trust(args.trust)
    wallet = _open(args, trust)
    data = read_bytes(args.credential)
    holder_key = None
    if args.holder_key is not None:
        key_passphrase = None
        if args.holder_key_passphrase_env:
            key_passphrase = read_secret(args.holder_key_passphrase_env, "--holder-key-passphrase-env")
        holder_key = SigningKey.from_pem(read_bytes(args.holder_key), key_passphrase)
    issuer = None if args.issuer_zh is None else IssuerName(args.issuer_zh, args.issuer_en)
    before = set(wallet.entry_ids)
    entry_id = wallet.add(
        data, holder_key=holder_key, issuer=issuer, label=args.label, issuer_algorithm=args.issuer_algorithm
    )
    entry = wallet.entry(entry_id, now=parse_time(args.now))
    new = entry_id not in before
    verb = "added" if new else "already held"
    emit(
        args,
        {**entry.to_json(), "new": new},
        [
            f"{verb} {entry_id}: {entry.credential_type} ({entry.type_label_zh or entry.type_label_en}) "
            f"from {_issuer_text(entry)}, holder key: {entry.holder_key.value}"
        ],
    )
    return EXIT_VALID


def _cmd_list(args: argparse.Namespace) -> int:
    wallet = _open(args, _trust(args.trust))
    now = parse_time(args.now)
    entries = wallet.entries(now=now)
    lines = [
        f"{e.entry_id}  {e.status.value:13}  {e.valid_from:%Y-%m-%d}..{e.valid_until:%Y-%m-%d}  "
        f"{e.credential_type:20}  {e.holder_name or '-'}  ({_issuer_text(e)})"
        for e in entries
    ]
    emit(args, {"now": iso_time(now), "entries": [e.to_json() for e in entries]}, lines or ["(the wallet is empty)"])
    return EXIT_VALID


def _cmd_show(args: argparse.Namespace) -> int:
    refuse_existing(args.png, args.svg, force=args.force)  # then each renewal replaces the code written before
    wallet = _open(args)
    entry_id = wallet.find(args.entry)
    clock = _clock(args.now)
    code = wallet.show(
        entry_id,
        clock=clock,
        lifetime=args.lifetime,
        refresh_before=args.refresh_before,
        profile=args.profile,
        disclose=None if args.disclose is None else csv_list(args.disclose),
        nonce=parse_hex(args.nonce, "--nonce"),
        audience=args.audience,
    )
    entry = wallet.entry(entry_id, now=clock())
    if entry.status is not EntryStatus.VALID:
        print(f"econsent: wallet: warning: this credential is {entry.status.value}", file=sys.stderr)
    shows = args.profile or args.disclose or "all claims"
    if args.once:
        frame = code.current(clock())
        _write_images(args, frame)
        if args.json:
            print(json_text(_frame_json(entry_id, frame)))
        else:
            print(qr.render_terminal(frame.text, ecc=qr.SCREEN_ECC, border=qr.SCREEN_BORDER, invert=args.invert))
            print(_status_line(entry, shows, frame, clock()))
        return EXIT_VALID
    return _redraw(args, entry, shows, code.current, clock)


def _redraw(
    args: argparse.Namespace,
    entry: WalletEntry,
    shows: str,
    current: Callable[[_dt.datetime], Frame],
    clock: Callable[[], _dt.datetime],
) -> int:
    """Redraw every second until --duration ends or Ctrl-C; JSON mode prints one line per new code."""
    out = sys.stdout
    deadline = None if args.duration is None else _MONOTONIC() + args.duration
    shown_text, drawing = "", ""
    if not args.json:
        out.write(_HIDE_CURSOR)
    try:
        while True:
            now = clock()
            frame = current(now)
            renewed = frame.text != shown_text
            if renewed:
                shown_text = frame.text
                _write_images(args, frame)
                if args.json:
                    out.write(json_text(_frame_json(entry.entry_id, frame)) + "\n")
                else:
                    drawing = qr.render_terminal(
                        frame.text, ecc=qr.SCREEN_ECC, border=qr.SCREEN_BORDER, invert=args.invert
                    )
            if not args.json:
                status = _status_line(entry, shows, frame, now)
                out.write((_CLEAR if renewed else _HOME) + drawing + "\n" + status + _CLEAR_LINE + "\n" + _CLEAR_BELOW)
            out.flush()
            if deadline is not None and _MONOTONIC() >= deadline:
                break
            _SLEEP(_until_next_second(clock()))
    except KeyboardInterrupt:
        pass
    finally:
        if not args.json:
            out.write(_SHOW_CURSOR)
            out.flush()
    return EXIT_VALID


def _until_next_second(now: _dt.datetime) -> float:
    """Sleep to the next whole second of the clock, so the countdown ticks evenly whatever drawing costs."""
    return max(1.0 - now.microsecond / 1_000_000, 0.05)


def _status_line(entry: WalletEntry, shows: str, frame: Frame, now: _dt.datetime) -> str:
    head = f"{entry.credential_type} {entry.entry_id} ({shows})"
    if frame.static:
        return f"{head}: bearer code, valid until {frame.expires_at:%Y-%m-%d}"
    return (
        f"{head}: expires in {frame.seconds_left(now)} s, renews in {frame.seconds_to_refresh(now)} s (Ctrl-C to stop)"
    )


def _frame_json(entry_id: str, frame: Frame) -> dict[str, Any]:
    return {
        "entry": entry_id,
        "text": frame.text,
        "characters": len(frame.text),
        "qr_version": qr.qr_version(frame.text, ecc=qr.SCREEN_ECC),
        "presented_at": iso_time(frame.presented_at),
        "expires_at": iso_time(frame.expires_at),
        "refresh_at": iso_time(frame.refresh_at),
        "static": frame.static,
    }


def _write_images(args: argparse.Namespace, frame: Frame) -> None:
    if args.png is not None:
        write_file(args.png, qr.render_png(frame.text, ecc=qr.SCREEN_ECC, border=qr.SCREEN_BORDER), replace=True)
    if args.svg is not None:
        svg = qr.render_svg(frame.text, ecc=qr.SCREEN_ECC, border=qr.SCREEN_BORDER)
        write_file(args.svg, svg.encode("utf-8"), replace=True)


def _cmd_remove(args: argparse.Namespace) -> int:
    wallet = _open(args)
    entry_id = wallet.find(args.entry)
    entry = wallet.entry(entry_id, now=parse_time(args.now))
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("removing deletes the credential and its holder key: confirm with --yes")
        try:
            answer = input(f"Remove {entry.credential_type} {entry_id} and its holder key for good? [y/N] ")
        except EOFError:  # Ctrl-D: no answer is no
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("kept", file=sys.stderr)
            return EXIT_USAGE
    wallet.remove(entry_id)
    emit(args, {"removed": entry_id, "credential_type": entry.credential_type}, [f"removed {entry_id}"])
    return EXIT_VALID


def _cmd_export(args: argparse.Namespace) -> int:
    kdf = _kdf(args)
    wallet = _open(args)
    refuse_existing(args.out, force=args.force)
    backup_passphrase = read_secret(
        args.backup_passphrase_env, "--backup-passphrase-env", "Backup passphrase: ", confirm=True
    )
    if not backup_passphrase:
        raise UsageError("the backup passphrase must not be empty")
    data = wallet.export_backup(backup_passphrase, kdf=kdf)
    write_file(args.out, data, mode=PRIVATE, replace=args.force)
    emit(
        args,
        {"out": str(args.out), "entries": len(wallet), "bytes": len(data)},
        [f"exported {len(wallet)} credentials to {args.out} ({len(data)} bytes, encrypted)"],
    )
    return EXIT_VALID


def _cmd_import(args: argparse.Namespace) -> int:
    wallet = _open(args)
    data = read_bytes(args.backup, limit=_MAX_BACKUP_BYTES)  # every credential: above the usual cap
    backup_passphrase = read_secret(args.backup_passphrase_env, "--backup-passphrase-env", "Backup passphrase: ")
    report = wallet.import_backup(data, backup_passphrase)
    emit(
        args,
        {"added": list(report.added), "skipped": report.skipped},
        [f"imported {len(report.added)} credentials, {report.skipped} already in the wallet"],
    )
    return EXIT_VALID


def _cmd_change_passphrase(args: argparse.Namespace) -> int:
    kdf = _kdf(args)
    wallet = _open(args)
    new = _new_passphrase(args.new_passphrase_env, "--new-passphrase-env")
    wallet.change_passphrase(new, kdf=kdf)
    emit(args, {"wallet": str(_wallet_path(args)), "changed": True}, ["passphrase changed"])
    return EXIT_VALID
