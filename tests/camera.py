"""Synthetic camera frames of a QR code shown on a phone, for scan tests and benchmarks.

A frame is described by a :class:`Scene` (every physical parameter, nothing random left) and rendered
by :func:`render_scene`. The phone face (a light screen with the code, inside a dark bezel) is placed in
front of a pinhole camera (focal length ~900 px, a 720p webcam's ~70° field of view): rotated in the
screen plane, tilted out of it (perspective foreshortening), and optionally pushed around by the corner
jitter of the project's first model. It is warped into a cluttered background (supersampled 2x), then
the screen and camera effects follow in the order they happen: screen moiré, a glare spot on the glass,
global contrast, defocus (Gaussian) and motion blur (a line), sensor noise and a JPEG round trip. Dark
mode draws the code light on a dark screen.

Two ways in:

* :func:`camera_frame`: the model of the project's decoding baseline (``anchors.md`` §5c), with the
  new effects available as keyword options (all off by default).
* :func:`random_scene` / :func:`corpus_frame`: the benchmark corpus, where every parameter is drawn
  from a seed over the ranges in :data:`CORPUS_RANGES`; a scene that does not fit the frame is drawn
  again from the next sub-seed, keeping the module size.

Every random choice comes from the seed, so a frame is the same on every run. It is a model: it ranks
decoders and settings rather than predicting field success rates.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from econsent.qr import render_image

_SUPERSAMPLE = 2
_BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
FOCAL_PX = 900.0  # a 1280x720 webcam with a ~70° horizontal field of view


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


@dataclass(frozen=True, slots=True)
class Scene:
    """Everything about one frame except the background clutter and the noise pattern (from the seed).

    Lengths are frame pixels unless named otherwise; levels are 0-255 as the screen shows them.
    """

    px_per_module: float = 4.0  # module size at the code's centre, before perspective
    rotation_deg: float = 0.0  # in the screen plane
    tilt_deg: float = 0.0  # out of the screen plane: perspective foreshortening
    tilt_axis_deg: float = 0.0  # direction of the tilt axis in the screen plane
    corner_jitter: tuple[float, ...] = (0.0,) * 8  # per corner x, y, as a fraction of the side
    dark_level: float = 60.0  # the code's dark modules (light ones in dark mode)
    light_level: float = 180.0  # the screen and the code's light modules (dark ones in dark mode)
    bezel_level: float = 25.0
    margin: float = 1.0  # screen beyond the quiet zone, in modules
    bezel: float = 3.0  # bezel width, in modules
    placement: tuple[float, float] = (0.5, 0.5)  # where the code sits in the room the frame leaves
    contrast: float = 0.8  # global contrast around mid-grey
    defocus: float = 1.5  # Gaussian sigma
    motion_px: float = 0.0  # motion blur length
    motion_deg: float = 0.0
    noise: float = 5.0  # Gaussian sensor noise sigma
    jpeg_quality: int = 40
    dark_mode: bool = False
    glare: float = 0.0  # peak brightness the spot adds
    glare_radius: float = 0.2  # spot sigma, as a fraction of the code's side
    glare_at: tuple[float, float] = (0.5, 0.5)  # spot centre in code coordinates (0-1)
    moire: float = 0.0  # fringe amplitude, a fraction of the screen brightness
    moire_period: float = 12.0  # fringe period in frame pixels
    moire_deg: float = 0.0
    focal_px: float = FOCAL_PX

    def describe(self) -> str:
        """A compact one-line summary of the hard parts, for failure listings."""
        parts = [
            f"{self.px_per_module:.1f}px",
            f"rot {self.rotation_deg:.0f}",
            f"tilt {self.tilt_deg:.0f}",
            f"defocus {self.defocus:.2f}",
            f"noise {self.noise:.1f}",
            f"jpeg {self.jpeg_quality}",
            f"levels {self.dark_level:.0f}/{self.light_level:.0f}",
            f"contrast {self.contrast:.2f}",
        ]
        if self.motion_px:
            parts.append(f"motion {self.motion_px:.1f}px")
        if self.glare:
            parts.append(f"glare {self.glare:.0f}@{self.glare_radius:.2f}")
        if self.moire:
            parts.append(f"moire {self.moire:.2f}/{self.moire_period:.0f}px")
        if self.dark_mode:
            parts.append("dark mode")
        return ", ".join(parts)


#: The benchmark corpus: the range each parameter is drawn from (uniform), and how often each optional
#: effect is present. Chosen from how a counter webcam sees a phone, not from decoder results:
#: - a dimmed screen lowers its white level, while its black stays at the ambient light it reflects,
#:   kept below half the white level (a screen's contrast ratio stays above 2:1 even in a bright room);
#: - glare is either a lamp's small, bright reflection (it saturates a few percent of the code) or a
#:   window's broad, faint sheen (it washes contrast out); a reflection that blots out the code is fixed
#:   by tilting the phone, not by a decoder, so it is not in the corpus;
#: - defocus runs from a settled autofocus (sigma 0.5 px) to a hunting one (2 px);
#: - motion blur is a hand holding the phone out (up to 4 px, a module at 4 px/module, in a 1/30 s
#:   exposure); a phone still being moved into view smears every frame and is waited out, not decoded.
CORPUS_RANGES: dict[str, Any] = {
    "rotation_deg": (-180.0, 180.0),  # phones are held any way round
    "tilt_deg": (0.0, 30.0),  # the bound for perspective tilt
    "light_level": (150.0, 235.0),
    "dimmed": (0.3, (80.0, 130.0)),  # share of dimmed screens, and their white level
    "dark_level": (15.0, 80.0),  # capped at half the white level
    "contrast": (0.65, 1.0),  # the camera's tone curve, around mid-grey
    "defocus": (0.5, 2.0),
    "motion": (0.3, (1.0, 4.0)),  # share of frames with motion blur, and its length in pixels
    "noise": (2.0, 8.0),
    "jpeg_quality": (30, 95),
    "dark_mode": 0.25,
    "glare": (0.3, {"lamp": ((100.0, 200.0), (0.03, 0.08)), "sheen": ((30.0, 90.0), (0.25, 0.5))}),
    "moire": (0.3, (0.05, 0.2), (6.0, 30.0)),  # share, amplitude, period in pixels
}


def random_scene(seed: int, px_per_module: float, attempt: int = 0) -> Scene:
    """A scene drawn from :data:`CORPUS_RANGES` at ``px_per_module``: the benchmark's frame distribution.

    ``seed`` and ``px_per_module`` together pick the scene, so the rows of a benchmark table are
    independent; ``attempt`` draws another one for the same pair.
    """
    rnd = random.Random(f"scene {seed} {px_per_module} {attempt}")
    r = CORPUS_RANGES

    def between(bounds: tuple[float, float]) -> float:
        return rnd.uniform(*bounds)

    dimmed_share, dimmed_light = r["dimmed"]
    light = between(dimmed_light) if rnd.random() < dimmed_share else between(r["light_level"])
    dark = min(between(r["dark_level"]), light / 2)
    motion_share, motion_len = r["motion"]
    glare_share, glare_kinds = r["glare"]
    moire_share, moire_amp, moire_period = r["moire"]
    has_motion, has_glare, has_moire = (rnd.random() < s for s in (motion_share, glare_share, moire_share))
    glare_add, glare_size = glare_kinds[rnd.choice(sorted(glare_kinds))]
    return Scene(
        px_per_module=px_per_module,
        rotation_deg=between(r["rotation_deg"]),
        tilt_deg=between(r["tilt_deg"]),
        tilt_axis_deg=rnd.uniform(0, 360),
        dark_level=dark,
        light_level=light,
        bezel_level=rnd.uniform(5, 40),
        margin=rnd.uniform(0, 2),
        bezel=rnd.uniform(2, 4),
        placement=(rnd.random(), rnd.random()),
        contrast=between(r["contrast"]),
        defocus=between(r["defocus"]),
        motion_px=between(motion_len) if has_motion else 0.0,
        motion_deg=rnd.uniform(0, 180),
        noise=between(r["noise"]),
        jpeg_quality=rnd.randint(*r["jpeg_quality"]),
        dark_mode=rnd.random() < r["dark_mode"],
        glare=between(glare_add) if has_glare else 0.0,
        glare_radius=between(glare_size),
        glare_at=(rnd.uniform(0.1, 0.9), rnd.uniform(0.1, 0.9)),
        moire=between(moire_amp) if has_moire else 0.0,
        moire_period=between(moire_period),
        moire_deg=rnd.uniform(0, 180),
        focal_px=rnd.uniform(800, 1000),
    )


def corpus_frame(
    text: str,
    *,
    seed: int,
    px_per_module: float,
    width: int = 1280,
    height: int = 720,
    ecc: str = "M",
    border: int = 4,
) -> tuple[Image.Image, Scene]:
    """A corpus frame and its scene. A scene whose code would leave the frame is drawn again.

    Large codes cannot be rotated far in a 720-pixel-high frame; redrawing keeps the module size and
    lets rotation and tilt give way, as they do when a phone fills a camera's view.
    """
    for attempt in range(200):
        scene = random_scene(seed, px_per_module, attempt)
        try:
            return render_scene(text, scene, seed=seed, width=width, height=height, ecc=ecc, border=border), scene
        except ValueError:
            continue
    scene = replace(random_scene(seed, px_per_module), rotation_deg=0.0, tilt_deg=0.0)
    return render_scene(text, scene, seed=seed, width=width, height=height, ecc=ecc, border=border), scene


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


@lru_cache(maxsize=16)
def _modules(text: str, ecc: str, border: int = 4) -> Image.Image:
    """The code at one pixel per module with its quiet zone, cached: benchmarks reuse one text."""
    return render_image(text, ecc=ecc, module_px=1, border=border)


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


def _face(text: str, scene: Scene, ecc: str, border: int, scale: int) -> tuple[Image.Image, int, int]:
    """The phone face at ``scale`` px per module: (image, face side, code offset), moiré included."""
    modules = _modules(text, ecc, border)
    code_side = modules.width
    screen_level, code_level = scene.light_level, scene.dark_level
    if scene.dark_mode:  # a dark theme: the screen is dark and the code's dark modules are drawn light
        screen_level, code_level = scene.dark_level, scene.light_level
    screen = round((code_side + 2 * scene.margin) * scale)
    face_side = screen + 2 * round(scene.bezel * scale)
    face = Image.new("L", (face_side, face_side), round(scene.bezel_level))
    offset = (face_side - screen) // 2
    face.paste(round(screen_level), (offset, offset, offset + screen, offset + screen))
    levels = [round(code_level)] * 128 + [round(screen_level)] * 128
    code = modules.convert("L").point(levels).resize((code_side * scale,) * 2, Image.Resampling.NEAREST)
    code_at = (face_side - code.width) // 2
    face.paste(code, (code_at, code_at))
    if scene.moire:
        # Fringes where the screen's pixel grid beats with the sensor's: two crossed sinusoids.
        period = scene.moire_period * scale / scene.px_per_module  # frame pixels -> face pixels
        angle = math.radians(scene.moire_deg)
        ys, xs = np.mgrid[0:screen, 0:screen].astype(np.float32)
        along = xs * math.cos(angle) + ys * math.sin(angle)
        across = -xs * math.sin(angle) + ys * math.cos(angle)
        fringes = np.sin(2 * np.pi * along / period) * (0.6 + 0.4 * np.sin(2 * np.pi * across / (1.7 * period)))
        area = np.asarray(face, dtype=np.float32)
        window = area[offset : offset + screen, offset : offset + screen]
        window *= 1 + scene.moire * fringes
        face = Image.fromarray(np.clip(area, 0, 255).astype(np.uint8))
    return face, face_side, code_at


def _rotation(axis_deg: float, tilt_deg: float, roll_deg: float) -> np.ndarray:
    """Tilt about an in-plane axis at ``axis_deg``, then roll in the image plane."""
    a, t, r = (math.radians(v) for v in (axis_deg, tilt_deg, roll_deg))
    axis = np.array([math.cos(a), math.sin(a), 0.0])
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    tilt = np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * (k @ k)  # Rodrigues
    roll = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return roll @ tilt


def render_scene(
    text: str,
    scene: Scene,
    *,
    seed: int,
    width: int = 1280,
    height: int = 720,
    ecc: str = "M",
    border: int = 4,
) -> Image.Image:
    """The grayscale ``width`` x ``height`` frame of ``scene`` showing the QR code of ``text``.

    ``ecc`` and ``border`` (the quiet zone, in modules) are how the phone renders the code. ``seed``
    draws the background clutter and the noise. The phone's bezel may run off the frame edge, the code
    itself may not: ValueError if the code cannot fit.
    """
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    px = scene.px_per_module
    scale = math.ceil(_SUPERSAMPLE * px)  # never minified by the 2x warp, so bilinear stays alias-free
    face, face_side, code_at = _face(text, scene, ecc, border, scale)
    code_px = _modules(text, ecc, border).width * scale

    # The face in front of a pinhole camera: centred, at the distance that gives `px` per module.
    half = face_side / scale / 2  # in modules
    plane = np.array([(-half, -half), (half, -half), (half, half), (-half, half)])
    jitter = np.array(scene.corner_jitter, dtype=float).reshape(4, 2) * 2 * half
    rotation = _rotation(scene.tilt_axis_deg, scene.tilt_deg, scene.rotation_deg)
    distance = scene.focal_px / px
    points = (np.column_stack([plane + jitter, np.zeros(4)]) @ rotation.T) + (0, 0, distance)
    if np.any(points[:, 2] <= 0.1 * distance):
        raise ValueError("the phone is tilted past the camera")
    corners = scene.focal_px * points[:, :2] / points[:, 2:]
    face_corners = np.array([(0, 0), (face_side, 0), (face_side, face_side), (0, face_side)], dtype=float)
    to_frame = _homography(face_corners, corners)
    code_corners = np.array([(0, 0), (code_px, 0), (code_px, code_px), (0, code_px)], dtype=float) + code_at
    code_box = _apply(to_frame, code_corners)
    low, high = code_box.min(axis=0), code_box.max(axis=0)
    if np.any(high - low > (width - 2, height - 2)):
        side = _modules(text, ecc, border).width
        raise ValueError(f"a {side}-module code at {px} px/module does not fit {width}x{height} in this pose")
    room = np.array([width - 1, height - 1]) - (high - low)
    shift = -low + np.array(scene.placement) * room
    quad = corners + shift
    code_quad = code_box + shift

    # Warp the face into its bounding box at 2x, then box-filter down: supersampled edges.
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    box_size = (int(x1 - x0) * _SUPERSAMPLE, int(y1 - y0) * _SUPERSAMPLE)
    box_to_frame = np.array([[1 / _SUPERSAMPLE, 0, x0], [0, 1 / _SUPERSAMPLE, y0], [0, 0, 1]])
    box_to_face = np.linalg.inv(_homography(face_corners, quad)) @ box_to_frame
    coefficients = tuple((box_to_face / box_to_face[2, 2]).reshape(-1)[:8])
    warped = face.transform(box_size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR)
    mask = Image.new("L", box_size, 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in (quad - (x0, y0)) * _SUPERSAMPLE], fill=255)
    frame = _clutter(width, height, rnd, rng)
    frame.paste(warped.reduce(_SUPERSAMPLE), (int(x0), int(y0)), mask.reduce(_SUPERSAMPLE))

    pixels = np.asarray(frame, dtype=np.float32)
    if scene.glare:
        # A specular spot on the glass: added light, strongest at its centre, on the phone only.
        gx, gy = scene.glare_at
        top, right, left = code_quad[0], code_quad[1], code_quad[3]
        centre = top + gx * (right - top) + gy * (left - top)
        sigma = scene.glare_radius * float(np.linalg.norm(right - top))
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        spot = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma * sigma))
        phone_mask = Image.new("L", (width, height), 0)
        ImageDraw.Draw(phone_mask).polygon([tuple(p) for p in quad], fill=255)
        phone = np.asarray(phone_mask, dtype=np.float32) / 255
        pixels = pixels + scene.glare * spot * phone
    pixels = 128 + (pixels - 128) * scene.contrast
    frame = Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8))
    if scene.defocus:
        frame = frame.filter(ImageFilter.GaussianBlur(scene.defocus))
    pixels = np.asarray(frame, dtype=np.float32)
    if scene.motion_px:
        pixels = _motion_blur(pixels, scene.motion_px, scene.motion_deg)
    pixels = pixels + rng.standard_normal((height, width), dtype=np.float32) * scene.noise
    frame = Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8))

    buffer = io.BytesIO()
    frame.save(buffer, format="JPEG", quality=scene.jpeg_quality)
    buffer.seek(0)
    return Image.open(buffer).convert("L")


def _motion_blur(pixels: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
    """Average ``pixels`` along a line of ``length`` pixels: the camera or phone moved while exposing."""
    taps = max(2, math.ceil(length) + 1)
    angle = math.radians(angle_deg)
    padded = np.pad(pixels, math.ceil(length), mode="edge")
    pad = math.ceil(length)
    height, width = pixels.shape
    total = np.zeros_like(pixels)
    for t in np.linspace(-length / 2, length / 2, taps):
        dx, dy = round(t * math.cos(angle)), round(t * math.sin(angle))
        total += padded[pad + dy : pad + dy + height, pad + dx : pad + dx + width]
    return total / taps


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
    perspective_deg: float = 0.0,
    motion_blur: float = 0.0,
    glare: float = 0.0,
    moire: float = 0.0,
    dark_mode: bool = False,
) -> Image.Image:
    """A grayscale ``width`` x ``height`` frame of the QR code of ``text``, as a camera would see it.

    The baseline model: ``px_per_module`` is the module size in frame pixels before the warp;
    ``tilt_deg`` bounds the in-plane rotation, ``corner_jitter`` the perspective (a fraction of the
    side), ``noise`` the range the noise sigma is drawn from; dark modules 45-85, light 150-200, then
    x0.7-0.9 contrast overall. The further effects are off by default: ``perspective_deg`` bounds an
    out-of-plane tilt, ``motion_blur`` is a blur length in pixels, ``glare`` the brightness a spot on
    the glass adds, ``moire`` the fringe amplitude, ``dark_mode`` draws the code light on dark.
    The phone's bezel may run off the frame edge, the code itself may not: ValueError if it cannot fit.
    """
    rnd = random.Random(seed)
    scene = Scene(
        px_per_module=px_per_module,
        dark_level=rnd.uniform(45, 85),
        light_level=rnd.uniform(150, 200),
        bezel_level=rnd.uniform(10, 40),
        margin=rnd.uniform(0, 2),
        bezel=rnd.uniform(2, 4),
        rotation_deg=rnd.uniform(-tilt_deg, tilt_deg),
        corner_jitter=tuple(rnd.uniform(-corner_jitter, corner_jitter) for _ in range(8)),
        tilt_deg=rnd.uniform(0, perspective_deg),
        tilt_axis_deg=rnd.uniform(0, 360),
        placement=(rnd.random(), rnd.random()),
        contrast=rnd.uniform(0.7, 0.9),
        defocus=blur,
        noise=rnd.uniform(*noise),
        jpeg_quality=jpeg_quality,
        motion_px=motion_blur,
        motion_deg=rnd.uniform(0, 180),
        glare=glare,
        glare_at=(rnd.uniform(0.2, 0.8), rnd.uniform(0.2, 0.8)),
        moire=moire,
        moire_period=rnd.uniform(6, 30),
        moire_deg=rnd.uniform(0, 180),
        dark_mode=dark_mode,
    )
    return render_scene(text, scene, seed=seed, width=width, height=height, ecc=ecc)


def blank_frame(*, seed: int, width: int = 1280, height: int = 720) -> Image.Image:
    """A frame of clutter with no code, for checking that nothing is read where nothing is shown."""
    rnd = random.Random(seed)
    frame = _clutter(width, height, rnd, np.random.default_rng(seed)).filter(ImageFilter.GaussianBlur(1.0))
    buffer = io.BytesIO()
    frame.save(buffer, format="JPEG", quality=60)
    buffer.seek(0)
    return Image.open(buffer).convert("L")
