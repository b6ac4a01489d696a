"""The ``econsent`` command: a thin argparse layer over the public API.

Exit codes: 0 valid (or success), 1 rejected (the reason code is printed), 2 usage or input error.
Only this layer reads the system clock, and only when ``--now`` is not given.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import qr
from .errors import EXIT_REJECTED, EXIT_USAGE, EXIT_VALID, EconsentError, VerificationError
from .issue import Issuer
from .keys import Algorithm, PublicKey, SigningKey
from .model import IssuerName, Verdict, claims_to_json
from .schema import BUILTIN_TYPES, ClaimKind, CredentialType
from .trust import TrustedKey, TrustStore
from .verify import DEFAULT_CLOCK_LEEWAY, DEFAULT_MAX_LIFETIME, MemoryReplayCache, Policy, Verifier
from .wallet import DEFAULT_LIFETIME, present, read_credential_unverified

__all__ = ["main"]

_MAX_INPUT_FILE_BYTES = 1024 * 1024


class UsageError(EconsentError):
    """Bad command-line input: reported with exit code 2."""


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
        print(f"REJECTED {exc.code.value}: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except EconsentError as exc:
        print(f"econsent: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"econsent: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
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
    _passphrase_options(keygen, "encrypt the private key with the passphrase in this environment variable")
    keygen.add_argument("--json", action="store_true", help="print the result as JSON")
    keygen.set_defaults(handler=_cmd_keygen)

    trust = sub.add_parser("trust", help="manage the trust store of issuer keys")
    trust_sub = trust.add_subparsers(metavar="ACTION")
    add = trust_sub.add_parser("add", help="trust an issuer public key")
    add.add_argument("--store", required=True, type=Path, help="trust store JSON file (created if missing)")
    add.add_argument("--key", required=True, type=Path, help="issuer public key (PEM)")
    add.add_argument("--issuer-zh", required=True, help="issuer name in Chinese")
    add.add_argument("--issuer-en", default="", help="issuer name in English")
    add.add_argument("--types", required=True, help="comma-separated credential types the key may sign")
    add.add_argument("--valid-from", required=True, help="start of the key's signing period (ISO 8601)")
    add.add_argument("--valid-until", required=True, help="end of the key's signing period (ISO 8601)")
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=_cmd_trust_add)
    listing = trust_sub.add_parser("list", help="list trusted keys")
    listing.add_argument("--store", required=True, type=Path)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_cmd_trust_list)

    types = sub.add_parser("types", help="list the credential types, their claims and profiles")
    types.add_argument("--json", action="store_true")
    types.set_defaults(handler=_cmd_types)

    issue = sub.add_parser("issue", help="issue a signed credential")
    issue.add_argument("--key", required=True, type=Path, help="issuer private key (PEM)")
    _passphrase_options(issue, "passphrase of the issuer key, from this environment variable")
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
    _passphrase_options(pres, "passphrase of the holder key, from this environment variable")
    choose = pres.add_mutually_exclusive_group()
    choose.add_argument("--disclose", help="comma-separated claims to show (default: all)")
    choose.add_argument("--profile", help="a named set of claims of the credential type, e.g. driving-check")
    pres.add_argument("--lifetime", type=int, default=DEFAULT_LIFETIME, help="seconds the code stays valid")
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
    ver.add_argument("--trust", required=True, type=Path, help="trust store JSON file")
    ver.add_argument("--now", help="the verifier's time, ISO 8601 or Unix seconds (default: the clock)")
    ver.add_argument("--nonce", help="the challenge this verifier gave the holder, hex")
    ver.add_argument("--audience", help="this verifier's identity; codes made for others are refused")
    ver.add_argument("--require", default="", help="comma-separated claims the code must show")
    ver.add_argument("--accept-bearer", action="store_true", help="accept credentials without holder binding")
    ver.add_argument("--max-lifetime", type=int, default=DEFAULT_MAX_LIFETIME, help="longest lifetime accepted (s)")
    ver.add_argument("--leeway", type=int, default=DEFAULT_CLOCK_LEEWAY, help="clock leeway in seconds (max 300)")
    ver.add_argument("--json", action="store_true", help="one JSON object per code")
    ver.set_defaults(handler=_cmd_verify)
    return parser


def _passphrase_options(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--passphrase-env", metavar="VAR", help=help_text)


def _passphrase(args: argparse.Namespace) -> str | None:
    if not args.passphrase_env:
        return None
    value = os.environ.get(args.passphrase_env)
    if value is None:
        raise UsageError(f"environment variable {args.passphrase_env} is not set")
    return value


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read(_MAX_INPUT_FILE_BYTES + 1)
    if len(data) > _MAX_INPUT_FILE_BYTES:
        raise UsageError(f"{path} is larger than {_MAX_INPUT_FILE_BYTES} bytes")
    return data


def _time(text: str | None) -> _dt.datetime:
    if text is None:
        return _dt.datetime.now(_dt.UTC)
    if text.lstrip("-").isdigit():
        return _dt.datetime.fromtimestamp(int(text), tz=_dt.UTC)
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"not an ISO 8601 time or Unix seconds: {text!r}") from exc
    if moment.tzinfo is None:
        raise UsageError(f"give a time zone with the time, e.g. {text}Z or {text}+08:00")
    return moment


def _hex(text: str | None, what: str) -> bytes | None:
    if text is None:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise UsageError(f"{what} must be hexadecimal") from exc


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _emit(args: argparse.Namespace, payload: dict[str, Any], lines: Sequence[str]) -> None:
    if args.json:
        print(json.dumps(payload, ensure_ascii=False))
    else:
        for line in lines:
            print(line)


def _cmd_keygen(args: argparse.Namespace) -> int:
    try:
        algorithm = Algorithm.parse(args.algorithm)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    key = SigningKey.generate(algorithm)
    public_out = args.public_out or args.out.with_name(args.out.name.removesuffix(".pem") + ".pub.pem")
    _write_new(args.out, key.to_pem(_passphrase(args)), private=True)
    _write_new(public_out, key.public_key.to_pem())
    _emit(
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


def _write_new(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write a file that must not exist yet (never overwrite a key), private ones readable by the owner only."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(path, flags, 0o600 if private else 0o644)
    except FileExistsError as exc:
        raise UsageError(f"{path} exists: refusing to overwrite it") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _cmd_trust_add(args: argparse.Namespace) -> int:
    store = TrustStore.load(args.store) if args.store.exists() else TrustStore()
    entry = TrustedKey(
        public_key=PublicKey.from_pem(_read_bytes(args.key)),
        issuer=IssuerName(args.issuer_zh, args.issuer_en),
        credential_types=frozenset(_csv(args.types)),
        valid_from=_time(args.valid_from),
        valid_until=_time(args.valid_until),
    )
    unknown = sorted(t for t in entry.credential_types if BUILTIN_TYPES.by_name(t) is None)
    if unknown:
        raise UsageError(f"unknown credential types {unknown} (see `econsent types`)")
    store.add(entry)
    store.save(args.store)
    _emit(
        args,
        entry.to_json(),
        [f"trusted {entry.kid.hex()} ({entry.issuer}) for {', '.join(sorted(entry.credential_types))}"],
    )
    return EXIT_VALID


def _cmd_trust_list(args: argparse.Namespace) -> int:
    store = TrustStore.load(args.store)
    _emit(
        args,
        store.to_json(),
        [
            f"{key.kid.hex()}  {key.public_key.algorithm.value:7}  {key.issuer}  "
            f"{','.join(sorted(key.credential_types))}  {key.valid_from:%Y-%m-%d} .. {key.valid_until:%Y-%m-%d}"
            for key in store
        ]
        or ["(no trusted keys)"],
    )
    return EXIT_VALID


def _cmd_types(args: argparse.Namespace) -> int:
    described = [_describe_type(t) for t in BUILTIN_TYPES]
    lines = []
    for ctype in BUILTIN_TYPES:
        lines.append(f"{ctype.name} (id {ctype.type_id}, {ctype.label_zh} / {ctype.label_en})")
        lines += [f"  {i:2} {spec.name:28} {spec.kind.value:11} {spec.label_zh}" for i, spec in enumerate(ctype.claims)]
        lines += [f"  profile {name}: {', '.join(members)}" for name, members in ctype.profiles.items()]
    _emit(args, {"types": described}, lines)
    return EXIT_VALID


def _describe_type(ctype: CredentialType) -> dict[str, Any]:
    return {
        "name": ctype.name,
        "type_id": ctype.type_id,
        "claims": [{"name": c.name, "kind": c.kind.value} for c in ctype.claims],
        "profiles": {name: list(members) for name, members in ctype.profiles.items()},
    }


def _cmd_issue(args: argparse.Namespace) -> int:
    try:
        document = json.loads(_read_bytes(args.claims).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{args.claims} is not a JSON file: {exc}") from exc
    if not isinstance(document, dict):
        raise UsageError(f"{args.claims} must hold a JSON object")
    if isinstance(document.get("claims"), dict):
        type_name = args.credential_type or document.get("credential_type")
        raw_claims = document["claims"]
        valid_from = args.valid_from or document.get("valid_from")
        valid_until = args.valid_until or document.get("valid_until")
    else:
        type_name, raw_claims = args.credential_type, document
        valid_from, valid_until = args.valid_from, args.valid_until
    if not type_name or not valid_from or not valid_until:
        raise UsageError("give --type, --valid-from and --valid-until (or put them in the claims file)")
    ctype = BUILTIN_TYPES.by_name(type_name)
    if ctype is None:
        raise UsageError(f"unknown credential type {type_name!r} (see `econsent types`)")
    issuer = Issuer(SigningKey.from_pem(_read_bytes(args.key), _passphrase(args)))
    holder_key = None if args.bearer else PublicKey.from_pem(_read_bytes(args.holder_key))
    credential = issuer.issue(
        ctype.name,
        _claims_from_json(ctype, raw_claims),
        holder_key=holder_key,
        valid_from=_time(valid_from),
        valid_until=_time(valid_until),
        now=_time(args.now),
        serial=args.serial,
        derive=_csv(args.derive),
    )
    _write(args.out, credential.encoded)
    _emit(
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


def _claims_from_json(ctype: CredentialType, raw: dict[str, Any]) -> dict[str, Any]:
    """JSON claims to Python values by the type's kinds: dates from ISO strings, bytes from base64."""
    kinds = {spec.name: spec.kind for spec in ctype.claims}
    result: dict[str, Any] = {}
    for name, value in raw.items():
        kind = kinds.get(name)
        if kind is None:
            raise UsageError(f"{ctype.name} has no claim {name!r} (see `econsent types`)")
        item_kind = kind.item_kind
        items = value if kind.is_list and isinstance(value, list) else [value]
        converted = [_json_scalar(name, item_kind, item) for item in items]
        result[name] = tuple(converted) if kind.is_list else converted[0]
    return result


