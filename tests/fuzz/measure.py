"""Time per verification and per scan, and memory per verification, for the limits in docs/security.md.

    python tests/fuzz/measure.py [--repeat N] [--skip-giants]

Tests assert behaviour; this prints numbers. "Giants" are hostile images just inside the scanner's
limits (40 megapixels, under 20 MB): blank, 1-bit noise, and a tiling of small QR codes, the cases that
make decoders work longest. Times are wall-clock on whatever machine runs this; compare them only within
one run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from world import NOW, payload_of, world

from econsent import VerificationError, _wire


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and maximum seconds over ``repeat`` calls (exceptions count as completed calls)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        with contextlib.suppress(Exception):  # a refusal is a result here
            call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


def peak_bytes(call: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        with contextlib.suppress(Exception):
            call()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def verification(repeat: int) -> None:
    w = world()
    verifier = w.verifier()
    texts = {
        "ES256 full licence": w.presentations["full"],
        "Ed25519 driving-check": w.presentations["ed25519"],
        "every-kind (depth-3 tree)": w.presentations["every-kind"],
        "rejected: bad holder signature": w.presentations["full"][:-1]
        + str((int(w.presentations["full"][-1]) + 1) % 10),
        "rejected: 3,706 digits": "EC1:" + "9" * 3702,
        "rejected: nested 1,535 deep": _wire.text_from_payload(b"\x91" * 1535 + b"\xc0"),
    }
    print(f"{'verification':<34} {'median ms':>10} {'max ms':>8} {'peak KiB':>9}")
    for name, text in texts.items():
        median, worst = timed(lambda t=text: verifier.verify(t, now=NOW), repeat)
        peak = peak_bytes(lambda t=text: verifier.verify(t, now=NOW))
        print(f"{name:<34} {median * 1000:>10.3f} {worst * 1000:>8.3f} {peak / 1024:>9.1f}")


def scans(repeat: int, giants: bool) -> None:
    import numpy as np
    from PIL import Image

    from econsent import qr

    w = world()
    verifier = w.verifier()

    def encoded(image: Image.Image, form: str = "PNG") -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format=form)
        return buffer.getvalue()

    code = qr.render_image(w.presentations["driving-check"], module_px=4).convert("L")
    frame = Image.new("L", (1280, 720), 200)
    frame.paste(code, ((1280 - code.width) // 2, (720 - code.height) // 2))
    images: dict[str, bytes] = {
        "1280x720 frame with a code (PNG)": encoded(frame),
        "1280x720 frame with a code (JPEG)": encoded(frame, "JPEG"),
        "1280x720 blank": encoded(Image.new("L", (1280, 720), 255)),
    }
    if giants:
        side = 6324  # 39,992,976 pixels: just inside MAX_IMAGE_PIXELS
        rng = np.random.default_rng(7)
        tile = np.asarray(qr.render_image("EC1:12345", module_px=2, border=1).convert("L"))
        reps = side // tile.shape[0] + 1
        images["6324x6324 blank (40 MP)"] = encoded(Image.new("L", (side, side), 255))
        noise = (rng.random((side, side)) > 0.5).astype(np.uint8) * 255
        images["6324x6324 1-bit noise (40 MP)"] = encoded(Image.fromarray(noise).convert("1"))
        tiled = np.tile(tile, (reps, reps))[:side, :side]
        images["6324x6324 tiled QR codes (40 MP)"] = encoded(Image.fromarray(tiled).convert("1"))
    print(f"\n{'scan and verify':<34} {'bytes':>10} {'median s':>9} {'max s':>7}  result")
    for name, data in images.items():
        result = "valid"
        try:
            qr.verify_image(verifier, data, now=NOW)
        except VerificationError as error:
            result = error.code.value
        runs = repeat if len(data) < 1_000_000 and "40 MP" not in name else 1
        median, worst = timed(lambda d=data: qr.verify_image(verifier, d, now=NOW), runs)
        print(f"{name:<34} {len(data):>10,} {median:>9.3f} {worst:>7.3f}  {result}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--skip-giants", action="store_true", help="skip the 40-megapixel hostile images")
    args = parser.parse_args()
    assert payload_of(world().presentations["full"])
    verification(args.repeat)
    scans(max(3, args.repeat // 10), not args.skip_giants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
