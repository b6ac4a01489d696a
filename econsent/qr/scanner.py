"""The scan pipeline: cheap passes first, harder ones only when they fail, within a time budget.

:class:`Scanner` reads a frame with zxing-cpp (the most robust and fastest decoder on camera frames) as
it is; only when that finds nothing do further passes follow (inversion for dark-mode screens, the
frame at half size for large, noisy modules, sharpening band-passes for blur, an enlarged band-pass
for small modules), then libzbar, all within a time budget per frame. With a deadline the image is
decoded and scanned in a scan worker process (:mod:`._worker`) that is killed when the deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from econsent.errors import ImageRefusal, ImageRefusedError, MissingDependencyError, QRError

from . import _worker
from ._checks import _PILLOW, _require
from .decoders import _load_backend, _resolve_backends, available_backends
from .images import ImageSource, _Gray, _gray_from_encoded, _inverted, _open_encoded, _source, _to_gray

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "DEFAULT_BUDGET_MS",
    "DEFAULT_DEADLINE",
    "LARGE_IMAGE_PIXELS",
    "MAX_DEADLINE",
    "SCAN_PASSES",
    "PassReport",
    "ScanResult",
    "Scanner",
    "scan",
]

#: Images larger than this (pixels; a 1080p frame is 2,073,600) get only the cheap passes, ``plain``,
#: ``invert`` and ``reduced``: the sharpening passes exist for small, blurred modules in camera frames.
LARGE_IMAGE_PIXELS = 2_500_000
#: Seconds :func:`scan` allows one image by default, decoding included, before the scan worker is stopped.
DEFAULT_DEADLINE = 2.0
#: The longest deadline a caller may set (seconds).
MAX_DEADLINE = 600.0

#: The passes, in the order they run; each one only when every earlier one found nothing.
#: ``plain`` is the frame as captured, dark on light only: most frames are read there, and reading
#: both polarities at once would cost every one of them a second detection; ``invert`` reads
#: light-on-dark codes (a wallet in dark mode); ``reduced`` is the frame at half size (helps large,
#: noisy modules); ``sharpen`` restores the module contrast that defocus and motion blur take away;
#: ``sharpen-strong`` and ``sharpen-denoised`` retry blurred frames with more gain and with more
#: smoothing; ``enlarged`` is the strong band-pass enlarged 1.5x, for small blurred modules (3-4 px)
#: whose finder patterns zxing-cpp's binariser cannot resolve at their size. Every pass after
#: ``invert`` reads both polarities. ``docs/scanning.md`` has what each pass adds, measured.
SCAN_PASSES = ("plain", "invert", "reduced", "sharpen", "sharpen-strong", "sharpen-denoised", "enlarged")
#: A frame gets this long (ms) by default before remaining passes are skipped: about a camera's frame
#: interval. On the project machine the zxing-cpp passes up to ``sharpen-denoised`` fit (about 25 ms in
#: all); ``enlarged`` and slow zbar do not; on a slower machine more passes give way, since a frame
#: that defeats the cheap ones is often better replaced by the next frame.
DEFAULT_BUDGET_MS = 35.0

# Band-pass filters: (small blur, large blur, gain); output = small + gain * (small - large), where a
# blur is box filters of these radii applied in turn. The small blur averages pixel noise away before
# the difference amplifies edges; the large one is the local background. Radii in pixels suit 3-8 px
# modules; the passes share their blurs (and ``enlarged`` the ``sharpen-strong`` image), so the later
# ones cost little more than a decode. The filtered frames are made, and read, transposed (a mirror
# image, which both decoders read): Pillow's vertical box blur walks columns and costs six horizontal
# ones, so each blur runs along rows, the frame is transposed, and it runs along rows again. The same
# pixels as a 2-D box blur, a quarter less time for a sharpening pass (measured in docs/scanning.md).
_BAND_PASS = {
    "sharpen": ((1,), (3,), 2.5),
    "sharpen-strong": ((1,), (3,), 4.0),
    "sharpen-denoised": ((1, 1), (3,), 2.5),
}
# The enlarged pass's scale: 1.5x read 3-4 more frames in 100 at 3-3.5 px a module than 1x or 2x.
_ENLARGE = 1.5
# Measured cost of each pass, ms per megapixel on one core of the project machine: what the budget
# expects before a scanner has timed a pass itself.
_PRIOR_MS_PER_MP = {
    ("zxing", "plain"): 2.5,
    ("zxing", "invert"): 3.5,
    ("zxing", "reduced"): 1.3,
    ("zxing", "sharpen"): 10.0,
    ("zxing", "sharpen-strong"): 4.0,
    ("zxing", "sharpen-denoised"): 8.5,
    ("zxing", "enlarged"): 15.0,
    ("zbar", "plain"): 25.0,
    ("zbar", "invert"): 25.0,
    ("zbar", "reduced"): 8.0,
    ("zbar", "sharpen"): 60.0,
    ("zbar", "sharpen-strong"): 50.0,
    ("zbar", "sharpen-denoised"): 55.0,
    ("zbar", "enlarged"): 110.0,
}

# The passes a large image gets (see LARGE_IMAGE_PIXELS).
_LARGE_IMAGE_PASSES = ("plain", "invert", "reduced")
# The share of the deadline the worker plans its passes into; the rest is slack before the kill.
_PLANNED_SHARE = 0.8


def _to_text(payload: bytes) -> str:
    """Payload bytes as text: UTF-8, else latin-1, which maps every byte and never fails."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")


