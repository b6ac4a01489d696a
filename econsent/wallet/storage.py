"""Where the sealed wallet bytes live: the :class:`Storage` interface and the two stores econsent ships.

Storage is anything with atomic ``read``/``write`` and an exclusive ``lock``: :class:`FileStorage`
(write to a temporary file, flush, fsync, rename, fsync the directory; ``flock`` on a side lock file)
or :class:`MemoryStorage`. An app may bring its own (a keychain, an app-private database). The bytes
are opaque here: the vault file format is ``econsent._vault``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable

from .._files import write_atomic
from .._vault import MAX_VAULT_BYTES
from ..errors import CorruptWalletError, StorageError, WalletErrorCode, WalletLockedError

__all__ = ["FileStorage", "MemoryStorage", "Storage"]

_LOCK_POLL_SECONDS = 0.05


@runtime_checkable
class Storage(Protocol):
    """Where the sealed wallet bytes live. Apps may supply their own (keychain, app-private database).

    * ``read()`` returns the last bytes written, or ``None`` when nothing was ever written.
    * ``write(data)`` replaces them atomically and durably: after it returns, a crash or power loss
      leaves ``data``; a crash during it leaves either the old bytes or ``data``, never a mix.
    * ``lock()`` is a context manager giving exclusive write access across threads and processes; it
      raises :class:`WalletLockedError` when it cannot get it in bounded time. The wallet only writes under it.
    """

    def read(self) -> bytes | None: ...

    def write(self, data: bytes) -> None: ...

    def lock(self) -> AbstractContextManager[None]: ...


class MemoryStorage:
    """Storage in memory, for tests and for apps that persist the sealed bytes themselves."""

    __slots__ = ("_data", "_lock", "lock_timeout")

    def __init__(self, data: bytes | None = None, *, lock_timeout: float = 10.0) -> None:
        self._data = data
        self._lock = threading.RLock()
        self.lock_timeout = lock_timeout

    @property
    def data(self) -> bytes | None:
        """The sealed bytes last written (encrypted; safe to persist anywhere)."""
        return self._data

    def read(self) -> bytes | None:
        return self._data

    def write(self, data: bytes) -> None:
        with self.lock():
            self._data = bytes(data)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        acquired = (
            self._lock.acquire(timeout=self.lock_timeout)
            if self.lock_timeout > 0
            else self._lock.acquire(blocking=False)
        )
        if not acquired:
            raise WalletLockedError("another thread holds the wallet", source=str(self))
        try:
            yield
        finally:
            self._lock.release()

    def __repr__(self) -> str:
        return "MemoryStorage()" if self._data is None else f"MemoryStorage({len(self._data)} bytes)"

    __str__ = __repr__


class FileStorage:
    """A wallet file on a POSIX file system (Linux, Android, macOS, iOS).

    Writes go to a temporary file in the same directory, which is flushed and fsynced (``F_FULLFSYNC``
    where the platform has it), renamed over the wallet, and then the directory is fsynced, so the
    rename itself survives power loss. Writers take ``fcntl.flock`` on ``<wallet>.lock`` (created once,
    never deleted: deleting a lock file races with a writer opening it), waiting at most
    ``lock_timeout`` seconds (0: fail at once). Temporary files left by a killed writer are removed by
    the next write. Files are created readable by the owner only.
    """

    __slots__ = ("_depth", "_fd", "_thread_lock", "lock_timeout", "path")

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._thread_lock = threading.RLock()
        self._fd: int | None = None
        self._depth = 0

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def read(self) -> bytes | None:
        try:
            with open(self.path, "rb") as handle:
                data = handle.read(MAX_VAULT_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read: {exc.strerror or exc}", source=str(self.path)) from exc
        if len(data) > MAX_VAULT_BYTES:
            raise CorruptWalletError(
                f"larger than {MAX_VAULT_BYTES} bytes", code=WalletErrorCode.LIMITS_EXCEEDED, source=str(self.path)
            )
        return data

    def write(self, data: bytes) -> None:
        with self.lock():
            self._remove_stale_temporaries()
            try:
                write_atomic(self.path, data, prefix=self._tmp_prefix)
            except OSError as exc:
                raise StorageError(f"cannot write: {exc.strerror or exc}", source=str(self.path)) from exc

    @property
    def _tmp_prefix(self) -> str:
        return f".{self.path.name}."

    def _remove_stale_temporaries(self) -> None:
        """Delete temporary files of writers that died before their rename (safe: we hold the lock)."""
        with contextlib.suppress(OSError):
            for name in os.listdir(self.path.parent):
                if name.startswith(self._tmp_prefix) and name.endswith(".tmp"):
                    with contextlib.suppress(OSError):
                        os.unlink(self.path.parent / name)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        acquired = (
            self._thread_lock.acquire(timeout=self.lock_timeout)
            if self.lock_timeout > 0
            else self._thread_lock.acquire(blocking=False)
        )
        if not acquired:
            raise WalletLockedError("another thread of this program holds the wallet", source=str(self.path))
        try:
            if self._depth == 0:
                self._fd = self._acquire_file_lock()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    os.close(self._fd)  # closing the descriptor releases the flock
                    self._fd = None
        finally:
            self._thread_lock.release()

    def _acquire_file_lock(self) -> int:
        import fcntl

        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot open the lock file: {exc.strerror or exc}", source=str(self.path)) from exc
        deadline = time.monotonic() + max(self.lock_timeout, 0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    os.close(fd)
                    raise WalletLockedError(
                        f"another program held the lock for {self.lock_timeout:g} s", source=str(self.path)
                    ) from None
                time.sleep(min(_LOCK_POLL_SECONDS, remaining))
            except OSError as exc:
                os.close(fd)
                raise StorageError(f"cannot lock: {exc.strerror or exc}", source=str(self.path)) from exc

    def __repr__(self) -> str:
        return f"FileStorage({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)
