"""What a wallet holds: its entries and holder keys, and the body that is sealed in the vault file.

``_State`` is the decrypted body, checked strictly when read (only a bug or a forger could break its
shape); :class:`WalletEntry` and its enums describe an entry for a list screen; :class:`ExternalKey` and
:class:`SignerProvider` reach holder keys that live outside the wallet (secure hardware).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from .._vault import WALLET_ID_BYTES, VaultHeader, VaultKey, unseal
from ..errors import CorruptWalletError, WalletError, WalletErrorCode
from ..keys import Algorithm, HashSuite, PublicKey, Signer, SigningKey
from ..model import Credential, IssuerName

__all__ = [
    "MAX_ENTRIES",
    "MAX_ISSUER_NAME_CHARS",
    "MAX_KEYS",
    "MAX_KEY_REF_CHARS",
    "MAX_LABEL_CHARS",
    "EntryStatus",
    "ExternalKey",
    "HolderKeyKind",
    "KeyMode",
    "SignerProvider",
    "WalletEntry",
]

MAX_LABEL_CHARS = 128
MAX_ISSUER_NAME_CHARS = 256
MAX_KEY_REF_CHARS = 256
MAX_ENTRIES = 5_000
MAX_KEYS = 10_000
_ENTRY_ID_BYTES = 6
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class KeyMode(StrEnum):
    """How the wallet makes holder keys: a fresh key per credential (default), or one key for all."""

    PER_CREDENTIAL = "per-credential"
    PER_WALLET = "per-wallet"


class EntryStatus(StrEnum):
    """A credential's validity at a given moment (the verifier's clock is the reference at a counter)."""

    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"


class HolderKeyKind(StrEnum):
    """Where the holder key of an entry lives."""

    WALLET = "wallet"  # a software key, stored encrypted in the wallet
    EXTERNAL = "external"  # outside the wallet (secure hardware), reached through a SignerProvider
    NONE = "none"  # a bearer credential: no holder key


@dataclass(frozen=True, slots=True)
class ExternalKey:
    """A holder key kept outside the wallet (Android Keystore, iOS Secure Enclave, an HSM), by its reference.

    The wallet stores only ``ref``; when it needs to sign, it asks the :class:`SignerProvider` given to
    :meth:`Wallet.open` for the signer of that reference.
    """

    ref: str

    def __post_init__(self) -> None:
        if not isinstance(self.ref, str) or not 1 <= len(self.ref) <= MAX_KEY_REF_CHARS:
            raise ValueError(f"an external key reference is 1 to {MAX_KEY_REF_CHARS} characters")


@runtime_checkable
class SignerProvider(Protocol):
    """Gives the signer of an external key reference (a key alias in the platform keystore)."""

    def signer(self, key_ref: str) -> Signer: ...


class _MappingProvider:
    __slots__ = ("_signers",)

    def __init__(self, signers: Mapping[str, Signer]) -> None:
        self._signers = dict(signers)

    def signer(self, key_ref: str) -> Signer:
        return self._signers[key_ref]


@dataclass(frozen=True, slots=True, repr=False)
class WalletEntry:
    """One credential in the wallet, described for a list screen. Its repr shows no personal data.

    ``issuer`` is the label given on :meth:`Wallet.add`, else the name the wallet's trust store gives
    the issuer key, else ``None`` (``issuer_kid`` always identifies the key). ``holder_name`` is
    ``family_name`` + ``given_name`` (or the company name, or both spouses' names) when the credential
    carries them. ``status`` is relative to the ``now`` the list was made for. ``profiles`` are the
    type's named claim sets this credential can show (it holds every claim of them).
    """

    entry_id: str
    credential_type: str
    type_label_zh: str
    type_label_en: str
    issuer: IssuerName | None
    issuer_kid: str
    holder_name: str | None
    serial: int
    valid_from: datetime
    valid_until: datetime
    status: EntryStatus
    holder_key: HolderKeyKind
    holder_algorithm: str | None
    key_ref: str | None
    claim_names: tuple[str, ...]
    profiles: tuple[str, ...]
    label: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601). It carries the holder name: show it to the holder only."""
        return {
            "id": self.entry_id,
            "credential_type": self.credential_type,
            "type_label": {"zh": self.type_label_zh, "en": self.type_label_en},
            "issuer": None if self.issuer is None else {"zh": self.issuer.zh, "en": self.issuer.en},
            "issuer_kid": self.issuer_kid,
            "holder_name": self.holder_name,
            "serial": self.serial,
            "valid_from": _iso(self.valid_from),
            "valid_until": _iso(self.valid_until),
            "status": self.status.value,
            "holder_key": self.holder_key.value,
            "holder_algorithm": self.holder_algorithm,
            "key_ref": self.key_ref,
            "claims": list(self.claim_names),
            "profiles": list(self.profiles),
            "label": self.label,
        }

    def __repr__(self) -> str:
        return (
            f"WalletEntry({self.entry_id}, {self.credential_type}, {self.status.value}, "
            f"valid_until={_iso(self.valid_until)}, holder_key={self.holder_key.value})"
        )


@dataclass(frozen=True, slots=True)
class _KeyRecord:
    key_id: str
    algorithm: Algorithm
    public: bytes
    private_pem: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class _EntryRecord:
    entry_id: str
    credential: bytes = field(repr=False)
    key_id: str | None
    external: str | None
    issuer: IssuerName | None
    label: str | None = field(repr=False)
    #: The issuer key's algorithm when its hash suite is not SHA-2 (SM2): presentations are built in it.
    issuer_algorithm: Algorithm | None = None


_KEY_MODES = frozenset(mode.value for mode in KeyMode)
_ALGORITHMS = frozenset(alg.value for alg in Algorithm)
_BODY_FIELDS = frozenset({"wallet_id", "key_mode", "wallet_key", "keys", "entries"})
_KEY_FIELDS = frozenset({"id", "algorithm", "public", "private"})
_ENTRY_FIELDS = frozenset({"id", "credential", "key", "external", "issuer", "label"})
# Written only for an entry whose issuer hashes with another suite than SHA-2, so that files holding no
# such entry stay readable by versions before SM2.
_ENTRY_SUITE_FIELD = "issuer_algorithm"
_SUITE_ALGORITHMS = frozenset(alg.value for alg in Algorithm if alg.hash_suite is not HashSuite.SHA2)


@dataclass(slots=True)
class _State:
    """The decrypted contents of a vault. Changed only on a copy inside a write transaction."""

    wallet_id: bytes
    key_mode: KeyMode
    wallet_key: str | None
    keys: dict[str, _KeyRecord]
    entries: dict[str, _EntryRecord]

    def copy(self) -> _State:
        return _State(self.wallet_id, self.key_mode, self.wallet_key, dict(self.keys), dict(self.entries))

    def key_in_use(self, key_id: str) -> bool:
        return key_id == self.wallet_key or any(e.key_id == key_id for e in self.entries.values())

    def to_body(self) -> dict[str, Any]:
        return {
            "wallet_id": self.wallet_id,
            "key_mode": self.key_mode.value,
            "wallet_key": self.wallet_key,
            "keys": [
                {"id": k.key_id, "algorithm": k.algorithm.value, "public": k.public, "private": k.private_pem}
                for k in self.keys.values()
            ],
            "entries": [_entry_body(e) for e in self.entries.values()],
        }

    @classmethod
    def from_body(cls, body: Any, source: str) -> _State:
        """Check the shape of decrypted contents strictly (only a bug or a forger could break it)."""

        def bad(what: str) -> CorruptWalletError:
            return CorruptWalletError(f"the decrypted contents do not match the wallet format ({what})", source=source)

        if not isinstance(body, dict) or set(body) != _BODY_FIELDS:
            raise bad("top-level fields")
        wallet_id, mode, wallet_key = body["wallet_id"], body["key_mode"], body["wallet_key"]
        if not isinstance(wallet_id, bytes) or len(wallet_id) != 16:
            raise bad("wallet id")
        if not isinstance(mode, str) or mode not in _KEY_MODES:  # an unhashable value would raise TypeError
            raise bad("key mode")
        keys: dict[str, _KeyRecord] = {}
        if not isinstance(body["keys"], list):
            raise bad("keys")
        for item in body["keys"]:
            if not isinstance(item, dict) or set(item) != _KEY_FIELDS:
                raise bad("key record")
            key_id, algorithm, public, private = item["id"], item["algorithm"], item["public"], item["private"]
            if (
                not isinstance(key_id, str)
                or key_id in keys
                or not isinstance(algorithm, str)
                or algorithm not in _ALGORITHMS
                or not isinstance(public, bytes)
                or not isinstance(private, bytes)
            ):
                raise bad("key record")
            keys[key_id] = _KeyRecord(key_id, Algorithm(algorithm), public, private)
        if wallet_key is not None and (not isinstance(wallet_key, str) or wallet_key not in keys):
            raise bad("wallet key")
        entries: dict[str, _EntryRecord] = {}
        if not isinstance(body["entries"], list):
            raise bad("entries")
        for item in body["entries"]:
            if not isinstance(item, dict) or set(item) - {_ENTRY_SUITE_FIELD} != _ENTRY_FIELDS:
                raise bad("entry record")
            suite_algorithm = item.get(_ENTRY_SUITE_FIELD)
            if suite_algorithm is not None and (
                not isinstance(suite_algorithm, str) or suite_algorithm not in _SUITE_ALGORITHMS
            ):
                raise bad("entry record")
            entry_id, credential, key_id, external = item["id"], item["credential"], item["key"], item["external"]
            issuer, label = item["issuer"], item["label"]
            if (
                not isinstance(entry_id, str)
                or entry_id in entries
                or not isinstance(credential, bytes)
                or not (key_id is None or (isinstance(key_id, str) and key_id in keys))
                or not (external is None or isinstance(external, str))
                or (key_id is not None and external is not None)
                or not (label is None or isinstance(label, str))
                or not (
                    issuer is None
                    or (isinstance(issuer, list) and len(issuer) == 2 and all(isinstance(x, str) for x in issuer))
                )
            ):
                raise bad("entry record")
            name = None if issuer is None else IssuerName(issuer[0], issuer[1])
            algorithm = None if suite_algorithm is None else Algorithm(suite_algorithm)
            entries[entry_id] = _EntryRecord(entry_id, credential, key_id, external, name, label, algorithm)
        return cls(wallet_id, KeyMode(mode), wallet_key, keys, entries)


def _entry_body(entry: _EntryRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": entry.entry_id,
        "credential": entry.credential,
        "key": entry.key_id,
        "external": entry.external,
        "issuer": None if entry.issuer is None else [entry.issuer.zh, entry.issuer.en],
        "label": entry.label,
    }
    if entry.issuer_algorithm is not None:
        body[_ENTRY_SUITE_FIELD] = entry.issuer_algorithm.value
    return body


def _read_state(data: bytes, header: VaultHeader, key: VaultKey, source: str) -> _State:
    """Decrypt and check vault bytes; a format 2 header must name the wallet its body holds."""
    state = _State.from_body(unseal(data, header, key, source=source), source)
    if header.wallet_id is not None and header.wallet_id != state.wallet_id:
        raise CorruptWalletError("the header and the contents name different wallets", source=source)
    return state


def _wallet_id_from_hex(text: str | None) -> bytes | None:
    """The bytes of a :attr:`Wallet.wallet_id` an app kept; exactly its hex digits, nothing else."""
    if text is None:
        return None
    if not isinstance(text, str) or len(text) != 2 * WALLET_ID_BYTES or not set(text) <= _HEX_DIGITS:
        raise ValueError(f"a wallet id is {2 * WALLET_ID_BYTES} hex digits (Wallet.wallet_id)")
    return bytes.fromhex(text)


def _check_room(state: _State, *, entries: int, keys: int) -> None:
    if len(state.entries) + entries > MAX_ENTRIES or len(state.keys) + keys > MAX_KEYS:
        raise WalletError(
            f"a wallet holds at most {MAX_ENTRIES} credentials and {MAX_KEYS} keys",
            code=WalletErrorCode.LIMITS_EXCEEDED,
        )


def _new_key_record(algorithm: Algorithm) -> _KeyRecord:
    return _record_of(SigningKey.generate(algorithm))


def _record_of(key: SigningKey) -> _KeyRecord:
    return _KeyRecord(key.public_key.kid.hex(), key.algorithm, key.public_key.raw, key.to_pem())


def _key_id_of(credential: Credential) -> str:
    assert credential.holder_algorithm is not None and credential.holder_key is not None
    return PublicKey.from_raw(Algorithm(credential.holder_algorithm), credential.holder_key).kid.hex()


def _new_entry_id(state: _State) -> str:
    while True:
        entry_id = os.urandom(_ENTRY_ID_BYTES).hex()
        if entry_id not in state.entries:
            return entry_id


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
