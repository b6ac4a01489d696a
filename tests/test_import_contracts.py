"""The import rules of CONVENTIONS.md hold, checked by import-linter from pyproject.toml's contracts.

Issuing and verifying never import each other; only the QR side and the verdict card import imaging
and decoder libraries; only the codec imports msgpack; cryptography only where the code does
cryptography; nothing imports the CLI. Each contract is shown to catch a planted import, and every
module under ``econsent/`` is shown to be covered, so a new module cannot slip past the rules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

#: Per forbidden contract, the top-level modules allowed what it forbids (all others must be its sources).
ALLOWED = {
    "imaging": {"econsent.qr", "econsent.card"},
    "cli-on-top": {"econsent.cli", "econsent.__main__"},
    "msgpack": {"econsent._wire"},
    "cryptography": {"econsent.keys", "econsent._envelope", "econsent._vault", "econsent.formats", "econsent.hsm"},
    "pkcs11": {"econsent.hsm"},
    "dask": {"econsent.batch"},
    "psycopg": {"econsent.registry"},
}


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def _top_level_modules() -> set[str]:
    """Every module and package directly under econsent/."""
    package = ROOT / "econsent"
    modules = {f"econsent.{path.stem}" for path in package.glob("*.py") if path.stem != "__init__"}
    packages = {f"econsent.{path.parent.name}" for path in package.glob("*/__init__.py")}
    return modules | packages


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the econsent package under ``root`` with that tree's pyproject.toml."""
    environment = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(root / "pyproject.toml")],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in result.stdout


@pytest.mark.parametrize("contract", sorted(ALLOWED))
def test_every_module_is_a_source_of_each_forbidden_contract_or_allowed_by_name(contract: str) -> None:
    sources = set(_contracts()[contract]["source_modules"])
    assert sources.isdisjoint(ALLOWED[contract])
    assert sources | ALLOWED[contract] == _top_level_modules()


@pytest.mark.parametrize(
    ("contract", "module", "planted"),
    [
        ("imaging", "verify.py", "import PIL"),
        ("imaging", "registry/__init__.py", "import zxingcpp"),
        ("psycopg", "status.py", "import psycopg"),
        ("issue-verify", "issue.py", "from econsent import verify"),
        ("cli-on-top", "trust.py", "import econsent.cli"),
        ("msgpack", "status.py", "import msgpack"),
        ("cryptography", "model.py", "import cryptography"),
        ("pkcs11", "keys.py", "import pkcs11"),
    ],
)
def test_each_contract_catches_a_planted_import(tmp_path: Path, contract: str, module: str, planted: str) -> None:
    shutil.copytree(ROOT / "econsent", tmp_path / "econsent", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "econsent" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{planted}\n", encoding="utf-8")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1
    assert f"{_contracts()[contract]['name']} BROKEN" in " ".join(result.stdout.split())
