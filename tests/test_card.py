"""Verdict cards: terminal text and PNG, Chinese text checked in the rendered pixels, font discovery.

These tests need a font with Chinese glyphs (Debian: apt-get install fonts-wqy-microhei). Without one
they fail: a counter that cannot show a holder's name is broken, not skippable.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from econsent import card
from econsent.errors import ErrorCode, MissingDependencyError, VerificationError
from econsent.model import IssuerName, Verdict

NOW = dt.datetime(2026, 11, 27, 9, 0, 12, tzinfo=dt.UTC)
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # fonts-dejavu-core: Latin only


def verdict(**changes: Any) -> Verdict:
    base = Verdict(
        credential_type="driving-licence",
        claims={
            "family_name": "张",
            "given_name": "伟",
            "vehicle_classes": ("C1", "D"),
            "expiry_date": dt.date(2029, 1, 15),
            "age_over_18": True,
        },
        withheld=("birth_date", "licence_number"),
        issuer=IssuerName("上海市公安局交通警察总队", "Shanghai Traffic Police"),
        kid="7166352439d3c5a6",
        algorithm="ES256",
        serial=31000123,
        issued_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        valid_from=dt.datetime(2019, 1, 14, tzinfo=dt.UTC),
        valid_until=dt.datetime(2029, 1, 14, tzinfo=dt.UTC),
        holder_bound=True,
        holder_algorithm="ES256",
        presented_at=dt.datetime(2026, 11, 27, 9, 0, 0, tzinfo=dt.UTC),
        expires_at=dt.datetime(2026, 11, 27, 9, 1, 0, tzinfo=dt.UTC),
        clock_offset_seconds=-12,
    )
    return replace(base, **changes)


def png_array(data: bytes) -> np.ndarray:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def coverage(gray: np.ndarray, darkest: int = 0) -> np.ndarray:
    """How much of each pixel text drawn in grey level ``darkest`` on white covers (0-1), cropped to the text."""
    cover = (255.0 - gray) / (255 - darkest)
    ys, xs = np.nonzero(cover > 0.01)
    assert len(ys), "no text at all"
    return cover[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def same_pixels(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two coverage maps are the same drawing (up to the rounding of 8-bit colour)."""
    return a.shape == b.shape and float(np.abs(a - b).max()) < 0.02


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of the half-covered pixels of two coverage maps, laid top-left on each other."""
    height, width = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])
    pa, pb = (np.pad(m > 0.5, ((0, height - m.shape[0]), (0, width - m.shape[1]))) for m in (a, b))
    return float((pa & pb).sum() / (pa | pb).sum())


def glyphs(font: card.CardFont, text: str, size: int) -> np.ndarray:
    """``text`` drawn alone with ``font`` in black: the reference the card's pixels must match."""
    face = card._face(font.path, font.index, size)
    canvas = Image.new("L", (size * (len(text) + 2), size * 3), 255)
    ImageDraw.Draw(canvas).text((size, size * 2), text, font=face, fill=0, anchor="ls")
    return coverage(np.asarray(canvas, dtype=float))


def value_pixels(first: Verdict, second: Verdict, **options: Any) -> np.ndarray:
    """Where two cards that differ in one claim value differ: the first card's text there, as coverage.

    The region is widened by a few pixels of blank paper, so faint edge pixels both values share are
    not cut off; card text is drawn in #111111.
    """
    a = png_array(card.render_card_png(first, now=NOW, **options)).mean(axis=2)
    b = png_array(card.render_card_png(second, now=NOW, **options)).mean(axis=2)
    assert a.shape == b.shape
    ys, xs = np.nonzero(a != b)
    return coverage(a[ys.min() - 3 : ys.max() + 4, xs.min() - 3 : xs.max() + 4], darkest=0x11)


# ---------------------------------------------------------------------------------------------
# Chinese text, checked in pixels


