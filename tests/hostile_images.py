"""Hostile images for the scanner: each class of input that once cost minutes or hundreds of MiB.

Issue 11 §3 measured them against the unbounded scanner (CPU seconds of ``qr.scan`` /
``Verifier.verify(path)``): a tiling of QR finder patterns (3000x3000: 184 s; 6324x6324: the first
zxing-cpp pass alone past 285 s), a finder-like 1:1:3:1:1 grid (8192x4882: past 240 s), a progressive
JPEG of 20,000 identical scans (40 MP, 1.76 MB: 108 s), a tiling of version-1 QR codes (98 s), and a
transparent 40 MP PNG (649 MiB peak). Blank and 1-bit-noise images at the pixel limit complete the set.

Every generator is deterministic and builds its file from a small tile, so the files are cheap to
make at full size. ``python tests/hostile_images.py DIR`` writes the whole corpus at the sizes the
issue measured (for ``bench/bench_scan.py --hostile`` and by-hand runs).
"""

from __future__ import annotations

import io
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from econsent.qr import render_image

# The finder pattern's 1:1:3:1:1 profile, one entry per module (True = dark), plus one light separator.
_FINDER_PROFILE = np.array([1, 0, 1, 1, 1, 0, 1, 0], dtype=bool)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


def _tile(tile: np.ndarray, width: int, height: int) -> Image.Image:
    """``tile`` (uint8, gray) repeated to fill ``width`` x ``height`` pixels."""
    reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]))
    return Image.fromarray(np.tile(tile, reps)[:height, :width])


def finder_tiling_png(side: int, *, module_px: int = 2) -> bytes:
    """A ``side`` x ``side`` PNG tiled with complete QR finder patterns (7x7 modules and a separator)."""
    ring = np.zeros((8, 8), dtype=bool)
    ring[0:7, 0:7] = True
    ring[1:6, 1:6] = False
    ring[2:5, 2:5] = True
    tile = np.where(ring, 0, 255).astype(np.uint8).repeat(module_px, 0).repeat(module_px, 1)
    return _png(_tile(tile, side, side))


def finder_grid_png(width: int, height: int, *, module_px: int = 2) -> bytes:
    """A PNG whose every row and column crosses runs of 1:1:3:1:1: dark where both profiles are dark."""
    profile = _FINDER_PROFILE.repeat(module_px)
    tile = np.where(np.logical_and.outer(profile, profile), 0, 255).astype(np.uint8)
    return _png(_tile(tile, width, height))


def qr_tiling_png(side: int, *, module_px: int = 2) -> bytes:
    """A ``side`` x ``side`` PNG tiled with one version-1 QR code (quiet zone 1 module)."""
    code = np.asarray(render_image("EC1:1", ecc="L", module_px=module_px, border=1).convert("L"))
    return _png(_tile(code, side, side))


def transparent_png(width: int, height: int) -> bytes:
    """A fully transparent RGBA PNG (Pillow decodes it to 4 bytes a pixel)."""
    return _png(Image.new("RGBA", (width, height), (0, 0, 0, 0)))


def blank_png(width: int, height: int) -> bytes:
    """A white 8-bit grey PNG."""
    return _png(Image.new("L", (width, height), 255))


def noise_png(width: int, height: int, *, seed: int = 0) -> bytes:
    """A 1-bit PNG of uniform random pixels (incompressible: 1 bit a pixel on disk)."""
    bits = np.random.default_rng(seed).integers(0, 2, (height, width), dtype=np.uint8).astype(bool)
    return _png(Image.fromarray(bits))


def _segments(jpeg: bytes) -> list[tuple[int, bytes]]:
    """A JPEG as (marker, bytes) pieces: each marker segment, and each SOS with its entropy-coded data."""
    pieces: list[tuple[int, bytes]] = [(0xD8, jpeg[:2])]
    position = 2
    while position < len(jpeg):
        marker = jpeg[position + 1]
        if marker == 0xD9:
            pieces.append((marker, jpeg[position : position + 2]))
            break
        (length,) = struct.unpack(">H", jpeg[position + 2 : position + 4])
        end = position + 2 + length
        if marker == 0xDA:  # entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or RSTn
            while not (jpeg[end] == 0xFF and jpeg[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
        pieces.append((marker, jpeg[position:end]))
        position = end
    return pieces


def progressive_jpeg(width: int, height: int, *, scans: int) -> bytes:
    """A progressive JPEG with ``scans`` start-of-scan segments: its last AC scan repeated.

    A decoder runs every scan over every block of the image, so the cost grows with ``scans`` times the
    pixel count while the file grows by a few dozen bytes a scan (a blank image codes a scan as end-of-
    band runs). Built byte-wise from the scans Pillow's encoder writes.
    """
    buffer = io.BytesIO()
    Image.new("L", (width, height), 200).save(buffer, format="JPEG", progressive=True, quality=90)
    pieces = _segments(buffer.getvalue())
    sos = [piece for marker, piece in pieces if marker == 0xDA]
    head = b"".join(piece for marker, piece in pieces if marker not in (0xDA, 0xD9))
    repeated = sos[-1]
    body = b"".join(sos) + repeated * max(0, scans - len(sos))
    return head + body + b"\xff\xd9"


def count_scans(jpeg: bytes) -> int:
    """How many SOS segments ``jpeg`` holds (for checking the generator)."""
    return sum(marker == 0xDA for marker, _ in _segments(jpeg))


#: Every class at the size issue 11 measured it: name -> (generator, description).
CORPUS: dict[str, tuple[Callable[[], bytes], str]] = {
    "finder-tiling-3000": (lambda: finder_tiling_png(3000), "finder-pattern tiling PNG, 3000x3000"),
    "finder-tiling-6324": (lambda: finder_tiling_png(6324), "finder-pattern tiling PNG, 6324x6324"),
    "finder-grid-8192x4882": (lambda: finder_grid_png(8192, 4882), "1:1:3:1:1 grid PNG, 8192x4882"),
    "progressive-jpeg-20000": (
        lambda: progressive_jpeg(6324, 6324, scans=20_000),
        "progressive JPEG, 6324x6324, 20,000 scans",
    ),
    "qr-tiling-6324": (lambda: qr_tiling_png(6324), "tiling of version-1 QR codes, 6324x6324"),
    "transparent-6324": (lambda: transparent_png(6324, 6324), "transparent RGBA PNG, 6324x6324"),
    "blank-6324": (lambda: blank_png(6324, 6324), "blank PNG, 6324x6324"),
    "noise-6324": (lambda: noise_png(6324, 6324), "1-bit noise PNG, 6324x6324"),
}


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile")
    out.mkdir(parents=True, exist_ok=True)
    for name, (make, description) in CORPUS.items():
        data = make()
        suffix = ".jpg" if "jpeg" in name else ".png"
        (out / f"{name}{suffix}").write_bytes(data)
        print(f"{name}{suffix}: {len(data):,} bytes ({description})")
