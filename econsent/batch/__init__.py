"""Batch issuance: rows of claims and holder keys in, one signed credential per good row out, resumable.

The coordinator (the calling process) reads rows from CSV or JSON Lines strictly, reports bad rows with
their line number and a :class:`~econsent.errors.BatchProblem` code while the good ones go on, and cuts
the good rows into blocks. Each block's serials and status slots are reserved in ONE registry transaction
(:meth:`BatchRegistry.reserve`, idempotent by row id), the block goes to a worker of an :class:`Engine`
(in this process, a process pool, or Dask), which signs with its own signer (loaded once per worker
thread: one HSM session each), and the coordinator appends the credentials to the output, fsyncs it, and
only then records the block (:meth:`BatchRegistry.record_batch`).

The output is the journal. Run again with the same batch id after a crash and: rows whose credential is
in the output are not signed again (and are recorded if the crash came before ``record_batch``); rows
reserved but not in the output are signed again with the SAME serial and status slot (the first
signature never left the machine); a last line cut short by the crash is cut off. What this guarantees:
every row id is in the output at most once; every credential in the output carries the serial and slot
the registry reserved for its row id, and no serial or slot is reserved twice; a serial of a batch is
unused only when its row was refused after reservation (holder key, proof of possession or a claim value
refused by the signing worker), and such a row keeps its serial and slot for the next run.

The package is split by job: :mod:`~econsent.batch.rows` (reading rows), :mod:`~econsent.batch.engines`
(signing a block, and where blocks run), :mod:`~econsent.batch.output` (the output and its journal) and
:mod:`~econsent.batch.run` (:func:`run_batch`, the coordinator).
"""

from __future__ import annotations

from .engines import (
    BlockJob,
    DaskEngine,
    Engine,
    InProcessEngine,
    IssuedRow,
    PoolEngine,
    SignerSpec,
    sign_block,
    worker_signer,
)
from .output import CREDENTIAL_FILE_SUFFIX, FOLDER_MARKER
from .rows import MAX_ROW_BYTES, BadRow, BatchRow, InputFormat, RowReader, read_rows
from .run import DEFAULT_BLOCK_SIZE, MAX_BLOCK_SIZE, BatchRegistry, BatchSummary, run_batch

__all__ = [
    "CREDENTIAL_FILE_SUFFIX",
    "DEFAULT_BLOCK_SIZE",
    "FOLDER_MARKER",
    "MAX_BLOCK_SIZE",
    "MAX_ROW_BYTES",
    "BadRow",
    "BatchRegistry",
    "BatchRow",
    "BatchSummary",
    "BlockJob",
    "DaskEngine",
    "Engine",
    "InProcessEngine",
    "InputFormat",
    "IssuedRow",
    "PoolEngine",
    "RowReader",
    "SignerSpec",
    "read_rows",
    "run_batch",
    "sign_block",
    "worker_signer",
]
