"""The PostgreSQL dialect: one database per issuer, shared by every office that issues for it.

Concurrency: every write transaction runs at READ COMMITTED and first takes ``SELECT ... FOR UPDATE`` on
the single ``registry`` row. Writers on any number of machines are thereby serialised exactly as SQLite's
``BEGIN IMMEDIATE`` serialises them, so the registry logic is the same for both and never retried: a
SERIALIZABLE transaction that failed on commit would have to sign again, and a credential already signed
but not recorded must never be handed out. Each statement after the lock sees everything committed
before it, so the counters, statuses and sequence numbers read are the latest. The cost is one writer at
a time; batch issuance takes whole blocks of serials in one transaction (``reserve``), so it is short.

The location is a ``postgresql://`` (or ``postgres://``) URL, read by libpq; the password comes from the
URL, ``PGPASSWORD`` or ``~/.pgpass``, and is redacted from every location and message shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ..errors import RegistryError, RegistryErrorCode
from ._store import SCHEMA_VERSION

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
except ImportError as _missing:  # the `postgres` extra is not installed
    raise RegistryError(
        RegistryErrorCode.STORAGE,
        "a PostgreSQL registry needs psycopg: pip install 'econsent[postgres]'",
    ) from _missing

__all__ = ["PostgresStore", "redact"]

LOCK_TIMEOUT_MS = 10_000  # as SQLite's busy timeout: a writer waits this long for another's transaction
_CONNECT_TIMEOUT_S = 10
_ADVISORY_LOCK = 0x65636F6E  # "econ": serialises schema creation, before the registry row exists
_REDACTED = "***"

# The same tables as SQLite's schema, in PostgreSQL's types: 64-bit integers, bytea for key ids.
_SCHEMA = (
    """CREATE TABLE registry (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    issuer_ref TEXT NOT NULL,
    list_size BIGINT NOT NULL,
    next_serial BIGINT NOT NULL,
    next_slot BIGINT NOT NULL
)""",
    """CREATE TABLE credentials (
    serial BIGINT PRIMARY KEY,
    credential_type TEXT NOT NULL,
    kid BYTEA NOT NULL,
    list_id BIGINT NOT NULL,
    status_index BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    status INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2)),
    status_changed_at BIGINT,
    claims TEXT,
    UNIQUE (list_id, status_index)
)""",
    "CREATE INDEX credentials_not_valid ON credentials (list_id, status, status_index) WHERE status != 0",
    """CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial BIGINT NOT NULL REFERENCES credentials (serial),
    at BIGINT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('issue', 'revoke', 'suspend', 'reinstate')),
    old_status INTEGER,
    new_status INTEGER NOT NULL,
    reason TEXT
)""",
    "CREATE INDEX audit_serial ON audit (serial, id)",
    """CREATE TABLE publications (
    list_id BIGINT PRIMARY KEY,
    sequence BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    kid BYTEA NOT NULL
)""",
    """CREATE TABLE issuer_keys (
    kid BYTEA PRIMARY KEY,
    public_key TEXT NOT NULL,
    added_at BIGINT NOT NULL
)""",
    """CREATE TABLE batch_rows (
    batch_id TEXT NOT NULL,
    row_id TEXT NOT NULL,
    serial BIGINT NOT NULL UNIQUE,
    list_id BIGINT NOT NULL,
    status_index BIGINT NOT NULL,
    PRIMARY KEY (batch_id, row_id),
    UNIQUE (list_id, status_index)
)""",
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
)


def redact(url: str) -> str:
    """The URL with its password (in the authority or a ``password=`` parameter) replaced by ``***``.

    A password holding ``#`` or ``?`` ends the authority for Python's URL parser but not for libpq, which
    reads the password on to the ``@``: if any password libpq sees survives, the URL is rebuilt from libpq's
    own reading of it instead.
    """
    shown = _redacted_by_parts(url)
    if any(secret in shown for secret in _secrets_of(url)):
        return _rebuilt_without_password(url)
    return shown


def _redacted_by_parts(url: str) -> str:
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            credentials, _, hosts = netloc.rpartition("@")
            if ":" in credentials:
                credentials = credentials.split(":", 1)[0] + ":" + _REDACTED
            netloc = f"{credentials}@{hosts}"
        query = [(k, _REDACTED if k.lower() == "password" else v) for k, v in parse_qsl(parts.query, True)]
        return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), parts.fragment))
    except ValueError:
        return _scheme_only(url)


def _rebuilt_without_password(url: str) -> str:
    """``scheme://user:***@host:port/dbname?other=parameters`` from libpq's reading of ``url``."""
    params = _libpq_params(url)
    if params is None:
        return _scheme_only(url)
    has_password = params.pop("password", None) is not None
    user, host, port = params.pop("user", ""), params.pop("host", ""), params.pop("port", "")
    credentials = (quote(user, safe="") + (":" + _REDACTED if has_password else "") + "@") if user else ""
    authority = credentials + host + (f":{port}" if port else "")
    dbname = quote(params.pop("dbname", ""), safe="")
    query = urlencode(sorted(params.items()))
    return f"{url.split('://', 1)[0]}://{authority}/{dbname}" + (f"?{query}" if query else "")


