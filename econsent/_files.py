"""Durable file writes: a crash or a kill at any moment leaves either the old file or the new one.

Write to a temporary file in the same directory, flush, fsync (F_FULLFSYNC on Apple platforms), rename
over the target, fsync the directory; on failure the temporary file is removed. Standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | os.PathLike[str], data: bytes, *, prefix: str | None = None) -> None:
    """Replace ``path`` with ``data`` atomically and durably. Raises OSError."""
    target = Path(path)
    directory = target.parent
    fd, tmp = tempfile.mkstemp(prefix=prefix or f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
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
