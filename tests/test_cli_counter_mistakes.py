"""What a clerk meets at the counter when something goes wrong (issue 15): typos that must not read as
forgeries, interruptions and closed pipes that must not print tracebacks, and cards that must not mislead.

Each test is one observation from the issue; CLI tests call ``main(argv)`` in-process through
``test_cli.run``, and the closed pipe runs the real entry point.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import test_cli
from conftest import es256_test_key
from PIL import Image
from test_cli import CHECKED, ISSUED, LICENCE, present_text, run
from test_scan_cli import CLAIMS, FakeCapture, Office, fake_cv2, scan

from econsent import ATTESTED_OUT_OF_BAND, Issuer, __version__, card, present, qr
from econsent.cli import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, _parser, main
from econsent.cli._common import parse_time
from econsent.errors import ErrorCode, GeneralCode, InputFileError, UsageError, VerificationError

NOW = dt.datetime(2026, 11, 27, 9, 0, 20, tzinfo=dt.UTC)
office = test_cli.office  # the keys, trust store and credential the CLI made, shared with test_cli
ISSUER_ENV = {"ISSUER_PASS": "correct horse battery staple"}


# ---------------------------------------------------------------------------------------------
# Typos look like forgeries


@pytest.mark.parametrize("name", ["missing.png", "scans/photo.jpg", "a-folder"])
def test_verify_of_a_path_that_is_no_file_is_a_usage_error_naming_it(office: Path, name: str) -> None:
    (office / "a-folder").mkdir(exist_ok=True)
    result = run("verify", name, "--trust", "trust.json", "--json", cwd=office)
    document = json.loads(result.stdout)
    assert result.returncode == 2 and document["code"] == "NO_SUCH_FILE" and name in document["detail"]
    assert "valid" not in document  # an error, not a verdict
    # Garbled text that names no path is still verified, and rejected, as a code.
    garbled = run("verify", "garbled", "--trust", "trust.json", "--json", cwd=office)
    assert garbled.returncode == 1 and json.loads(garbled.stdout)["code"] == "MALFORMED"


@pytest.mark.parametrize(
    "argv",
    [
        ("present", "-c", "missing.ecc", "--json"),
        ("present", "-c", "a-folder", "--json"),
        ("challenge", "--issuer-key", "missing.pem", "--json"),
        ("issue", "--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS", "--claims", "no/such.json", "--bearer",
         "-o", "x.ecc", "--json"),
    ],
)  # fmt: skip
def test_every_command_reports_a_mistyped_input_path_as_no_such_file(office: Path, argv: tuple[str, ...]) -> None:
    """Whichever command reads it, a path that does not exist or is a folder is NO_SUCH_FILE (exit 2), the code
    ``verify`` gives: one code for one mistake, in JSON with its Chinese sentence, and named in the text line."""
    (office / "a-folder").mkdir(exist_ok=True)
    result = run(*argv, cwd=office, env=ISSUER_ENV)
    document = json.loads(result.stdout)
    assert result.returncode == 2 and document["code"] == "NO_SUCH_FILE", result.stdout + result.stderr
    assert document["sentence_zh"] == GeneralCode.NO_SUCH_FILE.sentence_zh
    text = run(*argv[:-1], cwd=office, env=ISSUER_ENV)
    assert text.returncode == 2 and text.stderr.startswith("econsent: error: NO_SUCH_FILE: ")
    assert Path(argv[2] if argv[0] != "issue" else argv[6]).name in text.stderr


def test_an_output_in_a_missing_folder_names_the_folder_not_a_temporary_file(office: Path) -> None:
    argv = ("issue", "--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS", "--claims", str(LICENCE), "--bearer",
            "-o", "no-such-folder/x.ecc", "--json")  # fmt: skip
    result = run(*argv, cwd=office, env=ISSUER_ENV)
    document = json.loads(result.stdout)
    assert result.returncode == 2 and document["code"] == "NO_SUCH_FILE"
    assert document["detail"] == "no-such-folder" and ".tmp" not in result.stdout
    assert not (office / "no-such-folder").exists()


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_verify_image_refuses_a_path_that_is_no_file_with_a_typed_usage_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "photo.png"
    if kind == "folder":
        path.mkdir()
    with pytest.raises(InputFileError) as raised:
        qr.verify_image(object(), path, now=NOW)  # type: ignore[arg-type]  # never reaches the verifier
    assert not isinstance(raised.value, VerificationError)  # not NO_QR_CODE: nothing was looked at
    assert raised.value.code.value == "NO_SUCH_FILE" and raised.value.exit_code == 2
    assert str(path) in raised.value.detail


@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_status_lists_that_is_no_folder_is_a_usage_error_naming_it(office: Path, kind: str) -> None:
    target = "no-such-dir" if kind == "missing" else "trust.json"
    code = present_text(office)
    result = run(
        "verify", code, "--trust", "trust.json", "--status-lists", target, "--now", CHECKED, "--json", cwd=office
    )
    document = json.loads(result.stdout)
    assert result.returncode == 2 and document["code"] == "USAGE"
    assert "--status-lists" in document["detail"] and target in document["detail"]


@pytest.mark.parametrize(
    "typed", ["2026-01-01", "2026-01-01T08:00", "2026-01-01 08:00:00", "2026-01-01T08:00:00.5"], ids=str
)
def test_every_time_hint_the_cli_prints_is_itself_accepted(office: Path, typed: str) -> None:
    result = run(
        "issue", "--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS", "--claims", str(LICENCE), "--bearer",
        "--valid-from", typed, "--valid-until", "2030-01-01T00:00:00Z", "-o", "hinted.ecc", "--now", ISSUED,
        cwd=office, env=ISSUER_ENV,
    )  # fmt: skip
    assert result.returncode == 2
    hints = re.findall(r"e\.g\. (\S+) or (\S+)$", result.stderr.splitlines()[0].rstrip(")"))
    assert hints, result.stderr
    for hint in hints[0]:
        assert parse_time(hint).tzinfo is not None


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01Z",
        "2026-01-01ZZ",
        "2026-01-01T08:00:00ZZ",
        "2026-01-01T08:00:00+08:00+08:00",
        "2026-01-01T08:00:00Z+08:00",
        "2026-13-01T00:00:00Z",
        "2026-01-01T08:00:00+24:00",
        "\uff12\uff10\uff12\uff16-01-01T08:00:00Z",  # full-width digits
        "2026-01-01T08Z",
    ],
    ids=str,
)
def test_malformed_times_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_time(text)


def test_issue_refuses_to_overwrite_a_credential_without_force(office: Path) -> None:
    before = (office / "licence.ecc").read_bytes()
    argv = (
        "issue", "--key", "issuer.pem", "--passphrase-env", "ISSUER_PASS", "--claims", str(LICENCE), "--bearer",
        "-o", "licence.ecc", "--now", ISSUED, "--json",
    )  # fmt: skip
    refused = run(*argv, cwd=office, env=ISSUER_ENV)
    assert refused.returncode == 2 and "licence.ecc exists: give --force" in json.loads(refused.stdout)["detail"]
    assert (office / "licence.ecc").read_bytes() == before
    (office / "copy.ecc").write_bytes(before)
    again = [("copy.ecc" if word == "licence.ecc" else word) for word in argv]
    forced = run(*again, "--force", cwd=office, env=ISSUER_ENV)
    assert forced.returncode == 0 and (office / "copy.ecc").read_bytes() != before


def _output_options(parser: argparse.ArgumentParser) -> list[str]:
    names = ("--out", "--png", "--svg", "--proof-out")
    return [flag for action in parser._actions for flag in action.option_strings if flag in names]


def test_every_command_that_writes_a_named_file_takes_force() -> None:
    from test_cli import _commands

    writers = {name: command for name, command in _commands(_parser()).items() if _output_options(command)}
    assert {"issue", "prove", "present", "trust sign", "issuer issue", "wallet export", "wallet show"} <= set(writers)
    for name, command in writers.items():
        flags = {flag for action in command._actions for flag in action.option_strings}
        assert "--force" in flags or name == "keygen", f"{name} writes {_output_options(command)} without --force"


@pytest.mark.parametrize(
    "argv",
    [
        ("present", "-c", "licence.ecc", "--holder-key", "holder.pem", "--now", ISSUED, "--png", "taken"),
        ("present", "-c", "licence.ecc", "--holder-key", "holder.pem", "--now", ISSUED, "--svg", "taken"),
        ("prove", "--holder-key", "holder.pem", "--challenge", "00" * 32, "--issuer-kid", "00" * 16, "-o", "taken"),
        (
            "trust",
            "sign",
            "--store",
            "trust.json",
            "--anchor-key",
            "issuer.pem",
            "--passphrase-env",
            "ISSUER_PASS",
            "--name",
            "n",
            "--sequence",
            "1",
            "--next-update",
            "2027-01-01T00:00:00Z",
            "-o",
            "taken",
        ),
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_commands_that_write_a_named_file_refuse_an_existing_one(office: Path, argv: tuple[str, ...]) -> None:
    (office / "taken").write_bytes(b"someone's file")
    result = run(*argv, cwd=office, env=ISSUER_ENV)
    assert result.returncode == 2 and "taken exists: give --force" in result.stderr
    assert (office / "taken").read_bytes() == b"someone's file"


# ---------------------------------------------------------------------------------------------
# Tracebacks and silence


class _Interrupted(io.StringIO):
    """A stdin whose reader presses Ctrl-C."""

    def __iter__(self) -> _Interrupted:
        raise KeyboardInterrupt

    def readline(self, size: int | None = -1, /) -> str:
        raise KeyboardInterrupt

    def isatty(self) -> bool:
        return True


def test_ctrl_c_in_a_stdin_loop_exits_130_with_one_line(
    office: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(office)
    monkeypatch.setattr(sys, "stdin", _Interrupted())
    assert main(["verify", "-", "--trust", "trust.json"]) == EXIT_INTERRUPTED == 130
    out, err = capsys.readouterr()
    assert out == "" and err == "econsent: interrupted\n"


@pytest.mark.parametrize("key", [KeyboardInterrupt, EOFError], ids=["ctrl-c", "ctrl-d"])
def test_ctrl_c_or_ctrl_d_at_the_passphrase_prompt_ends_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key: type[BaseException]
) -> None:
    def pressed(prompt: str = "") -> str:
        raise key

    monkeypatch.setattr(sys, "stdin", _Interrupted())
    monkeypatch.setattr("getpass.getpass", pressed)
    code = main(["wallet", "create", "-w", str(tmp_path / "w.ecw"), "--kdf-log2-n", "10"])
    err = capsys.readouterr().err
    if key is KeyboardInterrupt:
        assert code == 130 and err == "econsent: interrupted\n"
    else:
        assert code == 2 and "no passphrase was typed" in err and "Traceback" not in err
    assert not (tmp_path / "w.ecw").exists()


def test_ctrl_c_during_the_key_derivation_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setenv("WALLET_PASS", "a long wallet passphrase")
    monkeypatch.setattr("econsent._vault.derive_key", interrupted)
    argv = ["wallet", "create", "-w", str(tmp_path / "w.ecw"), "--passphrase-env", "WALLET_PASS", "--kdf-log2-n", "10"]
    assert main(argv) == 130
    assert capsys.readouterr().err == "econsent: interrupted\n"


def test_a_closed_output_pipe_ends_quietly(office: Path) -> None:
    lines = "EC1:1\n" * 400  # far more cards than a pipe holds
    process = subprocess.Popen(
        [sys.executable, "-m", "econsent", "verify", "-", "--trust", "trust.json"],
        cwd=office, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    process.stdin.write(lines)
    process.stdin.close()
    assert process.stdout.readline()  # `| head -1`
    process.stdout.close()
    assert process.wait(timeout=120) == EXIT_BROKEN_PIPE == 141
    with process.stderr:
        assert process.stderr.read() == ""  # no traceback, no "Broken pipe"


def test_verify_with_empty_stdin_says_so_and_exits_2(office: Path) -> None:
    result = run("verify", "-", "--trust", "trust.json", stdin="\n  \n", cwd=office)
    assert result.returncode == 2 and "no code was read from standard input" in result.stderr


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == f"econsent {__version__}\n"


def test_trust_inspect_has_json_output_marked_unverified(office: Path) -> None:
    added = run(
        "trust", "add", "--store", "listed.json", "--key", "issuer.pub.pem", "--issuer-zh", "上海市公安局",
        "--issuer-id", "sh-police", "--types", "driving-licence", "--valid-from", "2026-01-01T00:00:00Z",
        "--valid-until", "2031-01-01T00:00:00Z", cwd=office,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    signed = run(
        "trust", "sign", "--store", "listed.json", "--anchor-key", "issuer.pem", "--passphrase-env", "ISSUER_PASS",
        "--name", "counter", "--sequence", "1", "--next-update", "2027-01-01T00:00:00Z", "--now", ISSUED,
        "-o", "inspect-me.json", "--force", cwd=office, env=ISSUER_ENV,
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    result = run("trust", "inspect", "inspect-me.json", "--json", cwd=office)
    document = json.loads(result.stdout)
    assert result.returncode == 0 and document["verified"] is False and document["name"] == "counter"


def test_opencv_is_told_to_be_silent_before_the_camera_opens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    office_ = Office(tmp_path)
    fake_cv2(monkeypatch, [], opened=False)
    module = sys.modules["cv2"]
    levels: list[int] = []
    level_when_opened: list[int | None] = []
    capture = module.VideoCapture

    def video_capture(index: int) -> FakeCapture:
        level_when_opened.append(levels[-1] if levels else None)
        return capture(index)  # type: ignore[no-any-return]

    monkeypatch.setattr(module, "setLogLevel", levels.append, raising=False)
    monkeypatch.setattr(module, "VideoCapture", video_capture)
    monkeypatch.delenv("OPENCV_LOG_LEVEL", raising=False)
    code, _ = scan("--camera", "3", "--trust", str(office_.trust))
    assert code == 2  # "camera 3 could not be opened", said once, by us
    assert level_when_opened == [0]  # cv::utils::logging::LOG_LEVEL_SILENT, before the camera is opened
    assert os.environ["OPENCV_LOG_LEVEL"] == "SILENT"  # for an OpenCV loaded later


@pytest.mark.parametrize(("code", "option"), [("HC1:NCFOXN%TS3DH", "--dcc-certs"), ("shc:/5676290952", "--shc-jwks")])
def test_another_formats_code_on_a_counter_not_set_up_for_it_says_so(office: Path, code: str, option: str) -> None:
    result = run("verify", code, "--trust", "trust.json", "--json", cwd=office)
    document = json.loads(result.stdout)
    assert result.returncode == 1 and document["code"] == "FORMAT_NOT_SET_UP" and option in document["detail"]
    assert ErrorCode.FORMAT_NOT_SET_UP.sentence_zh.startswith("本窗口未设置")
    card_text = run("verify", code, "--trust", "trust.json", cwd=office).stdout
    assert "not set up" in card_text and "MALFORMED" not in card_text


# ---------------------------------------------------------------------------------------------
# The screen


def test_an_unreadable_photo_gets_a_neutral_card_not_a_red_rejection() -> None:
    unread = VerificationError(ErrorCode.NO_QR_CODE, "no code found")
    text = card.render_card_text(unread, now=NOW, color=True)
    assert "NOT READ 无法识别" in text and "REJECTED" not in text and "拒绝" not in text
    assert "hold the phone flat and closer" in text and "无法识别，请将手机放平并靠近" in text  # noqa: RUF001
    assert "\033[31m" not in text  # no red
    pixels = np.asarray(Image.open(io.BytesIO(card.render_card_png(unread, now=NOW))).convert("RGB"))
    assert tuple(pixels[4, 4]) == (0x5F, 0x63, 0x68)  # a grey band, neither red nor green


def test_the_kiosk_never_shows_the_previous_citizens_card(tmp_path: Path) -> None:
    office_ = Office(tmp_path)
    cards = tmp_path / "cards"
    strange = Issuer(es256_test_key("scan-cli issuer")).issue(
        "driving-licence",
        {**CLAIMS, "family_name": "\U0010fffd"},  # a character no installed font draws
        holder_key=office_.holder_key.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=NOW - dt.timedelta(days=1),
        valid_until=NOW + dt.timedelta(days=365),
        now=NOW - dt.timedelta(seconds=20),
        serial=31000124,
    )
    undrawable = present(strange, office_.holder_key, now=NOW - dt.timedelta(seconds=5), lifetime=60)
    argv = ("-", "--trust", str(office_.trust), "--now", CHECKED, "--card-png", str(cards))
    assert scan(*argv, stdin=f"{office_.code()}\n")[0] == 0
    valid_card = (cards / "latest.png").read_bytes()
    code, out = scan(*argv, stdin=f"{undrawable}\n")
    assert code == 0 and "VALID" in out  # the terminal card still stands
    latest = (cards / "latest.png").read_bytes()
    assert latest != valid_card
    pixels = np.asarray(Image.open(io.BytesIO(latest)).convert("RGB"))
    assert tuple(pixels[4, 4]) == (0x5F, 0x63, 0x68)  # the neutral "see the counter's screen" card


# ---------------------------------------------------------------------------------------------
# Long work shows progress


class _Terminal(io.StringIO):
    """A stderr that a person watches (a terminal): progress lines are for it only."""

    def isatty(self) -> bool:
        return True


def _blank_photo(path: Path) -> Path:
    Image.new("L", (64, 64), 255).save(path)
    return path


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "reading blank.png ("), ("zh", "正在识别 blank.png（")],  # noqa: RUF001 - Chinese punctuation
)
def test_verifying_a_photo_says_what_it_is_reading_on_a_terminal_in_the_clerks_language(
    office: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], language: str, expected: str
) -> None:
    photo = _blank_photo(office / "blank.png")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["verify", str(photo), "--trust", str(office / "trust.json"), "--lang", language]) == 1
    shown = terminal.getvalue()
    assert expected in shown and shown.endswith("\r\033[K")  # cleared before the card is printed
    assert "NO_QR_CODE" in capsys.readouterr().out


def test_a_folder_scan_counts_the_images_as_it_goes_and_a_pipe_gets_no_progress(
    office: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = office / "photos"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        _blank_photo(folder / name)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    main(["scan", str(folder), "--trust", str(office / "trust.json")])
    shown = terminal.getvalue()
    assert [f"reading image {n} of 3: {name}" in shown for n, name in ((1, "a.png"), (2, "b.png"), (3, "c.png"))] == [
        True
    ] * 3
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal: a log or a pipe
    main(["scan", str(folder), "--trust", str(office / "trust.json")])
    assert "reading" not in sys.stderr.getvalue()  # type: ignore[attr-defined]
    capsys.readouterr()
