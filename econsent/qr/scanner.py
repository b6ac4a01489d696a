"""Render presentation text as QR codes, and read QR codes back from images and camera frames.

Payloads are text (an uppercase prefix such as ``EC1:`` plus Base45 or decimal digits), and
rendering splits them into the cheapest alphanumeric, numeric and byte segments: at a fixed
on-screen size every QR version saved means larger modules and more successful scans.

Scanning is a pipeline (:class:`Scanner`): zxing-cpp (the most robust and fastest decoder on camera
frames) reads the frame as it is; only when that finds nothing do cheap preprocessing passes follow
(inversion for dark-mode screens, a sharpening band-pass for blur, a local-contrast band-pass for
glare, moiré and dim screens), then libzbar, all within a time budget per frame. Both decoders return
exact bytes. Images come from untrusted hands, so sizes are capped before any pixel is decoded.
Pillow, qrcode, the decoders and OpenCV (for cameras) are imported only when a function needs them,
so ``import econsent`` stays light.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib
import io
import json
import os
import selectors
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import IO, TYPE_CHECKING, Any, NamedTuple, TypeAlias

from econsent.errors import ImageRefusal, ImageRefusedError, MissingDependencyError, QRError

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from PIL import Image

__all__ = [
    "DEFAULT_BACKENDS",
    "DEFAULT_BUDGET_MS",
    "DEFAULT_DEADLINE",
    "ECC_LEVELS",
    "LARGE_IMAGE_PIXELS",
    "MAX_DEADLINE",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE",
    "MAX_JPEG_SCANS",
    "MAX_TEXT_CHARS",
    "SCAN_PASSES",
    "SCREEN_BORDER",
    "SCREEN_ECC",
    "WORKER_MEMORY",
    "ImageSource",
    "PassReport",
    "ScanResult",
    "Scanner",
    "available_backends",
    "camera_frames",
    "qr_version",
    "render_for_screen",
    "render_image",
    "render_png",
    "render_svg",
    "render_terminal",
    "scan",
]

#: What :func:`scan` accepts: a file path, encoded image bytes, a Pillow image, or a uint8 numpy
#: array (HxW grayscale, HxWx3 RGB, HxWx4 RGBA; the alpha is laid on white).
ImageSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | Image.Image | NDArray[Any]"

ECC_LEVELS = ("L", "M", "Q", "H")
DEFAULT_BACKENDS = ("zxing", "zbar")

#: The most characters any QR code holds (version 40, ECC L, all digits; 4,296 alphanumeric).
MAX_TEXT_CHARS = 7089
#: Caps checked before decoding pixels: encoded size, then the dimensions from the image header, and
#: the pixels decoded. A JPEG may be up to 8,192 a side, since it is decoded at 1/2, 1/4 or 1/8 scale to
#: fit :data:`MAX_IMAGE_PIXELS` (a 48-megapixel photo decodes as 12); other formats must fit as they are.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_SIDE = 8192
MAX_IMAGE_PIXELS = 4096 * 4096
#: Scans a JPEG may hold: each one costs a pass over every block (progressive photos have 6-12).
MAX_JPEG_SCANS = 32
#: Images larger than this (pixels; a 1080p frame is 2,073,600) get only the cheap passes, ``plain`` and
#: ``invert``: the sharpening passes exist for small, blurred modules in camera frames.
LARGE_IMAGE_PIXELS = 2_500_000
#: Seconds :func:`scan` allows one image by default, decoding included, before the scan worker is stopped.
DEFAULT_DEADLINE = 2.0
#: The longest deadline a caller may set (seconds).
MAX_DEADLINE = 600.0
#: Address space (bytes) a scan worker may map; an image needing more fails inside the worker alone.
WORKER_MEMORY = 1024 * 1024 * 1024

_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
_DIGITS = frozenset("0123456789")
# QR segment mode indicators (ISO/IEC 18004), the values qrcode uses too.
_NUMERIC, _ALNUM, _BYTE = 1, 2, 4
# Formats a QR image plausibly arrives in; the allow-list keeps Pillow away from exotic parsers
# (EPS would even start Ghostscript).
_IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "PPM", "WEBP")

_PILLOW = ("PIL", "Pillow is needed for QR images: pip install Pillow")
_OPENCV = ("cv2", "reading a camera needs OpenCV: pip install opencv-python-headless")
_QRCODE = ("qrcode", "qrcode is needed to render QR codes: pip install qrcode")

# pyzbar 0.1.9 names value 4 CFG_NUM, but libzbar >= 0.23 defines it as ZBAR_CFG_BINARY. Without it,
# zbar guesses a text encoding for byte-mode data and returns it re-encoded as UTF-8.
_ZBAR_CFG_BINARY = 4
# fourcc "Y800" (8-bit grayscale); pyzbar mislabels it "L800".
_ZBAR_FOURCC_Y800 = 0x30303859
# Rows of an image with transparency laid on white at a time (a band, not a second full-size copy).
_BAND_ROWS = 256


class _Gray(NamedTuple):
    """An 8-bit grayscale image, row-major, one byte per pixel: the form every backend reads."""

    pixels: bytes
    width: int
    height: int


class _Backend(NamedTuple):
    """A decoder: the modules it imports, with install advice, and its read function.

    ``read(gray, invert, downscale)`` returns the payloads found; ``invert`` asks it to also try the
    image inverted (light-on-dark codes) when the normal polarity finds nothing, ``downscale`` to
    also look at smaller copies (which helps large, noisy modules) if the decoder can.
    """

    needs: tuple[tuple[str, str], ...]
    read: Callable[[_Gray, bool, bool], list[bytes]]


def _require(module: str, advice: str) -> None:
    """Import ``module`` now, so a missing optional dependency fails with advice on what to install."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(advice) from exc


# ---------------------------------------------------------------------------------------------
# Rendering


