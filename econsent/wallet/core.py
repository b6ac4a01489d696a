"""The :class:`Wallet`: credentials and software holder keys in one encrypted vault, on any storage.

Every change is one transaction under the storage's writer lock, re-reading the stored file first; a
file of another wallet or an older copy of this one is never accepted or written over. It presents
through :func:`econsent.present.present` and shows :class:`~econsent.wallet.codes.RotatingCode` s.
Nothing here reads the clock: every call takes ``now`` or a ``clock``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from .._vault import (
    DEFAULT_KDF,
    MAX_GENERATION,
    ScryptParams,
    VaultKey,
    VaultKind,
    derive_key,
    new_key,
    read_header,
    seal,
)
from .._wire import decode_payload
from ..errors import (
    CorruptWalletError,
    CredentialError,
    EntryNotFoundError,
    HolderKeyError,
    KeyLoadError,
    NotAWalletError,
    VerificationError,
    WalletChangedError,
    WalletError,
    WalletErrorCode,
    WalletExistsError,
    WalletNotFoundError,
    WalletRolledBackError,
    WalletSwappedError,
)
from ..keys import Algorithm, HashSuite, PublicKey, Signer, SigningKey
from ..model import Credential, Instant, IssuerName, from_unix, to_unix
from ..possession import PossessionProof, prove_possession
from ..present import DEFAULT_LIFETIME, check_request, issuer_key_algorithm, present, read_credential_unverified
from ..schema import BUILTIN_TYPES, TypeRegistry
from ..trust import TrustStore
from .codes import DEFAULT_REFRESH_BEFORE, RotatingCode
from .state import (
    MAX_ISSUER_NAME_CHARS,
    MAX_LABEL_CHARS,
    EntryStatus,
    ExternalKey,
    HolderKeyKind,
    KeyMode,
    SignerProvider,
    WalletEntry,
    _check_room,
    _EntryRecord,
    _key_id_of,
    _KeyRecord,
    _MappingProvider,
    _new_entry_id,
    _new_key_record,
    _read_state,
    _record_of,
    _State,
    _wallet_id_from_hex,
)
from .storage import Storage

__all__ = ["ImportReport", "Wallet"]

_T = TypeVar("_T")
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What :meth:`Wallet.import_backup` did: the ids of the entries added, and how many it already held."""

    added: tuple[str, ...]
    skipped: int


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
        issuer_algorithm: Algorithm | str | None = None,
    ) -> str:
        """Store a credential as the issuer sent it; returns its entry id.

        The holder key: ``None`` uses the wallet's own key the credential is bound to (made by
        :meth:`new_holder_key`); a :class:`~econsent.SigningKey` is imported and stored encrypted; an
        :class:`ExternalKey` stays outside (its signer must match now). Adding the same credential
        twice returns the first id and writes nothing. ``issuer`` labels the issuer for lists (else the
        trust store's name is used). The issuer's signature is NOT checked here (see ``docs/wallet.md``).

        ``issuer_algorithm`` is the issuer key's algorithm, whose hash suite presentations are built in
        (SPEC 4): by default the one a :class:`~econsent.Credential` from the issuer carries, else the
        trust store's key, else SHA-2's (ES256, Ed25519). Credential bytes from an SM2 issuer that the
        trust store does not know need ``issuer_algorithm="SM2"``, or their codes fail the issuer signature.
        """
        data = credential.encoded if isinstance(credential, Credential) else bytes(credential)
        parsed = read_credential_unverified(data, types=self._types)
        suite_algorithm = self._suite_algorithm(
            issuer_algorithm or (credential.issuer_algorithm if isinstance(credential, Credential) else None), parsed
        )
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
            state.entries[entry_id] = _EntryRecord(
                entry_id, data, key_id, external, issuer_name, label, suite_algorithm
            )
            return entry_id, True

        entry_id = self._change(apply)
        _log.debug("added entry %s (%s)", entry_id, parsed.credential_type)
        return entry_id

    def _suite_algorithm(self, named: Algorithm | str | None, parsed: Credential) -> Algorithm | None:
        """The issuer algorithm an entry records: only one whose hash suite is not SHA-2 (the default)."""
        if named is None and self._trust is not None:
            trusted = self._trust.get(parsed.kid)
            named = None if trusted is None else trusted.public_key.algorithm
        if named is None:
            return None
        algorithm = issuer_key_algorithm(named)  # present()'s reading, and its CredentialError for a wrong name
        return None if algorithm.hash_suite is HashSuite.SHA2 else algorithm

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
                if parsed is not None and record.issuer_algorithm is not None:
                    parsed = replace(parsed, issuer_algorithm=record.issuer_algorithm.value)
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
        check_request(
            credential, ctype, disclose=shown, profile=profile, lifetime=lifetime, nonce=nonce, audience=audience
        )
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


def _short_name(name: IssuerName) -> bool:
    return len(name.zh) <= MAX_ISSUER_NAME_CHARS and len(name.en) <= MAX_ISSUER_NAME_CHARS


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
