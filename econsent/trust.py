"""The trust store: which issuer keys a verifier accepts, for which credential types, and when.

The algorithm of a key comes from here, never from a presented code. A key's validity window is the
period in which it may *sign*: a credential is accepted only if it was issued inside that window.

Key status drives rotation:

* ``active``: signs inside ``[valid_from, valid_until]``.
* ``retired`` since T: signs inside ``[valid_from, min(valid_until, T)]``; credentials it issued before T
  stay valid until they expire.
* ``compromised`` since T: from T on, every credential signed by the key is refused, whatever its
  ``issued_at`` says (whoever holds the key can backdate that); before T it behaves like ``retired``.

Authority (``docs/security.md``, "Authority model"): a key speaks for one issuer *within one trust source*
(the verifier's own trust store, or one signed trust list identified by its anchor and name): an
:class:`IssuerScope`. Only keys of the same scope may speak for each other's credentials (status lists).
When several sources hold the same key, :meth:`TrustStore.union` keeps the most restrictive terms.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from . import _envelope
from ._files import write_atomic
from ._json import loads_strict
from .errors import KeyLoadError, TrustListError, TrustListProblem, TrustStoreError
from .keys import MAX_SM2_USER_ID_BYTES, Algorithm, PublicKey, Signer
from .model import Instant, IssuerName, from_unix, to_unix

__all__ = [
    "MAX_TRUST_STORE_BYTES",
    "RESERVED_ISSUER_ID_PREFIX",
    "IssuerScope",
    "KeyStatus",
    "TrustListError",
    "TrustListInfo",
    "TrustListProblem",
    "TrustLists",
    "TrustStore",
    "TrustedKey",
    "read_trust_list",
    "sign_trust_list",
]

MAX_TRUST_STORE_BYTES = 16 * 1024 * 1024
_FORMAT = "econsent-trust-store"
_REQUIRED_FIELDS = {"kid", "algorithm", "public_key", "issuer", "credential_types", "valid_from", "valid_until"}
_OPTIONAL_FIELDS = {"issuer_id", "status", "status_since", "sm2_user_id"}
# A key without an issuer_id stands for an issuer of its own, named kid:<hex>; no declared id may take that form.
RESERVED_ISSUER_ID_PREFIX = "kid:"


class KeyStatus(StrEnum):
    """Where an issuer key is in its life (see the module docstring for the rules)."""

    ACTIVE = "active"
    RETIRED = "retired"
    COMPROMISED = "compromised"


@dataclass(frozen=True, slots=True)
class TrustListInfo:
    """Which signed trust list a key came from: its name, sequence number, dates, anchor and digest."""

    name: str
    sequence: int
    issued_at: _dt.datetime
    next_update: _dt.datetime
    anchor_kid: bytes
    digest: bytes

    @property
    def label(self) -> str:
        return f"{self.name}#{self.sequence}"

    @property
    def identity(self) -> tuple[bytes, str]:
        """What makes two lists the same list: the anchor that signs it and its name (not the name alone)."""
        return (self.anchor_kid, self.name)


@dataclass(frozen=True, slots=True)
class IssuerScope:
    """One issuer as one trust source knows it: the unit of authority over credentials' status.

    ``anchor_kid`` and ``list_name`` identify the signed trust list that vouches for the issuer (both
    ``None`` for the verifier's own trust store); ``issuer_ref`` is the issuer within that source. Two
    scopes that differ in any part are different issuers, however alike their ids look.
    """

    anchor_kid: bytes | None
    list_name: str | None
    issuer_ref: str

    @classmethod
    def local(cls, issuer_ref: str) -> IssuerScope:
        """An issuer of the verifier's own trust store."""
        return cls(None, None, issuer_ref)

    def __str__(self) -> str:
        if self.anchor_kid is None:
            return self.issuer_ref
        return f"{self.issuer_ref} (trust list {self.list_name} of anchor {self.anchor_kid.hex()})"


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """An issuer key the verifier trusts, with what it may sign and when.

    ``issuer_id`` names the issuer across its keys *within the key's trust source* (status lists of the
    issuer may be signed by any of its keys there); without one, the key stands for an issuer of its own,
    ``kid:<hex>``, a form no declared ``issuer_id`` may take. ``source`` is the signed trust list the key
    came from, if any (verdicts name it, and the verifier applies its staleness policy).
    """

    public_key: PublicKey
    issuer: IssuerName
    credential_types: frozenset[str]
    valid_from: _dt.datetime
    valid_until: _dt.datetime
    status: KeyStatus = KeyStatus.ACTIVE
    status_since: _dt.datetime | None = None
    issuer_id: str | None = None
    source: TrustListInfo | None = None
    sm2_user_id: bytes | None = None
    # In Unix seconds, worked out once (the verifier asks for each code): the signing window, ending at
    # status_since for a retired or compromised key, and when a compromised key's compromise began.
    _signs_from: int = dataclasses.field(init=False, repr=False, compare=False, default=0)
    _signs_until: int = dataclasses.field(init=False, repr=False, compare=False, default=0)
    _compromised_from: int | None = dataclasses.field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if not self.credential_types:
            raise TrustStoreError("a trusted key must allow at least one credential type")
        if to_unix(self.valid_from) >= to_unix(self.valid_until):
            raise TrustStoreError("a trusted key's valid_from must be before its valid_until")
        if (self.status is KeyStatus.ACTIVE) != (self.status_since is None):
            raise TrustStoreError("a retired or compromised key needs status_since, and an active key has none")
        if self.issuer_id is not None and not 1 <= len(self.issuer_id) <= 64:
            raise TrustStoreError("issuer_id must be 1 to 64 characters")
        if self.issuer_id is not None and self.issuer_id[:4].lower() == RESERVED_ISSUER_ID_PREFIX:
            raise TrustStoreError(
                f"issuer_id {self.issuer_id!r} is reserved: 'kid:' names a key without an issuer_id, "
                "and a declared id must never pass for another key"
            )
        if self.sm2_user_id is not None and (
            self.public_key.algorithm is not Algorithm.SM2
            or not isinstance(self.sm2_user_id, bytes)
            or not 1 <= len(self.sm2_user_id) <= MAX_SM2_USER_ID_BYTES
        ):
            raise TrustStoreError(
                f"sm2_user_id is only for SM2 keys, and is 1 to {MAX_SM2_USER_ID_BYTES} bytes "
                "(without it, the default 1234567812345678)"
            )
        object.__setattr__(self, "credential_types", frozenset(self.credential_types))
        object.__setattr__(self, "status", KeyStatus(self.status))
        since = None if self.status_since is None else to_unix(self.status_since)
        until = to_unix(self.valid_until)
        object.__setattr__(self, "_signs_from", to_unix(self.valid_from))
        object.__setattr__(self, "_signs_until", until if since is None else min(until, since))
        object.__setattr__(self, "_compromised_from", since if self.status is KeyStatus.COMPROMISED else None)

    @property
    def kid(self) -> bytes:
        return self.public_key.kid

    @property
    def issuer_ref(self) -> str:
        """The issuer this key belongs to: ``issuer_id``, or ``kid:<hex>`` for a key without one."""
        return self.issuer_id if self.issuer_id is not None else f"{RESERVED_ISSUER_ID_PREFIX}{self.kid.hex()}"

    @property
    def scope(self) -> IssuerScope:
        """The issuer this entry speaks for, within the trust source the entry came from."""
        if self.source is None:
            return IssuerScope.local(self.issuer_ref)
        return IssuerScope(self.source.anchor_kid, self.source.name, self.issuer_ref)

    def signs_at(self, unix_seconds: int) -> bool:
        """True when the key was allowed to sign at that moment (inside its window, before retirement)."""
        return self._signs_from <= unix_seconds <= self._signs_until

    def compromised_at(self, unix_seconds: int) -> bool:
        """True when, at that moment, the key is known to be compromised: nothing it signed is trusted."""
        return self._compromised_from is not None and unix_seconds >= self._compromised_from

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid.hex(),
            "algorithm": self.public_key.algorithm.value,
            "public_key": self.public_key.to_pem().decode("ascii"),
            "issuer": {"zh": self.issuer.zh, "en": self.issuer.en},
            "credential_types": sorted(self.credential_types),
            "valid_from": _iso(self.valid_from),
            "valid_until": _iso(self.valid_until),
            **({} if self.issuer_id is None else {"issuer_id": self.issuer_id}),
            **({} if self.sm2_user_id is None else {"sm2_user_id": self.sm2_user_id.hex()}),
            **(
                {}
                if self.status_since is None
                else {"status": self.status.value, "status_since": _iso(self.status_since)}
            ),
        }

    @classmethod
    def from_json(cls, entry: Any) -> TrustedKey:
        if not isinstance(entry, dict):
            raise TrustStoreError("each key entry must be a JSON object")
        unknown = set(entry) - _REQUIRED_FIELDS - _OPTIONAL_FIELDS
        missing = _REQUIRED_FIELDS - set(entry)
        if unknown or missing:
            raise TrustStoreError(f"key entry has unknown fields {sorted(unknown)} / lacks {sorted(missing)}")
        try:
            public_key = PublicKey.from_pem(_str(entry["public_key"], "public_key"))
        except KeyLoadError as exc:
            raise TrustStoreError(f"key entry has an unusable public key: {exc.detail}") from exc
        if public_key.algorithm.value != entry["algorithm"]:
            raise TrustStoreError(
                f"key {entry['kid']!r} is {public_key.algorithm.value}, but the entry says {entry['algorithm']!r}"
            )
        if public_key.kid.hex() != entry["kid"]:
            raise TrustStoreError(f"key id {entry['kid']!r} does not match the key ({public_key.kid.hex()})")
        issuer = entry["issuer"]
        if not isinstance(issuer, dict) or set(issuer) != {"zh", "en"}:
            raise TrustStoreError("issuer must be an object with exactly the fields zh and en")
        types = entry["credential_types"]
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise TrustStoreError("credential_types must be a list of type names")
        try:
            status = KeyStatus(entry.get("status", KeyStatus.ACTIVE.value))
        except ValueError as exc:
            raise TrustStoreError(f"key status must be one of {[s.value for s in KeyStatus]}") from exc
        since = entry.get("status_since")
        return cls(
            public_key=public_key,
            issuer=IssuerName(_str(issuer["zh"], "issuer.zh"), _str(issuer["en"], "issuer.en")),
            credential_types=frozenset(types),
            valid_from=_parse_time(entry["valid_from"], "valid_from"),
            valid_until=_parse_time(entry["valid_until"], "valid_until"),
            status=status,
            status_since=None if since is None else _parse_time(since, "status_since"),
            issuer_id=None if "issuer_id" not in entry else _str(entry["issuer_id"], "issuer_id"),
            sm2_user_id=None if "sm2_user_id" not in entry else _hex_bytes(entry["sm2_user_id"], "sm2_user_id"),
        )


