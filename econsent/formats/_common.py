"""What the foreign formats share: capped decompression, strict JSON, times, and the static-code policy.

Nothing here knows a format. Every function raises :class:`~econsent.errors.VerificationError` with a
stable code for bad input, never a foreign exception.
"""

from __future__ import annotations

import datetime as _dt
import math
import zlib
from collections.abc import Mapping
from typing import Any

from .._json import STRICT_DECODER
from .._wire import MAX_TIME  # 9999-12-31T23:59:59Z: a larger "time" is a unit error (milliseconds), not a date
from ..errors import ErrorCode, VerificationError
from ..schema import ClaimValue
from ..verify import Policy

__all__ = [
    "MAX_TIME",
    "check_static_code",
    "inflate",
    "instant",
    "load_json",
    "malformed",
    "unix_time",
]


def malformed(detail: str) -> VerificationError:
    return VerificationError(ErrorCode.MALFORMED, detail)


def inflate(data: bytes, *, raw: bool, max_bytes: int, what: str) -> bytes:
    """Decompress a zlib stream (``raw=False``, RFC 1950) or raw DEFLATE (``raw=True``, RFC 1951).

    At most ``max_bytes`` are ever produced (a decompression bomb stops there); the stream must end
    exactly at the end of ``data``.
    """
    decompressor = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise malformed(f"{what} is not {'raw DEFLATE' if raw else 'zlib'} data: {exc}") from exc
    if len(out) > max_bytes:
        raise VerificationError(ErrorCode.TOO_LARGE, f"{what} inflates to more than {max_bytes} bytes")
    if not decompressor.eof:
        raise malformed(f"{what} ends before its compressed stream does")
    if decompressor.unused_data:
        raise malformed(f"{len(decompressor.unused_data)} bytes follow the compressed {what}")
    return out


def _nesting_depth(text: str) -> int:
    """The deepest bracket nesting of a JSON text, strings skipped (json has no depth limit of its own)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def load_json(data: bytes, *, max_bytes: int, max_depth: int, what: str) -> Any:
    """Strict JSON: UTF-8 without a BOM, no duplicate keys, no NaN/Infinity, nothing after the value."""
    if len(data) > max_bytes:
        raise VerificationError(ErrorCode.TOO_LARGE, f"{what} is {len(data)} bytes, at most {max_bytes}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise malformed(f"{what} is not UTF-8") from exc
    if text.startswith("\ufeff"):
        raise malformed(f"{what} starts with a byte-order mark")
    if _nesting_depth(text) > max_depth:
        raise VerificationError(ErrorCode.TOO_LARGE, f"{what} nests deeper than {max_depth} levels")
    try:
        value, end = STRICT_DECODER.raw_decode(text)
    except ValueError as exc:  # JSONDecodeError, duplicate keys, constants, over-long integers
        raise malformed(f"{what} is not valid JSON: {exc}") from exc
    if end != len(text):
        raise malformed(f"{len(text) - end} characters follow the JSON of {what}")
    return value


def unix_time(value: object, name: str) -> float:
    """A CWT/JWT time claim: finite seconds since the epoch, not a bool, within years 1970 to 9999."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise malformed(f"{name} must be a number of seconds")
    if isinstance(value, float) and not math.isfinite(value):
        raise malformed(f"{name} is not a finite number")
    if not 0 <= value <= MAX_TIME:
        detail = " (given in milliseconds?)" if value > MAX_TIME else ""
        raise malformed(f"{name} {value} is outside the years 1970 to 9999{detail}")
    return float(value)


def instant(seconds: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC)


def check_static_code(
    claims: Mapping[str, ClaimValue], *, nonce: bytes | None, policy: Policy, format_name: str
) -> None:
    """The policy checks that apply to a static (bearer) code from another format.

    Such a code is accepted by a verifier that was given its format: passing the format is the opt-in,
    so ``Policy.accept_bearer`` (about econsent's own bearer credentials) does not apply. A static code
    cannot answer a challenge or name an audience, so a verifier that asks for either refuses it.
    """
    if nonce is not None:
        raise VerificationError(ErrorCode.NONCE_MISMATCH, f"a {format_name} code cannot answer a challenge")
    if policy.audience is not None:
        raise VerificationError(ErrorCode.AUDIENCE_MISMATCH, f"a {format_name} code names no audience")
    missing = [name for name in policy.required_claims if name not in claims]
    if missing:
        raise VerificationError(ErrorCode.MISSING_CLAIMS, f"needs {', '.join(missing)}")
