"""Checks the qr modules share: integer options in range, and optional dependencies present.

Pillow, qrcode, the decoders and OpenCV are imported only when a function needs them; :func:`_require`
imports one at that moment, so a missing one fails with advice on what to install.
"""

from __future__ import annotations

import importlib

from econsent.errors import MissingDependencyError, QRError

_PILLOW = ("PIL", "Pillow is needed for QR images: pip install Pillow")
_OPENCV = ("cv2", "reading a camera needs OpenCV: pip install opencv-python-headless")
_QRCODE = ("qrcode", "qrcode is needed to render QR codes: pip install qrcode")


def _require(module: str, advice: str) -> None:
    """Import ``module`` now, so a missing optional dependency fails with advice on what to install."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(advice) from exc


def _check_int(name: str, value: int, low: int, high: int) -> None:
    """Refuse a non-integer or out-of-range option (bool is not an integer here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise QRError(f"{name} must be an integer from {low} to {high}, not {value!r}")
