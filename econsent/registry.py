"""The issuer registry: what an issuer has issued, each credential's status, and its status lists.

One SQLite file (WAL mode, no server). Each issued credential gets the next serial and the next free
status slot (lists of ``list_size`` entries, list ids from 0) and is recorded with its type, slot, issuance
time and validity; its claims only if the issuer opts in. Issuing is one transaction: if signing fails
nothing is recorded, and if recording fails the credential is not returned. Revoke, suspend and reinstate
keep an audit trail; ``publish`` signs a list from the table with a sequence number that grows on every
publication. Nothing here logs, and error messages never carry claim values.

A registry is bound to its issuer's keys: it records them at creation (and rotated keys added with
:meth:`IssuerRegistry.add_key`) and refuses to issue or publish with any other key, so a wrong key can
neither use up serials nor publish a list every verifier would refuse. Serials count from 1 and each
takes a status slot; slots end at 65,536 lists of at most 2**28 entries, so a serial never outgrows
SQLite's signed 64-bit INTEGER, and asking for any serial of the wire's range (0 to 2**64 - 1) is answered.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ._envelope import sign_registration, verify_registration
from ._wire import MAX_STATUS_LIST_ID
from .errors import RegistryError, RegistryErrorCode
from .issue import Issuer
from .keys import PublicKey, Signer
from .model import Credential, Instant, StatusReference, claims_to_json, from_unix, to_unix
from .possession import KeyAttestation, PossessionProof
from .schema import ClaimValue
from .status import MAX_ISSUER_REF_CHARS, MAX_STATUS_LIST_ENTRIES, CredentialStatus, StatusListBuilder
from .trust import RESERVED_ISSUER_ID_PREFIX

__all__ = [
    "DEFAULT_LIST_SIZE",
    "AuditEntry",
    "CredentialRecord",
    "IssuerRegistry",
    "RegistryError",
    "RegistryErrorCode",
]

DEFAULT_LIST_SIZE = 1_000_000
MAX_REASON_CHARS = 500
MAX_SERIAL = 2**64 - 1  # the wire's range; the registry itself hands out far fewer (one per status slot)
_SQLITE_MAX_INTEGER = 2**63 - 1
_SCHEMA_VERSION = 2
_STATUS_VALUES = {CredentialStatus.VALID: 0, CredentialStatus.REVOKED: 1, CredentialStatus.SUSPENDED: 2}
_STATUS_OF_VALUE = {value: status for status, value in _STATUS_VALUES.items()}

_SCHEMA = """
CREATE TABLE registry (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    issuer_ref TEXT NOT NULL,
    list_size INTEGER NOT NULL,
    next_serial INTEGER NOT NULL,
    next_slot INTEGER NOT NULL
);
CREATE TABLE credentials (
    serial INTEGER PRIMARY KEY,
    credential_type TEXT NOT NULL,
    kid BLOB NOT NULL,
    list_id INTEGER NOT NULL,
    status_index INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    status INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2)),
    status_changed_at INTEGER,
    claims TEXT,
    UNIQUE (list_id, status_index)
);
CREATE INDEX credentials_not_valid ON credentials (list_id, status, status_index) WHERE status != 0;
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    serial INTEGER NOT NULL REFERENCES credentials (serial),
    at INTEGER NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('issue', 'revoke', 'suspend', 'reinstate')),
    old_status INTEGER,
    new_status INTEGER NOT NULL,
    reason TEXT
);
CREATE TABLE publications (
    list_id INTEGER PRIMARY KEY,
    sequence INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    kid BLOB NOT NULL
);
CREATE TABLE issuer_keys (
    kid BLOB PRIMARY KEY,
    public_key TEXT NOT NULL,
    added_at INTEGER NOT NULL
);
"""
# Version 1 registries (no recorded keys) are upgraded in place; they then refuse every key until the
# issuer registers its own: guessing them from what was signed would bless a rogue key used before.
_UPGRADE_FROM_1 = _SCHEMA[_SCHEMA.index("CREATE TABLE issuer_keys") :]


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """What the registry knows about one issued credential (never its claims)."""

    serial: int
    credential_type: str
    kid: bytes
    reference: StatusReference
    issued_at: _dt.datetime
    valid_from: _dt.datetime
    valid_until: _dt.datetime
    status: CredentialStatus
    status_changed_at: _dt.datetime | None
    has_personal_data: bool


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change of a credential's status (issuance included)."""

    at: _dt.datetime
    action: str
    old_status: CredentialStatus | None
    new_status: CredentialStatus
    reason: str | None


