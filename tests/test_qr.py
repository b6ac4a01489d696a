"""Tests for econsent.qr: rendering, scanning through each backend, input limits and camera frames."""

from __future__ import annotations

import io
import math
import re
import struct
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import qrcode
import qrcode.exceptions
import qrcode.util
import zxingcpp
from camera import base45, camera_frame, presentation_text
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from econsent import qr
from econsent.errors import MissingDependencyError, QRError

BACKENDS = ("zxing", "zbar")

ALNUM = presentation_text(330, seed=2024)  # 499 characters of Base45: a presentation-sized payload
DIGITS = presentation_text(330, seed=5, digits=True)  # the same size in the codec's decimal form
SHORT = presentation_text(40, seed=7)
CHINESE = "电子驾驶证 张三 京A·12345 有效期至2031-05-01 ✓"  # byte mode, UTF-8
SIDE_BY_VERSION = {v: 17 + 4 * v for v in range(1, 41)}


@lru_cache
def png(text: str, module_px: int = 4) -> bytes:
    return qr.render_png(text, module_px=module_px)


def module_matrix(text: str, *, ecc: str = "M", border: int = 4) -> list[list[bool]]:
    """The rendered code read back pixel by pixel at one pixel a module (True = dark)."""
    image = qr.render_image(text, ecc=ecc, module_px=1, border=border).convert("L")
    pixels = image.tobytes()
    return [[pixels[y * image.width + x] == 0 for x in range(image.width)] for y in range(image.height)]


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height``: what a decompression bomb looks like."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_base45_helper_matches_rfc_9285_examples() -> None:
    assert base45(b"AB") == "BB8"
    assert base45(b"Hello!!") == "%69 VD92EX0"
    assert base45(b"base-45") == "UJCLQE7W581"
    assert len(ALNUM) == 499 and set(ALNUM) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


# ---------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text", [ALNUM, DIGITS, CHINESE], ids=["alnum", "digits", "chinese"])
def test_png_round_trip_through_each_backend(backend: str, text: str) -> None:
    assert qr.scan(png(text), backends=(backend,)) == [text]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text", [ALNUM, DIGITS, CHINESE], ids=["alnum", "digits", "chinese"])
def test_jpeg_round_trip_through_each_backend(backend: str, text: str) -> None:
    buffer = io.BytesIO()
    qr.render_image(text, module_px=4).save(buffer, format="JPEG", quality=60)
    assert qr.scan(buffer.getvalue(), backends=(backend,)) == [text]


# Runs of zeros whose numeric segment fills a whole Reed-Solomon block with zero codewords (qrcode 8.2
# raised ValueError("glog(0)") on every one): at each ECC level the shortest such run at versions 1-10,
# 20, 27 (where the length field grows) and 40, the longest run before versions 10 and 27, and the
# longest run any QR code holds. Short runs, which fill no block, are the control.
ZERO_RUNS = {
    "L": [1, 2, 3, 319, 367, 458, 550, 552, 553, 1904, 3283, 3284, 6744, 7089],
    "M": [1, 2, 3, 145, 146, 199, 203, 256, 294, 366, 432, 433, 1501, 2544, 2545, 5314, 5596],
    "Q": [1, 2, 3, 74, 108, 112, 145, 179, 208, 260, 312, 313, 1064, 1804, 1805, 3792, 3993],
    "H": [1, 2, 3, 55, 59, 83, 107, 140, 155, 203, 235, 236, 814, 1425, 1426, 2928, 3057],
}


