"""Scan benchmark: a synthetic camera corpus made from seeds, each decoder alone, the pipeline, the goals.

    python bench/bench_scan.py [--frames N] [--seed S] [--budget-ms MS] [--quick] [--no-pin] [--no-guidance]
                               [--baseline DIR]

The corpus is generated here, from seeds, every run: 1280x720 frames (tests/camera.py) of the
reference driving licence's full presentation (issued and presented with the real library, ES256
issuer and holder: the QR text of a counter's everyday code), at 3 to 8 px a module, each with its own
rotation, perspective tilt up to 30°, defocus and motion blur, sensor noise, JPEG quality, contrast,
glare, screen moiré and dark mode, drawn from the ranges in tests/camera.py (CORPUS_RANGES), plus
frames without a code (to count false reads). Nothing is tuned to a fixed set of frames: give new
seeds with --seed and the goals must still hold.

Every frame goes through each decoder alone (one plain pass: zxing-cpp called directly as the
reference, zbar, and OpenCV's QRCodeDetector when it is installed) and through the pipeline
(econsent.qr.Scanner with its time budget), in a random order per frame. Times are wall-clock per
frame, failures included, on one pinned core. Success is reported per module size and per band (3-4
and 4-8 px a module) against the goals. ``--baseline DIR`` also runs the pipeline of another checkout
(DIR holds its ``econsent`` package, e.g. from ``git archive``) on the same frames, interleaved, for
before/after figures. The guidance
section compares ECC levels L/M/Q and quiet zones 1/2/4 at equal on-screen size (a fixed code side in
the frame, as a phone shows it), the same scenes for every rendering, glare and moiré included.
Compare timings only within one run: the machine is shared.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(_ROOT), str(_ROOT / "tests"), str(_ROOT / "bench")]

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import hashlib  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from importlib.metadata import PackageNotFoundError, version  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from bench_core import NOW, SERIAL, claims_of, reference, table  # noqa: E402
from camera import CORPUS_RANGES, Scene, blank_frame, corpus_frame, random_scene, render_scene  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from econsent import ATTESTED_OUT_OF_BAND, Issuer, SigningKey, present, qr, raw_signature_from_der  # noqa: E402
from econsent.keys import Algorithm  # noqa: E402

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

PX_PER_MODULE = (3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0)
GOAL_MIN_PX = 4.0
#: Module-size bands (lowest px/module included, highest excluded) and the success each must reach.
BANDS = {"3-4 px": ((3.0, 4.0), 0.95), "4-8 px": ((4.0, 8.5), 0.99)}
#: The pipeline's median over every frame, as a multiple of one plain zxing-cpp pass's; and its p95.
GOALS = {"median_ratio": 1.2, "p95_ms": 30.0}
GUIDANCE_SIDES = (280, 340, 400)  # code side in the frame, quiet zone included, px: a phone at 3 distances
GUIDANCE_ECC = ("L", "M", "Q")
GUIDANCE_BORDERS = (1, 2, 4)


@dataclass
class Tally:
    """One decoder's results over a set of frames."""

    hits: int = 0
    frames: int = 0
    false_reads: int = 0
    ms: list[float] = field(default_factory=list)

    def add(self, texts: tuple[str, ...] | list[str], expected: str | None, ms: float) -> bool:
        self.frames += 1
        self.ms.append(ms)
        hit = expected is not None and list(texts) == [expected]
        self.hits += hit
        self.false_reads += bool(texts) and not hit and any(text != expected for text in texts)
        return hit

    def merge(self, other: Tally) -> None:
        self.hits += other.hits
        self.frames += other.frames
        self.false_reads += other.false_reads
        self.ms += other.ms

    @property
    def rate(self) -> float:
        return self.hits / self.frames if self.frames else 0.0

    def median(self) -> float:
        return statistics.median(self.ms) if self.ms else float("nan")

    def p95(self) -> float:
        if len(self.ms) < 2:
            return self.median()
        return statistics.quantiles(self.ms, n=20, method="inclusive")[18]

    def cell(self) -> str:
        return f"{self.rate:6.1%} {self.median():6.2f} {self.p95():6.2f}"


