"""The SQLite dialect: one registry file (WAL mode, no server), the embedded default for one office.

The write lock is SQLite's own: ``BEGIN IMMEDIATE`` takes it before a transaction reads the counters, so
any number of threads and processes on one machine may share the file. The schema version lives in
``PRAGMA user_version``; registries of versions 1 and 2 are upgraded in place.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import RegistryError, RegistryErrorCode
from ._store import SCHEMA_VERSION

__all__ = ["SQLiteStore"]

_REGISTRY_TABLES = (
    """CREATE TABLE registry (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    issuer_ref TEXT NOT NULL,
    list_size INTEGER NOT NULL,
    next_serial INTEGER NOT NULL,
    next_slot INTEGER NOT NULL
)""",
    """CREATE TABLE credentials (
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
)""",
    "CREATE INDEX credentials_not_valid ON credentials (list_id, status, status_index) WHERE status != 0",
    """CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    serial INTEGER NOT NULL REFERENCES credentials (serial),
    at INTEGER NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('issue', 'revoke', 'suspend', 'reinstate')),
    old_status INTEGER,
    new_status INTEGER NOT NULL,
    reason TEXT
)""",
    """CREATE TABLE publications (
    list_id INTEGER PRIMARY KEY,
    sequence INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    kid BLOB NOT NULL
)""",
)
# Version 2: the issuer's keys. Version 1 registries get the table empty; they then refuse every key
# until the issuer registers its own: guessing them from what was signed would bless a rogue key used before.
_KEY_TABLES = (
    """CREATE TABLE issuer_keys (
    kid BLOB PRIMARY KEY,
    public_key TEXT NOT NULL,
    added_at INTEGER NOT NULL
)""",
)
# Version 3: serials and slots reserved in blocks for batch issuance, one row id to one serial forever.
_BATCH_TABLES = (
    """CREATE TABLE batch_rows (
    batch_id TEXT NOT NULL,
    row_id TEXT NOT NULL,
    serial INTEGER NOT NULL UNIQUE,
    list_id INTEGER NOT NULL,
    status_index INTEGER NOT NULL,
    PRIMARY KEY (batch_id, row_id),
    UNIQUE (list_id, status_index)
)""",
)
_UPGRADES = {1: _KEY_TABLES, 2: _BATCH_TABLES}


class SQLiteStore:
    """A connection to one registry file, in autocommit mode with explicit transactions."""

    __slots__ = ("_db", "_path")

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    @classmethod
    def connect(cls, path: Path, *, create: bool, check_new: Callable[[], None]) -> SQLiteStore:
        """Open ``path``, creating the file (readable by the owner only) when ``create`` and it is missing.

        ``check_new`` is called before a file is created, so a registry refused for its settings leaves
        no file behind.
        """
        if not path.exists():
            if not create:
                raise RegistryError(RegistryErrorCode.WRONG_REGISTRY, f"no issuer registry at {path}")
            check_new()
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
            except FileExistsError:
                pass  # another process is creating it: the schema is made under the write lock, once
            except OSError as exc:
                raise RegistryError(RegistryErrorCode.STORAGE, f"cannot create {path}: {exc.strerror}") from exc
        if path.is_symlink():  # sqlite would follow it, and create the file and its journals elsewhere
            raise RegistryError(RegistryErrorCode.STORAGE, f"{path} is a symbolic link: give the registry file itself")
        try:
            db = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise RegistryError(RegistryErrorCode.STORAGE, f"cannot open {path}: {exc}") from exc
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            db.close()
            raise RegistryError(
                RegistryErrorCode.WRONG_REGISTRY, f"{path} is not a usable issuer registry: {exc}"
            ) from exc
        return cls(db, path)

    @property
    def location(self) -> str:
        return str(self._path)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def describe(self, exc: BaseException) -> str:
        return f"{type(exc).__name__}: {exc}"

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, tuple(parameters))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    def begin_write(self) -> None:
        """BEGIN IMMEDIATE: take the write lock first, so two writers never read the same counters."""
        self._db.execute("BEGIN IMMEDIATE")

    def begin_setup(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        self._db.execute("ROLLBACK")

    def stored_version(self) -> int:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version == 0 and self._db.execute("SELECT 1 FROM sqlite_master").fetchone():
            return -1
        return int(version)

    def create_schema(self) -> None:
        for statement in (*_REGISTRY_TABLES, *_KEY_TABLES, *_BATCH_TABLES):
            self._db.execute(statement)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def upgrade_schema(self, version: int) -> bool:
        if version not in _UPGRADES:
            return False
        for step in range(version, SCHEMA_VERSION):
            for statement in _UPGRADES[step]:
                self._db.execute(statement)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return True

    def close(self) -> None:
        self._db.close()