@pytest.mark.parametrize(("ecc", "length"), [(ecc, length) for ecc, lengths in ZERO_RUNS.items() for length in lengths])
def test_a_run_of_zeros_that_fills_a_block_renders_and_reads_back(ecc: str, length: int) -> None:
    text = "0" * length
    image = qr.render_image(text, ecc=ecc, module_px=2)
    for backend in BACKENDS:
        assert qr.Scanner(backends=(backend,), budget_ms=None).scan(image).texts == (text,), backend


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    text=st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:abcé中", min_size=1, max_size=400),
    ecc=st.sampled_from(qr.ECC_LEVELS),
)
def test_the_codewords_are_the_ones_qrcode_computes_where_it_can(text: str, ecc: str) -> None:
    """econsent computes the codewords (qrcode's own fail on an all-zero block); elsewhere they are the same."""
    from econsent.qr import render

    code = render._qrcode(text, ecc, 0)
    try:
        theirs = qrcode.util.create_data(code.version, code.error_correction, code.data_list)
    except ValueError:  # qrcode's glog(0) on an all-zero block: the round-trip test above covers those
        return
    assert render._codewords(code) == theirs


def test_png_is_black_on_white_grayscale_with_a_four_module_quiet_zone() -> None:
    version = qr.qr_version(SHORT)
    with Image.open(io.BytesIO(qr.render_png(SHORT, module_px=3))) as image:
        assert image.format == "PNG"
        assert image.mode in ("1", "L")
        assert image.size == ((SIDE_BY_VERSION[version] + 8) * 3,) * 2
        gray = np.asarray(image.convert("L"))
    assert set(np.unique(gray)) == {0, 255}
    quiet = 4 * 3
    for band in (gray[:quiet], gray[-quiet:], gray[:, :quiet], gray[:, -quiet:]):
        assert (band == 255).all()
    assert (gray[quiet : quiet + 3, quiet : quiet + 3] == 0).all()  # finder pattern corner


def test_border_and_module_px_set_the_image_size() -> None:
    side = SIDE_BY_VERSION[qr.qr_version(SHORT)]
    assert qr.render_image(SHORT, module_px=1, border=0).size == (side, side)
    assert qr.render_image(SHORT, module_px=5, border=2).size == ((side + 4) * 5,) * 2


# ---------------------------------------------------------------------------------------------
# SVG and terminal output


@pytest.mark.parametrize("module_px", [1, 3, 8])
def test_svg_is_valid_xml_sized_by_module_px_and_draws_the_same_modules(module_px: int) -> None:
    svg = qr.render_svg(SHORT, module_px=module_px)
    root = ET.fromstring(svg.encode("utf-8"))
    namespace = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{namespace}svg"
    expected = module_matrix(SHORT)
    side = len(expected)
    assert root.get("width") == root.get("height") == str(side * module_px)
    assert root.get("viewBox") == f"0 0 {side} {side}"
    (path,) = root.iter(f"{namespace}path")

    d = path.get("d", "")
    assert re.fullmatch(r"(M\d+ \d+h(\d+)v1h-\2z)+", d)  # nothing but one-module-high runs
    drawn = [[False] * side for _ in range(side)]
    for x, y, length in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", d):
        for dx in range(int(length)):
            assert not drawn[int(y)][int(x) + dx], "runs overlap"
            drawn[int(y)][int(x) + dx] = True
    assert drawn == expected


@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize("border", [4, 1])
def test_terminal_text_is_half_blocks_two_module_rows_a_line(invert: bool, border: int) -> None:
    art = qr.render_terminal(SHORT, border=border, invert=invert)
    expected = module_matrix(SHORT, border=border)
    side = len(expected)
    lines = art.splitlines()
    assert len(lines) == math.ceil(side / 2)
    assert all(len(line) == side for line in lines)
    assert set(art) <= {" ", "▀", "▄", "█", "\n"}

    upper = {"▀": True, "█": True, "▄": False, " ": False}
    lower = {"▄": True, "█": True, "▀": False, " ": False}
    painted = []
    for line in lines:
        painted.append([upper[c] for c in line])
        painted.append([lower[c] for c in line])
    # Glyphs paint dark modules, or light ones when inverted; an odd last row is padded with light.
    modules = [[cell != invert for cell in row] for row in painted]
    assert modules[:side] == expected
    assert all(not dark for row in modules[side:] for dark in row)


