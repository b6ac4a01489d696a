"""``econsent scan``: a counter scanner. Reads codes continuously and shows a verdict card for each.

Sources: a camera (OpenCV), an image file, a folder of images (``--watch`` keeps polling it), or ``-``
for the lines a keyboard-wedge hardware scanner types. One replay cache spans the whole run, so a
presentation shown again later is reported REPLAYED; the same code still in view (consecutive frames,
or a hand-held scanner repeating it) is verified once, not once per sighting.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import os
import re
import sys
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .. import card, qr
from .._files import PRIVATE
from ..errors import (
    EXIT_REJECTED,
    EXIT_VALID,
    EconsentError,
    ErrorCode,
    QRError,
    VerificationError,
)
from ..i18n import N_, Language
from ..model import Verdict
from ..verify import Policy, Verifier
from ._common import (
    UsageError,
    float_range,
    int_range,
    parse_hex,
    parse_time,
    progress,
    progress_done,
    say,
    write_file,
)
from .verify import add_verification_options, policy_from_args, report_result, stdin_codes, verifier_from_args

__all__ = ["register"]

#: Image files a folder source reads; anything else in the folder is left alone.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
DEFAULT_HOLD = 5.0
DEFAULT_CARD_KEEP = 20
# A watched file modified more recently than this may still be being written: it waits a poll.
_SETTLE_SECONDS = 0.3


def register(sub: Any) -> None:
    """Add the ``scan`` command to the top-level sub-parsers."""
    scan = sub.add_parser(
        "scan",
        help="scan codes continuously (camera, image files, a folder, or a keyboard-wedge scanner) and verify each",
        description=(
            "Read codes from a camera, an image file, a folder of images or stdin lines, verify each one and "
            "print a verdict card. The same code seen again while still in view is verified once; a code "
            "verified earlier and shown again later is reported REPLAYED."
        ),
    )
    source = scan.add_argument_group("source (give one)")
    source.add_argument("source", nargs="?", help="an image file, a folder of images, or - for one code per stdin line")
    source.add_argument(
        "--camera", type=int_range(0, 1023), metavar="N", help="read frames from camera N (needs OpenCV)"
    )
    source.add_argument("--watch", action="store_true", help="keep polling the folder for new images")
    source.add_argument(
        "--interval",
        type=float_range(0, 3600, exclude_low=True),
        default=0.5,
        help="seconds between folder polls (default 0.5)",
    )
    source.add_argument("--frames", type=int_range(1, 2**31), help="stop the camera after this many frames")
    source.add_argument("--once", action="store_true", help="stop after the first code")
    add_verification_options(scan)  # the same options as `econsent verify`, built into a verifier the same way
    scan.add_argument(
        "--hold",
        type=float_range(0, 86_400),
        default=DEFAULT_HOLD,
        help=f"seconds a code counts as still in view after it was last read (default {DEFAULT_HOLD:g})",
    )
    scan.add_argument(
        "--budget-ms",
        type=float_range(0, 60_000, exclude_low=True),
        help=f"decode time per camera frame before harder passes are skipped (default {qr.DEFAULT_BUDGET_MS:g})",
    )
    scan.add_argument(
        "--deadline",
        type=float_range(0, qr.MAX_DEADLINE, exclude_low=True),
        default=qr.DEFAULT_DEADLINE,
        help=(
            "seconds an image file may take to decode and scan before it is stopped and refused "
            f"(default {qr.DEFAULT_DEADLINE:g}; camera frames are bounded by --budget-ms)"
        ),
    )
    scan.add_argument("--card-png", type=Path, metavar="DIR", help="also write each card as a PNG into DIR")
    scan.add_argument(
        "--card-width", type=int_range(320, 4096), default=800, help="PNG card width in pixels (default 800)"
    )
    scan.add_argument(
        "--card-keep",
        type=int_range(0, 1_000_000),
        default=DEFAULT_CARD_KEEP,
        help=f"PNG cards kept in DIR, newest first; 0 keeps all (default {DEFAULT_CARD_KEEP}: cards are personal data)",
    )
    scan.add_argument("--font", type=Path, help=f"font with Chinese glyphs for PNG cards (default: ${card.FONT_ENV})")
    scan.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour the cards")
    scan.add_argument("--json", action="store_true", help="one JSON object per code instead of cards")
    scan.set_defaults(handler=_cmd_scan)


@dataclass(frozen=True, slots=True)
class Sighting:
    """What one frame, file or line showed: where it came from, the texts read, and how they were read."""

    source: str
    texts: tuple[str, ...]
    scan: qr.ScanResult | None = None
    error: str | None = None  # the image could not be read at all


class Debouncer:
    """Tells a code newly shown from one still in view, so that each showing is verified once.

    A code counts as in view until ``hold`` seconds after it was last read. ``exclusive`` sightings
    (a file, a line typed by a scanner) show one thing at a time, so a code they do not show has left
    the view; camera frames are not exclusive (a decoder misses a code in some frames).
    """

    __slots__ = ("_hold", "_seen")

    def __init__(self, hold: float) -> None:
        if not hold >= 0:
            raise ValueError("hold must be zero or more seconds")
        self._hold = hold
        self._seen: dict[str, float] = {}

    def fresh(self, texts: Sequence[str], at: float, *, exclusive: bool) -> list[str]:
        """The texts among ``texts`` not already in view at time ``at``; all of them are in view now."""
        self._seen = {
            text: seen
            for text, seen in self._seen.items()
            if at - seen <= self._hold and (text in texts or not exclusive)
        }
        new = [text for text in dict.fromkeys(texts) if text not in self._seen]
        self._seen.update(dict.fromkeys(texts, at))
        return new


@dataclass(slots=True)
class _Tally:
    valid: int = 0
    rejected: int = 0

    @property
    def total(self) -> int:
        return self.valid + self.rejected


class _Counter:
    """The scanning loop's state: the verifier with its replay cache, the debouncer, the outputs."""

    def __init__(self, args: argparse.Namespace, verifier: Verifier, out: TextIO, clock: Callable[[], float]) -> None:
        self.args = args
        self.verifier = verifier
        self.out = out
        self.clock = clock
        self.debouncer = Debouncer(args.hold)
        self.tally = _Tally()
        self.nonce = parse_hex(args.nonce, "--nonce")
        self.color = args.color == "always" or (args.color == "auto" and out.isatty() and not args.json)
        self.font: card.CardFont | None = None
        self.sequence = 0
        if args.card_png is not None:
            self.font = card.find_cjk_font(args.font)  # fail before scanning, not on the first code
            args.card_png.mkdir(parents=True, exist_ok=True)
            self.sequence = max((_card_number(p) for p in args.card_png.iterdir()), default=0)

    def handle(self, sighting: Sighting, *, exclusive: bool) -> int:
        """Verify and report what ``sighting`` shows that is not already in view; returns codes reported."""
        if sighting.error is not None or (exclusive and not sighting.texts and sighting.scan is not None):
            # A file with no readable code gets a card too: the clerk needs to know it was looked at.
            self.debouncer.fresh((), self.clock(), exclusive=exclusive)
            error = VerificationError(ErrorCode.NO_QR_CODE, sighting.error or "")
            self._report(sighting, error, parse_time(self.args.now))
            return 1
        fresh = self.debouncer.fresh(sighting.texts, self.clock(), exclusive=exclusive)
        for text in fresh:
            now = parse_time(self.args.now)
            try:
                verdict: Verdict | VerificationError = self.verifier.verify(text, now=now, nonce=self.nonce)
            except VerificationError as exc:
                verdict = exc
            self._report(sighting, verdict, now)
        return len(fresh)

    def _report(self, sighting: Sighting, result: Verdict | VerificationError, now: _dt.datetime) -> None:
        if isinstance(result, Verdict):
            self.tally.valid += 1
        else:
            self.tally.rejected += 1
        extra: dict[str, Any] = {"source": sighting.source}
        if sighting.scan is not None:
            extra["scan"] = {"ms": round(sighting.scan.ms, 2), "decoded_by": sighting.scan.decoded_by}
        report_result(result, now=now, json_output=self.args.json, out=self.out, color=self.color, extra=extra)
        if not self.args.json:  # the source may be a hostile file name: neutralised
            say(f"  ({sighting.source})", "", file=self.out)
            self.out.flush()
        if self.font is not None:
            self._write_png(result, now)

    def _write_png(self, result: Verdict | VerificationError, now: _dt.datetime) -> None:
        directory: Path = self.args.card_png
        latest = directory / "latest.png"
        try:
            image = card.render_card_png(result, now=now, width=self.args.card_width, font=self.font)
        except EconsentError as exc:  # a character no font has: the terminal card still stands
            say(f"econsent: card image not written: {exc}", file=sys.stderr)
            self._clear_latest(latest, now)
            return
        self.sequence += 1
        path = directory / f"{self.sequence:06d}-{_card_kind(result)}.png"
        # Owner-only, through an exclusive temporary file: a card shows a person's data.
        write_file(path, image, mode=PRIVATE, replace=True)
        write_file(latest, image, mode=PRIVATE, replace=True)
        if self.args.card_keep:
            numbered = sorted((p for p in directory.iterdir() if _card_number(p)), key=_card_number)
            for old in numbered[: -self.args.card_keep]:
                old.unlink(missing_ok=True)

    def _clear_latest(self, latest: Path, now: _dt.datetime) -> None:
        """Never leave the kiosk showing the previous person's card: a neutral card replaces it, or it goes."""
        try:
            image = card.render_not_shown_png(now=now, width=self.args.card_width, font=self.font)
        except EconsentError:
            latest.unlink(missing_ok=True)
            return
        write_file(latest, image, mode=PRIVATE, replace=True)


