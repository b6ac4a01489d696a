"""Durable, safe file writes: a crash or a kill at any moment leaves either the old file or the new one.

Write to a temporary file in the same directory, flush, fsync (F_FULLFSYNC on Apple platforms), rename
over the target, fsync the directory; on failure the temporary file is removed. The temporary file is
created exclusively, with an unpredictable name, never through a symbolic link (``mkstemp``), and gets
its mode on the open descriptor before a byte is written: a file or link planted in the folder can
neither receive the data nor lend it its permissions. The rename replaces a link at the target itself,
never the file it points to. Standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FOLDER_LOCK_FILE", "PRIVATE", "PUBLISHED", "folder_lock", "write_atomic"]

#: Secrets and personal data: keys, wallets, backups, credentials, QR codes, verdict cards.
PRIVATE = 0o600
#: Files meant to be handed out: signed trust lists, status lists, public keys.
PUBLISHED = 0o644


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = PRIVATE, prefix: str | None = None) -> None:
    """Replace ``path`` with ``data`` atomically and durably, with permissions ``mode`` (whatever the umask).

    Raises OSError.
    """
    target = Path(path)
    directory = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix or f".{target.name}.", suffix=".tmp", dir=directory)
    except (FileNotFoundError, NotADirectoryError) as exc:  # name the folder, not a temporary file never typed
        raise type(exc)(exc.errno, f"no such folder for {target.name}", str(directory)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            _full_fsync(handle.fileno())
        os.replace(tmp, target)
        tmp = ""
        _fsync_directory(directory)
    finally:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


#: Where a file system refuses ``flock`` on a folder (NFS emulates it with byte-range locks, which need a
#: file open for writing), :func:`folder_lock` locks this file in the folder instead.
FOLDER_LOCK_FILE = ".econsent.lock"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` while a writer checks what is there and then replaces it.

    Two ``issuer publish`` runs into one folder each check "the list there is older than mine" and then
    write: without the lock the older edition can land last. The lock is ``flock`` on the folder itself (no
    lock file among what is published), or on :data:`FOLDER_LOCK_FILE` in it where the file system refuses
    that; waiting until the other writer is done, released when the block ends or the process dies.
    """
    import fcntl

    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in (errno.EBADF, errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            os.close(fd)
            fd = -1
            fd = os.open(
                Path(folder) / FOLDER_LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PUBLISHED
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        if fd >= 0:
            os.close(fd)  # closing the descriptor releases the lock


def _full_fsync(fd: int) -> None:
    """fsync, or on Apple platforms F_FULLFSYNC (plain fsync there does not flush the drive's cache)."""
    import fcntl

    full = getattr(fcntl, "F_FULLFSYNC", None)
    if full is not None:
        try:
            fcntl.fcntl(fd, full)
            return
        except OSError:
            pass
    os.fsync(fd)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot fsync a directory; the rename is then as durable as it gets
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)
