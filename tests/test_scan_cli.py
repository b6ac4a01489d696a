"""``econsent scan``: stdin lines, image files, folders and a camera, with debounce, replay and PNG cards.

The command is driven through its real argparse registration (``econsent.cli.scan.register``) and handler, with
in-memory streams and an injected clock; the camera is a stand-in ``cv2`` module that plays frames.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from camera import camera_frame
from conftest import ISSUER_NAME, es256_test_key
from PIL import Image

from econsent import ATTESTED_OUT_OF_BAND, Issuer, TrustedKey, TrustStore, present, qr
from econsent.cli.scan import Debouncer, register, run_scan
from econsent.errors import EXIT_REJECTED, EXIT_USAGE, EXIT_VALID, EconsentError, MissingDependencyError

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
CHECKED = "2026-11-27T09:00:20Z"
CLAIMS = {
    "family_name": "张",
    "given_name": "伟",
    "vehicle_classes": ("C1", "D"),
    "expiry_date": dt.date(2029, 1, 15),
    "birth_date": dt.date(1985, 3, 14),
}


class Office:
    """A trust store file and a holder who can make fresh presentations."""

    def __init__(self, folder: Path) -> None:
        issuer_key = es256_test_key("scan-cli issuer")
        self.holder_key = es256_test_key("scan-cli holder")
        self.credential = Issuer(issuer_key).issue(
            "driving-licence",
            CLAIMS,
            holder_key=self.holder_key.public_key,
            possession=ATTESTED_OUT_OF_BAND,
            valid_from=NOW - dt.timedelta(days=1),
            valid_until=NOW + dt.timedelta(days=365),
            now=NOW,
            serial=31000123,
        )
        store = TrustStore(
            [
                TrustedKey(
                    issuer_key.public_key,
                    ISSUER_NAME,
                    frozenset({"driving-licence"}),
                    NOW - dt.timedelta(days=30),
                    NOW + dt.timedelta(days=3650),
                )
            ]
        )
        self.trust = folder / "trust.json"
        store.save(self.trust)
        self._made = 0

    def code(self, *, profile: str = "driving-check") -> str:
        """A fresh presentation (a second later than the previous one, so each is distinct)."""
        self._made += 1
        return present(
            self.credential, self.holder_key, now=NOW + dt.timedelta(seconds=self._made), lifetime=60, profile=profile
        )


@pytest.fixture
def office(tmp_path: Path) -> Office:
    return Office(tmp_path)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 0.1  # every sighting is a tenth of a second after the previous one
        return self.now


def scan(
    *argv: str,
    stdin: str = "",
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> tuple[int, str]:
    """Run ``econsent scan ARGV`` as cli.main would (its exit codes); returns (code, stdout)."""
    parser = argparse.ArgumentParser(prog="econsent")
    register(parser.add_subparsers())
    try:
        args = parser.parse_args(["scan", *argv])
    except SystemExit as exc:
        return int(exc.code or 0), ""
    args.language = "en"  # what cli.main sets from --lang or the locale
    out = io.StringIO()
    try:
        code = run_scan(
            args,
            stdin=io.StringIO(stdin),
            stdout=out,
            clock=clock or Clock(),
            sleep=sleep or (lambda seconds: None),
        )
    except EconsentError as exc:
        print(f"econsent: error: {exc}", file=sys.stderr)
        return EXIT_USAGE, out.getvalue()
    return code, out.getvalue()


def documents(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines()]


# ---------------------------------------------------------------------------------------------
# Keyboard-wedge scanner (stdin)


def test_stdin_codes_each_get_a_verdict(office: Office) -> None:
    first, second = office.code(), office.code()
    code, out = scan("-", "--trust", str(office.trust), "--now", CHECKED, "--json", stdin=f"{first}\n{second}\r\n")
    assert code == EXIT_VALID
    verdicts = documents(out)
    assert [v["valid"] for v in verdicts] == [True, True]
    assert [v["source"] for v in verdicts] == ["stdin line 1", "stdin line 2"]
    assert verdicts[0]["claims"]["family_name"] == "张"


def test_a_code_repeated_by_the_scanner_is_verified_once(office: Office) -> None:
    text = office.code()
    code, out = scan("-", "--trust", str(office.trust), "--now", CHECKED, "--json", stdin=f"{text}\n{text}\n{text}\n")
    assert code == EXIT_VALID
    assert len(documents(out)) == 1


def test_a_code_shown_again_after_another_is_reported_replayed(office: Office) -> None:
    first, second = office.code(), office.code()
    code, out = scan(
        "-", "--trust", str(office.trust), "--now", CHECKED, "--json", stdin=f"{first}\n{second}\n{first}\n"
    )
    assert code == EXIT_REJECTED
    assert [(v["valid"], v.get("code")) for v in documents(out)] == [(True, None), (True, None), (False, "REPLAYED")]


def test_a_code_shown_again_after_the_hold_is_reported_replayed(office: Office) -> None:
    text = office.code()
    clock = iter([0.0, 10.0])
    code, out = scan(
        "-", "--trust", str(office.trust), "--now", CHECKED, "--json", "--hold", "5",
        stdin=f"{text}\n{text}\n", clock=lambda: next(clock),
    )  # fmt: skip
    assert code == EXIT_REJECTED
    assert [v.get("code") for v in documents(out)] == [None, "REPLAYED"]


def test_text_cards_show_the_verdict_and_the_reason(office: Office) -> None:
    good = office.code()
    tampered = good[:-6] + ("0" if good[-6] != "0" else "1") + good[-5:]
    code, out = scan("-", "--trust", str(office.trust), "--now", CHECKED, stdin=f"{good}\n{tampered}\nHELLO\n")
    assert code == EXIT_REJECTED
    assert "VALID 有效" in out and "张" in out and "made 19 s ago" in out
    assert "REJECTED 拒绝  BAD_HOLDER_SIGNATURE" in out or "REJECTED 拒绝  BAD_ISSUER_SIGNATURE" in out
    assert "REJECTED 拒绝  MALFORMED" in out
    assert "The code is not a well-formed econsent presentation." in out
    assert "\033[" not in out  # not a terminal: no colour codes


def test_once_stops_after_the_first_code(office: Office) -> None:
    code, out = scan(
        "-",
        "--trust",
        str(office.trust),
        "--now",
        CHECKED,
        "--json",
        "--once",
        stdin=f"{office.code()}\n{office.code()}\n",
    )
    assert code == EXIT_VALID
    assert len(documents(out)) == 1


def test_a_stale_code_is_rejected_with_its_reason(office: Office) -> None:
    code, out = scan("-", "--trust", str(office.trust), "--now", "2026-11-27T09:10:00Z", stdin=office.code() + "\n")
    assert code == EXIT_REJECTED
    assert "STALE_PRESENTATION" in out and "The code has expired: ask the holder to show a fresh one." in out


def test_no_codes_at_all_is_not_success(office: Office) -> None:
    assert scan("-", "--trust", str(office.trust), stdin="\n\n")[0] == EXIT_REJECTED


# ---------------------------------------------------------------------------------------------
# Image files and folders


def save_png(path: Path, text: str) -> Path:
    qr.render_image(text, module_px=4).save(path)
    return path


def test_an_image_file_is_scanned_and_verified(office: Office, tmp_path: Path) -> None:
    path = save_png(tmp_path / "code.png", office.code())
    code, out = scan(str(path), "--trust", str(office.trust), "--now", CHECKED, "--json")
    assert code == EXIT_VALID
    (verdict,) = documents(out)
    assert verdict["valid"] and verdict["source"] == str(path)
    assert verdict["scan"]["decoded_by"] == "zxing/plain"


def test_a_camera_like_photo_file_is_read(office: Office, tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    camera_frame(office.code(), seed=3, px_per_module=5, dark_mode=True).save(path, quality=85)
    code, out = scan(str(path), "--trust", str(office.trust), "--now", CHECKED, "--json")
    assert code == EXIT_VALID, out
    assert documents(out)[0]["scan"]["decoded_by"] == "zxing/invert"


def test_a_folder_is_scanned_in_name_order(office: Office, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    first, second = office.code(), office.code()
    save_png(folder / "b.png", second)
    save_png(folder / "a.png", first)
    save_png(folder / "c.png", first)  # the first code again, after another: a replay
    Image.new("L", (200, 200), 255).save(folder / "d.png")  # nothing to read
    (folder / "notes.txt").write_text("not an image")
    (folder / "e.png").write_bytes(b"\x89PNG broken")
    code, out = scan(str(folder), "--trust", str(office.trust), "--now", CHECKED, "--json")
    assert code == EXIT_REJECTED
    verdicts = documents(out)
    assert [Path(v["source"]).name for v in verdicts] == ["a.png", "b.png", "c.png", "d.png", "e.png"]
    assert [v.get("code") for v in verdicts] == [None, None, "REPLAYED", "NO_QR_CODE", "NO_QR_CODE"]


def test_a_watched_folder_picks_up_new_images(office: Office, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    arrivals = [office.code(), office.code(), office.code()]
    polls: list[float] = []

    def arrive() -> None:
        path = save_png(folder / f"{len(polls) + 1}.png", arrivals.pop(0))
        settled = path.stat().st_mtime - 5  # written five seconds ago: complete
        os.utime(path, (settled, settled))

    def sleep(seconds: float) -> None:  # between polls a photo lands; after two, the clerk presses Ctrl-C
        polls.append(seconds)
        if not arrivals:
            raise KeyboardInterrupt
        arrive()

    arrive()
    (folder / "writing.png").write_bytes(b"\x89PNG")  # being written right now: left for a later poll

    code, out = scan(
        str(folder), "--watch", "--interval", "0.25", "--trust", str(office.trust), "--now", CHECKED, "--json",
        sleep=sleep,
    )  # fmt: skip
    assert code == EXIT_VALID
    assert [Path(v["source"]).name for v in documents(out)] == ["1.png", "2.png", "3.png"]
    assert polls == [0.25, 0.25, 0.25]


def test_png_cards_are_written_private_with_a_latest_copy(office: Office, tmp_path: Path) -> None:
    cards = tmp_path / "cards"
    stdin = "".join(f"{office.code()}\n" for _ in range(3)) + "GARBAGE\n"
    code, _ = scan(
        "-", "--trust", str(office.trust), "--now", CHECKED, "--card-png", str(cards), "--card-keep", "2",
        "--card-width", "400", stdin=stdin,
    )  # fmt: skip
    assert code == EXIT_REJECTED
    names = sorted(p.name for p in cards.iterdir())
    assert names == ["000003-valid.png", "000004-rejected.png", "latest.png"]
    latest = Image.open(cards / "latest.png")
    assert latest.width == 400
    assert latest.getpixel((5, 5)) == (0xB3, 0x26, 0x1E)  # the red band of the last, rejected card
    assert (cards / "latest.png").stat().st_mode & 0o077 == 0
    # A restart continues the numbering instead of overwriting.
    scan("-", "--trust", str(office.trust), "--now", CHECKED, "--card-png", str(cards), stdin=office.code() + "\n")
    assert "000005-valid.png" in {p.name for p in cards.iterdir()}


def test_png_cards_need_a_chinese_font_before_scanning_starts(
    office: Office, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dejavu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    monkeypatch.setenv("ECONSENT_CJK_FONT", str(tmp_path / "missing.ttf"))
    code, out = scan("-", "--trust", str(office.trust), "--card-png", str(tmp_path / "c"), stdin=office.code() + "\n")
    assert code == EXIT_USAGE and out == ""
    code, out = scan("-", "--trust", str(office.trust), "--card-png", str(tmp_path / "c"), "--font", dejavu, stdin="")
    assert code == EXIT_USAGE


# ---------------------------------------------------------------------------------------------
# Camera


class FakeCapture:
    """Plays a list of frames as cv2.VideoCapture would deliver them (BGR), then fails."""

    released = False

    def __init__(self, frames: list[np.ndarray], opened: bool = True) -> None:
        self._frames = iter(frames)
        self._opened = opened
        self.settings: dict[int, float] = {}

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self._opened

    def set(self, prop: int, value: float) -> bool:
        self.settings[prop] = value
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        frame = next(self._frames, None)
        return (frame is not None), frame

    def release(self) -> None:
        FakeCapture.released = True


def fake_cv2(monkeypatch: pytest.MonkeyPatch, frames: list[np.ndarray], *, opened: bool = True) -> FakeCapture:
    capture = FakeCapture(frames, opened)
    module = types.ModuleType("cv2")
    module.VideoCapture = lambda index: capture  # type: ignore[attr-defined]
    module.cvtColor = lambda frame, code: frame[:, :, 1].copy()  # type: ignore[attr-defined]
    for number, name in enumerate(
        ["CAP_PROP_FRAME_WIDTH", "CAP_PROP_FRAME_HEIGHT", "CAP_PROP_BUFFERSIZE", "CAP_PROP_AUTOFOCUS", "COLOR_BGR2GRAY"]
    ):
        setattr(module, name, number)
    monkeypatch.setitem(sys.modules, "cv2", module)
    FakeCapture.released = False
    return capture


def bgr(image: Image.Image) -> np.ndarray:
    gray = np.asarray(image.convert("L"))
    return np.repeat(gray[:, :, None], 3, axis=2)


def frames_of(texts: list[str | None]) -> Iterator[np.ndarray]:
    for seed, text in enumerate(texts):
        yield bgr(camera_frame(text, seed=seed, px_per_module=5) if text else Image.new("L", (1280, 720), 90))


def test_camera_frames_are_debounced_and_a_later_replay_is_reported(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = office.code(), office.code()
    shown = [first, first, None, first, second, second, first]
    capture = fake_cv2(monkeypatch, list(frames_of(shown)))
    seconds = iter([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 9.0])  # the holder comes back nine seconds later
    code, out = scan(
        "--camera", "0", "--trust", str(office.trust), "--now", CHECKED, "--json", "--frames", "7",
        clock=lambda: next(seconds),
    )  # fmt: skip
    assert [(v["valid"], v.get("code")) for v in documents(out)] == [(True, None), (True, None), (False, "REPLAYED")]
    assert code == EXIT_REJECTED
    assert [v["source"] for v in documents(out)] == ["camera 0 frame 1", "camera 0 frame 5", "camera 0 frame 7"]
    assert capture.settings[2] == 1  # a one-frame buffer: decode the newest frame, not a stale one
    assert FakeCapture.released


def test_the_camera_stops_when_it_stops_delivering_frames(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cv2(monkeypatch, list(frames_of([office.code()])))
    code, out = scan("--camera", "0", "--trust", str(office.trust), "--now", CHECKED, "--json")
    assert code == EXIT_USAGE  # "camera 0 stopped delivering frames", after the one code was reported
    assert len(documents(out)) == 1 and FakeCapture.released


def test_a_camera_that_cannot_be_opened_is_a_clear_error(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cv2(monkeypatch, [], opened=False)
    with pytest.raises(EconsentError, match="camera 3 could not be opened"):
        next(qr.camera_frames(3))


def test_without_opencv_the_camera_says_what_to_install(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(MissingDependencyError, match="pip install opencv-python-headless"):
        next(qr.camera_frames(0))
    assert scan("--camera", "0", "--trust", str(office.trust))[0] == EXIT_USAGE


# ---------------------------------------------------------------------------------------------
# Usage errors and the debouncer


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no source
        ["-", "--camera", "0"],
        ["-", "--watch"],
        ["-", "--frames", "3"],
        ["--camera", "0", "--frames", "0"],
        ["does-not-exist.png"],
        ["-", "--now", "yesterday"],
        ["-", "--leeway", "900"],
    ],
    ids=str,
)
def test_usage_errors_exit_2(office: Office, argv: list[str]) -> None:
    assert scan(*argv, "--trust", str(office.trust))[0] == EXIT_USAGE


def test_the_trust_source_is_required() -> None:
    assert scan("-")[0] == EXIT_USAGE


def test_debouncer_holds_a_code_while_it_is_seen_and_forgets_it_after() -> None:
    debouncer = Debouncer(hold=2.0)
    assert debouncer.fresh(["A"], 0.0, exclusive=False) == ["A"]
    assert debouncer.fresh(["A"], 1.5, exclusive=False) == []
    assert debouncer.fresh([], 3.0, exclusive=False) == []  # a decoder miss: A is still in view
    assert debouncer.fresh(["A", "B"], 3.4, exclusive=False) == ["B"]
    assert debouncer.fresh(["A"], 6.0, exclusive=False) == ["A"]  # 2.6 s unseen: shown anew
    assert debouncer.fresh(["B"], 6.1, exclusive=True) == ["B"]  # exclusive: A left the view
    assert debouncer.fresh(["A"], 6.2, exclusive=True) == ["A"]
    with pytest.raises(ValueError):
        Debouncer(hold=-1)
