"""Text from outside never reaches a terminal raw: escape sequences, C1 controls and bidi overrides are shown escaped.

The attack: a code, a file name, a wallet or a trust list carries ``ESC [2J`` (clear the screen), a green VALID
card painted with ANSI colours, a C1 CSI (U+009B) or a right-to-left override (U+202E) that reorders what the
clerk reads. Every path below used to print it raw; each test feeds it through one path and looks at every
character that reached stdout and stderr. JSON output stays exact: it parses back to the very same text.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import unicodedata
from pathlib import Path

import pytest
from test_formats_dcc import Dsc, ec_key
from test_formats_shc import ISSUER as SHC_ISSUER
from test_formats_shc import Issuer as ShcIssuer
from test_formats_shc import b64, deflate, qr_text

from econsent import Issuer, SigningKey, TrustStore
from econsent._terminal import json_text, printable
from econsent.cli import main

# Clear the screen, home the cursor, paint a green VALID; a C1 CSI; a right-to-left override and an isolate.
HOSTILE = "\x1b[2J\x1b[H\x1b[32mVALID  driving-licence\x1b[0m\x9b31m\u202eevil\u2066\x7f"
NOW = "2025-06-01T08:30:00Z"
UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def assert_neutralised(*outputs: str) -> None:
    """No control, format, surrogate or separator character but the newlines between lines."""
    for output in outputs:
        raw = sorted({char for char in output if char != "\n" and unicodedata.category(char) in UNSAFE})
        assert not raw, f"raw characters reached the terminal: {raw!r}"


def evil_shc_card() -> str:
    """A SMART Health Card with no valid key at all, whose unsigned header kid carries the hostile text."""
    header = b64(json.dumps({"zip": "DEF", "alg": "ES256", "kid": HOSTILE}).encode())
    return qr_text(f"{header}.{b64(deflate(b'{}'))}.{b64(bytes(64))}")


@pytest.fixture
def shc_options(tmp_path: Path) -> list[str]:
    (tmp_path / "jwks.json").write_text(json.dumps(ShcIssuer("terminal safety issuer").jwks()))
    return ["--shc-jwks", str(tmp_path / "jwks.json"), "--shc-issuer", SHC_ISSUER, "--now", NOW]


# --- the neutralising function ------------------------------------------------------------------------------------


def test_printable_shows_controls_bidi_separators_and_surrogates_as_visible_escapes() -> None:
    assert printable("张伟 Zhang Wei, C1/D 🚗") == "张伟 Zhang Wei, C1/D 🚗"
    assert printable("a\x1b[2Jb\x9b\x7f\n\t") == "a\\x1b[2Jb\\x9b\\x7f\\x0a\\x09"
    assert printable("\u202eevil\u2066\u2069\u200b\ufeff\u2028\u2029") == (
        "\\u202eevil\\u2066\\u2069\\u200b\\ufeff\\u2028\\u2029"
    )
    assert printable("\ud800\U000e0041") == "\\ud800\\U000e0041"  # a lone surrogate; a tag character
    assert_neutralised(printable(HOSTILE))


def test_json_output_escapes_what_json_dumps_prints_raw_and_parses_back_exactly() -> None:
    document = {"name": HOSTILE, "zh": "上海市公安局", "lone": "\ud800", "tag": "\U000e0041", "n": [1, None]}
    text = json_text(document)
    assert json.loads(text) == document
    assert "上海市公安局" in text  # Chinese stays readable
    assert_neutralised(text)
    assert json.loads(json_text(document, indent=2)) == document
    assert_neutralised(json_text(document, indent=2))


# --- codes: verify and scan ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("json_output", [False, True], ids=["card", "json"])
def test_an_unsigned_shc_kid_never_paints_the_verify_output(
    shc_options: list[str], json_output: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", evil_shc_card(), *shc_options, *(["--json"] if json_output else [])]) == 1
    captured = capsys.readouterr()
    assert_neutralised(captured.out, captured.err)
    assert "UNKNOWN_KEY" in captured.out
    if json_output:
        assert HOSTILE in json.loads(captured.out)["detail"]  # exact, once parsed


def test_an_unsigned_shc_kid_never_paints_the_scan_card(
    shc_options: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(evil_shc_card() + "\n"))
    assert main(["scan", "-", *shc_options, "--color", "never"]) == 1
    captured = capsys.readouterr()
    assert_neutralised(captured.out, captured.err)
    assert "UNKNOWN_KEY" in captured.out and "\\x1b[2J" in captured.out


def test_an_unsigned_shc_kid_gets_only_our_colours_on_a_colour_card(
    shc_options: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(evil_shc_card() + "\n"))
    assert main(["scan", "-", *shc_options, "--color", "always"]) == 1
    out = capsys.readouterr().out
    assert "\x1b[2J" not in out and "\x1b[32m" not in out  # the card is red; nothing paints it green
    assert "\u202e" not in out and "\x9b" not in out


def test_signed_dcc_claims_with_escape_sequences_are_neutralised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even a verified claim is text from outside: the DSC signed it, the clerk's terminal must not obey it."""
    signer = Dsc(ec_key("terminal safety DSC"))
    (tmp_path / "dsc.der").write_bytes(signer.der)
    hcert = {
        "ver": "1.3.0",
        "nam": {"fn": HOSTILE, "fnt": "EVIL", "gn": "\u202eErika", "gnt": "ERIKA"},
        "dob": "1964-08-12",
        "v": [{"tg": "840539006", "ci": "URN:UVCI:01:AT:TEST#0\x1b]0;title\x07"}],
    }
    code = signer.code(hcert)
    options = ["--dcc-certs", str(tmp_path / "dsc.der"), "--now", NOW]
    assert main(["verify", code, *options]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(code + "\n"))
    assert main(["scan", "-", *options, "--color", "never"]) == 0
    captured = capsys.readouterr()
    assert_neutralised(captured.out, captured.err)
    assert captured.out.count("\\u202eErika") == 2
    assert main(["verify", code, *options, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["claims"]["family_name"] == HOSTILE


def test_file_names_from_a_scanned_folder_are_neutralised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "\x1b[2J\x1b[32mVALID\u202egnp.png").write_bytes(b"not an image")
    trust = tmp_path / "trust.json"
    TrustStore([]).save(trust)
    assert main(["scan", str(folder), "--trust", str(trust), "--now", NOW, "--color", "never"]) == 1
    captured = capsys.readouterr()
    assert_neutralised(captured.out, captured.err)
    assert "NO_QR_CODE" in captured.out and "\\x1b[2J" in captured.out


# --- stored and unverified content: wallet list, trust inspect ------------------------------------------------------


def test_wallet_list_neutralises_claims_of_unverified_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    credential = Issuer(SigningKey.generate("ES256")).issue(
        "driving-licence",
        {"family_name": HOSTILE, "given_name": "\u202e伟", "vehicle_classes": ("C1",)},
        holder_key=None,
        valid_from=start,
        valid_until=start + dt.timedelta(days=365),
        now=start,
    )
    (tmp_path / "licence.ecc").write_bytes(credential.encoded)
    monkeypatch.setenv("WALLET_PASS", "wallet passphrase")
    common = ["--wallet", str(tmp_path / "w.ecw"), "--passphrase-env", "WALLET_PASS"]
    assert main(["wallet", "create", *common, "--kdf-log2-n", "10"]) == 0
    assert main(["wallet", "add", *common, str(tmp_path / "licence.ecc"), "--issuer-zh", "\x1b[2J"]) == 0
    capsys.readouterr()
    assert main(["wallet", "list", *common, "--now", "2026-03-01T00:00:00Z"]) == 0
    captured = capsys.readouterr()
    assert_neutralised(captured.out, captured.err)
    assert "\\x1b[2J" in captured.out
    assert main(["wallet", "list", *common, "--now", "2026-03-01T00:00:00Z", "--json"]) == 0
    listed = capsys.readouterr().out
    assert_neutralised(listed)
    assert HOSTILE in json.loads(listed)["entries"][0]["holder_name"]


def test_trust_inspect_neutralises_the_unverified_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = {"name": "shanghai", "sequence": 1, "keys": [{"issuer": {"zh": HOSTILE, "en": "\u202eevil"}}]}
    payload = base64.urlsafe_b64encode(json.dumps(content, ensure_ascii=False).encode()).rstrip(b"=").decode()
    listing = tmp_path / "forged.trust.json"
    listing.write_text(json.dumps({"format": "econsent-trust-list", "anchor": "\u202e00", "payload": payload}))
    assert main(["trust", "inspect", str(listing)]) == 0
    captured = capsys.readouterr()
    assert_neutralised(captured.out, captured.err)
    assert json.loads(captured.out.split("\n", 1)[1])["keys"][0]["issuer"]["zh"] == HOSTILE
