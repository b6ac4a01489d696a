"""Files the CLI writes in folders others can write to: no planted link or file decides where data goes or who reads it.

Each test plants what an attacker with write access to the folder could plant at the names the old code used
(``.latest.png.tmp``, ``.<name>.<pid>.tmp``), or a user's own file, and checks what happened to it.
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import stat
import threading
from pathlib import Path

import pytest

from econsent import SigningKey, TrustStore
from econsent._files import FOLDER_LOCK_FILE, PRIVATE, PUBLISHED, folder_lock, write_atomic
from econsent.cli import main


@pytest.fixture
def trust(tmp_path: Path) -> Path:
    path = tmp_path / "trust.json"
    TrustStore([]).save(path)
    return path


def scan_lines(monkeypatch: pytest.MonkeyPatch, trust: Path, cards: Path, lines: list[str], *extra: str) -> int:
    """``econsent scan -`` with these stdin lines, writing PNG cards into ``cards``."""
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{line}\n" for line in lines)))
    argv = ["scan", "-", "--trust", str(trust), "--now", "2026-03-02T09:30:00Z", "--card-png", str(cards), *extra]
    return main([*argv, "--card-width", "320", "--json"])


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_scan_card_png_does_not_write_through_a_symlink_planted_at_the_old_temporary_name(
    tmp_path: Path, trust: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards, victim = tmp_path / "cards", tmp_path / "victim.txt"
    cards.mkdir()
    victim.write_bytes(b"the user's file")
    for name in (".latest.png.tmp", ".000001-rejected.png.tmp"):
        (cards / name).symlink_to(victim)
    assert scan_lines(monkeypatch, trust, cards, ["GARBAGE"]) == 1
    assert victim.read_bytes() == b"the user's file"
    assert (cards / "latest.png").is_file() and not (cards / "latest.png").is_symlink()


def test_a_planted_file_cannot_make_latest_png_world_readable(
    tmp_path: Path, trust: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    planted = cards / ".latest.png.tmp"
    planted.write_bytes(b"")
    planted.chmod(0o666)
    assert scan_lines(monkeypatch, trust, cards, ["GARBAGE"]) == 1
    assert mode_of(cards / "latest.png") == PRIVATE
    assert mode_of(cards / "000001-rejected.png") == PRIVATE


def test_card_keep_prunes_only_the_cards_the_scanner_wrote(
    tmp_path: Path, trust: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    users = ["123456-holiday.png", "000001.png", "000002-valid.png.bak", "999999-rejected-copy.png"]
    for name in users:
        (cards / name).write_bytes(b"a user's picture")
    assert scan_lines(monkeypatch, trust, cards, ["GARBAGE 1", "GARBAGE 2", "GARBAGE 3"], "--card-keep", "1") == 1
    names = {path.name for path in cards.iterdir()}
    assert names == {*users, "000003-rejected.png", "latest.png"}
    for name in users:
        assert (cards / name).read_bytes() == b"a user's picture"


def test_wallet_export_does_not_write_through_a_symlink_planted_at_the_old_temporary_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wallet, backup, victim = tmp_path / "w.ecw", tmp_path / "backup.ecb", tmp_path / "victim.txt"
    monkeypatch.setenv("WALLET_PASS", "wallet passphrase")
    monkeypatch.setenv("BACKUP_PASS", "backup passphrase")
    common = ["--wallet", str(wallet), "--passphrase-env", "WALLET_PASS", "--kdf-log2-n", "10"]
    assert main(["wallet", "create", *common]) == 0
    victim.write_bytes(b"the user's file")
    (tmp_path / f".{backup.name}.{os.getpid()}.tmp").symlink_to(victim)
    assert main(["wallet", "export", *common, "--out", str(backup), "--backup-passphrase-env", "BACKUP_PASS"]) == 0
    assert victim.read_bytes() == b"the user's file"
    assert backup.is_file() and not backup.is_symlink() and mode_of(backup) == PRIVATE


def test_write_atomic_sets_the_mode_it_is_given_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o000)
    try:
        write_atomic(tmp_path / "secret", b"s")
        write_atomic(tmp_path / "published", b"p", mode=PUBLISHED)
    finally:
        os.umask(previous)
    assert mode_of(tmp_path / "secret") == 0o600
    assert mode_of(tmp_path / "published") == 0o644
    assert sorted(path.name for path in tmp_path.iterdir()) == ["published", "secret"]  # no temporary file left


def test_a_signed_trust_list_is_published_world_readable(tmp_path: Path) -> None:
    anchor = SigningKey.generate("ES256")
    (tmp_path / "anchor.pem").write_bytes(anchor.to_pem())
    store = tmp_path / "trust.json"
    TrustStore([]).save(store)
    signed = tmp_path / "sh.trust.json"
    argv = ["trust", "sign", "--store", str(store), "--anchor-key", str(tmp_path / "anchor.pem"), "--name", "sh"]
    times = ["--now", "2026-03-02T00:00:00Z", "--next-update", "2026-04-02T00:00:00Z"]
    previous = os.umask(0o077)  # a cautious operator's umask must not hide what verifiers everywhere must read
    try:
        assert main([*argv, "--sequence", "1", *times, "--out", str(signed)]) == 0
    finally:
        os.umask(previous)
    assert mode_of(signed) == PUBLISHED


@pytest.mark.parametrize("refusal", [None, errno.EBADF, errno.ENOLCK])
def test_folder_lock_excludes_a_second_writer_with_or_without_flock_on_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: int | None
) -> None:
    """flock on the folder itself where the file system allows it (no file appears); on NFS, which refuses
    it on a folder, on a lock file in the folder. Either way a second writer waits for the first."""
    real_flock = fcntl.flock

    def flock(fd: int, operation: int) -> None:
        if refusal is not None and stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(refusal, os.strerror(refusal))
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    order: list[str] = []

    def second_writer() -> None:
        with folder_lock(tmp_path):
            order.append("second")

    with folder_lock(tmp_path):
        second = threading.Thread(target=second_writer)
        second.start()
        second.join(timeout=1)
        assert second.is_alive(), "a second writer got the lock while the first held it"
        order.append("first done")
    second.join(timeout=10)
    assert order == ["first done", "second"]
    assert (tmp_path / FOLDER_LOCK_FILE).exists() is (refusal is not None)
