"""The issuer registry: slot allocation, transactions, status rules with an audit trail, publication."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from testkeys import es256_test_key

from econsent import (
    ATTESTED_OUT_OF_BAND,
    Algorithm,
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
from econsent.registry import IssuerRegistry, RegistryError, RegistryErrorCode
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


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[IssuerRegistry]:
    with IssuerRegistry.open(tmp_path / "registry.db", issuer_ref=ISSUER_REF, issuer_keys=KEYS, list_size=4) as opened:
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


@contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain SQLite connection to the registry file, committed and closed on leaving."""
    db = sqlite3.connect(path)
    try:
        with db:
            yield db
    finally:
        db.close()


def counters(path: Path) -> tuple[int, int, int]:
    with raw(path) as db:
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


def test_default_list_size_is_a_million(tmp_path: Path) -> None:
    with IssuerRegistry.open(tmp_path / "r.db", issuer_ref=ISSUER_REF, issuer_keys=KEYS) as registry:
        assert registry.list_size == 1_000_000


def test_refuses_to_open_another_issuers_registry(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    IssuerRegistry.open(path, issuer_ref=ISSUER_REF, issuer_keys=KEYS, list_size=1000).close()
    refused(RegistryErrorCode.WRONG_REGISTRY, lambda: IssuerRegistry.open(path, issuer_ref="sh-market"))
    refused(RegistryErrorCode.WRONG_REGISTRY, lambda: IssuerRegistry.open(path, list_size=10))


def test_refuses_a_missing_registry_without_create(tmp_path: Path) -> None:
    refused(RegistryErrorCode.WRONG_REGISTRY, lambda: IssuerRegistry.open(tmp_path / "nope.db", create=False))
    assert not (tmp_path / "nope.db").exists()


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
    tmp_path: Path, issuer_ref: str | None, list_size: int, keys: tuple[PublicKey, ...]
) -> None:
    """No issuer_ref and not exactly one key to name it after, no key at all, a bad ref or list size."""
    path = tmp_path / "r.db"
    opening = lambda: IssuerRegistry.open(path, issuer_ref=issuer_ref, issuer_keys=keys, list_size=list_size)  # noqa: E731
    refused(RegistryErrorCode.BAD_INPUT, opening)
    assert not path.exists()


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


def test_claims_are_not_stored_unless_the_issuer_opts_in(tmp_path: Path, issuer: Issuer) -> None:
    path = tmp_path / "r.db"
    with IssuerRegistry.open(path, issuer_ref=ISSUER_REF, issuer_keys=KEYS) as registry:
        issue(registry, issuer)
        stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
        for value in ("310101198503140012", "张", "伟"):
            assert value.encode() not in stored
        issue(registry, issuer, record_personal_data=True)
        assert registry.record(2).has_personal_data and not registry.record(1).has_personal_data
    with raw(path) as db:
        (claims,) = db.execute("SELECT claims FROM credentials WHERE serial = 2").fetchone()
    assert '"licence_number": "310101198503140012"' in claims


def test_signing_failure_records_nothing(tmp_path: Path, registry: IssuerRegistry) -> None:
    class FailingSigner:
        algorithm = Algorithm.ES256
        public_key: PublicKey = ISSUER_KEY.public_key

        def sign(self, data: bytes) -> bytes:
            raise OSError("the HSM is unplugged")

    issue(registry, Issuer(ISSUER_KEY))
    before = counters(registry.path)
    with pytest.raises(SignerError):
        issue(registry, Issuer(FailingSigner()))
    assert counters(registry.path) == before
    assert issue(registry, Issuer(ISSUER_KEY)).serial == 2


def test_invalid_claims_record_nothing(registry: IssuerRegistry, issuer: Issuer) -> None:
    with pytest.raises(IssueError):
        registry.issue(issuer, "driving-licence", {"no_such_claim": 1}, holder_key=None, valid_from=NOW,
                       valid_until=NOW + HOUR, now=NOW)  # fmt: skip
    with pytest.raises(IssueError):
        issue(registry, issuer, valid_until=NOW - HOUR)
    assert counters(registry.path) == (1, 0, 0)


def test_recording_failure_returns_no_credential(registry: IssuerRegistry, issuer: Issuer) -> None:
    """A row that should not exist (another writer, a restored backup) makes the INSERT fail: nothing is returned."""
    with raw(registry.path) as db:
        db.execute(
            "INSERT INTO credentials (serial, credential_type, kid, list_id, status_index, issued_at, valid_from, "
            "valid_until) VALUES (1, 'driving-licence', x'00', 3, 3, 0, 0, 1)"
        )
    refused(RegistryErrorCode.STORAGE, lambda: issue(registry, issuer))
    assert counters(registry.path) == (1, 0, 1)


