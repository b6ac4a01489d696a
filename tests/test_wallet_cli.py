"""``econsent wallet ...`` through ``econsent.cli.main``: exit codes, JSON output, the redrawing ``show``.

The tests run the real ``main`` in-process; ``show`` runs with the redraw loop's clocks replaced.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from econsent import (
    ATTESTED_OUT_OF_BAND,
    Issuer,
    PossessionProof,
    PublicKey,
    SigningKey,
    Verifier,
    cli,
    qr,
)
from econsent.cli import wallet as cli_wallet
from econsent.wallet import FileStorage

NOW = "2025-06-01T08:30:00Z"
MOMENT = dt.datetime(2025, 6, 1, 8, 30, tzinfo=dt.UTC)
PASSPHRASE = "wallet passphrase 钱包"
BACKUP_PASSPHRASE = "backup passphrase 备份"
CHEAP = ("--kdf-log2-n", "10")


@pytest.fixture
def cli_main(monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    monkeypatch.setenv("WALLET_PASS", PASSPHRASE)
    monkeypatch.setenv("BACKUP_PASS", BACKUP_PASSPHRASE)
    monkeypatch.delenv("ECONSENT_WALLET", raising=False)
    return cli.main


@pytest.fixture
def run(cli_main: Callable[..., int], capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``run(*argv)`` -> (exit code, stdout, stderr) of ``econsent wallet <argv>``."""

    def call(*argv: str) -> tuple[int, str, str]:
        code = cli_main(["wallet", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return call


@pytest.fixture
def home(tmp_path: Path, run: Callable[..., tuple[int, str, str]]) -> Path:
    code, out, _ = run("create", "-w", str(tmp_path / "w.ecw"), "--passphrase-env", "WALLET_PASS", *CHEAP, "--json")
    assert code == 0
    assert json.loads(out)["kdf"] == {"name": "scrypt", "log2_n": 10, "r": 8, "p": 1}
    return tmp_path


def wallet_args(home: Path) -> tuple[str, ...]:
    return ("-w", str(home / "w.ecw"), "--passphrase-env", "WALLET_PASS")


@pytest.fixture
def licence_file(
    home: Path,
    run: Callable[..., tuple[int, str, str]],
    make_issuer: Callable[..., Issuer],
    licence_claims: dict[str, Any],
) -> Path:
    """A credential issued to a holder key made with ``wallet new-key``, which also proves possession of it."""
    issuer = make_issuer()
    challenge = bytes(range(32))
    code, out, _ = run(
        "new-key", *wallet_args(home), "-o", str(home / "holder.pub.pem"), "--challenge", challenge.hex(),
        "--issuer-kid", issuer.kid.hex(), "--proof-out", str(home / "proof.json"), "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["algorithm"] == "ES256"
    credential = issuer.issue(
        "driving-licence",
        licence_claims,
        holder_key=PublicKey.from_pem((home / "holder.pub.pem").read_bytes()),
        possession=PossessionProof.decode((home / "proof.json").read_bytes()),
        challenge=challenge,
        valid_from=MOMENT - dt.timedelta(days=1),
        valid_until=MOMENT + dt.timedelta(days=365),
        now=MOMENT - dt.timedelta(days=1),
        serial=31000123,
    )
    path = home / "licence.ecc"
    path.write_bytes(credential.encoded)
    return path


@pytest.fixture
def entry(home: Path, licence_file: Path, run: Callable[..., tuple[int, str, str]]) -> str:
    code, out, err = run(
        "add", *wallet_args(home), str(licence_file), "--issuer-zh", "上海市公安局交通警察总队", "--now", NOW, "--json"
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["new"] is True and document["status"] == "valid"
    return str(document["id"])


def test_add_list_show_remove(home: Path, entry: str, run: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = run("list", *wallet_args(home), "--now", NOW)
    assert code == 0
    assert out.split() == [
        entry,
        "valid",
        "2025-05-31..2026-06-01",
        "driving-licence",
        "张伟",
        "(上海市公安局交通警察总队)",
    ]
    code, out, _ = run("list", *wallet_args(home), "--now", "2027-01-01T00:00:00Z", "--json")
    [listed] = json.loads(out)["entries"]
    assert (listed["id"], listed["status"], listed["holder_name"]) == (entry, "expired", "张伟")

    code, out, _ = run("show", *wallet_args(home), entry[:6], "--once", "--profile", "driving-check", "--now", NOW)
    assert code == 0
    assert "▀" in out or "█" in out
    assert "expires in 60 s, renews in 50 s" in out and "\x1b[" not in out

    code, out, _ = run("remove", *wallet_args(home), entry, "--yes", "--json")
    assert code == 0 and json.loads(out)["removed"] == entry
    code, out, _ = run("list", *wallet_args(home))
    assert out.strip() == "(the wallet is empty)"


def test_add_twice_is_reported_not_duplicated(
    home: Path, entry: str, licence_file: Path, run: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, _ = run("add", *wallet_args(home), str(licence_file))
    assert code == 0 and out.startswith(f"already held {entry}")


def test_show_once_json_and_images(
    home: Path, entry: str, run: Callable[..., tuple[int, str, str]], verifier: Verifier
) -> None:
    png, svg = home / "code.png", home / "code.svg"
    code, out, _ = run(
        "show", *wallet_args(home), entry, "--once", "--json", "--disclose", "given_name,vehicle_classes",
        "--png", str(png), "--svg", str(svg), "--now", NOW,
    )  # fmt: skip
    assert code == 0
    frame = json.loads(out)
    assert frame["presented_at"] == NOW and frame["expires_at"] == "2025-06-01T08:31:00Z"
    assert frame["refresh_at"] == "2025-06-01T08:30:50Z" and frame["static"] is False
    verdict = verifier.verify(frame["text"], now=MOMENT)
    assert set(verdict.claims) == {"given_name", "vehicle_classes"}
    assert png.read_bytes().startswith(b"\x89PNG") and svg.read_text().startswith("<?xml")
    assert qr.scan(png) == [frame["text"]]


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Replace the redraw loop's sleep and monotonic clock: each sleep advances time at once."""
    clock = [1000.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(cli_wallet, "_SLEEP", sleep)
    monkeypatch.setattr(cli_wallet, "_MONOTONIC", lambda: clock[0])
    yield sleeps


def test_show_redraws_with_a_countdown_and_renews(
    home: Path, entry: str, run: Callable[..., tuple[int, str, str]], fake_time: list[float], verifier: Verifier
) -> None:
    png = home / "kiosk.png"
    code, out, _ = run(
        "show", *wallet_args(home), entry, "--duration", "120", "--lifetime", "60", "--refresh-before", "10",
        "--png", str(png), "--now", NOW,
    )  # fmt: skip
    assert code == 0
    assert len(fake_time) == 120
    assert out.count("\x1b[H\x1b[2J") == 3  # a new code at 0, 50 and 100 seconds
    assert out.count("\x1b[H") == 121  # one redraw a second
    countdown = re.findall(r"expires in (\d+) s, renews in (\d+) s", out)
    assert countdown[0] == ("60", "50") and countdown[49] == ("11", "1") and countdown[50] == ("60", "50")
    assert out.startswith("\x1b[?25l") and out.endswith("\x1b[?25h")  # the cursor comes back
    assert png.read_bytes().startswith(b"\x89PNG")

    code, out, _ = run(
        "show", *wallet_args(home), entry, "--duration", "120", "--json", "--now", NOW, "--profile", "name"
    )
    frames = [json.loads(line) for line in out.splitlines()]
    assert [f["presented_at"] for f in frames] == [NOW, "2025-06-01T08:30:50Z", "2025-06-01T08:31:40Z"]
    for frame in frames:
        verifier.verify(frame["text"], now=dt.datetime.fromisoformat(frame["expires_at"]))


def test_show_stops_cleanly_on_ctrl_c(
    home: Path, entry: str, run: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_wallet, "_SLEEP", interrupted)
    code, out, _ = run("show", *wallet_args(home), entry, "--now", NOW)
    assert code == 0 and out.endswith("\x1b[?25h")


def test_show_warns_about_an_expired_credential(
    home: Path, entry: str, run: Callable[..., tuple[int, str, str]]
) -> None:
    code, _, err = run("show", *wallet_args(home), entry, "--once", "--now", "2027-01-01T00:00:00Z")
    assert code == 0 and "warning: this credential is expired" in err


def test_export_and_import_a_backup(
    home: Path, entry: str, run: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    backup = home / "backup.ecwb"
    args = ("--backup-passphrase-env", "BACKUP_PASS", *CHEAP)
    code, out, _ = run("export", *wallet_args(home), "-o", str(backup), *args, "--json")
    assert code == 0 and json.loads(out)["entries"] == 1
    assert backup.stat().st_mode & 0o077 == 0
    code, _, err = run("export", *wallet_args(home), "-o", str(backup), *args)
    assert code == 2 and "exists: give --force to replace it" in err
    assert run("export", *wallet_args(home), "-o", str(backup), *args, "--force")[0] == 0

    phone = ("-w", str(tmp_path / "phone.ecw"), "--passphrase-env", "WALLET_PASS")
    assert run("create", *phone, *CHEAP)[0] == 0
    code, out, _ = run("import", *phone, str(backup), "--backup-passphrase-env", "WALLET_PASS", "--json")
    assert code == 1 and json.loads(out)["code"] == "WRONG_PASSPHRASE"
    code, out, _ = run("import", *phone, str(backup), "--backup-passphrase-env", "BACKUP_PASS", "--json")
    assert code == 0 and json.loads(out) == {"added": [entry], "skipped": 0}
    code, out, _ = run("import", *phone, str(backup), "--backup-passphrase-env", "BACKUP_PASS")
    assert out.strip() == "imported 0 credentials, 1 already in the wallet"
    assert run("show", *phone, entry, "--once", "--now", NOW)[0] == 0


def test_import_a_holder_key_and_use_the_wallet_environment_variable(
    home: Path,
    run: Callable[..., tuple[int, str, str]],
    make_issuer: Callable[..., Issuer],
    licence_claims: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = SigningKey.generate("Ed25519")
    (home / "holder.pem").write_bytes(key.to_pem("key passphrase"))
    monkeypatch.setenv("KEY_PASS", "key passphrase")
    monkeypatch.setenv("ECONSENT_WALLET", str(home / "w.ecw"))
    credential = make_issuer().issue(
        "driving-licence",
        licence_claims,
        holder_key=key.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=MOMENT,
        valid_until=MOMENT + dt.timedelta(days=1),
        now=MOMENT,
    )
    (home / "ed.ecc").write_bytes(credential.encoded)
    code, out, err = run(
        "add", "--passphrase-env", "WALLET_PASS", str(home / "ed.ecc"), "--holder-key", str(home / "holder.pem"),
        "--holder-key-passphrase-env", "KEY_PASS", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["holder_algorithm"] == "Ed25519"


def test_change_passphrase(home: Path, entry: str, run: Callable[..., tuple[int, str, str]]) -> None:
    code, _, _ = run("change-passphrase", *wallet_args(home), "--new-passphrase-env", "BACKUP_PASS", *CHEAP)
    assert code == 0
    assert run("list", *wallet_args(home))[0] == 1
    assert run("list", "-w", str(home / "w.ecw"), "--passphrase-env", "BACKUP_PASS")[0] == 0


def test_refusals_exit_1_with_their_code(home: Path, entry: str, run: Callable[..., tuple[int, str, str]]) -> None:
    path = home / "w.ecw"
    code, out, err = run("list", "-w", str(path), "--passphrase-env", "BACKUP_PASS")
    assert code == 1 and "WRONG_PASSPHRASE" in err and out == ""
    code, out, _ = run("show", *wallet_args(home), "ffffffffffff", "--once", "--json")
    assert code == 1 and json.loads(out)["code"] == "NO_SUCH_ENTRY"
    code, _, err = run("create", *wallet_args(home), *CHEAP)
    assert code == 1 and "EXISTS" in err
    with FileStorage(path).lock():
        code, _, err = run("remove", *wallet_args(home), entry, "--yes", "--lock-timeout", "0")
    assert code == 1 and "LOCKED" in err
    damaged = bytearray(path.read_bytes())
    damaged[-1] ^= 0x20
    path.write_bytes(bytes(damaged))
    code, out, _ = run("list", *wallet_args(home), "--json")
    assert code == 1 and json.loads(out)["code"] == "DAMAGED"
    assert path.read_bytes() == bytes(damaged)
    code, out, _ = run("list", "-w", str(home / "licence.ecc"), "--passphrase-env", "WALLET_PASS", "--json")
    assert code == 1 and json.loads(out)["code"] == "NOT_A_WALLET"


def test_create_prints_the_wallet_id_to_pin(tmp_path: Path, run: Callable[..., tuple[int, str, str]]) -> None:
    path = str(tmp_path / "a.ecw")
    code, out, _ = run("create", "-w", path, "--passphrase-env", "WALLET_PASS", *CHEAP, "--json")
    document = json.loads(out)
    assert code == 0 and re.fullmatch("[0-9a-f]{32}", document["wallet_id"]) and document["generation"] == 1
    code, out, _ = run("create", "-w", str(tmp_path / "b.ecw"), "--passphrase-env", "WALLET_PASS", *CHEAP)
    assert code == 0 and re.search(r"wallet id [0-9a-f]{32}: keep it and pass --expect-id", out)


def test_a_pinned_id_or_generation_refuses_a_swapped_or_older_file(
    tmp_path: Path, run: Callable[..., tuple[int, str, str]]
) -> None:
    mine, theirs = tmp_path / "mine.ecw", tmp_path / "theirs.ecw"
    created = [
        json.loads(run("create", "-w", str(p), "--passphrase-env", "WALLET_PASS", *CHEAP, "--json")[1])
        for p in (mine, theirs)
    ]
    my_id = created[0]["wallet_id"]
    older = mine.read_bytes()
    assert run("new-key", "-w", str(mine), "--passphrase-env", "WALLET_PASS")[0] == 0  # generation 2
    current = mine.read_bytes()
    pinned = ("-w", str(mine), "--passphrase-env", "WALLET_PASS", "--expect-id", my_id, "--min-generation", "2")
    mine.write_bytes(theirs.read_bytes())  # the same passphrase, another wallet
    code, out, err = run("list", *pinned)
    assert code == 1 and out == "" and "SWAPPED" in err and "belongs to another wallet" in err
    code, out, _ = run("list", *pinned, "--json")
    assert code == 1 and json.loads(out)["code"] == "SWAPPED"
    mine.write_bytes(older)
    code, out, _ = run("list", *pinned, "--json")
    assert code == 1 and json.loads(out)["code"] == "ROLLED_BACK"
    assert mine.read_bytes() == older
    mine.write_bytes(current)
    assert run("list", *pinned)[0] == 0
    code, _, err = run("list", "-w", str(mine), "--passphrase-env", "WALLET_PASS", "--expect-id", "not-an-id")
    assert code == 2 and "32 hex digits" in err


def test_usage_errors_exit_2(
    home: Path, entry: str, run: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert run()[0] == 2
    code, _, err = run("list", "--passphrase-env", "WALLET_PASS")
    assert code == 2 and "ECONSENT_WALLET" in err
    code, _, err = run("list", "-w", str(home / "w.ecw"), "--passphrase-env", "NOT_SET")
    assert code == 2 and "NOT_SET is not set" in err
    code, _, err = run("list", "-w", str(home / "w.ecw"))
    assert code == 2 and "--passphrase-env" in err
    code, _, err = run("remove", *wallet_args(home), entry)
    assert code == 2 and "--yes" in err
    assert run("show", *wallet_args(home), entry, "--profile", "name", "--disclose", "address")[0] == 2
    code, _, err = run("show", *wallet_args(home), entry, "--once", "--profile", "no-such-profile")
    assert code == 2 and "no profile" in err
    code, _, err = run("create", "-w", str(home / "x.ecw"), "--passphrase-env", "WALLET_PASS", "--kdf-log2-n", "40")
    assert code == 2 and "scrypt" in err
    assert run("list", *wallet_args(home), "--now", "yesterday")[0] == 2
    assert run("add", *wallet_args(home), str(home / "missing.ecc"))[0] == 2


def test_passphrases_never_reach_the_output(
    home: Path, entry: str, run: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    outputs = [
        run("list", *wallet_args(home), "--json"),
        run("list", "-w", str(home / "w.ecw"), "--passphrase-env", "BACKUP_PASS"),
        run("export", *wallet_args(home), "-o", str(tmp_path / "b"), "--backup-passphrase-env", "BACKUP_PASS", *CHEAP),
        run("import", *wallet_args(home), str(tmp_path / "b"), "--backup-passphrase-env", "WALLET_PASS"),
    ]
    text = "".join(out + err for _, out, err in outputs)
    assert PASSPHRASE not in text and BACKUP_PASSPHRASE not in text and "PRIVATE KEY" not in text


def test_redraws_tick_on_whole_seconds_of_the_clock() -> None:
    assert cli_wallet._until_next_second(MOMENT) == 1.0
    assert cli_wallet._until_next_second(MOMENT.replace(microsecond=250_000)) == 0.75
    assert cli_wallet._until_next_second(MOMENT.replace(microsecond=999_999)) == 0.05