def _json_scalar(name: str, kind: ClaimKind, value: Any) -> Any:
    try:
        if kind is ClaimKind.DATE and isinstance(value, str):
            return _dt.date.fromisoformat(value)
        if kind is ClaimKind.BYTES and isinstance(value, str):
            return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except ValueError as exc:
        raise UsageError(f"claim {name!r}: {exc}") from exc
    return value


def _cmd_present(args: argparse.Namespace) -> int:
    credential = read_credential_unverified(_read_bytes(args.credential))
    holder = None
    if args.holder_key is not None:
        holder = SigningKey.from_pem(_read_bytes(args.holder_key), _passphrase(args))
    text = present(
        credential,
        holder,
        now=_time(args.now),
        lifetime=args.lifetime,
        disclose=_csv(args.disclose) if args.disclose is not None else None,
        profile=args.profile,
        nonce=_hex(args.nonce, "--nonce"),
        audience=args.audience,
    )
    if args.png:
        _write(args.png, qr.render_png(text))
    if args.svg:
        _write(args.svg, qr.render_svg(text).encode("utf-8"))
    if args.terminal:
        print(qr.render_terminal(text))
    version = qr.qr_version(text)
    _emit(
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
    try:
        policy = Policy(
            clock_leeway=args.leeway,
            max_lifetime=args.max_lifetime,
            accept_bearer=args.accept_bearer,
            required_claims=tuple(_csv(args.require)),
            audience=args.audience,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    verifier = Verifier(TrustStore.load(args.trust), policy, replay_cache=MemoryReplayCache())
    nonce = _hex(args.nonce, "--nonce")
    if args.code == "-":
        results = [
            _verify_one(verifier, line.rstrip("\r\n"), args, nonce, sys.stdout) for line in sys.stdin if line.strip()
        ]
        return EXIT_VALID if results and all(results) else EXIT_REJECTED
    code: str | Path = Path(args.code) if os.path.isfile(args.code) else args.code
    return EXIT_VALID if _verify_one(verifier, code, args, nonce, sys.stdout) else EXIT_REJECTED


def _verify_one(
    verifier: Verifier, code: str | Path, args: argparse.Namespace, nonce: bytes | None, out: TextIO
) -> bool:
    now = _time(args.now)
    try:
        verdict = verifier.verify(code, now=now, nonce=nonce)
    except VerificationError as exc:
        if args.json:
            document = {"valid": False, "code": exc.code.value, "reason": exc.sentence, "detail": exc.detail}
            print(json.dumps(document, ensure_ascii=False), file=out)
        else:
            print(f"REJECTED  {exc.code.value}", file=out)
            print(f"  {exc.sentence}" + (f" ({exc.detail})" if exc.detail else ""), file=out)
        return False
    if args.json:
        print(json.dumps(verdict.to_json(), ensure_ascii=False), file=out)
    else:
        print(_card(verdict), file=out)
    return True


def _card(verdict: Verdict) -> str:
    ctype = BUILTIN_TYPES.by_name(verdict.credential_type)
    labels = {c.name: c.label_zh or c.name for c in ctype.claims} if ctype else {}
    lines = [
        f"VALID  {verdict.credential_type}  serial {verdict.serial}",
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
    return "\n".join(lines)
