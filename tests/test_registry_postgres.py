"""The registry on a real PostgreSQL server shared by several offices: concurrent writers in separate
processes, the same status lists as SQLite byte for byte, a password never shown, the CLI given a URL.

The behaviour common to both stores is tested on both in tests/test_registry.py; here is what only a
server database has. The server is started by tests/postgres.py on 127.0.0.1.
"""

# ruff: noqa: F811  (tests take the imported fixtures by their names)

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from postgres import PASSWORD, ROLE, PostgresServer, postgres_server, postgres_url  # noqa: F401  (the fixtures)
from test_registry import CLAIMS, HOUR, ISSUER_REF, NOW, sign_reserved
from testkeys import ed25519_test_key

from econsent import ATTESTED_OUT_OF_BAND, Issuer, IssuerName, TrustedKey, TrustStore, cli
from econsent.registry import IssuerRegistry, RegistryError, RegistryErrorCode
from econsent.registry._postgres import redact
from econsent.status import CredentialStatus, load_status_list

ISSUER_KEY = ed25519_test_key("econsent postgres registry test issuer")  # deterministic signatures
HOLDER_KEY = ed25519_test_key("econsent postgres registry test holder")
TRUST = TrustStore(
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


def open_new(location: str | Path, list_size: int = 8) -> IssuerRegistry:
    return IssuerRegistry.open(
        location, issuer_ref=ISSUER_REF, issuer_keys=[ISSUER_KEY.public_key], list_size=list_size
    )


def issue(registry: IssuerRegistry, now: dt.datetime = NOW) -> Any:
    return registry.issue(
        Issuer(ISSUER_KEY), "driving-licence", CLAIMS, holder_key=HOLDER_KEY.public_key,
        possession=ATTESTED_OUT_OF_BAND, valid_from=NOW, valid_until=NOW + 24 * 365 * HOUR, now=now,
    )  # fmt: skip


def refused(code: RegistryErrorCode, call: Callable[[], object]) -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        call()
    assert caught.value.code is code, caught.value
    return caught.value


# --- several offices writing at once ----------------------------------------------------------------


ROUNDS = 12
BLOCK = 25


_START: Any = None  # each office process's handle on the barrier that starts them together


def _set_start(barrier: Any) -> None:
    global _START
    _START = barrier


def office_worker(url: str, office: int) -> dict[str, Any]:
    """One office's process; an error comes back as text (econsent's errors do not survive pickling)."""
    try:
        return _office_rounds(url, office)
    except Exception as exc:  # reported by the test
        return {"error": f"office {office}: {exc!r}"}


def _office_rounds(url: str, office: int) -> dict[str, Any]:
    """Issue, reserve and record a block, revoke, publish, round after round."""
    seen: dict[str, Any] = {"issued": [], "reserved": [], "revoked": [], "published": []}
    with IssuerRegistry.open(url, create=False) as registry:
        _START.wait(timeout=60)  # every office connected: the rounds overlap from the first
        for round_ in range(ROUNDS):
            credential = issue(registry)
            seen["issued"].append((credential.serial, (credential.status.list_id, credential.status.index)))
            rows = [f"office {office} row {round_}-{i}" for i in range(BLOCK)]
            reserved = registry.reserve(f"office-{office}", rows)
            seen["reserved"] += [(serial, (reference.list_id, reference.index)) for serial, reference in reserved]
            if round_ % 2:  # half the blocks are recorded; the others stay reserved, as after a crash
                registry.record_batch(
                    f"office-{office}", list(zip(rows, sign_reserved(reserved, ISSUER_KEY), strict=True))
                )
            registry.revoke(credential.serial, now=NOW + HOUR, reason=f"office {office}")
            seen["revoked"].append(credential.serial)
            for list_id in (0, registry.list_ids[-1]):  # the first list and the newest
                data = registry.publish(list_id, ISSUER_KEY, now=NOW + HOUR, next_update=NOW + 2 * HOUR)
                published = load_status_list(data, TRUST)
                seen["published"].append((published.list_id, published.sequence))
    return seen


def test_offices_issuing_reserving_revoking_and_publishing_at_once_never_collide(postgres_url: str) -> None:
    open_new(postgres_url, list_size=50).close()
    offices = 4
    context = multiprocessing.get_context("spawn")
    with context.Pool(offices, initializer=_set_start, initargs=(context.Barrier(offices),)) as pool:
        running = pool.starmap_async(office_worker, [(postgres_url, office) for office in range(offices)])
        results = running.get(timeout=300)
    assert [result["error"] for result in results if "error" in result] == []

    issued = [item for result in results for item in result["issued"]]
    reserved = [item for result in results for item in result["reserved"]]
    serials = [serial for serial, _ in issued + reserved]
    slots = [slot for _, slot in issued + reserved]
    assert len(serials) == offices * ROUNDS * (1 + BLOCK)
    assert sorted(serials) == list(range(1, len(serials) + 1))  # none used twice, none lost
    assert len(set(slots)) == len(slots)
    assert all(divmod(serial - 1, 50) == slot for serial, slot in issued + reserved)  # one slot per serial

    with IssuerRegistry.open(postgres_url, create=False) as registry:
        for serial, _ in issued:
            assert [entry.action for entry in registry.history(serial)] == ["issue", "revoke"]
        recorded = sum(len(registry.recorded_rows(f"office-{office}")) for office in range(offices))
        assert recorded == offices * (ROUNDS // 2) * BLOCK
    with psycopg.connect(postgres_url) as db:
        actions = Counter(dict(db.execute("SELECT action, count(*) FROM audit GROUP BY action").fetchall()))
        sequences = dict(db.execute("SELECT list_id, sequence FROM publications").fetchall())
    assert actions == {"issue": len(issued) + recorded, "revoke": len(issued)}

    by_list: dict[int, list[int]] = {}
    for result in results:
        mine: dict[int, list[int]] = {}
        for list_id, sequence in result["published"]:
            mine.setdefault(list_id, []).append(sequence)
            by_list.setdefault(list_id, []).append(sequence)
        for own in mine.values():  # each office saw its list's sequence grow
            assert own == sorted(own) and len(set(own)) == len(own)
    for list_id, numbers in by_list.items():  # across offices: every sequence once, no gap, the last one stored
        assert sorted(numbers) == list(range(1, len(numbers) + 1))
        assert sequences[list_id] == len(numbers)


# --- the same history gives the same lists on both stores -----------------------------------------------


def replay_history(registry: IssuerRegistry) -> list[bytes]:
    """One office's day: single issues, a batch (resumed once), status changes, publications."""
    for _ in range(5):
        issue(registry)
    rows = [f"row {i}" for i in range(9)]
    reserved = registry.reserve("renewal", rows)
    credentials = sign_reserved(reserved, ISSUER_KEY)
    registry.record_batch("renewal", list(zip(rows[:4], credentials[:4], strict=True)))
    registry.record_batch("renewal", list(zip(rows, credentials, strict=True)))
    issue(registry)
    registry.revoke(2, now=NOW + HOUR, reason="stolen")
    registry.suspend(7, now=NOW + HOUR)
    registry.suspend(13, now=NOW + HOUR)
    registry.reinstate(13, now=NOW + 2 * HOUR)
    registry.revoke(15, now=NOW + 2 * HOUR)
    published = list(registry.publish_all(ISSUER_KEY, now=NOW + 2 * HOUR, next_update=NOW + 3 * HOUR).values())
    registry.suspend(1, now=NOW + 3 * HOUR)
    published += registry.publish_all(ISSUER_KEY, now=NOW + 3 * HOUR, next_update=NOW + 4 * HOUR).values()
    return published


def test_sqlite_and_postgres_publish_byte_identical_lists_for_the_same_history(
    tmp_path: Path, postgres_url: str
) -> None:
    with open_new(tmp_path / "registry.db") as sqlite_registry, open_new(postgres_url) as postgres_registry:
        on_sqlite = replay_history(sqlite_registry)
        on_postgres = replay_history(postgres_registry)
        assert [sqlite_registry.history(s) for s in range(1, 16)] == [
            postgres_registry.history(s) for s in range(1, 16)
        ]
        assert [sqlite_registry.record(s) for s in range(1, 16)] == [postgres_registry.record(s) for s in range(1, 16)]
    assert len(on_sqlite) == 4 and on_sqlite == on_postgres  # Ed25519 signs deterministically: same bytes
    lists = [load_status_list(data, TRUST) for data in on_postgres]
    assert [(sl.list_id, sl.sequence) for sl in lists] == [(0, 1), (1, 1), (0, 2), (1, 2)]
    assert [lists[2].status(i) for i in (0, 1, 6)] == [CredentialStatus.SUSPENDED, CredentialStatus.REVOKED,
                                                       CredentialStatus.SUSPENDED]  # fmt: skip
    assert [lists[3].status(i) for i in (4, 6)] == [CredentialStatus.VALID, CredentialStatus.REVOKED]


# --- the password is never shown ---------------------------------------------------------------------


def test_the_password_is_redacted_from_location_and_repr(postgres_url: str) -> None:
    assert PASSWORD.split(";")[0] not in redact(postgres_url)
    with open_new(postgres_url) as registry:
        assert registry.path is None
        assert registry.location == redact(postgres_url) and ":***@127.0.0.1" in registry.location
        for shown in (registry.location, repr(registry)):
            assert "s3cret" not in shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:hunter2@db.example/reg", "postgresql://u:***@db.example/reg"),
        ("postgres://u:p%40ss@h:5433/reg?sslmode=require", "postgres://u:***@h:5433/reg?sslmode=require"),
        (
            "postgresql://u@h/reg?password=hunter2&sslmode=verify-full",
            "postgresql://u@h/reg?password=***&sslmode=verify-full",
        ),
        ("postgresql://h/reg", "postgresql://h/reg"),
        ("postgresql://u:hunter2@[::1/reg", "postgresql://***"),
        # libpq reads a password on to the '@', through '#' and '?' that end the authority for urlsplit
        ("postgresql://clerk:se#cret@127.0.0.1:1/reg", "postgresql://clerk:***@127.0.0.1:1/reg"),
        ("postgresql://clerk:s3?cr3t@db/reg?sslmode=require", "postgresql://clerk:***@db/reg?sslmode=require"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_a_wrong_password_is_a_storage_error_that_does_not_show_it(postgres_server: PostgresServer) -> None:
    database = postgres_server.create_database()
    url = postgres_server.url(database, password="wrong-Secret-42")
    error = refused(RegistryErrorCode.STORAGE, lambda: open_new(url))
    assert "wrong-Secret-42" not in str(error) and "password authentication failed" in str(error)
    assert "wrong-Secret-42" not in repr(error) and error.sentence_zh


def test_the_password_may_come_from_pgpassword_instead_of_the_url(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_server.url(postgres_server.create_database(), password=None)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with open_new(url) as registry:
        assert registry.location == url and issue(registry).serial == 1
    monkeypatch.setenv("PGPASSWORD", "not-the-Password")
    assert "not-the-Password" not in str(refused(RegistryErrorCode.STORAGE, lambda: IssuerRegistry.open(url)))


def test_no_server_at_the_address_is_a_storage_error() -> None:
    url = "postgresql://u:Pw-xyz@127.0.0.1:1/reg?connect_timeout=2"
    error = refused(RegistryErrorCode.STORAGE, lambda: IssuerRegistry.open(url))
    assert "Pw-xyz" not in str(error) and "127.0.0.1" in str(error)


def test_a_database_holding_something_else_is_not_a_registry(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    refused(RegistryErrorCode.WRONG_REGISTRY, lambda: open_new(postgres_url))
    refused(RegistryErrorCode.WRONG_REGISTRY, lambda: IssuerRegistry.open(postgres_url, create=False))


def test_two_offices_creating_the_registry_at_once_create_it_once(postgres_url: str) -> None:
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        refs = pool.map_async(_open_and_describe, [postgres_url, postgres_url]).get(timeout=120)
    assert refs == [(ISSUER_REF, 8, 1)] * 2


def _open_and_describe(url: str) -> tuple[str, int, int]:
    with open_new(url) as registry:
        return registry.issuer_ref, registry.list_size, len(registry.issuer_keys)


# --- the CLI given a URL -----------------------------------------------------------------------------


def test_the_issuer_cli_runs_on_a_postgres_url(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ISSUER_PASS", "correct horse battery staple")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    assert run("keygen", "-o", "issuer.pem", "--passphrase-env", "ISSUER_PASS")[0] == 0
    assert run("keygen", "-o", "holder.pem", "-a", "Ed25519")[0] == 0
    init = ("issuer", "init", "--registry", postgres_url, "--key", "issuer.pub.pem", "--issuer-ref", ISSUER_REF,
            "--list-size", "100", "--json")  # fmt: skip
    code, out, err = run(*init)
    assert code == 0, err
    assert json.loads(out)["registry"] == redact(postgres_url) and "s3cret" not in out
    code, out, err = run(*init)  # with --json the error is JSON on stdout
    assert code == 2 and "already holds an issuer registry" in out and "s3cret" not in out + err
    licence = Path(__file__).resolve().parent.parent / "examples" / "data" / "driving-licence.json"
    code, out, err = run(
        "issuer", "issue", "--registry", postgres_url, "--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS",
        "--claims", str(licence), "--holder-key", "holder.pub.pem", "--holder-key-attested", "--out", "one.ecc",
        "--now", "2026-11-27T08:00:00Z", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["serial"] == 1
    assert run("issuer", "revoke", "--registry", postgres_url, "1", "--now", "2026-11-27T10:00:00Z")[0] == 0
    code, out, err = run("issuer", "publish", "--registry", postgres_url, "--key", "issuer.pem", "--passphrase-env",
                         "ISSUER_PASS", "--out-dir", "lists", "--now", "2026-11-27T10:00:00Z", "--json")  # fmt: skip
    assert code == 0, err
    assert [item["revoked"] for item in json.loads(out)["lists"]] == [1]
    code, out, _ = run("issuer", "status", "--registry", postgres_url, "1", "--json")
    assert code == 0 and json.loads(out)["status"] == "revoked"
    wrong = postgres_url.replace(PASSWORD.replace(";", "%3B"), "Not-it-77")
    code, _, err = run("issuer", "status", "--registry", wrong, "1")
    assert code == 2 and "STORAGE" in err and "Not-it-77" not in err


def test_a_url_for_a_database_without_a_registry_is_not_a_missing_file(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["issuer", "revoke", "--registry", postgres_url, "1"])
    err = capsys.readouterr().err
    assert code == 2 and "WRONG_REGISTRY" in err and "no issuer registry at postgresql://" in err
    assert "s3cret" not in err


# --- the least-privilege set-up of docs/issuing.md ------------------------------------------------------


def _sql_blocks(section: str) -> list[str]:
    """The ```sql blocks of a section of docs/issuing.md, in order."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "issuing.md").read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in body.split("```sql\n")[1:]]


def test_the_documented_least_privilege_setup_issues_publishes_and_keeps_the_audit_trail(
    postgres_server: PostgresServer,
) -> None:
    """Run the guide's SQL as written; the office role then works, and cannot delete or alter anything."""
    cluster_setup, grants = _sql_blocks("A registry many offices share")
    with postgres_server.admin() as db:
        for statement in cluster_setup.split(";"):
            if statement.strip():
                db.execute(statement)
        for role in ("sh_traffic_owner", "sh_traffic_office"):
            db.execute(f"ALTER ROLE {role} PASSWORD '{PASSWORD}'")

    def url(role: str) -> str:
        return postgres_server.url("sh_traffic").replace(f"//{ROLE}:", f"//{role}:")

    open_new(url("sh_traffic_owner")).close()
    with psycopg.connect(url("sh_traffic_owner"), autocommit=True) as db:
        db.execute(grants)
    with IssuerRegistry.open(url("sh_traffic_office"), create=False) as registry:
        issue(registry)
        reserved = registry.reserve("b", ["r1", "r2"])
        assert (
            registry.record_batch("b", list(zip(["r1", "r2"], sign_reserved(reserved, ISSUER_KEY), strict=True))) == 2
        )
        registry.revoke(2, now=NOW + HOUR)
        for _ in range(2):
            registry.publish(0, ISSUER_KEY, now=NOW + HOUR, next_update=NOW + 2 * HOUR)
        assert [entry.action for entry in registry.history(2)] == ["issue", "revoke"]
    with psycopg.connect(url("sh_traffic_office"), autocommit=True) as db:
        for forbidden in ("DELETE FROM audit", "TRUNCATE credentials", "DROP TABLE audit", "UPDATE audit SET at = 0"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                db.execute(forbidden)


def test_without_psycopg_a_url_says_what_to_install_and_sqlite_still_works(tmp_path: Path) -> None:
    """psycopg loads only for a PostgreSQL registry: ``import econsent`` and SQLite registries never need it."""
    script = f"""
import sys
sys.modules["psycopg"] = None  # as if the postgres extra were not installed
import econsent, econsent.registry
from econsent.registry import IssuerRegistry, RegistryError
try:
    IssuerRegistry.open("postgresql://office@db.example/sh_traffic")
except RegistryError as exc:
    print(exc.code.value, exc.detail)
from testkeys import ed25519_test_key
IssuerRegistry.open({str(tmp_path / "r.db")!r}, issuer_keys=[ed25519_test_key("x").public_key]).close()
print("sqlite ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False,
                          cwd=Path(__file__).parent)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "STORAGE a PostgreSQL registry needs psycopg: pip install 'econsent[postgres]'",
        "sqlite ok",
    ]


def test_a_password_with_hash_or_question_mark_never_reaches_the_message() -> None:
    """The connection fails (nothing listens on port 1): the error names the location, never the password."""
    with pytest.raises(RegistryError) as refused:
        IssuerRegistry.open("postgresql://clerk:se#cret@127.0.0.1:1/reg")
    assert "se#cret" not in str(refused.value) and "cret" not in refused.value.detail
    assert "postgresql://clerk:***@127.0.0.1:1/reg" in refused.value.detail
