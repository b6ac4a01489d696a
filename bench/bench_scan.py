"""Scan success and time per 1280x720 camera frame, by module size and decoder.

    python bench/bench_scan.py [--frames N] [--seed S]

Frames come from tests/camera.py (the synthetic phone-screen camera model), seeds S..S+N-1, each
holding a presentation-sized ``EC1:`` text (348 random bytes: 526 Base45 characters, or the codec's
decimal digits; both QR version 14 at ECC M). Every frame goes through zxing-cpp alone, zbar alone
and the default scan pipeline; times are wall-clock per ``econsent.qr.scan`` call, failures included.
Compare timings only as ratios within one run: the machine is shared.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(_ROOT), str(_ROOT / "tests")]

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402

from camera import camera_frame, presentation_text  # noqa: E402

from econsent import qr  # noqa: E402

PX_PER_MODULE = (3.0, 3.5, 4.0, 5.0, 6.0)
PAYLOAD_BYTES = 348
PIPELINES = {"zxing": ("zxing",), "zbar": ("zbar",), "default": qr.DEFAULT_BACKENDS}


def _cell(hits: int, times: list[float]) -> str:
    """``rate median p95`` for one decoder and setting; times in seconds."""
    ms = sorted(t * 1000 for t in times)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return f"{100 * hits / len(ms):4.0f}% {statistics.median(ms):6.2f} {p95:6.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30, help="frames per setting (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="first frame seed (default 0)")
    args = parser.parse_args(argv)
    seeds = range(args.seed, args.seed + args.frames)

    payloads = {
        "base45": presentation_text(PAYLOAD_BYTES, seed=args.seed),
        "digits": presentation_text(PAYLOAD_BYTES, seed=args.seed, digits=True),
    }
    print(
        f"Python {platform.python_version()}, zxing-cpp {version('zxing-cpp')}, pyzbar {version('pyzbar')}, "
        f"Pillow {version('Pillow')}, qrcode {version('qrcode')}"
    )
    print(f"{args.frames} frames per row, seeds {seeds.start}..{seeds.stop - 1}")
    print("each decoder column: success rate, median ms, p95 ms per frame")
    for name, text in payloads.items():
        print(f"  {name}: {len(text)} characters, QR version {qr.qr_version(text)} at ECC M")
    print()
    header = f"{'payload':<7} {'px/mod':>6} {'QR side':>7} | " + " | ".join(f"{name:^19}" for name in PIPELINES)
    print(header + " | zbar/zxing median")
    print("-" * (len(header) + 20))

    totals = dict.fromkeys(PIPELINES, 0)
    for payload, text in payloads.items():
        side = 17 + 4 * qr.qr_version(text) + 8
        for px in PX_PER_MODULE:
            hits = dict.fromkeys(PIPELINES, 0)
            times: dict[str, list[float]] = {name: [] for name in PIPELINES}
            for seed in seeds:
                frame = camera_frame(text, seed=seed, px_per_module=px)
                for name, backends in PIPELINES.items():
                    start = time.perf_counter()
                    found = qr.scan(frame, backends=backends)
                    times[name].append(time.perf_counter() - start)
                    hits[name] += found == [text]
            for name in PIPELINES:
                totals[name] += hits[name]
            ratio = statistics.median(times["zbar"]) / statistics.median(times["zxing"])
            cells = " | ".join(_cell(hits[name], times[name]) for name in PIPELINES)
            print(f"{payload:<7} {px:>6} {round(side * px):>7} | {cells} | {ratio:6.1f}x")
    frames = len(payloads) * len(PX_PER_MODULE) * args.frames
    print()
    print("decoded, all rows: " + ", ".join(f"{name} {hits}/{frames}" for name, hits in totals.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
