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

import ctypes
import importlib
import io
import os
import sys
import time
import warnings
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from econsent.errors import MissingDependencyError, QRError

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from PIL import Image

__all__ = [
    "DEFAULT_BACKENDS",
    "DEFAULT_BUDGET_MS",
    "ECC_LEVELS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE",
    "MAX_TEXT_CHARS",
    "SCAN_PASSES",
    "SCREEN_BORDER",
    "SCREEN_ECC",
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
#: Caps checked before decoding pixels: encoded size, then the dimensions from the image header.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_SIDE = 8192
MAX_IMAGE_PIXELS = 40_000_000

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


def _check_dimensions(width: int, height: int) -> None:
    """Refuse empty images and images too large to decode safely, from their dimensions alone."""
    if width < 1 or height < 1:
        raise QRError(f"the image is empty ({width}x{height})")
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise QRError(
            f"the image is {width}x{height} pixels; the limit is {MAX_IMAGE_SIDE} a side "
            f"and {MAX_IMAGE_PIXELS:,} pixels"
        )


def _gray_from_pil(image: Image.Image) -> _Gray:
    """Check the dimensions, then decode the pixels and convert them to grayscale once.

    Transparent pixels are laid on white first: a QR code drawn on a transparent background shows
    dark on white in any viewer, but its transparent pixels are black underneath.
    """
    from PIL import Image

    _check_dimensions(image.width, image.height)
    try:
        if image.mode != "L":
            if "A" in image.getbands() or "transparency" in image.info:
                flat = Image.new("RGBA", image.size, "white")
                flat.alpha_composite(image.convert("RGBA"))
                image = flat
            image = image.convert("L")
        return _Gray(image.tobytes(), image.width, image.height)
    except Exception as exc:  # Pillow's decoders raise many types on corrupt data
        raise QRError(f"the image data is corrupt or truncated: {exc}") from exc


def _gray_from_encoded(data: bytes | bytearray | memoryview) -> _Gray:
    """Read the header of an encoded image, refuse it if too large, then decode it to grayscale."""
    from PIL import Image, UnidentifiedImageError

    size = memoryview(data).nbytes
    if size > MAX_IMAGE_BYTES:
        raise QRError(f"the image file is {size:,} bytes; the limit is {MAX_IMAGE_BYTES:,}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data), formats=_IMAGE_FORMATS)
    except UnidentifiedImageError as exc:
        raise QRError(f"not an image in a supported format ({', '.join(_IMAGE_FORMATS)})") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise QRError(f"the image dimensions exceed the limit: {exc}") from exc
    except Exception as exc:  # a header that parses half-way can raise anything
        raise QRError(f"the image header cannot be read: {exc}") from exc
    with opened:
        return _gray_from_pil(opened)


def _gray_from_file(path: str | os.PathLike[str]) -> _Gray:
    """Read at most one byte past the size cap, so a huge or endless file is refused cheaply."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_IMAGE_BYTES + 1)
    except IsADirectoryError as exc:
        raise QRError(f"{os.fspath(path)!r} is a directory, not an image file") from exc
    except OSError as exc:
        raise QRError(f"cannot read image file {os.fspath(path)!r}: {exc.strerror or exc}") from exc
    return _gray_from_encoded(data)


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


def _to_gray(image: ImageSource) -> _Gray:
    """Normalise any accepted input to 8-bit grayscale, enforcing the size limits on the way."""
    _require(*_PILLOW)
    from PIL import Image

    # An ndarray can only exist if numpy is already imported; looking it up keeps numpy optional.
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(image, numpy.ndarray):
        return _gray_from_array(image)
    if isinstance(image, Image.Image):
        return _gray_from_pil(image)
    if isinstance(image, bytes | bytearray | memoryview):
        return _gray_from_encoded(image)
    if isinstance(image, str | os.PathLike):
        return _gray_from_file(image)
    raise QRError(
        f"cannot scan a {type(image).__name__}: pass a path, encoded image bytes, a PIL image or a numpy array"
    )


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
    ``budget_ms=None`` runs every pass, so results depend on the image alone.
    """

    __slots__ = ("_budget", "_clock", "_estimates", "_passes", "_readers")

    def __init__(
        self,
        *,
        backends: Sequence[str] = DEFAULT_BACKENDS,
        passes: Sequence[str] = SCAN_PASSES,
        budget_ms: float | None = DEFAULT_BUDGET_MS,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if isinstance(backends, str) or not backends:
            raise QRError("backends must be a non-empty sequence of backend names, such as ('zxing', 'zbar')")
        if isinstance(passes, str) or not passes or any(name not in SCAN_PASSES for name in passes):
            raise QRError(f"passes must be a non-empty sequence taken from {', '.join(SCAN_PASSES)}")
        if budget_ms is not None and not budget_ms > 0:
            raise QRError(f"budget_ms must be positive or None, not {budget_ms!r}")
        self._readers = [(name, _load_backend(name)) for name in dict.fromkeys(backends)]
        self._passes = tuple(dict.fromkeys(passes))
        self._budget = budget_ms
        self._clock = clock
        self._estimates = {
            (backend, name): _PRIOR_MS_PER_MP.get((backend, name), 0.0)
            for backend, _ in self._readers
            for name in self._passes
        }

    def scan(self, image: ImageSource) -> ScanResult:
        """Every QR code text in ``image`` (found in one run, in order, without duplicates)."""
        started = self._clock()
        frame = _Frame(_to_gray(image))
        megapixels = frame.gray.width * frame.gray.height / 1e6
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
                out_of_time = out_of_time or (
                    self._budget is not None and bool(reports) and elapsed + expected > self._budget
                )
                if out_of_time:
                    skipped.append(f"{backend}/{name}")
                    continue
                begin = self._clock()
                found = read(*frame.pass_input(name))
                ms = (self._clock() - begin) * 1000
                self._estimates[key] = 0.8 * self._estimates[key] + 0.2 * ms / max(megapixels, 1e-3)
                reports.append(PassReport(backend, name, ms, len(found)))
                texts = tuple(dict.fromkeys(_to_text(payload) for payload in found))
        return ScanResult(texts, tuple(reports), tuple(skipped), (self._clock() - started) * 1000)


def scan(image: ImageSource, *, backends: Sequence[str] = DEFAULT_BACKENDS) -> list[str]:
    """Every QR code text found in ``image``, in the order found, without duplicates; ``[]`` if none.

    Backends are tried in order and the first that finds anything wins, so the fast, robust zxing-cpp
    answers most frames and zbar only sees what it missed. Each backend runs every pass of
    :data:`SCAN_PASSES` (no time budget: the result depends on the image alone; use a
    :class:`Scanner` for camera frames). Every named backend must be installed (checked before any
    pixel work); :func:`available_backends` tells which are.
    """
    return list(Scanner(backends=backends, budget_ms=None).scan(image).texts)


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
