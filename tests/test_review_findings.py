"""Findings of an independent review of the issue 11-13 changes, each reproduced first, then fixed.

Hostile input files for the CLI, a scan worker that never answers, registry and wallet lock files reached
through planted links, an endless line on standard input, and the example office's private key files.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import office, run  # noqa: F401  (office is a fixture)

from econsent import FileStorage, Wallet
from econsent.cli.verify import stdin_codes
from econsent.errors import QRError, RegistryError, RegistryErrorCode, StorageError, VerificationError
from econsent.qr import _worker
from econsent.registry import IssuerRegistry
from econsent.wallet import ScryptParams

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "document",
    [
        DEEP,
        json.dumps({"credential_type": ["driving-licence"], "claims": {"family_name": "张"},
                    "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2027-01-01T00:00:00Z"}),
        json.dumps({"credential_type": "driving-licence", "claims": {"family_name": "张"},
                    "valid_from": 5, "valid_until": "2027-01-01T00:00:00Z"}),
    ],
    ids=["nested-100000-deep", "type-as-list", "time-as-number"],
)  # fmt: skip
def test_a_hostile_claims_file_is_a_usage_error_not_a_traceback(office: Path, document: str) -> None:  # noqa: F811
    (office / "hostile.json").write_text(document, encoding="utf-8")
    result = run("issue", "--key", "issuer.pem", "--claims", "hostile.json", "--bearer", "-o", "x.ecc", "--json",
                 cwd=office, env={"ISSUER_PASS": "correct horse battery staple"})  # fmt: skip
    assert result.returncode == 2 and json.loads(result.stdout)["code"] == "USAGE"
    assert "Traceback" not in result.stderr


def test_a_hostile_jwks_file_is_a_usage_error_not_a_traceback(office: Path) -> None:  # noqa: F811
    (office / "deep.jwks").write_text(DEEP, encoding="utf-8")
    result = run("trust", "add", "--store", "t.json", "--jwks", "deep.jwks", "--issuer-zh", "测试", "--types",
                 "driving-licence", "--valid-from", "2026-01-01T00:00:00Z", "--valid-until", "2027-01-01T00:00:00Z",
                 "--json", cwd=office)  # fmt: skip
    assert result.returncode == 2 and json.loads(result.stdout)["code"] == "USAGE"


def test_a_scan_worker_that_never_starts_is_a_typed_error_and_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare TimeoutError used to escape qr.scan and leave the worker running."""
    monkeypatch.setattr(_worker, "_WORKER_START_SECONDS", 0.0)
    _worker._stop_idle_workers()
    started = set(_children())
    with pytest.raises(QRError, match="did not start"):
        _worker._Worker()
    assert set(_children()) <= started


def _children() -> list[int]:
    """Live child processes of this test process (from /proc: running no command of its own)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                children.append(int(entry.name))
    return children


def test_a_registry_path_that_is_a_planted_link_is_refused(tmp_path: Path) -> None:
    """sqlite followed a dangling link and created the registry, and its journals, where the link pointed."""
    from econsent import SigningKey

    target = tmp_path / "elsewhere.db"
    (tmp_path / "reg.db").symlink_to(target)
    key = SigningKey.generate("ES256").public_key
    with pytest.raises(RegistryError) as refused:
        IssuerRegistry.open(tmp_path / "reg.db", issuer_keys=[key])
    assert refused.value.code is RegistryErrorCode.STORAGE
    assert not target.exists() and not (tmp_path / "elsewhere.db-wal").exists()


def test_a_wallet_lock_file_that_is_a_planted_link_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    storage = FileStorage(tmp_path / "w.ecw")
    Path(str(storage.lock_path)).symlink_to(target)
    with pytest.raises(StorageError):
        Wallet.create(storage, "passphrase", kdf=ScryptParams(log2_n=10, r=8, p=1))
    assert not target.exists()


def test_an_endless_line_on_stdin_is_read_in_bounded_pieces_and_refused_as_too_large() -> None:
    """A 200 MB line used to be held whole (455 MB) before its TOO_LARGE verdict."""
    stream = io.StringIO("9" * 5_000_000 + "\nEC1:123\n")
    lines = list(stdin_codes(stream))
    assert [number for number, _ in lines] == [1, 2]
    assert len(lines[0][1]) <= 3_706 + 3 and lines[1][1] == "EC1:123"


def test_the_example_office_writes_its_private_keys_for_its_owner_only(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parent.parent / "examples"
    old = os.umask(0o022)
    try:
        subprocess.run([sys.executable, str(examples / "issuing_office.py"), str(tmp_path)], check=True,
                       capture_output=True)  # fmt: skip
    finally:
        os.umask(old)
    for name in ("issuer.pem", "holder.pem", "licence.ecc"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


@pytest.mark.parametrize("deadline", [0, -1, float("nan"), 10_000])
def test_a_bad_deadline_for_verify_image_is_the_callers_error_not_a_rejected_code(
    tmp_path: Path, deadline: float
) -> None:
    from econsent import TrustStore, Verifier, qr

    image = tmp_path / "code.png"
    image.write_bytes(qr.render_png("EC1:123"))
    with pytest.raises(QRError) as raised:
        qr.verify_image(Verifier(TrustStore()), image, now=0, deadline=deadline)
    assert not isinstance(raised.value, VerificationError)