def _card_kind(result: Verdict | VerificationError) -> str:
    """The word in a card's file name: valid, rejected, or unread (no code could be read from the image)."""
    if isinstance(result, Verdict):
        return "valid"
    return "unread" if result.code is ErrorCode.NO_QR_CODE else "rejected"


_CARD_NAME = re.compile(r"(\d{6,})-(?:valid|rejected|unread)\.png")


def _card_number(path: Path) -> int:
    """The sequence number of a card this scanner wrote (its exact name pattern), else 0.

    Only such cards are counted and pruned: a user's ``123456-holiday.png`` in the folder is not one.
    """
    match = _CARD_NAME.fullmatch(path.name)
    return int(match.group(1)) if match else 0


# ---------------------------------------------------------------------------------------------
# Sources


def _stdin_sightings(stream: TextIO) -> Generator[Sighting, None, None]:
    for number, text in stdin_codes(stream):
        yield Sighting(f"stdin line {number}", (text,))


def _file_sighting(
    path: Path, scanner: qr.Scanner, language: Language, position: tuple[int, int] | None = None
) -> Sighting:
    """Scan one image file, saying on a watched stderr which one (a large photo takes seconds)."""
    if position is None:
        megabytes = f"{path.stat().st_size / 1e6:.1f}"
        progress(N_("reading {name} ({size} MB)…"), language, name=path.name, size=megabytes)
    else:
        number, total = position
        progress(N_("reading image {number} of {total}: {name}…"), language, number=number, total=total, name=path.name)
    try:
        result = scanner.scan(path)
    except QRError as exc:
        return Sighting(str(path), (), error=str(exc))
    finally:
        progress_done()
    return Sighting(str(path), result.texts, result)


