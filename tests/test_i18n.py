"""Issue 15 "the screen": every sentence a clerk or citizen reads exists in Chinese and English, through
gettext catalogues that Babel extracts and compiles (not a hand-made table), and the CLI speaks the
language of ``--lang`` or the locale."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import econsent
from econsent.cli import main
from econsent.errors import ErrorCode, GeneralCode, RegistryErrorCode
from econsent.i18n import LANGUAGES, language_from_environment, parse_language, translate
from econsent.trust import TrustStore

PACKAGE = Path(econsent.__file__).parent
CATALOGUE = PACKAGE / "locale" / "zh" / "LC_MESSAGES" / "econsent.po"
COMPILED = CATALOGUE.with_suffix(".mo")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_FIELDS = re.compile(r"\{[a-z_]+\}")


def _marked_messages() -> set[str]:
    """What Babel's extractor finds marked with N_ in the package: the catalogue's source of truth."""
    found = extract_from_dir(PACKAGE, keywords={"N_": None})
    return {message for _file, _line, message, _comments, _context in found if isinstance(message, str)}


def _catalogue() -> dict[str, str]:
    with CATALOGUE.open("rb") as file:
        catalog = read_po(file, locale="zh")
    return {message.id: message.string for message in catalog if message.id and isinstance(message.id, str)}


def test_the_catalogue_translates_every_marked_message_and_nothing_else() -> None:
    marked, translated = _marked_messages(), _catalogue()
    assert marked, "no message is marked with N_ in the package"
    assert sorted(marked - set(translated)) == [], "marked in the code but missing from the catalogue"
    assert sorted(set(translated) - marked) == [], "in the catalogue but no longer in the code"
    # Translated means Chinese text, or (for punctuation alone, such as ", ") Chinese punctuation.
    untranslated = sorted(msgid for msgid, text in translated.items() if not text or text == msgid)
    assert untranslated == []


def test_each_translation_keeps_the_placeholders_of_its_message() -> None:
    for msgid, text in _catalogue().items():
        assert sorted(_FIELDS.findall(msgid)) == sorted(_FIELDS.findall(text)), msgid


def test_the_compiled_catalogue_is_the_po_file_compiled_by_babel() -> None:
    with CATALOGUE.open("rb") as file:
        catalog = read_po(file, locale="zh")
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    assert COMPILED.read_bytes() == compiled.getvalue(), "run the pybabel compile command in the README"


def test_every_code_of_every_family_has_a_chinese_sentence_from_the_catalogue() -> None:
    families = {type(code) for code in (*ErrorCode, *GeneralCode)}
    from econsent import errors

    families |= {value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, errors.Code)}
    families.discard(errors.Code)
    for family in families:
        for code in family:
            assert code.sentence_zh == translate(code.sentence, "zh") != code.sentence, code
            assert _CJK.search(code.sentence_zh), code


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("zh", "zh"),
        ("zh_CN", "zh"),
        ("zh-Hans", "zh"),
        ("zh_CN.UTF-8", "zh"),
        ("ZH_tw", "zh"),
        ("en", "en"),
        ("en_GB", "en"),
    ],
)
def test_a_language_is_read_from_what_people_type(text: str, language: str) -> None:
    assert parse_language(text) == language


@pytest.mark.parametrize("text", ["", "fr", "chinese", "z"])
def test_an_unsupported_language_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="zh or en"):
        parse_language(text)


@pytest.mark.parametrize(
    ("environment", "language"),
    [
        ({}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "zh_CN.UTF-8"}, "zh"),  # LC_ALL wins, as in gettext
        ({"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "en"),
        ({"LANGUAGE": "zh_TW:en"}, "zh"),
        ({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_CN"}, "zh"),  # LANGUAGE first, as gettext reads it
        ({"LANG": "fr_FR.UTF-8"}, "en"),
    ],
)
def test_the_locale_chooses_the_language_as_gettext_reads_it(environment: dict[str, str], language: str) -> None:
    assert language_from_environment(environment) == language


def test_both_languages_exist() -> None:
    assert LANGUAGES == ("en", "zh")


def test_the_cli_prints_an_error_in_chinese_with_lang_zh_anywhere_on_the_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    missing = str(tmp_path / "none.db")
    for argv in (
        ["--lang", "zh", "issuer", "status", "--registry", missing, "5"],
        ["issuer", "status", "--registry", missing, "5", "--lang=zh"],
    ):
        assert main(argv) == 2
        line = capsys.readouterr().err.strip()
        assert line.startswith("econsent: 错误: WRONG_REGISTRY: ")
        assert RegistryErrorCode.WRONG_REGISTRY.sentence_zh in line and missing in line  # the detail stays
    assert main(["issuer", "status", "--registry", missing, "5"]) == 2
    english = capsys.readouterr().err.strip()
    assert english.startswith("econsent: error: WRONG_REGISTRY: " + RegistryErrorCode.WRONG_REGISTRY.sentence)


def test_the_verdict_card_gives_a_rejection_in_both_languages_whatever_the_language(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = tmp_path / "trust.json"
    TrustStore([]).save(store)
    for language in LANGUAGES:
        assert main(["verify", "EC1:1", "--trust", str(store), "--lang", language]) == 1
        card = capsys.readouterr().out
        assert ErrorCode.MALFORMED.sentence_zh in card and ErrorCode.MALFORMED.sentence in card


def test_the_cli_follows_a_chinese_locale_and_lang_overrides_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LC_ALL", "zh_CN.UTF-8")
    assert main(["verify", "EC1:1"]) == 2  # no trust store given: a usage error, in Chinese
    assert GeneralCode.USAGE.sentence_zh in capsys.readouterr().err
    assert main(["verify", "EC1:1", "--lang", "en"]) == 2
    err = capsys.readouterr().err
    assert "give --trust" in err or "trust" in err
    assert not _CJK.search(err)


@pytest.mark.parametrize("argv", [["--lang"], ["--lang", "fr", "types"], ["types", "--lang="]])
def test_a_bad_lang_is_a_usage_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    assert "zh or en" in capsys.readouterr().err


def test_json_output_carries_both_languages_whatever_lang_says(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = tmp_path / "trust.json"
    TrustStore([]).save(store)
    assert main(["verify", "EC1:1", "--trust", str(store), "--json", "--lang", "zh"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert (document["sentence"], document["sentence_zh"]) == (
        ErrorCode.MALFORMED.sentence,
        ErrorCode.MALFORMED.sentence_zh,
    )
