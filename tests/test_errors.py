"""The one error tree: every error is defined in ``econsent.errors`` and carries ``code``, ``sentence`` and
``detail``; every code has an English and a Chinese sentence; the CLI reports any error from those three."""

from __future__ import annotations

import ast
import pickle
import sys
from pathlib import Path

import pytest

import econsent
from econsent import errors, possession, registry, schema, status, trust
from econsent.cli import _common
from econsent.errors import (
    BatchError,
    BatchProblem,
    Code,
    CredentialError,
    EconsentError,
    ErrorCode,
    HsmError,
    HsmProblem,
    ImageRefusal,
    ImageRefusedError,
    KeyLoadError,
    PossessionError,
    PossessionProblem,
    RegistryError,
    RegistryErrorCode,
    SchemaError,
    StatusListError,
    StatusListReason,
    TrustListError,
    TrustListProblem,
    UsageError,
    VerificationError,
    WalletErrorCode,
    WrongPassphraseError,
)

PACKAGE = Path(econsent.__file__).resolve().parent
FAMILIES = sorted(Code.__subclasses__(), key=lambda family: family.__name__)
ERROR_CLASSES = sorted(
    (value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, EconsentError)),
    key=lambda cls: cls.__name__,
)


def _sample(cls: type[EconsentError]) -> EconsentError:
    """One instance of ``cls`` with the detail ``"specifics"``, made as the library makes it."""
    family_codes: dict[type[EconsentError], Code] = {
        VerificationError: ErrorCode.EXPIRED,
        ImageRefusedError: ImageRefusal.DEADLINE,
        PossessionError: PossessionProblem.MISSING,
        TrustListError: TrustListProblem.ROLLBACK,
        StatusListError: StatusListReason.ROLLBACK,
        RegistryError: RegistryErrorCode.UNKNOWN_SERIAL,
        HsmError: HsmProblem.TOKEN_FAILED,
        BatchError: BatchProblem.BAD_OUTPUT,
    }
    if cls in family_codes:
        return cls(family_codes[cls], "specifics")  # type: ignore[call-arg]
    return cls("specifics")


def _classes_defined(path: Path) -> list[tuple[str, list[str]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.name, [ast.unparse(base) for base in node.bases]) for node in tree.body if isinstance(node, ast.ClassDef)
    ]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: family.__name__)
def test_every_code_of_every_family_has_an_english_and_a_chinese_sentence(family: type[Code]) -> None:
    assert list(family), family
    for code in family:
        assert code.sentence.strip() and code.sentence.endswith("."), code
        assert code.sentence_zh.strip() and code.sentence_zh.endswith("。"), code
        assert any("\u4e00" <= char <= "\u9fff" for char in code.sentence_zh), code


def test_codes_of_the_same_value_in_two_families_keep_their_own_sentences() -> None:
    assert ErrorCode.MALFORMED == StatusListReason.MALFORMED  # both are the string "MALFORMED"
    assert ErrorCode.MALFORMED.sentence != StatusListReason.MALFORMED.sentence
    assert "status list" in StatusListReason.MALFORMED.sentence


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_class_carries_code_sentence_and_detail(cls: type[EconsentError]) -> None:
    error = _sample(cls)
    assert isinstance(error.code, Code)
    assert error.sentence == error.code.sentence and error.sentence_zh == error.code.sentence_zh
    assert error.detail == "specifics"
    assert str(error).startswith(f"{error.code.value}: {error.sentence}") and str(error).endswith("(specifics)")
    assert error.exit_code in (errors.EXIT_REJECTED, errors.EXIT_USAGE)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_survives_pickling_as_a_worker_process_returns_it(cls: type[EconsentError]) -> None:
    """A process pool or a Dask worker hands errors back pickled: unpickling used to fail (the classes'
    ``__init__`` take other arguments than ``args``), and a pool then hung instead of reporting."""
    error = _sample(cls)
    error.__dict__.setdefault("extra", "kept")  # any attribute a subclass sets comes back too
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls and str(copy) == str(error) and copy.args == error.args
    assert vars(copy) == vars(error)


def test_families_that_were_told_apart_by_reason_or_message_now_answer_to_code() -> None:
    assert StatusListError(StatusListReason.ROLLBACK, "x").code is StatusListReason.ROLLBACK
    assert TrustListError(TrustListProblem.ROLLBACK, "x").code is TrustListProblem.ROLLBACK
    assert PossessionError(PossessionProblem.MISSING, "x").code is PossessionProblem.MISSING
    assert ImageRefusedError(ImageRefusal.DEADLINE, "x").code is ImageRefusal.DEADLINE
    assert RegistryError(RegistryErrorCode.LISTS_FULL, "x").detail == "x"
    assert KeyLoadError("x").code.value == "KEY_LOAD" and UsageError("x").code.value == "USAGE"


