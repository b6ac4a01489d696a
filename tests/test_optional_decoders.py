"""zxing-cpp is optional (the ``scan`` extra): without it scanning reads codes with zbar alone.

An app developer's ``pip install econsent`` must work where no native decoder wheel exists (a phone),
so zxing-cpp is not a required dependency. These tests hide it from a fresh interpreter and from every
scan worker that interpreter starts (a ``zxingcpp`` module first on ``PYTHONPATH`` that fails to
import), then scan as a counter would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEXT = "EC1:" + "31415926535897932384" * 8

PROGRAM = f"""
import json, sys
from econsent import qr
from econsent.errors import MissingDependencyError

png = qr.render_png({TEXT!r})
here = qr.Scanner(budget_ms=None).scan(png)
try:
    qr.Scanner(backends=("zxing",))
    explicit = None
except MissingDependencyError as exc:
    explicit = str(exc)
print(json.dumps({{
    "available": qr.available_backends(),
    "in_worker": qr.scan(png),
    "here": list(here.texts),
    "decoded_by": here.decoded_by,
    "explicit": explicit,
    "zxingcpp_loaded": "zxingcpp" in sys.modules,
}}))
"""


@pytest.fixture(scope="module")
def without_zxing(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What scanning does in an interpreter, and its scan workers, where zxing-cpp cannot be imported."""
    hidden = tmp_path_factory.mktemp("no-zxing")
    (hidden / "zxingcpp.py").write_text('raise ImportError("zxing-cpp is not installed (simulated)")\n')
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hidden), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=environment, capture_output=True, text=True, timeout=120, check=True
    )
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_without_zxing_only_zbar_is_available(without_zxing: dict[str, Any]) -> None:
    assert without_zxing["available"] == ["zbar"]
    assert not without_zxing["zxingcpp_loaded"]


def test_without_zxing_a_default_scan_reads_the_code_with_zbar(without_zxing: dict[str, Any]) -> None:
    assert without_zxing["here"] == [TEXT]
    assert without_zxing["decoded_by"] == "zbar/plain"


def test_without_zxing_a_scan_in_the_worker_reads_the_code(without_zxing: dict[str, Any]) -> None:
    assert without_zxing["in_worker"] == [TEXT]


def test_without_zxing_asking_for_it_says_to_install_the_scan_extra(without_zxing: dict[str, Any]) -> None:
    assert without_zxing["explicit"] is not None
    assert "pip install 'econsent[scan]'" in without_zxing["explicit"]


def test_an_app_install_pulls_no_native_decoder_and_the_scan_extra_does() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    required = {_name(requirement) for requirement in project["dependencies"]}
    assert required == {"cryptography", "msgpack", "qrcode", "pillow", "pyzbar"}
    extras = project["optional-dependencies"]
    assert "zxing-cpp" in {_name(requirement) for requirement in extras["scan"]}
    self_extras = {e for r in extras["test"] if r.startswith("econsent[") for e in r[9:-1].split(",")}
    assert "scan" in self_extras  # the tests run with the native decoder too


def _name(requirement: str) -> str:
    """The distribution name of a requirement string such as ``zxing-cpp>=2.2``, lower-cased."""
    for separator in "<>=!~;[ ":
        requirement = requirement.split(separator, 1)[0]
    return requirement.lower()