class _Frame:
    """One frame's grayscale pixels and the images derived from them, each made at most once."""

    __slots__ = ("_blurs", "_filtered", "_image", "gray")

    def __init__(self, gray: _Gray) -> None:
        self.gray = gray
        self._image: Image.Image | None = None
        self._blurs: dict[tuple[int, ...], Image.Image] = {}
        self._filtered: dict[str, Image.Image] = {}

    def image(self) -> Image.Image:
        """The frame as a Pillow image."""
        from PIL import Image

        if self._image is None:
            self._image = Image.frombytes("L", (self.gray.width, self.gray.height), self.gray.pixels)
        return self._image

    def _blur(self, radii: tuple[int, ...]) -> Image.Image:
        """The frame through box blurs of ``radii`` in turn, transposed (see ``_BAND_PASS``)."""
        from PIL import Image, ImageFilter

        if radii not in self._blurs:
            image = self.image()
            for radius in radii:
                image = image.filter(ImageFilter.BoxBlur((radius, 0)))
            image = image.transpose(Image.Transpose.TRANSPOSE)
            for radius in radii:
                image = image.filter(ImageFilter.BoxBlur((radius, 0)))
            self._blurs[radii] = image
        return self._blurs[radii]

    def _band_pass(self, name: str) -> Image.Image:
        """The frame through the band-pass filter of pass ``name``, transposed (see ``_BAND_PASS``)."""
        from PIL import Image

        if name not in self._filtered:
            small, large, gain = _BAND_PASS[name]
            # blend(a, b, alpha) = a + alpha * (b - a), clipped to 0-255: with a = large, b = small.
            self._filtered[name] = Image.blend(self._blur(large), self._blur(small), 1 + gain)
        return self._filtered[name]

    def pass_input(self, name: str) -> tuple[_Gray, bool]:
        """The image pass ``name`` reads, and whether to also read it inverted.

        Every derived image is read in both polarities (a dark-mode frame reaches them too); the
        frame and its negative in one each.
        """
        from PIL import Image

        if name == "plain":
            return self.gray, False
        if name == "invert":
            return _inverted(self.gray), False
        if name == "reduced":
            image = self.image().reduce(2)
        elif name == "enlarged":
            strong = self._band_pass("sharpen-strong")
            size = (round(strong.width * _ENLARGE), round(strong.height * _ENLARGE))
            image = strong.resize(size, Image.Resampling.BILINEAR)
        else:
            image = self._band_pass(name)
        return _Gray(image.tobytes(), image.width, image.height), True


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
    ``backends=None`` uses the default backends that are installed (zbar alone without the ``scan``
    extra); a backend named explicitly must be installed.
    ``budget_ms=None`` runs every pass, so results depend on the image alone. Images over
    :data:`LARGE_IMAGE_PIXELS` get the ``plain``, ``invert`` and ``reduced`` passes only.

    ``deadline`` (seconds) makes the time per image a hard bound: the image is decoded and scanned in
    a separate scan worker process (kept running between images, limited to
    :data:`~econsent.qr._worker.WORKER_MEMORY`),
    which is killed when the deadline passes, even inside a native decoder; the scan then raises
    :class:`~econsent.errors.ImageRefusedError` with reason ``IMAGE_DEADLINE``. Passes that would not
    fit in the time left are skipped first, so an ordinary image ends with a result. Without a
    deadline the scan runs in this process (trusted images, or when the caller bounds time itself).
    """

    __slots__ = ("_backends", "_budget", "_clock", "_deadline", "_estimates", "_passes", "_readers")

    def __init__(
        self,
        *,
        backends: Sequence[str] | None = None,
        passes: Sequence[str] = SCAN_PASSES,
        budget_ms: float | None = DEFAULT_BUDGET_MS,
        deadline: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if isinstance(passes, str) or not passes or any(name not in SCAN_PASSES for name in passes):
            raise QRError(f"passes must be a non-empty sequence taken from {', '.join(SCAN_PASSES)}")
        if budget_ms is not None and not budget_ms > 0:
            raise QRError(f"budget_ms must be positive or None, not {budget_ms!r}")
        if deadline is not None and (
            isinstance(deadline, bool) or not isinstance(deadline, int | float) or not 0 < deadline <= MAX_DEADLINE
        ):
            raise QRError(f"deadline must be seconds, over 0 and at most {MAX_DEADLINE:g}, or None; not {deadline!r}")
        self._readers = _resolve_backends(backends)
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
            _worker._release_worker(_worker._take_worker())

    def scan(self, image: ImageSource) -> ScanResult:
        """Every QR code text in ``image`` (found in one run, in order, without duplicates).

        A contiguous grey numpy frame is read in place, without a copy: do not write into it (a capture
        buffer filled by another thread, say) until the scan returns.
        """
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
        for backend, decoder in self._readers:
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
                found = decoder.read(*frame.pass_input(name))
                ms = (self._clock() - begin) * 1000
                self._estimates[key] = 0.8 * self._estimates[key] + 0.2 * ms / max(megapixels, 1e-3)
                reports.append(PassReport(backend, name, ms, len(found)))
                texts = tuple(dict.fromkeys(_to_text(payload) for payload in found))
        return ScanResult(texts, tuple(reports), tuple(skipped), (self._clock() - started) * 1000)


def scan(
    image: ImageSource, *, backends: Sequence[str] | None = None, deadline: float | None = DEFAULT_DEADLINE
) -> list[str]:
    """Every QR code text found in ``image``, in the order found, without duplicates; ``[]`` if none.

    Backends are tried in order and the first that finds anything wins, so the fast, robust zxing-cpp
    answers most frames and zbar only sees what it missed. Each backend runs every pass of
    :data:`SCAN_PASSES` that fits in the ``deadline`` (seconds, :data:`DEFAULT_DEADLINE`): the image
    is scanned in a scan worker that is stopped at the deadline (see :class:`Scanner`), which raises
    :class:`~econsent.errors.ImageRefusedError`. ``deadline=None`` scans in this process with no
    time limit, so the result depends on the image alone (for images the caller trusts). By default
    (``backends=None``) the installed ones of :data:`~econsent.qr.decoders.DEFAULT_BACKENDS` are used;
    every backend named explicitly must be installed (checked before any pixel work), and
    :func:`~econsent.qr.decoders.available_backends` tells which are.
    """
    return list(Scanner(backends=backends, budget_ms=None, deadline=deadline).scan(image).texts)


# ---------------------------------------------------------------------------------------------
# Scanning in a scan worker (the process and its protocol are in _worker)


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
    reply = _worker._request(message, payload, deadline)
    if "refused" in reply:
        raise ImageRefusedError(ImageRefusal(reply["refused"]), str(reply["detail"]))
    if "missing" in reply:
        raise MissingDependencyError(str(reply["missing"]))
    if "error" in reply:
        raise QRError(str(reply["error"]))
    reports = tuple(PassReport(str(b), str(n), float(ms), int(found)) for b, n, ms, found in reply["passes"])
    return ScanResult(tuple(map(str, reply["texts"])), reports, tuple(map(str, reply["skipped"])), float(reply["ms"]))


def _serve() -> None:
    """The scan worker's entry point: Pillow and every installed decoder imported, then requests served."""
    _worker._serve_requests(_prepare_worker, partial(_serve_one, scanners={}))