def test_refusals_exit_1_and_input_or_storage_errors_exit_2() -> None:
    refused = [
        VerificationError(ErrorCode.EXPIRED),
        WrongPassphraseError(),
        PossessionError(PossessionProblem.MISSING),
        TrustListError(TrustListProblem.ROLLBACK),
        RegistryError(RegistryErrorCode.ALREADY_REVOKED),
    ]
    usage = [
        RegistryError(RegistryErrorCode.STORAGE),
        RegistryError(RegistryErrorCode.BAD_INPUT),
        StatusListError(StatusListReason.MALFORMED),
        KeyLoadError(),
        UsageError(),
        ImageRefusedError(ImageRefusal.DEADLINE),
    ]
    assert [error.exit_code for error in refused] == [1] * len(refused)
    assert [error.exit_code for error in usage] == [2] * len(usage)


def test_a_schema_error_is_an_econsent_error_and_still_a_value_error() -> None:
    with pytest.raises(SchemaError) as caught:
        schema.ClaimSpec("name", schema.ClaimKind.INT).to_wire("not a number")
    assert isinstance(caught.value, EconsentError) and isinstance(caught.value, ValueError)
    assert caught.value.code.value == "SCHEMA" and "name" in caught.value.detail


def test_a_badly_defined_credential_type_is_a_schema_error() -> None:
    with pytest.raises(SchemaError):
        schema.CredentialType("bad", 0, (schema.ClaimSpec("a", schema.ClaimKind.INT),))


def test_no_module_but_errors_defines_an_error_class_or_a_code_enum() -> None:
    allowed = {("cli/_common.py", "ParserError")}  # argparse's refusal, carried to main; reported as USAGE
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "errors.py":
            continue
        for name, bases in _classes_defined(path):
            is_error = name.endswith("Error") or any(base.endswith(("Error", "Exception")) for base in bases)
            is_code = name.endswith(("Code", "Reason", "Problem", "Refusal")) and "StrEnum" in bases
            if (is_error or is_code) and (relative, name) not in allowed:
                found.append(f"{relative}: {name}")
    assert found == []


def test_the_old_import_paths_give_the_classes_defined_in_errors() -> None:
    from econsent import wallet
    from econsent.cli import _common as cli_common
    from econsent.wallet import storage

    assert possession.PossessionError is errors.PossessionError
    assert possession.PossessionProblem is errors.PossessionProblem
    assert trust.TrustListError is errors.TrustListError and trust.TrustListProblem is errors.TrustListProblem
    assert status.StatusListError is errors.StatusListError and status.StatusListReason is errors.StatusListReason
    assert registry.RegistryError is errors.RegistryError and registry.RegistryErrorCode is errors.RegistryErrorCode
    assert schema.SchemaError is errors.SchemaError
    assert wallet.WalletError is errors.WalletError and wallet.WalletErrorCode is errors.WalletErrorCode
    assert wallet.EntryNotFoundError is errors.EntryNotFoundError and wallet.HolderKeyError is errors.HolderKeyError
    assert wallet.FileStorage is storage.FileStorage and wallet.MemoryStorage is storage.MemoryStorage
    assert cli_common.UsageError is errors.UsageError


def test_the_errors_module_imports_only_the_standard_library() -> None:
    tree = ast.parse((PACKAGE / "errors.py").read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 0
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
    relative = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    assert relative <= {"i18n"}  # the catalogue of the sentences' Chinese, itself standard library only
    i18n = ast.parse((PACKAGE / "i18n.py").read_text(encoding="utf-8"))
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(i18n))
    assert {
        alias.name.split(".")[0] for node in ast.walk(i18n) if isinstance(node, ast.Import) for alias in node.names
    } <= set(sys.stdlib_module_names)


@pytest.mark.parametrize(
    "error",
    [
        RegistryError(RegistryErrorCode.UNKNOWN_SERIAL, "no credential with serial 999"),
        TrustListError(TrustListProblem.ROLLBACK, "sequence 1, already holding 2"),
        ImageRefusedError(ImageRefusal.TOO_MANY_PIXELS, "9000x9000"),
        KeyLoadError("not a PEM public key"),
        UsageError("--watch goes with a folder"),
        CredentialError("not an econsent credential"),
        WrongPassphraseError(),
    ],
    ids=lambda error: type(error).__name__,
)
def test_the_cli_reports_any_error_as_its_own_code_sentence_and_detail(error: EconsentError) -> None:
    document = _common.error_json(error)
    assert document == {
        "ok": False,
        "code": error.code.value,
        "sentence": error.code.sentence,
        "sentence_zh": error.code.sentence_zh,
        "detail": error.detail,
    }
    assert _common.exit_code(error) == error.exit_code


def test_the_cli_reports_a_rejected_code_as_a_verdict_too() -> None:
    document = _common.error_json(VerificationError(ErrorCode.REPLAYED, "seen at 09:00"))
    assert document == {
        "valid": False,
        "ok": False,
        "code": "REPLAYED",
        "sentence": ErrorCode.REPLAYED.sentence,
        "sentence_zh": ErrorCode.REPLAYED.sentence_zh,
        "detail": "seen at 09:00",
    }


def test_a_wallet_error_names_its_file_before_the_code() -> None:
    error = errors.CorruptWalletError("bad tag", source="/tmp/w.ecw")
    assert str(error) == f"/tmp/w.ecw: DAMAGED: {WalletErrorCode.DAMAGED.sentence} (bad tag)"
    assert error.detail == "bad tag" and error.source == "/tmp/w.ecw"
