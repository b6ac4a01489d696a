"""Render presentation text as QR codes, and read QR codes back from images and camera frames.

One module per job: :mod:`.render` (text to PNG, SVG, a Pillow image, terminal half-blocks, a phone
screen), :mod:`.images` (loading untrusted images under size caps, grey conversion), :mod:`.decoders`
(zxing-cpp and zbar, each imported when first used), :mod:`.scanner` (the multi-pass pipeline within
a time budget), :mod:`._worker` (the scan worker process a deadline can stop), :mod:`.camera` (frames
through OpenCV) and :mod:`.verify` (an image to a verdict). Pillow, qrcode, the decoders and OpenCV
are imported only when a function needs them, so ``import econsent`` stays light; zxing-cpp is
optional (``pip install 'econsent[scan]'``), and without it scanning uses zbar.
"""

from econsent.errors import ImageRefusal, ImageRefusedError, MissingDependencyError, QRError

from ._worker import WORKER_MEMORY
from .camera import camera_frames
from .decoders import DEFAULT_BACKENDS, available_backends
from .images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, MAX_JPEG_SCANS, ImageSource
from .render import (
    ECC_LEVELS,
    MAX_TEXT_CHARS,
    SCREEN_BORDER,
    SCREEN_ECC,
    qr_version,
    render_for_screen,
    render_image,
    render_png,
    render_svg,
    render_terminal,
)
from .scanner import (
    DEFAULT_BUDGET_MS,
    DEFAULT_DEADLINE,
    LARGE_IMAGE_PIXELS,
    MAX_DEADLINE,
    SCAN_PASSES,
    PassReport,
    Scanner,
    ScanResult,
    scan,
)
from .verify import verify_image

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
    "ImageRefusal",
    "ImageRefusedError",
    "ImageSource",
    "MissingDependencyError",
    "PassReport",
    "QRError",
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
    "verify_image",
]