# ---------------------------------------------------------------------------------------------
# QR version


def test_alphanumeric_payload_gets_the_minimal_version() -> None:
    text = presentation_text(344, seed=1)  # 520 characters
    assert len(text) == 520
    version = qr.qr_version(text)
    assert version <= 14

    forced = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    forced.add_data(qrcode.util.QRData(text, mode=qrcode.util.MODE_ALPHA_NUM))
    assert version == forced.best_fit()
    optimised = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    optimised.add_data(text)
    assert version <= optimised.best_fit()

    # Independently of best_fit: one version smaller overflows.
    smaller = qrcode.QRCode(version=version - 1, error_correction=qrcode.constants.ERROR_CORRECT_M)
    smaller.add_data(qrcode.util.QRData(text, mode=qrcode.util.MODE_ALPHA_NUM))
    with pytest.raises(qrcode.exceptions.DataOverflowError):
        smaller.make(fit=False)


@pytest.mark.parametrize("text", [ALNUM, DIGITS, CHINESE], ids=["alnum", "digits", "chinese"])
def test_rendered_symbol_has_the_reported_version(text: str) -> None:
    version = qr.qr_version(text)
    assert qr.render_image(text, module_px=1, border=0).width == SIDE_BY_VERSION[version]
    (barcode,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png(text))).convert("L"))
    assert barcode.extra["Version"] == str(version)
    assert barcode.extra["ECLevel"] == "M"


def test_a_digit_payload_gets_a_numeric_segment_after_its_prefix() -> None:
    def version_of(*segments: qrcode.util.QRData) -> int:
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
        for segment in segments:
            code.add_data(segment)
        return int(code.best_fit())

    prefix, digits = DIGITS[:4], DIGITS[4:]
    expected = version_of(
        qrcode.util.QRData(prefix, mode=qrcode.util.MODE_ALPHA_NUM),
        qrcode.util.QRData(digits, mode=qrcode.util.MODE_NUMBER),
    )
    assert qr.qr_version(DIGITS) == expected
    assert expected < version_of(qrcode.util.QRData(DIGITS, mode=qrcode.util.MODE_ALPHA_NUM))


_MIXED = st.text(alphabet="0123456789ABCXYZ:$ abcé电", min_size=1, max_size=150)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(_MIXED)
def test_any_text_gets_no_larger_a_version_than_qrcode_would_choose_and_reads_back(text: str) -> None:
    optimised = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    optimised.add_data(text)
    single = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    single.add_data(qrcode.util.QRData(text))
    assert qr.qr_version(text) <= min(optimised.best_fit(), single.best_fit())
    assert qr.scan(qr.render_image(text, module_px=2), backends=("zxing",)) == [text]


def test_byte_mode_text_costs_what_qrcode_says_a_utf8_segment_costs() -> None:
    reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    reference.add_data(qrcode.util.QRData(CHINESE.encode("utf-8"), mode=qrcode.util.MODE_8BIT_BYTE))
    assert qr.qr_version(CHINESE) == reference.best_fit()


@pytest.mark.parametrize("text", [ALNUM, CHINESE], ids=["alnum", "chinese"])
def test_stronger_error_correction_never_needs_a_smaller_version(text: str) -> None:
    versions = [qr.qr_version(text, ecc=level) for level in ("L", "M", "Q", "H")]
    assert versions == sorted(versions)
    assert versions[0] < versions[-1]


def test_text_too_long_for_version_40_is_a_qr_error() -> None:
    assert qr.qr_version("A" * 4296, ecc="L") == 40
    assert qr.qr_version("1" * qr.MAX_TEXT_CHARS, ecc="L") == 40
    with pytest.raises(QRError, match="version-40"):
        qr.qr_version("A" * 4296, ecc="H")


# ---------------------------------------------------------------------------------------------
# What scan accepts


