"""The trust store: which issuer keys a verifier accepts, for which credential types, and when.

The algorithm of a key comes from here, never from a presented code. A key's validity window is the
period in which it may *sign*: a credential is accepted only if it was issued inside that window.

Key status drives rotation:

* ``active``: signs inside ``[valid_from, valid_until]``.
* ``retired`` since T: signs inside ``[valid_from, min(valid_until, T)]``; credentials it issued before T
  stay valid until they expire.
* ``compromised`` since T: from T on, every credential signed by the key is refused, whatever its
  ``issued_at`` says (whoever holds the key can backdate that); before T it behaves like ``retired``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import KeyLoadError, TrustStoreError
from .keys import PublicKey
from .model import IssuerName, from_unix, to_unix

__all__ = ["MAX_TRUST_STORE_BYTES", "KeyStatus", "TrustStore", "TrustedKey"]

MAX_TRUST_STORE_BYTES = 16 * 1024 * 1024
_FORMAT = "econsent-trust-store"
_REQUIRED_FIELDS = {"kid", "algorithm", "public_key", "issuer", "credential_types", "valid_from", "valid_until"}
_OPTIONAL_FIELDS = {"issuer_id", "status", "status_since"}


class KeyStatus(StrEnum):
    """Where an issuer key is in its life (see the module docstring for the rules)."""

    ACTIVE = "active"
    RETIRED = "retired"
    COMPROMISED = "compromised"


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """An issuer key the verifier trusts, with what it may sign and when.

    ``issuer_id`` names the issuer across its keys (status lists of the issuer may be signed by any of
    its keys); without one, the key stands for an issuer of its own.
    """

    public_key: PublicKey
    issuer: IssuerName
    credential_types: frozenset[str]
    valid_from: _dt.datetime
    valid_until: _dt.datetime
    status: KeyStatus = KeyStatus.ACTIVE
    status_since: _dt.datetime | None = None
    issuer_id: str | None = None

    def __post_init__(self) -> None:
        if not self.credential_types:
            raise TrustStoreError("a trusted key must allow at least one credential type")
        if to_unix(self.valid_from) >= to_unix(self.valid_until):
            raise TrustStoreError("a trusted key's valid_from must be before its valid_until")
        if (self.status is KeyStatus.ACTIVE) != (self.status_since is None):
            raise TrustStoreError("a retired or compromised key needs status_since, and an active key has none")
        if self.issuer_id is not None and not 1 <= len(self.issuer_id) <= 64:
            raise TrustStoreError("issuer_id must be 1 to 64 characters")
        object.__setattr__(self, "credential_types", frozenset(self.credential_types))
        object.__setattr__(self, "status", KeyStatus(self.status))

    @property
    def kid(self) -> bytes:
        return self.public_key.kid

    @property
    def issuer_ref(self) -> str:
        """The issuer this key belongs to: ``issuer_id``, or ``kid:<hex>`` for a key without one."""
        return self.issuer_id if self.issuer_id is not None else f"kid:{self.kid.hex()}"

    def signs_at(self, unix_seconds: int) -> bool:
        """True when the key was allowed to sign at that moment (inside its window, before retirement)."""
        end = to_unix(self.valid_until)
        if self.status_since is not None:
            end = min(end, to_unix(self.status_since))
        return to_unix(self.valid_from) <= unix_seconds <= end

    def compromised_at(self, unix_seconds: int) -> bool:
        """True when, at that moment, the key is known to be compromised: nothing it signed is trusted."""
        return (
            self.status is KeyStatus.COMPROMISED
            and self.status_since is not None
            and unix_seconds >= to_unix(self.status_since)
        )

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
            raise TrustStoreError(f"key entry has an unusable public key: {exc}") from exc
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
        )


class TrustStore:
    """Trusted issuer keys by key id. Key ids are unique: adding a colliding id is refused."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[TrustedKey] = ()) -> None:
        self._keys: dict[bytes, TrustedKey] = {}
        for key in keys:
            self.add(key)

    def add(self, key: TrustedKey) -> None:
        if key.kid in self._keys:
            raise TrustStoreError(f"key id {key.kid.hex()} is already in the trust store")
        self._keys[key.kid] = key

    def remove(self, kid: bytes) -> None:
        if self._keys.pop(kid, None) is None:
            raise TrustStoreError(f"key id {kid.hex()} is not in the trust store")

    def get(self, kid: bytes) -> TrustedKey | None:
        return self._keys.get(kid)

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
        if document["version"] != 1:
            raise TrustStoreError(f"unsupported trust store version {document['version']!r}")
        if not isinstance(document["keys"], list):
            raise TrustStoreError("keys must be a list")
        return cls(TrustedKey.from_json(entry) for entry in document["keys"])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (temporary file, fsync, rename) so a crash never leaves half a trust store."""
        data = json.dumps(self.to_json(), ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
        tmp = f"{os.fspath(path)}.tmp"
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
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
            document = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError) as exc:
            raise TrustStoreError(f"trust store is not valid JSON: {exc}") from exc
        return cls.from_json(document)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in JSON object")
    return result


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TrustStoreError(f"{name} must be a string")
    return value


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
    return moment