class DeterministicES256:
    """An ES256 signer with RFC 6979 nonces, so the presentation text, and every frame, repeat exactly."""

    def __init__(self, label: str) -> None:
        secret = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") % (_P256_ORDER - 1) + 1
        self._private = ec.derive_private_key(secret, ec.SECP256R1())
        key = SigningKey(Algorithm.ES256, self._private)
        self.algorithm = key.algorithm
        self.public_key = key.public_key

    def sign(self, data: bytes) -> bytes:
        der = self._private.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        return raw_signature_from_der(der)


def reference_presentation() -> str:
    """The reference licence, issued and presented as bench_core does: a full ES256 presentation.

    Keys come from fixed labels and signatures are deterministic: the same text on every run.
    """
    document = reference()
    issuer_key = DeterministicES256("bench_scan issuer")
    holder_key = DeterministicES256("bench_scan holder")
    credential = Issuer(issuer_key, random_bytes=random.Random(2026).randbytes).issue(
        "driving-licence",
        claims_of(document),
        holder_key=holder_key.public_key,
        possession=ATTESTED_OUT_OF_BAND,  # the scan is measured, not the issuance
        now=NOW,
        serial=SERIAL,
        valid_from=dt.datetime.fromisoformat(document["valid_from"]),
        valid_until=dt.datetime.fromisoformat(document["valid_until"]),
    )
    return present(credential, holder_key, now=NOW, lifetime=60)


#: The reference the median goal is measured against: one zxing-cpp call on the frame, QR codes only,
#: dark-on-light (zxing-cpp's own downscaling on, as it comes), with none of econsent's work around it.
REFERENCE = "zxing-cpp plain"


def decoders() -> dict[str, Callable[[np.ndarray], tuple[list[str], float]]]:
    """Each decoder alone, one plain pass on the frame: name -> (texts, ms)."""
    import zxingcpp  # the reference: the benchmark needs the scan extra

    formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCodeModel2)

    def zxing(frame: np.ndarray) -> tuple[list[str], float]:
        start = time.perf_counter()
        codes = zxingcpp.read_barcodes(frame, formats=formats, try_invert=False)
        return [code.text for code in codes], (time.perf_counter() - start) * 1000

    found: dict[str, Callable[[np.ndarray], tuple[list[str], float]]] = {REFERENCE: zxing}
    if "zbar" in qr.available_backends():
        zbar = qr.Scanner(backends=("zbar",), passes=("plain",), budget_ms=None)

        def zbar_plain(frame: np.ndarray) -> tuple[list[str], float]:
            result = zbar.scan(frame)
            return list(result.texts), result.ms

        found["zbar plain"] = zbar_plain
    try:
        import cv2
    except ImportError:
        return found
    cv2.setNumThreads(1)
    detector = cv2.QRCodeDetector()

    def opencv(frame: np.ndarray) -> tuple[list[str], float]:
        start = time.perf_counter()
        text = detector.detectAndDecode(frame)[0]
        return ([text] if text else []), (time.perf_counter() - start) * 1000

    found["OpenCV"] = opencv
    return found


def baseline_scanner(directory: str, budget: float | None) -> Callable[[np.ndarray], Any]:
    """The pipeline of the ``econsent`` package in ``directory`` (another checkout), loaded beside this one.

    Its modules are imported under the name ``econsent_baseline`` (a copy with its imports renamed,
    in a temporary folder), so both pipelines run in one process on the same frames.
    """
    import importlib
    import re
    import shutil
    import tempfile

    source = Path(directory) / "econsent"
    if not (source / "qr").is_dir():
        raise SystemExit(f"--baseline {directory}: no econsent/qr package there")
    target = Path(tempfile.mkdtemp(prefix="bench_scan_")) / "econsent_baseline"
    shutil.copytree(source, target)
    for module in target.rglob("*.py"):
        module.write_text(re.sub(r"\beconsent(?=[.\s])", "econsent_baseline", module.read_text()))
    sys.path.insert(0, str(target.parent))
    scanner = importlib.import_module("econsent_baseline.qr").Scanner(budget_ms=budget)
    return scanner.scan  # type: ignore[no-any-return]


