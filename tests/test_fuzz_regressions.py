"""The fuzz harnesses in every test run: saved findings and seeds replayed in-process, the fuzzer itself in CI.

* Every input in ``tests/fuzz/regressions/<harness>/`` (what the fuzzer once crashed on) goes through its
  harness's target again and must now pass: econsent verifies or refuses with its own error.
* Every seed of every harness passes too, so the harnesses stay in step with the API.
* With ``CI=true`` or ``ECONSENT_FUZZ_SECONDS=N`` set, ``tests/fuzz/run.py`` fuzzes every harness for a
  bounded time (60 s in CI) in subprocesses and must find nothing; what it finds lands in regressions/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

FUZZ = Path(__file__).resolve().parent / "fuzz"
sys.path.insert(0, str(FUZZ))

import targets  # noqa: E402
import world  # noqa: E402

pytestmark = pytest.mark.slow  # replays every fuzz seed and mutation, and a bounded fuzz run

REGRESSIONS = sorted(path for path in (FUZZ / "regressions").glob("*/*") if path.is_file())


def _regression_params() -> list[object]:
    return [pytest.param(path, id=f"{path.parent.name}/{path.name}") for path in REGRESSIONS]


def test_every_harness_has_a_target_and_an_atheris_entry_point() -> None:
    assert set(targets.TARGETS) == set(world.HARNESSES)
    for harness in world.HARNESSES:
        assert (FUZZ / f"fuzz_{harness}.py").is_file()


@pytest.mark.parametrize("path", _regression_params())
def test_saved_fuzz_finding_no_longer_fails(path: Path) -> None:
    assert path.parent.name in targets.TARGETS, f"{path} is not under a harness folder"
    targets.run_file(path.parent.name, path)


@pytest.mark.parametrize("harness", world.HARNESSES)
def test_every_seed_passes_its_harness(harness: str) -> None:
    seeds = world.seeds_of(harness)
    assert seeds
    for data in seeds.values():
        targets.TARGETS[harness](data)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """A seed with a few byte-level mutations, like libFuzzer's: flips, insertions, deletions, cuts, copies."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["flip", "set", "insert", "delete", "cut", "copy"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if operation == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif operation == "set" and data:
            data[position] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xC0, 0xC4, 0xDC, 0xFF]))
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete":
            del data[position : position + draw(st.integers(1, 8))]
        elif operation == "cut":
            del data[position + 1 :]
        else:
            length = draw(st.integers(1, 32))
            target = draw(st.integers(0, len(data)))
            data[target:target] = data[position : position + length]
    return bytes(data)


@pytest.mark.parametrize("harness", world.HARNESSES)
@settings(derandomize=True, database=None, max_examples=150, deadline=None)
@given(data=st.data())
def test_every_mutated_seed_passes_its_harness(harness: str, data: st.DataObject) -> None:
    """The fuzz targets' contract, in every test run without atheris: any input gives econsent's own answer."""
    seeds = world.seeds_of(harness)
    seed = seeds[data.draw(st.sampled_from(sorted(seeds)))]
    targets.TARGETS[harness](data.draw(mutated(seed)))


def _fuzz_seconds() -> int | None:
    configured = os.environ.get("ECONSENT_FUZZ_SECONDS")
    if configured:
        return int(configured)
    return 60 if os.environ.get("CI", "").lower() == "true" else None


@pytest.mark.skipif(_fuzz_seconds() is None, reason="runs in CI (CI=true) or with ECONSENT_FUZZ_SECONDS set")
def test_bounded_fuzz_run_finds_nothing() -> None:
    seconds = _fuzz_seconds()
    assert seconds is not None
    try:
        import atheris  # noqa: F401
    except ImportError:
        pytest.fail("the bounded fuzz run needs atheris: pip install atheris (it is in the test extra)")
    result = subprocess.run(
        [sys.executable, str(FUZZ / "run.py"), "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=3 * seconds + 180,
    )
    print(result.stdout)
    assert result.returncode == 0, f"the fuzzer found something (saved in tests/fuzz/regressions/):\n{result.stdout}"
