"""The issuer registry: slot allocation, transactions, status rules with an audit trail, publication,
block reservation for batch issuance; each test on SQLite and on a real PostgreSQL server (tests/postgres.py)."""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from postgres import PostgresServer, postgres_server, postgres_url  # noqa: F401  (fixtures)
from testkeys import es256_test_key

from econsent import (
    ATTESTED_OUT_OF_BAND,
    Algorithm,
    Credential,
    ErrorCode,
    IssueError,
    Issuer,
    IssuerName,
    SignerError,
    SigningKey,
    StatusReference,
    TrustedKey,
    TrustStore,
    VerificationError,
    Verifier,
    present,
)
from econsent.keys import PublicKey
from econsent.registry import IssuerRegistry, RegistryError, RegistryErrorCode, is_registry_url
from econsent.status import CredentialStatus, StatusListCache, load_status_list

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
ISSUER_REF = "sh-traffic"
VALID, REVOKED, SUSPENDED = CredentialStatus.VALID, CredentialStatus.REVOKED, CredentialStatus.SUSPENDED
CLAIMS: Mapping[str, Any] = {
    "family_name": "张",
    "given_name": "伟",
    "vehicle_classes": ("C1",),
    "expiry_date": dt.date(2029, 1, 15),
    "birth_date": dt.date(1985, 3, 14),
    "licence_number": "310101198503140012",
}


ISSUER_KEY = es256_test_key("econsent registry test issuer")
HOLDER_KEY = es256_test_key("econsent registry test holder")
KEYS = (ISSUER_KEY.public_key,)


@pytest.fixture
def issuer() -> Issuer:
    return Issuer(ISSUER_KEY)


Fresh = Callable[[], str]


