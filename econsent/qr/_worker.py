"""The scan worker: a separate process, so that a deadline can stop even a native decoder.

A worker is started once and kept for the next image. It reads requests on stdin and writes replies on
stdout, each a JSON header plus a payload (never pickle: the worker handles hostile input), with its
address space limited to :data:`WORKER_MEMORY`; the process that sends an image kills the worker if no
reply comes before the deadline. What a request means is the scanner's business (:mod:`.scanner`
serves them); this module only runs the process and carries the messages.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from econsent.errors import ImageRefusal, ImageRefusedError, QRError

__all__ = ["WORKER_MEMORY"]

#: Address space (bytes) a scan worker may map; an image needing more fails inside the worker alone.
WORKER_MEMORY = 1024 * 1024 * 1024

# A worker gets this long to start (imports), not charged to any image's deadline.
_WORKER_START_SECONDS = 60.0
# A reply larger than this is not a scan result (texts are at most 7,089 characters each).
_MAX_REPLY_BYTES = 16 * 1024 * 1024
_WORKER_PROGRAM = "import sys; sys.path.append(sys.argv[2]); from econsent.qr.scanner import _serve; _serve()"

#: A request handler: ``(header, payload, started)`` to the reply header; ``started`` is when it arrived.
Handler = Callable[[dict[str, Any], bytes, float], dict[str, Any]]


def _send(stream: IO[bytes], message: dict[str, Any], payload: bytes | bytearray | memoryview = b"") -> None:
    """One protocol message: lengths of the JSON header and the payload, then both."""
    header = json.dumps(message).encode("utf-8")
    stream.write(len(header).to_bytes(4, "big") + len(payload).to_bytes(4, "big") + header)
    stream.write(payload)
    stream.flush()


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    """``size`` bytes from ``stream``, or None at end of input."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = stream.read(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _serve_requests(prepare: Callable[[], None], handle: Handler) -> None:
    """The worker's loop: requests on stdin, replies on stdout, until stdin closes.

    Runs in a process of its own (``_WORKER_PROGRAM``), with its address space limited to the size in
    ``argv[1]`` once ``prepare`` has imported everything a request needs.
    """
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a native library prints must not reach the protocol stream
    prepare()
    try:
        import resource

        limit = int(sys.argv[1])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # no such limit on this platform: the deadline still holds
        pass
    _send(replies, {"ready": True})
    while True:
        lengths = _read_exact(requests, 8)
        if lengths is None:
            return
        header = _read_exact(requests, int.from_bytes(lengths[:4], "big"))
        payload = _read_exact(requests, int.from_bytes(lengths[4:], "big"))
        if header is None or payload is None:
            return
        started = time.perf_counter()
        _send(replies, handle(json.loads(header), payload, started))


class _Worker:
    """One scan worker process, seen from the process that sends it images."""

    __slots__ = ("_process", "owner")

    def __init__(self) -> None:
        if not sys.executable:
            raise QRError("cannot start a scan worker: the Python interpreter's path is unknown")
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.owner = os.getpid()
        try:
            self._process = subprocess.Popen(
                # -P: the current folder never joins sys.path, so a module planted in a scanned folder
                # (a json.py, a zxingcpp.py) is never imported by the process that reads hostile images
                [sys.executable, "-P", "-c", _WORKER_PROGRAM, str(WORKER_MEMORY), package_root],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=0,
                start_new_session=True,  # Ctrl-C at a terminal reaches the scanner, which then stops its workers
            )
        except OSError as exc:
            raise QRError(f"cannot start a scan worker: {exc}") from exc
        try:
            ready = self._receive(time.monotonic() + _WORKER_START_SECONDS)
        except TimeoutError:
            ready = None
        if ready is None or not ready.get("ready"):
            self.close()
            raise QRError("the scan worker did not start")

    def request(self, message: dict[str, Any], payload: bytes | bytearray | memoryview, until: float) -> dict[str, Any]:
        """Send one request and wait for its reply until ``until`` (monotonic seconds); None if it died."""
        assert self._process.stdin is not None
        try:  # the worker reads whole requests, so this cannot stall; a dead worker closed its end
            _send(self._process.stdin, message, payload)
        except OSError:
            reply = None
        else:
            reply = self._receive(until)
        if reply is None:
            code = self._process.poll()
            raise ImageRefusedError(
                ImageRefusal.DECODER_FAILED, f"the image decoder stopped (exit status {code}) while reading the image"
            )
        return reply

    def _receive(self, until: float) -> dict[str, Any] | None:
        """The next reply, None if the worker closed its output; ``TimeoutError`` when ``until`` passes."""
        assert self._process.stdout is not None
        stream = self._process.stdout.fileno()
        buffer = bytearray()
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            while True:
                if len(buffer) >= 8:
                    header_size = int.from_bytes(buffer[:4], "big")
                    if header_size > _MAX_REPLY_BYTES:
                        return None
                    if len(buffer) >= 8 + header_size:
                        reply: dict[str, Any] = json.loads(bytes(buffer[8 : 8 + header_size]))
                        return reply
                remaining = until - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise TimeoutError
                chunk = os.read(stream, 1 << 16)
                if not chunk:
                    return None
                buffer += chunk

    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        """Stop the worker: end of input asks it to exit; one that does not is killed."""
        process = self._process
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self.kill()
        if process.stdout is not None:
            process.stdout.close()

    def kill(self) -> None:
        """Stop the worker now, whatever it is doing."""
        process = self._process
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


# Workers waiting for an image. A scan takes one (or starts one) and gives it back when done, so
# concurrent scans from several threads each get their own worker.
_IDLE_WORKERS: list[_Worker] = []
_WORKERS_LOCK = threading.Lock()
# Workers inherited through fork belong to the parent process; the child never touches them.
_INHERITED: list[_Worker] = []


def _forget_inherited_workers() -> None:
    _INHERITED.extend(_IDLE_WORKERS)
    _IDLE_WORKERS.clear()


def _stop_idle_workers() -> None:
    with _WORKERS_LOCK:
        workers = [worker for worker in _IDLE_WORKERS if worker.owner == os.getpid()]
        _IDLE_WORKERS.clear()
    for worker in workers:
        worker.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_workers)
atexit.register(_stop_idle_workers)


def _take_worker() -> _Worker:
    """An idle scan worker of this process, or a new one."""
    with _WORKERS_LOCK:
        while _IDLE_WORKERS:
            worker = _IDLE_WORKERS.pop()
            if worker.alive():
                return worker
            worker.kill()  # died while idle (killed from outside, say): reap it and look further
    return _Worker()


def _release_worker(worker: _Worker) -> None:
    with _WORKERS_LOCK:
        _IDLE_WORKERS.append(worker)


def _request(message: dict[str, Any], payload: bytes | bytearray | memoryview, deadline: float) -> dict[str, Any]:
    """Send one request to an idle worker (or a new one) and return its reply within ``deadline`` seconds.

    A worker that misses the deadline is killed, which raises :class:`~econsent.errors.ImageRefusedError`
    with reason ``IMAGE_DEADLINE``; one that dies raises it with ``IMAGE_DECODER_FAILED``.
    """
    worker = _take_worker()
    started = time.monotonic()
    try:
        reply = worker.request(message, payload, started + deadline)
    except TimeoutError:
        worker.kill()
        raise ImageRefusedError(
            ImageRefusal.DEADLINE, f"scanning the image took longer than {deadline:g} s and was stopped"
        ) from None
    except BaseException:
        worker.kill()
        raise
    _release_worker(worker)
    return reply