def _libpq_params(url: str) -> dict[str, str] | None:
    """The connection parameters as libpq reads ``url`` (None if it cannot)."""
    try:
        return {key: str(value) for key, value in conninfo_to_dict(url).items()}
    except psycopg.Error:
        return None


def _scheme_only(url: str) -> str:
    """A URL too malformed to take apart: show only its scheme, never what could be a password."""
    return url.split("://", 1)[0] + "://" + _REDACTED


class PostgresStore:
    """A connection to one registry database, in autocommit mode with explicit transactions."""

    __slots__ = ("_db", "_location", "_secrets")

    errors: tuple[type[Exception], ...] = (psycopg.Error,)

    def __init__(self, db: psycopg.Connection[Any], location: str, secrets: tuple[str, ...]) -> None:
        self._db = db
        self._location = location
        self._secrets = secrets

    @classmethod
    def connect(cls, url: str) -> PostgresStore:
        """Connect to the database ``url`` names (it must exist: a DBA creates it, see docs/issuing.md)."""
        location = redact(url)
        secrets = _secrets_of(url)
        options: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in url:
            options["connect_timeout"] = _CONNECT_TIMEOUT_S
        try:
            db = psycopg.connect(url, **options)
        except psycopg.Error as exc:
            detail = _scrub(" ".join(str(exc).split()), secrets)
            raise RegistryError(RegistryErrorCode.STORAGE, f"cannot connect to {location}: {detail}") from None
        try:
            db.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
        except psycopg.Error as exc:
            db.close()
            raise RegistryError(
                RegistryErrorCode.STORAGE, f"cannot use {location}: {_scrub(str(exc), secrets)}"
            ) from exc
        return cls(db, location, secrets)

    @property
    def location(self) -> str:
        return self._location

    @property
    def path(self) -> Path | None:
        return None

    @property
    def in_transaction(self) -> bool:
        return self._db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def describe(self, exc: BaseException) -> str:
        """The server's primary message only: its DETAIL lines may quote row values."""
        message = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc).split("\n", 1)[0]
        return f"{type(exc).__name__}: {_scrub(message, self._secrets)}"

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self._db.execute(_placeholders(sql), tuple(parameters))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(_placeholders(sql), [tuple(row) for row in rows])

    def begin_write(self) -> None:
        self._db.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        self._db.execute("SELECT id FROM registry WHERE id = 1 FOR UPDATE")

    def begin_setup(self) -> None:
        self._db.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK,))

    def commit(self) -> None:
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        self._db.execute("ROLLBACK")

    def stored_version(self) -> int:
        tables = {
            name
            for (name,) in self._db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"  # whatever our privileges
            )
        }
        if not tables:
            return 0
        if "schema_version" not in tables:
            return -1
        row = self._db.execute("SELECT version FROM schema_version").fetchone()
        return -1 if row is None else int(row[0])

    def create_schema(self) -> None:
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._db.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))

    def upgrade_schema(self, version: int) -> bool:
        return False  # PostgreSQL registries began at version 3: there is nothing older to upgrade

    def close(self) -> None:
        self._db.close()


def _placeholders(sql: str) -> str:
    """The registry's ``?`` placeholders as psycopg's ``%s`` (its SQL has no literal ``?`` or ``%``)."""
    return sql.replace("?", "%s")


def _secrets_of(url: str) -> tuple[str, ...]:
    """The password in the URL, as written and as libpq decodes it, to scrub from any message."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
        found += [v for k, v in parse_qsl(parts.query, True) if k.lower() == "password"]
    except ValueError:
        return ()
    raw = re.findall(r"://[^:/@]*:([^@/]*)@", url)
    libpq = (_libpq_params(url) or {}).get("password", "")  # percent-decoded, read as the connection will
    return tuple(sorted({secret for secret in (*found, *raw, libpq) if secret}, key=len, reverse=True))


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text
