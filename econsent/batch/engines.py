"""Signing a block of rows, and where it runs: this process, a process pool, or a Dask cluster.

:func:`sign_block` is the worker's whole job: load the issuer's signer once per worker and run
(:func:`worker_signer`), check each row's holder key and proof of possession, sign. An :class:`Engine`
runs blocks and hands back their results in the order they were given.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Protocol

from ..errors import (
    BatchError,
    BatchProblem,
    EconsentError,
    IssueError,
    KeyLoadError,
    MissingDependencyError,
    PossessionError,
)
from ..hsm import load_signer
from ..issue import Issuer
from ..keys import PublicKey, Signer
from ..model import Credential, StatusReference, from_unix, to_unix
from ..possession import ATTESTED_OUT_OF_BAND
from .rows import BadRow, BatchRow

# --- signing (the worker) --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignerSpec:
    """How a worker loads the issuer's signer: what :func:`econsent.hsm.load_signer` takes (a PEM file path
    or a ``pkcs11:`` URI) and the environment variable holding a key file's passphrase.

    Only names travel to workers (also to Dask workers on other machines), never a secret: each worker
    reads the passphrase, or the token's PIN (``ECONSENT_PKCS11_PIN``), from its own environment.
    """

    spec: str
    passphrase_env: str | None = None


@dataclass(frozen=True, slots=True)
class BlockJob:
    """What a worker signs: rows with their reserved serials and slots, and how to load the signer."""

    signer: SignerSpec
    run: str
    rows: tuple[BatchRow, ...]
    allocations: tuple[tuple[int, StatusReference], ...]
    now: int
    derive: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IssuedRow:
    """A credential a worker signed, in fields that cross process boundaries (a Credential's claims do not)."""

    row_id: str
    credential_type: str
    serial: int
    status: StatusReference
    issued_at: int
    valid_from: int
    valid_until: int
    holder_algorithm: str | None
    holder_key: bytes | None
    claims: dict[str, Any]
    encoded: bytes

    def credential(self, kid: bytes) -> Credential:
        return Credential(
            credential_type=self.credential_type,
            kid=kid,
            serial=self.serial,
            issued_at=from_unix(self.issued_at),
            valid_from=from_unix(self.valid_from),
            valid_until=from_unix(self.valid_until),
            holder_algorithm=self.holder_algorithm,
            holder_key=self.holder_key,
            claims=self.claims,
            encoded=self.encoded,
            status=self.status,
        )


_WORKER = threading.local()


def worker_signer(spec: SignerSpec, run: str) -> Signer:
    """The signer of ``spec`` for this worker thread, loaded once per run (one HSM session per worker, not
    per block). A new ``run`` (each :func:`run_batch` call) loads it afresh, so a long-lived worker never
    signs with a key file's or token's earlier contents; the signer of the previous run is closed."""
    held: tuple[tuple[SignerSpec, str], Signer] | None = getattr(_WORKER, "signer", None)
    if held is not None and held[0] == (spec, run):
        return held[1]
    if held is not None:
        _close(held[1])
    signer = _load_signer(spec)
    _WORKER.signer = ((spec, run), signer)
    return signer


def _close(signer: Signer) -> None:
    """End a signer's HSM session, if it has one (a key in memory has nothing to close)."""
    close = getattr(signer, "close", None)
    if callable(close):
        close()


def _load_signer(spec: SignerSpec) -> Signer:
    passphrase = None
    if spec.passphrase_env:
        passphrase = os.environ.get(spec.passphrase_env)
        if passphrase is None:
            raise KeyLoadError(f"environment variable {spec.passphrase_env} (the key's passphrase) is not set")
    return load_signer(spec.spec, passphrase=passphrase)


def sign_block(job: BlockJob) -> list[IssuedRow | BadRow]:
    """Sign one block (the function every engine runs): a credential per row, or the reason it was refused.

    A row's own fault (holder key, proof of possession, a claim value) refuses that row only; a failing
    signer raises, and stops the batch.
    """
    issuer = Issuer(worker_signer(job.signer, job.run))
    now = from_unix(job.now)
    results: list[IssuedRow | BadRow] = []
    for row, (serial, status) in zip(job.rows, job.allocations, strict=True):
        try:
            holder_key = PublicKey.from_pem(row.holder_key)
        except KeyLoadError as exc:
            results.append(
                BadRow(
                    row.line,
                    row.row_id,
                    BatchProblem.BAD_HOLDER_KEY,
                    exc.detail,
                    serial,
                )
            )
            continue
        try:
            credential = issuer.issue(
                row.credential_type,
                row.claims,
                holder_key=holder_key,
                possession=ATTESTED_OUT_OF_BAND if row.possession is None else row.possession,
                challenge=row.challenge,
                valid_from=row.valid_from,
                valid_until=row.valid_until,
                now=now,
                serial=serial,
                derive=job.derive,
                status=status,
            )
        except PossessionError as exc:
            results.append(BadRow(row.line, row.row_id, BatchProblem.BAD_PROOF, exc.code.value, serial))
            continue
        except IssueError as exc:
            results.append(BadRow(row.line, row.row_id, BatchProblem.ISSUE_REFUSED, exc.detail, serial))
            continue
        results.append(
            IssuedRow(
                row_id=row.row_id,
                credential_type=credential.credential_type,
                serial=serial,
                status=status,
                issued_at=job.now,
                valid_from=to_unix(credential.valid_from),
                valid_until=to_unix(credential.valid_until),
                holder_algorithm=credential.holder_algorithm,
                holder_key=credential.holder_key,
                claims=dict(credential.claims),
                encoded=credential.encoded,
            )
        )
    return results


# --- engines -------------------------------------------------------------------------------------------


class _Pending(Protocol):
    def result(self) -> list[IssuedRow | BadRow]: ...


class Engine:
    """Runs :func:`sign_block` jobs somewhere; :meth:`map` keeps a bounded number in flight, in order.

    The coordinator uses only :meth:`map`, so every engine runs the same code path.
    """

    workers = 1

    def submit(self, job: BlockJob) -> _Pending:
        raise NotImplementedError

    def map(self, jobs: Iterable[BlockJob], *, window: int | None = None) -> Iterator[list[IssuedRow | BadRow]]:
        """The results of ``jobs`` in their order, with at most ``window`` (default: 2 per worker) in flight.

        A job is taken from ``jobs`` only when there is room, so reservations run just ahead of signing.
        """
        limit = window or 2 * self.workers
        pending: deque[_Pending] = deque()
        for job in jobs:
            pending.append(self.submit(job))
            if len(pending) >= limit:
                yield self._result(pending.popleft())
        while pending:
            yield self._result(pending.popleft())

    def _result(self, pending: _Pending) -> list[IssuedRow | BadRow]:
        try:
            return pending.result()
        except EconsentError:
            raise
        except Exception as exc:  # a dead process (BrokenProcessPool), a lost Dask worker, ...
            raise BatchError(BatchProblem.WORKER_FAILED, f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Stop the workers."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class InProcessEngine(Engine):
    """Signs in the calling process, one block at a time (``--workers 0`` or ``1``)."""

    def submit(self, job: BlockJob) -> _Pending:
        future: Future[list[IssuedRow | BadRow]] = Future()
        try:
            future.set_result(sign_block(job))
        except Exception as exc:  # delivered by result(), as a pool would
            future.set_exception(exc)
        return future


class PoolEngine(Engine):
    """A process pool on this machine (``forkserver`` processes: no inherited locks or HSM sessions)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("forkserver"))

    def submit(self, job: BlockJob) -> _Pending:
        return self._pool.submit(sign_block, job)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskEngine(Engine):
    """Dask distributed: a scheduler at ``address``, or a LocalCluster of ``workers`` single-threaded workers.

    Every worker loads the signer itself (:func:`worker_signer`), so it needs the key (or token) and the
    passphrase (or PIN) variable in its own environment; nothing secret is sent over the network.
    """

    def __init__(self, address: str | None = None, *, workers: int = 2, processes: bool = True) -> None:
        distributed = optional_dependency("distributed", "Dask")

        self._cluster: Any = None
        if address:
            try:
                self._client: Any = distributed.Client(address, timeout=10)
            except (
                OSError,
                TimeoutError,
            ) as exc:  # no scheduler there, or it did not answer in time
                raise BatchError(BatchProblem.ENGINE_UNREACHABLE, f"{address}: {exc}") from exc
            self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))
        else:
            self._cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
                silence_logs=40,  # logging.ERROR: the batch reports its own failures
            )
            self._client = distributed.Client(self._cluster)
            self.workers = workers

    def submit(self, job: BlockJob) -> _Pending:
        pending: _Pending = self._client.submit(sign_block, job, pure=False)
        return pending

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def optional_dependency(module: str, what: str) -> Any:
    """An optional dependency of the ``batch`` extra, imported when first needed."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(f"{what} is not installed: pip install 'econsent[batch]'") from exc
