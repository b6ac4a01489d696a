"""The v1 codec: QR text <-> payload bytes <-> shape-checked structures. No cryptography, no policy.

Text form: ``EC1:`` followed by the decimal digits of the big-endian integer ``0x01 || payload``. The
digits go into a numeric QR segment (3.33 bits a digit, 0.3% over raw bytes, against 3% for Base45),
survive every decoder and keyboard-wedge scanner, and decode with one C-level ``int()`` call.

Payload: one msgpack array, parsed with hard limits and then required to be in canonical form (the
exact bytes ``msgpack.packb`` produces for the parsed value, with map keys ascending). So every
accepted payload has exactly one encoding, and the raw bytes of any part can be recomputed by packing it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import msgpack

from ._disclosure import NODE_BYTES, ROOT
from .errors import ErrorCode, VerificationError

__all__ = [
    "FORMAT_VERSION",
    "KID_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_TEXT_CHARS",
    "PREFIX",
    "SIGNATURE_BYTES",
    "WireHeader",
    "WirePayload",
    "WireProof",
    "decode_payload",
    "encode_credential",
    "encode_payload",
    "encode_presentation",
    "holder_signed_bytes",
    "pack",
    "pack_each",
    "payload_from_text",
    "text_from_payload",
    "with_holder_signature",
]

FORMAT_VERSION = 1
PREFIX = "EC1:"
MAX_PAYLOAD_BYTES = 1536
MAX_TEXT_CHARS = len(PREFIX) + len(str(256 ** (MAX_PAYLOAD_BYTES + 1)))
SIGNATURE_BYTES = 64
KID_BYTES = 8
MAX_NONCE_BYTES = 32
MIN_NONCE_BYTES = 8
MAX_AUDIENCE_CHARS = 64
MAX_TIME = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second every platform's date type holds
MAX_LIFETIME = 86_400
HOLDER_ALG_BYTES = {1: 33, 2: 32, 3: 33}  # ES256, Ed25519, SM2 (keys.Algorithm.wire_id)
MAX_STATUS_LIST_ID = 0xFFFF
MAX_STATUS_INDEX = 2**32 - 1
_MAX_U64 = 2**64 - 1
_SENTINEL = 0x01
_PREFIX_RE = re.compile(r"EC([0-9]+):")
_DIGITS = b"0123456789"
_SIGNATURE_FIELD_BYTES = 2 + SIGNATURE_BYTES
# Below 640, the lowest limit sys.set_int_max_str_digits accepts (the CVE-2020-10735 guard): a program that
# lowers Python's limit still reads and makes full-size codes, converting in steps of this many digits.
_DIGITS_PER_STEP = 600


# The three parsed parts are named tuples: immutable like frozen dataclasses, and made for every code verified at
# a fifth of their cost.
class WireHeader(NamedTuple):
    """The issuer-signed header, as on the wire (times in Unix seconds, claims as a bitmap)."""

    type_id: int
    kid: bytes
    serial: int
    issued_at: int
    valid_from: int
    valid_until: int
    present: int
    holder_alg: int | None
    holder_key: bytes | None
    status: tuple[int, int] | None = None

    def to_wire(self) -> list[Any]:
        holder = None if self.holder_key is None else bytes((self.holder_alg or 0,)) + self.holder_key
        return [
            self.type_id,
            self.kid,
            self.serial,
            self.issued_at,
            self.valid_from,
            self.valid_until,
            self.present,
            holder,
            None if self.status is None else list(self.status),
        ]


class WireProof(NamedTuple):
    """The holder's proof of possession: device time, lifetime, optional challenge, signature."""

    presented_at: int
    lifetime: int
    nonce: bytes | None
    audience: str | None
    signature: bytes
    signed_bytes: bytes


class WirePayload(NamedTuple):
    """A shape-checked payload. ``header_bytes`` and ``value_bytes`` are the exact bytes received.

    ``values`` are the disclosed claim values in ascending claim order; which claims they are follows
    from the header's claim bitmap and the seeds (see ``_disclosure``).
    """

    header: WireHeader
    header_bytes: bytes
    values: list[Any]
    value_bytes: list[bytes]
    seeds: dict[int, bytes]
    nodes: dict[int, bytes]
    issuer_signature: bytes
    proof: WireProof | None
    size: int


def _malformed(detail: str) -> VerificationError:
    return VerificationError(ErrorCode.MALFORMED, detail)


class _Packers(threading.local):
    """One reusable msgpack packer per thread (making one costs more than packing a claim; none is shared)."""

    def __init__(self) -> None:
        self.packer = msgpack.Packer(use_bin_type=True)


_PACKERS = _Packers()


def pack(value: Any) -> bytes:
    """Canonical msgpack bytes of a value (what every conforming encoder must produce)."""
    return _PACKERS.packer.pack(value)  # type: ignore[no-any-return]