def test_refuses_to_issue_when_every_list_is_full(registry: IssuerRegistry, issuer: Issuer) -> None:
    with raw(registry.path) as db:
        db.execute("UPDATE registry SET next_slot = ?", (65536 * 4 - 1,))
    assert issue(registry, issuer).status == StatusReference(65535, 3)
    error = refused(RegistryErrorCode.LISTS_FULL, lambda: issue(registry, issuer))
    assert "65536 status lists of 4 entries" in str(error)


def test_refuses_another_key_for_a_key_named_registry(tmp_path: Path, issuer: Issuer) -> None:
    other = es256_test_key("another issuer key")
    with IssuerRegistry.open(tmp_path / "r.db", issuer_keys=KEYS) as registry:
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
            tmp_path / "k.db", issuer_ref=f"kid:{ISSUER_KEY.public_key.kid.hex()}", issuer_keys=[other.public_key]
        ),
    )


# --- the registry is bound to its issuer keys (issue 11) ---------------------------------------------

ROGUE_KEY = es256_test_key("econsent registry test: a key that is not the issuer's")


def test_issuing_with_an_unregistered_key_is_refused_and_uses_no_serial(
    registry: IssuerRegistry, issuer: Issuer
) -> None:
    """``issuer issue --key rogue.pem`` used to issue and use up a serial."""
    error = refused(RegistryErrorCode.WRONG_KEY, lambda: issue(registry, Issuer(ROGUE_KEY)))
    assert ROGUE_KEY.public_key.kid.hex() in str(error) and "add-key" in str(error)
    assert counters(registry.path) == (1, 0, 0)
    assert issue(registry, issuer).serial == 1


def test_publishing_with_an_unregistered_key_is_refused_and_uses_no_sequence(
    registry: IssuerRegistry, issuer: Issuer, trust: TrustStore
) -> None:
    """``issuer publish --key holder.pem`` used to sign a list every verifier refuses."""
    issue(registry, issuer)
    refused(RegistryErrorCode.WRONG_KEY, lambda: registry.publish(0, HOLDER_KEY, now=NOW, next_update=NOW + HOUR))
    assert load_status_list(registry.publish(0, ISSUER_KEY, now=NOW, next_update=NOW + HOUR), trust).sequence == 1


def test_a_rotated_key_is_registered_explicitly_then_issues_and_publishes(
    registry: IssuerRegistry, issuer: Issuer, trust: TrustStore
) -> None:
    registry.add_key(ROGUE_KEY.public_key, now=NOW, authorised_by=ISSUER_KEY)
    assert registry.issuer_keys == (ISSUER_KEY.public_key, ROGUE_KEY.public_key)
    assert issue(registry, Issuer(ROGUE_KEY)).kid == ROGUE_KEY.public_key.kid
    refused(
        RegistryErrorCode.BAD_INPUT, lambda: registry.add_key(ROGUE_KEY.public_key, now=NOW, authorised_by=ROGUE_KEY)
    )
    with IssuerRegistry.open(registry.path, issuer_keys=[ROGUE_KEY.public_key]) as reopened:
        assert reopened.issuer_keys == registry.issuer_keys
    refused(
        RegistryErrorCode.WRONG_KEY, lambda: IssuerRegistry.open(registry.path, issuer_keys=[HOLDER_KEY.public_key])
    )


def test_a_version_1_registry_is_upgraded_and_refuses_every_key_until_one_is_registered(
    registry: IssuerRegistry, issuer: Issuer
) -> None:
    """A registry made before keys were recorded: no key is guessed from what it signed (it may be a rogue one)."""
    issue(registry, issuer)
    registry.close()
    with raw(registry.path) as db:
        db.execute("DROP TABLE issuer_keys")
        db.execute("PRAGMA user_version = 1")
    with IssuerRegistry.open(registry.path) as upgraded:
        assert upgraded.issuer_keys == ()
        assert upgraded.record(1).kid == ISSUER_KEY.public_key.kid
        refused(RegistryErrorCode.WRONG_KEY, lambda: issue(upgraded, issuer))
        refused(  # the first key proves the office holds it: another key cannot vouch for it
            RegistryErrorCode.WRONG_KEY,
            lambda: upgraded.add_key(ISSUER_KEY.public_key, now=NOW, authorised_by=ROGUE_KEY),
        )
        upgraded.add_key(ISSUER_KEY.public_key, now=NOW, authorised_by=ISSUER_KEY)
        assert issue(upgraded, issuer).serial == 2
    with raw(registry.path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)


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


def test_two_connections_never_hand_out_the_same_slot(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
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