def _prepare_worker() -> None:
    """Import every format plugin and decoder now, before the worker's memory limit applies."""
    _require(*_PILLOW)
    from PIL import Image

    Image.init()
    for name in available_backends():
        _load_backend(name)


def _serve_one(
    request: dict[str, Any],
    payload: bytes,
    started: float,
    scanners: dict[tuple[tuple[str, ...], tuple[str, ...]], Scanner],
) -> dict[str, Any]:
    """Scan one request in the worker; the reply a :func:`_scan_in_worker` call turns back into a result.

    The reply is a :class:`ScanResult` or the error the scan raised, as JSON.
    """
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
        return {"refused": exc.code.value, "detail": exc.detail}
    except MemoryError:
        return {"refused": ImageRefusal.OUT_OF_MEMORY.value, "detail": _OUT_OF_MEMORY}
    except MissingDependencyError as exc:
        return {"missing": exc.detail}
    except QRError as exc:
        return {"error": exc.detail}
    return {
        "texts": list(result.texts),
        "passes": [[p.backend, p.name, p.ms, p.found] for p in result.passes],
        "skipped": list(result.skipped),
        "ms": result.ms,
    }


_OUT_OF_MEMORY = f"decoding and scanning the image needed more than {_worker.WORKER_MEMORY // 2**20} MiB"