def condition_checks() -> dict[str, Callable[[Scene], bool]]:
    return {
        "dark mode": lambda s: s.dark_mode,
        "glare": lambda s: s.glare > 0,
        "moiré": lambda s: s.moire > 0,
        "motion blur": lambda s: s.motion_px > 0,
        "defocus >= 1.5 px": lambda s: s.defocus >= 1.5,
        "dimmed screen (white < 130)": lambda s: s.light_level < 130,
        "tilt >= 20°": lambda s: s.tilt_deg >= 20,
        "JPEG quality < 50": lambda s: s.jpeg_quality < 50,
        "none of the above": lambda s: (
            not (s.dark_mode or s.glare or s.moire or s.motion_px or s.defocus >= 1.5 or s.light_level < 130)
        ),
    }


def corpus_section(text: str, seeds: range, budget: float | None, baseline: str | None) -> dict[str, Any]:
    readers = decoders()
    pipeline = qr.Scanner(budget_ms=budget)
    pipelines = {"pipeline": pipeline.scan}
    if baseline is not None:
        pipelines["baseline pipeline"] = baseline_scanner(baseline, budget)
    names = [*readers, *pipelines]
    order = random.Random(f"order {seeds.start}")
    rows = []
    per_px: dict[float, dict[str, Tally]] = {}
    passes: dict[str, list[float]] = {}
    skipped: dict[str, int] = {}
    frames_cut = 0
    first_read: dict[str, int] = {}
    by_condition = {name: Tally() for name in condition_checks()}
    failures: list[str] = []
    for px in PX_PER_MODULE:
        tallies = {name: Tally() for name in names}
        for seed in seeds:
            image, scene = corpus_frame(text, seed=seed, px_per_module=px)
            frame = np.asarray(image)
            results = {}
            for name in order.sample(names, len(names)):  # a random order per frame: no position is favoured
                if name in readers:
                    found, ms = readers[name](frame)
                    tallies[name].add(found, text, ms)
                else:
                    results[name] = pipelines[name](frame)
                    tallies[name].add(results[name].texts, text, results[name].ms)
            result = results["pipeline"]
            hit = result.texts == (text,)
            for report in result.passes:
                passes.setdefault(f"{report.backend}/{report.name}", []).append(report.ms)
            for name in result.skipped:
                skipped[name] = skipped.get(name, 0) + 1
            first_backend = f"{qr.DEFAULT_BACKENDS[0]}/"
            frames_cut += not hit and any(name.startswith(first_backend) for name in result.skipped)
            if px >= GOAL_MIN_PX:
                first_read[result.decoded_by or "none"] = first_read.get(result.decoded_by or "none", 0) + 1
                for condition, check in condition_checks().items():
                    if check(scene):
                        by_condition[condition].add(result.texts, text, result.ms)
                if not hit:
                    failures.append(f"seed {seed}: {scene.describe()}")
        per_px[px] = tallies
        rows.append([f"{px:g}", len(seeds), *(tallies[name].cell() for name in names)])
    blanks = {name: Tally() for name in names}
    for seed in seeds:
        frame = np.asarray(blank_frame(seed=seed))
        for name, read in readers.items():
            found, ms = read(frame)
            blanks[name].add(found, None, ms)
        for name, scan in pipelines.items():
            result = scan(frame)
            blanks[name].add(result.texts, None, result.ms)
    table(
        "Success rate, median ms, p95 ms per 1280x720 frame, by module size",
        ["px/module", "frames", *names],
        rows,
    )
    totals = []
    summary: dict[str, dict[str, Tally]] = {}
    for name in names:
        every, goal = Tally(), Tally()
        for px, tallies in per_px.items():
            every.merge(tallies[name])
            if px >= GOAL_MIN_PX:
                goal.merge(tallies[name])
        summary[name] = {"all": every, "goal": goal}
        false_reads = every.false_reads + blanks[name].false_reads
        totals.append(
            [name, f"{goal.rate:.1%}", f"{every.rate:.1%}", f"{every.median():.2f}", f"{every.p95():.2f}",
             f"{goal.median():.2f}", f"{goal.p95():.2f}", f"{blanks[name].median():.2f}", false_reads]
        )  # fmt: skip
    table(
        f"Totals ({len(seeds)} frames a row; {len(seeds)} frames without a code for false reads)",
        ["decoder", f">= {GOAL_MIN_PX:g} px ok", "all ok", "median ms", "p95 ms", ">= 4 px median", ">= 4 px p95",
         "no-code median", "false reads"],
        totals,
    )  # fmt: skip
    goal_frames = summary["pipeline"]["goal"].frames
    cumulative = 0
    pass_rows = []
    for name in [f"{b}/{p}" for b in qr.DEFAULT_BACKENDS for p in qr.SCAN_PASSES]:
        read = first_read.get(name, 0)
        cumulative += read
        runs = passes.get(name, [])
        median = f"{statistics.median(runs):.2f}" if runs else "-"
        pass_rows.append([name, len(runs), skipped.get(name, 0), read, f"{cumulative / goal_frames:.1%}", median])
    pass_rows.append(["(none read it)", "", "", first_read.get("none", 0), "", ""])
    table(
        f"Pipeline passes: runs and budget skips (all frames), frames each pass read first and cumulative "
        f"success (>= {GOAL_MIN_PX:g} px frames), median ms of a run; {frames_cut} unread frame(s) had "
        f"{qr.DEFAULT_BACKENDS[0]} passes skipped for time",
        ["pass", "runs", "skipped", "read first", "cumulative", "median ms"],
        pass_rows,
    )
    table(
        f"Pipeline success by condition, >= {GOAL_MIN_PX:g} px frames",
        ["condition", "frames", "success"],
        [[name, tally.frames, f"{tally.rate:.1%}"] for name, tally in by_condition.items()],
    )
    if failures:
        print(f"\nPipeline misses at >= {GOAL_MIN_PX:g} px ({len(failures)}):")
        for line in failures:
            print(f"  {line}")
    bands = {band: {name: Tally() for name in names} for band in BANDS}
    for px, tallies in per_px.items():
        for band, ((low, high), _) in BANDS.items():
            if low <= px < high:
                for name in names:
                    bands[band][name].merge(tallies[name])
    band_rows = [[band, row["pipeline"].frames, *(row[name].cell() for name in names)] for band, row in bands.items()]
    table("Success by module-size band (lowest px/module included)", ["band", "frames", *names], band_rows)
    pipeline_all = summary["pipeline"]["all"]
    plain_median = summary[REFERENCE]["all"].median()
    ratio = pipeline_all.median() / plain_median
    if baseline is not None:
        before = summary["baseline pipeline"]["all"]
        print(
            f"\nBaseline pipeline ({baseline}), same frames, interleaved: median {before.median():.2f} ms "
            f"({before.median() / plain_median:.2f}x the reference), p95 {before.p95():.2f} ms; "
            + ", ".join(f"{band} {bands[band]['baseline pipeline'].rate:.1%}" for band in BANDS)
        )
    false_reads = pipeline_all.false_reads + blanks["pipeline"].false_reads
    checks = [
        *((f"success at {band}", f">= {goal:.0%}", f"{bands[band]['pipeline'].rate:.1%}",
           bands[band]["pipeline"].rate >= goal) for band, (_, goal) in BANDS.items()),
        (f"median, all frames, over one plain zxing-cpp pass's ({REFERENCE})", f"<= {GOALS['median_ratio']:g}x",
         f"{ratio:.2f}x ({pipeline_all.median():.2f} / {plain_median:.2f} ms)", ratio <= GOALS["median_ratio"]),
        ("95th percentile, all frames", f"<= {GOALS['p95_ms']:g} ms", f"{pipeline_all.p95():.2f} ms",
         pipeline_all.p95() <= GOALS["p95_ms"]),
        ("false reads (code and no-code frames)", "0", str(false_reads), false_reads == 0),
    ]  # fmt: skip
    table(
        "Goals (pipeline)", ["goal", "target", "measured", "met"], [[*c[:3], "yes" if c[3] else "NO"] for c in checks]
    )
    return {"met": all(c[3] for c in checks)}