def _rgba_on_transparent(text: str) -> Image.Image:
    """Dark modules opaque, everything else transparent black: unreadable unless laid on white."""
    gray = qr.render_image(text, module_px=4).convert("L")
    alpha = gray.point(lambda v: 255 - v)
    image = Image.new("RGBA", gray.size, (0, 0, 0, 0))
    image.putalpha(alpha)
    return image


SOURCES = {
    "pathlib": lambda tmp, data: tmp,
    "str path": lambda tmp, data: str(tmp),
    "bytes": lambda tmp, data: data,
    "bytearray": lambda tmp, data: bytearray(data),
    "memoryview": lambda tmp, data: memoryview(data),
    "PIL 1-bit": lambda tmp, data: Image.open(io.BytesIO(data)),
    "PIL RGB": lambda tmp, data: Image.open(io.BytesIO(data)).convert("RGB"),
    "PIL RGBA on transparent": lambda tmp, data: _rgba_on_transparent(SHORT),
    "numpy gray": lambda tmp, data: np.asarray(Image.open(io.BytesIO(data)).convert("L")),
    "numpy RGB": lambda tmp, data: np.asarray(Image.open(io.BytesIO(data)).convert("RGB")),
    "numpy RGBA": lambda tmp, data: np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")),
    "numpy gray, Fortran order": lambda tmp, data: (
        np.asarray(Image.open(io.BytesIO(data)).convert("L").transpose(Image.Transpose.TRANSPOSE)).T
    ),
}


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_scan_accepts_every_documented_input(make: Callable[[Path, bytes], object], tmp_path: Path) -> None:
    data = png(SHORT)
    path = tmp_path / "code.png"
    path.write_bytes(data)
    assert qr.scan(make(path, data)) == [SHORT]  # type: ignore[arg-type]


def test_two_codes_in_one_image_are_both_found() -> None:
    first, second = (Image.open(io.BytesIO(png(text))).convert("L") for text in (SHORT, CHINESE))
    canvas = Image.new("L", (first.width + second.width + 40, max(first.height, second.height) + 40), 255)
    canvas.paste(first, (20, 20))
    canvas.paste(second, (20 + first.width, 20))
    assert sorted(qr.scan(canvas)) == sorted([SHORT, CHINESE])


def test_the_same_code_twice_is_reported_once() -> None:
    code = Image.open(io.BytesIO(png(SHORT))).convert("L")
    canvas = Image.new("L", (code.width * 2, code.height), 255)
    canvas.paste(code, (0, 0))
    canvas.paste(code, (code.width, 0))
    assert qr.scan(canvas, backends=("zbar",)) == [SHORT]
    assert qr.scan(canvas, backends=("zxing",)) == [SHORT]


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (640, 480), 255),
        Image.fromarray(np.random.default_rng(3).integers(0, 256, (480, 640), dtype=np.uint8)),
    ],
    ids=["blank", "noise"],
)
def test_an_image_without_a_code_gives_an_empty_list(image: Image.Image) -> None:
    assert qr.scan(image) == []


@pytest.mark.parametrize(
    "payload",
    [b"EC1:ABC\x82\xa0DEF", "EC1:张三 驾驶证".encode("gbk")],
    ids=["shift-jis-like pair", "gbk"],
)
def test_zbar_binary_flag_returns_byte_mode_payloads_unchanged(payload: bytes) -> None:
    with pytest.raises(UnicodeDecodeError):
        payload.decode("utf-8")
    expected = payload.decode("latin-1")  # scan's fallback for bytes that are not UTF-8
    code = qrcode.QRCode(box_size=4)
    code.add_data(qrcode.util.QRData(payload, mode=qrcode.util.MODE_8BIT_BYTE))
    image = code.make_image().get_image().convert("L")

    # Without the flag zbar guesses an encoding (Shift-JIS, here) and returns other text: the
    # failure this test guards against. (Its Latin-1 guess would go unnoticed, as scan decodes it back.)
    from pyzbar.pyzbar import ZBarSymbol, decode

    (stock,) = decode(image, symbols=[ZBarSymbol.QRCODE])
    assert stock.data.decode("utf-8") != expected

    assert qr.scan(image, backends=("zbar",)) == [expected]
    assert qr.scan(image, backends=("zxing",)) == [expected]


