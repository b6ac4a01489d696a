"""The output of a batch, which is also its journal: JSON Lines or a folder of ``.ecc`` files.

Opened, an output says which rows it already holds (a resumed run skips them) and cuts off a last line
a crash left short; each block is appended, flushed and fsynced before the registry records it. One run
at a time writes an output (an exclusive lock for the whole run).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._files import PRIVATE, _fsync_directory, _full_fsync, write_atomic
from .._json import loads_strict
from .._wire import MAX_PAYLOAD_BYTES
from ..errors import (
    BatchError,
    BatchProblem,
    EconsentError,
)
from ..model import Credential, StatusReference
from ..present import read_credential_unverified
from .engines import IssuedRow
from .rows import NAME

#: The folder form of the output: one ``<row id>.ecc`` file per credential, as ``econsent issue`` writes it.
CREDENTIAL_FILE_SUFFIX = ".ecc"
FOLDER_MARKER = ".econsent-batch.json"
_MAX_OUTPUT_LINE_BYTES = 2 * MAX_PAYLOAD_BYTES + 1024
_OUTPUT_FIELDS = frozenset({"batch_id", "row_id", "serial", "status", "issuer_algorithm", "credential"})


# --- the output journal ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Journal:
    """The credentials already in the output: row id -> (serial, status slot), and those still to record."""

    done: dict[str, tuple[int, StatusReference]] = field(default_factory=dict)
    unrecorded: dict[str, Credential] = field(default_factory=dict)
    repaired: bool = False
    new: bool = False  # this run made the output: no earlier run of the batch wrote here


def _lock(fd: int, what: Path) -> None:
    """Hold an exclusive lock on the output for the whole run: two runs writing one output would each sign
    every row (two credentials under one serial); the second is refused instead."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise BatchError(BatchProblem.BAD_OUTPUT, f"another run is writing {what} now") from exc


class JsonlOutput:
    """JSON Lines output, one object per row: ``{"batch_id", "row_id", "serial", "status", "issuer_algorithm",
    "credential"}`` (the issuer key's algorithm tells the holder the hash suite to present in: SM3 for SM2).

    ``credential`` is the credential's bytes (what ``econsent issue`` writes) in base64url. Appends are
    flushed and fsynced before the registry records them; a last line cut short by a crash is cut off.
    """

    def __init__(self, path: Path, batch_id: str, recorded: frozenset[str], issuer_algorithm: str) -> None:
        self._path = path
        self._batch_id = batch_id
        self._issuer_algorithm = issuer_algorithm
        self.journal = Journal()
        existed = os.path.lexists(path)
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
        try:
            self._fd = os.open(path, flags, PRIVATE)
        except OSError as exc:
            raise BatchError(BatchProblem.BAD_OUTPUT, f"{path}: {exc.strerror}") from exc
        self.journal.new = not existed
        try:
            _lock(self._fd, path)
            if existed:
                self._scan(recorded)
            else:
                _fsync_directory(path.parent)
        except BaseException:
            self.close()
            raise

    def _scan(self, recorded: frozenset[str]) -> None:
        with os.fdopen(os.dup(self._fd), "rb") as handle:
            handle.seek(0)
            good = 0
            number = 0
            while raw := handle.readline(_MAX_OUTPUT_LINE_BYTES + 1):
                number += 1
                if not raw.endswith(b"\n"):
                    if handle.read(1) or not self._cut_short(raw):
                        raise BatchError(
                            BatchProblem.BAD_OUTPUT,
                            f"{self._path} line {number} is not a batch line",
                        )
                    os.ftruncate(self._fd, good)  # the crash cut this last line short
                    _full_fsync(self._fd)
                    self.journal.repaired = True
                    return
                self._take(raw, number, recorded)
                good += len(raw)

    def _cut_short(self, raw: bytes) -> bool:
        """True when ``raw`` is the start of a line of this batch (or zeros a crash left): safe to cut off.
        Anything else is refused, so a file that is not this batch's output is never cut."""
        start = b'{"batch_id":' + json.dumps(self._batch_id).encode("ascii") + b","
        return raw.startswith(start) or start.startswith(raw) or not raw.strip(b"\0")

    def _take(self, raw: bytes, number: int, recorded: frozenset[str]) -> None:
        where = f"{self._path} line {number}"
        try:
            document = loads_strict(raw)
            status = document["status"]
            reference = StatusReference(status["list_id"], status["index"])
            row_id, serial, text = (
                document["row_id"],
                document["serial"],
                document["credential"],
            )
            ok = set(document) == _OUTPUT_FIELDS and set(status) == {"list_id", "index"}
        except (ValueError, RecursionError, TypeError, KeyError) as exc:
            raise BatchError(BatchProblem.BAD_OUTPUT, f"{where} is not a batch output line") from exc
        if not ok or not isinstance(row_id, str) or not isinstance(text, str):
            raise BatchError(BatchProblem.BAD_OUTPUT, f"{where} is not a batch output line")
        if document["batch_id"] != self._batch_id:
            raise BatchError(
                BatchProblem.BAD_OUTPUT,
                f"{where} belongs to another batch, not {self._batch_id}",
            )
        if row_id in self.journal.done:
            raise BatchError(BatchProblem.BAD_OUTPUT, f"{where} holds row {row_id} a second time")
        self.journal.done[row_id] = (serial, reference)
        if row_id not in recorded:
            try:
                encoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
                credential = read_credential_unverified(encoded)
            except (ValueError, binascii.Error, EconsentError) as exc:
                raise BatchError(BatchProblem.BAD_OUTPUT, f"{where}: not a credential") from exc
            if (credential.serial, credential.status) != (serial, reference):
                raise BatchError(
                    BatchProblem.BAD_OUTPUT,
                    f"{where}: the credential's serial or slot differs",
                )
            self.journal.unrecorded[row_id] = credential

    def append(self, issued: Sequence[IssuedRow]) -> None:
        """Append and make durable (flush and fsync) before the registry records the block."""
        if not issued:
            return
        lines = "".join(
            json.dumps(
                {
                    "batch_id": self._batch_id,
                    "row_id": item.row_id,
                    "serial": item.serial,
                    "status": {
                        "list_id": item.status.list_id,
                        "index": item.status.index,
                    },
                    "issuer_algorithm": self._issuer_algorithm,
                    "credential": base64.urlsafe_b64encode(item.encoded).rstrip(b"=").decode("ascii"),
                },
                separators=(",", ":"),
            )
            + "\n"
            for item in issued
        ).encode("ascii")
        view = memoryview(lines)
        while view:
            view = view[os.write(self._fd, view) :]
        _full_fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)  # releases the lock

    def discard(self) -> None:
        """Take back an output this run made and wrote nothing to (the run was refused before issuing)."""
        if self.journal.new and not self.journal.done:
            os.unlink(self._path)


