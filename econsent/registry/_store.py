"""What the registry logic needs from a database: one connection, its dialect, and its write lock.

The registry's SQL is written once (in ``econsent.registry``), with ``?`` placeholders and statements both
SQLite and PostgreSQL accept; a store translates placeholders, holds the connection, takes the write
lock at the start of every write transaction, and knows its schema text and how it records the version.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

__all__ = ["SCHEMA_VERSION", "Cursor", "Store"]

SCHEMA_VERSION = 3
"""1: credentials, audit, publications; 2: + issuer_keys (issue 11); 3: + batch_rows (block allocation)."""


class Cursor(Protocol):
    """The part of a DB-API cursor the registry reads results through."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Store(Protocol):
    """One connection to one registry database (SQLite file or PostgreSQL database)."""

    @property
    def location(self) -> str:
        """Where the registry is, fit to print: a file path, or a URL with its password redacted."""

    @property
    def path(self) -> Path | None:
        """The registry file (SQLite), or None for a server database."""

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """The driver's exception classes, which the registry wraps as ``RegistryError(STORAGE)``."""

    @property
    def in_transaction(self) -> bool: ...

    def describe(self, exc: BaseException) -> str:
        """A driver error as one line for an error message: no password, no parameter values."""

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        """Run one statement written with ``?`` placeholders."""

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement written with ``?`` placeholders once per row."""

    def begin_write(self) -> None:
        """Start a transaction that holds the registry's write lock before it reads anything."""

    def begin_setup(self) -> None:
        """Start the transaction that checks, creates or upgrades the schema (the registry row may not exist)."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def stored_version(self) -> int:
        """The schema version stored: 0 for an empty database, -1 for one that holds something else."""

    def create_schema(self) -> None:
        """Create every table of the current schema version in an empty database (inside ``begin_setup``)."""

    def upgrade_schema(self, version: int) -> bool:
        """Upgrade from ``version`` to the current one in place; False if this store cannot."""

    def close(self) -> None: ...
