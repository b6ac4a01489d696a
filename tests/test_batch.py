"""``econsent issuer batch`` and :mod:`econsent.batch`: rows in, credentials out, resumable, on real engines.

Through ``main(argv)`` on CSV and JSON Lines; bad rows reported with their line numbers while the good ones
go on; a real subprocess killed with SIGKILL at random points and resumed until done (every row once, the
registry's serials equal the output's); a process pool and Dask LocalClusters (threads and processes);
a PostgreSQL registry; the credentials verify with the normal Verifier against status lists the registry
publishes.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)

from econsent import cli
from econsent.batch import (
    BadRow,
    BatchRow,
    DaskEngine,
    SignerSpec,
    read_rows,
    run_batch,
)
from econsent.errors import BatchError, BatchProblem, KeyLoadError, RegistryError
from econsent.keys import SigningKey
from econsent.model import Credential, IssuerName
from econsent.possession import new_challenge, prove_possession
from econsent.present import present, read_credential_unverified
from econsent.registry import IssuerRegistry
from econsent.status import StatusListCache, load_status_list
from econsent.trust import TrustedKey, TrustStore
from econsent.verify import Verifier

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-27T08:00:00Z"
NOW_DT = dt.datetime(2026, 11, 27, 8, tzinfo=dt.UTC)
ISSUER_REF = "sh-traffic"
HOLDERS = [SigningKey.generate("ES256"), SigningKey.generate("Ed25519"), SigningKey.generate("ES256")]
FAMILY_NAME = "张"
CLAIMS = {
    "family_name": FAMILY_NAME,
    "given_name": "伟",
    "birth_date": "1985-03-14",
    "licence_number": "310101198503140012",
    "vehicle_classes": ["C1", "D"],
    "expiry_date": "2029-01-15",
}


@pytest.fixture
def office(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An issuer key (passphrase in ISSUER_PASS) and an empty SQLite registry with lists of 1000 entries."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ISSUER_PASS", "correct horse battery staple")
    key = SigningKey.generate("ES256")
    (tmp_path / "issuer.pem").write_bytes(key.to_pem("correct horse battery staple"))
    IssuerRegistry.open(
        tmp_path / "reg.db", issuer_ref=ISSUER_REF, issuer_keys=[key.public_key], list_size=1000
    ).close()
    return tmp_path


def issuer_public(office: Path) -> Any:
    return SigningKey.from_pem((office / "issuer.pem").read_bytes(), "correct horse battery staple").public_key


def row(number: int, issuer_kid: bytes, *, proof: bool = True) -> dict[str, Any]:
    """A good JSON Lines row for holder ``number % 3``, with a fresh challenge and its proof."""
    holder = HOLDERS[number % len(HOLDERS)]
    document: dict[str, Any] = {
        "row_id": f"r{number:06d}",
        "credential_type": "driving-licence",
        "claims": {**CLAIMS, "licence_number": f"3101011985{number:08d}"},
        "holder_key": holder.public_key.to_pem().decode("ascii"),
        "valid_from": "2026-01-01T00:00:00+08:00",
        "valid_until": "2031-01-01T00:00:00Z",
    }
    if proof:
        challenge = new_challenge()
        document["possession"] = prove_possession(holder, challenge, issuer_kid=issuer_kid).to_json()
        document["challenge"] = challenge.hex()
    return document


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in rows), encoding="utf-8")


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """The CSV form: fixed columns, each claim in a ``claim.<name>`` column as a JSON value."""
    claim_names = list(CLAIMS)
    columns = ["row_id", "credential_type", "holder_key", "valid_from", "valid_until", "possession", "challenge"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns + [f"claim.{name}" for name in claim_names])
    for item in rows:
        cells = [item[c] if c != "possession" else json.dumps(item[c]) for c in columns]
        writer.writerow(cells + [json.dumps(item["claims"][name], ensure_ascii=False) for name in claim_names])
    path.write_text(buffer.getvalue(), encoding="utf-8")


def run(*args: str) -> tuple[int, str, str]:
    """``econsent`` in-process, with captured output."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = cli.main(list(args))
    finally:
        sys.stdout, sys.stderr = saved
    return code, out.getvalue(), err.getvalue()


def batch_args(source: str, output: str, *extra: str) -> list[str]:
    return [
        "issuer", "batch", "--registry", "reg.db", "--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS",
        "--input", source, "--output", output, "--batch-id", "renewal-2026", "--now", NOW, "--json", *extra,
    ]  # fmt: skip


def output_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="ascii").splitlines()]


