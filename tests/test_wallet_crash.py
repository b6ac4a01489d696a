"""Nothing is ever lost: real writer processes are killed with SIGKILL at random points while they add
credentials, and after every kill the wallet must open with every credential whose ``add`` had returned.

The writer runs ``WRITER`` below: for each credential it makes a holder key (one write), prints
``KEY <kid>``, issues a credential to that key, adds it (a second write) and prints ``ADD <serial> <id>``
only after ``add`` returned. A line printed is an acknowledged write. The parent kills the writer at a
point drawn from a seeded RNG: after a random number of acknowledgements plus a random delay of 0 to
4 ms, mostly under 1.5 ms (one write takes about 1 ms here: temporary file, fsync, rename, directory
fsync), so kills land before, inside and after writes. After each kill it opens the wallet and checks:

* the file opens with the passphrase (no torn write, no leftover lock);
* every acknowledged credential is there, with its serial, and every acknowledged key is held;
* at most one entry and one key that were never acknowledged appeared (the write the kill interrupted
  between its rename and its print);
* the last acknowledged credential can still be presented (its holder key is intact);
* at most one temporary file was left behind (a kill between creating it and the rename), and the next
  write removes it;
* the file's generation never went back (it opens with ``min_generation`` = the generation seen at the
  previous check) and equals the number of writes: every acknowledged write, plus the interrupted write
  that completed, plus the checks' own clean-up writes, each counted once.

Two ways to start writers: ``python -c WRITER`` per kill (the whole interpreter start-up, 20 kills), and a
fork server started with ``python -c`` that has imported econsent once and forks a fresh writer process
per kill (the same writer code, 240 kills, about 20x faster), which keeps the test within its time budget
on two cores. Both kill real, separate processes with SIGKILL; the fork server only reaps them.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from econsent import Algorithm, PublicKey
from econsent.wallet import FileStorage, ScryptParams, Wallet

pytestmark = pytest.mark.slow  # writers killed at random points, in subprocesses

PASSPHRASE = "crash test 崩溃测试"
CHEAP = ScryptParams(log2_n=10, r=8, p=1)
NOW = dt.datetime(2025, 6, 1, 8, 30, tzinfo=dt.UTC)
SPAWNED_KILLS = 20
FORKED_KILLS = 240
KILLS_PER_WALLET = 30
CREDENTIALS_PER_WRITER = 60
LINE_TIMEOUT = 20.0

WRITER = r"""
import datetime as dt, os, sys
from econsent import ATTESTED_OUT_OF_BAND, Issuer, SigningKey
from econsent.wallet import FileStorage, ScryptParams, Wallet

NOW = dt.datetime(2025, 6, 1, 8, 30, tzinfo=dt.UTC)
ISSUER = Issuer(SigningKey.generate("ES256"))

def say(line):
    os.write(1, (line + "\n").encode())  # one write(2) per line: lines never interleave

def write(path, first_serial, count, passphrase):
    wallet = Wallet.open(FileStorage(path, lock_timeout=10), passphrase)
    for serial in range(first_serial, first_serial + count):
        key = wallet.new_holder_key()
        say(f"KEY {key.kid.hex()}")
        credential = ISSUER.issue(
            "driving-licence",
            {"family_name": "张", "given_name": "伟", "licence_number": f"{serial:018d}"},
            holder_key=key, possession=ATTESTED_OUT_OF_BAND, valid_from=NOW, valid_until=NOW + dt.timedelta(days=365),
            now=NOW, serial=serial,
        )
        entry_id = wallet.add(credential.encoded)
        say(f"ADD {serial} {entry_id}")
    say("DONE")
"""

SPAWNED_MAIN = (
    WRITER
    + r"""
write(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
"""
)

FORK_SERVER = (
    WRITER
    + r"""
for command in sys.stdin:
    verb, *arguments = command.split()
    if verb == "RUN":
        path, first, count = arguments
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ready_w)
            os.read(ready_r, 1)  # start only after the parent has announced our pid
            try:
                write(path, int(first), int(count), os.environ["CRASH_PASSPHRASE"])
                os._exit(0)
            except BaseException as exc:
                say(f"ERROR {type(exc).__name__}: {exc}")
                os._exit(1)
        os.close(ready_r)
        say(f"PID {pid}")
        try:
            os.write(ready_w, b"go")
        except BrokenPipeError:
            pass  # the parent killed the writer before it started: a kill during start-up
        os.close(ready_w)
    elif verb == "REAP":
        _, status = os.waitpid(int(arguments[0]), 0)
        say(f"REAPED {status}")