class IssuerRegistry:
    """An issuer's record of issued credentials and their status, in one SQLite file.

    One instance per thread (it holds an SQLite connection); any number of threads and processes may open
    the same file: every change is a transaction that takes the write lock first.
    """

    __slots__ = ("_db", "_issuer_ref", "_list_size", "_path")

    def __init__(self, db: sqlite3.Connection, path: Path, issuer_ref: str, list_size: int) -> None:
        self._db = db
        self._path = path
        self._issuer_ref = issuer_ref
        self._list_size = list_size

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        issuer_ref: str | None = None,
        issuer_keys: Iterable[PublicKey] = (),
        list_size: int | None = None,
        create: bool = True,
    ) -> IssuerRegistry:
        """Open a registry, creating it (readable by the owner only) when ``create`` and it does not exist.

        A new registry needs ``issuer_keys``, the public keys it will issue and publish with, and an
        ``issuer_ref``: the ``TrustedKey.issuer_ref`` verifiers know the issuer by (its ``issuer_id``, or
        ``kid:<hex>`` for a single key without one, the default when one key is given). ``list_size``
        defaults to 1,000,000 and is fixed at creation; values given for an existing registry must match
        it, and keys given for one must be registered in it.
        """
        file = Path(path)
        keys = tuple(issuer_keys)
        if not file.exists():
            if not create:
                raise RegistryError(RegistryErrorCode.WRONG_REGISTRY, f"no issuer registry at {file}")
            issuer_ref = _default_ref(issuer_ref, keys)
            _check_new(issuer_ref, DEFAULT_LIST_SIZE if list_size is None else list_size, keys)
            try:
                os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
            except FileExistsError:
                pass  # another process is creating it: the schema is made under the write lock, once
            except OSError as exc:
                raise RegistryError(RegistryErrorCode.STORAGE, f"cannot create {file}: {exc.strerror}") from exc
        if file.is_symlink():  # sqlite would follow it, and create the file and its journals elsewhere
            raise RegistryError(RegistryErrorCode.STORAGE, f"{file} is a symbolic link: give the registry file itself")
        try:
            db = sqlite3.connect(file, isolation_level=None)
        except sqlite3.Error as exc:
            raise RegistryError(RegistryErrorCode.STORAGE, f"cannot open {file}: {exc}") from exc
        try:
            stored_ref, stored_size = _prepare(db, file, issuer_ref, list_size, keys)
        except BaseException:
            db.close()
            raise
        return cls(db, file, stored_ref, stored_size)

    @property
    def issuer_ref(self) -> str:
        return self._issuer_ref

    @property
    def list_size(self) -> int:
        return self._list_size

    @property
    def path(self) -> Path:
        return self._path

    @property
    def issuer_keys(self) -> tuple[PublicKey, ...]:
        """The public keys this registry issues and publishes with, in the order they were registered."""
        rows = self._query("SELECT public_key FROM issuer_keys ORDER BY added_at, kid").fetchall()
        return tuple(PublicKey.from_pem(pem) for (pem,) in rows)

    def add_key(self, key: PublicKey, *, now: Instant, authorised_by: Signer) -> None:
        """Register another public key of this issuer (a rotation), to issue and publish with from now on.

        ``authorised_by`` must hold a key already registered here, and it signs its consent to the new key
        (so whoever can write to the registry file cannot register a key of their choosing); a registry
        with no key yet (one upgraded from schema 1) takes the new key's own signer, which proves the
        office holds it. The key must be one verifiers' trust stores place under this registry's
        ``issuer_ref``; for a registry named after a key (``kid:<hex>``) no other key can be. Registering
        a key twice is refused.
        """
        if not isinstance(key, PublicKey):
            raise RegistryError(RegistryErrorCode.BAD_INPUT, "give the issuer's public key")
        _check_key_fits(self._issuer_ref, (key,))
        registered = self.issuer_keys
        self._check_authority(key, authorised_by, registered)
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM issuer_keys WHERE kid = ?", (key.kid,)).fetchone():
                raise RegistryError(RegistryErrorCode.BAD_INPUT, f"key {key.kid.hex()} is already registered")
            db.execute(
                "INSERT INTO issuer_keys (kid, public_key, added_at) VALUES (?, ?, ?)",
                (key.kid, key.to_pem().decode("ascii"), to_unix(now)),
            )

    @staticmethod
    def _check_authority(key: PublicKey, authorised_by: Signer, registered: tuple[PublicKey, ...]) -> None:
        """Refuse unless ``authorised_by`` is a registered key (or, with none registered, ``key`` itself)
        and signs its consent to ``key`` over a fresh nonce."""
        public = getattr(authorised_by, "public_key", None)
        if not isinstance(public, PublicKey):
            raise RegistryError(RegistryErrorCode.BAD_INPUT, "authorise the new key with a signer (a private key)")
        allowed = registered or (key,)
        if public not in allowed:
            names = ", ".join(k.kid.hex() for k in allowed)
            raise RegistryError(
                RegistryErrorCode.WRONG_KEY,
                f"key {public.kid.hex()} may not register keys here: sign with a registered key ({names})",
            )
        nonce = os.urandom(16)
        if not verify_registration(public, sign_registration(authorised_by, key.kid, nonce), key.kid, nonce):
            raise RegistryError(RegistryErrorCode.WRONG_KEY, f"the signer does not hold key {public.kid.hex()}")

    @property
    def list_ids(self) -> range:
        """The lists in use: 0 up to the list of the last slot handed out (list 0 exists from the start)."""
        (next_slot,) = self._query("SELECT next_slot FROM registry").fetchone()
        return range(max(0, next_slot - 1) // self._list_size + 1)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> IssuerRegistry:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"IssuerRegistry({str(self._path)!r}, issuer_ref={self._issuer_ref!r}, list_size={self._list_size})"

    def issue(
        self,
        issuer: Issuer,
        credential_type: str,
        claims: Mapping[str, ClaimValue],
        *,
        holder_key: PublicKey | None,
        possession: PossessionProof | KeyAttestation | None = None,
        challenge: bytes | None = None,
        valid_from: Instant,
        valid_until: Instant,
        now: Instant,
        derive: Iterable[str] = (),
        record_personal_data: bool = False,
    ) -> Credential:
        """Issue a credential with the next serial and status slot, and record it, in one transaction.

        ``possession`` and ``challenge`` go to :meth:`Issuer.issue` (the holder's proof of possession)."""
        self._check_key(issuer.public_key)
        with self._transaction() as db:
            serial, slot = db.execute("SELECT next_serial, next_slot FROM registry").fetchone()
            list_id, index = divmod(slot, self._list_size)
            if list_id > MAX_STATUS_LIST_ID:
                raise RegistryError(
                    RegistryErrorCode.LISTS_FULL,
                    f"all {MAX_STATUS_LIST_ID + 1} status lists of {self._list_size} entries are full",
                )
            credential = issuer.issue(
                credential_type,
                claims,
                holder_key=holder_key,
                possession=possession,
                challenge=challenge,
                valid_from=valid_from,
                valid_until=valid_until,
                now=now,
                serial=serial,
                derive=derive,
                status=StatusReference(list_id, index),
            )
            issued_at = to_unix(credential.issued_at)
            personal = (
                json.dumps(claims_to_json(credential.claims), ensure_ascii=False) if record_personal_data else None
            )
            db.execute(
                "INSERT INTO credentials (serial, credential_type, kid, list_id, status_index, issued_at, valid_from, "
                "valid_until, claims) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    serial,
                    credential.credential_type,
                    credential.kid,
                    list_id,
                    index,
                    issued_at,
                    to_unix(credential.valid_from),
                    to_unix(credential.valid_until),
                    personal,
                ),
            )
            db.execute(
                "INSERT INTO audit (serial, at, action, old_status, new_status) VALUES (?, ?, 'issue', NULL, 0)",
                (serial, issued_at),
            )
            db.execute("UPDATE registry SET next_serial = ?, next_slot = ?", (serial + 1, slot + 1))
        return credential

    def revoke(self, serial: int, *, now: Instant, reason: str | None = None) -> CredentialStatus:
        """Revoke for good: a revoked credential can never be suspended or reinstated. Returns the old status."""
        return self._change(serial, CredentialStatus.REVOKED, "revoke", now, reason)

    def suspend(self, serial: int, *, now: Instant, reason: str | None = None) -> CredentialStatus:
        """Suspend a valid credential until it is reinstated (or revoked). Returns the old status."""
        return self._change(serial, CredentialStatus.SUSPENDED, "suspend", now, reason)

    def reinstate(self, serial: int, *, now: Instant, reason: str | None = None) -> CredentialStatus:
        """Make a suspended credential valid again (only a suspended one). Returns the old status."""
        return self._change(serial, CredentialStatus.VALID, "reinstate", now, reason)

    def status_of(self, serial: int) -> CredentialStatus:
        return self.record(serial).status

    def record(self, serial: int) -> CredentialRecord:
        _check_serial(serial)
        row = self._query(
            "SELECT credential_type, kid, list_id, status_index, issued_at, valid_from, valid_until, status, "
            "status_changed_at, claims IS NOT NULL FROM credentials WHERE serial = ?",
            (serial,),
        ).fetchone()
        if row is None:
            raise RegistryError(RegistryErrorCode.UNKNOWN_SERIAL, f"no credential with serial {serial}")
        ctype, kid, list_id, index, issued_at, valid_from, valid_until, status, changed_at, personal = row
        return CredentialRecord(
            serial=serial,
            credential_type=ctype,
            kid=kid,
            reference=StatusReference(list_id, index),
            issued_at=from_unix(issued_at),
            valid_from=from_unix(valid_from),
            valid_until=from_unix(valid_until),
            status=_STATUS_OF_VALUE[status],
            status_changed_at=None if changed_at is None else from_unix(changed_at),
            has_personal_data=bool(personal),
        )

    def history(self, serial: int) -> tuple[AuditEntry, ...]:
        """The audit trail of one credential, oldest first."""
        self.record(serial)
        rows = self._query(
            "SELECT at, action, old_status, new_status, reason FROM audit WHERE serial = ? ORDER BY id", (serial,)
        ).fetchall()
        return tuple(
            AuditEntry(
                at=from_unix(at),
                action=action,
                old_status=None if old is None else _STATUS_OF_VALUE[old],
                new_status=_STATUS_OF_VALUE[new],
                reason=reason,
            )
            for at, action, old, new, reason in rows
        )

    def publish(self, list_id: int, signer: Signer, *, now: Instant, next_update: Instant) -> bytes:
        """Sign status list ``list_id`` as the table says now, with the list's next sequence number.

        Reading the statuses and taking the sequence number is one short transaction; compressing and
        signing happen after it, so issuing and revoking are never held up by a large list. If signing
        fails, that sequence number stays unused: sequence numbers only ever grow, gaps are harmless.
        Only a registered key signs (``WRONG_KEY`` otherwise), and a signer whose signature does not
        verify with its public key is refused (``SignerError``): nothing is published that verifiers refuse.
        """
        self._check_key(signer.public_key)
        if isinstance(list_id, bool) or not isinstance(list_id, int):
            raise RegistryError(RegistryErrorCode.BAD_INPUT, "a list id is an integer")
        issued, until = to_unix(now), to_unix(next_update)
        if issued >= until:
            raise RegistryError(RegistryErrorCode.BAD_INPUT, "next_update must be after now")
        builder = StatusListBuilder(self._list_size)
        with self._transaction() as db:
            if list_id not in self.list_ids:
                raise RegistryError(
                    RegistryErrorCode.UNKNOWN_LIST, f"list {list_id} is not in use (lists 0..{self.list_ids[-1]})"
                )
            for status in (CredentialStatus.REVOKED, CredentialStatus.SUSPENDED):
                cursor = db.execute(
                    "SELECT status_index FROM credentials WHERE list_id = ? AND status = ?",
                    (list_id, _STATUS_VALUES[status]),
                )
                builder.set_many([index for (index,) in cursor], status)
            row = db.execute("SELECT sequence FROM publications WHERE list_id = ?", (list_id,)).fetchone()
            sequence = 1 if row is None else row[0] + 1
            db.execute(
                "INSERT OR REPLACE INTO publications (list_id, sequence, issued_at, next_update, kid) "
                "VALUES (?, ?, ?, ?, ?)",
                (list_id, sequence, issued, until, signer.public_key.kid),
            )
        return builder.sign(
            signer, issuer_ref=self._issuer_ref, list_id=list_id, sequence=sequence, issued_at=issued, next_update=until
        )

    def publish_all(self, signer: Signer, *, now: Instant, next_update: Instant) -> dict[int, bytes]:
        """Publish every list in use; returns the signed files by list id."""
        return {list_id: self.publish(list_id, signer, now=now, next_update=next_update) for list_id in self.list_ids}

    def _change(
        self, serial: int, target: CredentialStatus, action: str, now: Instant, reason: str | None
    ) -> CredentialStatus:
        _check_serial(serial)
        at = to_unix(now)
        if reason is not None and len(reason) > MAX_REASON_CHARS:
            raise RegistryError(RegistryErrorCode.BAD_INPUT, f"a reason has at most {MAX_REASON_CHARS} characters")
        with self._transaction() as db:
            row = db.execute("SELECT status FROM credentials WHERE serial = ?", (serial,)).fetchone()
            if row is None:
                raise RegistryError(RegistryErrorCode.UNKNOWN_SERIAL, f"no credential with serial {serial}")
            current = _STATUS_OF_VALUE[row[0]]
            _check_transition(serial, current, target)
            db.execute(
                "UPDATE credentials SET status = ?, status_changed_at = ? WHERE serial = ?",
                (_STATUS_VALUES[target], at, serial),
            )
            db.execute(
                "INSERT INTO audit (serial, at, action, old_status, new_status, reason) VALUES (?, ?, ?, ?, ?, ?)",
                (serial, at, action, _STATUS_VALUES[current], _STATUS_VALUES[target], reason),
            )
        return current

    def _check_key(self, key: PublicKey) -> None:
        """Issue and publish only with a registered key: any other would sign what verifiers refuse."""
        row = self._query("SELECT public_key FROM issuer_keys WHERE kid = ?", (key.kid,)).fetchone()
        if row is None or PublicKey.from_pem(row[0]) != key:
            registered = ", ".join(k.kid.hex() for k in self.issuer_keys) or "none yet"
            raise RegistryError(
                RegistryErrorCode.WRONG_KEY,
                f"key {key.kid.hex()} is not a key of this registry ({self._issuer_ref}; registered: {registered}); "
                "register a rotated issuer key first (econsent issuer add-key)",
            )

    def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, parameters)
        except sqlite3.Error as exc:
            raise RegistryError(RegistryErrorCode.STORAGE, f"{type(exc).__name__}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE (take the write lock first, so two writers never read the same counters) ... COMMIT."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise RegistryError(RegistryErrorCode.STORAGE, f"cannot start a transaction: {exc}") from exc
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                with suppress(sqlite3.Error):  # the first error is the one to report
                    self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise RegistryError(RegistryErrorCode.STORAGE, f"{type(exc).__name__}: {exc}") from exc
            raise


def _check_serial(serial: object) -> None:
    """A serial is an integer of the wire's range; one SQLite cannot hold was never issued here."""
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial <= MAX_SERIAL:
        raise RegistryError(RegistryErrorCode.BAD_INPUT, f"a serial is an integer from 0 to {MAX_SERIAL}")
    if serial > _SQLITE_MAX_INTEGER:
        raise RegistryError(RegistryErrorCode.UNKNOWN_SERIAL, f"no credential with serial {serial}")


def _check_transition(serial: int, current: CredentialStatus, target: CredentialStatus) -> None:
    if current is CredentialStatus.REVOKED:
        if target is CredentialStatus.REVOKED:
            raise RegistryError(RegistryErrorCode.ALREADY_REVOKED, f"credential {serial} is already revoked")
        raise RegistryError(
            RegistryErrorCode.REVOKED_IS_FINAL, f"credential {serial} is revoked; revocation cannot be undone"
        )
    if target is CredentialStatus.SUSPENDED and current is CredentialStatus.SUSPENDED:
        raise RegistryError(RegistryErrorCode.ALREADY_SUSPENDED, f"credential {serial} is already suspended")
    if target is CredentialStatus.VALID and current is not CredentialStatus.SUSPENDED:
        raise RegistryError(RegistryErrorCode.NOT_SUSPENDED, f"credential {serial} is not suspended")


def _default_ref(issuer_ref: str | None, keys: tuple[PublicKey, ...]) -> str:
    """The issuer_ref of a new registry: as given, or ``kid:<hex>`` of its one key."""
    if issuer_ref is not None:
        return issuer_ref
    if len(keys) != 1:
        raise RegistryError(RegistryErrorCode.BAD_INPUT, "a new registry needs an issuer_ref (or exactly one key)")
    return _key_ref(keys[0])


def _key_ref(key: PublicKey) -> str:
    return f"{RESERVED_ISSUER_ID_PREFIX}{key.kid.hex()}"


def _check_new(issuer_ref: str, list_size: int, keys: tuple[PublicKey, ...]) -> None:
    if not isinstance(issuer_ref, str) or not 1 <= len(issuer_ref) <= MAX_ISSUER_REF_CHARS:
        raise RegistryError(RegistryErrorCode.BAD_INPUT, f"issuer_ref must be 1 to {MAX_ISSUER_REF_CHARS} characters")
    if isinstance(list_size, bool) or not isinstance(list_size, int) or not 1 <= list_size <= MAX_STATUS_LIST_ENTRIES:
        raise RegistryError(RegistryErrorCode.BAD_INPUT, f"list_size must be 1 to {MAX_STATUS_LIST_ENTRIES} entries")
    if not keys or not all(isinstance(key, PublicKey) for key in keys):
        raise RegistryError(RegistryErrorCode.BAD_INPUT, "a new registry needs the public key(s) it issues with")
    _check_key_fits(issuer_ref, keys)


def _check_key_fits(issuer_ref: str, keys: Iterable[PublicKey]) -> None:
    """An issuer named after a key (``kid:<hex>``) has that one key: verifiers know any other as another issuer."""
    if issuer_ref[:4].lower() != RESERVED_ISSUER_ID_PREFIX:
        return
    for key in keys:
        if issuer_ref != _key_ref(key):
            raise RegistryError(
                RegistryErrorCode.WRONG_KEY,
                f"this registry belongs to {issuer_ref}; key {key.kid.hex()} is another issuer to verifiers",
            )


def _prepare(
    db: sqlite3.Connection, file: Path, issuer_ref: str | None, list_size: int | None, keys: tuple[PublicKey, ...]
) -> tuple[str, int]:
    """Set up the connection, create the schema in an empty file, and check an existing one is this issuer's.

    The emptiness check and the schema creation share one write transaction, so two processes opening a
    new file at once cannot both create it.
    """
    try:
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("BEGIN IMMEDIATE")
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version == 0 and not db.execute("SELECT 1 FROM sqlite_master").fetchone():
            ref = _default_ref(issuer_ref, keys)
            size = DEFAULT_LIST_SIZE if list_size is None else list_size
            _check_new(ref, size, keys)
            _run_script(db, _SCHEMA)
            db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            db.execute("INSERT INTO registry VALUES (1, ?, ?, 1, 0)", (ref, size))
            db.executemany(
                "INSERT OR IGNORE INTO issuer_keys (kid, public_key, added_at) VALUES (?, ?, 0)",
                [(key.kid, key.to_pem().decode("ascii")) for key in keys],
            )
        elif version == 1:
            _run_script(db, _UPGRADE_FROM_1)
            db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        elif version != _SCHEMA_VERSION:
            raise RegistryError(RegistryErrorCode.WRONG_REGISTRY, f"{file} is not an econsent issuer registry")
        stored_ref, stored_size = db.execute("SELECT issuer_ref, list_size FROM registry").fetchone()
        registered = {kid for (kid,) in db.execute("SELECT kid FROM issuer_keys")}
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise RegistryError(RegistryErrorCode.WRONG_REGISTRY, f"{file} is not a usable issuer registry: {exc}") from exc
    if issuer_ref is not None and issuer_ref != stored_ref:
        raise RegistryError(
            RegistryErrorCode.WRONG_REGISTRY, f"{file} is the registry of {stored_ref!r}, not {issuer_ref!r}"
        )
    if list_size is not None and list_size != stored_size:
        raise RegistryError(
            RegistryErrorCode.WRONG_REGISTRY, f"{file} has lists of {stored_size} entries, not {list_size}"
        )
    unregistered = [key.kid.hex() for key in keys if key.kid not in registered]
    if unregistered:
        raise RegistryError(RegistryErrorCode.WRONG_KEY, f"{file} has no key {', '.join(unregistered)} registered")
    return stored_ref, stored_size


def _run_script(db: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)
