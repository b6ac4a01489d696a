"""Synthetic camera frames of a QR code shown on a phone, for scan tests and benchmarks.

The model is the one the project's decoding baseline used: the code sits on a phone-like screen (a
light quiet zone inside a dark bezel), pasted into a cluttered background with a perspective warp
(corners jittered by up to 7% of the side) and a rotation of up to ±15°, supersampled 2x; contrast is
lowered (dark modules 45-85, light 150-200, then x0.7-0.9 overall); then Gaussian blur (sigma 1.5 px),
Gaussian noise (sigma 3-8) and a JPEG round trip at quality 40. It has no glare, moiré or motion blur,
so it ranks decoders and settings rather than predicting field success rates.

Every random choice comes from the seed, so a frame is the same on every run.
"""

from __future__ import annotations

import io
import math
import random
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from econsent.qr import render_image

_SUPERSAMPLE = 2
_BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def base45(data: bytes) -> str:
    """RFC 9285 Base45, small enough to trust by reading: 2 bytes -> 3 characters, 1 byte -> 2."""
    out = []
    for i in range(0, len(data), 2):
        chunk = data[i : i + 2]
        n = int.from_bytes(chunk, "big")
        for _ in range(3 if len(chunk) == 2 else 2):
            n, digit = divmod(n, 45)
            out.append(_BASE45[digit])
    return "".join(out)