"""
)


class Lines:
    """Lines from a pipe, with a timeout so a stuck writer fails the test instead of hanging it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def next(self) -> str:
        deadline = time.monotonic() + LINE_TIMEOUT
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(remaining, 0))
            if not ready:
                raise AssertionError("no line from the writer within the timeout")
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise AssertionError(f"the writer's output ended: {self.buffer!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


@dataclass
class Ledger:
    """What writers acknowledged, and what the checks found, for one wallet file."""

    path: Path
    added: dict[str, int] = field(default_factory=dict)  # entry id -> serial, acknowledged
    keys: set[str] = field(default_factory=set)  # key ids, acknowledged
    seen_entries: set[str] = field(default_factory=set)
    seen_keys: set[str] = field(default_factory=set)
    next_serial: int = 1
    writes: int = 1  # create wrote generation 1
    generation_seen: int = 1

    def record(self, line: str) -> None:
        verb, *rest = line.split()
        if verb == "KEY":
            self.keys.add(rest[0])
            self.writes += 1
        elif verb == "ADD":
            self.added[rest[1]] = int(rest[0])
            self.writes += 1
        elif verb == "ERROR":
            raise AssertionError(f"the writer failed: {line}")
        else:
            assert verb == "DONE", line


@dataclass
class Figures:
    kills: int = 0
    acknowledged_adds_checked: int = 0
    acknowledged_keys_checked: int = 0
    unacknowledged_writes_found: int = 0
    leftover_temporaries: int = 0
    kills_before_any_ack: int = 0
    unique_acknowledged_adds: dict[str, int] = field(default_factory=dict)  # per wallet file


def new_wallet(folder: Path, number: int) -> Ledger:
    path = folder / f"wallet-{number}.ecw"
    Wallet.create(FileStorage(path), PASSPHRASE, kdf=CHEAP)
    return Ledger(path)


def check_after_kill(ledger: Ledger, figures: Figures) -> None:
    # A lock left held would fail here, and so would a file whose generation went back.
    wallet = Wallet.open(FileStorage(ledger.path, lock_timeout=0), PASSPHRASE, min_generation=ledger.generation_seen)
    entries = set(wallet.entry_ids)
    missing = set(ledger.added) - entries
    assert not missing, f"acknowledged credentials lost: {missing}"
    for entry_id, serial in ledger.added.items():
        assert wallet.credential(entry_id).serial == serial
    held_keys = {key.kid.hex() for key in wallet.pending_keys()}
    for entry_id in entries:
        credential = wallet.credential(entry_id)
        assert credential.holder_key is not None
        held_keys.add(PublicKey.from_raw(Algorithm.ES256, credential.holder_key).kid.hex())
    lost_keys = ledger.keys - held_keys
    assert not lost_keys, f"acknowledged holder keys lost: {lost_keys}"
    new_entries = entries - ledger.seen_entries - set(ledger.added)
    new_keys = held_keys - ledger.seen_keys - ledger.keys
    assert len(new_entries) <= 1 and len(new_keys) <= 1, "more unacknowledged writes than one interrupted write"
    figures.unacknowledged_writes_found += len(new_entries) + len(new_keys)
    ledger.writes += len(new_entries) + len(new_keys)
    assert wallet.generation == ledger.writes, "the generation does not count every write exactly once"
    ledger.seen_entries |= entries
    ledger.seen_keys |= held_keys
    if ledger.added:
        wallet.present(next(reversed(ledger.added)), now=NOW, profile="name")
    temporaries = _temporaries(ledger.path)
    assert len(temporaries) <= 1, temporaries
    if temporaries:  # the kill landed between creating the temporary file and renaming it
        figures.leftover_temporaries += 1
        ledger.keys.add(wallet.new_holder_key().kid.hex())  # the next write removes it
        ledger.writes += 1
        assert not _temporaries(ledger.path)
    ledger.generation_seen = wallet.generation
    figures.kills += 1
    figures.acknowledged_adds_checked += len(ledger.added)
    figures.acknowledged_keys_checked += len(ledger.keys)
    figures.unique_acknowledged_adds[ledger.path.name] = len(ledger.added)


def _temporaries(path: Path) -> list[Path]:
    return [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]


def kill_point(rng: random.Random) -> tuple[int, float]:
    """How many acknowledgements to wait for (0: kill during start-up or the first write), then a delay."""
    acks = rng.choice([0, 1, 1, 2, 2, 3, 4, 6, 9])
    delay = rng.choice([0.0, rng.uniform(0, 0.0015), rng.uniform(0, 0.0015), rng.uniform(0, 0.004)])
    return acks, delay


def run_until_killed(lines: Lines, pid: int, ledger: Ledger, rng: random.Random, figures: Figures) -> None:
    acks, delay = kill_point(rng)
    if acks == 0:
        figures.kills_before_any_ack += 1
    for _ in range(acks):
        ledger.record(lines.next())
    time.sleep(delay)  # not waiting out a TTL: this places the kill inside or between writes
    os.kill(pid, signal.SIGKILL)


def report(name: str, figures: Figures, seconds: float) -> None:
    print(
        f"\n{name}: {figures.kills} SIGKILLs in {seconds:.1f} s; "
        f"{sum(figures.unique_acknowledged_adds.values())} acknowledged adds in "
        f"{len(figures.unique_acknowledged_adds)} wallets, re-checked after every kill "
        f"({figures.acknowledged_adds_checked} entry checks, {figures.acknowledged_keys_checked} key checks); "
        f"{figures.leftover_temporaries} kills mid-write (temporary file left, removed by the next write); "
        f"{figures.unacknowledged_writes_found} writes completed but killed before acknowledging; "
        f"{figures.kills_before_any_ack} kills before the first acknowledgement"
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX fork and SIGKILL")
def test_forked_writers_killed_at_random_points_lose_nothing(tmp_path: Path) -> None:
    rng = random.Random(20250601)
    figures = Figures()
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-c", FORK_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "CRASH_PASSPHRASE": PASSPHRASE},
    )
    assert server.stdin is not None and server.stdout is not None
    lines = Lines(server.stdout.fileno())
    ledger = new_wallet(tmp_path, 0)
    try:
        for kill in range(FORKED_KILLS):
            if kill and kill % KILLS_PER_WALLET == 0:
                ledger = new_wallet(tmp_path, kill)
            server.stdin.write(f"RUN {ledger.path} {ledger.next_serial} {CREDENTIALS_PER_WRITER}\n".encode())
            server.stdin.flush()
            ledger.next_serial += CREDENTIALS_PER_WRITER
            pid_line = lines.next()
            assert pid_line.startswith("PID "), pid_line
            pid = int(pid_line.split()[1])
            run_until_killed(lines, pid, ledger, rng, figures)
            server.stdin.write(f"REAP {pid}\n".encode())
            server.stdin.flush()
            while not (line := lines.next()).startswith("REAPED "):
                ledger.record(line)  # acknowledged before it died
            assert os.WIFSIGNALED(int(line.split()[1])), "the writer finished before it was killed"
            check_after_kill(ledger, figures)
    finally:
        server.stdin.close()
        server.wait(timeout=30)
        server.stdout.close()
    report("forked writers", figures, time.monotonic() - started)
    assert figures.kills == FORKED_KILLS
    assert sum(figures.unique_acknowledged_adds.values()) >= 200


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_spawned_writers_killed_at_random_points_lose_nothing(tmp_path: Path) -> None:
    rng = random.Random(19850314)
    figures = Figures()
    started = time.monotonic()
    ledger = new_wallet(tmp_path, 0)
    for _ in range(SPAWNED_KILLS):
        writer = subprocess.Popen(
            [sys.executable, "-c", SPAWNED_MAIN, str(ledger.path), str(ledger.next_serial), "60", PASSPHRASE],
            stdout=subprocess.PIPE,
        )
        assert writer.stdout is not None
        ledger.next_serial += CREDENTIALS_PER_WRITER
        lines = Lines(writer.stdout.fileno())
        run_until_killed(lines, writer.pid, ledger, rng, figures)
        assert writer.wait(timeout=30) == -signal.SIGKILL
        rest = writer.stdout.read().decode()
        for line in rest.splitlines():
            ledger.record(line)
        writer.stdout.close()
        check_after_kill(ledger, figures)
    report("spawned writers", figures, time.monotonic() - started)
    assert figures.kills == SPAWNED_KILLS


def test_a_wallet_survives_a_writer_killed_while_it_holds_the_lock(tmp_path: Path) -> None:
    """The lock is the kernel's flock: it dies with its holder, so no stale lock file ever blocks the owner."""
    ledger = new_wallet(tmp_path, 0)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from econsent.wallet import FileStorage; "
            "lock = FileStorage(sys.argv[1]).lock(); lock.__enter__(); print('locked', flush=True); sys.stdin.read()",
            str(ledger.path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    holder.kill()
    holder.communicate(timeout=30)
    assert holder.returncode == -signal.SIGKILL
    assert (tmp_path / "wallet-0.ecw.lock").exists()  # the lock file stays; the lock on it died with its holder
    wallet = Wallet.open(FileStorage(ledger.path, lock_timeout=0), PASSPHRASE)
    key = wallet.new_holder_key()
    assert key in wallet.pending_keys()
