"""Images from untrusted hands, to 8-bit grey pixels: every size cap applied before a pixel is decoded.

Scanning reads a file path, encoded image bytes, a Pillow image or a numpy frame. Encoded images are
held to a byte size, a format allow-list, dimensions read from the header and, for JPEG, a scan count,
all before decoding; decoded images are held to the same dimensions. Pillow and numpy are imported only
when an image arrives.
"""

from __future__ import annotations

import io
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from econsent.errors import ImageRefusal, ImageRefusedError, QRError

from ._checks import _PILLOW, _require

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from PIL import Image

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "MAX_IMAGE_SIDE", "MAX_JPEG_SCANS", "ImageSource"]

#: What :func:`scan` accepts: a file path, encoded image bytes, a Pillow image, or a uint8 numpy
#: array (HxW grayscale, HxWx3 RGB, HxWx4 RGBA; the alpha is laid on white).
ImageSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | Image.Image | NDArray[Any]"

#: Caps checked before decoding pixels: encoded size, then the dimensions from the image header, and
#: the pixels decoded. A JPEG may be up to 8,192 a side, since it is decoded at 1/2, 1/4 or 1/8 scale to
#: fit :data:`MAX_IMAGE_PIXELS` (a 48-megapixel photo decodes as 12); other formats must fit as they are.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_SIDE = 8192
MAX_IMAGE_PIXELS = 4096 * 4096
#: Scans a JPEG may hold: each one costs a pass over every block (progressive photos have 6-12).
MAX_JPEG_SCANS = 32

# Formats a QR image plausibly arrives in; the allow-list keeps Pillow away from exotic parsers
# (EPS would even start Ghostscript).
_IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "PPM", "WEBP")
# Rows of an image with transparency laid on white at a time (a band, not a second full-size copy).
_BAND_ROWS = 256


class _Gray(NamedTuple):
    """An 8-bit grayscale image, row-major, one byte per pixel: the form every backend reads.

    ``pixels`` is bytes, or a read-only view of a caller's grayscale numpy frame: copying a 720p frame
    costs a fifth of a zxing-cpp pass, and the fresh copy's memory slows the pass itself (measured).
    """

    pixels: bytes | memoryview
    width: int
    height: int


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
    """Check a numpy image's dtype, shape and size; grayscale is read in place, colour converted once."""
    import numpy

    if array.dtype != numpy.uint8:
        raise QRError(f"a numpy image must have dtype uint8, not {array.dtype}")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise QRError(f"a numpy image must be HxW, HxWx3 or HxWx4, not {'x'.join(map(str, array.shape))}")
    height, width = array.shape[:2]
    _check_dimensions(width, height)
    if array.ndim == 2:
        if array.flags.c_contiguous:
            return _Gray(array.data.toreadonly().cast("B"), width, height)
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


_INVERT = bytes(range(255, -1, -1))


def _inverted(gray: _Gray) -> _Gray:
    """The image with dark and light swapped (a light-on-dark code read as dark on light).

    With numpy loaded (a numpy frame brought it) the pixels are inverted in place of a copy: on a
    720p frame 0.04 ms, against 1.8 ms for copying a view to bytes and translating them.
    """
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        inverted = numpy.invert(numpy.frombuffer(gray.pixels, dtype=numpy.uint8))
        return _Gray(inverted.data.toreadonly(), gray.width, gray.height)
    return _Gray(bytes(gray.pixels).translate(_INVERT), gray.width, gray.height)
