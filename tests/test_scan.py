"""The scan pipeline (econsent.qr.Scanner) and the synthetic camera model it is measured with.

Decoding results are deterministic for a given frame and decoder build; frames come from seeds. Where
a test counts decoded frames it leaves slack for other libjpeg/Pillow/zxing-cpp builds. Timing is never
asserted: the time budget is tested with an injected clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import itertools
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from camera import (
    CORPUS_RANGES,
    Scene,
    blank_frame,
    camera_frame,
    corpus_frame,
    presentation_text,
    random_scene,
    render_scene,
)
from PIL import Image

from econsent import Issuer, qr
from econsent.cli import main
from econsent.errors import QRError

TEXT = presentation_text(348, seed=0, digits=True)  # the size of a full presentation: QR version 14 at ECC M


def test_an_easy_frame_is_read_by_the_first_pass_alone() -> None:
    result = qr.Scanner().scan(qr.render_image(TEXT, module_px=4))
    assert result.texts == (TEXT,)
    assert [(p.backend, p.name, p.found) for p in result.passes] == [("zxing", "plain", 1)]
    assert result.decoded_by == "zxing/plain" and result.skipped == ()
    assert result.ms >= result.passes[0].ms > 0


def test_a_dark_mode_code_is_read_by_the_invert_pass() -> None:
    frame = camera_frame(TEXT, seed=4, px_per_module=5, dark_mode=True)
    assert qr.Scanner(passes=("plain",), backends=("zxing",), budget_ms=None).scan(frame).texts == ()
    result = qr.Scanner(budget_ms=None).scan(frame)
    assert result.texts == (TEXT,) and result.decoded_by == "zxing/invert"


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
def test_both_decoders_read_a_mirrored_code(backend: str) -> None:
    # The filtered passes hand the decoders the frame transposed (a mirror image): see _BAND_PASS.
    mirrored = qr.render_image(TEXT, module_px=4).convert("L").transpose(Image.Transpose.TRANSPOSE)
    result = qr.Scanner(backends=(backend,), passes=("plain",), budget_ms=None).scan(mirrored)
    assert result.texts == (TEXT,)


@pytest.mark.parametrize("seed", [1, 27, 31, 86])
def test_the_reduced_pass_reads_large_noisy_modules_the_plain_passes_miss(seed: int) -> None:
    # Corpus frames at 8 px a module with noise and blur; found among seeds 0-99. zxing-cpp's own
    # downscaling (off in every pass) reads them too, at the cost of rescanning every frame.
    frame, _ = corpus_frame(TEXT, seed=seed, px_per_module=8.0)
    assert qr.Scanner(passes=("plain", "invert"), backends=("zxing",), budget_ms=None).scan(frame).texts == ()
    result = qr.Scanner(budget_ms=None).scan(frame)
    assert result.texts == (TEXT,) and result.decoded_by == "zxing/reduced"


@pytest.mark.parametrize(("seed", "px"), [(3, 3.0), (73, 3.0), (29, 4.0), (94, 4.0)])
def test_the_enlarged_pass_reads_small_blurred_modules_every_other_pass_misses(seed: int, px: float) -> None:
    # Corpus frames at 3-4 px a module, found among seeds 0-99 of each (2 a size): blurred (defocus
    # 1.4-2 px), or sharp with motion blur across the modules.
    frame, _ = corpus_frame(TEXT, seed=seed, px_per_module=px)  # a float, as the benchmark draws it
    others = [name for name in qr.SCAN_PASSES if name != "enlarged"]
    assert qr.Scanner(passes=others, budget_ms=None).scan(frame).texts == ()
    result = qr.Scanner(backends=("zxing",), budget_ms=None).scan(frame)
    assert result.texts == (TEXT,) and result.decoded_by == "zxing/enlarged"


def test_a_numpy_frame_is_read_in_place_and_left_as_it_was() -> None:
    frame = np.asarray(camera_frame(TEXT, seed=1, px_per_module=5))
    kept = frame.copy()
    frozen = frame.copy()
    frozen.flags.writeable = False
    scanner = qr.Scanner(budget_ms=None)
    # C-ordered (read without a copy), read-only, strided (copied once): the same text, the frame untouched.
    for source in (frame, frozen, np.asfortranarray(frame), np.ascontiguousarray(frame[::1, ::1])):
        assert scanner.scan(source).texts == (TEXT,)
    assert np.array_equal(frame, kept)
    assert qr.Scanner(deadline=30).scan(frame).texts == (TEXT,)  # through the scan worker too


def test_sharpening_reads_blurred_frames_the_plain_passes_miss() -> None:
    # Defocus sigma 1.9 px at 4 px a module (measured, seeds 0-9: plain and invert read 0, sharpen 9).
    frames = [camera_frame(TEXT, seed=seed, px_per_module=4, blur=1.9) for seed in range(10)]
    cheap = qr.Scanner(passes=("plain", "invert"), backends=("zxing",), budget_ms=None)
    full = qr.Scanner(backends=("zxing",), budget_ms=None)
    assert sum(cheap.scan(frame).texts == (TEXT,) for frame in frames) <= 2
    results = [full.scan(frame) for frame in frames]
    assert sum(r.texts == (TEXT,) for r in results) >= 8
    assert {r.decoded_by for r in results if r.texts} <= {f"zxing/{name}" for name in qr.SCAN_PASSES}


@pytest.mark.slow  # camera-frame corpus
@pytest.mark.parametrize(
    ("seed", "needs"),
    [(18, "sharpen-denoised"), (38, "sharpen-denoised"), (47, "sharpen-strong"), (63, "sharpen-strong")],
)
def test_the_retries_read_blurred_frames_that_sharpen_leaves(seed: int, needs: str) -> None:
    # Corpus frames at 4 px a module with heavy blur (defocus 1.2-2 px, some motion and noise).
    frame, scene = corpus_frame(TEXT, seed=seed, px_per_module=4.0)  # 4.0, as the benchmark draws it
    assert scene.defocus > 1.2
    before = qr.SCAN_PASSES[: qr.SCAN_PASSES.index(needs)]
    assert qr.Scanner(passes=before, backends=("zxing",), budget_ms=None).scan(frame).texts == ()
    assert qr.Scanner(budget_ms=None).scan(frame).decoded_by == f"zxing/{needs}"


# Every pass a scanner with the default backends runs on a frame no pass reads.
EVERY_PASS = [f"{backend}/{name}" for backend in qr.DEFAULT_BACKENDS for name in qr.SCAN_PASSES]


def test_a_frame_with_nothing_runs_every_pass_of_every_backend_without_a_budget() -> None:
    result = qr.Scanner(budget_ms=None).scan(blank_frame(seed=1))
    assert result.texts == () and result.decoded_by is None
    assert [f"{p.backend}/{p.name}" for p in result.passes] == EVERY_PASS


def test_the_budget_skips_the_passes_that_would_not_finish_in_time() -> None:
    ticks = itertools.count()
    clock = lambda: next(ticks) * 0.010  # noqa: E731 - every clock reading is 10 ms after the previous one
    result = qr.Scanner(budget_ms=25, clock=clock).scan(blank_frame(seed=2))
    ran = [f"{p.backend}/{p.name}" for p in result.passes]
    assert ran[0] == "zxing/plain"  # the first pass always runs
    assert result.skipped and set(ran).isdisjoint(result.skipped)
    assert ran + list(result.skipped) == EVERY_PASS


def test_no_false_reads_in_frames_without_a_code() -> None:
    scanner = qr.Scanner(budget_ms=None)
    rng = np.random.default_rng(7)
    frames: list[object] = [blank_frame(seed=seed) for seed in range(6)]
    frames += [rng.integers(0, 256, (720, 1280), dtype=np.uint8) for _ in range(2)]
    frames.append(Image.new("L", (1280, 720), 128))
    for frame in frames:
        assert scanner.scan(frame).texts == ()  # type: ignore[arg-type]


@pytest.mark.slow  # camera-frame corpus
def test_frames_at_5_px_per_module_from_the_corpus_decode() -> None:
    # The benchmark's conditions (tilt, glare, moiré, dark mode, blur...), seeds 0-11: 12 of 12 measured.
    scanner = qr.Scanner(budget_ms=None)
    decoded = sum(
        scanner.scan(corpus_frame(TEXT, seed=seed, px_per_module=5)[0]).texts == (TEXT,) for seed in range(12)
    )
    assert decoded >= 11


def test_scan_keeps_its_contract_through_the_pipeline() -> None:
    frame = camera_frame(TEXT, seed=0, px_per_module=4, blur=1.9)
    assert qr.scan(frame) == [TEXT]  # needs the sharpen pass
    assert qr.scan(blank_frame(seed=3)) == []


@pytest.mark.parametrize(
    "options",
    [
        {"passes": ()},
        {"passes": ("plain", "deblur")},
        {"passes": "plain"},
        {"budget_ms": 0},
        {"budget_ms": -5.0},
        {"backends": ()},
        {"backends": ("zxing", "opencv")},
    ],
    ids=str,
)
def test_bad_scanner_options_are_qr_errors(options: dict[str, object]) -> None:
    with pytest.raises(QRError):
        qr.Scanner(**options)  # type: ignore[arg-type]


def test_the_scanner_reads_every_documented_input() -> None:
    image = qr.render_image(TEXT, module_px=3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    scanner = qr.Scanner()
    for source in (image, buffer.getvalue(), np.asarray(image.convert("L"))):
        assert scanner.scan(source).texts == (TEXT,)


# ---------------------------------------------------------------------------------------------
# The camera model


@pytest.mark.slow  # camera-frame corpus
def test_corpus_frames_are_deterministic_and_every_module_size_fits() -> None:
    for px in (3.0, 4.0, 6.0, 8.0):
        first, scene = corpus_frame(TEXT, seed=11, px_per_module=px)
        again, same = corpus_frame(TEXT, seed=11, px_per_module=px)
        assert first.size == (1280, 720) and first.mode == "L"
        assert first.tobytes() == again.tobytes() and scene == same
        assert scene.px_per_module == px


def test_random_scenes_stay_in_the_published_ranges() -> None:
    r = CORPUS_RANGES
    scenes = [random_scene(seed, 4.0) for seed in range(300)]
    for scene in scenes:
        assert r["tilt_deg"][0] <= scene.tilt_deg <= r["tilt_deg"][1]
        assert r["defocus"][0] <= scene.defocus <= r["defocus"][1]
        assert r["noise"][0] <= scene.noise <= r["noise"][1]
        assert r["jpeg_quality"][0] <= scene.jpeg_quality <= r["jpeg_quality"][1]
        assert scene.motion_px == 0 or r["motion"][1][0] <= scene.motion_px <= r["motion"][1][1]
        assert scene.dark_level <= scene.light_level / 2
    for effect, share in (("dark_mode", r["dark_mode"]), ("glare", r["glare"][0]), ("moire", r["moire"][0])):
        seen = sum(bool(getattr(scene, effect)) for scene in scenes) / len(scenes)
        assert abs(seen - share) < 0.08, effect
    assert random_scene(1, 4.0) != random_scene(1, 5.0)  # rows of the benchmark table are independent


def test_dark_mode_draws_the_code_light_on_dark() -> None:
    plain = Scene(px_per_module=6, defocus=0.5, noise=0, jpeg_quality=95, contrast=1.0)
    light = np.asarray(render_scene(TEXT, plain, seed=1))
    dark = np.asarray(render_scene(TEXT, dataclasses.replace(plain, dark_mode=True), seed=1))
    code = (slice(300, 420), slice(580, 700))  # inside the code, which is centred with this placement
    # Every module swaps brightness: the two renderings are each other's negative there.
    assert np.corrcoef(light[code].ravel(), dark[code].ravel())[0, 1] < -0.95


def test_glare_brightens_the_code_and_effects_change_the_frame() -> None:
    base = Scene(px_per_module=5, defocus=0.5, noise=0, jpeg_quality=95, contrast=1.0)
    plain = np.asarray(render_scene(TEXT, base, seed=2), dtype=float)
    glare = np.asarray(render_scene(TEXT, dataclasses.replace(base, glare=150, glare_radius=0.1), seed=2), dtype=float)
    assert glare[360, 640] > plain[360, 640] + 60  # the spot sits at the code's centre by default
    for change in ({"moire": 0.2}, {"motion_px": 4.0}, {"tilt_deg": 30.0}, {"rotation_deg": 90.0}):
        assert (
            render_scene(TEXT, dataclasses.replace(base, **change), seed=2).tobytes()
            != plain.astype(np.uint8).tobytes()
        ), change


def test_a_code_too_large_for_the_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        render_scene(TEXT, Scene(px_per_module=8, rotation_deg=45), seed=0)
    with pytest.raises(ValueError, match="does not fit"):
        camera_frame(TEXT, seed=0, px_per_module=9)


# ---------------------------------------------------------------------------------------------
# Rendering for a phone screen


@pytest.mark.parametrize("width", [146, 700, 1080, 1440])
def test_screen_rendering_fills_the_width_with_whole_pixels_per_module(width: int) -> None:
    image = qr.render_for_screen(TEXT, width_px=width)
    side = 17 + 4 * qr.qr_version(TEXT, ecc=qr.SCREEN_ECC) + 2 * qr.SCREEN_BORDER
    assert image.width == image.height == side * (width // side) <= width
    assert width - image.width < side  # one more pixel a module would not fit
    assert qr.Scanner().scan(image).texts == (TEXT,)


def test_screen_rendering_uses_the_measured_defaults() -> None:
    assert (qr.SCREEN_ECC, qr.SCREEN_BORDER) == ("L", 2)
    assert qr.qr_version(TEXT, ecc="L") < qr.qr_version(TEXT, ecc="M")  # fewer, larger modules on the same screen
    with pytest.raises(QRError, match="needs at least"):
        qr.render_for_screen(TEXT, width_px=60)


def test_present_draws_the_phone_code_with_the_screen_defaults(
    tmp_path: Path, make_issuer: Callable[..., Issuer], licence_claims: Mapping[str, Any], now: dt.datetime
) -> None:
    # A bearer credential: `present` shows it without a holder key. The PNG is 8 px a module.
    credential = make_issuer().issue(
        "driving-licence", licence_claims, holder_key=None, now=now, serial=7,
        valid_from=now - dt.timedelta(days=1), valid_until=now + dt.timedelta(days=365),
    )  # fmt: skip
    (tmp_path / "licence.ecc").write_bytes(credential.encoded)
    png = tmp_path / "code.png"
    assert main(["present", "-c", str(tmp_path / "licence.ecc"), "--png", str(png), "--now", now.isoformat()]) == 0
    text = qr.scan(png)[0]
    side = 17 + 4 * qr.qr_version(text, ecc=qr.SCREEN_ECC) + 2 * qr.SCREEN_BORDER
    with Image.open(png) as image:
        assert image.size == (8 * side, 8 * side)
    assert qr.render_png(text, ecc=qr.SCREEN_ECC, border=qr.SCREEN_BORDER) == png.read_bytes()


@pytest.mark.parametrize("numpy_loaded", [True, False])
def test_inverting_swaps_dark_and_light_with_or_without_numpy(
    numpy_loaded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from econsent.qr.images import _Gray, _inverted

    if not numpy_loaded:
        monkeypatch.delitem(sys.modules, "numpy")  # _inverted looks numpy up; the import stays cached
    view = np.arange(256, dtype=np.uint8).data.toreadonly()
    for pixels in (bytes(range(256)), view):
        inverted = _inverted(_Gray(pixels, 16, 16))
        assert bytes(inverted.pixels) == bytes(range(255, -1, -1)) and inverted[1:] == (16, 16)