def guidance_section(text: str, seeds: range, budget: float | None) -> None:
    """ECC level and quiet zone at equal on-screen size (a fixed code side in the frame): what a phone should render.

    Every rendering sees the same scenes (pose, blur, glare, moiré, noise) at each side; only the
    module count differs, so the module size in camera pixels is the side over the module count.
    """
    scanner = qr.Scanner(budget_ms=budget)
    variants = [(ecc, border) for ecc in GUIDANCE_ECC for border in GUIDANCE_BORDERS]
    rows = []
    totals: dict[tuple[str, int], Tally] = {}
    for ecc, border in variants:
        version = qr.qr_version(text, ecc=ecc)
        modules = 17 + 4 * version + 2 * border
        cells = []
        for side in GUIDANCE_SIDES:
            px = side / modules
            tally = Tally()
            for seed in seeds:
                for attempt in range(200):
                    scene = random_scene(seed, side, attempt)  # one scene per seed and size, whatever the ECC
                    try:
                        image = render_scene(text, replace(scene, px_per_module=px), seed=seed, ecc=ecc, border=border)
                        break
                    except ValueError:
                        continue
                result = scanner.scan(np.asarray(image))
                tally.add(result.texts, text, result.ms)
            cells.append(f"{px:.2f} px: {tally.rate:.1%}")
            totals.setdefault((ecc, border), Tally()).merge(tally)
        chosen = " (the screen default)" if (ecc, border) == (qr.SCREEN_ECC, qr.SCREEN_BORDER) else ""
        total = totals[(ecc, border)]
        rows.append([f"{ecc}, quiet zone {border}{chosen}", version, modules, *cells, f"{total.rate:.1%}",
                     total.false_reads])  # fmt: skip
    table(
        f"ECC level and quiet zone at equal on-screen size (side in frame px, quiet zone included); "
        f"{len(seeds)} frames a cell, the same scenes for every row",
        ["rendering", "QR version", "modules", *(f"side {side} px" for side in GUIDANCE_SIDES), "all sides",
         "false reads"],
        rows,
    )  # fmt: skip
    best = max(totals, key=lambda key: (totals[key].rate, -GUIDANCE_ECC.index(key[0])))
    print(
        f"\nBest at equal on-screen size: ECC {best[0]}, quiet zone {best[1]} ({totals[best].rate:.1%}); "
        f"the screen default is ECC {qr.SCREEN_ECC}, quiet zone {qr.SCREEN_BORDER} "
        f"({totals[(qr.SCREEN_ECC, qr.SCREEN_BORDER)].rate:.1%})"
    )


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per module size (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="first frame seed (default 0)")
    parser.add_argument("--budget-ms", type=float, default=qr.DEFAULT_BUDGET_MS, help="pipeline budget per frame")
    parser.add_argument("--quick", action="store_true", help="15 frames a row, fewer guidance frames")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one core")
    parser.add_argument("--no-guidance", action="store_true", help="skip the ECC / quiet zone section")
    parser.add_argument("--baseline", metavar="DIR", help="also run the pipeline of the econsent package in DIR")
    args = parser.parse_args(argv)
    frames = 15 if args.quick else args.frames
    seeds = range(args.seed, args.seed + frames)
    pinned = "not pinned"
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        core = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        pinned = f"pinned to core {core}"

    text = reference_presentation()
    print("# econsent scan benchmark")
    print(
        f"Python {platform.python_version()}, zxing-cpp {_version('zxing-cpp')}, pyzbar {_version('pyzbar')}, "
        f"OpenCV {_version('opencv-python-headless')}, Pillow {_version('Pillow')}, numpy {_version('numpy')}; "
        f"{pinned}"
    )
    print(
        f"Reference licence, full presentation: {len(text)} characters, QR version {qr.qr_version(text)} at ECC M "
        f"({17 + 4 * qr.qr_version(text)} modules + 4-module quiet zone; the corpus renders it so), "
        f"{qr.qr_version(text, ecc=qr.SCREEN_ECC)} at the screen's ECC {qr.SCREEN_ECC}"
    )
    print(f"Seeds {seeds.start}..{seeds.stop - 1}; pipeline budget {args.budget_ms:g} ms; passes {qr.SCAN_PASSES}")
    print(f"Corpus ranges: {CORPUS_RANGES}")
    print("Cells: success rate, median ms, p95 ms")
    outcome = corpus_section(text, seeds, args.budget_ms, args.baseline)
    if not args.no_guidance:
        guidance_seeds = range(args.seed, args.seed + (10 if args.quick else 40))
        guidance_section(text, guidance_seeds, args.budget_ms)
    return 0 if outcome["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
