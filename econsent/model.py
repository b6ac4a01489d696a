"""Frozen value types shared by issuer, holder and verifier: issuer names, credentials, verdicts, time.

Standard library only. Times are timezone-aware UTC ``datetime`` values; on the wire they are whole
Unix seconds, so every public call that takes a time also accepts an ``int`` of Unix seconds.
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeAlias

from .errors import SchemaError
from .i18n import translate
from .schema import ClaimKind, ClaimValue, CredentialType

__all__ = ["Credential", "Instant", "IssuerName", "Verdict", "claims_to_json", "from_unix", "to_unix"]

Instant: TypeAlias = _dt.datetime | int


def to_unix(moment: Instant) -> int:
    """Whole Unix seconds of an aware datetime (naive datetimes are refused: they hide a time zone bug)."""
    if type(moment) is _dt.datetime and moment.tzinfo is _dt.UTC:  # the usual time, checked in one step
        return int(moment.timestamp())
    if isinstance(moment, bool):
        raise TypeError("a time must be an aware datetime or Unix seconds, not a bool")
    if isinstance(moment, int):
        return moment
    if isinstance(moment, _dt.datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("naive datetime: give a time zone (for example datetime.now(timezone.utc))")
        return int(moment.timestamp())
    raise TypeError(f"a time must be an aware datetime or Unix seconds, not {type(moment).__name__}")


def from_unix(seconds: int) -> _dt.datetime:
    """The aware UTC datetime of whole Unix seconds (what ``fromtimestamp(seconds, UTC)`` gives, at a third less:
    a verdict makes five). Out of datetime's range it raises ValueError (``fromtimestamp`` raises OverflowError
    instead for the largest values)."""
    try:
        return _UNIX_EPOCH + _dt.timedelta(0, seconds)
    except OverflowError as exc:
        raise ValueError(f"Unix time {seconds} is out of the range of datetime") from exc


_UNIX_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


@dataclass(frozen=True, slots=True)
class IssuerName:
    """An issuer's display name in Chinese and English."""

    zh: str
    en: str = ""

    def __str__(self) -> str:
        return f"{self.zh} ({self.en})" if self.en else self.zh


@dataclass(frozen=True, slots=True)
class StatusReference:
    """Where a credential's revocation status is published: a status list id and an index in it."""

    list_id: int
    index: int


@dataclass(frozen=True, slots=True, repr=False)
class Credential:
    """A signed credential as the holder keeps it: every claim, plus the secret disclosure seed.

    ``encoded`` is the exact payload the issuer produced; it is what a wallet stores. The repr never
    shows claim values (personal data) or the seed. ``issuer_algorithm`` is the algorithm of the key that
    signed it, when known (the issuer sets it; bytes read back alone cannot tell): the holder needs it to
    build presentations in the issuer's hash suite (SM3 for SM2 issuers, SHA-2 otherwise; SPEC 4).
    """

    credential_type: str
    kid: bytes
    serial: int
    issued_at: _dt.datetime
    valid_from: _dt.datetime
    valid_until: _dt.datetime
    holder_algorithm: str | None
    holder_key: bytes | None
    claims: Mapping[str, ClaimValue]
    encoded: bytes
    status: StatusReference | None = None
    issuer_algorithm: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "claims", MappingProxyType(dict(self.claims)))

    @property
    def is_bearer(self) -> bool:
        """True for a credential with no holder key (for printed certificates): anyone holding it can show it."""
        return self.holder_key is None

    def __repr__(self) -> str:
        binding = "bearer" if self.is_bearer else f"holder {self.holder_algorithm}"
        return (
            f"Credential({self.credential_type}, serial={self.serial}, kid={self.kid.hex()}, "
            f"{binding}, claims={sorted(self.claims)})"
        )


class Notice(str):
    """A warning on a verdict: the string is its English text, ``zh`` its Chinese.

    Made from an English message marked with ``N_()`` where it is raised (the catalogue translates it) and
    the values for its ``{placeholders}``; a plain string works wherever a notice does (``zh`` is then the
    string itself, see :func:`notice_zh`)."""

    zh: str

    def __new__(cls, message: str, **values: object) -> Notice:
        notice = super().__new__(cls, message.format(**values))
        notice.zh = translate(message, "zh").format(**values)
        return notice