def test_the_png_card_draws_the_chinese_claim_with_the_fonts_real_glyphs() -> None:
    font = card.find_cjk_font()
    size = card._font_px("value", 800)
    drawn = value_pixels(verdict(claims={"family_name": "张伟"}), verdict(claims={"family_name": "李明"}))
    assert same_pixels(drawn, glyphs(font, "张伟", size))
    # ... and they are glyphs, not the font's box for a missing character, nor each other's.
    assert overlap(drawn, glyphs(font, "\U0010fffd\U0010fffd", size)) < 0.5
    assert overlap(drawn, glyphs(font, "李明", size)) < 0.5


def test_different_chinese_characters_render_as_different_glyphs_none_of_them_the_missing_box() -> None:
    font = card.find_cjk_font()
    characters = "张伟李明上海市公安局交通警察总队黄浦区豫园街道"
    missing_box = glyphs(font, "\U0010fffd", 48)
    drawn = [glyphs(font, char, 48) for char in characters]
    for char, mask in zip(characters, drawn, strict=True):
        assert overlap(mask, missing_box) < 0.5, f"U+{ord(char):04X} drew the missing-glyph box"
    for i in range(len(drawn)):
        for j in range(i + 1, len(drawn)):
            assert overlap(drawn[i], drawn[j]) < 0.8, (characters[i], characters[j])


def test_the_issuer_name_in_the_png_card_is_drawn_in_chinese() -> None:
    font = card.find_cjk_font()
    drawn = value_pixels(verdict(issuer=IssuerName("上海交警", "")), verdict(issuer=IssuerName("北京公安", "")))
    assert same_pixels(drawn, glyphs(font, "上海交警", card._font_px("muted", 800)))


def test_latin_only_card_font_falls_back_to_an_installed_chinese_font_per_character() -> None:
    latin = card.CardFont(DEJAVU, 0, "DejaVu Sans")
    chinese = card.find_cjk_font()
    drawn = value_pixels(verdict(claims={"family_name": "张伟"}), verdict(claims={"family_name": "李明"}), font=latin)
    assert same_pixels(drawn, glyphs(chinese, "张伟", card._font_px("value", 800)))


def test_a_character_no_font_has_is_refused_not_drawn_as_a_box() -> None:
    secret = "张\U0010fffd"  # a private-use character no font maps
    with pytest.raises(MissingDependencyError, match="no installed font can draw") as raised:
        card.render_card_png(verdict(claims={"family_name": secret}), now=NOW)
    assert secret not in str(raised.value) and "\U0010fffd" not in str(raised.value)  # no personal data


# ---------------------------------------------------------------------------------------------
# The PNG card


def test_valid_and_rejected_cards_have_a_green_or_red_band() -> None:
    valid = png_array(card.render_card_png(verdict(), now=NOW))
    rejected = png_array(card.render_card_png(VerificationError(ErrorCode.REPLAYED), now=NOW, width=480))
    assert valid.shape[1] == 800 and rejected.shape[1] == 480
    assert tuple(valid[4, 4]) == (0x1B, 0x7A, 0x36)
    assert tuple(rejected[4, 4]) == (0xB3, 0x26, 0x1E)
    assert tuple(valid[-4, -4]) == (255, 255, 255)


def test_png_rendering_is_deterministic() -> None:
    assert card.render_card_png(verdict(), now=NOW) == card.render_card_png(verdict(), now=NOW)


def test_a_portrait_claim_is_drawn_as_an_image() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 32), (0, 0, 255)).save(buffer, format="PNG")
    pixels = png_array(card.render_card_png(verdict(claims={"portrait": buffer.getvalue()}), now=NOW))
    blue = (pixels[:, :, 2] == 255) & (pixels[:, :, 0] == 0) & (pixels[:, :, 1] == 0)
    assert blue.sum() > 100
    garbage = png_array(card.render_card_png(verdict(claims={"portrait": b"\x00" * 40}), now=NOW))
    assert not ((garbage[:, :, 2] == 255) & (garbage[:, :, 0] == 0)).any()  # not an image: shown as its size


