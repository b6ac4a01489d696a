"""The issuer registry: what an issuer has issued, each credential's status, and its status lists.

Two stores, one logic. The default is one SQLite file (WAL mode, no server) for one office; a
``postgresql://`` URL opens a PostgreSQL database that many offices share (``_sqlite`` and ``_postgres``
hold the dialects: connecting, the write lock, schema text). The SQL here is written once for both.

Each issued credential gets the next serial and the next free status slot (lists of ``list_size``
entries, list ids from 0) and is recorded with its type, slot, issuance time and validity; its claims
only if the issuer opts in. Issuing is one transaction: if signing fails nothing is recorded, and if
recording fails the credential is not returned. Batch issuance reserves serials and slots in blocks
(:meth:`IssuerRegistry.reserve`), signs outside the registry, and records the results
(:meth:`IssuerRegistry.record_batch`), both idempotent by row id so a crashed run resumes without
issuing a row twice. Revoke, suspend and reinstate keep an audit trail; ``publish`` signs a list from
the table with a sequence number that grows on every publication. Nothing here logs, and error messages
never carry claim values or a database password.

A registry is bound to its issuer's keys: it records them at creation (and rotated keys added with
:meth:`IssuerRegistry.add_key`) and refuses to issue or publish with any other key, so a wrong key can
neither use up serials nor publish a list every verifier would refuse. Serials count from 1 and each
takes a status slot; slots end at 65,536 lists of at most 2**28 entries, so a serial never outgrows a
signed 64-bit integer, and asking for any serial of the wire's range (0 to 2**64 - 1) is answered.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from .._envelope import sign_registration, verify_registration
from .._wire import MAX_STATUS_LIST_ID
from ..errors import RegistryError, RegistryErrorCode
from ..issue import Issuer
from ..keys import PublicKey, Signer
from ..model import Credential, Instant, StatusReference, claims_to_json, from_unix, to_unix
from ..possession import KeyAttestation, PossessionProof
from ..schema import ClaimValue
from ..status import MAX_ISSUER_REF_CHARS, MAX_STATUS_LIST_ENTRIES, CredentialStatus, StatusListBuilder
from ..trust import RESERVED_ISSUER_ID_PREFIX
from ._sqlite import SQLiteStore
from ._store import SCHEMA_VERSION, Cursor, Store

__all__ = [
    "DEFAULT_LIST_SIZE",
    "MAX_BATCH_ID_CHARS",
    "MAX_BATCH_ROWS",
    "MAX_ROW_ID_CHARS",
    "AuditEntry",
    "CredentialRecord",
    "IssuerRegistry",
    "RegistryError",
    "RegistryErrorCode",
    "is_registry_url",
]

DEFAULT_LIST_SIZE = 1_000_000
MAX_REASON_CHARS = 500
MAX_SERIAL = 2**64 - 1  # the wire's range; the registry itself hands out far fewer (one per status slot)
MAX_BATCH_ID_CHARS = 64
MAX_ROW_ID_CHARS = 128
MAX_BATCH_ROWS = 100_000
"""Rows per ``reserve`` or ``record_batch`` call: one transaction each, short enough not to stall other writers."""
_MAX_STORED_INTEGER = 2**63 - 1  # SQLite INTEGER and PostgreSQL BIGINT alike
_IN_CHUNK = 500  # row ids per ``IN (...)`` query: well under every SQLite build's variable limit
_STATUS_VALUES = {CredentialStatus.VALID: 0, CredentialStatus.REVOKED: 1, CredentialStatus.SUSPENDED: 2}
_STATUS_OF_VALUE = {value: status for status, value in _STATUS_VALUES.items()}
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")

_INSERT_CREDENTIAL = (
    "INSERT INTO credentials (serial, credential_type, kid, list_id, status_index, issued_at, valid_from, "
    "valid_until, claims) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_ISSUE_AUDIT = "INSERT INTO audit (serial, at, action, old_status, new_status) VALUES (?, ?, 'issue', NULL, 0)"


def is_registry_url(location: object) -> bool:
    """True when ``location`` names a PostgreSQL registry (a ``postgresql://`` or ``postgres://`` URL)."""
    return isinstance(location, str) and location[:13].lower().startswith(_POSTGRES_SCHEMES)


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
    """An issuer's record of issued credentials and their status, in an SQLite file or a PostgreSQL database.

    One instance per thread (it holds one database connection); any number of threads, processes and (with
    PostgreSQL) machines may open the same registry: every change is a transaction that takes the write
    lock first.
    """

    __slots__ = ("_issuer_ref", "_list_size", "_store")

    def __init__(self, store: Store, issuer_ref: str, list_size: int) -> None:
        self._store = store
        self._issuer_ref = issuer_ref
        self._list_size = list_size

    @classmethod
    def open(
        cls,
        location: str | os.PathLike[str],
        *,
        issuer_ref: str | None = None,
        issuer_keys: Iterable[PublicKey] = (),
        list_size: int | None = None,
        create: bool = True,
    ) -> IssuerRegistry:
        """Open a registry, creating it when ``create`` and it does not exist.

        ``location`` is a file path (SQLite; a new file is readable by the owner only) or a
        ``postgresql://`` URL (libpq's; the database must exist, and a new registry's tables are created in
        it when it is empty). A new registry needs ``issuer_keys``, the public keys it will issue and
        publish with, and an ``issuer_ref``: the ``TrustedKey.issuer_ref`` verifiers know the issuer by (its
        ``issuer_id``, or ``kid:<hex>`` for a single key without one, the default when one key is given).
        ``list_size`` defaults to 1,000,000 and is fixed at creation; values given for an existing registry
        must match it, and keys given for one must be registered in it.
        """
        keys = tuple(issuer_keys)

        def check_new() -> None:
            _check_new(_default_ref(issuer_ref, keys), DEFAULT_LIST_SIZE if list_size is None else list_size, keys)

        store: Store
        if is_registry_url(location):
            from ._postgres import PostgresStore  # psycopg loads only for a PostgreSQL registry

            store = PostgresStore.connect(str(location))
        elif isinstance(location, str | os.PathLike):
            store = SQLiteStore.connect(Path(location), create=create, check_new=check_new)
        else:
            raise RegistryError(RegistryErrorCode.BAD_INPUT, "a registry is a file path or a postgresql:// URL")
        try:
            stored_ref, stored_size = _prepare(store, issuer_ref, list_size, keys, create=create)
        except BaseException:
            store.close()
            raise
        return cls(store, stored_ref, stored_size)

    @property
    def issuer_ref(self) -> str:
        return self._issuer_ref

    @property
    def list_size(self) -> int:
        return self._list_size

    @property
    def location(self) -> str:
        """Where the registry is, fit to print: its file, or its URL with the password redacted."""
        return self._store.location

    @property
    def path(self) -> Path | None:
        """The registry file, or None for a PostgreSQL registry."""
        return self._store.path

    @property
    def issuer_keys(self) -> tuple[PublicKey, ...]:
        """The public keys this registry issues and publishes with, in the order they were registered."""
        rows = self._query("SELECT public_key FROM issuer_keys ORDER BY added_at, kid").fetchall()
        return tuple(PublicKey.from_pem(pem) for (pem,) in rows)

    def add_key(self, key: PublicKey, *, now: Instant, authorised_by: Signer) -> None:
        """Register another public key of this issuer (a rotation), to issue and publish with from now on.

        ``authorised_by`` must hold a key already registered here, and it signs its consent to the new key
        (so whoever can write to the registry cannot register a key of their choosing); a registry with no
        key yet (one upgraded from schema 1) takes the new key's own signer, which proves the office holds
        it. The key must be one verifiers' trust stores place under this registry's ``issuer_ref``; for a
        registry named after a key (``kid:<hex>``) no other key can be. Registering a key twice is refused.
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
        self._store.close()

    def __enter__(self) -> IssuerRegistry:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"IssuerRegistry({self.location!r}, issuer_ref={self._issuer_ref!r}, list_size={self._list_size})"

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
            serial, slot = self._allocate(db, 1)
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
                status=StatusReference(*divmod(slot, self._list_size)),
            )
            _record(db, [credential], record_personal_data)
        return credential

    def reserve(self, batch_id: str, row_ids: Sequence[str]) -> list[tuple[int, StatusReference]]:
        """Reserve a serial and a status slot for each row of a batch, in one transaction; in row order.

        Rows already reserved under ``batch_id`` keep theirs (a row id maps to one serial forever, so a
        batch resumed after a crash never issues a row twice); the others get the next serials and slots
        in order. Refused (``BAD_INPUT``): a ``batch_id`` that is not 1 to 64 printable characters, a row
        id that is not 1 to 128, the same row id twice, more than 100,000 rows; ``LISTS_FULL`` when the new
        rows do not all fit, and then nothing is reserved.
        """
        _check_batch_id(batch_id)
        rows = _check_row_ids(row_ids)
        with self._transaction() as db:
            held = self._reservations(db, batch_id, rows)
            fresh = [row for row in rows if row not in held]
            if fresh:
                serial, slot = self._allocate(db, len(fresh))
                new = {
                    row: (serial + offset, StatusReference(*divmod(slot + offset, self._list_size)))
                    for offset, row in enumerate(fresh)
                }
                db.executemany(
                    "INSERT INTO batch_rows (batch_id, row_id, serial, list_id, status_index) VALUES (?, ?, ?, ?, ?)",
                    [(batch_id, row, s, ref.list_id, ref.index) for row, (s, ref) in new.items()],
                )
                held.update(new)
        return [held[row] for row in rows]

    def record_batch(
        self, batch_id: str, issued: Sequence[tuple[str, Credential]], *, record_personal_data: bool = False
    ) -> int:
        """Record credentials issued for reserved rows, in one transaction; returns how many were new.

        Each credential's serial and status reference must be its row's reservation (``NOT_RESERVED``,
        ``RESERVATION_MISMATCH``) and its kid a registered key (``WRONG_KEY``); on any refusal nothing of
        the call is recorded. Rows recorded before are skipped, so a resumed batch may send them again.
        Each new credential gets an ``issue`` audit entry at its issuance time, as :meth:`issue` gives.
        """
        _check_batch_id(batch_id)
        pairs = _check_issued(issued)
        rows = [row for row, _ in pairs]
        with self._transaction() as db:
            registered = {bytes(kid) for (kid,) in db.execute("SELECT kid FROM issuer_keys")}
            held = self._reservations(db, batch_id, rows)
            for row, credential in pairs:
                if row not in held:
                    raise RegistryError(
                        RegistryErrorCode.NOT_RESERVED, f"row {row!r} of batch {batch_id!r} has no reservation"
                    )
                if (credential.serial, credential.status) != held[row]:
                    serial, reference = held[row]
                    raise RegistryError(
                        RegistryErrorCode.RESERVATION_MISMATCH,
                        f"row {row!r} is reserved serial {serial} in list {reference.list_id} slot "
                        f"{reference.index}; its credential has serial {credential.serial}",
                    )
                if credential.kid not in registered:
                    raise RegistryError(
                        RegistryErrorCode.WRONG_KEY,
                        f"row {row!r} was signed by key {credential.kid.hex()}, not a key of this registry",
                    )
            recorded = self._recorded_serials(db, [held[row][0] for row in rows])
            new = [credential for row, credential in pairs if held[row][0] not in recorded]
            _record(db, new, record_personal_data)
        return len(new)

    def reservation_count(self, batch_id: str) -> int:
        """How many rows ``batch_id`` has reserved (0 for a batch never started): a run that would write a
        new output for a batch already started elsewhere is refused by batch issuance."""
        _check_batch_id(batch_id)
        ((count,),) = self._query("SELECT COUNT(*) FROM batch_rows WHERE batch_id = ?", (batch_id,))
        return int(count)

    def recorded_rows(self, batch_id: str, row_ids: Iterable[str] | None = None) -> frozenset[str]:
        """The row ids of ``batch_id`` whose credentials are recorded (of ``row_ids`` only, when given).

        A row counts as recorded when its reserved serial is in the credentials table: one fact, one
        place. A set, not an iterator, so no cursor stays open between calls; for a batch of millions,
        ask partition by partition with ``row_ids`` (at most 100,000 each) to keep memory small.
        """
        _check_batch_id(batch_id)
        if row_ids is None:
            cursor = self._query(
                "SELECT b.row_id FROM batch_rows b JOIN credentials c ON c.serial = b.serial WHERE b.batch_id = ?",
                (batch_id,),
            )
            return frozenset(row for (row,) in cursor)
        rows = _check_row_ids(list(row_ids))
        found: set[str] = set()
        for chunk in _chunks(rows):
            marks = ", ".join("?" * len(chunk))
            found.update(
                row
                for (row,) in self._query(
                    "SELECT b.row_id FROM batch_rows b JOIN credentials c ON c.serial = b.serial "
                    f"WHERE b.batch_id = ? AND b.row_id IN ({marks})",
                    (batch_id, *chunk),
                )
            )
        return frozenset(found)

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
            kid=bytes(kid),
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
                "INSERT INTO publications (list_id, sequence, issued_at, next_update, kid) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (list_id) DO UPDATE SET sequence = excluded.sequence, issued_at = excluded.issued_at, "
                "next_update = excluded.next_update, kid = excluded.kid",
                (list_id, sequence, issued, until, signer.public_key.kid),
            )
        return builder.sign(
            signer, issuer_ref=self._issuer_ref, list_id=list_id, sequence=sequence, issued_at=issued, next_update=until
        )

    def publish_all(self, signer: Signer, *, now: Instant, next_update: Instant) -> dict[int, bytes]:
        """Publish every list in use; returns the signed files by list id."""
        return {list_id: self.publish(list_id, signer, now=now, next_update=next_update) for list_id in self.list_ids}

    def _allocate(self, db: Store, count: int) -> tuple[int, int]:
        """Take the next ``count`` serials and status slots (inside a write transaction); returns the first of each."""
        serial, slot = db.execute("SELECT next_serial, next_slot FROM registry").fetchone()
        if (slot + count - 1) // self._list_size > MAX_STATUS_LIST_ID:
            raise RegistryError(
                RegistryErrorCode.LISTS_FULL,
                f"all {MAX_STATUS_LIST_ID + 1} status lists of {self._list_size} entries are full",
            )
        db.execute("UPDATE registry SET next_serial = ?, next_slot = ?", (serial + count, slot + count))
        return int(serial), int(slot)

    @staticmethod
    def _reservations(db: Store, batch_id: str, rows: Sequence[str]) -> dict[str, tuple[int, StatusReference]]:
        """The reservations held under ``batch_id`` for those of ``rows`` that have one."""
        held: dict[str, tuple[int, StatusReference]] = {}
        for chunk in _chunks(rows):
            marks = ", ".join("?" * len(chunk))
            cursor = db.execute(
                "SELECT row_id, serial, list_id, status_index FROM batch_rows "
                f"WHERE batch_id = ? AND row_id IN ({marks})",
                (batch_id, *chunk),
            )
            held.update((row, (serial, StatusReference(list_id, index))) for row, serial, list_id, index in cursor)
        return held

    @staticmethod
    def _recorded_serials(db: Store, serials: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for chunk in _chunks(serials):
            marks = ", ".join("?" * len(chunk))
            found.update(
                serial for (serial,) in db.execute(f"SELECT serial FROM credentials WHERE serial IN ({marks})", chunk)
            )
        return found

    def _change(
        self, serial: int, target: CredentialStatus, action: str, now: Instant, reason: str | None
    ) -> CredentialStatus:
        _check_serial(serial)
        at = to_unix(now)
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
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

    def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> Cursor:
        try:
            return self._store.execute(sql, parameters)
        except self._store.errors as exc:
            raise RegistryError(RegistryErrorCode.STORAGE, self._store.describe(exc)) from exc

    @contextmanager
    def _transaction(self) -> Iterator[Store]:
        """Begin holding the write lock (so two writers never read the same counters) ... COMMIT, or roll back."""
        store = self._store
        try:
            store.begin_write()
        except store.errors as exc:
            with suppress(*store.errors):
                if store.in_transaction:
                    store.rollback()
            raise RegistryError(
                RegistryErrorCode.STORAGE, f"cannot start a transaction: {store.describe(exc)}"
            ) from exc
        try:
            yield store
            store.commit()
        except BaseException as exc:
            if store.in_transaction:
                with suppress(*store.errors):  # the first error is the one to report
                    store.rollback()
            if isinstance(exc, store.errors):
                raise RegistryError(RegistryErrorCode.STORAGE, store.describe(exc)) from exc
            raise


def _record(db: Store, credentials: Sequence[Credential], record_personal_data: bool) -> None:
    """Insert issued credentials and their ``issue`` audit entries (inside a write transaction)."""
    rows = []
    for credential in credentials:
        if credential.status is None:  # every credential of this registry has its slot
            raise RegistryError(RegistryErrorCode.BAD_INPUT, f"credential {credential.serial} has no status slot")
        personal = json.dumps(claims_to_json(credential.claims), ensure_ascii=False) if record_personal_data else None
        rows.append(
            (
                credential.serial,
                credential.credential_type,
                credential.kid,
                credential.status.list_id,
                credential.status.index,
                to_unix(credential.issued_at),
                to_unix(credential.valid_from),
                to_unix(credential.valid_until),
                personal,
            )
        )
    db.executemany(_INSERT_CREDENTIAL, rows)
    db.executemany(_INSERT_ISSUE_AUDIT, [(row[0], row[5]) for row in rows])


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def _check_batch_id(batch_id: object) -> None:
    if not isinstance(batch_id, str) or not 1 <= len(batch_id) <= MAX_BATCH_ID_CHARS or not batch_id.isprintable():
        raise RegistryError(
            RegistryErrorCode.BAD_INPUT, f"a batch id is 1 to {MAX_BATCH_ID_CHARS} printable characters"
        )


def _check_row_id(row_id: object) -> str:
    """A row id is 1 to 128 printable characters (no control characters: it is shown in reports)."""
    if not isinstance(row_id, str) or not 1 <= len(row_id) <= MAX_ROW_ID_CHARS or not row_id.isprintable():
        raise RegistryError(RegistryErrorCode.BAD_INPUT, f"a row id is 1 to {MAX_ROW_ID_CHARS} printable characters")
    return row_id


def _check_count(items: Sized) -> None:
    if len(items) > MAX_BATCH_ROWS:
        raise RegistryError(RegistryErrorCode.BAD_INPUT, f"at most {MAX_BATCH_ROWS} rows per call")


def _check_row_ids(row_ids: object) -> list[str]:
    """The row ids of one call: a sequence (not one string) of distinct valid ids, at most 100,000."""
    if isinstance(row_ids, str | bytes) or not isinstance(row_ids, Sequence):
        raise RegistryError(RegistryErrorCode.BAD_INPUT, "give the row ids as a list")
    _check_count(row_ids)
    rows = [_check_row_id(row) for row in row_ids]
    _check_distinct(rows)
    return rows


def _check_issued(issued: object) -> list[tuple[str, Credential]]:
    if isinstance(issued, str | bytes) or not isinstance(issued, Sequence):
        raise RegistryError(RegistryErrorCode.BAD_INPUT, "give the issued rows as a list of (row id, credential)")
    _check_count(issued)
    pairs: list[tuple[str, Credential]] = []
    for pair in issued:
        if not isinstance(pair, tuple) or len(pair) != 2 or not isinstance(pair[1], Credential):
            raise RegistryError(RegistryErrorCode.BAD_INPUT, "each issued row is a (row id, credential) pair")
        pairs.append((_check_row_id(pair[0]), pair[1]))
    _check_distinct([row for row, _ in pairs])
    return pairs


def _check_distinct(rows: list[str]) -> None:
    seen: set[str] = set()
    for row in rows:
        if row in seen:
            raise RegistryError(RegistryErrorCode.BAD_INPUT, f"row id {row!r} appears twice in one call")
        seen.add(row)


def _check_serial(serial: object) -> None:
    """A serial is an integer of the wire's range; one a 64-bit signed column cannot hold was never issued here."""
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial <= MAX_SERIAL:
        raise RegistryError(RegistryErrorCode.BAD_INPUT, f"a serial is an integer from 0 to {MAX_SERIAL}")
    if serial > _MAX_STORED_INTEGER:
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
    store: Store, issuer_ref: str | None, list_size: int | None, keys: tuple[PublicKey, ...], *, create: bool
) -> tuple[str, int]:
    """Create the schema in an empty store (or upgrade an older one), and check it is this issuer's registry.

    The emptiness check and the schema creation share one transaction under the setup lock, so two
    processes opening a new registry at once cannot both create it.
    """
    where = store.location
    try:
        store.begin_setup()
        version = store.stored_version()
        if version == 0:
            if not create:
                raise RegistryError(RegistryErrorCode.WRONG_REGISTRY, f"no issuer registry at {where}")
            ref = _default_ref(issuer_ref, keys)
            size = DEFAULT_LIST_SIZE if list_size is None else list_size
            _check_new(ref, size, keys)
            store.create_schema()
            store.execute("INSERT INTO registry VALUES (1, ?, ?, 1, 0)", (ref, size))
            store.executemany(
                "INSERT INTO issuer_keys (kid, public_key, added_at) VALUES (?, ?, 0) ON CONFLICT DO NOTHING",
                [(key.kid, key.to_pem().decode("ascii")) for key in keys],
            )
        elif version != SCHEMA_VERSION and not (0 < version < SCHEMA_VERSION and store.upgrade_schema(version)):
            raise RegistryError(RegistryErrorCode.WRONG_REGISTRY, f"{where} is not an econsent issuer registry")
        stored_ref, stored_size = store.execute("SELECT issuer_ref, list_size FROM registry").fetchone()
        registered = {bytes(kid) for (kid,) in store.execute("SELECT kid FROM issuer_keys")}
        store.commit()
    except BaseException as exc:
        if store.in_transaction:
            with suppress(*store.errors):
                store.rollback()
        if isinstance(exc, store.errors):
            raise RegistryError(
                RegistryErrorCode.WRONG_REGISTRY, f"{where} is not a usable issuer registry: {store.describe(exc)}"
            ) from exc
        raise
    if issuer_ref is not None and issuer_ref != stored_ref:
        raise RegistryError(
            RegistryErrorCode.WRONG_REGISTRY, f"{where} is the registry of {stored_ref!r}, not {issuer_ref!r}"
        )
    if list_size is not None and list_size != stored_size:
        raise RegistryError(
            RegistryErrorCode.WRONG_REGISTRY, f"{where} has lists of {stored_size} entries, not {list_size}"
        )
    unregistered = [key.kid.hex() for key in keys if key.kid not in registered]
    if unregistered:
        raise RegistryError(RegistryErrorCode.WRONG_KEY, f"{where} has no key {', '.join(unregistered)} registered")
    return str(stored_ref), int(stored_size)