@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_read_only_qr_codes(backend: str) -> None:
    ean = zxingcpp.create_barcode("5901234123457", zxingcpp.BarcodeFormat.EAN13).to_image(scale=3)
    image = np.pad(np.asarray(ean), 40, constant_values=255)
    assert zxingcpp.read_barcodes(image)  # a readable barcode, just not a QR code
    assert qr.scan(image, backends=(backend,)) == []


# ---------------------------------------------------------------------------------------------
# What scan refuses


def test_corrupt_bytes_are_a_qr_error() -> None:
    with pytest.raises(QRError, match="not an image") as caught:
        qr.scan(b"this is not an image at all")
    assert caught.value.__cause__ is not None


def test_truncated_png_is_a_qr_error() -> None:
    data = png(ALNUM)
    with pytest.raises(QRError, match="corrupt or truncated"):
        qr.scan(data[: len(data) // 2])  # decoded in the scan worker: its message crosses, not its cause
    with pytest.raises(QRError, match="corrupt or truncated") as caught:
        qr.scan(data[: len(data) // 2], deadline=None)
    assert caught.value.__cause__ is not None


def test_a_non_image_file_a_directory_and_a_missing_file_are_qr_errors(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image\n")
    with pytest.raises(QRError, match="not an image"):
        qr.scan(text_file)
    with pytest.raises(QRError, match="directory"):
        qr.scan(tmp_path)
    with pytest.raises(QRError, match="cannot read"):
        qr.scan(tmp_path / "missing.png")


@pytest.mark.parametrize(
    ("width", "height"),
    [(50_000, 50_000), (10_000, 10_000), (7_000, 7_000), (9_000, 16)],
    ids=["Pillow's bomb error", "Pillow's bomb warning", "over 40 megapixels", "over 8192 a side"],
)
def test_oversized_dimensions_are_refused_from_the_header(width: int, height: int) -> None:
    data = png_claiming(width, height)
    assert len(data) < 100
    with pytest.raises(QRError, match="limit"):
        qr.scan(data)


def test_a_decompression_bomb_is_refused_without_leaking_pillows_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(QRError, match="limit"):
            qr.scan(png_claiming(10_000, 10_000))
    assert caught == []


def test_oversized_pil_image_and_array_are_refused() -> None:
    with pytest.raises(QRError, match="8192"):
        qr.scan(Image.new("L", (9000, 8), 255))
    with pytest.raises(QRError, match="8192"):
        qr.scan(np.full((8, 9000), 255, dtype=np.uint8))


def test_encoded_input_over_20_mb_is_refused_before_decoding() -> None:
    with pytest.raises(QRError, match="bytes; the limit"):
        qr.scan(png(SHORT) + bytes(qr.MAX_IMAGE_BYTES))


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((64, 64), dtype=np.float32),
        np.zeros((64, 64), dtype=np.uint16),
        np.zeros((64, 64, 2), dtype=np.uint8),
        np.zeros((2, 64, 64, 3), dtype=np.uint8),
        np.zeros((0, 64), dtype=np.uint8),
    ],
    ids=["float32", "uint16", "two channels", "four dimensions", "empty"],
)
def test_numpy_arrays_of_the_wrong_dtype_or_shape_are_qr_errors(array: np.ndarray) -> None:
    with pytest.raises(QRError):
        qr.scan(array)


def test_an_unsupported_input_type_is_a_qr_error() -> None:
    with pytest.raises(QRError, match="cannot scan a int"):
        qr.scan(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("backends", [("opencv",), ("zxing", "quirc"), (), "zxing"])
def test_unknown_or_malformed_backends_are_qr_errors(backends: tuple[str, ...]) -> None:
    with pytest.raises(QRError):
        qr.scan(png(SHORT), backends=backends)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.data())
def test_damaged_png_gives_texts_or_a_qr_error_never_anything_else(data: st.DataObject) -> None:
    damaged = bytearray(png(SHORT))
    for position in data.draw(st.lists(st.integers(0, len(damaged) - 1), max_size=6)):
        damaged[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(damaged)))
    try:
        found = qr.scan(bytes(damaged[:cut]))
    except QRError:
        return
    assert all(isinstance(text, str) for text in found)


# ---------------------------------------------------------------------------------------------
# Render argument checks


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text": ""},
        {"text": "1" * 7090},
        {"text": "A" * 4297},
        {"text": "\ud800"},
        {"ecc": "X"},
        {"ecc": "m"},
        {"module_px": 0},
        {"module_px": 65},
        {"module_px": True},
        {"border": -1},
        {"border": 17},
    ],
    ids=str,
)
def test_invalid_render_arguments_are_qr_errors(kwargs: dict[str, object]) -> None:
    arguments: dict[str, object] = {"text": SHORT, **kwargs}
    with pytest.raises(QRError):
        qr.render_png(**arguments)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Dependencies