def _check_int(name: str, value: int, low: int, high: int) -> None:
    """Refuse a non-integer or out-of-range rendering option (bool is not an integer here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise QRError(f"{name} must be an integer from {low} to {high}, not {value!r}")


def _segments(text: str, count_bits: dict[int, int]) -> list[tuple[int, str]]:
    """The split of ``text`` into numeric, alphanumeric and byte segments that takes the fewest bits.

    An exact dynamic programme over the characters (the method of Nayuki's QR segment optimiser).
    Costs are in sixths of a bit, so a digit (10/3 bits) and an alphanumeric character (11/2) are
    whole numbers; ``count_bits`` holds each mode's length-field size, which depends on the version.
    """
    header = {mode: (4 + count_bits[mode]) * 6 for mode in (_NUMERIC, _ALNUM, _BYTE)}
    cost = dict(header)  # cheapest encoding so far that ends in an open segment of each mode
    trail: list[dict[int, int]] = []  # per character: the mode of the previous one, for each mode
    for char in text:
        char_cost = {_BYTE: 48 * len(char.encode("utf-8"))}
        if char in _ALPHANUMERIC:
            char_cost[_ALNUM] = 33
        if char in _DIGITS:
            char_cost[_NUMERIC] = 20
        closed = {mode: -(-total // 6) * 6 for mode, total in cost.items()}  # segments end on a whole bit
        step: dict[int, int] = {}
        came_from: dict[int, int] = {}
        for mode, extra in char_cost.items():
            options = {prev: cost[prev] if prev == mode else closed[prev] + header[mode] for prev in cost}
            came_from[mode] = min(options, key=options.__getitem__)
            step[mode] = options[came_from[mode]] + extra
        cost = step
        trail.append(came_from)
    mode = min(cost, key=cost.__getitem__)
    modes = []
    for came_from in reversed(trail):
        modes.append(mode)
        mode = came_from[mode]
    segments = []
    start = 0
    for mode, run in groupby(reversed(modes)):
        length = sum(1 for _ in run)
        segments.append((mode, text[start : start + length]))
        start += length
    return segments


def _qrcode(text: str, ecc: str, border: int) -> Any:
    """A ``qrcode.QRCode`` holding ``text`` in the cheapest segments, at the smallest version.

    qrcode's own optimiser puts runs shorter than 20 characters in byte mode, so a short prefix such
    as ``EC1:`` can cost a version; :func:`_segments` finds the true minimum. Non-alphanumeric text
    goes in byte mode as UTF-8.
    """
    if not isinstance(text, str) or not text:
        raise QRError("QR text must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise QRError(f"QR text has {len(text)} characters; no QR code holds more than {MAX_TEXT_CHARS}")
    if ecc not in ECC_LEVELS:
        raise QRError(f"ecc must be one of {', '.join(ECC_LEVELS)}, not {ecc!r}")
    _check_int("border", border, 0, 16)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise QRError("QR text is not encodable as UTF-8") from exc
    _require(*_QRCODE)
    import qrcode
    import qrcode.constants
    import qrcode.exceptions
    import qrcode.util

    error_correction = getattr(qrcode.constants, f"ERROR_CORRECT_{ecc}")
    # Length fields grow at versions 10 and 27, so the cheapest split depends on the version range.
    # A segment too long for its length field cannot fit that range anyway, so best_fit moves on.
    for first, last in ((1, 9), (10, 26), (27, 40)):
        code = qrcode.QRCode(error_correction=error_correction, border=border)
        for mode, chunk in _segments(text, qrcode.util.mode_sizes_for_version(first)):
            code.add_data(qrcode.util.QRData(chunk.encode("utf-8"), mode=mode))
        try:
            version: int = code.best_fit(start=first)
        # qrcode 8.2 reports overflow as ValueError from its version setter, older ones as DataOverflowError.
        except (qrcode.exceptions.DataOverflowError, ValueError):
            continue
        if version <= last:
            return code
    raise QRError(f"{len(text)} characters do not fit a version-40 QR code at ECC {ecc}")


def _matrix(text: str, ecc: str, border: int) -> list[list[bool]]:
    """The module matrix of ``text`` (True = dark), including a ``border``-module quiet zone."""
    matrix: list[list[bool]] = _qrcode(text, ecc, border).get_matrix()
    return matrix


def qr_version(text: str, *, ecc: str = "M") -> int:
    """The smallest QR version (1-40) that holds ``text`` at error-correction level ``ecc``."""
    version: int = _qrcode(text, ecc, 0).version
    return version


def render_image(text: str, *, ecc: str = "M", module_px: int = 8, border: int = 4) -> Image.Image:
    """The QR code of ``text`` as a 1-bit Pillow image, black on white, ``module_px`` pixels a module."""
    _check_int("module_px", module_px, 1, 64)
    matrix = _matrix(text, ecc, border)
    _require(*_PILLOW)
    from PIL import Image

    side = len(matrix)
    pixels = bytes(0 if dark else 255 for row in matrix for dark in row)
    modules = Image.frombytes("L", (side, side), pixels).convert("1", dither=Image.Dither.NONE)
    return modules.resize((side * module_px, side * module_px), Image.Resampling.NEAREST)


def render_png(text: str, *, ecc: str = "M", module_px: int = 8, border: int = 4) -> bytes:
    """The QR code of ``text`` as a 1-bit PNG file (see :func:`render_image`)."""
    buffer = io.BytesIO()
    render_image(text, ecc=ecc, module_px=module_px, border=border).save(buffer, format="PNG")
    return buffer.getvalue()


#: What scans best on a phone screen, measured (docs/scanning.md): at the size a screen shows a code,
#: ECC L's fewer, larger modules are read more often than ECC M's stronger correction, and a 2-module
#: quiet zone does as well as 4 while leaving the modules more room. (Printed codes, which wear, keep M.)
SCREEN_ECC = "L"
SCREEN_BORDER = 2


def render_for_screen(text: str, *, width_px: int, ecc: str = SCREEN_ECC, border: int = SCREEN_BORDER) -> Image.Image:
    """The code for a phone screen ``width_px`` device pixels wide, with the measured screen defaults.

    ECC :data:`SCREEN_ECC` and a :data:`SCREEN_BORDER`-module quiet zone, at the largest whole number
    of pixels a module that fits: a display that had to rescale the image would blur module edges
    or make modules uneven, which costs scans. Show it at exactly its size, as wide as the screen allows.
    """
    _check_int("width_px", width_px, 21, MAX_IMAGE_SIDE)
    side = 17 + 4 * qr_version(text, ecc=ecc) + 2 * border
    if width_px < side:
        raise QRError(f"a {side}-module code needs at least {side} pixels; the screen gives {width_px}")
    return render_image(text, ecc=ecc, module_px=min(width_px // side, 64), border=border)


def render_svg(text: str, *, ecc: str = "M", module_px: int = 8, border: int = 4) -> str:
    """The QR code of ``text`` as a standalone SVG document, one module per user unit.

    ``width``/``height`` are ``module_px`` times the module count; the viewBox keeps it sharp at any
    scale. Dark modules are one path of horizontal runs, so the file stays small.
    """
    _check_int("module_px", module_px, 1, 64)
    matrix = _matrix(text, ecc, border)
    side = len(matrix)
    runs: list[str] = []
    for y, row in enumerate(matrix):
        x = 0
        for dark, group in groupby(row):
            length = sum(1 for _ in group)
            if dark:
                runs.append(f"M{x} {y}h{length}v1h-{length}z")
            x += length
    size = side * module_px
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {side} {side}" shape-rendering="crispEdges">\n'
        f'<rect width="{side}" height="{side}" fill="#fff"/>\n'
        f'<path fill="#000" d="{"".join(runs)}"/>\n'
        "</svg>\n"
    )


_HALF_BLOCKS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def render_terminal(text: str, *, ecc: str = "M", border: int = 4, invert: bool = False) -> str:
    """The QR code of ``text`` as half-block characters, two module rows a line (no final newline).

    Glyphs paint dark modules, which suits dark-on-light terminals; ``invert=True`` paints the light
    modules instead, for light-on-dark terminals, so a phone camera still sees dark on light.
    """
    matrix = _matrix(text, ecc, border)
    if len(matrix) % 2:
        matrix.append([False] * len(matrix))
    lines = []
    for top, bottom in zip(matrix[::2], matrix[1::2], strict=True):
        lines.append("".join(_HALF_BLOCKS[(t != invert, b != invert)] for t, b in zip(top, bottom, strict=True)))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Scanning


def _check_dimensions(width: int, height: int, *, side: int = MAX_IMAGE_SIDE, pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Refuse empty images and images too large to decode safely, from their dimensions alone."""
    if width < 1 or height < 1:
        raise QRError(f"the image is empty ({width}x{height})")
    if width > side or height > side or width * height > pixels:
        raise ImageRefusedError(
            ImageRefusal.TOO_MANY_PIXELS,
            f"the image is {width}x{height} pixels; the limit is {side} a side and {pixels:,} pixels",
        )


def _gray_from_pil(image: Image.Image) -> _Gray:
    """Check the dimensions, then decode the pixels and convert them to grayscale once.

    Transparent pixels are laid on white first: a QR code drawn on a transparent background shows
    dark on white in any viewer, but its transparent pixels are black underneath. That happens a
    band of rows at a time, so a large RGBA image never has a second full-size colour copy.
    """
    from PIL import Image

    _check_dimensions(image.width, image.height)
    try:
        if image.mode == "L":
            return _Gray(image.tobytes(), image.width, image.height)
        if "A" not in image.getbands() and "transparency" not in image.info:
            gray = image.convert("L")
            return _Gray(gray.tobytes(), gray.width, gray.height)
        rows: list[bytes] = []
        for top in range(0, image.height, _BAND_ROWS):
            band = image.crop((0, top, image.width, min(top + _BAND_ROWS, image.height))).convert("RGBA")
            flat = Image.new("RGBA", band.size, "white")
            flat.alpha_composite(band)
            rows.append(flat.convert("L").tobytes())
        return _Gray(b"".join(rows), image.width, image.height)
    except Exception as exc:  # Pillow's decoders raise many types on corrupt data
        raise QRError(f"the image data is corrupt or truncated: {exc}") from exc


def _jpeg_scan_count(raw: bytes) -> int:
    """How many scans (SOS segments) a JPEG holds, counted by walking its markers without decoding.

    A progressive JPEG's decoder runs every scan over every block of the image, so a small file of
    repeated scans costs minutes; the count is known from the bytes alone. Walking stops once the
    count passes :data:`MAX_JPEG_SCANS` or the markers stop making sense (Pillow then reports that).
    """
    scans, position, size = 0, 2, len(raw)
    while scans <= MAX_JPEG_SCANS and position + 4 <= size and raw[position] == 0xFF:
        marker = raw[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == 0xD9:
            break
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            position += 2
            continue
        length = int.from_bytes(raw[position + 2 : position + 4], "big")
        position += 2 + length
        if marker != 0xDA:
            continue
        scans += 1
        # Entropy-coded data runs to the next 0xFF that is neither stuffing (0xFF00) nor a restart marker.
        while True:
            position = raw.find(b"\xff", position)
            if position < 0 or position + 1 >= size:
                return scans
            follower = raw[position + 1]
            if follower != 0x00 and not 0xD0 <= follower <= 0xD7:
                break
            position += 2
    return scans


def _open_encoded(data: bytes | bytearray | memoryview) -> Image.Image:
    """Open encoded image bytes (headers only) and apply every cap that needs no pixel decoded.

    The byte size, the format allow-list, the dimensions from the header and, for JPEG, the number of
    scans. A JPEG larger than :data:`MAX_IMAGE_PIXELS` (up to :data:`MAX_IMAGE_SIDE` a side) is set to
    decode straight to grey at the largest 1/2, 1/4 or 1/8 scale that fits (libjpeg's DCT scaling,
    Pillow's ``draft``): a 48-megapixel photo decodes as 12. Every other format must fit as it is.
    """
    from PIL import Image, UnidentifiedImageError

    view = memoryview(data)
    if view.nbytes > MAX_IMAGE_BYTES:
        raise ImageRefusedError(
            ImageRefusal.FILE_TOO_LARGE, f"the image file is {view.nbytes:,} bytes; the limit is {MAX_IMAGE_BYTES:,}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data), formats=_IMAGE_FORMATS)
    except UnidentifiedImageError as exc:
        raise QRError(f"not an image in a supported format ({', '.join(_IMAGE_FORMATS)})") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRefusedError(ImageRefusal.TOO_MANY_PIXELS, f"the image dimensions exceed the limit: {exc}") from exc
    except Exception as exc:  # a header that parses half-way can raise anything
        raise QRError(f"the image header cannot be read: {exc}") from exc
    width, height = opened.size
    if opened.format != "JPEG":
        _check_dimensions(width, height)
        return opened
    _check_dimensions(width, height, pixels=MAX_IMAGE_SIDE * MAX_IMAGE_SIDE)
    scans = _jpeg_scan_count(data if isinstance(data, bytes) else bytes(data))
    if scans > MAX_JPEG_SCANS:
        opened.close()
        raise ImageRefusedError(
            ImageRefusal.TOO_MANY_SCANS, f"the JPEG has more than {MAX_JPEG_SCANS} scans; photos have at most about 12"
        )
    scale = 1
    while scale < 8 and (width // scale) * (height // scale) > MAX_IMAGE_PIXELS:
        scale *= 2
    try:
        opened.draft("L", (-(-width // scale), -(-height // scale)))
    except Exception as exc:
        raise QRError(f"the image header cannot be read: {exc}") from exc
    _check_dimensions(*opened.size)
    return opened


def _gray_from_encoded(data: bytes | bytearray | memoryview) -> _Gray:
    """Check the caps from the header (:func:`_open_encoded`), then decode to grayscale."""
    with _open_encoded(data) as opened:
        return _gray_from_pil(opened)


def _read_capped(path: str | os.PathLike[str]) -> bytes:
    """Read at most one byte past the size cap, so a huge or endless file is refused cheaply."""
    try:
        with open(path, "rb") as file:
            return file.read(MAX_IMAGE_BYTES + 1)
    except IsADirectoryError as exc:
        raise QRError(f"{os.fspath(path)!r} is a directory, not an image file") from exc
    except OSError as exc:
        raise QRError(f"cannot read image file {os.fspath(path)!r}: {exc.strerror or exc}") from exc


def _gray_from_array(array: NDArray[Any]) -> _Gray:
    """Check a numpy image's dtype, shape and size; grayscale is used as is, colour converted once."""
    import numpy

    if array.dtype != numpy.uint8:
        raise QRError(f"a numpy image must have dtype uint8, not {array.dtype}")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise QRError(f"a numpy image must be HxW, HxWx3 or HxWx4, not {'x'.join(map(str, array.shape))}")
    height, width = array.shape[:2]
    _check_dimensions(width, height)
    if array.ndim == 2:
        return _Gray(array.tobytes(), width, height)
    from PIL import Image

    return _gray_from_pil(Image.fromarray(array))


def _source(image: ImageSource) -> _Gray | bytes | bytearray | memoryview:
    """Any accepted input as grayscale pixels, or, for a file or encoded bytes, its bytes (read capped).

    Decoded input (a PIL image, a numpy array) is checked and converted here; encoded bytes are left
    for :func:`_open_encoded`, in this process or in a scan worker.
    """
    _require(*_PILLOW)
    from PIL import Image

    # An ndarray can only exist if numpy is already imported; looking it up keeps numpy optional.
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(image, numpy.ndarray):
        return _gray_from_array(image)
    if isinstance(image, Image.Image):
        return _gray_from_pil(image)
    if isinstance(image, str | os.PathLike):
        image = _read_capped(image)
    if isinstance(image, bytes | bytearray | memoryview):
        return image
    raise QRError(
        f"cannot scan a {type(image).__name__}: pass a path, encoded image bytes, a PIL image or a numpy array"
    )


def _to_gray(image: ImageSource) -> _Gray:
    """Normalise any accepted input to 8-bit grayscale, enforcing the size limits on the way."""
    source = _source(image)
    return source if isinstance(source, _Gray) else _gray_from_encoded(source)


def _read_zxing(gray: _Gray, invert: bool, downscale: bool) -> list[bytes]:
    """Decode with zxing-cpp, QR Model 2 only; ``Barcode.bytes`` is the payload exactly as encoded.

    zxing-cpp 3 counts Micro QR and rMQR as QR codes; econsent renders neither, and the small
    symbols are the likeliest to be "found" in sharpened noise, so they are left out.
    ``invert`` also tries light-on-dark codes when the normal polarity finds nothing.
    """
    import zxingcpp

    model2 = getattr(zxingcpp.BarcodeFormat, "QRCodeModel2", zxingcpp.BarcodeFormat.QRCode)
    view = memoryview(gray.pixels).cast("B", (gray.height, gray.width))
    try:
        found = zxingcpp.read_barcodes(
            view, formats=zxingcpp.BarcodeFormats(model2), try_invert=invert, try_downscale=downscale
        )
    except Exception as exc:  # native code: whatever it raises must not escape as a foreign error
        raise QRError(f"zxing-cpp failed on the image: {exc}") from exc
    return [bytes(barcode.bytes) for barcode in found]


def _read_zbar(gray: _Gray, invert: bool, downscale: bool) -> list[bytes]:
    """Decode with libzbar, QR only, with ZBAR_CFG_BINARY so byte-mode payloads are not re-encoded.

    pyzbar's ``decode`` cannot set that flag, so this is its equivalent built on ``pyzbar.wrapper``.
    zbar reads dark-on-light codes only: ``invert`` scans the inverted image when nothing was found.
    ``downscale`` does not apply to zbar.
    """
    found = _zbar_scan(gray)
    if not found and invert:
        found = _zbar_scan(_inverted(gray))
    return found


def _zbar_scan(gray: _Gray) -> list[bytes]:
    """One libzbar scan of ``gray`` as it is (the body of :func:`_read_zbar`)."""
    import pyzbar.wrapper as zbar

    scanner = zbar.zbar_image_scanner_create()
    if not scanner:
        raise QRError("libzbar could not create an image scanner")
    try:
        # Symbology 0 (ZBAR_NONE) addresses every symbology at once.
        zbar.zbar_image_scanner_set_config(scanner, zbar.ZBarSymbol.NONE, zbar.ZBarConfig.CFG_ENABLE, 0)
        zbar.zbar_image_scanner_set_config(scanner, zbar.ZBarSymbol.QRCODE, zbar.ZBarConfig.CFG_ENABLE, 1)
        zbar.zbar_image_scanner_set_config(scanner, zbar.ZBarSymbol.QRCODE, _ZBAR_CFG_BINARY, 1)
        image = zbar.zbar_image_create()
        if not image:
            raise QRError("libzbar could not create an image")
        try:
            zbar.zbar_image_set_format(image, _ZBAR_FOURCC_Y800)
            zbar.zbar_image_set_size(image, gray.width, gray.height)
            zbar.zbar_image_set_data(image, gray.pixels, len(gray.pixels), None)
            if zbar.zbar_scan_image(scanner, image) < 0:
                raise QRError("libzbar could not scan the image")
            found = []
            symbol = zbar.zbar_image_first_symbol(image)
            while symbol:
                data = zbar.zbar_symbol_get_data(symbol)
                found.append(ctypes.string_at(data, zbar.zbar_symbol_get_data_length(symbol)))
                symbol = zbar.zbar_symbol_next(symbol)
            return found
        finally:
            zbar.zbar_image_destroy(image)  # also frees the symbols it holds
    finally:
        zbar.zbar_image_scanner_destroy(scanner)


_BACKENDS: dict[str, _Backend] = {
    "zxing": _Backend((("zxingcpp", "the 'zxing' QR backend needs zxing-cpp: pip install zxing-cpp"),), _read_zxing),
    "zbar": _Backend(
        (
            ("pyzbar", "the 'zbar' QR backend needs pyzbar: pip install pyzbar"),
            ("pyzbar.wrapper", "the 'zbar' QR backend needs the zbar library: apt-get install libzbar0"),
        ),
        _read_zbar,
    ),
}


def _load_backend(name: str) -> Callable[[_Gray, bool, bool], list[bytes]]:
    """The read function of backend ``name``, after importing what it needs."""
    backend = _BACKENDS.get(name)
    if backend is None:
        raise QRError(f"unknown QR backend {name!r}; choose from {', '.join(_BACKENDS)}")
    for module, advice in backend.needs:
        _require(module, advice)
    return backend.read


def available_backends() -> list[str]:
    """The scan backends whose dependencies import on this machine, in the default order."""
    available = []
    for name in _BACKENDS:
        try:
            _load_backend(name)
        except MissingDependencyError:
            continue
        available.append(name)
    return available


def _to_text(payload: bytes) -> str:
    """Payload bytes as text: UTF-8, else latin-1, which maps every byte and never fails."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")


# ---------------------------------------------------------------------------------------------
# The scan pipeline: cheap passes first, harder ones only when they fail, within a time budget

#: The passes, in the order they run; each one only when every earlier one found nothing.
#: ``plain`` is the frame as captured (zxing-cpp also tries it downscaled, which helps large, noisy
#: modules); ``invert`` reads light-on-dark codes (a wallet in dark mode); ``sharpen`` restores the
#: module contrast that defocus and motion blur take away; ``sharpen-strong`` and ``sharpen-denoised``
#: retry blurred frames with more gain and with more smoothing, for what ``sharpen`` left. The
#: sharpened frames are read in both polarities. ``docs/scanning.md`` has what each pass adds, measured.
SCAN_PASSES = ("plain", "invert", "sharpen", "sharpen-strong", "sharpen-denoised")
#: A frame gets this long (ms) by default before remaining passes are skipped: about a camera's frame
#: interval. On the project machine every zxing-cpp pass fits (about 25 ms in all) and slow zbar does
#: not; on a slower machine the last passes give way, since a frame that defeats the cheap ones is
#: often better replaced by the next frame.
DEFAULT_BUDGET_MS = 35.0

# Band-pass filters: (small blur, large blur, gain); output = small + gain * (small - large), where a
# blur is box filters of these radii applied in turn. The small blur averages pixel noise away before
# the difference amplifies edges; the large one is the local background. Radii in pixels suit 3-8 px
# modules; the passes share their blurs, so the later ones cost little more than a decode.
_BAND_PASS = {
    "sharpen": ((1,), (3,), 2.5),
    "sharpen-strong": ((1,), (3,), 4.0),
    "sharpen-denoised": ((1, 1), (3,), 2.5),
}
# Measured cost of each pass, ms per megapixel on one core of the project machine: what the budget
# expects before a scanner has timed a pass itself.
_PRIOR_MS_PER_MP = {
    ("zxing", "plain"): 2.5,
    ("zxing", "invert"): 2.5,
    ("zxing", "sharpen"): 13.0,
    ("zxing", "sharpen-strong"): 4.0,
    ("zxing", "sharpen-denoised"): 8.5,
    ("zbar", "plain"): 25.0,
    ("zbar", "invert"): 25.0,
    ("zbar", "sharpen"): 60.0,
    ("zbar", "sharpen-strong"): 50.0,
    ("zbar", "sharpen-denoised"): 55.0,
}
_INVERT = bytes(range(255, -1, -1))


def _inverted(gray: _Gray) -> _Gray:
    return _Gray(gray.pixels.translate(_INVERT), gray.width, gray.height)


class _Frame:
    """One frame's grayscale pixels and the images derived from them, each made at most once."""

    __slots__ = ("_blurs", "gray")

    def __init__(self, gray: _Gray) -> None:
        self.gray = gray
        self._blurs: dict[tuple[int, ...], Image.Image] = {}

    def _blur(self, radii: tuple[int, ...]) -> Image.Image:
        """The frame through box blurs of ``radii`` in turn (``()``: the frame itself)."""
        from PIL import Image, ImageFilter

        if radii not in self._blurs:
            if radii:
                self._blurs[radii] = self._blur(radii[:-1]).filter(ImageFilter.BoxBlur(radii[-1]))
            else:
                self._blurs[radii] = Image.frombytes("L", (self.gray.width, self.gray.height), self.gray.pixels)
        return self._blurs[radii]

    def pass_input(self, name: str) -> tuple[_Gray, bool, bool]:
        """The image pass ``name`` reads, whether to also try it inverted, and whether to downscale.

        Filtered frames are read in both polarities (a dark-mode frame reaches them too), and at
        full size only: they exist for small, blurred modules, which downscaling would erase.
        """
        if name == "plain":
            return self.gray, False, True
        if name == "invert":
            return _inverted(self.gray), False, True
        from PIL import Image

        small, large, gain = _BAND_PASS[name]
        # blend(a, b, alpha) = a + alpha * (b - a), clipped to 0-255: with a = large, b = small.
        filtered = Image.blend(self._blur(large), self._blur(small), 1 + gain)
        return _Gray(filtered.tobytes(), filtered.width, filtered.height), True, False


@dataclass(frozen=True, slots=True)
class PassReport:
    """One decoder run: which backend on which pass, how long it took, how many codes it read."""

    backend: str
    name: str
    ms: float
    found: int


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What :meth:`Scanner.scan` found in a frame, and how: every pass it ran, and the ones it skipped."""

    texts: tuple[str, ...]
    passes: tuple[PassReport, ...]
    skipped: tuple[str, ...]
    ms: float

    @property
    def decoded_by(self) -> str | None:
        """``backend/pass`` of the run that read the codes, or None if none did."""
        last = self.passes[-1] if self.passes else None
        return f"{last.backend}/{last.name}" if last is not None and last.found else None


class Scanner:
    """Reads QR codes from frames: fast when a frame is easy, trying harder only when it is not.

    Each backend runs :data:`SCAN_PASSES` in order (all of the first backend's passes before the
    second backend starts, so slow zbar only sees what zxing-cpp missed); the first run that reads
    anything ends the frame. With ``budget_ms`` a pass that would not finish within the budget is
    skipped, with the rest of that backend's passes: the scanner times its passes (an exponential
    moving average per megapixel) and starts from measured priors. The first pass always runs.
    ``budget_ms=None`` runs every pass, so results depend on the image alone. Images over
    :data:`LARGE_IMAGE_PIXELS` get the ``plain`` and ``invert`` passes only.

    ``deadline`` (seconds) makes the time per image a hard bound: the image is decoded and scanned in
    a separate scan worker process (kept running between images, limited to :data:`WORKER_MEMORY`),
    which is killed when the deadline passes, even inside a native decoder; the scan then raises
    :class:`~econsent.errors.ImageRefusedError` with reason ``IMAGE_DEADLINE``. Passes that would not
    fit in the time left are skipped first, so an ordinary image ends with a result. Without a
    deadline the scan runs in this process (trusted images, or when the caller bounds time itself).
    """

    __slots__ = ("_backends", "_budget", "_clock", "_deadline", "_estimates", "_passes", "_readers")

    def __init__(
        self,
        *,
        backends: Sequence[str] = DEFAULT_BACKENDS,
        passes: Sequence[str] = SCAN_PASSES,
        budget_ms: float | None = DEFAULT_BUDGET_MS,
        deadline: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if isinstance(backends, str) or not backends:
            raise QRError("backends must be a non-empty sequence of backend names, such as ('zxing', 'zbar')")
        if isinstance(passes, str) or not passes or any(name not in SCAN_PASSES for name in passes):
            raise QRError(f"passes must be a non-empty sequence taken from {', '.join(SCAN_PASSES)}")
        if budget_ms is not None and not budget_ms > 0:
            raise QRError(f"budget_ms must be positive or None, not {budget_ms!r}")
        if deadline is not None and (
            isinstance(deadline, bool) or not isinstance(deadline, int | float) or not 0 < deadline <= MAX_DEADLINE
        ):
            raise QRError(f"deadline must be seconds, over 0 and at most {MAX_DEADLINE:g}, or None; not {deadline!r}")
        self._readers = [(name, _load_backend(name)) for name in dict.fromkeys(backends)]
        self._backends = tuple(name for name, _ in self._readers)
        self._passes = tuple(dict.fromkeys(passes))
        self._budget = budget_ms
        self._deadline = None if deadline is None else float(deadline)
        self._clock = clock
        self._estimates = {
            (backend, name): _PRIOR_MS_PER_MP.get((backend, name), 0.0)
            for backend, _ in self._readers
            for name in self._passes
        }

    def start(self) -> None:
        """Start a scan worker now (about a second), not when the first image is waiting; no-op without a deadline."""
        if self._deadline is not None:
            _release_worker(_take_worker())

    def scan(self, image: ImageSource) -> ScanResult:
        """Every QR code text in ``image`` (found in one run, in order, without duplicates)."""
        if self._deadline is not None:
            return _scan_in_worker(image, self._backends, self._passes, self._budget, self._deadline)
        started = self._clock()
        return self._scan_gray(_to_gray(image), started, self._budget)

    def _scan_gray(self, gray: _Gray, started: float, budget: float | None) -> ScanResult:
        """Run the passes on decoded pixels; ``started`` is when the clock for ``budget`` (ms) began."""
        frame = _Frame(gray)
        megapixels = gray.width * gray.height / 1e6
        large = gray.width * gray.height > LARGE_IMAGE_PIXELS
        reports: list[PassReport] = []
        skipped: list[str] = []
        texts: tuple[str, ...] = ()
        for backend, read in self._readers:
            out_of_time = False
            for name in self._passes:
                if texts:
                    break
                key = (backend, name)
                elapsed = (self._clock() - started) * 1000
                expected = self._estimates[key] * megapixels
                # A pass after a skipped one is skipped too: it may need the blurs the skipped one makes.
                out_of_time = out_of_time or (budget is not None and bool(reports) and elapsed + expected > budget)
                if out_of_time or (large and name not in _LARGE_IMAGE_PASSES):
                    skipped.append(f"{backend}/{name}")
                    continue
                begin = self._clock()
                found = read(*frame.pass_input(name))
                ms = (self._clock() - begin) * 1000
                self._estimates[key] = 0.8 * self._estimates[key] + 0.2 * ms / max(megapixels, 1e-3)
                reports.append(PassReport(backend, name, ms, len(found)))
                texts = tuple(dict.fromkeys(_to_text(payload) for payload in found))
        return ScanResult(texts, tuple(reports), tuple(skipped), (self._clock() - started) * 1000)


def scan(
    image: ImageSource, *, backends: Sequence[str] = DEFAULT_BACKENDS, deadline: float | None = DEFAULT_DEADLINE
) -> list[str]:
    """Every QR code text found in ``image``, in the order found, without duplicates; ``[]`` if none.

    Backends are tried in order and the first that finds anything wins, so the fast, robust zxing-cpp
    answers most frames and zbar only sees what it missed. Each backend runs every pass of
    :data:`SCAN_PASSES` that fits in the ``deadline`` (seconds, :data:`DEFAULT_DEADLINE`): the image
    is scanned in a scan worker that is stopped at the deadline (see :class:`Scanner`), which raises
    :class:`~econsent.errors.ImageRefusedError`. ``deadline=None`` scans in this process with no
    time limit, so the result depends on the image alone (for images the caller trusts). Every named
    backend must be installed (checked before any pixel work); :func:`available_backends` tells which are.
    """
    return list(Scanner(backends=backends, budget_ms=None, deadline=deadline).scan(image).texts)


# ---------------------------------------------------------------------------------------------
# The scan worker: a separate process, so that a deadline can stop even a native decoder

# The passes a large image gets (see LARGE_IMAGE_PIXELS).
_LARGE_IMAGE_PASSES = ("plain", "invert")
# The share of the deadline the worker plans its passes into; the rest is slack before the kill.
_PLANNED_SHARE = 0.8
# A worker gets this long to start (imports), not charged to any image's deadline.
_WORKER_START_SECONDS = 60.0
# A reply larger than this is not a scan result (texts are at most 7,089 characters each).
_MAX_REPLY_BYTES = 16 * 1024 * 1024
_WORKER_PROGRAM = "import sys; sys.path.append(sys.argv[2]); from econsent.qr import _serve; _serve()"


def _send(stream: IO[bytes], message: dict[str, Any], payload: bytes | bytearray | memoryview = b"") -> None:
    """One protocol message: lengths of the JSON header and the payload, then both."""
    header = json.dumps(message).encode("utf-8")
    stream.write(len(header).to_bytes(4, "big") + len(payload).to_bytes(4, "big") + header)
    stream.write(payload)
    stream.flush()


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    """``size`` bytes from ``stream``, or None at end of input."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = stream.read(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _serve() -> None:
    """The scan worker's loop: requests on stdin, replies on stdout, until stdin closes.

    Runs in a process of its own (``_WORKER_PROGRAM``), with its address space limited to the size in
    ``argv[1]``. Requests carry encoded image bytes or grey pixels; each reply is a :class:`ScanResult`
    or the error the scan raised, as JSON (never pickle: the worker handles hostile input).
    """
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a native library prints must not reach the protocol stream
    _require(*_PILLOW)
    from PIL import Image

    Image.init()  # every format plugin and decoder imported now, before the memory limit applies
    for name in available_backends():
        _load_backend(name)
    try:
        import resource

        limit = int(sys.argv[1])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # no such limit on this platform: the deadline still holds
        pass
    scanners: dict[tuple[tuple[str, ...], tuple[str, ...]], Scanner] = {}
    _send(replies, {"ready": True})
    while True:
        lengths = _read_exact(requests, 8)
        if lengths is None:
            return
        header = _read_exact(requests, int.from_bytes(lengths[:4], "big"))
        payload = _read_exact(requests, int.from_bytes(lengths[4:], "big"))
        if header is None or payload is None:
            return
        started = time.perf_counter()
        _send(replies, _serve_one(json.loads(header), payload, started, scanners))


def _serve_one(
    request: dict[str, Any],
    payload: bytes,
    started: float,
    scanners: dict[tuple[tuple[str, ...], tuple[str, ...]], Scanner],
) -> dict[str, Any]:
    """Scan one request in the worker; the reply a :func:`_scan_in_worker` call turns back into a result."""
    try:
        key = (tuple(request["backends"]), tuple(request["passes"]))
        scanner = scanners.get(key)
        if scanner is None:
            scanner = scanners[key] = Scanner(backends=key[0], passes=key[1], budget_ms=None)
        planned = request["deadline"] * 1000 * _PLANNED_SHARE
        budget = planned if request["budget_ms"] is None else min(request["budget_ms"], planned)
        width, height = request["width"], request["height"]
        gray = _Gray(payload, width, height) if width else _gray_from_encoded(payload)
        result = scanner._scan_gray(gray, started, budget)
    except ImageRefusedError as exc:
        return {"refused": exc.reason.value, "detail": exc.detail}
    except MemoryError:
        return {"refused": ImageRefusal.OUT_OF_MEMORY.value, "detail": _OUT_OF_MEMORY}
    except MissingDependencyError as exc:
        return {"missing": str(exc)}
    except QRError as exc:
        return {"error": str(exc)}
    return {
        "texts": list(result.texts),
        "passes": [[p.backend, p.name, p.ms, p.found] for p in result.passes],
        "skipped": list(result.skipped),
        "ms": result.ms,
    }


_OUT_OF_MEMORY = f"decoding and scanning the image needed more than {WORKER_MEMORY // 2**20} MiB"


class _Worker:
    """One scan worker process, seen from the process that sends it images."""

    __slots__ = ("_process", "owner")

    def __init__(self) -> None:
        if not sys.executable:
            raise QRError("cannot start a scan worker: the Python interpreter's path is unknown")
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.owner = os.getpid()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_PROGRAM, str(WORKER_MEMORY), package_root],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=0,
                start_new_session=True,  # Ctrl-C at a terminal reaches the scanner, which then stops its workers
            )
        except OSError as exc:
            raise QRError(f"cannot start a scan worker: {exc}") from exc
        ready = self._receive(time.monotonic() + _WORKER_START_SECONDS)
        if ready is None or not ready.get("ready"):
            self.close()
            raise QRError("the scan worker did not start")

    def request(self, message: dict[str, Any], payload: bytes | bytearray | memoryview, until: float) -> dict[str, Any]:
        """Send one request and wait for its reply until ``until`` (monotonic seconds); None if it died."""
        assert self._process.stdin is not None
        _send(self._process.stdin, message, payload)  # the worker reads whole requests, so this cannot stall
        reply = self._receive(until)
        if reply is None:
            code = self._process.poll()
            raise ImageRefusedError(
                ImageRefusal.DECODER_FAILED, f"the image decoder stopped (exit status {code}) while reading the image"
            )
        return reply

    def _receive(self, until: float) -> dict[str, Any] | None:
        """The next reply, None if the worker closed its output; ``TimeoutError`` when ``until`` passes."""
        assert self._process.stdout is not None
        stream = self._process.stdout.fileno()
        buffer = bytearray()
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            while True:
                if len(buffer) >= 8:
                    header_size = int.from_bytes(buffer[:4], "big")
                    if header_size > _MAX_REPLY_BYTES:
                        return None
                    if len(buffer) >= 8 + header_size:
                        reply: dict[str, Any] = json.loads(bytes(buffer[8 : 8 + header_size]))
                        return reply
                remaining = until - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise TimeoutError
                chunk = os.read(stream, 1 << 16)
                if not chunk:
                    return None
                buffer += chunk

    def close(self) -> None:
        """Stop the worker: end of input asks it to exit; one that does not is killed."""
        process = self._process
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self.kill()
        if process.stdout is not None:
            process.stdout.close()

    def kill(self) -> None:
        """Stop the worker now, whatever it is doing."""
        process = self._process
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


# Workers waiting for an image. A scan takes one (or starts one) and gives it back when done, so
# concurrent scans from several threads each get their own worker.
_IDLE_WORKERS: list[_Worker] = []
_WORKERS_LOCK = threading.Lock()
# Workers inherited through fork belong to the parent process; the child never touches them.
_INHERITED: list[_Worker] = []


def _forget_inherited_workers() -> None:
    _INHERITED.extend(_IDLE_WORKERS)
    _IDLE_WORKERS.clear()


def _stop_idle_workers() -> None:
    with _WORKERS_LOCK:
        workers = [worker for worker in _IDLE_WORKERS if worker.owner == os.getpid()]
        _IDLE_WORKERS.clear()
    for worker in workers:
        worker.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_workers)
atexit.register(_stop_idle_workers)


def _take_worker() -> _Worker:
    """An idle scan worker of this process, or a new one."""
    with _WORKERS_LOCK:
        worker = _IDLE_WORKERS.pop() if _IDLE_WORKERS else None
    return _Worker() if worker is None else worker


def _release_worker(worker: _Worker) -> None:
    with _WORKERS_LOCK:
        _IDLE_WORKERS.append(worker)


def _scan_in_worker(
    image: ImageSource, backends: tuple[str, ...], passes: tuple[str, ...], budget_ms: float | None, deadline: float
) -> ScanResult:
    """Scan ``image`` in a scan worker, which is killed if the deadline passes (see :class:`Scanner`).

    The caps that need no pixel decoded are checked here first, so an image refused up front costs
    no round trip; decoded inputs (PIL images, numpy arrays) are sent as grey pixels.
    """
    source = _source(image)
    if isinstance(source, _Gray):
        payload: bytes | bytearray | memoryview = source.pixels
        width, height = source.width, source.height
    else:
        _open_encoded(source).close()
        payload, width, height = source, 0, 0
    message = {
        "backends": list(backends),
        "passes": list(passes),
        "budget_ms": budget_ms,
        "deadline": deadline,
        "width": width,
        "height": height,
    }
    worker = _take_worker()
    started = time.monotonic()
    try:
        reply = worker.request(message, payload, started + deadline)
    except TimeoutError:
        worker.kill()
        raise ImageRefusedError(
            ImageRefusal.DEADLINE, f"scanning the image took longer than {deadline:g} s and was stopped"
        ) from None
    except BaseException:
        worker.kill()
        raise
    _release_worker(worker)
    if "refused" in reply:
        raise ImageRefusedError(ImageRefusal(reply["refused"]), str(reply["detail"]))
    if "missing" in reply:
        raise MissingDependencyError(str(reply["missing"]))
    if "error" in reply:
        raise QRError(str(reply["error"]))
    reports = tuple(PassReport(str(b), str(n), float(ms), int(found)) for b, n, ms, found in reply["passes"])
    return ScanResult(tuple(map(str, reply["texts"])), reports, tuple(map(str, reply["skipped"])), float(reply["ms"]))


# ---------------------------------------------------------------------------------------------
# Cameras


def camera_frames(index: int = 0, *, width: int = 1280, height: int = 720) -> Generator[NDArray[Any], None, None]:
    """Grayscale frames (uint8 numpy arrays) from camera ``index``, through OpenCV, until closed.

    The capture buffer is kept to one frame, so a slow decode reads the newest frame rather than a
    queue of stale ones; autofocus is asked for. ``width`` x ``height`` is a request the camera
    may round. Raises :class:`~econsent.errors.MissingDependencyError` without OpenCV, and
    :class:`~econsent.errors.QRError` when the camera cannot be opened or stops delivering frames.
    """
    _check_int("width", width, 16, MAX_IMAGE_SIDE)
    _check_int("height", height, 16, MAX_IMAGE_SIDE)
    _require(*_OPENCV)
    cv2 = importlib.import_module("cv2")
    capture = cv2.VideoCapture(index)
    try:
        if not capture.isOpened():
            raise QRError(f"camera {index} could not be opened (is it connected, and free?)")
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        capture.set(cv2.CAP_PROP_AUTOFOCUS, 1)
        failures = 0
        while True:
            ok, frame = capture.read()
            if not ok or frame is None:
                failures += 1
                if failures >= 10:
                    raise QRError(f"camera {index} stopped delivering frames")
                continue
            failures = 0
            yield frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    finally:
        capture.release()