@pytest.mark.parametrize("width", [100, 319, 5000, True, 800.0])
def test_card_width_is_checked(width: Any) -> None:
    with pytest.raises(ValueError, match="width"):
        card.render_card_png(verdict(), now=NOW, width=width)


def test_a_card_needs_a_verdict_or_a_verification_error() -> None:
    with pytest.raises(TypeError):
        card.render_card_text("VALID", now=NOW)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The terminal card


def test_the_text_card_of_a_valid_code() -> None:
    text = card.render_card_text(
        verdict(warnings=("trust list shanghai#7 is 3.0 hours past its next update",)), now=NOW
    )
    lines = text.splitlines()
    assert len(lines[0]) > 20 and set(lines[0]) <= {"█", " "}  # the five-line banner
    assert lines[5] == "VALID 有效  机动车驾驶证 Driving licence  ·  serial 31000123"
    assert "上海市公安局交通警察总队 (Shanghai Traffic Police)" in text
    assert "made 12 s ago, expires in 48 s" in text
    assert "C1, D" in text and "2029-01-15" in text and "是 yes" in text
    assert "birth_date, licence_number" in text and "3.0 hours past" in text
    assert "\033[" not in text


def test_text_card_values_line_up_whatever_the_width_of_their_labels() -> None:
    text = card.render_card_text(verdict(), now=NOW)
    rows = [line for line in text.splitlines()[6:] if line.startswith("  ") and not line.startswith("  checked")]
    starts = set()
    for row in rows:
        label, value = re.match(r"  (\S+ \S+)( +)", row).groups()  # type: ignore[union-attr]
        starts.add(card._display_width(label) + len(value))
    assert len(starts) == 1  # Chinese characters are two columns wide


def test_the_text_card_of_a_rejection_gives_the_reason_in_one_sentence() -> None:
    error = VerificationError(ErrorCode.STALE_PRESENTATION, "expired 270 s ago")
    text = card.render_card_text(error, now=NOW, color=True)
    assert "REJECTED 拒绝  STALE_PRESENTATION" in text
    assert "The code has expired: ask the holder to show a fresh one." in text
    assert "expired 270 s ago" in text
    assert "\033[31m" in text  # red


@pytest.mark.parametrize(
    ("presented", "expected"),
    [
        (dt.datetime(2026, 11, 27, 8, 58, 0, tzinfo=dt.UTC), "made 132 s ago, expired 72 s ago"),
        (dt.datetime(2026, 11, 27, 9, 0, 20, tzinfo=dt.UTC), "made 8 s ahead of this clock, expires in 68 s"),
    ],
)
def test_how_long_ago_the_code_was_made(presented: dt.datetime, expected: str) -> None:
    shown = verdict(presented_at=presented, expires_at=presented + dt.timedelta(seconds=60))
    assert expected.replace("132 s", "2 min") in card.render_card_text(shown, now=NOW)


def test_a_bearer_card_says_to_check_the_holder() -> None:
    bearer = verdict(holder_bound=False, holder_algorithm=None, presented_at=None, expires_at=None)
    assert "bearer code issued 326 days ago: check the holder's identity" in card.render_card_text(bearer, now=NOW)


# ---------------------------------------------------------------------------------------------
# Finding a font


def test_an_explicit_font_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    system = card.find_cjk_font()
    monkeypatch.setenv(card.FONT_ENV, str(tmp_path / "nothing.ttf"))
    assert card.find_cjk_font(system.path) == system
    with pytest.raises(MissingDependencyError, match="is not a file"):
        card.find_cjk_font()