def _folder_sightings(
    folder: Path,
    scanner: qr.Scanner,
    *,
    watch: bool,
    interval: float,
    sleep: Callable[[float], None],
    language: Language,
) -> Generator[Sighting, None, None]:
    """Images in ``folder`` in name order; with ``watch``, then every new or rewritten one, forever."""
    done: dict[Path, tuple[int, int]] = {}
    while True:
        pending = []
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            if not path.is_file() or done.get(path) == (stat.st_mtime_ns, stat.st_size):
                continue
            if watch and time.time() - stat.st_mtime < _SETTLE_SECONDS:
                continue  # probably still being written; next poll
            pending.append((path, (stat.st_mtime_ns, stat.st_size)))
        for number, (path, signature) in enumerate(pending, start=1):
            done[path] = signature
            yield _file_sighting(path, scanner, language, (number, len(pending)))
        if not watch:
            return
        sleep(interval)


def _camera_sightings(index: int, scanner: qr.Scanner, frames: int | None) -> Generator[Sighting, None, None]:
    _silence_opencv()
    camera = qr.camera_frames(index)
    try:
        for number, frame in enumerate(camera, start=1):
            result = scanner.scan(frame)
            yield Sighting(f"camera {index} frame {number}", result.texts, result)
            if frames is not None and number >= frames:
                return
    finally:
        camera.close()  # release the camera now, not when the generator is collected