def test_importing_every_qr_module_imports_no_imaging_or_decoder_library() -> None:
    heavy = ("PIL", "qrcode", "pyzbar", "zxingcpp", "numpy", "cv2")
    program = (
        "import importlib, pkgutil, sys, econsent.qr\n"
        "for module in pkgutil.walk_packages(econsent.qr.__path__, 'econsent.qr.'):\n"
        "    importlib.import_module(module.name)\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_available_backends_lists_both_here() -> None:
    assert qr.available_backends() == ["zxing", "zbar"]


@pytest.mark.parametrize(
    ("module", "backend", "advice"),
    [("zxingcpp", "zxing", "pip install 'econsent[scan]'"), ("pyzbar.wrapper", "zbar", "apt-get install libzbar0")],
)
def test_a_missing_backend_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, module: str, backend: str, advice: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    assert backend not in qr.available_backends()
    with pytest.raises(MissingDependencyError, match=re.escape(advice)):
        qr.scan(png(SHORT), backends=(backend,))


def test_missing_pillow_or_qrcode_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qrcode", None)
    with pytest.raises(MissingDependencyError, match="pip install qrcode"):
        qr.render_svg(SHORT)
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(MissingDependencyError, match="pip install Pillow"):
        qr.scan(b"\x89PNG")


# ---------------------------------------------------------------------------------------------
# Camera frames


def test_camera_frames_at_5_px_per_module_decode() -> None:
    # Measured with this payload (v14 at M) and seeds 0-9: the default pipeline decodes 9 of 10
    # (seed 9, the lowest-contrast frame, defeats both backends; zxing alone also gets 9, zbar alone
    # 7). The bar leaves one frame of slack for other libjpeg/Pillow/decoder builds.
    decoded = 0
    for seed in range(10):
        frame = camera_frame(ALNUM, seed=seed, px_per_module=5)
        assert frame.size == (1280, 720) and frame.mode == "L"
        decoded += qr.scan(frame) == [ALNUM]
    assert decoded >= 8


def test_camera_frames_are_deterministic_and_refuse_codes_that_do_not_fit() -> None:
    first = camera_frame(SHORT, seed=5, px_per_module=4)
    assert first.tobytes() == camera_frame(SHORT, seed=5, px_per_module=4).tobytes()
    assert first.tobytes() != camera_frame(SHORT, seed=6, px_per_module=4).tobytes()
    with pytest.raises(ValueError, match="does not fit"):
        camera_frame(ALNUM, seed=0, px_per_module=9)
