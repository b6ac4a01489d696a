"""The command line through ``main(argv)`` in-process, and through its real entry points (the console script and
``python -m econsent``) in a few tests that prove those work; the one JSON error shape across every command; and
docs/cli.md and the parser as one source."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from econsent.cli import _parser, main

ROOT = Path(__file__).resolve().parent.parent
LICENCE = ROOT / "examples" / "data" / "driving-licence.json"
ISSUED = "2026-11-27T08:00:00Z"
SHOWN = "2026-11-27T09:00:00Z"
CHECKED = "2026-11-27T09:00:20Z"


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run(*args: str, stdin: str | None = None, cwd: Path, env: dict[str, str] | None = None) -> Result:
    """``econsent ARGS`` in-process through ``main(argv)``, in folder ``cwd``, with ``stdin`` and extra ``env``."""
    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        with (
            contextlib.chdir(cwd),
            _environment(env or {}),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = main(list(args))
    finally:
        sys.stdin = saved_stdin
    return Result(code, out.getvalue(), err.getvalue())


def run_entry_point(*args: str, cwd: Path, module: bool = False) -> subprocess.CompletedProcess[str]:
    """The installed ``econsent`` console script (or ``python -m econsent``) in a subprocess."""
    script = shutil.which("econsent", path=str(Path(sys.executable).parent))
    command = [sys.executable, "-m", "econsent"] if module or not script else [script]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with issuer and holder keys, a trust store and an issued credential, made by the CLI."""
    folder = tmp_path_factory.mktemp("cli")
    env = {"ISSUER_PASS": "correct horse battery staple"}
    assert run("keygen", "-o", "issuer.pem", "--passphrase-env", "ISSUER_PASS", cwd=folder, env=env).returncode == 0
    assert run("keygen", "-o", "holder.pem", "-a", "Ed25519", cwd=folder).returncode == 0
    added = run(
        "trust", "add", "--store", "trust.json", "--key", "issuer.pub.pem", "--issuer-zh", "上海市公安局交通警察总队",
        "--issuer-en", "Shanghai Traffic Police", "--types", "driving-licence",
        "--valid-from", "2026-01-01T00:00:00Z", "--valid-until", "2031-01-01T00:00:00Z", cwd=folder,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    challenged = run("challenge", "--issuer-key", "issuer.pub.pem", "--json", cwd=folder)
    assert challenged.returncode == 0, challenged.stderr
    request = json.loads(challenged.stdout)
    proved = run(
        "prove", "--holder-key", "holder.pem", "--challenge", request["challenge"], "--issuer-kid",
        request["issuer_kid"], "-o", "proof.json", cwd=folder,
    )  # fmt: skip
    assert proved.returncode == 0, proved.stderr
    issued = run(
        "issue", "--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS", "--claims", str(LICENCE),
        "--holder-key", "holder.pub.pem", "--possession", "proof.json", "--challenge", request["challenge"],
        "--serial", "31000123", "--out", "licence.ecc", "--now", ISSUED, "--json", cwd=folder, env=env,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    assert json.loads(issued.stdout)["serial"] == 31000123
    return folder


def present_text(folder: Path, *extra: str) -> str:
    shown = run("present", "-c", "licence.ecc", "--holder-key", "holder.pem", "--now", SHOWN, *extra, cwd=folder)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.strip()


def test_keygen_writes_private_key_readable_by_owner_only(office: Path) -> None:
    assert (office / "issuer.pem").stat().st_mode & 0o077 == 0
    assert b"ENCRYPTED" in (office / "issuer.pem").read_bytes()


def test_keygen_refuses_to_overwrite_a_key(office: Path) -> None:
    result = run("keygen", "-o", "holder.pem", cwd=office)
    assert result.returncode == 2
    assert "refusing to overwrite" in result.stderr


def test_trust_list_shows_the_key(office: Path) -> None:
    listed = run("trust", "list", "--store", "trust.json", "--json", cwd=office)
    document = json.loads(listed.stdout)
    assert document["keys"][0]["issuer"]["zh"] == "上海市公安局交通警察总队"


def test_present_then_verify_text_is_valid_with_exit_0(office: Path) -> None:
    text = present_text(office, "--profile", "driving-check")
    verified = run("verify", text, "--trust", "trust.json", "--now", CHECKED, "--json", cwd=office)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    verdict = json.loads(verified.stdout)
    assert verdict["valid"] is True
    assert verdict["claims"] == {
        "family_name": "张",
        "given_name": "伟",
        "vehicle_classes": ["C1", "D"],
        "expiry_date": "2029-01-15",
    }
    assert "address" in verdict["withheld"]


def test_verify_png_and_svg_written_by_present(office: Path) -> None:
    present_text(office, "--png", "code.png", "--svg", "code.svg")
    verified = run("verify", "code.png", "--trust", "trust.json", "--now", CHECKED, cwd=office)
    assert verified.returncode == 0, verified.stdout
    assert "VALID 有效  机动车驾驶证 Driving licence  ·  serial 31000123" in verified.stdout
    assert "豫园街道" in verified.stdout
    assert (office / "code.svg").read_text(encoding="utf-8").startswith("<?xml")


def test_rejection_exits_1_with_code_and_sentence(office: Path) -> None:
    text = present_text(office)
    late = run("verify", text, "--trust", "trust.json", "--now", "2026-11-27T09:10:00Z", cwd=office)
    assert late.returncode == 1
    assert "REJECTED 拒绝  STALE_PRESENTATION" in late.stdout
    assert "The code has expired: ask the holder to show a fresh one." in late.stdout
    assert "phone's clock" in late.stdout


def test_stdin_lines_like_a_keyboard_wedge_scanner(office: Path) -> None:
    good = present_text(office)
    lines = f"{good}\r\n{good}\r\nEC1:123\r\n"
    result = run("verify", "-", "--trust", "trust.json", "--now", CHECKED, "--json", stdin=lines, cwd=office)
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [v.get("code") for v in verdicts] == [None, "REPLAYED", "MALFORMED"]
    assert result.returncode == 1


def test_required_claims_and_audience_policies(office: Path) -> None:
    text = present_text(office, "--profile", "name", "--audience", "counter-7")
    needs = run("verify", text, "--trust", "trust.json", "--now", CHECKED, "--audience", "counter-7",
                "--require", "vehicle_classes", "--json", cwd=office)  # fmt: skip
    assert json.loads(needs.stdout)["code"] == "MISSING_CLAIMS"
    other = run("verify", text, "--trust", "trust.json", "--now", CHECKED, "--audience", "counter-8", cwd=office)
    assert "AUDIENCE_MISMATCH" in other.stdout


def test_nonce_round_trip(office: Path) -> None:
    text = present_text(office, "--nonce", "00112233445566778899aabbccddeeff")
    ok = run("verify", text, "--trust", "trust.json", "--now", CHECKED, "--nonce", "00112233445566778899aabbccddeeff",
             cwd=office)  # fmt: skip
    assert ok.returncode == 0
    bad = run("verify", text, "--trust", "trust.json", "--now", CHECKED, "--nonce", "ff" * 16, cwd=office)
    assert "NONCE_MISMATCH" in bad.stdout


def test_terminal_output_is_half_blocks(office: Path) -> None:
    shown = run("present", "-c", "licence.ecc", "--holder-key", "holder.pem", "--terminal", cwd=office)
    assert shown.returncode == 0
    assert set(shown.stdout) <= set("▀▄█ \n")


def test_bearer_credential_needs_accept_bearer(office: Path) -> None:
    env = {"ISSUER_PASS": "correct horse battery staple"}
    issued = run("issue", "--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS", "--claims", str(LICENCE),
                 "--bearer", "--out", "printed.ecc", "--now", ISSUED, cwd=office, env=env)  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    text = run("present", "-c", "printed.ecc", cwd=office).stdout.strip()
    refused = run("verify", text, "--trust", "trust.json", "--now", CHECKED, cwd=office)
    assert "BEARER_REFUSED" in refused.stdout
    accepted = run("verify", text, "--trust", "trust.json", "--now", CHECKED, "--accept-bearer", cwd=office)
    assert accepted.returncode == 0
    assert "bearer" in accepted.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify"], "the following arguments are required"),
        (["issue", "--key", "missing.pem", "--claims", "x.json", "--bearer", "-o", "c"], "No such file"),
        (["present", "-c", "trust.json"], "not an econsent credential"),
        (["present", "-c", "licence.ecc"], "give the holder's signer"),
        (["present", "-c", "licence.ecc", "--holder-key", "holder.pem", "--profile", "nope"], "no profile 'nope'"),
        (["verify", "x", "--trust", "trust.json", "--now", "yesterday"], "not an ISO 8601 time"),
        (["verify", "x", "--trust", "trust.json", "--leeway", "9999"], "argument --leeway: 9999 is not from 0 to 300"),
        (["issue", "--key", "issuer.pem", "--claims", str(LICENCE), "--bearer", "-o", "c"], "passphrase"),
        (["trust", "add", "--store", "t2.json", "--key", "holder.pub.pem", "--issuer-zh", "x", "--types", "pets",
          "--valid-from", "2026-01-01T00:00:00Z", "--valid-until", "2027-01-01T00:00:00Z"], "unknown credential types"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_with_a_message_and_no_traceback(office: Path, args: list[str], message: str) -> None:
    result = run(*args, cwd=office)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_verify_prints_the_same_card_as_scan(office: Path) -> None:
    """``verify`` and ``scan`` print one verdict card for the same code, valid or rejected."""
    text = present_text(office)
    for when in (CHECKED, "2026-11-27T09:10:00Z"):
        verified = run("verify", text, "--trust", "trust.json", "--now", when, cwd=office)
        scanned = run("scan", "-", "--trust", "trust.json", "--now", when, stdin=text + "\n", cwd=office)
        assert verified.stdout.strip() and scanned.stdout.startswith(verified.stdout)


def test_the_console_script_runs_main(office: Path) -> None:
    script = run_entry_point("types", "--json", cwd=office)
    assert script.returncode == 0, script.stderr
    assert json.loads(script.stdout) == json.loads(run("types", "--json", cwd=office).stdout)


def test_python_dash_m_runs_main_with_its_exit_codes(office: Path) -> None:
    module = run_entry_point("verify", "EC1:123", "--trust", "trust.json", "--json", cwd=office, module=True)
    assert module.returncode == 1
    assert json.loads(module.stdout)["code"] == "MALFORMED"
    assert run_entry_point(cwd=office, module=True).returncode == 2


# --- one JSON shape for every error --------------------------------------------------------------------------------

ERROR_KEYS = {"ok": bool, "code": str, "sentence": str, "detail": str}
EMPTY = ["--passphrase-env", "WALLET_PASS"]
NO_WALLET = ["-w", "no-such-wallet.ecw", *EMPTY]

# Every command and action, and an invocation that it refuses or reports as an error (None: it has none).
COMMANDS: dict[str, list[str] | None] = {
    "keygen": ["keygen", "-o", "new.pem", "-a", "RSA"],
    "types": None,
    "challenge": ["challenge", "--issuer-key", "missing.pem"],
    "prove": ["prove", "--holder-key", "trust.json", "--challenge", "00", "--issuer-kid", "00", "-o", "p.json"],
    "issue": ["issue", "--key", "missing.pem", "--claims", str(LICENCE), "--bearer", "-o", "c.ecc"],
    "present": ["present", "-c", "trust.json"],
    "verify": ["verify", "EC1:123", "--trust", "trust.json"],
    "scan": ["scan", "-", "--trust", "trust.json"],
    "serve": ["serve", "--trust", "trust.json", "--host", "0.0.0.0"],
    "trust add": ["trust", "add", "--store", "t2.json", "--key", "holder.pub.pem", "--issuer-zh", "x", "--types",
                  "pets", "--valid-from", ISSUED, "--valid-until", CHECKED],
    "trust list": ["trust", "list", "--store", "missing.json"],
    "trust retire": ["trust", "retire", "--store", "trust.json", "--kid", "00", "--since", ISSUED],
    "trust compromise": ["trust", "compromise", "--store", "trust.json", "--kid", "zz", "--since", ISSUED],
    "trust sign": ["trust", "sign", "--store", "trust.json", "--anchor-key", "missing.pem", "--name", "x",
                   "--sequence", "1", "--next-update", CHECKED, "-o", "list.json"],
    "trust inspect": ["trust", "inspect", "trust.json"],
    "trust verify": ["trust", "verify", "trust.json", "--anchor", "holder.pub.pem"],
    "issuer init": ["issuer", "init", "--registry", "trust.json", "--key", "issuer.pub.pem"],
    "issuer add-key": ["issuer", "add-key", "--registry", "missing.db", "--key", "issuer.pub.pem"],
    "issuer issue": ["issuer", "issue", "--registry", "missing.db", "--key", "holder.pem", "--claims", str(LICENCE),
                     "--bearer", "-o", "c.ecc"],
    "issuer revoke": ["issuer", "revoke", "--registry", "reg.db", "999"],
    "issuer suspend": ["issuer", "suspend", "--registry", "reg.db", "999"],
    "issuer reinstate": ["issuer", "reinstate", "--registry", "reg.db", "999"],
    "issuer status": ["issuer", "status", "--registry", "reg.db", "999"],
    "issuer publish": ["issuer", "publish", "--registry", "reg.db", "--key", "holder.pem", "--out-dir", "lists"],
    "issuer batch": ["issuer", "batch", "--registry", "missing.db", "--key", "holder.pem", "--input", "rows.jsonl",
                     "--output", "out.jsonl", "--batch-id", "b1"],
    "wallet create": ["wallet", "create", "-w", "trust.json", *EMPTY, "--kdf-log2-n", "10"],
    "wallet new-key": ["wallet", "new-key", *NO_WALLET],
    "wallet add": ["wallet", "add", *NO_WALLET, "licence.ecc"],
    "wallet list": ["wallet", "list", *NO_WALLET],
    "wallet show": ["wallet", "show", *NO_WALLET, "abc"],
    "wallet remove": ["wallet", "remove", *NO_WALLET, "abc", "--yes"],
    "wallet export": ["wallet", "export", *NO_WALLET, "-o", "backup.ecwb"],
    "wallet import": ["wallet", "import", *NO_WALLET, "trust.json"],
    "wallet change-passphrase": ["wallet", "change-passphrase", *NO_WALLET],
}  # fmt: skip


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every runnable command of ``parser``, by its words (``verify``, ``trust add``, ...)."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                words = f"{prefix} {name}".strip()
                found.update(_commands(child, words) or {words: child})
    return found


def _assert_error_shape(document: dict[str, Any]) -> None:
    assert {key: type(document.get(key)) for key in ERROR_KEYS} == ERROR_KEYS, document
    assert document["ok"] is False and document["code"] and document["sentence"]


@pytest.fixture(scope="module")
def registry(office: Path) -> Path:
    """An issuer registry beside the office's keys (for the issuer actions' refusals)."""
    made = run("issuer", "init", "--registry", "reg.db", "--key", "issuer.pub.pem", cwd=office)
    assert made.returncode == 0, made.stderr
    return office


def test_every_command_is_in_the_error_shape_test() -> None:
    assert set(COMMANDS) == set(_commands(_parser()))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_usage_error_with_json_is_the_one_error_shape(office: Path, command: str) -> None:
    result = run(*command.split(), "--json", "--no-such-option", cwd=office)
    assert result.returncode == 2
    document = json.loads(result.stdout)
    _assert_error_shape(document)
    assert document["code"] == "USAGE"
    assert document["detail"].startswith(f"usage: econsent {command}")


@pytest.mark.parametrize("command", sorted(name for name, argv in COMMANDS.items() if argv is not None))
def test_a_refusal_or_error_with_json_is_the_one_error_shape(registry: Path, command: str) -> None:
    argv = COMMANDS[command]
    assert argv is not None
    result = run(*argv, "--json", stdin="EC1:123\n", cwd=registry, env={"WALLET_PASS": "x"})
    assert result.returncode in (1, 2), result.stderr
    assert len(result.stdout.splitlines()) == 1 and not result.stderr.strip().startswith("{")
    document = json.loads(result.stdout)
    _assert_error_shape(document)
    if command in ("verify", "scan"):  # a rejected code is also a verdict
        assert document["valid"] is False and document["code"] == "MALFORMED"


@pytest.mark.parametrize("argv", [[], ["trust"], ["issuer"], ["wallet"]])
def test_a_command_group_without_an_action_is_a_usage_error(office: Path, argv: list[str]) -> None:
    result = run(*argv, cwd=office)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("econsent: error: give a") and "usage: econsent" in result.stderr


def test_refusals_and_errors_say_the_same_in_text(registry: Path) -> None:
    """Text: a refusal (exit 1) is ``REFUSED  CODE: sentence (detail)`` on stderr, an error (exit 2)
    ``econsent: error: CODE: sentence (detail)``; a usage error names no code."""
    refused = run("issuer", "revoke", "--registry", "reg.db", "999", cwd=registry)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("REFUSED  UNKNOWN_SERIAL: ")
    failed = run("challenge", "--issuer-key", "missing.pem", cwd=registry)
    assert failed.returncode == 2 and failed.stderr.startswith(
        "econsent: error: NO_SUCH_FILE: No such file or directory (missing.pem)"
    )


def test_times_are_iso_8601_utc_with_z_in_json(registry: Path) -> None:
    issued = run("issuer", "issue", "--registry", "reg.db", "--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS",
                 "--claims", str(LICENCE), "--bearer", "-o", "reg.ecc", "--now", "2026-11-27T16:00:00+08:00",
                 "--json", cwd=registry, env={"ISSUER_PASS": "correct horse battery staple"})  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    serial = str(json.loads(issued.stdout)["serial"])
    status = json.loads(run("issuer", "status", "--registry", "reg.db", serial, "--json", cwd=registry).stdout)
    assert status["issued_at"] == ISSUED
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status[key]) for key in ("valid_from", "valid_until"))


# --- docs/cli.md and the parser, one source ------------------------------------------------------------------------

_FLAG = re.compile(r"(?<![\w-])--?[a-zA-Z][\w-]*")


def _documented_rows() -> dict[str, str]:
    """docs/cli.md's table: each command's words (``trust retire``) -> the usage it shows."""
    rows: dict[str, str] = {}
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for usage in re.findall(r"^\| `([^`]+)` \|", text, re.M):
        words = usage.split(" ")
        group = words[0] if words[0] in ("trust", "issuer", "wallet") else ""
        verbs = words[1] if group else words[0]
        for verb in verbs.split("\\|"):
            rows[f"{group} {verb}".strip()] = usage
    return rows


def test_docs_cli_md_documents_every_command_and_no_other() -> None:
    assert set(_documented_rows()) == set(_commands(_parser()))


@pytest.mark.parametrize("command", sorted(_commands(_parser())))
def test_every_documented_flag_exists_and_every_flag_is_documented(command: str) -> None:
    usage = _documented_rows()[command]
    shown = set(_FLAG.findall(usage))
    parser = _commands(_parser())[command]
    arguments = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    flags = {flag for a in arguments for flag in a.option_strings}
    assert shown <= flags, f"{command}: docs/cli.md shows {sorted(shown - flags)}, which it does not take"
    hidden = [a.option_strings[0] for a in arguments if a.option_strings and not shown & set(a.option_strings)]
    assert not hidden, f"{command}: {hidden} not in docs/cli.md"
    positionals = [(a.metavar or a.dest).upper() for a in arguments if not a.option_strings]
    assert all(re.search(rf"\b{name}\b", usage) for name in positionals), f"{command}: {positionals}"