def pack_each(values: Iterable[Any]) -> list[bytes]:
    """Canonical msgpack bytes of each value, with one look-up of this thread's packer for them all."""
    return list(map(_PACKERS.packer.pack, values))


def text_from_payload(payload: bytes) -> str:
    """The QR text for payload bytes."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    number = int.from_bytes(bytes((_SENTINEL,)) + payload, "big")
    try:
        return PREFIX + str(number)
    except ValueError:  # the program lowered sys.int_max_str_digits below the length of a code
        step = 10**_DIGITS_PER_STEP
        groups = []
        while number >= step:
            number, group = divmod(number, step)
            groups.append(f"{group:0{_DIGITS_PER_STEP}d}")
        return PREFIX + str(number) + "".join(reversed(groups))


def payload_from_text(text: str) -> bytes:
    """Payload bytes from QR text, strictly: exact prefix, digits only, no leading zero, sentinel byte."""
    if not isinstance(text, str):
        raise _malformed("the code must be text")
    if len(text) > MAX_TEXT_CHARS:
        raise VerificationError(ErrorCode.TOO_LARGE, f"{len(text)} characters, at most {MAX_TEXT_CHARS}")
    if not text.startswith(PREFIX):
        match = _PREFIX_RE.match(text)
        if match is None:
            raise _malformed("the code does not start with the econsent prefix EC1:")
        raise VerificationError(ErrorCode.UNSUPPORTED_VERSION, f"prefix {match.group(0)!r}")
    digits = text[len(PREFIX) :]
    # Deleting the ASCII digits in C and finding nothing left costs a sixth of str.isdigit (Unicode tables).
    if not digits.isascii() or digits.encode("ascii").translate(None, _DIGITS) or digits[:1] in ("", "0"):
        raise _malformed("the code body must be decimal digits without a leading zero")
    try:
        number = int(digits)
    except ValueError:  # the program lowered sys.int_max_str_digits below the length of a code
        number = 0
        for start in range(0, len(digits), _DIGITS_PER_STEP):
            group = digits[start : start + _DIGITS_PER_STEP]
            number = number * 10 ** len(group) + int(group)
    length = (number.bit_length() + 7) // 8
    raw = number.to_bytes(length, "big")
    if raw[0] != _SENTINEL:
        raise _malformed("the code body does not start with the 0x01 sentinel byte")
    return raw[1:]


def encode_payload(
    header: WireHeader,
    values: list[Any],
    seeds: dict[int, bytes],
    nodes: dict[int, bytes],
    issuer_signature: bytes,
) -> list[Any]:
    """The payload array of a credential (no holder proof), with maps in canonical key order."""
    return [
        header.to_wire(),
        values,
        dict(sorted(seeds.items())),
        dict(sorted(nodes.items())),
        issuer_signature,
    ]


def encode_credential(header_bytes: bytes, value_bytes: Sequence[bytes], seed: bytes, issuer_signature: bytes) -> bytes:
    """A credential as issued: every present claim's value and the root seed, which opens the whole tree.

    Takes the header and the values already packed (the issuer packed them to sign them): a msgpack array is
    its length header followed by its elements' own bytes, so this is ``pack`` of the payload array.
    """
    packer = _PACKERS.packer
    return b"".join(
        (
            packer.pack_array_header(5),
            header_bytes,
            packer.pack_array_header(len(value_bytes)),
            *value_bytes,
            packer.pack({ROOT: seed}),
            packer.pack({}),
            packer.pack(issuer_signature),
        )
    )


def encode_presentation(
    header: WireHeader,
    values: list[Any],
    seeds: dict[int, bytes],
    nodes: dict[int, bytes],
    issuer_signature: bytes,
    *,
    holder: tuple[int, int, bytes | None, str | None] | None = None,
) -> bytes:
    """A presentation's payload bytes: the disclosed values, the covers' seeds and hashes, the issuer signature.

    A bearer credential's has no ``holder`` part. A holder-bound one takes ``holder`` = (presented-at,
    lifetime, nonce, audience) and ends with a zero placeholder for the holder signature: sign
    :func:`holder_signed_bytes` of the result and put the signature in with :func:`with_holder_signature`.
    """
    payload = encode_payload(header, values, seeds, nodes, issuer_signature)
    if holder is not None:
        presented_at, lifetime, nonce, audience = holder
        binding = None if nonce is None and audience is None else [nonce, audience]
        payload += [presented_at, lifetime, binding, bytes(SIGNATURE_BYTES)]
    return pack(payload)


def holder_signed_bytes(payload: bytes) -> bytes:
    """What the holder signs: every byte of a holder-bound payload before its signature field."""
    return payload[:-_SIGNATURE_FIELD_BYTES]


def with_holder_signature(payload: bytes, signature: bytes) -> bytes:
    """The payload with ``signature`` (checked by the envelope: exactly ``SIGNATURE_BYTES``) in its place."""
    return payload[:-SIGNATURE_BYTES] + signature


def _reject_ext(code: int, data: bytes) -> Any:
    raise ValueError("msgpack extension types are not allowed")


def unpack_canonical(data: bytes, *, max_bytes: int, max_items: int, max_str_len: int | None = None) -> Any:
    """Parse msgpack with hard limits and insist on canonical form; raises ValueError saying what is wrong.

    Limits apply before anything is allocated: strings, byte strings, arrays and maps are capped, extension
    types and trailing bytes are refused. Canonical means the exact bytes ``pack`` produces for the parsed
    value (shortest encodings, a non-negative integer in the unsigned forms, no duplicate map keys), so
    every accepted input has one encoding. Nesting cannot exhaust a stack: msgpack's C unpacker keeps its
    own fixed stack (deeper input is an error, not a recursion) and the callers' shape checks refuse any
    container nested deeper than their format allows (SPEC 3: three levels).
    """
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=False,
            ext_hook=_reject_ext,
            max_str_len=max_bytes if max_str_len is None else max_str_len,
            max_bin_len=max_bytes,
            max_array_len=max_items,
            max_map_len=max_items,
            max_ext_len=0,
        )
    except Exception as exc:  # a trust boundary: msgpack raises several unrelated types
        raise ValueError(f"not valid msgpack ({type(exc).__name__}: {exc})") from exc
    try:
        canonical = pack(obj)
    except Exception as exc:
        raise ValueError("cannot be re-encoded") from exc
    if canonical != data:
        raise ValueError("not in canonical msgpack form (shortest encodings, no duplicate map keys)")
    return obj


def decode_payload(data: bytes) -> WirePayload:
    """Parse payload bytes into a WirePayload, or raise VerificationError (MALFORMED / TOO_LARGE)."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise VerificationError(ErrorCode.TOO_LARGE, f"{len(data)} bytes, at most {MAX_PAYLOAD_BYTES}")
    try:
        obj = unpack_canonical(data, max_bytes=MAX_PAYLOAD_BYTES, max_items=64)
    except ValueError as exc:
        raise _malformed(f"payload: {exc}") from exc
    if not isinstance(obj, list) or len(obj) not in (5, 9):
        raise _malformed("payload must be an array of 5 (credential) or 9 (presentation) elements")
    header = _header(obj[0])
    values = obj[1]
    if not isinstance(values, list):
        raise _malformed("claim values must be an array")
    _check_claim_shapes(values)
    seeds = _node_map(obj[2], "seeds")
    nodes = _node_map(obj[3], "nodes")
    issuer_signature = _bin(obj[4], "issuer signature", SIGNATURE_BYTES)
    proof = _proof(obj[5:], data) if len(obj) == 9 else None
    if proof is not None and header.holder_key is None:
        raise _malformed("a bearer credential (no holder key) cannot carry a holder proof")
    return WirePayload(
        header=header,
        header_bytes=pack(obj[0]),
        values=values,
        value_bytes=pack_each(values),
        seeds=seeds,
        nodes=nodes,
        issuer_signature=issuer_signature,
        proof=proof,
        size=len(data),
    )


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _malformed(f"{name} must be an integer from {low} to {high}")
    return value


