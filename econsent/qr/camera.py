"""Camera frames for scanning at a counter, through OpenCV (imported only when a camera is opened)."""

from __future__ import annotations

import importlib
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from econsent.errors import QRError

from ._checks import _OPENCV, _check_int, _require
from .images import MAX_IMAGE_SIDE

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["camera_frames"]


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