def _silence_opencv() -> None:
    """Keep OpenCV's own log lines (``can't open camera by index``, ``Camera index out of range``) off the terminal.

    Our error says what went wrong once, in the CLI's shape. The environment variable covers an OpenCV
    loaded later; ``setLogLevel`` one already loaded. A user who set ``OPENCV_LOG_LEVEL`` keeps it.
    """
    if "OPENCV_LOG_LEVEL" in os.environ:
        return
    os.environ["OPENCV_LOG_LEVEL"] = "SILENT"
    try:
        cv2 = importlib.import_module("cv2")
    except ImportError:  # qr.camera_frames says what to install
        return
    set_level = getattr(cv2, "setLogLevel", None)
    if set_level is not None:
        set_level(_OPENCV_SILENT)


_OPENCV_SILENT = 0  # cv::utils::logging::LOG_LEVEL_SILENT


# ---------------------------------------------------------------------------------------------
# The command


def _cmd_scan(args: argparse.Namespace) -> int:
    return run_scan(args, stdin=sys.stdin, stdout=sys.stdout)


def run_scan(
    args: argparse.Namespace,
    *,
    stdin: TextIO,
    stdout: TextIO,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run ``econsent scan`` with the given streams and clocks (the tests pass their own)."""
    if (args.source is None) == (args.camera is None):
        raise UsageError("give one source: an image file, a folder, - for stdin, or --camera N")
    policy = policy_from_args(args)
    parse_time(args.now)  # a bad --now is a usage error before anything is scanned

    sightings, exclusive = _sightings(args, stdin, sleep)
    try:
        return _scan_loop(args, policy, sightings, exclusive, stdout, clock)
    finally:
        sightings.close()  # releases the camera


def _scan_loop(
    args: argparse.Namespace,
    policy: Policy,
    sightings: Iterator[Sighting],
    exclusive: bool,
    stdout: TextIO,
    clock: Callable[[], float],
) -> int:
    counter = _Counter(args, verifier_from_args(args, policy), stdout, clock)
    try:
        for sighting in sightings:
            if counter.handle(sighting, exclusive=exclusive) and args.once:
                break
    except KeyboardInterrupt:
        pass
    if not args.json:
        tally = counter.tally
        print(f"econsent: {tally.total} code(s): {tally.valid} valid, {tally.rejected} rejected", file=sys.stderr)
    return EXIT_VALID if counter.tally.total and not counter.tally.rejected else EXIT_REJECTED


def _sightings(
    args: argparse.Namespace, stdin: TextIO, sleep: Callable[[float], None]
) -> tuple[Generator[Sighting, None, None], bool]:
    """The sightings the source yields, and whether they are exclusive (see :class:`Debouncer`)."""
    if args.camera is not None:
        if args.watch:
            raise UsageError("--watch goes with a folder")
        budget = qr.DEFAULT_BUDGET_MS if args.budget_ms is None else args.budget_ms
        return _camera_sightings(args.camera, _scanner(budget), args.frames), False
    if args.frames is not None:
        raise UsageError("--frames goes with --camera")
    if args.source == "-":
        if args.watch:
            raise UsageError("--watch goes with a folder")
        return _stdin_sightings(stdin), True
    path = Path(args.source)
    scanner = _scanner(args.budget_ms, deadline=args.deadline)  # files come from anyone: a hard deadline each
    if path.is_dir():
        folder = _folder_sightings(
            path, scanner, watch=args.watch, interval=args.interval, sleep=sleep, language=args.language
        )
        return folder, True
    if args.watch:
        raise UsageError("--watch goes with a folder")
    if not path.is_file():
        raise UsageError(f"{args.source}: no such image file or folder")
    return _one_file(path, scanner, args.language), True


def _one_file(path: Path, scanner: qr.Scanner, language: Language) -> Generator[Sighting, None, None]:
    yield _file_sighting(path, scanner, language)


def _scanner(budget_ms: float | None, *, deadline: float | None = None) -> qr.Scanner:
    """A scanner with every decoder installed here (zxing-cpp first), within ``budget_ms`` a frame.

    With ``deadline`` each image is scanned in a scan worker stopped after that many seconds.
    """
    # the default backends: those installed; with none, MissingDependencyError says what to install (exit 2)
    scanner = qr.Scanner(budget_ms=budget_ms, deadline=deadline)
    scanner.start()  # before the first file: a watched folder judges files by how long ago they were written
    return scanner
