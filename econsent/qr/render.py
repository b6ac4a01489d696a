"""Render presentation text as QR codes: PNG, SVG, a Pillow image, terminal half-blocks, a phone screen.

Payloads are text (an uppercase prefix such as ``EC1:`` plus Base45 or decimal digits), and
rendering splits them into the cheapest alphanumeric, numeric and byte segments: at a fixed
on-screen size every QR version saved means larger modules and more successful scans. qrcode lays
out the symbol; the codewords (data, padding and Reed-Solomon error correction) are computed here.
"""

from __future__ import annotations

import io
from functools import cache
from itertools import groupby
from typing import TYPE_CHECKING, Any

from econsent.errors import QRError

from ._checks import _PILLOW, _QRCODE, _check_int, _require
from .images import MAX_IMAGE_SIDE

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "ECC_LEVELS",
    "MAX_TEXT_CHARS",
    "SCREEN_BORDER",
    "SCREEN_ECC",
    "qr_version",
    "render_for_screen",
    "render_image",
    "render_png",
    "render_svg",
    "render_terminal",
]

ECC_LEVELS = ("L", "M", "Q", "H")

#: The most characters any QR code holds (version 40, ECC L, all digits; 4,296 alphanumeric).
MAX_TEXT_CHARS = 7089

_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
_DIGITS = frozenset("0123456789")
# QR segment mode indicators (ISO/IEC 18004), the values qrcode uses too.
_NUMERIC, _ALNUM, _BYTE = 1, 2, 4


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
    code = _qrcode(text, ecc, border)
    code.data_cache = _codewords(code)  # qrcode lays out and masks these instead of computing its own
    code.make(fit=False)
    matrix: list[list[bool]] = code.get_matrix()
    return matrix


# Codewords that fill the data capacity after the last segment, alternately (ISO/IEC 18004 7.4.10).
_PAD_CODEWORDS = (0xEC, 0x11)


def _codewords(code: Any) -> list[int]:
    """Every codeword of a fitted ``qrcode.QRCode``, in the order the symbol holds them.

    Its segments, the terminator and padding, split into the blocks of its version and error-correction
    level, each block's Reed-Solomon codewords after it, interleaved (ISO/IEC 18004 7.4 and 7.6).
    qrcode 8.2 computes the same bytes, except that a block whose data codewords are all zero (a run of
    zeros in a numeric segment that covers a whole block: 146 zeros at ECC M, for one) makes its
    polynomial division take the logarithm of 0 and raise ``ValueError``; here that block's error
    correction is simply zero, as a linear code's is.
    """
    import qrcode.base
    import qrcode.util

    buffer = qrcode.util.BitBuffer()
    for segment in code.data_list:
        buffer.put(segment.mode, 4)
        buffer.put(len(segment), qrcode.util.length_in_bits(segment.mode, code.version))
        segment.write(buffer)
    blocks = qrcode.base.rs_blocks(code.version, code.error_correction)
    capacity = sum(block.data_count for block in blocks)
    bits = len(buffer)
    terminated = bits + min(capacity * 8 - bits, 4)  # up to four 0 bits, then 0 bits to a whole byte
    data = [*buffer.buffer, 0][: -(-terminated // 8)]
    data += [_PAD_CODEWORDS[i % 2] for i in range(capacity - len(data))]
    data_blocks: list[list[int]] = []
    ecc_blocks: list[list[int]] = []
    for block in blocks:
        start = sum(len(done) for done in data_blocks)
        data_blocks.append(data[start : start + block.data_count])
        ecc_blocks.append(_reed_solomon(data_blocks[-1], block.total_count - block.data_count))
    return _interleave(data_blocks) + _interleave(ecc_blocks)


def _interleave(blocks: list[list[int]]) -> list[int]:
    """The first codeword of every block, then the second of every block that has one, and so on."""
    longest = max(len(block) for block in blocks)
    return [block[i] for i in range(longest) for block in blocks if i < len(block)]


def _gf256_tables() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Powers of 2 (doubled in length, so sums of two logarithms need no modulo) and their logarithms
    in GF(256) with the QR field polynomial x^8 + x^4 + x^3 + x^2 + 1."""
    exp, log = [0] * 510, [0] * 256
    value = 1
    for power in range(255):
        exp[power] = exp[power + 255] = value
        log[value] = power
        value <<= 1
        if value & 0x100:
            value ^= 0x11D
    return tuple(exp), tuple(log)


_EXP, _LOG = _gf256_tables()


@cache
def _generator(degree: int) -> tuple[int, ...]:
    """The Reed-Solomon generator polynomial (x - 2^0)(x - 2^1)...(x - 2^(degree-1)), highest term first."""
    poly = [1]
    for power in range(degree):
        product = [*poly, 0]
        for i, coefficient in enumerate(poly):
            if coefficient:
                product[i + 1] ^= _EXP[_LOG[coefficient] + power]
        poly = product
    return tuple(poly)


def _reed_solomon(data: list[int], degree: int) -> list[int]:
    """The ``degree`` error-correction codewords of ``data``: the remainder of data(x) * x^degree by the generator."""
    generator = _generator(degree)
    remainder = [0] * degree
    for codeword in data:
        factor = codeword ^ remainder[0]
        remainder = [*remainder[1:], 0]
        if factor:
            shift = _LOG[factor]
            for i, coefficient in enumerate(generator[1:]):
                if coefficient:
                    remainder[i] ^= _EXP[shift + _LOG[coefficient]]
    return remainder


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
