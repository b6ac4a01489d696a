"""``econsent issuer``: init, issue through the registry, revoke/suspend/reinstate, status, publish, via main(argv)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from econsent import cli
from econsent._files import folder_lock
from econsent.keys import PublicKey
from econsent.status import CredentialStatus, StatusListCache, read_status_list_unverified
from econsent.trust import IssuerScope, TrustStore

ROOT = Path(__file__).resolve().parent.parent
LICENCE = ROOT / "examples" / "data" / "driving-licence.json"
ISSUED = "2026-11-27T08:00:00Z"
LATER = "2026-11-27T10:00:00Z"
ENV = {"ISSUER_PASS": "correct horse battery staple"}

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """Call the real ``econsent`` entry point, ``econsent.cli.main``, in-process."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


@pytest.fixture
def office(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keys, a trust store naming the issuer sh-traffic, and an empty registry with lists of 100 entries."""
    monkeypatch.chdir(tmp_path)
    assert run("keygen", "-o", "issuer.pem", "--passphrase-env", "ISSUER_PASS")[0] == 0
    assert run("keygen", "-o", "holder.pem", "-a", "Ed25519")[0] == 0
    code, _, err = run(
        "trust", "add", "--store", "trust.json", "--key", "issuer.pub.pem", "--issuer-id", "sh-traffic",
        "--issuer-zh", "上海市公安局交通警察总队", "--types", "driving-licence",
        "--valid-from", "2026-01-01T00:00:00Z", "--valid-until", "2031-01-01T00:00:00Z",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run("issuer", "init", "--registry", "reg.db", "--key", "issuer.pub.pem", "--issuer-ref",
                         "sh-traffic", "--list-size", "100", "--json")  # fmt: skip
    assert code == 0, err
    kid = PublicKey.from_pem((tmp_path / "issuer.pub.pem").read_bytes()).kid.hex()
    assert json.loads(out) == {"registry": "reg.db", "issuer_ref": "sh-traffic", "list_size": 100, "keys": [kid]}
    return tmp_path


def issue(run: Run, out: str, *extra: str) -> dict[str, Any]:
    code, stdout, err = run(
        "issuer", "issue", "--registry", "reg.db", "--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS",
        "--claims", str(LICENCE), "--holder-key", "holder.pub.pem", "--holder-key-attested", "--out", out, "--now",
        ISSUED, "--json", *extra,
    )  # fmt: skip
    assert code == 0, err
    return dict(json.loads(stdout))


def test_issue_revoke_publish_and_a_verifier_sees_it(run: Run, office: Path) -> None:
    first = issue(run, "one.ecc")
    second = issue(run, "two.ecc")
    assert (first["serial"], first["status"]) == (1, {"list_id": 0, "index": 0})
    assert (second["serial"], second["status"]) == (2, {"list_id": 0, "index": 1})
    assert not first["personal_data_recorded"] and (office / "one.ecc").stat().st_size == first["bytes"]

    code, out, _ = run("issuer", "revoke", "--registry", "reg.db", "1", "--reason", "reported stolen", "--now", LATER)
    assert (code, out.strip()) == (0, "serial 1: valid -> revoked")
    code, out, _ = run("issuer", "suspend", "--registry", "reg.db", "2", "--now", LATER, "--json")
    assert json.loads(out) == {"ok": True, "serial": 2, "action": "suspend", "from": "valid", "to": "suspended"}

    code, out, err = run("issuer", "publish", "--registry", "reg.db", "--key", "issuer.pem", "--passphrase-env",
                         "ISSUER_PASS", "--out-dir", "lists", "--now", LATER, "--ttl", "3600", "--json")  # fmt: skip
    assert code == 0, err
    published = json.loads(out)
    assert published["issuer_ref"] == "sh-traffic" and published["next_update"] == "2026-11-27T11:00:00Z"
    assert [{k: v for k, v in item.items() if k != "bytes"} for item in published["lists"]] == [
        {"list_id": 0, "sequence": 1, "size": 100, "revoked": 1, "suspended": 1, "file": "lists/sh-traffic.0.ecsl"}
    ]
    cache = StatusListCache()
    report = cache.load_directory(office / "lists", TrustStore.load(office / "trust.json"))
    assert not report.errors
    held = cache.get(IssuerScope.local("sh-traffic"), 0)
    assert held is not None
    assert [held.status(i) for i in range(3)] == [
        CredentialStatus.REVOKED,
        CredentialStatus.SUSPENDED,
        CredentialStatus.VALID,
    ]


def test_reinstating_a_revoked_credential_is_refused_with_exit_1(run: Run, office: Path) -> None:
    issue(run, "one.ecc")
    assert run("issuer", "revoke", "--registry", "reg.db", "1", "--now", LATER)[0] == 0
    code, _, err = run("issuer", "reinstate", "--registry", "reg.db", "1", "--now", LATER)
    assert code == 1 and "REVOKED_IS_FINAL" in err
    code, out, _ = run("issuer", "reinstate", "--registry", "reg.db", "1", "--now", LATER, "--json")
    assert code == 1 and json.loads(out)["code"] == "REVOKED_IS_FINAL"


def test_status_shows_the_slot_and_audit_trail_but_no_claims(run: Run, office: Path) -> None:
    issue(run, "one.ecc", "--record-personal-data")
    run("issuer", "suspend", "--registry", "reg.db", "1", "--reason", "lost", "--now", LATER)
    code, out, _ = run("issuer", "status", "--registry", "reg.db", "1", "--json")
    document = json.loads(out)
    assert code == 0
    assert (document["status"], document["list_id"], document["index"]) == ("suspended", 0, 0)
    assert document["personal_data_recorded"] is True
    assert [(h["action"], h["to"], h["reason"]) for h in document["history"]] == [
        ("issue", "valid", None),
        ("suspend", "suspended", "lost"),
    ]
    code, text, _ = run("issuer", "status", "--registry", "reg.db", "1")
    assert "SUSPENDED" in text and "list 0 index 0" in text
    licence = json.loads(LICENCE.read_text(encoding="utf-8"))
    for value in (licence["claims"]["family_name"], licence["claims"]["licence_number"]):
        assert value not in out and value not in text


def test_unknown_serial_exits_1(run: Run, office: Path) -> None:
    code, out, _ = run("issuer", "revoke", "--registry", "reg.db", "42", "--json")
    assert code == 1 and json.loads(out)["code"] == "UNKNOWN_SERIAL"
    code, _, err = run("issuer", "status", "--registry", "reg.db", "42")
    assert code == 1 and "UNKNOWN_SERIAL" in err


def test_publish_each_sequence_grows_and_files_are_replaced(run: Run, office: Path) -> None:
    issue(run, "one.ecc")
    publish = ("issuer", "publish", "--registry", "reg.db", "--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS",
               "--out-dir", "lists", "--json", "--now")  # fmt: skip
    sequences = [json.loads(run(*publish, now)[1])["lists"][0]["sequence"] for now in (ISSUED, LATER)]
    assert sequences == [1, 2]
    assert sorted(p.name for p in (office / "lists").iterdir()) == ["sh-traffic.0.ecsl"]
    assert (office / "lists" / "sh-traffic.0.ecsl").stat().st_mode & 0o777 == 0o644  # published for every verifier
    code, out, _ = run(*publish, LATER, "--list", "5")
    assert code == 1 and json.loads(out)["code"] == "UNKNOWN_LIST"


def test_init_from_a_key_names_the_issuer_by_kid(run: Run, office: Path) -> None:
    code, out, _ = run("issuer", "init", "--registry", "own.db", "--key", "issuer.pub.pem", "--json")
    kid = json.loads(run("trust", "list", "--store", "trust.json", "--json")[1])["keys"][0]["kid"]
    assert code == 0 and json.loads(out)["issuer_ref"] == f"kid:{kid}"
    assert json.loads(out)["list_size"] == 1_000_000


def test_usage_errors_exit_2(run: Run, office: Path) -> None:
    code, _, err = run(
        "issuer", "init", "--registry", "reg.db", "--key", "issuer.pub.pem", "--issuer-ref", "sh-traffic"
    )
    assert code == 2 and "exists" in err
    code, _, err = run("issuer", "revoke", "--registry", "missing.db", "1")
    assert code == 2 and "no issuer registry" in err
    code, _, err = run("issuer", "init", "--registry", "x.db", "--key", "issuer.pub.pem", "--issuer-ref", "sh-traffic",
                       "--list-size", "0")  # fmt: skip
    assert code == 2 and "BAD_INPUT" in err
    assert run("issuer", "revoke", "--registry", "reg.db", "not-a-number")[0] == 2


def test_the_cli_modules_import_on_their_own_and_with_the_cli() -> None:
    """The cli package imports its command modules; importing one of them first must work too."""
    for first in ("econsent.cli.issuer", "econsent.cli.scan", "econsent.cli"):
        code = f"import {first}, econsent.cli, econsent.cli.issuer, econsent.cli.scan; print('ok')"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        assert result.stdout.strip() == "ok", result.stderr


PUBLISH = ("issuer", "publish", "--registry", "reg.db", "--out-dir", "lists", "--json")
ISSUER_KEY = ("--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS")


def test_publish_with_the_holder_key_is_refused_and_the_good_list_stays(run: Run, office: Path) -> None:
    """``publish --key holder.pem`` used to exit 0 and overwrite the list with one every verifier refuses."""
    issue(run, "one.ecc")
    assert run(*PUBLISH, *ISSUER_KEY, "--now", ISSUED)[0] == 0
    good = (office / "lists" / "sh-traffic.0.ecsl").read_bytes()
    code, out, _ = run(*PUBLISH, "--key", "holder.pem", "--now", LATER)
    assert code == 1 and json.loads(out)["code"] == "WRONG_KEY"
    assert (office / "lists" / "sh-traffic.0.ecsl").read_bytes() == good
    report = StatusListCache().load_directory(office / "lists", TrustStore.load(office / "trust.json"))
    assert report.errors == () and len(report.loaded) == 1


def test_issue_with_a_rogue_key_is_refused_and_uses_no_serial(run: Run, office: Path) -> None:
    assert run("keygen", "-o", "rogue.pem")[0] == 0
    code, out, _ = run(
        "issuer", "issue", "--registry", "reg.db", "--key", "rogue.pem", "--claims", str(LICENCE), "--bearer",
        "--out", "rogue.ecc", "--now", ISSUED, "--json",
    )  # fmt: skip
    assert code == 1 and json.loads(out)["code"] == "WRONG_KEY"
    assert not (office / "rogue.ecc").exists()
    assert issue(run, "one.ecc")["serial"] == 1


def test_add_key_registers_a_rotated_key_that_then_issues(run: Run, office: Path) -> None:
    assert run("keygen", "-o", "issuer-2026.pem")[0] == 0
    add = ("issuer", "add-key", "--registry", "reg.db", "--key", "issuer-2026.pub.pem")
    code, out, _ = run(*add, "--authorised-by", "issuer-2026.pem", "--json")
    assert code == 1 and json.loads(out)["code"] == "WRONG_KEY"  # a key cannot vouch for itself once keys exist
    code, out, err = run(*add, "--authorised-by", "issuer.pem", "--passphrase-env", "ISSUER_PASS", "--json")
    assert code == 0, err
    added = json.loads(out)
    assert added["added"] in added["keys"] and len(added["keys"]) == 2
    code, out, err = run(
        "issuer", "issue", "--registry", "reg.db", "--key", "issuer-2026.pem", "--claims", str(LICENCE), "--bearer",
        "--out", "new.ecc", "--now", ISSUED, "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["kid"] == added["added"]
    code, out, _ = run(*add, "--authorised-by", "issuer.pem", "--passphrase-env", "ISSUER_PASS")
    assert code == 2


def test_publish_never_replaces_a_newer_list_with_an_older_one(run: Run, office: Path) -> None:
    """A registry restored from a backup lags behind: its next list would be refused by verifiers as a rollback."""
    issue(run, "one.ecc")
    assert run(*PUBLISH, *ISSUER_KEY, "--now", ISSUED)[0] == 0
    shutil.copy(office / "reg.db", office / "backup.db")
    assert run(*PUBLISH, *ISSUER_KEY, "--now", LATER)[0] == 0
    assert run(*PUBLISH, *ISSUER_KEY, "--now", LATER)[0] == 0
    newest = (office / "lists" / "sh-traffic.0.ecsl").read_bytes()
    restored = [part if part != "reg.db" else "backup.db" for part in PUBLISH]
    code, out, _ = run(*restored, *ISSUER_KEY, "--now", LATER)
    assert code == 1 and json.loads(out)["code"] == "ROLLBACK"
    assert (office / "lists" / "sh-traffic.0.ecsl").read_bytes() == newest


def test_publish_never_replaces_another_issuers_list_whose_file_name_it_shares(run: Run, office: Path) -> None:
    """``sh:traffic`` and ``sh_traffic`` make the same file name: the second office to publish into a shared folder
    would have taken the first one's revocations away from every counter. It is refused, naming the file."""
    for name, ref in (("colon", "sh:traffic"), ("underscore", "sh_traffic")):
        assert run("keygen", "-o", f"{name}.pem")[0] == 0
        code, _, err = run("issuer", "init", "--registry", f"{name}.db", "--key", f"{name}.pub.pem", "--issuer-ref",
                           ref, "--list-size", "100")  # fmt: skip
        assert code == 0, err

    def publish(name: str) -> tuple[int, dict[str, Any]]:
        code, out, _ = run("issuer", "publish", "--registry", f"{name}.db", "--key", f"{name}.pem", "--out-dir",
                           "lists", "--now", ISSUED, "--json")  # fmt: skip
        return code, json.loads(out)

    assert publish("colon")[0] == 0
    first = (office / "lists" / "sh_traffic.0.ecsl").read_bytes()
    code, refused = publish("underscore")
    assert code == 1 and refused["code"] == "NAME_TAKEN" and "sh_traffic.0.ecsl" in refused["detail"]
    assert "'sh:traffic'" in refused["detail"] and "folder of their own" in refused["detail"]
    assert refused["sentence_zh"] == "输出文件夹中同名的文件已是另一签发机构的状态列表。"
    assert (office / "lists" / "sh_traffic.0.ecsl").read_bytes() == first
    assert read_status_list_unverified(first).issuer_ref == "sh:traffic"
    # Refused before signing anything: moved to a folder of its own, the list's first edition is #1.
    (office / "lists" / "sh_traffic.0.ecsl").rename(office / "colon.0.ecsl")
    code, published = publish("underscore")
    assert code == 0 and published["lists"][0]["sequence"] == 1


def test_publish_waits_for_another_publish_into_the_same_folder(run: Run, office: Path) -> None:
    """The "never replace a newer list" check and the write are one step: a second publish into the folder
    waits until the first is done, so an older edition can never land after a newer one."""
    issue(run, "one.ecc")
    (office / "lists").mkdir()
    argv = [sys.executable, "-m", "econsent", *PUBLISH, *ISSUER_KEY, "--now", LATER]
    with folder_lock(office / "lists"):  # another publish is between its check and its write
        waiting = subprocess.Popen(argv, cwd=office, env={**os.environ, **ENV}, stdout=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=3)  # long enough to sign and write a list many times over
        assert not (office / "lists" / "sh-traffic.0.ecsl").exists()
    out, _ = waiting.communicate(timeout=60)
    assert waiting.returncode == 0 and json.loads(out)["lists"][0]["sequence"] == 1
    assert (office / "lists" / "sh-traffic.0.ecsl").exists()
