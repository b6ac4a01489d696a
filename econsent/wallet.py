"""The holder's side: a wallet of credentials and holder keys, and time-limited presentations.

A presentation is the credential with the claims the holder chose to show, stamped with the phone's
time and a short lifetime, optionally bound to a verifier's nonce and audience, and signed by the holder
key that the issuer bound into the credential. The holder key is behind the
:class:`~econsent.keys.Signer` interface, so it can live in a phone's secure hardware.

:class:`Wallet` keeps credentials and software holder keys in one encrypted vault (``_vault``), on any
:class:`~econsent._vault.Storage`; it lists them with type, issuer, holder name, validity and status,
exports and imports encrypted backups, and shows a credential as a :class:`RotatingCode` that renews
itself before it expires. Nothing here reads the clock: every call takes ``now`` or a ``clock``.
``docs/wallet.md`` is the guide for app developers.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar, runtime_checkable

from . import _disclosure
from ._envelope import sign_presentation
from ._vault import (
    DEFAULT_KDF,
    MAX_GENERATION,
    WALLET_ID_BYTES,
    CorruptWalletError,
    EmptyWalletError,
    FileStorage,
    MemoryStorage,
    NotAWalletError,
    ScryptParams,
    Storage,
    StorageError,
    TruncatedWalletError,
    UnsupportedWalletVersionError,
    VaultHeader,
    VaultKey,
    VaultKind,
    WalletChangedError,
    WalletError,
    WalletErrorCode,
    WalletExistsError,
    WalletLockedError,
    WalletNotFoundError,
    WalletRolledBackError,
    WalletSwappedError,
    WrongPassphraseError,
    derive_key,
    new_key,
    read_header,
    seal,
    unseal,
)
from ._wire import (
    MAX_AUDIENCE_CHARS,
    MAX_LIFETIME,
    MAX_NONCE_BYTES,
    MAX_PAYLOAD_BYTES,
    MIN_NONCE_BYTES,
    SIGNATURE_BYTES,
    WirePayload,
    decode_payload,
    pack,
    text_from_payload,
)
from .errors import CredentialError, KeyLoadError, VerificationError
from .keys import Algorithm, PublicKey, Signer, SigningKey
from .model import Credential, Instant, IssuerName, StatusReference, from_unix, to_unix
from .possession import PossessionProof, prove_possession
from .schema import BUILTIN_TYPES, CredentialType, SchemaError, TypeRegistry
from .trust import TrustStore

__all__ = [
    "DEFAULT_KDF",
    "DEFAULT_LIFETIME",
    "DEFAULT_REFRESH_BEFORE",
    "CorruptWalletError",
    "EmptyWalletError",
    "EntryNotFoundError",
    "EntryStatus",
    "ExternalKey",
    "FileStorage",
    "Frame",
    "HolderKeyError",
    "HolderKeyKind",
    "ImportReport",
    "KeyMode",
    "MemoryStorage",
    "NotAWalletError",
    "RotatingCode",
    "ScryptParams",
    "SignerProvider",
    "Storage",
    "StorageError",
    "TruncatedWalletError",
    "UnsupportedWalletVersionError",
    "Wallet",
    "WalletChangedError",
    "WalletEntry",
    "WalletError",
    "WalletErrorCode",
    "WalletExistsError",
    "WalletLockedError",
    "WalletNotFoundError",
    "WalletRolledBackError",
    "WalletSwappedError",
    "WrongPassphraseError",
    "present",
    "read_credential_unverified",
]

DEFAULT_LIFETIME = 60
_SIGNATURE_FIELD_BYTES = 2 + SIGNATURE_BYTES


def read_credential_unverified(data: bytes, *, types: TypeRegistry = BUILTIN_TYPES) -> Credential:
    """Parse a credential as the issuer produced it, WITHOUT checking the issuer's signature.

    For the holder's own storage. A verifier must use :class:`~econsent.verify.Verifier` instead.
    """
    wire, ctype = _parse(data, types)
    if wire.proof is not None or list(wire.seeds) != [_disclosure.ROOT] or wire.nodes:
        raise CredentialError("this is a presentation, not a credential as issued (it lacks the full seed)")
    h = wire.header
    indices = _disclosure.bits(h.present)
    if len(indices) != len(wire.values) or indices[-1] >= len(ctype.claims):
        raise CredentialError("the credential does not carry exactly the claims it was issued with")
    try:
        claims = {ctype.claims[i].name: ctype.claims[i].from_wire(v) for i, v in zip(indices, wire.values, strict=True)}
    except SchemaError as exc:
        raise CredentialError(f"a claim does not match the {ctype.name} type: {exc}") from exc
    return Credential(
        credential_type=ctype.name,
        kid=h.kid,
        serial=h.serial,
        issued_at=from_unix(h.issued_at),
        valid_from=from_unix(h.valid_from),
        valid_until=from_unix(h.valid_until),
        holder_algorithm=None if h.holder_alg is None else Algorithm.from_wire_id(h.holder_alg).value,
        holder_key=h.holder_key,
        claims=claims,
        encoded=bytes(data),
        status=None if h.status is None else StatusReference(*h.status),
    )


def present(
    credential: Credential,
    holder: Signer | None,
    *,
    now: Instant,
    lifetime: int = DEFAULT_LIFETIME,
    disclose: Iterable[str] | None = None,
    profile: str | None = None,
    nonce: bytes | None = None,
    audience: str | None = None,
    types: TypeRegistry = BUILTIN_TYPES,
) -> str:
    """Make the QR text of a presentation.

    Shows every claim unless ``disclose`` (claim names) or ``profile`` (a named set from the credential
    type, e.g. ``driving-check``) narrows it. A holder-bound credential needs its holder's signer and
    yields a presentation valid for ``lifetime`` seconds from ``now`` (the phone's clock). A bearer
    credential takes ``holder=None`` and yields a static code (no time, nonce or audience).
    """
    wire, ctype = _parse(credential.encoded, types)
    if wire.proof is not None or list(wire.seeds) != [_disclosure.ROOT]:
        raise CredentialError("present() needs the credential as issued, not a presentation")
    disclosed = sum(1 << i for i in _disclosed_indices(ctype, credential, disclose, profile))
    present_mask = wire.header.present
    indices = _disclosure.bits(present_mask)
    value_bytes = dict(zip(indices, wire.value_bytes, strict=True))
    depth = _disclosure.tree_depth(len(ctype.claims))
    root_seed = wire.seeds[_disclosure.ROOT]
    salts = _disclosure.leaf_salts(depth, {_disclosure.ROOT: root_seed}, present_mask)
    payload: list[Any] = [
        wire.header.to_wire(),
        [value for index, value in zip(indices, wire.values, strict=True) if disclosed >> index & 1],
        {
            node: _disclosure.node_seed(root_seed, node)
            for node in _disclosure.open_cover(depth, present_mask, disclosed)
        },
        {
            node: _disclosure.node_hash(depth, node, present_mask, salts, value_bytes.__getitem__, {})
            for node in _disclosure.closed_cover(depth, present_mask, disclosed)
        },
        wire.issuer_signature,
    ]
    if credential.is_bearer:
        if holder is not None or nonce is not None or audience is not None:
            raise CredentialError("a bearer credential has no holder key: it takes no signer, nonce or audience")
        return text_from_payload(_fitting(pack(payload)))
    if holder is None:
        raise CredentialError("this credential is bound to a holder key: give the holder's signer")
    if holder.public_key.raw != credential.holder_key:
        raise CredentialError("the signer's key is not the holder key this credential was issued to")
    _check_request(lifetime, nonce, audience)
    binding = None if nonce is None and audience is None else [nonce, audience]
    payload += [to_unix(now), lifetime, binding, bytes(SIGNATURE_BYTES)]
    unsigned = _fitting(pack(payload))
    signed_bytes = unsigned[:-_SIGNATURE_FIELD_BYTES]
    signature = sign_presentation(holder, signed_bytes)
    return text_from_payload(unsigned[:-SIGNATURE_BYTES] + signature)


def _fitting(payload: bytes) -> bytes:
    """The payload, if one QR code can carry it (a credential near the limit leaves no room for the proof)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CredentialError(
            f"the code would take {len(payload)} bytes, more than the {MAX_PAYLOAD_BYTES} a code holds: "
            "disclose fewer claims"
        )
    return payload


def _parse(data: bytes, types: TypeRegistry) -> tuple[WirePayload, CredentialType]:
    try:
        wire = decode_payload(data)
    except VerificationError as exc:
        raise CredentialError(f"not an econsent credential: {exc.detail or exc.code.sentence}") from exc
    ctype = types.by_id(wire.header.type_id)
    if ctype is None:
        raise CredentialError(f"unknown credential type id {wire.header.type_id}: pass its definition in types=")
    return wire, ctype


def _disclosed_indices(
    ctype: CredentialType, credential: Credential, disclose: Iterable[str] | None, profile: str | None
) -> set[int]:
    if disclose is not None and profile is not None:
        raise CredentialError("give either disclose or profile, not both")
    if profile is not None:
        if profile not in ctype.profiles:
            raise CredentialError(
                f"{ctype.name} has no profile {profile!r} (profiles: {', '.join(ctype.profiles) or 'none'})"
            )
        names = list(ctype.profiles[profile])
    elif disclose is not None:
        names = list(disclose)
    else:
        names = list(credential.claims)
    missing = sorted(set(names) - set(credential.claims))
    if missing:
        raise CredentialError(f"the credential has no claims {missing} to disclose")
    return {ctype.index_of(name) for name in names}


def _check_request(lifetime: int, nonce: bytes | None, audience: str | None) -> None:
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 1 <= lifetime <= MAX_LIFETIME:
        raise CredentialError(f"lifetime must be 1 to {MAX_LIFETIME} seconds")
    if nonce is not None and (not isinstance(nonce, bytes) or not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES):
        raise CredentialError(f"nonce must be {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes")
    if audience is not None and (not isinstance(audience, str) or not 1 <= len(audience) <= MAX_AUDIENCE_CHARS):
        raise CredentialError(f"audience must be 1 to {MAX_AUDIENCE_CHARS} characters")


# ---------------------------------------------------------------------------------------------
# The wallet

DEFAULT_REFRESH_BEFORE = 10
MAX_LABEL_CHARS = 128
MAX_ISSUER_NAME_CHARS = 256
MAX_KEY_REF_CHARS = 256
MAX_ENTRIES = 5_000
MAX_KEYS = 10_000
_ENTRY_ID_BYTES = 6
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_T = TypeVar("_T")
_log = logging.getLogger(__name__)


class EntryNotFoundError(WalletError):
    """No entry has this id (or, for a prefix, several do: code ``AMBIGUOUS_ENTRY``)."""

    default_code = WalletErrorCode.NO_SUCH_ENTRY


class HolderKeyError(WalletError):
    """The holder key of a credential is missing, unavailable on this device, or not the one it is bound to."""

    default_code = WalletErrorCode.HOLDER_KEY


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
class ImportReport:
    """What :meth:`Wallet.import_backup` did: the ids of the entries added, and how many it already held."""

    added: tuple[str, ...]
    skipped: int


@dataclass(frozen=True, slots=True, repr=False)
class Frame:
    """One QR code of a :class:`RotatingCode`: its text and when it was made, expires and should be renewed.

    A bearer credential's code is static: ``static`` is true and it "expires" with the credential.
    """

    text: str
    presented_at: datetime
    expires_at: datetime
    refresh_at: datetime
    static: bool = False

    def seconds_left(self, now: Instant) -> int:
        """Whole seconds until the code expires (0 when it has)."""
        return max(0, to_unix(self.expires_at) - to_unix(now))

    def seconds_to_refresh(self, now: Instant) -> int:
        """Whole seconds until the code should be replaced (0 when it should be now)."""
        return max(0, to_unix(self.refresh_at) - to_unix(now))

    def __repr__(self) -> str:
        return (
            f"Frame(presented_at={_iso(self.presented_at)}, expires_at={_iso(self.expires_at)}, "
            f"{len(self.text)} characters)"
        )


class RotatingCode:
    """A presentation that renews itself before it expires. The app drives the timer; nothing sleeps here.

    ``current(now)`` returns the frame to display at ``now``: the same frame until ``refresh_before``
    seconds before it expires, then a new one (also a new one if the clock went back before the
    frame was made, as when the user corrects the phone's time). Iterating calls ``current`` with
    the clock given to :meth:`Wallet.show`, so ``for frame in code:`` works with a sleep in the loop::

        for frame in wallet.show(entry_id, clock=now_utc):
            display(frame.text)
            wait(frame.seconds_to_refresh(now_utc()))

    Not thread-safe: drive one code from one thread.
    """

    __slots__ = ("_clock", "_frame", "_make", "_static_until", "lifetime", "refresh_before")

    def __init__(
        self,
        make: Callable[[int], str],
        *,
        clock: Callable[[], Instant],
        lifetime: int,
        refresh_before: int,
        static_until: datetime | None = None,
    ) -> None:
        self._make = make
        self._clock = clock
        self._frame: Frame | None = None
        self._static_until = static_until
        self.lifetime = lifetime
        self.refresh_before = refresh_before

    @property
    def frame(self) -> Frame | None:
        """The frame made last, if any (without renewing it)."""
        return self._frame

    def current(self, now: Instant) -> Frame:
        """The frame to show at ``now``, renewing it when due."""
        moment = to_unix(now)
        frame = self._frame
        if frame is None or moment >= to_unix(frame.refresh_at) or moment < to_unix(frame.presented_at):
            frame = self._new_frame(moment)
            self._frame = frame
        return frame

    def _new_frame(self, moment: int) -> Frame:
        text = self._make(moment)
        if self._static_until is not None:
            end = max(self._static_until, from_unix(moment))
            return Frame(text, from_unix(moment), end, end, static=True)
        expires = moment + self.lifetime
        return Frame(text, from_unix(moment), from_unix(expires), from_unix(expires - self.refresh_before))

    def __iter__(self) -> RotatingCode:
        return self

    def __next__(self) -> Frame:
        return self.current(self._clock())

    def __repr__(self) -> str:
        return f"RotatingCode(lifetime={self.lifetime}, refresh_before={self.refresh_before})"


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


_KEY_MODES = frozenset(mode.value for mode in KeyMode)
_ALGORITHMS = frozenset(alg.value for alg in Algorithm)
_BODY_FIELDS = frozenset({"wallet_id", "key_mode", "wallet_key", "keys", "entries"})
_KEY_FIELDS = frozenset({"id", "algorithm", "public", "private"})
_ENTRY_FIELDS = frozenset({"id", "credential", "key", "external", "issuer", "label"})


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
            "entries": [
                {
                    "id": e.entry_id,
                    "credential": e.credential,
                    "key": e.key_id,
                    "external": e.external,
                    "issuer": None if e.issuer is None else [e.issuer.zh, e.issuer.en],
                    "label": e.label,
                }
                for e in self.entries.values()
            ],
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
            if not isinstance(item, dict) or set(item) != _ENTRY_FIELDS:
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
            entries[entry_id] = _EntryRecord(entry_id, credential, key_id, external, name, label)
        return cls(wallet_id, KeyMode(mode), wallet_key, keys, entries)


class Wallet:
    """The holder's credentials and software holder keys, encrypted on a :class:`Storage`.

    Make one with :meth:`create` or :meth:`open` (the passphrase runs through scrypt once, ~350 ms with
    the default parameters; the derived key is kept while the object lives and the passphrase is not).
    Every change is one transaction: take the storage's writer lock, re-read the stored wallet (so
    changes by another process are kept), apply the change, write atomically, release. Reads use the
    state last loaded; :meth:`refresh` reloads it. Thread-safe.

    Every write raises the file's :attr:`generation`. The object never accepts, and so never writes
    over, a file of another wallet (:class:`WalletSwappedError`) or one that is not later than the one
    it holds (:class:`WalletRolledBackError`); it then keeps the state it holds (see ``docs/wallet.md``).
    """

    __slots__ = (
        "_credentials",
        "_data",
        "_generation",
        "_key",
        "_lock",
        "_signer_cache",
        "_signers",
        "_state",
        "_storage",
        "_trust",
        "_types",
    )

    def __init__(
        self,
        storage: Storage,
        key: VaultKey,
        state: _State,
        data: bytes,
        generation: int,
        *,
        signers: SignerProvider | Mapping[str, Signer] | None,
        trust: TrustStore | None,
        types: TypeRegistry,
    ) -> None:
        """Private: use :meth:`create` or :meth:`open`."""
        self._storage = storage
        self._key = key
        self._state = state
        self._data = data
        self._generation = generation
        self._signers: SignerProvider | None = _MappingProvider(signers) if isinstance(signers, Mapping) else signers
        self._trust = trust
        self._types = types
        self._lock = threading.RLock()
        self._credentials: dict[str, Credential | None] = {}
        self._signer_cache: dict[str, SigningKey] = {}

    # --- opening --------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        storage: Storage,
        passphrase: str | bytes,
        *,
        key_mode: KeyMode | str = KeyMode.PER_CREDENTIAL,
        kdf: ScryptParams = DEFAULT_KDF,
        signers: SignerProvider | Mapping[str, Signer] | None = None,
        trust: TrustStore | None = None,
        types: TypeRegistry = BUILTIN_TYPES,
    ) -> Wallet:
        """Create an empty wallet; never overwrites anything already in ``storage`` (:class:`WalletExistsError`).

        ``key_mode`` ``per-wallet`` makes one ES256 holder key now, for every credential (see ``docs/wallet.md``).
        ``kdf`` sets the scrypt cost; keep the default outside tests.
        """
        mode = KeyMode(key_mode)
        key = new_key(passphrase, kdf)
        state = _State(os.urandom(16), mode, None, {}, {})
        if mode is KeyMode.PER_WALLET:
            record = _new_key_record(Algorithm.ES256)
            state.keys[record.key_id] = record
            state.wallet_key = record.key_id
        with storage.lock():
            if storage.read() is not None:
                raise WalletExistsError(source=str(storage))
            data = seal(state.to_body(), key, VaultKind.WALLET, wallet_id=state.wallet_id, generation=1)
            storage.write(data)
        _log.debug("created wallet %s (%s holder keys)", storage, mode.value)
        return cls(storage, key, state, data, 1, signers=signers, trust=trust, types=types)

    @classmethod
    def open(
        cls,
        storage: Storage,
        passphrase: str | bytes,
        *,
        expected_id: str | None = None,
        min_generation: int = 0,
        signers: SignerProvider | Mapping[str, Signer] | None = None,
        trust: TrustStore | None = None,
        types: TypeRegistry = BUILTIN_TYPES,
    ) -> Wallet:
        """Open a wallet. Each failure has its own error: :class:`WalletNotFoundError`, :class:`WrongPassphraseError`,
        :class:`EmptyWalletError`, :class:`TruncatedWalletError`, :class:`CorruptWalletError`, :class:`NotAWalletError`,
        :class:`UnsupportedWalletVersionError`, :class:`WalletSwappedError`, :class:`WalletRolledBackError`.
        Opening never writes.

        ``expected_id`` (the :attr:`wallet_id` the app kept) refuses another wallet's file, whatever its
        passphrase; ``min_generation`` (the highest :attr:`generation` the app kept) refuses an older
        copy of this one. Keep both outside the file, in the platform keystore or app preferences.
        ``signers`` resolves external key references; ``trust`` names issuers; ``types`` adds
        deployment credential types.
        """
        pinned = _wallet_id_from_hex(expected_id)
        if isinstance(min_generation, bool) or not isinstance(min_generation, int):
            raise ValueError("min_generation is an integer (a Wallet.generation the app kept)")
        if not 0 <= min_generation <= MAX_GENERATION:
            raise ValueError("min_generation is 0 to 2**64 - 1")
        source = str(storage)
        data = storage.read()
        if data is None:
            raise WalletNotFoundError(source=source)
        header = read_header(data, source=source)
        if header.kind is not VaultKind.WALLET:
            raise NotAWalletError(
                "this is a wallet backup: import it into a wallet", code=WalletErrorCode.WRONG_KIND, source=source
            )
        # Before the KDF, so a swapped or older file is named as such whatever its passphrase; the AEAD
        # then authenticates the header these values came from.
        _check_id(header.wallet_id, pinned, source)
        _check_generation(header.generation, min_generation, source)
        key = derive_key(passphrase, header.params, header.salt)
        state = _read_state(data, header, key, source)
        _check_id(state.wallet_id, pinned, source)  # a format 1 file has its id only here
        _log.debug("opened wallet %s: %d entries, generation %d", storage, len(state.entries), header.generation)
        return cls(storage, key, state, data, header.generation, signers=signers, trust=trust, types=types)

    @property
    def generation(self) -> int:
        """How many times the wallet file has been written, as this object last read or wrote it (0: a
        format 1 file not rewritten yet). Keep the highest value seen, outside the file, and pass it to
        :meth:`open` as ``min_generation``: that refuses an older copy put back between two runs of the app."""
        return self._generation

    def refresh(self) -> None:
        """Reload the wallet from storage (to see changes made by another process).

        Another wallet's file or an older copy of this one raises :class:`WalletSwappedError` or
        :class:`WalletRolledBackError` and leaves this object's state as it was.
        """
        with self._lock:
            self._load_current()

    def replace_older_file(self) -> bool:
        """After :class:`WalletRolledBackError`: write the wallet this object holds over the older copy in
        storage, at a generation above both. False, and nothing written, when storage holds no older copy
        (another error, such as :class:`WalletSwappedError`, is raised as by :meth:`refresh`).

        Entries only the older copy holds (credentials removed since) are not brought back; to merge
        them anyway, read the older bytes first and :meth:`import_backup` them after this call.
        """
        with self._lock, self._storage.lock():
            try:
                self._load_current()
            except WalletRolledBackError:
                self._write(self._state, self._key)
                return True
            return False

    def _load_current(self) -> _State:
        """The stored state: the one held if the bytes are unchanged, else the later generation stored."""
        source = str(self._storage)
        data = self._storage.read()
        if data is None:
            raise WalletNotFoundError("the wallet was deleted while it was open", source=source)
        if data == self._data:
            return self._state
        header = read_header(data, source=source)
        if header.kind is not VaultKind.WALLET:
            raise NotAWalletError(
                "the wallet was replaced by another file", code=WalletErrorCode.WRONG_KIND, source=source
            )
        _check_id(header.wallet_id, self._state.wallet_id, source)
        # Other bytes than those held must be a later generation (format 1 files have none to compare).
        floor = self._generation + 1 if self._generation else 0
        if not self._key.matches(header):  # an older copy under an earlier passphrase, or re-encrypted elsewhere
            _check_generation(header.generation, floor, source)
            raise WalletChangedError(source=source)
        state = _read_state(data, header, self._key, source)  # damage is reported as damage, before lineage
        _check_id(state.wallet_id, self._state.wallet_id, source)
        _check_generation(header.generation, floor, source)
        self._state, self._data, self._generation = state, data, header.generation
        self._credentials.clear()
        return state

    def _change(self, apply: Callable[[_State], tuple[_T, bool]]) -> _T:
        """Run ``apply`` on a copy of the current stored state under the writer lock; write if it changed."""
        with self._lock, self._storage.lock():
            state = self._load_current().copy()
            result, changed = apply(state)
            if changed:
                self._write(state, self._key)
            return result

    def _write(self, state: _State, key: VaultKey) -> None:
        """Seal ``state`` at the next generation and write it; call under both locks."""
        generation = self._generation + 1
        if generation > MAX_GENERATION:  # only a file written by other software can be this far on
            raise WalletError(
                f"the wallet file is at generation {self._generation}, the last one there is",
                code=WalletErrorCode.LIMITS_EXCEEDED,
            )
        data = seal(state.to_body(), key, VaultKind.WALLET, wallet_id=state.wallet_id, generation=generation)
        self._storage.write(data)
        self._state, self._data, self._generation, self._key = state, data, generation, key
        _log.debug(
            "wrote wallet %s: %d entries, %d bytes, generation %d",
            self._storage,
            len(state.entries),
            len(data),
            generation,
        )

    # --- holder keys ----------------------------------------------------------------------------

    @property
    def key_mode(self) -> KeyMode:
        return self._state.key_mode

    @property
    def wallet_id(self) -> str:
        """A random id fixed when the wallet was created (kept in backups): tells wallets apart, nothing more."""
        return self._state.wallet_id.hex()

    def new_holder_key(self, algorithm: Algorithm | str = Algorithm.ES256) -> PublicKey:
        """The public key to send to the issuer for a new credential.

        Per-credential mode makes and stores a fresh key (pending until a credential bound to it is
        added); per-wallet mode returns the wallet key. ES256 is what phone hardware offers.
        """
        alg = Algorithm.parse(algorithm) if isinstance(algorithm, str) else algorithm
        with self._lock:
            wallet_key = self._state.wallet_key
            if wallet_key is not None:
                record = self._state.keys[wallet_key]
                if record.algorithm is not alg:
                    raise HolderKeyError(f"this wallet's single holder key is {record.algorithm.value}")
                return PublicKey.from_raw(record.algorithm, record.public)
            record = _new_key_record(alg)

            def apply(state: _State) -> tuple[None, bool]:
                _check_room(state, entries=0, keys=1)
                state.keys[record.key_id] = record
                return None, True

            self._change(apply)
            _log.debug("new %s holder key %s", alg.value, record.key_id)
            return PublicKey.from_raw(alg, record.public)

    def prove_possession(self, public_key: PublicKey, challenge: bytes, *, issuer_kid: bytes) -> PossessionProof:
        """Sign the issuer's ``challenge`` with the held key ``public_key`` (from :meth:`new_holder_key`),
        proving to the issuer with key id ``issuer_kid`` that this wallet controls the key to be bound."""
        with self._lock:
            record = self._state.keys.get(public_key.kid.hex())
        if record is None or record.algorithm is not public_key.algorithm or record.public != public_key.raw:
            raise HolderKeyError("the wallet holds no such key")
        try:
            signer = SigningKey.from_pem(record.private_pem)
        except KeyLoadError as exc:
            raise CorruptWalletError("a stored holder key cannot be loaded", source=str(self._storage)) from exc
        return prove_possession(signer, challenge, issuer_kid=issuer_kid)

    def pending_keys(self) -> list[PublicKey]:
        """Holder keys made by :meth:`new_holder_key` that no credential uses yet."""
        with self._lock:
            state = self._state
            return [
                PublicKey.from_raw(k.algorithm, k.public) for k in state.keys.values() if not state.key_in_use(k.key_id)
            ]

    def discard_holder_key(self, public_key: PublicKey) -> None:
        """Delete a pending holder key (an issuance that will not happen). Keys in use are refused."""
        key_id = public_key.kid.hex()

        def apply(state: _State) -> tuple[None, bool]:
            if key_id not in state.keys:
                raise HolderKeyError("the wallet holds no such key")
            if state.key_in_use(key_id):
                raise HolderKeyError("the key is in use by a credential; remove the credential instead")
            del state.keys[key_id]
            return None, True

        self._change(apply)
        self._signer_cache.pop(key_id, None)

    # --- credentials ----------------------------------------------------------------------------

    def add(
        self,
        credential: bytes | Credential,
        *,
        holder_key: SigningKey | ExternalKey | None = None,
        issuer: IssuerName | str | None = None,
        label: str | None = None,
    ) -> str:
        """Store a credential as the issuer sent it; returns its entry id.

        The holder key: ``None`` uses the wallet's own key the credential is bound to (made by
        :meth:`new_holder_key`); a :class:`~econsent.SigningKey` is imported and stored encrypted; an
        :class:`ExternalKey` stays outside (its signer must match now). Adding the same credential
        twice returns the first id and writes nothing. ``issuer`` labels the issuer for lists (else the
        trust store's name is used). The issuer's signature is NOT checked here (see ``docs/wallet.md``).
        """
        data = credential.encoded if isinstance(credential, Credential) else bytes(credential)
        parsed = read_credential_unverified(data, types=self._types)
        issuer_name = IssuerName(issuer) if isinstance(issuer, str) else issuer
        if issuer_name is not None and not _short_name(issuer_name):
            raise ValueError(f"an issuer name is at most {MAX_ISSUER_NAME_CHARS} characters in each language")
        if issuer_name is None and self._trust is not None:
            trusted = self._trust.get(parsed.kid)
            if trusted is not None and _short_name(trusted.issuer):  # else looked up again when listing
                issuer_name = trusted.issuer
        if label is not None and (not isinstance(label, str) or len(label) > MAX_LABEL_CHARS):
            raise ValueError(f"a label is at most {MAX_LABEL_CHARS} characters")
        imported: _KeyRecord | None = None
        external: str | None = None
        if parsed.is_bearer:
            if holder_key is not None:
                raise HolderKeyError("a bearer credential is not bound to any holder key")
        elif isinstance(holder_key, SigningKey):
            if holder_key.public_key.raw != parsed.holder_key:
                raise HolderKeyError("the given key is not the holder key this credential is bound to")
            imported = _record_of(holder_key)
        elif isinstance(holder_key, ExternalKey):
            self._check_external(holder_key.ref, parsed)
            external = holder_key.ref
        elif holder_key is not None:
            raise TypeError("holder_key must be a SigningKey, an ExternalKey or None")

        def apply(state: _State) -> tuple[str, bool]:
            for existing in state.entries.values():
                if existing.credential == data:
                    return existing.entry_id, False
            key_id: str | None = None
            if imported is not None:
                key_id = imported.key_id
                state.keys.setdefault(key_id, imported)
            elif external is None and not parsed.is_bearer:
                key_id = _key_id_of(parsed)
                if key_id not in state.keys:
                    raise HolderKeyError("the credential is bound to a key this wallet does not hold: pass holder_key=")
            _check_room(state, entries=1, keys=0 if key_id is None else 1)
            entry_id = _new_entry_id(state)
            state.entries[entry_id] = _EntryRecord(entry_id, data, key_id, external, issuer_name, label)
            return entry_id, True

        entry_id = self._change(apply)
        _log.debug("added entry %s (%s)", entry_id, parsed.credential_type)
        return entry_id

    def _check_external(self, ref: str, parsed: Credential) -> None:
        signer = self._external_signer(ref)
        try:
            matches = signer.public_key.raw == parsed.holder_key and signer.algorithm.value == parsed.holder_algorithm
        except Exception as exc:  # a platform signer can fail in any way
            raise HolderKeyError(f"the signer for key {ref!r} failed: {type(exc).__name__}") from exc
        if not matches:
            raise HolderKeyError(f"the external key {ref!r} is not the holder key this credential is bound to")

    def _external_signer(self, ref: str) -> Signer:
        if self._signers is None:
            raise HolderKeyError(f"the key {ref!r} is outside the wallet: open the wallet with signers=")
        try:
            return self._signers.signer(ref)
        except Exception as exc:  # KeyError, or any platform failure: never let it escape untyped
            raise HolderKeyError(f"no signer available for key {ref!r}: {type(exc).__name__}") from exc

    def remove(self, entry_id: str) -> None:
        """Delete an entry, and its holder key when no other entry uses it. This cannot be undone."""

        def apply(state: _State) -> tuple[str | None, bool]:
            record = state.entries.pop(entry_id, None)
            if record is None:
                raise EntryNotFoundError(f"no entry {entry_id!r}")
            dropped = None
            if record.key_id is not None and not state.key_in_use(record.key_id):
                del state.keys[record.key_id]
                dropped = record.key_id
            return dropped, True

        with self._lock:
            dropped = self._change(apply)
            self._credentials.pop(entry_id, None)
            if dropped is not None:
                self._signer_cache.pop(dropped, None)
        _log.debug("removed entry %s", entry_id)

    @property
    def entry_ids(self) -> tuple[str, ...]:
        """The ids of the entries, in the order they were added."""
        return tuple(self._state.entries)

    def __len__(self) -> int:
        return len(self._state.entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._state.entries

    def find(self, prefix: str) -> str:
        """The entry id equal to, or uniquely starting with, ``prefix`` (for command lines)."""
        ids = self._state.entries
        if prefix in ids:
            return prefix
        matches = [entry_id for entry_id in ids if prefix and entry_id.startswith(prefix)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise EntryNotFoundError(
                f"{len(matches)} entries start with {prefix!r}", code=WalletErrorCode.AMBIGUOUS_ENTRY
            )
        raise EntryNotFoundError(f"no entry {prefix!r}")

    def credential(self, entry_id: str) -> Credential:
        """The stored credential (with every claim: personal data)."""
        with self._lock:
            credential = self._parsed(self._record(entry_id))
        if credential is None:
            raise CredentialError(f"entry {entry_id} holds a credential of a type this wallet was not opened with")
        return credential

    def entry(self, entry_id: str, *, now: Instant) -> WalletEntry:
        """One entry described at ``now``."""
        with self._lock:
            return self._describe(self._record(entry_id), to_unix(now))

    def entries(self, *, now: Instant) -> list[WalletEntry]:
        """Every entry described at ``now``, in the order added."""
        moment = to_unix(now)
        with self._lock:
            return [self._describe(record, moment) for record in self._state.entries.values()]

    def _record(self, entry_id: str) -> _EntryRecord:
        record = self._state.entries.get(entry_id)
        if record is None:
            raise EntryNotFoundError(f"no entry {entry_id!r}")
        return record

    def _parsed(self, record: _EntryRecord) -> Credential | None:
        """The parsed credential, or None for a type not in the registry (it stays stored, never lost)."""
        if record.entry_id not in self._credentials:
            try:
                parsed: Credential | None = read_credential_unverified(record.credential, types=self._types)
            except CredentialError:
                parsed = None
            self._credentials[record.entry_id] = parsed
        return self._credentials[record.entry_id]

    def _describe(self, record: _EntryRecord, moment: int) -> WalletEntry:
        credential = self._parsed(record)
        if credential is not None:
            ctype = self._types.by_name(credential.credential_type)
            type_name, kid, serial = credential.credential_type, credential.kid, credential.serial
            start, end = to_unix(credential.valid_from), to_unix(credential.valid_until)
            holder_alg, claims = credential.holder_algorithm, credential.claims
        else:
            try:
                header = decode_payload(record.credential).header  # it parsed when it was added
            except VerificationError as exc:
                raise CorruptWalletError("a stored credential cannot be read", source=str(self._storage)) from exc
            ctype, type_name, kid, serial = None, f"type-{header.type_id}", header.kid, header.serial
            start, end = header.valid_from, header.valid_until
            holder_alg = None if header.holder_alg is None else Algorithm.from_wire_id(header.holder_alg).value
            claims = {}
        issuer = record.issuer
        if issuer is None and self._trust is not None:
            trusted = self._trust.get(kid)
            issuer = None if trusted is None else trusted.issuer
        if moment < start:
            status = EntryStatus.NOT_YET_VALID
        elif moment > end:
            status = EntryStatus.EXPIRED
        else:
            status = EntryStatus.VALID
        if record.key_id is not None:
            kind = HolderKeyKind.WALLET
        elif record.external is not None:
            kind = HolderKeyKind.EXTERNAL
        else:
            kind = HolderKeyKind.NONE
        return WalletEntry(
            entry_id=record.entry_id,
            credential_type=type_name,
            type_label_zh=ctype.label_zh if ctype else "",
            type_label_en=ctype.label_en if ctype else "",
            issuer=issuer,
            issuer_kid=kid.hex(),
            holder_name=_holder_name(claims),
            serial=serial,
            valid_from=from_unix(start),
            valid_until=from_unix(end),
            status=status,
            holder_key=kind,
            holder_algorithm=holder_alg,
            key_ref=record.external,
            claim_names=tuple(claims),
            profiles=tuple(name for name, members in ctype.profiles.items() if set(members) <= set(claims))
            if ctype
            else (),
            label=record.label,
        )

    # --- presenting -----------------------------------------------------------------------------

    def present(
        self,
        entry_id: str,
        *,
        now: Instant,
        lifetime: int = DEFAULT_LIFETIME,
        profile: str | None = None,
        disclose: Iterable[str] | None = None,
        nonce: bytes | None = None,
        audience: str | None = None,
    ) -> str:
        """One presentation's QR text, signed by the entry's holder key (see :func:`present`)."""
        with self._lock:
            record = self._record(entry_id)
            credential = self.credential(entry_id)
            signer = self._signer_for(record)
        return present(
            credential,
            signer,
            now=now,
            lifetime=lifetime,
            profile=profile,
            disclose=disclose,
            nonce=nonce,
            audience=audience,
            types=self._types,
        )

    def show(
        self,
        entry_id: str,
        *,
        clock: Callable[[], Instant],
        lifetime: int = DEFAULT_LIFETIME,
        refresh_before: int = DEFAULT_REFRESH_BEFORE,
        profile: str | None = None,
        disclose: Iterable[str] | None = None,
        nonce: bytes | None = None,
        audience: str | None = None,
    ) -> RotatingCode:
        """A code that renews itself ``refresh_before`` seconds before each ``lifetime`` ends.

        The choice of claims and the lifetime are checked now, so a bad profile fails here and not at
        the first frame. ``clock`` is only used when the code is iterated; ``current(now)`` takes the time.
        """
        credential = self.credential(entry_id)
        ctype = self._types.by_name(credential.credential_type)
        assert ctype is not None  # the credential parsed with these types
        shown = None if disclose is None else tuple(disclose)
        _disclosed_indices(ctype, credential, shown, profile)
        if credential.is_bearer:
            if nonce is not None or audience is not None:
                raise CredentialError("a bearer credential has no holder key: it takes no nonce or audience")
        else:
            _check_request(lifetime, nonce, audience)
        if (
            isinstance(refresh_before, bool)
            or not isinstance(refresh_before, int)
            or not 0 <= refresh_before < lifetime
        ):
            raise CredentialError("refresh_before must be at least 0 and less than the lifetime")

        def make(moment: int) -> str:
            text = self.present(
                entry_id,
                now=moment,
                lifetime=lifetime,
                profile=profile,
                disclose=shown,
                nonce=nonce,
                audience=audience,
            )
            _log.debug("new code for entry %s at %d", entry_id, moment)
            return text

        return RotatingCode(
            make,
            clock=clock,
            lifetime=lifetime,
            refresh_before=refresh_before,
            static_until=credential.valid_until if credential.is_bearer else None,
        )

    def _signer_for(self, record: _EntryRecord) -> Signer | None:
        if record.external is not None:
            return self._external_signer(record.external)
        if record.key_id is None:
            return None
        signer = self._signer_cache.get(record.key_id)
        if signer is None:
            try:
                signer = SigningKey.from_pem(self._state.keys[record.key_id].private_pem)
            except KeyLoadError as exc:
                raise CorruptWalletError("a stored holder key cannot be loaded", source=str(self._storage)) from exc
            self._signer_cache[record.key_id] = signer
        return signer

    # --- backup and passphrase ------------------------------------------------------------------

    def export_backup(self, backup_passphrase: str | bytes, *, kdf: ScryptParams = DEFAULT_KDF) -> bytes:
        """Every entry and software key, sealed under a separate backup passphrase (same file format,
        kind "backup"). Keys behind an :class:`ExternalKey` stay in their hardware: only the reference
        is exported, so such credentials work after a restore only on the device that holds the key."""
        backup_key = new_key(backup_passphrase, kdf)
        with self._lock:
            state = self._load_current()
            data = seal(
                state.to_body(), backup_key, VaultKind.BACKUP, wallet_id=state.wallet_id, generation=self._generation
            )
        _log.debug("exported a backup of %d entries", len(state.entries))
        return data

    def import_backup(self, data: bytes, backup_passphrase: str | bytes) -> ImportReport:
        """Merge a backup (or a copy of a wallet file) into this wallet: entries it already holds (the same
        credential bytes) are skipped; others keep their ids unless taken. Errors as for :meth:`open`."""
        header = read_header(data, source="backup")
        key = derive_key(backup_passphrase, header.params, header.salt)
        incoming = _read_state(data, header, key, "backup")

        def apply(state: _State) -> tuple[ImportReport, bool]:
            _check_room(state, entries=len(incoming.entries), keys=len(incoming.keys))
            held = {record.credential for record in state.entries.values()}
            added: list[str] = []
            skipped = 0
            for record in incoming.entries.values():
                if record.credential in held:
                    skipped += 1
                    continue
                entry_id = record.entry_id if record.entry_id not in state.entries else _new_entry_id(state)
                state.entries[entry_id] = replace(record, entry_id=entry_id)
                held.add(record.credential)
                added.append(entry_id)
            new_keys = {key_id: k for key_id, k in incoming.keys.items() if key_id not in state.keys}
            state.keys.update(new_keys)
            return ImportReport(tuple(added), skipped), bool(added or new_keys)

        report = self._change(apply)
        _log.debug("imported a backup: %d added, %d already held", len(report.added), report.skipped)
        return report

    def change_passphrase(self, new_passphrase: str | bytes, *, kdf: ScryptParams | None = None) -> None:
        """Re-encrypt the wallet under a new passphrase (fresh salt; ``kdf`` defaults to the current cost)."""
        key = new_key(new_passphrase, kdf or self._key.params)
        with self._lock, self._storage.lock():
            self._write(self._load_current(), key)
        _log.debug("changed the passphrase of wallet %s", self._storage)

    def __repr__(self) -> str:
        return f"Wallet({self._storage!r}, {len(self._state.entries)} entries, {self._state.key_mode.value} keys)"


def _read_state(data: bytes, header: VaultHeader, key: VaultKey, source: str) -> _State:
    """Decrypt and check vault bytes; a format 2 header must name the wallet its body holds."""
    state = _State.from_body(unseal(data, header, key, source=source), source)
    if header.wallet_id is not None and header.wallet_id != state.wallet_id:
        raise CorruptWalletError("the header and the contents name different wallets", source=source)
    return state


def _check_id(found: bytes | None, expected: bytes | None, source: str) -> None:
    """Refuse another wallet's file (either id may be unknown: a format 1 header, an app that pins none)."""
    if found is not None and expected is not None and found != expected:
        raise WalletSwappedError(f"the file is wallet {found.hex()}, not {expected.hex()}", source=source)


def _check_generation(found: int, floor: int, source: str) -> None:
    """Refuse an older copy of the wallet: a file whose generation is below ``floor``."""
    if found < floor:
        raise WalletRolledBackError(
            f"the file is at generation {found}; this app needs generation {floor} or later", source=source
        )


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


def _short_name(name: IssuerName) -> bool:
    return len(name.zh) <= MAX_ISSUER_NAME_CHARS and len(name.en) <= MAX_ISSUER_NAME_CHARS


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


def _holder_name(claims: Mapping[str, Any]) -> str | None:
    """A display name from the claims: family and given name, else the company, else both spouses."""
    family, given = claims.get("family_name"), claims.get("given_name")
    parts = [part for part in (family, given) if isinstance(part, str) and part]
    if len(parts) == 2:
        return "".join(parts) if not any(part.isascii() for part in parts) else f"{parts[1]} {parts[0]}"
    if parts:
        return parts[0]
    for name in ("company_name", "name"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    spouses = [
        spouse
        for spouse in (claims.get("spouse_a_name"), claims.get("spouse_b_name"))
        if isinstance(spouse, str) and spouse
    ]
    return " & ".join(spouses) if spouses else None


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