def presentation_text(n_bytes: int, *, seed: int, digits: bool = False) -> str:
    """An ``EC1:`` text carrying ``n_bytes`` random bytes, as a phone would show a presentation.

    Base45 by default; ``digits=True`` gives the decimal form econsent's codec writes (the bytes
    behind a 0x01 sentinel, as one big-endian number).
    """
    data = random.Random(seed).randbytes(n_bytes)
    if digits:
        return "EC1:" + str(int.from_bytes(b"\x01" + data, "big"))
    return "EC1:" + base45(data)


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 projective map taking the four ``src`` points to the four ``dst`` points."""
    rows = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    solution = np.linalg.solve(np.array(rows, dtype=float), dst.reshape(-1).astype(float))
    return np.append(solution, 1.0).reshape(3, 3)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    homogeneous = np.column_stack([points, np.ones(len(points))]) @ matrix.T
    return homogeneous[:, :2] / homogeneous[:, 2:]


@lru_cache(maxsize=8)
def _modules(text: str, ecc: str) -> Image.Image:
    """The code at one pixel per module with its quiet zone, cached: benchmarks reuse one text."""
    return render_image(text, ecc=ecc, module_px=1, border=4)


def _clutter(width: int, height: int, rnd: random.Random, rng: np.random.Generator) -> Image.Image:
    """A background of smooth shading plus hard-edged shapes and lines, to give detectors false leads."""
    shading = rng.uniform(40, 220, size=(6, 10)).astype(np.uint8)
    background = Image.fromarray(shading).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(background)
    for _ in range(60):
        x, y = rnd.uniform(0, width), rnd.uniform(0, height)
        w, h = rnd.uniform(8, 220), rnd.uniform(8, 220)
        fill = rnd.randrange(256)
        shape = rnd.randrange(3)
        if shape == 0:
            draw.rectangle((x, y, x + w, y + h), fill=fill)
        elif shape == 1:
            draw.ellipse((x, y, x + w, y + h), fill=fill)
        else:
            draw.line((x, y, x + w, y + h), fill=fill, width=rnd.randrange(1, 6))
    return background


def camera_frame(
    text: str,
    *,
    seed: int,
    px_per_module: float = 4.0,
    width: int = 1280,
    height: int = 720,
    ecc: str = "M",
    tilt_deg: float = 15.0,
    corner_jitter: float = 0.07,
    blur: float = 1.5,
    noise: tuple[float, float] = (3.0, 8.0),
    jpeg_quality: int = 40,
) -> Image.Image:
    """A grayscale ``width`` x ``height`` frame of the QR code of ``text``, as a camera would see it.

    ``px_per_module`` is the module size in frame pixels before the warp; ``tilt_deg`` bounds the
    rotation, ``corner_jitter`` the perspective (a fraction of the side), ``noise`` the range the
    noise sigma is drawn from. The phone's bezel may run off the frame edge, the code itself may
    not: ValueError if the code cannot fit.
    """
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)

    dark, light = rnd.uniform(45, 85), rnd.uniform(150, 200)
    bezel_level = rnd.uniform(10, 40)
    margin, bezel = rnd.uniform(0, 2), rnd.uniform(2, 4)  # extra screen and bezel, in modules

    # The phone face, drawn at `scale` px per module: enough that the 2x-supersampled warp never
    # minifies it, so bilinear sampling stays alias-free.
    modules = _modules(text, ecc)
    code_side = modules.width
    scale = math.ceil(_SUPERSAMPLE * px_per_module)
    screen = round((code_side + 2 * margin) * scale)
    face_side = screen + 2 * round(bezel * scale)
    face = Image.new("L", (face_side, face_side), round(bezel_level))
    offset = (face_side - screen) // 2
    face.paste(round(light), (offset, offset, offset + screen, offset + screen))
    levels = [round(dark)] * 128 + [round(light)] * 128
    code = modules.convert("L").point(levels).resize((code_side * scale,) * 2, Image.Resampling.NEAREST)
    code_at = (face_side - code.width) // 2
    face.paste(code, (code_at, code_at))

    # Where the face lands in the frame: rotated, corners jittered, then placed so the code fits.
    half = face_side / scale * px_per_module / 2
    angle = math.radians(rnd.uniform(-tilt_deg, tilt_deg))
    cos, sin = math.cos(angle), math.sin(angle)
    corners = []
    for cx, cy in ((-half, -half), (half, -half), (half, half), (-half, half)):
        jx, jy = (rnd.uniform(-corner_jitter, corner_jitter) * 2 * half for _ in range(2))
        corners.append((cx * cos - cy * sin + jx, cx * sin + cy * cos + jy))
    face_corners = np.array([(0, 0), (face_side, 0), (face_side, face_side), (0, face_side)], dtype=float)
    to_frame = _homography(face_corners, np.array(corners))
    code_corners = face_corners * (code.width / face_side) + code_at
    code_box = _apply(to_frame, code_corners)
    low, high = code_box.min(axis=0), code_box.max(axis=0)
    if np.any(high - low > (width, height)):
        raise ValueError(f"a {code_side}-module code at {px_per_module} px/module does not fit {width}x{height}")
    shift = (rnd.uniform(-low[0], width - high[0]), rnd.uniform(-low[1], height - high[1]))
    quad = np.array(corners) + shift

    # Warp the face into its bounding box at 2x, then box-filter down: supersampled edges.
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    box_size = ((x1 - x0) * _SUPERSAMPLE, (y1 - y0) * _SUPERSAMPLE)
    box_to_frame = np.array([[1 / _SUPERSAMPLE, 0, x0], [0, 1 / _SUPERSAMPLE, y0], [0, 0, 1]])
    box_to_face = np.linalg.inv(_homography(face_corners, quad)) @ box_to_frame
    coefficients = tuple((box_to_face / box_to_face[2, 2]).reshape(-1)[:8])
    warped = face.transform(box_size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR)
    mask = Image.new("L", box_size, 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in (quad - (x0, y0)) * _SUPERSAMPLE], fill=255)
    frame = _clutter(width, height, rnd, rng)
    frame.paste(warped.reduce(_SUPERSAMPLE), (int(x0), int(y0)), mask.reduce(_SUPERSAMPLE))

    contrast = rnd.uniform(0.7, 0.9)
    frame = frame.point([round(128 + (v - 128) * contrast) for v in range(256)])
    frame = frame.filter(ImageFilter.GaussianBlur(blur))
    sigma = rnd.uniform(*noise)
    noisy = np.asarray(frame, dtype=np.float32) + rng.standard_normal((height, width), dtype=np.float32) * sigma
    frame = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))

    buffer = io.BytesIO()
    frame.save(buffer, format="JPEG", quality=jpeg_quality)
    buffer.seek(0)
    return Image.open(buffer).convert("L")
