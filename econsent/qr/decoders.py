"""The QR decoders scanning can use, each imported only when first asked for.

``zxing`` (zxing-cpp: the fastest and most robust on camera frames; a native wheel, so it comes with the
``scan`` extra, ``pip install 'econsent[scan]'``) and ``zbar`` (libzbar through pyzbar, a required
dependency). Both return a payload's exact bytes. Scanning with the default backends uses whichever of
them is installed; naming a backend that is not installed raises
:class:`~econsent.errors.MissingDependencyError` that says what to install.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import NamedTuple

from econsent.errors import MissingDependencyError, QRError

from ._checks import _require
from .images import _Gray, _inverted

__all__ = ["DEFAULT_BACKENDS", "available_backends"]

#: The backends a scan tries by default, in order (those of them that are installed).
DEFAULT_BACKENDS = ("zxing", "zbar")


# pyzbar 0.1.9 names value 4 CFG_NUM, but libzbar >= 0.23 defines it as ZBAR_CFG_BINARY. Without it,
# zbar guesses a text encoding for byte-mode data and returns it re-encoded as UTF-8.
_ZBAR_CFG_BINARY = 4
# fourcc "Y800" (8-bit grayscale); pyzbar mislabels it "L800".
_ZBAR_FOURCC_Y800 = 0x30303859


class _Backend(NamedTuple):
    """A decoder: the modules it imports, with install advice, and its read function.

    ``read(gray, invert)`` returns the payloads found; ``invert`` asks it to also read light-on-dark
    codes when the normal polarity finds nothing.
    """

    needs: tuple[tuple[str, str], ...]
    read: Callable[[_Gray, bool], list[bytes]]


def _read_zxing(gray: _Gray, invert: bool) -> list[bytes]:
    """Decode with zxing-cpp, QR Model 2 only; ``Barcode.bytes`` is the payload exactly as encoded.

    zxing-cpp 3 counts Micro QR and rMQR as QR codes; econsent renders neither, and the small
    symbols are the likeliest to be "found" in sharpened noise, so they are left out. ``invert``
    also reads light-on-dark codes, by inverting the binarised image. zxing-cpp's own downscaling
    is off: it rescans the whole frame at several sizes even after a read, and the scanner's
    ``reduced`` pass does the one size that helps (measured in ``docs/scanning.md``).
    """
    import zxingcpp

    model2 = getattr(zxingcpp.BarcodeFormat, "QRCodeModel2", zxingcpp.BarcodeFormat.QRCode)
    view = memoryview(gray.pixels).cast("B", (gray.height, gray.width))
    try:
        found = zxingcpp.read_barcodes(
            view, formats=zxingcpp.BarcodeFormats(model2), try_invert=invert, try_downscale=False
        )
    except Exception as exc:  # native code: whatever it raises must not escape as a foreign error
        raise QRError(f"zxing-cpp failed on the image: {exc}") from exc
    return [bytes(barcode.bytes) for barcode in found]


def _read_zbar(gray: _Gray, invert: bool) -> list[bytes]:
    """Decode with libzbar, QR only, with ZBAR_CFG_BINARY so byte-mode payloads are not re-encoded.

    pyzbar's ``decode`` cannot set that flag, so this is its equivalent built on ``pyzbar.wrapper``.
    zbar reads dark-on-light codes only: ``invert`` scans the inverted image (a second full scan)
    when nothing was found.
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
            pixels = bytes(gray.pixels)  # ctypes passes bytes, not a view, as a pointer
            zbar.zbar_image_set_data(image, pixels, len(pixels), None)
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
    "zxing": _Backend(
        (("zxingcpp", "the 'zxing' QR backend needs zxing-cpp, which comes with: pip install 'econsent[scan]'"),),
        _read_zxing,
    ),
    "zbar": _Backend(
        (
            ("pyzbar", "the 'zbar' QR backend needs pyzbar: pip install pyzbar"),
            ("pyzbar.wrapper", "the 'zbar' QR backend needs the zbar library: apt-get install libzbar0"),
        ),
        _read_zbar,
    ),
}


def _load_backend(name: str) -> _Backend:
    """Backend ``name``, after importing what its read function needs."""
    backend = _BACKENDS.get(name)
    if backend is None:
        raise QRError(f"unknown QR backend {name!r}; choose from {', '.join(_BACKENDS)}")
    for module, advice in backend.needs:
        _require(module, advice)
    return backend


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


def _resolve_backends(backends: Sequence[str] | None) -> list[tuple[str, _Backend]]:
    """The named backends, each checked to be installed, duplicates dropped.

    ``None`` means the :data:`DEFAULT_BACKENDS` that are installed, so an install without the ``scan``
    extra reads codes with zbar alone; a backend named explicitly must be installed.
    """
    if backends is None:
        names = available_backends()
        if not names:
            raise MissingDependencyError(
                "no QR decoder is installed: pip install 'econsent[scan]' for zxing-cpp, "
                "or apt-get install libzbar0 for zbar"
            )
    elif isinstance(backends, str) or not backends:
        raise QRError("backends must be a non-empty sequence of backend names, such as ('zxing', 'zbar')")
    else:
        names = list(dict.fromkeys(backends))
    return [(name, _load_backend(name)) for name in names]