class FolderOutput:
    """One ``<row id>.ecc`` file per credential in a folder marked as this batch's (each written atomically)."""

    def __init__(self, path: Path, batch_id: str, recorded: frozenset[str], issuer_algorithm: str) -> None:
        self._path = path
        self.journal = Journal()
        marker = path / FOLDER_MARKER
        entries = [entry for entry in os.scandir(path) if entry.name != FOLDER_MARKER]
        if marker.exists():
            try:
                with open(marker, "rb") as handle:
                    owner = loads_strict(handle.read(1024)).get("batch_id")
            except (ValueError, AttributeError, OSError) as exc:
                raise BatchError(BatchProblem.BAD_OUTPUT, f"{marker} is damaged") from exc
            if owner != batch_id:
                raise BatchError(
                    BatchProblem.BAD_OUTPUT,
                    f"{path} holds batch {owner}, not {batch_id}",
                )
        elif entries:
            raise BatchError(BatchProblem.BAD_OUTPUT, f"{path} is not empty and holds no batch")
        else:
            write_atomic(
                marker,
                json.dumps({"batch_id": batch_id, "issuer_algorithm": issuer_algorithm}).encode("ascii"),
            )
            self.journal.new = True
        self._marker = marker
        self._lock_fd = os.open(marker, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            _lock(self._lock_fd, path)
            self._read_journal(entries, recorded)
        except BaseException:
            os.close(self._lock_fd)  # a refused output is not held: fixed, it can be opened again at once
            raise

    def _read_journal(self, entries: list[os.DirEntry[str]], recorded: frozenset[str]) -> None:
        """The credentials already in the folder (a resumed run skips their rows), those not yet recorded."""
        for entry in entries:
            name = entry.name
            if name.startswith(".") and name.endswith(".tmp"):  # write_atomic's file, left by a crash
                os.unlink(entry.path)
                continue
            row_id = name.removesuffix(CREDENTIAL_FILE_SUFFIX)
            if not name.endswith(CREDENTIAL_FILE_SUFFIX) or NAME.fullmatch(row_id) is None:
                raise BatchError(
                    BatchProblem.BAD_OUTPUT,
                    f"{entry.path} is not a credential of the batch",
                )
            try:
                with open(entry.path, "rb") as handle:
                    credential = read_credential_unverified(handle.read(MAX_PAYLOAD_BYTES + 1))
            except (EconsentError, OSError) as exc:  # a folder or an unreadable file under a credential's name
                raise BatchError(BatchProblem.BAD_OUTPUT, f"{entry.path}: not a credential") from exc
            if credential.status is None:
                raise BatchError(
                    BatchProblem.BAD_OUTPUT,
                    f"{entry.path}: a credential without a status slot",
                )
            self.journal.done[row_id] = (credential.serial, credential.status)
            if row_id not in recorded:
                self.journal.unrecorded[row_id] = credential

    def append(self, issued: Sequence[IssuedRow]) -> None:
        for item in issued:
            write_atomic(
                self._path / f"{item.row_id}{CREDENTIAL_FILE_SUFFIX}",
                item.encoded,
                mode=PRIVATE,
            )

    def close(self) -> None:
        os.close(self._lock_fd)  # releases the lock

    def discard(self) -> None:
        """Take back the mark this run put on an empty folder (the run was refused before issuing)."""
        if self.journal.new and not self.journal.done:
            os.unlink(self._marker)