def credential_of(line: dict[str, Any]) -> Credential:
    assert line["issuer_algorithm"] == "ES256"  # the holder presents in the issuer key's suite
    text = line["credential"]
    return read_credential_unverified(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def reservations(office: Path, batch_id: str = "renewal-2026") -> dict[str, int]:
    """Row id -> serial, as the registry reserved them (its batch table, read directly)."""
    with sqlite3.connect(office / "reg.db") as db:
        return dict(db.execute("SELECT row_id, serial FROM batch_rows WHERE batch_id = ?", (batch_id,)).fetchall())


def check_journal(office: Path, output: Path, rows: int) -> list[dict[str, Any]]:
    """What a finished batch guarantees: every row once, with the serial and slot the registry reserved for it,
    every one recorded, no serial twice, and (all rows good) no gap: the batch's serials are one range."""
    lines = output_lines(output)
    ids = [line["row_id"] for line in lines]
    assert sorted(ids) == [f"r{number:06d}" for number in range(rows)]
    reserved = reservations(office)
    assert {line["row_id"]: line["serial"] for line in lines} == reserved
    serials = sorted(reserved.values())
    assert serials == list(range(serials[0], serials[0] + rows))
    with IssuerRegistry.open(office / "reg.db", create=False) as registry:
        assert registry.recorded_rows("renewal-2026") == frozenset(ids)
        for line in lines[:: max(1, rows // 20)]:
            record = registry.record(line["serial"])
            assert (record.reference.list_id, record.reference.index) == (
                line["status"]["list_id"],
                line["status"]["index"],
            )
    for line in lines[:: max(1, rows // 20)]:
        credential = credential_of(line)
        assert credential.serial == line["serial"] and credential.status is not None
    return lines


def verifier_with_published_lists(office: Path) -> Verifier:
    """The normal Verifier, trusting the issuer key and holding every status list the registry publishes."""
    key = SigningKey.from_pem((office / "issuer.pem").read_bytes(), "correct horse battery staple")
    trust = TrustStore(
        [
            TrustedKey(
                public_key=key.public_key,
                issuer=IssuerName("上海市公安局交通警察总队", "Shanghai Traffic Police"),
                credential_types=frozenset({"driving-licence"}),
                valid_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                valid_until=dt.datetime(2031, 1, 1, tzinfo=dt.UTC),
                issuer_id=ISSUER_REF,
            )
        ]
    )
    lists = StatusListCache()
    with IssuerRegistry.open(office / "reg.db", create=False) as registry:
        for data in registry.publish_all(key, now=NOW_DT, next_update=NOW_DT + dt.timedelta(days=1)).values():
            lists.add(load_status_list(data, trust))
    return Verifier(trust, status_lists=lists)


def assert_verifies(verifier: Verifier, line: dict[str, Any]) -> None:
    credential = credential_of(line)
    holder = next(h for h in HOLDERS if h.public_key.raw == credential.holder_key)
    moment = NOW_DT + dt.timedelta(minutes=5)
    verdict = verifier.verify(present(credential, holder, now=moment), now=moment)
    assert verdict.serial == line["serial"]
    assert verdict.claims["family_name"] == FAMILY_NAME


# --- the CLI on CSV and JSON Lines ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["csv", "jsonl"])
def test_cli_issues_every_row_and_each_credential_verifies_against_the_published_status(
    office: Path, form: str
) -> None:
    kid = issuer_public(office).kid
    rows = [row(number, kid) for number in range(12)]
    (write_csv if form == "csv" else write_jsonl)(office / f"rows.{form}", rows)
    code, out, err = run(*batch_args(f"rows.{form}", "out.jsonl", "--block-size", "5"))
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["issued"], summary["resumed"], summary["bad_rows"]) == (12, 0, 0)
    lines = check_journal(office, office / "out.jsonl", 12)
    assert [line["row_id"] for line in lines] == [item["row_id"] for item in rows]  # input order
    verifier = verifier_with_published_lists(office)
    for line in lines:
        assert_verifies(verifier, line)
    assert (office / "out.jsonl").stat().st_mode & 0o777 == 0o600
    assert (office / "out.jsonl.report.jsonl").read_text() == ""
    # Run again: nothing is signed twice.
    code, out, err = run(*batch_args(f"rows.{form}", "out.jsonl"))
    assert code == 0, err
    assert (json.loads(out)["issued"], json.loads(out)["resumed"]) == (0, 12)
    assert len(output_lines(office / "out.jsonl")) == 12


def test_progress_shows_rows_per_second_on_stderr_and_the_summary_in_text(office: Path) -> None:
    write_jsonl(office / "rows.jsonl", [row(number, issuer_public(office).kid) for number in range(4)])
    arguments = batch_args("rows.jsonl", "out.jsonl", "--progress")
    arguments.remove("--json")
    code, out, err = run(*arguments, "--lang", "en")
    assert code == 0, err
    assert "4 rows" in err and "rows/s" in err  # tqdm: the count and the rate
    assert out.startswith("batch renewal-2026: 4 issued, 0 already in the output (0 recorded now), 0 bad rows;")
    code, out, err = run(*arguments, "--lang", "zh")  # the office's clerk reads Chinese: from the catalogue
    assert code == 0 and out.startswith("批次 renewal-2026：本次签发 0 行，4 行已在输出中"), err  # noqa: RUF001


def test_a_revoked_row_shows_revoked_to_the_verifier(office: Path) -> None:
    kid = issuer_public(office).kid
    write_jsonl(office / "rows.jsonl", [row(number, kid) for number in range(3)])
    assert run(*batch_args("rows.jsonl", "out.jsonl"))[0] == 0
    lines = output_lines(office / "out.jsonl")
    with IssuerRegistry.open(office / "reg.db", create=False) as registry:
        registry.revoke(lines[1]["serial"], now=NOW_DT)
    verifier = verifier_with_published_lists(office)
    assert_verifies(verifier, lines[0])
    with pytest.raises(Exception, match="REVOKED"):
        assert_verifies(verifier, lines[1])


def test_folder_output_one_file_each_resumes_too(office: Path) -> None:
    kid = issuer_public(office).kid
    write_jsonl(office / "rows.jsonl", [row(number, kid) for number in range(4)])
    (office / "creds").mkdir()
    code, out, err = run(*batch_args("rows.jsonl", "creds", "--block-size", "3"))
    assert code == 0, err
    files = sorted(path.name for path in (office / "creds").glob("*.ecc"))
    assert files == [f"r{number:06d}.ecc" for number in range(4)]
    reserved = reservations(office)
    for name in files:
        credential = read_credential_unverified((office / "creds" / name).read_bytes())
        assert credential.serial == reserved[name.removesuffix(".ecc")]
    code, out, err = run(*batch_args("rows.jsonl", "creds"))
    assert code == 0 and json.loads(out)["resumed"] == 4, err


def test_bad_rows_are_reported_by_line_with_a_code_while_good_rows_go_on(office: Path) -> None:
    kid = issuer_public(office).kid
    good = [row(number, kid) for number in range(3)]
    forged = row(3, kid)
    forged["possession"] = row(4, kid)["possession"]  # another challenge's proof: refused by the worker
    lines = [
        json.dumps(good[0], ensure_ascii=False),  # 1
        "{not json",  # 2
        json.dumps({**good[1], "credential_type": "no-such-type"}),  # 3
        json.dumps({key: value for key, value in row(5, kid).items() if key not in ("possession", "challenge")}),
        json.dumps(forged),  # 5
        json.dumps({**good[1], "surprise": 1}),  # 6
        json.dumps(good[1], ensure_ascii=False),  # 7
        json.dumps({**good[2], "row_id": "../etc/passwd"}),  # 8
        json.dumps({**good[2], "claims": {**good[2]["claims"], "birth_date": "1985-13-40"}}),  # 9
        json.dumps({**good[2], "valid_from": "2026-01-01T00:00:00"}),  # 10: no time zone
        "x" * 20_000,  # 11
        json.dumps(good[2], ensure_ascii=False),  # 12
        json.dumps(good[2], ensure_ascii=False),  # 13: the same row id again
        json.dumps({**row(6, kid), "holder_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}),
    ]
    data = "\n".join(lines).encode("utf-8") + b"\n" + b'{"row_id": "\xff"}\n'  # 15: not UTF-8
    (office / "rows.jsonl").write_bytes(data)
    code, out, err = run(*batch_args("rows.jsonl", "out.jsonl", "--report", "bad.jsonl", "--block-size", "2"))
    assert code == 1, err
    summary = json.loads(out)
    assert (summary["issued"], summary["bad_rows"]) == (3, 12)
    report = [json.loads(line) for line in (office / "bad.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {item["line"]: item["code"] for item in report} == {
        2: "MALFORMED_ROW",
        3: "UNKNOWN_TYPE",
        4: "MISSING_PROOF",
        5: "BAD_PROOF",
        6: "UNKNOWN_FIELD",
        8: "BAD_ROW_ID",
        9: "BAD_CLAIMS",
        10: "BAD_VALIDITY",
        11: "ROW_TOO_LARGE",
        13: "DUPLICATE_ROW_ID",
        14: "BAD_HOLDER_KEY",
        15: "NOT_UTF8",
    }
    by_line = {item["line"]: item for item in report}
    assert by_line[5]["serial"] is not None and by_line[14]["serial"] is not None  # refused after reservation
    assert by_line[2]["serial"] is None and by_line[3]["serial"] is None  # refused before: no serial spent
    assert all(item["sentence"] and item["sentence_zh"] for item in report)
    text = (office / "bad.jsonl").read_text(encoding="utf-8") + out + err
    assert FAMILY_NAME not in text and "310101" not in text  # no personal data in the report or output
    assert sorted(line["row_id"] for line in output_lines(office / "out.jsonl")) == [
        "r000000",
        "r000001",
        "r000002",
    ]


def test_csv_header_must_name_the_required_columns(office: Path) -> None:
    (office / "rows.csv").write_text('row_id,credential_type,claim.family_name\n1,driving-licence,"张"\n')
    code, out, _ = run(*batch_args("rows.csv", "out.jsonl"))
    assert code == 2
    assert json.loads(out)["code"] == "BAD_HEADER"
    assert not (office / "out.jsonl").exists()  # refused before the output is opened
    (office / "empty.csv").write_text("")
    assert json.loads(run(*batch_args("empty.csv", "out2.jsonl"))[1])["code"] == "BAD_HEADER"


def test_csv_records_may_span_lines_and_keep_the_first_line_number(office: Path) -> None:
    kid = issuer_public(office).kid
    write_csv(office / "rows.csv", [row(number, kid) for number in range(3)])
    text = (office / "rows.csv").read_text(encoding="utf-8")
    broken = text + 'r9,driving-licence,"-----BEGIN\n' + "no closing quote\n"
    (office / "rows.csv").write_text(broken, encoding="utf-8")
    items = list(read_rows(office / "rows.csv", "csv"))
    assert [type(item) for item in items] == [BatchRow, BatchRow, BatchRow, BadRow]
    # A record spans its PEM holder key's lines plus one: row n starts after the header and the rows before it.
    spans = [HOLDERS[number % 3].public_key.to_pem().count(b"\n") + 1 for number in range(3)]
    assert [item.line for item in items] == [2, 2 + spans[0], 2 + spans[0] + spans[1], 2 + sum(spans)]
    assert isinstance(items[3], BadRow) and items[3].code is BatchProblem.MALFORMED_ROW


def test_a_csv_record_over_the_byte_limit_is_refused_whatever_its_characters(office: Path) -> None:
    """The row limit is in bytes of UTF-8 in both formats: a multi-line record of Chinese text (three bytes a
    character) over MAX_ROW_BYTES is ROW_TOO_LARGE even though it has fewer characters than that."""
    kid = issuer_public(office).kid
    write_csv(office / "rows.csv", [row(0, kid)])
    lines_of_chinese = "\n".join(["伟" * 1000] * 7)  # 7,006 characters, 21,006 bytes
    text = (office / "rows.csv").read_text(encoding="utf-8") + f'r9,driving-licence,"{lines_of_chinese}"\n'
    (office / "rows.csv").write_text(text, encoding="utf-8")
    items = list(read_rows(office / "rows.csv", "csv"))
    assert isinstance(items[0], BatchRow)
    assert isinstance(items[1], BadRow) and items[1].code is BatchProblem.ROW_TOO_LARGE


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("missing.jsonl", "out.jsonl"), "does not exist"),
        (("rows.jsonl", "nowhere/out.jsonl"), "does not exist"),
        (("rows.jsonl", "newdir/"), "does not exist"),
        (("rows.jsonl", "rows.jsonl"), "is the input"),
        (("rows.txt", "out.jsonl"), "--format"),
        (("rows.jsonl", "out.jsonl", "--dask", "tcp://127.0.0.1:1", "--workers", "2"), "--workers"),
        (("rows.jsonl", "out.jsonl", "--workers", "-1"), "not from 0"),
    ],
)
def test_typos_are_usage_errors_before_anything_is_reserved(
    office: Path, arguments: tuple[str, ...], message: str
) -> None:
    write_jsonl(office / "rows.jsonl", [row(0, issuer_public(office).kid)])
    (office / "rows.txt").write_text("x")
    code, out, _ = run(*batch_args(*arguments))
    assert code == 2
    assert json.loads(out)["code"] == "USAGE" and message in json.loads(out)["sentence"] + json.loads(out)["detail"]
    assert reservations(office) == {}


def test_a_key_the_registry_does_not_hold_reserves_nothing(office: Path) -> None:
    write_jsonl(office / "rows.jsonl", [row(0, issuer_public(office).kid)])
    (office / "other.pem").write_bytes(SigningKey.generate().to_pem())
    arguments = batch_args("rows.jsonl", "out.jsonl")
    arguments[arguments.index("issuer.pem")] = "other.pem"
    arguments.remove("--passphrase-env")
    arguments.remove("ISSUER_PASS")
    code, out, _ = run(*arguments)
    assert (code, json.loads(out)["code"]) == (1, "WRONG_KEY")
    assert reservations(office) == {}


# --- resuming after a crash -----------------------------------------------------------------------------------


def test_an_output_of_another_batch_is_refused_and_left_as_it_is(office: Path) -> None:
    write_jsonl(office / "rows.jsonl", [row(number, issuer_public(office).kid) for number in range(2)])
    assert run(*batch_args("rows.jsonl", "out.jsonl"))[0] == 0
    before = (office / "out.jsonl").read_bytes()
    arguments = batch_args("rows.jsonl", "out.jsonl")
    arguments[arguments.index("renewal-2026")] = "another-batch"
    code, out, _ = run(*arguments)
    assert (code, json.loads(out)["code"]) == (2, "BAD_OUTPUT")
    assert (office / "out.jsonl").read_bytes() == before


@pytest.mark.parametrize("content", [b"my notes, no newline at the end", b"line one\nline two"])
def test_a_file_that_is_not_a_batch_output_is_never_cut(office: Path, content: bytes) -> None:
    write_jsonl(office / "rows.jsonl", [row(0, issuer_public(office).kid)])
    (office / "notes.txt").write_bytes(content)
    code, out, _ = run(*batch_args("rows.jsonl", "notes.txt"))
    assert (code, json.loads(out)["code"]) == (2, "BAD_OUTPUT")
    assert (office / "notes.txt").read_bytes() == content
    assert reservations(office) == {}


def test_a_cut_last_line_is_cut_off_and_its_row_signed_again_with_the_same_serial(office: Path) -> None:
    write_jsonl(office / "rows.jsonl", [row(number, issuer_public(office).kid) for number in range(5)])
    assert run(*batch_args("rows.jsonl", "out.jsonl"))[0] == 0
    data = (office / "out.jsonl").read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    (office / "out.jsonl").write_bytes(data[: last_start + 40])  # the crash cut the last line
    code, out, err = run(*batch_args("rows.jsonl", "out.jsonl"))
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["issued"], summary["resumed"], summary["output_repaired"]) == (1, 4, True)
    check_journal(office, office / "out.jsonl", 5)


def test_a_crash_between_writing_and_recording_records_on_resume_without_signing_again(office: Path) -> None:
    write_jsonl(office / "rows.jsonl", [row(number, issuer_public(office).kid) for number in range(10)])

    class Crashing:
        """The registry, dying at the second record_batch (after the output of that block is durable)."""

        def __init__(self, registry: IssuerRegistry) -> None:
            self.registry, self.calls = registry, 0
            self.issuer_keys = registry.issuer_keys
            self.reserve, self.recorded_rows = registry.reserve, registry.recorded_rows
            self.reservation_count = registry.reservation_count

        def record_batch(self, *args: Any, **kwargs: Any) -> int:
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt
            return self.registry.record_batch(*args, **kwargs)

    signer = SignerSpec(str(office / "issuer.pem"), "ISSUER_PASS")
    options: dict[str, Any] = {
        "signer": signer,
        "input_path": office / "rows.jsonl",
        "input_format": "jsonl",
        "output": office / "out.jsonl",
        "batch_id": "renewal-2026",
        "now": NOW_DT,
        "block_size": 4,
    }
    with IssuerRegistry.open(office / "reg.db", create=False) as registry:
        with pytest.raises(KeyboardInterrupt):
            run_batch(registry=Crashing(registry), **options)  # type: ignore[arg-type]
        assert len(output_lines(office / "out.jsonl")) == 8
        assert len(registry.recorded_rows("renewal-2026")) == 4
        summary = run_batch(registry=registry, **options)
    assert (summary.issued, summary.resumed, summary.recorded_late) == (2, 8, 4)
    check_journal(office, office / "out.jsonl", 10)


def written_so_far(office: Path) -> list[dict[str, Any]]:
    """The complete lines of a killed run's output (a last line may be cut short), checked against the
    registry: no row twice, each with the serial reserved for it."""
    path = office / "out.jsonl"
    if not path.exists():
        return []
    complete = path.read_bytes().split(b"\n")[:-1]
    lines = [json.loads(line) for line in complete]
    assert len({line["row_id"] for line in lines}) == len(lines)
    reserved = reservations(office)
    assert all(reserved[line["row_id"]] == line["serial"] for line in lines)
    return lines


def test_killed_with_sigkill_at_random_points_and_resumed_every_row_is_issued_once(office: Path) -> None:
    """Six runs killed at random points once their output has grown (mid-block: between reserving, signing,
    writing and recording), then one run to the end: every row once, with its reserved serial, recorded."""
    rows = 600
    kid = issuer_public(office).kid
    write_jsonl(office / "rows.jsonl", [row(number, kid) for number in range(rows)])
    command = [sys.executable, "-m", "econsent", *batch_args("rows.jsonl", "out.jsonl", "--block-size", "7")]
    chance = random.Random(20261127)
    progress = [0]
    for _ in range(6):
        process = subprocess.Popen(command, cwd=office, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        target = progress[-1] + chance.randint(1, 60)
        deadline = time.monotonic() + 60
        while process.poll() is None and len(written_so_far(office)) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(chance.uniform(0, 0.05))
        process.send_signal(signal.SIGKILL)
        _, err = process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL, err.decode()
        progress.append(len(written_so_far(office)))
    assert progress == sorted(progress) and 0 < progress[-1] < rows, progress
    code, out_text, err_text = run(*batch_args("rows.jsonl", "out.jsonl"))
    assert code == 0, err_text
    summary = json.loads(out_text)
    assert summary["resumed"] == progress[-1] and summary["issued"] == rows - progress[-1]
    check_journal(office, office / "out.jsonl", rows)


# --- engines ------------------------------------------------------------------------------------------------


def test_a_process_pool_of_two_workers_issues_the_same_way(office: Path) -> None:
    write_jsonl(office / "rows.jsonl", [row(number, issuer_public(office).kid) for number in range(40)])
    code, out, err = run(*batch_args("rows.jsonl", "out.jsonl", "--workers", "2", "--block-size", "6"))
    assert code == 0, err
    assert json.loads(out)["issued"] == 40
    lines = check_journal(office, office / "out.jsonl", 40)
    assert_verifies(verifier_with_published_lists(office), lines[-1])


def test_dask_local_cluster_in_threads(office: Path) -> None:
    write_jsonl(office / "rows.jsonl", [row(number, issuer_public(office).kid) for number in range(30)])
    with IssuerRegistry.open(office / "reg.db", create=False) as registry:
        summary = run_batch(
            registry=registry,
            signer=SignerSpec(str(office / "issuer.pem"), "ISSUER_PASS"),
            input_path=office / "rows.jsonl",
            input_format="jsonl",
            output=office / "out.jsonl",
            batch_id="renewal-2026",
            now=NOW_DT,
            engine=DaskEngine(workers=2, processes=False),
            block_size=4,
        )
    assert (summary.issued, summary.bad_rows) == (30, ())
    check_journal(office, office / "out.jsonl", 30)


def test_dask_local_cluster_of_processes_through_the_cli(office: Path) -> None:
    write_jsonl(office / "rows.jsonl", [row(number, issuer_public(office).kid) for number in range(20)])
    code, out, err = run(*batch_args("rows.jsonl", "out.jsonl", "--dask", "--workers", "2", "--block-size", "5"))
    assert code == 0, err
    assert json.loads(out)["issued"] == 20
    lines = check_journal(office, office / "out.jsonl", 20)
    assert_verifies(verifier_with_published_lists(office), lines[0])


_HSM_RUN = """
import json, sys
sys.path[:0] = [{tests!r}]
from pathlib import Path
import softhsm, test_batch
from econsent import cli
from econsent.hsm import load_signer
from econsent.registry import IssuerRegistry
folder = Path({folder!r})
token = softhsm.start(folder / "softhsm")
import os
os.environ["ECONSENT_PKCS11_PIN"] = token.pin
uri = token.generate("ES256", "batch-issuer")
public = load_signer(uri).public_key
IssuerRegistry.open(folder / "reg.db", issuer_ref="sh-traffic", issuer_keys=[public], list_size=1000).close()
test_batch.write_jsonl(folder / "rows.jsonl", [test_batch.row(n, public.kid) for n in range(24)])
os.chdir(folder)
arguments = test_batch.batch_args("rows.jsonl", "out.jsonl", "--workers", "2", "--block-size", "5")
arguments[arguments.index("issuer.pem")] = uri
arguments.remove("--passphrase-env")
arguments.remove("ISSUER_PASS")
sys.exit(cli.main(arguments))
"""


def test_a_softhsm_key_signs_a_batch_in_two_worker_processes(tmp_path: Path) -> None:
    """Each worker process opens its own session on the token (named by a pkcs11: URI, PIN from the
    environment); run in a fresh interpreter, so SoftHSM2 reads this test's token folder."""
    script = _HSM_RUN.format(tests=str(ROOT / "tests"), folder=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["issued"] == 24
    lines = output_lines(tmp_path / "out.jsonl")
    assert sorted(line["row_id"] for line in lines) == [f"r{number:06d}" for number in range(24)]
    assert len({line["serial"] for line in lines}) == 24


def test_a_postgres_registry_issues_a_batch(tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.chdir(tmp_path)
    key = SigningKey.generate("ES256")
    (tmp_path / "issuer.pem").write_bytes(key.to_pem())
    IssuerRegistry.open(postgres_url, issuer_ref=ISSUER_REF, issuer_keys=[key.public_key], list_size=1000).close()
    write_jsonl(tmp_path / "rows.jsonl", [row(number, key.public_key.kid) for number in range(9)])
    arguments = [
        "issuer", "batch", "--registry", postgres_url, "--key", "issuer.pem", "--input", "rows.jsonl",
        "--output", "out.jsonl", "--batch-id", "pg-batch", "--block-size", "4", "--now", NOW, "--json",
    ]  # fmt: skip
    code, out, err = run(*arguments)
    assert code == 0, err
    assert json.loads(out)["issued"] == 9
    lines = output_lines(tmp_path / "out.jsonl")
    with IssuerRegistry.open(postgres_url, create=False) as registry:
        assert registry.recorded_rows("pg-batch") == frozenset(line["row_id"] for line in lines)
        again = registry.reserve("pg-batch", [line["row_id"] for line in lines])
    assert [serial for serial, _ in again] == [line["serial"] for line in lines]
    assert len({line["serial"] for line in lines}) == 9


def test_library_errors_are_typed(office: Path) -> None:
    with IssuerRegistry.open(office / "reg.db", create=False) as registry:
        options: dict[str, Any] = {
            "registry": registry,
            "signer": SignerSpec(str(office / "issuer.pem"), "ISSUER_PASS"),
            "input_path": office / "rows.jsonl",
            "input_format": "jsonl",
            "output": office / "out.jsonl",
            "now": NOW_DT,
        }
        with pytest.raises(BatchError) as bad_id:
            run_batch(batch_id="bad id/..", **options)
        assert bad_id.value.code is BatchProblem.BAD_BATCH_ID and bad_id.value.sentence_zh
        with pytest.raises(BatchError) as bad_block:
            run_batch(batch_id="ok", block_size=100_001, **options)
        assert bad_block.value.code is BatchProblem.BAD_OPTION
        with pytest.raises(KeyLoadError):  # the key file is encrypted: no passphrase variable named
            run_batch(batch_id="ok", **{**options, "signer": SignerSpec(str(office / "issuer.pem"))})
        other = office / "other.pem"
        other.write_bytes(SigningKey.generate().to_pem())
        with pytest.raises(RegistryError) as wrong:
            run_batch(batch_id="ok", **{**options, "signer": SignerSpec(str(other))})
        assert wrong.value.code.value == "WRONG_KEY"


# --- a batch writes one output, and only one run writes it (found by review) -----------------------------------


def test_a_started_batch_is_refused_into_another_output_and_nothing_is_signed_twice(office: Path) -> None:
    kid = issuer_public(office).kid
    write_jsonl(office / "rows.jsonl", [row(number, kid) for number in range(3)])
    assert run(*batch_args("rows.jsonl", "out1.jsonl"))[0] == 0
    before = reservations(office)
    (office / "creds").mkdir()
    for other in ("out2.jsonl", "creds"):
        code, out, err = run(*batch_args("rows.jsonl", other))
        assert code == 2 and json.loads(out)["code"] == "BAD_OUTPUT" and "another output" in out, err
    assert not (office / "out2.jsonl").exists() and list((office / "creds").iterdir()) == []  # taken back
    assert reservations(office) == before and len(output_lines(office / "out1.jsonl")) == 3
    # The batch still resumes into its own output.
    assert run(*batch_args("rows.jsonl", "out1.jsonl"))[0] == 0


def test_rows_recorded_but_missing_from_the_output_are_not_signed_again(office: Path) -> None:
    kid = issuer_public(office).kid
    write_jsonl(office / "rows.jsonl", [row(number, kid) for number in range(3)])
    assert run(*batch_args("rows.jsonl", "out.jsonl"))[0] == 0
    lines = (office / "out.jsonl").read_text(encoding="ascii").splitlines(keepends=True)
    (office / "out.jsonl").write_text("".join(lines[:1]), encoding="ascii")  # someone cut the output
    code, out, err = run(*batch_args("rows.jsonl", "out.jsonl"))
    assert code == 2 and json.loads(out)["code"] == "BAD_OUTPUT" and "into another output" in out, err
    assert len((office / "out.jsonl").read_text(encoding="ascii").splitlines()) == 1  # nothing signed


def test_a_second_run_on_the_same_output_at_once_is_refused(office: Path) -> None:
    import fcntl

    kid = issuer_public(office).kid
    write_jsonl(office / "rows.jsonl", [row(number, kid) for number in range(2)])
    output = office / "out.jsonl"
    output.touch()
    with output.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another run, still writing
        code, out, err = run(*batch_args("rows.jsonl", "out.jsonl"))
    assert code == 2 and "another run is writing" in json.loads(out)["detail"], err
    assert reservations(office) == {}  # refused before anything was reserved


def test_an_unknown_derived_claim_is_refused_before_any_serial_is_reserved(office: Path) -> None:
    kid = issuer_public(office).kid
    write_jsonl(office / "rows.jsonl", [row(number, kid) for number in range(2)])
    code, out, err = run(*batch_args("rows.jsonl", "out.jsonl", "--derive", "nosuch"))
    assert code == 2 and json.loads(out)["code"] == "BAD_OPTION", err
    assert reservations(office) == {}


def test_rows_the_issuer_would_refuse_for_their_times_or_derived_claims_take_no_serial(office: Path) -> None:
    """The issuer's own validity and derive rules run before reservation: such a row is reported, with no serial
    reserved for it (it used to be refused by the signing worker after its serial was taken)."""
    kid = issuer_public(office).kid
    good = row(0, kid)
    no_birth_date = row(1, kid)
    del no_birth_date["claims"]["birth_date"]
    write_jsonl(
        office / "rows.jsonl",
        [
            good,
            {**row(2, kid), "valid_until": "2026-01-02T00:00:00Z"},  # over before NOW
            {**row(3, kid), "valid_from": "0001-01-01T00:00:00Z"},  # before 1970
            no_birth_date,  # age_over_18 cannot be derived
            {**row(4, kid), "claims": {**row(4, kid)["claims"], "age_over_18": True}},  # given and derived
        ],
    )
    code, out, err = run(*batch_args("rows.jsonl", "out.jsonl", "--derive", "age_over_18", "--report", "bad.jsonl"))
    assert code == 1, err
    report = [json.loads(line) for line in (office / "bad.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {item["line"]: (item["code"], item["serial"]) for item in report} == {
        2: ("BAD_VALIDITY", None),
        3: ("BAD_VALIDITY", None),
        4: ("BAD_CLAIMS", None),
        5: ("BAD_CLAIMS", None),
    }
    assert list(reservations(office)) == [good["row_id"]]
    assert json.loads(out)["issued"] == 1


def test_a_refused_folder_output_is_a_typed_error_and_not_held_after(office: Path) -> None:
    """A folder under a credential's name is BAD_OUTPUT (not a bare IsADirectoryError), and the refused output
    is not kept locked: once fixed, the same process runs the batch into it."""
    kid = issuer_public(office).kid
    write_jsonl(office / "rows.jsonl", [row(number, kid) for number in range(2)])
    (office / "out").mkdir()
    assert run(*batch_args("rows.jsonl", "out", "--block-size", "1"))[0] == 0
    (office / "out" / "r000009.ecc").mkdir()
    code, out, err = run(*batch_args("rows.jsonl", "out"))
    assert code == 2 and json.loads(out)["code"] == "BAD_OUTPUT" and "not a credential" in json.loads(out)["detail"]
    (office / "out" / "r000009.ecc").rmdir()
    code, out, err = run(*batch_args("rows.jsonl", "out"))
    assert code == 0 and json.loads(out)["resumed"] == 2, out + err
    assert sorted(path.name for path in (office / "out").glob("*.ecc")) == ["r000000.ecc", "r000001.ecc"]


@pytest.mark.slow  # waits out the 10-second connection timeout
def test_a_dask_scheduler_that_does_not_answer_is_a_typed_error_before_anything_is_reserved(office: Path) -> None:
    write_jsonl(office / "rows.jsonl", [row(0, issuer_public(office).kid)])
    code, out, err = run(*batch_args("rows.jsonl", "out.jsonl", "--dask", "tcp://127.0.0.1:1"))
    assert code == 2 and json.loads(out)["code"] == "ENGINE_UNREACHABLE", err
    assert reservations(office) == {}