class TrustStore:
    """Trusted issuer keys by key id, and the issuers (scopes) each key speaks for.

    Within one store a key id appears once: adding a colliding id is refused. :meth:`union` combines
    stores from several sources; a key held by more than one of them gets the most restrictive terms.
    """

    __slots__ = ("_entries", "_keys", "_scopes")

    def __init__(self, keys: Iterable[TrustedKey] = ()) -> None:
        self._keys: dict[bytes, TrustedKey] = {}
        self._entries: dict[bytes, tuple[TrustedKey, ...]] = {}
        self._scopes: dict[bytes, frozenset[IssuerScope]] = {}
        for key in keys:
            self.add(key)

    def add(self, key: TrustedKey) -> None:
        if key.kid in self._entries:
            raise TrustStoreError(f"key id {key.kid.hex()} is already in the trust store")
        self._hold(key.kid, (key,))

    def remove(self, kid: bytes) -> None:
        if self._entries.pop(kid, None) is None:
            raise TrustStoreError(f"key id {kid.hex()} is not in the trust store")
        self._keys.pop(kid, None)
        self._scopes.pop(kid, None)

    def get(self, kid: bytes) -> TrustedKey | None:
        """The key's effective terms (the most restrictive of every source holding it), or None."""
        return self._keys.get(kid)

    def scopes(self, kid: bytes) -> frozenset[IssuerScope]:
        """Every issuer the key speaks for: one per trust source holding it (empty for an unknown key)."""
        return self._scopes.get(kid, frozenset())

    @classmethod
    def union(cls, *stores: TrustStore) -> TrustStore:
        """One store holding the keys of all (for several pinned lists, e.g. one per province).

        A key held by several stores is trusted on the most restrictive terms of all of them (see
        :func:`_most_restrictive`) and speaks for each issuer a source places it under, never merging
        issuers of different sources. A key left with nothing it may sign is not trusted at all.
        """
        grouped: dict[bytes, list[TrustedKey]] = {}
        for store in stores:
            for kid, held in store._entries.items():
                grouped.setdefault(kid, []).extend(held)
        union = cls()
        for kid, entries in grouped.items():
            union._hold(kid, tuple(entries))
        return union

    def _hold(self, kid: bytes, entries: tuple[TrustedKey, ...]) -> None:
        self._entries[kid] = entries
        effective = _most_restrictive(entries)
        if effective is None:
            return
        self._keys[kid] = effective
        self._scopes[kid] = frozenset(entry.scope for entry in entries)

    def __iter__(self) -> Iterator[TrustedKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def to_json(self) -> dict[str, Any]:
        return {"format": _FORMAT, "version": 1, "keys": [key.to_json() for key in self._keys.values()]}

    @classmethod
    def from_json(cls, document: Any) -> TrustStore:
        if not isinstance(document, dict) or set(document) != {"format", "version", "keys"}:
            raise TrustStoreError("a trust store is an object with exactly format, version and keys")
        if document["format"] != _FORMAT:
            raise TrustStoreError(f"not a trust store (format {document['format']!r})")
        if type(document["version"]) is not int or document["version"] != 1:
            raise TrustStoreError(f"unsupported trust store version {document['version']!r}")
        if not isinstance(document["keys"], list):
            raise TrustStoreError("keys must be a list")
        return cls(TrustedKey.from_json(entry) for entry in document["keys"])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically and durably, so a crash never leaves half a trust store."""
        data = json.dumps(self.to_json(), ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
        try:
            write_atomic(path, data)
        except OSError as exc:
            raise TrustStoreError(f"cannot write trust store {os.fspath(path)!r}: {exc.strerror}") from exc

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrustStore:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_TRUST_STORE_BYTES + 1)
        except OSError as exc:
            raise TrustStoreError(f"cannot read trust store {os.fspath(path)!r}: {exc.strerror}") from exc
        if len(data) > MAX_TRUST_STORE_BYTES:
            raise TrustStoreError(f"trust store larger than {MAX_TRUST_STORE_BYTES} bytes")
        try:
            document = loads_strict(data)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise TrustStoreError(f"trust store is not valid JSON: {type(exc).__name__}") from exc
        return cls.from_json(document)


def _most_restrictive(entries: Sequence[TrustedKey]) -> TrustedKey | None:
    """The terms on which a key that several sources hold is trusted: what every one of them allows.

    Compromised beats retired beats active, the earliest ``status_since`` of the winning status counts,
    the signing window is the intersection of the windows (a retirement ends it), and the credential
    types are those every source allows. The issuer name and ``source`` are those of the source whose list
    expires first (a local trust store entry only when no list holds the key), so staleness is judged by
    the most restrictive list too. None when nothing is left: no common type or no common window.
    """
    if len(entries) == 1:
        return entries[0]
    types = frozenset.intersection(*(entry.credential_types for entry in entries))
    valid_from = max((entry.valid_from for entry in entries), key=to_unix)
    ends = [entry.valid_until for entry in entries]
    retired = [e.status_since for e in entries if e.status is KeyStatus.RETIRED and e.status_since is not None]
    compromised = [e.status_since for e in entries if e.status is KeyStatus.COMPROMISED and e.status_since is not None]
    status, since = KeyStatus.ACTIVE, None
    if compromised:  # the compromise time is kept as such; an earlier retirement still ends the window
        status, since, ends = KeyStatus.COMPROMISED, min(compromised, key=to_unix), ends + retired
    elif retired:
        status, since = KeyStatus.RETIRED, min(retired, key=to_unix)
    valid_until = min(ends, key=to_unix)
    if not types or to_unix(valid_from) >= to_unix(valid_until):
        return None
    primary = min(entries, key=_restrictive_source_order)
    return dataclasses.replace(
        primary,
        credential_types=types,
        valid_from=valid_from,
        valid_until=valid_until,
        status=status,
        status_since=since,
    )


def _restrictive_source_order(entry: TrustedKey) -> tuple[bool, int, bytes, str]:
    """Lists before the local store; among lists, the one that expires first (then a fixed order)."""
    if entry.source is None:
        return (True, 0, b"", "")
    return (False, to_unix(entry.source.next_update), entry.source.anchor_kid, entry.source.name)


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TrustStoreError(f"{name} must be a string")
    return value


def _hex_bytes(value: Any, name: str) -> bytes:
    """Bytes written as lowercase hex, in their one spelling (so a store has one JSON form)."""
    if not isinstance(value, str) or not re.fullmatch(r"(?:[0-9a-f]{2})+", value):
        raise TrustStoreError(f"{name} must be lowercase hex (an even number of digits 0-9, a-f)")
    return bytes.fromhex(value)


def _iso(moment: _dt.datetime) -> str:
    return from_unix(to_unix(moment)).isoformat().replace("+00:00", "Z")


def _parse_time(value: Any, name: str) -> _dt.datetime:
    text = _str(value, name)
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TrustStoreError(f"{name} is not an ISO 8601 time: {text!r}") from exc
    if moment.tzinfo is None:
        raise TrustStoreError(f"{name} must carry a time zone: {text!r}")
    try:
        moment.astimezone(_dt.UTC)  # 9999-12-31T23:59:59-01:00 is in the year 10000 in UTC: nothing could print it
    except OverflowError as exc:
        raise TrustStoreError(f"{name} lies outside the years 1 to 9999 in UTC: {text!r}") from exc
    return moment


# --- signed trust lists -------------------------------------------------------------------------------

_LIST_FORMAT = "econsent-trust-list"
_ENVELOPE_FIELDS = {"format", "version", "anchor", "payload", "signature"}
_PAYLOAD_FIELDS = {"name", "sequence", "issued_at", "next_update", "issuers"}
_ISSUER_FIELDS = {"id", "name", "keys"}
_LIST_KEY_FIELDS = (_REQUIRED_FIELDS | _OPTIONAL_FIELDS) - {"issuer", "issuer_id"}
_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def sign_trust_list(
    store: TrustStore,
    anchor: Signer,
    *,
    name: str,
    sequence: int,
    issued_at: Instant,
    next_update: Instant,
) -> bytes:
    """Sign the keys of ``store`` as trust list ``name`` number ``sequence`` with a trust-anchor key.

    Every key needs an ``issuer_id``: a list groups keys by issuer. Returns the list file (JSON bytes).
    """
    if not _NAME_PATTERN.fullmatch(name):
        raise TrustStoreError("a trust list name is 1-64 lowercase letters, digits, '.', '_' or '-'")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 0 <= sequence < 2**53:
        raise TrustStoreError("the sequence number must be an integer from 0 to 2**53 - 1")
    if to_unix(issued_at) >= to_unix(next_update):
        raise TrustStoreError("issued_at must be before next_update")
    issuers: dict[str, dict[str, Any]] = {}
    for key in store:
        if key.issuer_id is None:
            raise TrustStoreError(f"key {key.kid.hex()} has no issuer_id: a signed trust list groups keys by issuer")
        entry = issuers.setdefault(
            key.issuer_id, {"id": key.issuer_id, "name": {"zh": key.issuer.zh, "en": key.issuer.en}, "keys": []}
        )
        if entry["name"] != {"zh": key.issuer.zh, "en": key.issuer.en}:
            raise TrustStoreError(f"keys of issuer {key.issuer_id!r} disagree on the issuer's name")
        document = key.to_json()
        del document["issuer"], document["issuer_id"]
        entry["keys"].append(document)
    payload = {
        "name": name,
        "sequence": sequence,
        "issued_at": _iso(from_unix(to_unix(issued_at))),
        "next_update": _iso(from_unix(to_unix(next_update))),
        "issuers": [issuers[ref] for ref in sorted(issuers)],
    }
    payload_bytes = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    signature = _envelope.sign_trust_list(anchor, payload_bytes)
    envelope = {
        "format": _LIST_FORMAT,
        "version": 1,
        "anchor": anchor.public_key.kid.hex(),
        "payload": _b64encode(payload_bytes),
        "signature": _b64encode(signature),
    }
    return json.dumps(envelope, indent=2).encode("ascii") + b"\n"


def read_trust_list(data: bytes, anchors: Iterable[PublicKey]) -> TrustStore:
    """Verify a signed trust list against pinned anchor keys and return its keys as a trust store.

    Refuses (TrustListError) an oversized or malformed file, an unknown version, an anchor that is not
    pinned, a bad signature, and any unknown field anywhere in the list, in the order of SPEC 9.2.
    """
    if len(data) > MAX_TRUST_STORE_BYTES:
        raise TrustListError(TrustListProblem.TOO_LARGE, f"larger than {MAX_TRUST_STORE_BYTES} bytes")
    envelope = _strict_json(data)
    if not isinstance(envelope, dict) or set(envelope) != _ENVELOPE_FIELDS or envelope["format"] != _LIST_FORMAT:
        raise TrustListError(TrustListProblem.MALFORMED, f"not a trust list (fields {sorted(_ENVELOPE_FIELDS)})")
    if type(envelope["version"]) is not int or envelope["version"] != 1:
        raise TrustListError(TrustListProblem.UNSUPPORTED_VERSION, f"version {envelope['version']!r}")
    pinned = {key.kid.hex(): key for key in anchors}
    anchor = pinned.get(envelope["anchor"]) if isinstance(envelope["anchor"], str) else None
    if anchor is None:
        raise TrustListError(TrustListProblem.UNKNOWN_ANCHOR, f"anchor {envelope['anchor']!r} is not pinned")
    payload_bytes = _b64decode(envelope["payload"], "payload")
    signature = _b64decode(envelope["signature"], "signature")
    if len(signature) != 64:
        raise TrustListError(TrustListProblem.MALFORMED, f"the signature is {len(signature)} bytes, not 64")
    if not _envelope.verify_trust_list(anchor, signature, payload_bytes):
        raise TrustListError(
            TrustListProblem.BAD_SIGNATURE, f"signature does not verify with anchor {anchor.kid.hex()}"
        )
    return _store_from_payload(_strict_json(payload_bytes), anchor, hashlib.sha256(payload_bytes).digest())


def _store_from_payload(payload: Any, anchor: PublicKey, digest: bytes) -> TrustStore:
    if not isinstance(payload, dict) or set(payload) != _PAYLOAD_FIELDS:
        raise TrustListError(TrustListProblem.MALFORMED, f"the list must have exactly {sorted(_PAYLOAD_FIELDS)}")
    name, sequence = payload["name"], payload["sequence"]
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise TrustListError(TrustListProblem.MALFORMED, "bad list name")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 0 <= sequence < 2**53:
        raise TrustListError(TrustListProblem.MALFORMED, "bad sequence number")
    try:
        info = TrustListInfo(
            name=name,
            sequence=sequence,
            issued_at=_parse_time(payload["issued_at"], "issued_at"),
            next_update=_parse_time(payload["next_update"], "next_update"),
            anchor_kid=anchor.kid,
            digest=digest,
        )
        if not isinstance(payload["issuers"], list):
            raise TrustStoreError("issuers must be a list")
        keys = [key for issuer in payload["issuers"] for key in _issuer_keys(issuer, info)]
        return TrustStore(keys)
    except TrustListError:
        raise
    except TrustStoreError as exc:
        raise TrustListError(TrustListProblem.MALFORMED, exc.detail) from exc


def _issuer_keys(issuer: Any, info: TrustListInfo) -> list[TrustedKey]:
    if not isinstance(issuer, dict) or set(issuer) != _ISSUER_FIELDS or not isinstance(issuer["keys"], list):
        raise TrustStoreError(f"each issuer must have exactly {sorted(_ISSUER_FIELDS)}")
    keys = []
    for entry in issuer["keys"]:
        if not isinstance(entry, dict) or not set(entry) <= _LIST_KEY_FIELDS:
            raise TrustStoreError(f"key entries of a list may only have {sorted(_LIST_KEY_FIELDS)}")
        key = TrustedKey.from_json({**entry, "issuer": issuer["name"], "issuer_id": issuer["id"]})
        keys.append(dataclasses.replace(key, source=info))
    return keys


class TrustLists:
    """The pinned trust anchors of an offline verifier and the newest edition it accepted of each list.

    A list is identified by its anchor and its name: two anchors' lists of the same name are two lists,
    and one anchor can never replace another's. ``update`` refuses an edition older than the one held
    (rollback), and a different list under the same sequence number. ``store()`` is the union of the held
    lists, for a Verifier: a key that several lists hold is trusted on the most restrictive terms.
    """

    __slots__ = ("_anchors", "_held")

    def __init__(self, anchors: Iterable[PublicKey]) -> None:
        self._anchors = tuple(anchors)
        if not self._anchors:
            raise TrustStoreError("pin at least one trust anchor key")
        self._held: dict[tuple[bytes, str], TrustStore] = {}

    def update(self, data: bytes) -> TrustListInfo:
        """Verify a list and hold it in place of the older edition of the same list; returns what it holds now."""
        store = read_trust_list(data, self._anchors)
        info = _info_of(store)
        if info is None:
            raise TrustListError(TrustListProblem.MALFORMED, "the list holds no keys")
        held = self._held.get(info.identity)
        held_info = None if held is None else _info_of(held)
        if held_info is not None:
            if info.sequence < held_info.sequence:
                raise TrustListError(
                    TrustListProblem.ROLLBACK,
                    f"{info.label} is older than the held {held_info.label}",
                )
            if info.sequence == held_info.sequence and info.digest != held_info.digest:
                raise TrustListError(
                    TrustListProblem.SEQUENCE_REUSED, f"a different list under the held sequence {held_info.label}"
                )
        self._held[info.identity] = store
        return info

    def update_file(self, path: str | os.PathLike[str]) -> TrustListInfo:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_TRUST_STORE_BYTES + 1)
        except OSError as exc:
            raise TrustStoreError(f"cannot read trust list {os.fspath(path)!r}: {exc.strerror}") from exc
        return self.update(data)

    def held(self) -> list[TrustListInfo]:
        return [info for store in self._held.values() if (info := _info_of(store)) is not None]

    def store(self) -> TrustStore:
        return TrustStore.union(*self._held.values())


def _info_of(store: TrustStore) -> TrustListInfo | None:
    return next((key.source for key in store if key.source is not None), None)


def _strict_json(data: bytes) -> Any:
    try:
        return loads_strict(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise TrustListError(TrustListProblem.MALFORMED, f"not valid JSON: {exc}") from exc


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(value: Any, name: str) -> bytes:
    """Unpadded base64url in its one form: a text whose unused low bits are not zero is refused (SPEC 9.1)."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", value):
        raise TrustListError(TrustListProblem.MALFORMED, f"{name} must be unpadded base64url")
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError as exc:
        raise TrustListError(TrustListProblem.MALFORMED, f"{name} is not base64url") from exc
    if _b64encode(decoded) != value:
        raise TrustListError(TrustListProblem.MALFORMED, f"{name} is not canonical base64url (unused bits set)")
    return decoded