def test_the_environment_must_name_a_chinese_font(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(card.FONT_ENV, DEJAVU)
    with pytest.raises(MissingDependencyError, match=r"not a font with Chinese glyphs.*fonts-wqy-microhei"):
        card.find_cjk_font()
    monkeypatch.setenv(card.FONT_ENV, card.find_cjk_font(card.SYSTEM_CJK_FONTS[0]).path)
    assert card.find_cjk_font().family


def test_a_file_that_is_not_a_font_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "font.ttf"
    bogus.write_bytes(b"not a font")
    with pytest.raises(MissingDependencyError, match="not a font with Chinese glyphs"):
        card.find_cjk_font(bogus)


def test_without_any_chinese_font_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(card.FONT_ENV, raising=False)
    monkeypatch.setattr(card, "SYSTEM_CJK_FONTS", (DEJAVU,))
    monkeypatch.setattr(card, "_fontconfig_chinese_fonts", list)
    with pytest.raises(MissingDependencyError, match=r"apt-get install fonts-wqy-microhei"):
        card.find_cjk_font()
    with pytest.raises(MissingDependencyError):
        card.render_card_png(verdict(), now=NOW)


def test_a_font_collection_gives_its_simplified_chinese_face() -> None:
    font = card.find_cjk_font()
    assert font.family and "Mono" not in font.family and "JP" not in font.family


def test_a_card_of_another_format_names_the_format_instead_of_a_serial() -> None:
    dcc = verdict(
        credential_type="eu-dcc-vaccination",
        format="eu-dcc/1",
        serial=0,
        claims={"nam": {"fn": "Musterfrau", "gn": "Erika"}, "dob": "1964-08-12"},
        holder_bound=False,
        holder_algorithm=None,
        presented_at=None,
        expires_at=None,
    )
    text = card.render_card_text(dcc, now=NOW)
    assert "eu-dcc-vaccination  ·  eu-dcc/1" in text and "serial" not in text
    assert "fn: Musterfrau; gn: Erika" in text
    assert png_array(card.render_card_png(dcc, now=NOW)).shape[1] == 800


def test_importing_the_card_and_scan_modules_loads_no_imaging_library() -> None:
    heavy = ("PIL", "qrcode", "pyzbar", "zxingcpp", "numpy", "cv2")
    program = f"import econsent.card, econsent.cli.scan, sys; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_a_name_in_cjk_extension_b_is_drawn_with_the_fonts_the_readme_installs() -> None:
    """Issue 15: 𠮷 and 𪚥 (CJK Extension B) are drawn, not refused, once the README's fonts are installed
    (fonts-noto-cjk has 𠮷 but not 𪚥; fonts-hanazono has the whole extension)."""
    rare = verdict(claims={"family_name": "𠮷", "given_name": "𪚥"})
    try:
        image = png_array(card.render_card_png(rare, now=NOW))
    except MissingDependencyError as exc:  # pragma: no cover - a machine set up without the README's command
        pytest.fail(f"no installed font draws CJK Extension B: apt-get install fonts-noto-cjk fonts-hanazono ({exc})")
    assert image.shape[1] == 800


def test_the_card_shows_the_licence_end_in_the_counters_time_zone_labelled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        text = card.render_card_text(verdict(), now=NOW)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert "有效期至 expiry" in text and "2029-01-14 08:00 UTC+08:00" in text  # 2029-01-14T00:00Z in Shanghai


def test_a_licence_that_never_expires_is_shown_east_of_utc_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """9999-12-31T23:59:59Z, the last time the wire allows, is past datetime's range in Shanghai's zone."""
    never = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        text = card.render_card_text(verdict(valid_until=never), now=NOW)
        card.render_card_png(verdict(valid_until=never), now=NOW)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert "有效期至 expiry" in text and "9999-12-31T23:59:59Z" in text


def test_a_rejected_card_gives_the_reason_in_chinese_and_english() -> None:
    text = card.render_card_text(VerificationError(ErrorCode.REPLAYED), now=NOW)
    assert ErrorCode.REPLAYED.sentence_zh in text and ErrorCode.REPLAYED.sentence in text