@pytest.fixture(params=["sqlite", "postgres"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Fresh:
    """Make locations of new, empty registries: SQLite files, or databases on the test PostgreSQL server."""
    if request.param == "sqlite":
        numbers = itertools.count(1)
        return lambda: str(tmp_path / f"registry-{next(numbers)}.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.fresh_url


@pytest.fixture
def location(fresh: Fresh) -> str:
    return fresh()


@pytest.fixture
def registry(location: str) -> Iterator[IssuerRegistry]:
    with IssuerRegistry.open(location, issuer_ref=ISSUER_REF, issuer_keys=KEYS, list_size=4) as opened:
        yield opened


@pytest.fixture
def trust() -> TrustStore:
    return TrustStore(
        [
            TrustedKey(
                public_key=ISSUER_KEY.public_key,
                issuer=IssuerName("上海市公安局交通警察总队", "Shanghai Traffic Police"),
                credential_types=frozenset({"driving-licence"}),
                valid_from=NOW - 365 * 24 * HOUR,
                valid_until=NOW + 365 * 24 * HOUR,
                issuer_id=ISSUER_REF,
            )
        ]
    )


def issue(registry: IssuerRegistry, issuer: Issuer, **changes: Any) -> Any:
    options: dict[str, Any] = {
        "holder_key": HOLDER_KEY.public_key,
        "possession": ATTESTED_OUT_OF_BAND,
        "valid_from": NOW,
        "valid_until": NOW + 24 * 365 * HOUR,
        "now": NOW,
        **changes,
    }
    return registry.issue(issuer, "driving-licence", CLAIMS, **options)


def refused(code: RegistryErrorCode, call: Callable[[], object]) -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        call()
    assert caught.value.code is code, caught.value
    return caught.value


class Raw:
    """Plain SQL on a registry's database, behind the registry's back, with ``?`` placeholders for both."""

    def __init__(self, db: sqlite3.Connection | psycopg.Connection[Any]) -> None:
        self._db = db

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        if isinstance(self._db, sqlite3.Connection):
            return self._db.execute(sql, tuple(parameters))
        return self._db.execute(sql.replace("?", "%s"), tuple(parameters))


@contextmanager
def raw(location: str | Path) -> Iterator[Raw]:
    """A plain connection to the registry's database, committed and closed on leaving."""
    db: sqlite3.Connection | psycopg.Connection[Any]
    db = psycopg.connect(str(location)) if is_registry_url(str(location)) else sqlite3.connect(location)
    try:
        with db:
            yield Raw(db)
    finally:
        db.close()


def counters(location: str) -> tuple[int, int, int]:
    with raw(location) as db:
        next_serial, next_slot = db.execute("SELECT next_serial, next_slot FROM registry").fetchone()
        (rows,) = db.execute("SELECT count(*) FROM credentials").fetchone()
    return next_serial, next_slot, rows


# --- opening ----------------------------------------------------------------------------------------


def test_new_registry_is_private_wal_and_remembers_its_settings(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    IssuerRegistry.open(path, issuer_ref=ISSUER_REF, issuer_keys=KEYS, list_size=1000).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with raw(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with IssuerRegistry.open(path) as reopened:
        assert (reopened.issuer_ref, reopened.list_size) == (ISSUER_REF, 1000)
        assert list(reopened.list_ids) == [0]
        assert "sh-traffic" in repr(reopened)


def test_default_list_size_is_a_million(location: str) -> None:
    with IssuerRegistry.open(location, issuer_ref=ISSUER_REF, issuer_keys=KEYS) as registry:
        assert registry.list_size == 1_000_000


def test_refuses_to_open_another_issuers_registry(location: str) -> None:
    path = location
    IssuerRegistry.open(path, issuer_ref=ISSUER_REF, issuer_keys=KEYS, list_size=1000).close()
    refused(RegistryErrorCode.WRONG_REGISTRY, lambda: IssuerRegistry.open(path, issuer_ref="sh-market"))
    refused(RegistryErrorCode.WRONG_REGISTRY, lambda: IssuerRegistry.open(path, list_size=10))


def test_refuses_a_missing_registry_without_create(location: str) -> None:
    """No file, or an empty database: nothing is created."""
    refused(RegistryErrorCode.WRONG_REGISTRY, lambda: IssuerRegistry.open(location, create=False))
    assert is_empty(location)


def is_empty(location: str) -> bool:
    """No registry file, or a database without tables."""
    if not is_registry_url(location):
        return not Path(location).exists()
    with raw(location) as db:
        return not db.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = 'public'").fetchone()


def test_refuses_a_file_that_is_not_a_registry(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the droids you are looking for" * 100)
    refused(RegistryErrorCode.WRONG_REGISTRY, lambda: IssuerRegistry.open(path))
    other = tmp_path / "other.db"
    with raw(other) as db:
        db.execute("CREATE TABLE t (x)")
    refused(RegistryErrorCode.WRONG_REGISTRY, lambda: IssuerRegistry.open(other, issuer_ref=ISSUER_REF))


@pytest.mark.parametrize(
    ("issuer_ref", "list_size", "keys"),
    [
        (None, 10, ()),
        (None, 10, (ISSUER_KEY.public_key, HOLDER_KEY.public_key)),
        (ISSUER_REF, 10, ()),
        ("", 10, KEYS),
        ("x" * 65, 10, KEYS),
        (ISSUER_REF, 0, KEYS),
    ],
)
def test_refuses_bad_settings_for_a_new_registry(
    location: str, issuer_ref: str | None, list_size: int, keys: tuple[PublicKey, ...]
) -> None:
    """No issuer_ref and not exactly one key to name it after, no key at all, a bad ref or list size."""
    opening = lambda: IssuerRegistry.open(location, issuer_ref=issuer_ref, issuer_keys=keys, list_size=list_size)  # noqa: E731
    refused(RegistryErrorCode.BAD_INPUT, opening)
    assert is_empty(location)


# --- issuing ----------------------------------------------------------------------------------------


def test_issue_allocates_serials_and_slots_across_lists(registry: IssuerRegistry, issuer: Issuer) -> None:
    credentials = [issue(registry, issuer) for _ in range(6)]
    assert [c.serial for c in credentials] == [1, 2, 3, 4, 5, 6]
    assert [c.status for c in credentials] == [
        StatusReference(0, 0),
        StatusReference(0, 1),
        StatusReference(0, 2),
        StatusReference(0, 3),
        StatusReference(1, 0),
        StatusReference(1, 1),
    ]
    assert list(registry.list_ids) == [0, 1]
    record = registry.record(5)
    assert (record.credential_type, record.reference, record.status) == (
        "driving-licence",
        StatusReference(1, 0),
        VALID,
    )
    assert (record.issued_at, record.valid_from, record.kid) == (NOW, NOW, ISSUER_KEY.public_key.kid)
    assert not record.has_personal_data


def test_issued_credential_carries_its_status_reference_to_the_verifier(
    registry: IssuerRegistry, issuer: Issuer, trust: TrustStore
) -> None:
    issue(registry, issuer)
    credential = issue(registry, issuer)
    cache = StatusListCache()
    cache.add(load_status_list(registry.publish(0, ISSUER_KEY, now=NOW, next_update=NOW + HOUR), trust))
    verdict = Verifier(trust, status_lists=cache).verify(present(credential, HOLDER_KEY, now=NOW), now=NOW)
    assert (verdict.serial, verdict.status, verdict.warnings) == (2, StatusReference(0, 1), ())


def test_claims_are_not_stored_unless_the_issuer_opts_in(location: str, issuer: Issuer) -> None:
    with IssuerRegistry.open(location, issuer_ref=ISSUER_REF, issuer_keys=KEYS) as registry:
        issue(registry, issuer)
        if registry.path is not None:  # SQLite: nowhere in the file or its journals
            stored = b"".join(p.read_bytes() for p in registry.path.parent.iterdir())
            for value in ("310101198503140012", "张", "伟"):
                assert value.encode() not in stored
        issue(registry, issuer, record_personal_data=True)
        assert registry.record(2).has_personal_data and not registry.record(1).has_personal_data
    with raw(location) as db:
        assert db.execute("SELECT claims FROM credentials WHERE serial = 1").fetchone() == (None,)
        (claims,) = db.execute("SELECT claims FROM credentials WHERE serial = 2").fetchone()
    assert '"licence_number": "310101198503140012"' in claims


def test_signing_failure_records_nothing(location: str, registry: IssuerRegistry) -> None:
    class FailingSigner:
        algorithm = Algorithm.ES256
        public_key: PublicKey = ISSUER_KEY.public_key

        def sign(self, data: bytes) -> bytes:
            raise OSError("the HSM is unplugged")

    issue(registry, Issuer(ISSUER_KEY))
    before = counters(location)
    with pytest.raises(SignerError):
        issue(registry, Issuer(FailingSigner()))
    assert counters(location) == before
    assert issue(registry, Issuer(ISSUER_KEY)).serial == 2


def test_invalid_claims_record_nothing(location: str, registry: IssuerRegistry, issuer: Issuer) -> None:
    with pytest.raises(IssueError):
        registry.issue(issuer, "driving-licence", {"no_such_claim": 1}, holder_key=None, valid_from=NOW,
                       valid_until=NOW + HOUR, now=NOW)  # fmt: skip
    with pytest.raises(IssueError):
        issue(registry, issuer, valid_until=NOW - HOUR)
    assert counters(location) == (1, 0, 0)


def test_recording_failure_returns_no_credential(location: str, registry: IssuerRegistry, issuer: Issuer) -> None:
    """A row that should not exist (another writer, a restored backup) makes the INSERT fail: nothing is returned."""
    with raw(location) as db:
        db.execute(
            "INSERT INTO credentials (serial, credential_type, kid, list_id, status_index, issued_at, valid_from, "
            "valid_until) VALUES (1, 'driving-licence', ?, 3, 3, 0, 0, 1)",
            (b"\x00",),
        )
    refused(RegistryErrorCode.STORAGE, lambda: issue(registry, issuer))
    assert counters(location) == (1, 0, 1)


def test_refuses_to_issue_when_every_list_is_full(location: str, registry: IssuerRegistry, issuer: Issuer) -> None:
    with raw(location) as db:
        db.execute("UPDATE registry SET next_slot = ?", (65536 * 4 - 1,))
    assert issue(registry, issuer).status == StatusReference(65535, 3)
    error = refused(RegistryErrorCode.LISTS_FULL, lambda: issue(registry, issuer))
    assert "65536 status lists of 4 entries" in str(error)


def test_refuses_another_key_for_a_key_named_registry(fresh: Fresh, issuer: Issuer) -> None:
    other = es256_test_key("another issuer key")
    with IssuerRegistry.open(fresh(), issuer_keys=KEYS) as registry:
        assert registry.issuer_ref == f"kid:{ISSUER_KEY.public_key.kid.hex()}"
        assert issue(registry, issuer).serial == 1
        refused(RegistryErrorCode.WRONG_KEY, lambda: issue(registry, Issuer(other)))
        refused(RegistryErrorCode.WRONG_KEY, lambda: registry.publish(0, other, now=NOW, next_update=NOW + HOUR))
        refused(
            RegistryErrorCode.WRONG_KEY, lambda: registry.add_key(other.public_key, now=NOW, authorised_by=ISSUER_KEY)
        )
    refused(
        RegistryErrorCode.WRONG_KEY,
        lambda: IssuerRegistry.open(
            fresh(), issuer_ref=f"kid:{ISSUER_KEY.public_key.kid.hex()}", issuer_keys=[other.public_key]
        ),
    )


# --- the registry is bound to its issuer keys (issue 11) ---------------------------------------------

ROGUE_KEY = es256_test_key("econsent registry test: a key that is not the issuer's")


def test_issuing_with_an_unregistered_key_is_refused_and_uses_no_serial(
    location: str, registry: IssuerRegistry, issuer: Issuer
) -> None:
    """``issuer issue --key rogue.pem`` used to issue and use up a serial."""
    error = refused(RegistryErrorCode.WRONG_KEY, lambda: issue(registry, Issuer(ROGUE_KEY)))
    assert ROGUE_KEY.public_key.kid.hex() in str(error) and "add-key" in str(error)
    assert counters(location) == (1, 0, 0)
    assert issue(registry, issuer).serial == 1


def test_publishing_with_an_unregistered_key_is_refused_and_uses_no_sequence(
    registry: IssuerRegistry, issuer: Issuer, trust: TrustStore
) -> None:
    """``issuer publish --key holder.pem`` used to sign a list every verifier refuses."""
    issue(registry, issuer)
    refused(RegistryErrorCode.WRONG_KEY, lambda: registry.publish(0, HOLDER_KEY, now=NOW, next_update=NOW + HOUR))
    assert load_status_list(registry.publish(0, ISSUER_KEY, now=NOW, next_update=NOW + HOUR), trust).sequence == 1


def test_a_rotated_key_is_registered_explicitly_then_issues_and_publishes(
    location: str, registry: IssuerRegistry, issuer: Issuer
) -> None:
    registry.add_key(ROGUE_KEY.public_key, now=NOW, authorised_by=ISSUER_KEY)
    assert registry.issuer_keys == (ISSUER_KEY.public_key, ROGUE_KEY.public_key)
    assert issue(registry, Issuer(ROGUE_KEY)).kid == ROGUE_KEY.public_key.kid
    refused(
        RegistryErrorCode.BAD_INPUT, lambda: registry.add_key(ROGUE_KEY.public_key, now=NOW, authorised_by=ROGUE_KEY)
    )
    with IssuerRegistry.open(location, issuer_keys=[ROGUE_KEY.public_key]) as reopened:
        assert reopened.issuer_keys == registry.issuer_keys
    refused(RegistryErrorCode.WRONG_KEY, lambda: IssuerRegistry.open(location, issuer_keys=[HOLDER_KEY.public_key]))


def test_a_version_1_registry_is_upgraded_and_refuses_every_key_until_one_is_registered(
    tmp_path: Path, issuer: Issuer
) -> None:
    """A registry made before keys were recorded: no key is guessed from what it signed (it may be a rogue one).

    SQLite only: PostgreSQL registries began at schema 3."""
    path = tmp_path / "registry.db"
    with IssuerRegistry.open(path, issuer_ref=ISSUER_REF, issuer_keys=KEYS, list_size=4) as registry:
        issue(registry, issuer)
    with raw(path) as db:
        db.execute("DROP TABLE issuer_keys")
        db.execute("DROP TABLE batch_rows")
        db.execute("PRAGMA user_version = 1")
    with IssuerRegistry.open(path) as upgraded:
        assert upgraded.issuer_keys == ()
        assert upgraded.record(1).kid == ISSUER_KEY.public_key.kid
        refused(RegistryErrorCode.WRONG_KEY, lambda: issue(upgraded, issuer))
        refused(  # the first key proves the office holds it: another key cannot vouch for it
            RegistryErrorCode.WRONG_KEY,
            lambda: upgraded.add_key(ISSUER_KEY.public_key, now=NOW, authorised_by=ROGUE_KEY),
        )
        upgraded.add_key(ISSUER_KEY.public_key, now=NOW, authorised_by=ISSUER_KEY)
        assert issue(upgraded, issuer).serial == 2
        assert upgraded.reserve("after-upgrade", ["row-1"]) == [(3, StatusReference(0, 2))]
    with raw(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (3,)


def test_a_version_2_registry_is_upgraded_in_place_and_keeps_everything(tmp_path: Path, issuer: Issuer) -> None:
    """A registry of before batch issuance gains the reservation table; its credentials, keys and lists stay."""
    path = tmp_path / "registry.db"
    with IssuerRegistry.open(path, issuer_ref=ISSUER_REF, issuer_keys=KEYS, list_size=4) as registry:
        for _ in range(5):
            issue(registry, issuer)
        registry.revoke(2, now=NOW, reason="stolen")
        registry.publish(0, ISSUER_KEY, now=NOW, next_update=NOW + HOUR)
    with raw(path) as db:
        db.execute("DROP TABLE batch_rows")
        db.execute("PRAGMA user_version = 2")
    with IssuerRegistry.open(path, issuer_keys=KEYS) as upgraded:
        assert upgraded.status_of(2) is REVOKED and [e.action for e in upgraded.history(2)] == ["issue", "revoke"]
        assert upgraded.reserve("b", ["r1", "r2"]) == [(6, StatusReference(1, 1)), (7, StatusReference(1, 2))]
        assert issue(upgraded, issuer).serial == 8
    with raw(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (3,)
        (sequence,) = db.execute("SELECT sequence FROM publications WHERE list_id = 0").fetchone()
    assert sequence == 1


def test_a_registry_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    IssuerRegistry.open(path, issuer_ref=ISSUER_REF, issuer_keys=KEYS).close()
    with raw(path) as db:
        db.execute("PRAGMA user_version = 4")
    refused(RegistryErrorCode.WRONG_REGISTRY, lambda: IssuerRegistry.open(path))


class _Impostor:
    """A signer that claims a registered public key but holds another private key."""

    def __init__(self, claimed: PublicKey, actual: SigningKey) -> None:
        self.algorithm, self.public_key, self._actual = claimed.algorithm, claimed, actual

    def sign(self, data: bytes) -> bytes:
        return self._actual.sign(data)


def test_only_a_registered_key_can_register_another(registry: IssuerRegistry) -> None:
    """Whoever can write the registry file could register any key, then publish lists every verifier refuses."""
    newcomer = es256_test_key("econsent registry test: the office's next key")
    refused(RegistryErrorCode.WRONG_KEY, lambda: registry.add_key(newcomer.public_key, now=NOW, authorised_by=newcomer))
    refused(
        RegistryErrorCode.WRONG_KEY, lambda: registry.add_key(newcomer.public_key, now=NOW, authorised_by=HOLDER_KEY)
    )
    with pytest.raises(SignerError):  # claims the issuer's public key, signs with another private key
        registry.add_key(newcomer.public_key, now=NOW, authorised_by=_Impostor(ISSUER_KEY.public_key, ROGUE_KEY))
    assert registry.issuer_keys == (ISSUER_KEY.public_key,)
    registry.add_key(newcomer.public_key, now=NOW, authorised_by=ISSUER_KEY)
    assert registry.issuer_keys == (ISSUER_KEY.public_key, newcomer.public_key)


# --- serials at the edges of their range --------------------------------------------------------------


@pytest.mark.parametrize("serial", [2**63, 2**64 - 1])
def test_a_serial_of_the_wire_range_never_issued_here_is_unknown_not_an_overflow(
    registry: IssuerRegistry, issuer: Issuer, serial: int
) -> None:
    """Serials up to 2**64 - 1 are valid on the wire; SQLite's INTEGER stops at 2**63 - 1 (OverflowError before)."""
    issue(registry, issuer)
    for call in (
        lambda: registry.revoke(serial, now=NOW),
        lambda: registry.suspend(serial, now=NOW),
        lambda: registry.reinstate(serial, now=NOW),
        lambda: registry.status_of(serial),
        lambda: registry.history(serial),
    ):
        refused(RegistryErrorCode.UNKNOWN_SERIAL, call)


@pytest.mark.parametrize("serial", [True, False, -1, 2**64, 1.0, "1"])
def test_a_serial_that_is_not_an_integer_of_the_wire_range_is_bad_input(
    registry: IssuerRegistry, issuer: Issuer, serial: object
) -> None:
    """``revoke(True)`` used to revoke serial 1 (a bool is an int to Python and to SQLite)."""
    issue(registry, issuer)
    refused(RegistryErrorCode.BAD_INPUT, lambda: registry.revoke(serial, now=NOW))  # type: ignore[arg-type]
    refused(RegistryErrorCode.BAD_INPUT, lambda: registry.record(serial))  # type: ignore[arg-type]
    assert registry.status_of(1) is VALID


def test_publish_refuses_a_bool_list_id(registry: IssuerRegistry, issuer: Issuer) -> None:
    for _ in range(5):
        issue(registry, issuer)
    refused(RegistryErrorCode.BAD_INPUT, lambda: registry.publish(True, ISSUER_KEY, now=NOW, next_update=NOW + HOUR))


def test_two_connections_never_hand_out_the_same_slot(location: str) -> None:
    path = location
    IssuerRegistry.open(path, issuer_ref=ISSUER_REF, issuer_keys=KEYS, list_size=7).close()
    results: list[tuple[int, StatusReference]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with IssuerRegistry.open(path) as registry:
                for _ in range(15):
                    credential = issue(registry, Issuer(ISSUER_KEY))
                    results.append((credential.serial, credential.status))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(serial for serial, _ in results) == list(range(1, 31))
    assert len({reference for _, reference in results}) == 30


# --- status changes ---------------------------------------------------------------------------------


def test_suspend_reinstate_revoke_with_audit_trail(registry: IssuerRegistry, issuer: Issuer) -> None:
    issue(registry, issuer)
    assert registry.suspend(1, now=NOW + HOUR, reason="reported lost") is VALID
    assert registry.status_of(1) is SUSPENDED
    assert registry.reinstate(1, now=NOW + 2 * HOUR) is SUSPENDED
    assert registry.status_of(1) is VALID
    assert registry.suspend(1, now=NOW + 3 * HOUR) is VALID
    assert registry.revoke(1, now=NOW + 4 * HOUR, reason="court order") is SUSPENDED
    assert registry.status_of(1) is REVOKED
    assert registry.record(1).status_changed_at == NOW + 4 * HOUR
    trail = [(e.at - NOW, e.action, e.old_status, e.new_status, e.reason) for e in registry.history(1)]
    assert trail == [
        (dt.timedelta(0), "issue", None, VALID, None),
        (HOUR, "suspend", VALID, SUSPENDED, "reported lost"),
        (2 * HOUR, "reinstate", SUSPENDED, VALID, None),
        (3 * HOUR, "suspend", VALID, SUSPENDED, None),
        (4 * HOUR, "revoke", SUSPENDED, REVOKED, "court order"),
    ]


def test_revocation_is_final(registry: IssuerRegistry, issuer: Issuer) -> None:
    issue(registry, issuer)
    registry.revoke(1, now=NOW)
    refused(RegistryErrorCode.REVOKED_IS_FINAL, lambda: registry.reinstate(1, now=NOW))
    refused(RegistryErrorCode.REVOKED_IS_FINAL, lambda: registry.suspend(1, now=NOW))
    refused(RegistryErrorCode.ALREADY_REVOKED, lambda: registry.revoke(1, now=NOW))
    assert registry.status_of(1) is REVOKED
    assert len(registry.history(1)) == 2


def test_reinstate_only_from_suspended(registry: IssuerRegistry, issuer: Issuer) -> None:
    issue(registry, issuer)
    refused(RegistryErrorCode.NOT_SUSPENDED, lambda: registry.reinstate(1, now=NOW))
    registry.suspend(1, now=NOW)
    refused(RegistryErrorCode.ALREADY_SUSPENDED, lambda: registry.suspend(1, now=NOW))
    assert len(registry.history(1)) == 2


def test_unknown_serial(registry: IssuerRegistry) -> None:
    for call in (
        lambda: registry.revoke(99, now=NOW),
        lambda: registry.suspend(99, now=NOW),
        lambda: registry.reinstate(99, now=NOW),
        lambda: registry.status_of(99),
        lambda: registry.history(99),
    ):
        assert "serial 99" in str(refused(RegistryErrorCode.UNKNOWN_SERIAL, call))


def test_reason_is_bounded(registry: IssuerRegistry, issuer: Issuer) -> None:
    issue(registry, issuer)
    refused(RegistryErrorCode.BAD_INPUT, lambda: registry.revoke(1, now=NOW, reason="x" * 501))
    assert registry.status_of(1) is VALID


# --- publishing -------------------------------------------------------------------------------------


def test_publish_reflects_the_table_and_increments_the_sequence(
    registry: IssuerRegistry, issuer: Issuer, trust: TrustStore
) -> None:
    for _ in range(6):
        issue(registry, issuer)
    registry.revoke(1, now=NOW)
    registry.suspend(4, now=NOW)
    registry.revoke(6, now=NOW)
    lists = [load_status_list(registry.publish(i, ISSUER_KEY, now=NOW, next_update=NOW + HOUR), trust) for i in (0, 1)]
    assert [(sl.list_id, sl.sequence, sl.size) for sl in lists] == [(0, 1, 4), (1, 1, 4)]
    assert [lists[0].status(i) for i in range(4)] == [REVOKED, VALID, VALID, SUSPENDED]
    assert [lists[1].status(i) for i in range(4)] == [VALID, REVOKED, VALID, VALID]
    assert lists[0].issuer_ref == ISSUER_REF and lists[0].issued_at == NOW and lists[0].next_update == NOW + HOUR

    registry.reinstate(4, now=NOW + HOUR)
    again = load_status_list(registry.publish(0, ISSUER_KEY, now=NOW + HOUR, next_update=NOW + 2 * HOUR), trust)
    assert again.sequence == 2 and again.status(3) is VALID
    cache = StatusListCache()
    assert cache.add(lists[0]) and cache.add(again)
    third = registry.publish_all(ISSUER_KEY, now=NOW + 2 * HOUR, next_update=NOW + 3 * HOUR)
    assert [(i, load_status_list(data, trust).sequence) for i, data in third.items()] == [(0, 3), (1, 2)]


def test_publish_before_any_issue_gives_an_all_valid_list(registry: IssuerRegistry, trust: TrustStore) -> None:
    published = load_status_list(registry.publish(0, ISSUER_KEY, now=NOW, next_update=NOW + HOUR), trust)
    assert published.counts() == {VALID: 4, REVOKED: 0, SUSPENDED: 0}


def test_publish_refuses_unknown_lists_and_backwards_times(registry: IssuerRegistry, issuer: Issuer) -> None:
    issue(registry, issuer)
    refused(RegistryErrorCode.UNKNOWN_LIST, lambda: registry.publish(1, ISSUER_KEY, now=NOW, next_update=NOW + HOUR))
    refused(RegistryErrorCode.UNKNOWN_LIST, lambda: registry.publish(-1, ISSUER_KEY, now=NOW, next_update=NOW + HOUR))
    refused(RegistryErrorCode.BAD_INPUT, lambda: registry.publish(0, ISSUER_KEY, now=NOW, next_update=NOW))


def test_failed_publication_leaves_a_gap_never_a_reused_sequence(
    registry: IssuerRegistry, issuer: Issuer, trust: TrustStore
) -> None:
    class FailingSigner:
        algorithm = Algorithm.ES256
        public_key: PublicKey = ISSUER_KEY.public_key

        def sign(self, data: bytes) -> bytes:
            raise OSError("the HSM is unplugged")

    issue(registry, issuer)
    assert load_status_list(registry.publish(0, ISSUER_KEY, now=NOW, next_update=NOW + HOUR), trust).sequence == 1
    with pytest.raises(SignerError):
        registry.publish(0, FailingSigner(), now=NOW, next_update=NOW + HOUR)
    assert load_status_list(registry.publish(0, ISSUER_KEY, now=NOW, next_update=NOW + HOUR), trust).sequence == 3


def test_revoked_credential_is_refused_by_a_verifier_with_the_new_list(
    registry: IssuerRegistry, issuer: Issuer, trust: TrustStore
) -> None:
    """End to end: issue, publish, show (valid); revoke, publish, show again (refused as REVOKED)."""
    credential = issue(registry, issuer)
    cache = StatusListCache()
    verifier = Verifier(trust, status_lists=cache)
    cache.add(load_status_list(registry.publish(0, ISSUER_KEY, now=NOW, next_update=NOW + HOUR), trust))
    assert verifier.verify(present(credential, HOLDER_KEY, now=NOW), now=NOW).status == StatusReference(0, 0)
    registry.revoke(credential.serial, now=NOW + HOUR)
    cache.add(load_status_list(registry.publish(0, ISSUER_KEY, now=NOW + HOUR, next_update=NOW + 2 * HOUR), trust))
    with pytest.raises(VerificationError) as caught:
        verifier.verify(present(credential, HOLDER_KEY, now=NOW + HOUR), now=NOW + HOUR)
    assert caught.value.code is ErrorCode.REVOKED


# --- block allocation for batch issuance (issue 16) ----------------------------------------------------


def sign_reserved(
    reservations: Sequence[tuple[int, StatusReference]], signer: SigningKey = ISSUER_KEY
) -> list[Credential]:
    """Sign one credential per reservation, outside the registry, as a batch worker does."""
    return [
        Issuer(signer).issue(
            "driving-licence",
            CLAIMS,
            holder_key=HOLDER_KEY.public_key,
            possession=ATTESTED_OUT_OF_BAND,
            valid_from=NOW,
            valid_until=NOW + 24 * 365 * HOUR,
            now=NOW,
            serial=serial,
            status=reference,
        )
        for serial, reference in reservations
    ]


def test_reserve_hands_out_the_next_serials_and_slots_in_row_order(registry: IssuerRegistry, issuer: Issuer) -> None:
    issue(registry, issuer)
    reserved = registry.reserve("2026-11 renewal", ["row-7", "row-3", "行-9"])
    assert reserved == [(2, StatusReference(0, 1)), (3, StatusReference(0, 2)), (4, StatusReference(0, 3))]
    assert issue(registry, issuer).status == StatusReference(1, 0)  # issue and reserve share the counters
    assert list(registry.list_ids) == [0, 1]


def test_reserve_is_idempotent_a_row_keeps_its_serial_forever(registry: IssuerRegistry) -> None:
    first = registry.reserve("b", ["a", "b", "c"])
    again = registry.reserve("b", ["c", "new", "a"])
    assert again == [first[2], (4, StatusReference(0, 3)), first[0]]
    assert registry.reserve("b", ["a", "b", "c", "new"]) == [*first, again[1]]
    assert registry.reserve("another batch", ["a"]) == [(5, StatusReference(1, 0))]  # row ids are per batch
    assert registry.reserve("b", []) == []


@pytest.mark.parametrize(
    ("batch_id", "rows"),
    [
        ("", ["a"]),
        ("x" * 65, ["a"]),
        ("tab\there", ["a"]),
        (7, ["a"]),
        ("b", [""]),
        ("b", ["x" * 129]),
        ("b", ["new\nline"]),
        ("b", ["a", 1]),
        ("b", ["a", "b", "a"]),
        ("b", "abc"),
        ("b", [f"r{i}" for i in range(100_001)]),
    ],
    ids=[
        "empty-batch",
        "long-batch",
        "control-batch",
        "int-batch",
        "empty-row",
        "long-row",
        "control-row",
        "int-row",
        "duplicate-row",
        "string-not-list",
        "too-many-rows",
    ],
)
def test_reserve_refuses_bad_ids_and_reserves_nothing(
    location: str, registry: IssuerRegistry, batch_id: Any, rows: Any
) -> None:
    refused(RegistryErrorCode.BAD_INPUT, lambda: registry.reserve(batch_id, rows))
    assert counters(location) == (1, 0, 0)
    with raw(location) as db:
        assert db.execute("SELECT count(*) FROM batch_rows").fetchone() == (0,)


def test_reserve_takes_the_longest_ids_and_exactly_the_most_rows(registry: IssuerRegistry) -> None:
    reserved = registry.reserve("x" * 64, ["y" * 128])
    assert reserved == [(1, StatusReference(0, 0))]
    assert len(registry.reserve("big", [f"row {i}" for i in range(100_000)])) == 100_000
    assert registry.reserve("big", ["row 99999"]) == [(100_001, StatusReference(25_000, 0))]


def test_reserve_refuses_rows_that_do_not_fit_and_reserves_none_of_them(
    location: str, registry: IssuerRegistry
) -> None:
    with raw(location) as db:
        db.execute("UPDATE registry SET next_slot = ?", (65536 * 4 - 2,))
    error = refused(RegistryErrorCode.LISTS_FULL, lambda: registry.reserve("b", ["a", "b", "c"]))
    assert "65536 status lists of 4 entries" in str(error)
    assert registry.reserve("b", ["a", "b"]) == [(1, StatusReference(65535, 2)), (2, StatusReference(65535, 3))]
    assert registry.reserve("b", ["a", "b"])[1] == (2, StatusReference(65535, 3))  # held rows need no room
    refused(RegistryErrorCode.LISTS_FULL, lambda: registry.reserve("b", ["c"]))


def test_record_batch_records_once_with_audit_and_resumes(registry: IssuerRegistry, trust: TrustStore) -> None:
    rows = ["r1", "r2", "r3"]
    credentials = sign_reserved(registry.reserve("b", rows))
    assert registry.recorded_rows("b") == frozenset()
    assert registry.record_batch("b", list(zip(rows[:2], credentials[:2], strict=True))) == 2
    assert registry.recorded_rows("b") == {"r1", "r2"}
    assert registry.recorded_rows("b", ["r2", "r3", "not reserved"]) == {"r2"}
    # a resumed run sends everything again, signed anew: only the missing row is recorded
    again = sign_reserved(registry.reserve("b", rows))
    assert registry.record_batch("b", list(zip(rows, again, strict=True))) == 1
    assert registry.record_batch("b", list(zip(rows, again, strict=True))) == 0
    assert registry.recorded_rows("b") == set(rows)
    record = registry.record(3)
    assert (record.reference, record.status, record.kid, record.has_personal_data) == (
        StatusReference(0, 2), VALID, ISSUER_KEY.public_key.kid, False,
    )  # fmt: skip
    assert [(e.at, e.action, e.old_status, e.new_status) for e in registry.history(1)] == [(NOW, "issue", None, VALID)]
    registry.revoke(2, now=NOW + HOUR)
    published = load_status_list(registry.publish(0, ISSUER_KEY, now=NOW + HOUR, next_update=NOW + 2 * HOUR), trust)
    assert [published.status(i) for i in range(4)] == [VALID, REVOKED, VALID, VALID]


def test_record_batch_keeps_claims_only_when_asked(location: str, registry: IssuerRegistry) -> None:
    credentials = sign_reserved(registry.reserve("b", ["r1", "r2"]))
    registry.record_batch("b", [("r1", credentials[0])])
    registry.record_batch("b", [("r2", credentials[1])], record_personal_data=True)
    assert not registry.record(1).has_personal_data and registry.record(2).has_personal_data


def test_record_batch_refuses_and_records_nothing_of_the_call(location: str, registry: IssuerRegistry) -> None:
    reserved = registry.reserve("b", ["r1", "r2", "r3"])
    good = sign_reserved(reserved)
    swapped = sign_reserved([reserved[1], reserved[0]])
    off_slot = sign_reserved([(reserved[2][0], StatusReference(3, 3))])
    rogue = sign_reserved([reserved[2]], signer=ROGUE_KEY)
    for code, call in (
        (RegistryErrorCode.NOT_RESERVED, lambda: registry.record_batch("b", [("r1", good[0]), ("r9", good[1])])),
        (RegistryErrorCode.NOT_RESERVED, lambda: registry.record_batch("other", [("r1", good[0])])),
        (RegistryErrorCode.RESERVATION_MISMATCH, lambda: registry.record_batch("b", [("r1", swapped[0])])),
        (RegistryErrorCode.RESERVATION_MISMATCH, lambda: registry.record_batch("b", [("r3", off_slot[0])])),
        (RegistryErrorCode.WRONG_KEY, lambda: registry.record_batch("b", [("r1", good[0]), ("r3", rogue[0])])),
        (RegistryErrorCode.BAD_INPUT, lambda: registry.record_batch("b", [("r1", good[0]), ("r1", good[0])])),
        (RegistryErrorCode.BAD_INPUT, lambda: registry.record_batch("b", [("r1", b"not a credential")])),  # type: ignore[list-item]
        (RegistryErrorCode.BAD_INPUT, lambda: registry.record_batch("b", [("r1",)])),  # type: ignore[list-item]
        (RegistryErrorCode.BAD_INPUT, lambda: registry.record_batch("", [("r1", good[0])])),
        (RegistryErrorCode.BAD_INPUT, lambda: registry.record_batch("b", [("r1", good[0])] * 100_001)),
    ):
        refused(code, call)
    assert counters(location) == (4, 3, 0)
    with raw(location) as db:
        assert db.execute("SELECT count(*) FROM audit").fetchone() == (0,)
    assert registry.record_batch("b", list(zip(["r1", "r2", "r3"], good, strict=True))) == 3


def test_a_batch_credential_verifies_and_revokes_like_an_issued_one(
    registry: IssuerRegistry, trust: TrustStore
) -> None:
    (credential,) = sign_reserved(registry.reserve("b", ["r1"]))
    registry.record_batch("b", [("r1", credential)])
    cache = StatusListCache()
    verifier = Verifier(trust, status_lists=cache)
    cache.add(load_status_list(registry.publish(0, ISSUER_KEY, now=NOW, next_update=NOW + HOUR), trust))
    assert verifier.verify(present(credential, HOLDER_KEY, now=NOW), now=NOW).serial == 1
    registry.revoke(1, now=NOW + HOUR)
    cache.add(load_status_list(registry.publish(0, ISSUER_KEY, now=NOW + HOUR, next_update=NOW + 2 * HOUR), trust))
    with pytest.raises(VerificationError) as caught:
        verifier.verify(present(credential, HOLDER_KEY, now=NOW + HOUR), now=NOW + HOUR)
    assert caught.value.code is ErrorCode.REVOKED


def test_recorded_rows_refuses_bad_ids(registry: IssuerRegistry) -> None:
    refused(RegistryErrorCode.BAD_INPUT, lambda: registry.recorded_rows(""))
    refused(RegistryErrorCode.BAD_INPUT, lambda: registry.recorded_rows("b", ["ok", "\x00"]))