def _bin(value: Any, name: str, length: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != length:
        raise _malformed(f"{name} must be {length} bytes")
    return value


def _header(value: Any) -> WireHeader:
    if type(value) is list and len(value) == 9:
        # The usual header in one expression (the parser yields exact types: bool is never an int here); any
        # other goes through the field-by-field checks below, which name the first field that is wrong.
        type_id, kid, serial, issued_at, valid_from, valid_until, present, holder, status = value
        if (
            type(type_id) is int
            and 1 <= type_id <= 0xFFFF
            and type(kid) is bytes
            and len(kid) == KID_BYTES
            and type(serial) is int
            and 0 <= serial <= _MAX_U64
            and type(issued_at) is int
            and 0 <= issued_at <= MAX_TIME
            and type(valid_from) is int
            and type(valid_until) is int
            and 0 <= valid_from < valid_until <= MAX_TIME
            and type(present) is int
            and 1 <= present <= _MAX_U64
            and (status is None or _is_status_pair(status))
            and type(holder) is bytes
            and len(holder) > 1
            and HOLDER_ALG_BYTES.get(holder[0]) == len(holder) - 1
        ):
            return WireHeader(
                type_id=type_id,
                kid=kid,
                serial=serial,
                issued_at=issued_at,
                valid_from=valid_from,
                valid_until=valid_until,
                present=present,
                holder_alg=holder[0],
                holder_key=holder[1:],
                status=None if status is None else (status[0], status[1]),
            )
    return _checked_header(value)


def _is_status_pair(value: Any) -> bool:
    """A status reference in range (the usual header's check; ``_status`` names what is wrong)."""
    return (
        type(value) is list
        and len(value) == 2
        and type(value[0]) is int
        and 0 <= value[0] <= MAX_STATUS_LIST_ID
        and type(value[1]) is int
        and 0 <= value[1] <= MAX_STATUS_INDEX
    )


def _checked_header(value: Any) -> WireHeader:
    if not isinstance(value, list) or len(value) != 9:
        raise _malformed("header must be an array of 9 elements")
    holder = value[7]
    holder_alg: int | None = None
    holder_key: bytes | None = None
    if holder is not None:
        if not isinstance(holder, bytes) or len(holder) < 2:
            raise _malformed("holder key must be bytes or nil")
        holder_alg, holder_key = holder[0], holder[1:]
        if HOLDER_ALG_BYTES.get(holder_alg) != len(holder_key):
            raise _malformed(f"holder key algorithm {holder_alg} with a {len(holder_key)}-byte key")
    header = WireHeader(
        type_id=_int(value[0], "type id", 1, 0xFFFF),
        kid=_bin(value[1], "key id", KID_BYTES),
        serial=_int(value[2], "serial", 0, _MAX_U64),
        issued_at=_int(value[3], "issued-at", 0, MAX_TIME),
        valid_from=_int(value[4], "valid-from", 0, MAX_TIME),
        valid_until=_int(value[5], "valid-until", 0, MAX_TIME),
        present=_int(value[6], "claim bitmap", 1, _MAX_U64),
        holder_alg=holder_alg,
        holder_key=holder_key,
        status=_status(value[8]),
    )
    if header.valid_from >= header.valid_until:
        raise _malformed("valid-from is not before valid-until")
    return header


def _status(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise _malformed("status reference must be nil or [list id, index]")
    return _int(value[0], "status list id", 0, MAX_STATUS_LIST_ID), _int(value[1], "status index", 0, MAX_STATUS_INDEX)


def _int_map(value: Any, name: str, low: int, high: int) -> dict[int, Any]:
    if not isinstance(value, dict):
        raise _malformed(f"{name} must be a map")
    previous = -1
    for key in value:
        _int(key, f"{name} key", low, high)
        if key <= previous:
            raise _malformed(f"{name} keys must be in ascending order")
        previous = key
    return value


def _node_map(value: Any, name: str) -> dict[int, bytes]:
    if type(value) is dict:  # the usual map in one pass; any other is checked below, naming what is wrong
        previous = 0
        for node, entry in value.items():
            if (
                type(node) is not int
                or not previous < node <= 127
                or type(entry) is not bytes
                or len(entry) != NODE_BYTES
            ):
                break
            previous = node
        else:
            return value
    return _checked_node_map(value, name)


def _checked_node_map(value: Any, name: str) -> dict[int, bytes]:
    nodes = _int_map(value, name, 1, 127)
    for node in nodes.values():
        _bin(node, f"{name} entry", NODE_BYTES)
    return nodes


_CLAIM_SCALARS = frozenset({str, bytes, bool, int})


def _check_claim_shapes(values: list[Any]) -> None:
    """Each claim value is a scalar or a flat list of scalars (the parser yields exact types, never subclasses)."""
    scalars = _CLAIM_SCALARS
    for value in values:
        kind = type(value)
        if kind in scalars or (kind is list and all(type(item) in scalars for item in value)):
            continue
        raise _malformed("a claim value must be text, bytes, an integer, a boolean or a flat list of these")


def _proof(fields: list[Any], data: bytes) -> WireProof:
    presented_at = _int(fields[0], "presented-at", 0, MAX_TIME)
    lifetime = _int(fields[1], "lifetime", 1, MAX_LIFETIME)
    nonce: bytes | None = None
    audience: str | None = None
    binding = fields[2]
    if binding is not None:
        if not isinstance(binding, list) or len(binding) != 2 or binding == [None, None]:
            raise _malformed("binding must be nil or [nonce, audience] with at least one set")
        nonce, audience = binding
        if nonce is not None and (not isinstance(nonce, bytes) or not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES):
            raise _malformed(f"nonce must be {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes")
        if audience is not None and (not isinstance(audience, str) or not 1 <= len(audience) <= MAX_AUDIENCE_CHARS):
            raise _malformed(f"audience must be 1 to {MAX_AUDIENCE_CHARS} characters")
    signature = _bin(fields[3], "holder signature", SIGNATURE_BYTES)
    return WireProof(
        presented_at=presented_at,
        lifetime=lifetime,
        nonce=nonce,
        audience=audience,
        signature=signature,
        signed_bytes=data[:-_SIGNATURE_FIELD_BYTES],
    )