def notice_zh(warning: str) -> str:
    """The Chinese of a verdict's warning (a :class:`Notice`); a plain string stays as it is."""
    return getattr(warning, "zh", warning)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a successful verification proved. Every field was checked; nothing here is unverified."""

    credential_type: str
    claims: Mapping[str, ClaimValue]
    withheld: tuple[str, ...]
    issuer: IssuerName
    kid: str
    algorithm: str
    serial: int
    issued_at: _dt.datetime
    valid_from: _dt.datetime
    valid_until: _dt.datetime
    holder_bound: bool
    holder_algorithm: str | None
    presented_at: _dt.datetime | None
    expires_at: _dt.datetime | None
    clock_offset_seconds: int | None
    nonce: bytes | None = None
    audience: str | None = None
    status: StatusReference | None = None
    trust_list: str | None = None
    warnings: tuple[str, ...] = ()
    format: str = "econsent/1"
    document: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "claims", MappingProxyType(dict(self.claims)))
        if self.document is not None:  # another format's whole signed payload (EU DCC hcert, SHC vc), read-only
            object.__setattr__(self, "document", _frozen(self.document))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO 8601, bytes as base64url)."""

        def iso(moment: _dt.datetime | None) -> str | None:
            return None if moment is None else moment.isoformat().replace("+00:00", "Z")

        return {
            "valid": True,
            "format": self.format,
            "credential_type": self.credential_type,
            "issuer": {"zh": self.issuer.zh, "en": self.issuer.en},
            "kid": self.kid,
            "algorithm": self.algorithm,
            "serial": self.serial,
            "issued_at": iso(self.issued_at),
            "valid_from": iso(self.valid_from),
            "valid_until": iso(self.valid_until),
            "holder_bound": self.holder_bound,
            "holder_algorithm": self.holder_algorithm,
            "presented_at": iso(self.presented_at),
            "expires_at": iso(self.expires_at),
            "clock_offset_seconds": self.clock_offset_seconds,
            "nonce": None if self.nonce is None else _b64(self.nonce),
            "audience": self.audience,
            "claims": claims_to_json(self.claims),
            "withheld": list(self.withheld),
            "status": None if self.status is None else {"list_id": self.status.list_id, "index": self.status.index},
            "trust_list": self.trust_list,
            "warnings": list(self.warnings),
            "warnings_zh": [notice_zh(warning) for warning in self.warnings],
            "document": None if self.document is None else _thawed(self.document),
        }


# Verifying makes a Verdict per code; filling its slots through their descriptors costs half of the frozen
# dataclass's __init__, which sets each of the 22 fields through object.__setattr__.
_VERDICT_SETTERS: tuple[Any, ...] = tuple(getattr(Verdict, name).__set__ for name in Verdict.__dataclass_fields__)


def presentation_verdict(
    *,
    credential_type: str,
    claims: Mapping[str, ClaimValue],
    withheld: tuple[str, ...],
    issuer: IssuerName,
    kid: str,
    algorithm: str,
    serial: int,
    issued_at: _dt.datetime,
    valid_from: _dt.datetime,
    valid_until: _dt.datetime,
    holder_bound: bool,
    holder_algorithm: str | None,
    presented_at: _dt.datetime | None,
    expires_at: _dt.datetime | None,
    clock_offset_seconds: int | None,
    nonce: bytes | None,
    audience: str | None,
    status: StatusReference | None,
    trust_list: str | None,
    warnings: tuple[str, ...],
) -> Verdict:
    """The Verdict of an econsent code: equal to ``Verdict(...)`` of the same fields (claims copied read-only,
    this format, no foreign document), made by filling its slots directly."""
    verdict = object.__new__(Verdict)
    values = (
        credential_type, MappingProxyType(dict(claims)), withheld, issuer, kid, algorithm, serial, issued_at,
        valid_from, valid_until, holder_bound, holder_algorithm, presented_at, expires_at, clock_offset_seconds,
        nonce, audience, status, trust_list, warnings, "econsent/1", None,
    )  # fmt: skip
    for set_field, value in zip(_VERDICT_SETTERS, values, strict=True):
        set_field(verdict, value)
    return verdict


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value


def _thawed(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thawed(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_thawed(item) for item in value]
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def claims_to_json(claims: Mapping[str, ClaimValue]) -> dict[str, Any]:
    """Claims as JSON values: dates as ISO strings, bytes as base64url, lists as lists."""

    def one(value: Any) -> Any:
        if isinstance(value, _dt.date):
            return value.isoformat()
        if isinstance(value, bytes):
            return _b64(value)
        if isinstance(value, tuple | list):
            return [one(item) for item in value]
        return value

    return {name: one(value) for name, value in claims.items()}


def claims_from_json(ctype: CredentialType, raw: Mapping[str, Any]) -> dict[str, Any]:
    """JSON claims (as :func:`claims_to_json` writes them) to Python values by the type's kinds: dates from
    ISO strings, bytes from base64url, lists as tuples. An unknown claim or an undecodable value raises
    :class:`~econsent.errors.SchemaError`; issuing then checks every value against its kind."""
    kinds = {spec.name: spec.kind for spec in ctype.claims}
    result: dict[str, Any] = {}
    for name, value in raw.items():
        kind = kinds.get(name)
        if kind is None:
            raise SchemaError(f"{ctype.name} has no claim {name!r} (see `econsent types`)")
        items = value if kind.is_list and isinstance(value, list) else [value]
        converted = [_json_scalar(name, kind.item_kind, item) for item in items]
        result[name] = tuple(converted) if kind.is_list else converted[0]
    return result


def _json_scalar(name: str, kind: ClaimKind, value: Any) -> Any:
    try:
        if kind is ClaimKind.DATE and isinstance(value, str):
            return _dt.date.fromisoformat(value)
        if kind is ClaimKind.BYTES and isinstance(value, str):
            return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except ValueError as exc:  # binascii.Error is a ValueError
        raise SchemaError(f"claim {name!r} is not a {kind.value}: {exc}") from exc
    return value
