"""Verdict cards: what a counter shows after a scan, as terminal text or as a PNG for a kiosk display.

A card leads with a large VALID, REJECTED or NOT READ. A valid card shows the credential type, the
issuer, how long ago the code was made and the disclosed claims; a rejected one gives the reason in
one plain sentence. An image in which no code could be read (``NO_QR_CODE``) refuses nothing, so its
card is neutral, not red: it asks the citizen to hold the phone flat and closer. Showing the
disclosed claims is the card's job, so a card is personal data: this module renders it and never
logs it, and its error messages never quote a claim.

PNG cards need Pillow and a font with Chinese glyphs. :func:`find_cjk_font` looks, in order, at the
font the caller names, the ``ECONSENT_CJK_FONT`` environment variable, well-known system locations and
fontconfig; a card whose text has a character no font found here can draw raises
:class:`~econsent.errors.MissingDependencyError` instead of drawing a box in its place.
"""

# Chinese sentences use Chinese (full-width) punctuation on purpose.

from __future__ import annotations

import datetime as _dt
import io
import os
import shutil
import subprocess
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from ._terminal import printable
from .errors import EconsentError, ErrorCode, MissingDependencyError, VerificationError
from .i18n import N_, Language, translate
from .model import Instant, Verdict, from_unix, notice_zh, to_unix
from .schema import BUILTIN_TYPES, ClaimValue, TypeRegistry

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "FONT_ENV",
    "SYSTEM_CJK_FONTS",
    "CardFont",
    "find_cjk_font",
    "labels_json",
    "refusal_json",
    "render_card_png",
    "render_card_text",
    "render_not_shown_png",
    "result_json",
]

CardSubject: TypeAlias = Verdict | VerificationError
_OWN_FORMAT = "econsent/1"

#: The environment variable naming a font file (.ttf, .ttc or .otf) with Chinese glyphs.
FONT_ENV = "ECONSENT_CJK_FONT"
#: Where operating systems and their font packages put fonts with Chinese glyphs, most suitable first.
SYSTEM_CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian/Ubuntu fonts-wqy-microhei
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian/Ubuntu fonts-noto-cjk
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",  # Arch noto-fonts-cjk
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",  # Fedora google-noto-cjk-fonts
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian/Ubuntu fonts-wqy-zenhei
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",  # Fedora/Arch
    "/usr/share/fonts/truetype/arphic/uming.ttc",  # Debian fonts-arphic-uming
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",  # Debian fonts-droid-fallback
    "/System/Library/Fonts/PingFang.ttc",  # macOS
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "C:/Windows/Fonts/msyh.ttc",  # Windows: Microsoft YaHei
    "C:/Windows/Fonts/simhei.ttf",
    "C:/Windows/Fonts/simsun.ttc",
    # Last, for the rare characters of names (CJK Extension B and beyond, e.g. 𠮷 𪚥) the fonts above lack:
    "/usr/share/fonts/truetype/hanazono/HanaMinA.ttf",  # Debian/Ubuntu fonts-hanazono
    "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf",
)
# For the Latin, digits and punctuation some Chinese fonts lack (Droid Sans Fallback has no Latin).
_LATIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Helvetica.ttc",
    "C:/Windows/Fonts/arial.ttf",
)
_ADVICE = (
    "install one (Debian/Ubuntu: apt-get install fonts-wqy-microhei, or fonts-noto-cjk), "
    f"or set {FONT_ENV} to a .ttf, .ttc or .otf file that has them"
)
_PROBE = "中文驾驶证照有效拒绝"  # characters any font claiming Chinese must draw
_PILLOW = "Pillow is needed to draw verdict cards as images: pip install Pillow"
_MAX_FACES = 16  # faces tried in a font collection (.ttc)
_MAX_PORTRAIT_BYTES = 64 * 1024
_MAX_PORTRAIT_SIDE = 1024


# ---------------------------------------------------------------------------------------------
# What a card says, whatever it is drawn on


@dataclass(frozen=True, slots=True)
class _Row:
    label: str
    value: str
    style: Literal["fact", "claim", "muted", "warning", "reason"]
    image: bytes | None = None  # a claim holding a small image (a portrait): its encoded bytes


#: The three kinds of card: a verdict, a rejection, and an image in which no code could be read.
_Tone: TypeAlias = Literal["valid", "rejected", "unread"]


@dataclass(frozen=True, slots=True)
class _Content:
    tone: _Tone
    title: str
    title_zh: str
    subtitle: str
    rows: tuple[_Row, ...]
    footer: str


def _content(subject: CardSubject, now: Instant, types: TypeRegistry) -> _Content:
    """What the card says, with every text neutralised: claims, issuer names and error details come from
    outside (even a verified claim may hold an escape sequence or a bidi override)."""
    content = _facts(subject, now, types)
    texts = [content.subtitle, content.footer, *(text for row in content.rows for text in (row.label, row.value))]
    if all(text.isprintable() for text in texts):  # the common case: nothing to neutralise
        return content
    rows = tuple(replace(row, label=printable(row.label), value=printable(row.value)) for row in content.rows)
    return replace(content, subtitle=printable(content.subtitle), rows=rows, footer=printable(content.footer))


def _facts(subject: CardSubject, now: Instant, types: TypeRegistry) -> _Content:
    checked = from_unix(to_unix(now))
    if isinstance(subject, VerificationError):
        unread = subject.code is ErrorCode.NO_QR_CODE  # nothing was refused: the camera did not see a code
        reasons = (translate(_UNREAD, "zh"), _UNREAD) if unread else (subject.sentence_zh, subject.sentence)
        rows = [_Row("", text, "reason") for text in reasons]
        if subject.detail:
            rows.append(_Row(_both(N_("detail")), subject.detail, "muted"))
        title = N_("NOT READ") if unread else N_("REJECTED")
        tone: _Tone = "unread" if unread else "rejected"
        return _Content(
            tone, title, translate(title, "zh"), subject.code.value, tuple(rows), f"checked {_utc(checked)}"
        )
    if not isinstance(subject, Verdict):
        raise TypeError(f"a card shows a Verdict or a VerificationError, not {type(subject).__name__}")
    verdict = subject
    ctype = types.by_name(verdict.credential_type)
    type_label = " ".join(part for part in (ctype.label_zh, ctype.label_en) if part) if ctype else ""
    if verdict.format == _OWN_FORMAT:
        subtitle = f"{type_label or verdict.credential_type}  ·  serial {verdict.serial}"
    else:  # an EU DCC or a SMART Health Card: no serial of ours, the format says what was checked
        subtitle = f"{type_label or verdict.credential_type}  ·  {verdict.format}"
    rows = [
        _Row(_both(N_("issuer")), str(verdict.issuer), "fact"),
        _Row(_both(N_("shown")), f"{_shown(verdict, checked, 'zh')}  ·  {_shown(verdict, checked, 'en')}", "fact"),
        _Row(_both(N_("expiry")), _local(verdict.valid_until), "fact"),
    ]
    specs = {spec.name: spec for spec in ctype.claims} if ctype else {}
    for name, value in verdict.claims.items():
        spec = specs.get(name)
        label = " ".join(part for part in (spec.label_zh, name) if part) if spec else name
        if isinstance(value, bytes):
            rows.append(_Row(label, f"{len(value)} bytes", "claim", image=value))
        else:
            rows.append(_Row(label, _claim_text(value), "claim"))
    if verdict.withheld:
        rows.append(_Row(_both(N_("withheld")), ", ".join(verdict.withheld), "muted"))
    rows += [_Row(_both(N_("warning")), _in_both(warning), "warning") for warning in verdict.warnings]
    footer = f"checked {_utc(checked)}  ·  issuer key {verdict.kid} ({verdict.algorithm})"
    if verdict.trust_list:
        footer += f"  ·  trust list {verdict.trust_list}"
    return _Content("valid", N_("VALID"), translate(N_("VALID"), "zh"), subtitle, tuple(rows), footer)


# What the neutral card of an image with no readable code asks.
_UNREAD = N_("Could not read the code: hold the phone flat and closer.")


def _both(label: str) -> str:
    """A card label in Chinese, then English (``签发 issuer``): the clerk reads one, the citizen maybe the other."""
    return f"{translate(label, 'zh')} {label}"


def _in_both(warning: str) -> str:
    """A verdict's warning in Chinese, then English (once, for a warning that exists in one language)."""
    chinese = notice_zh(warning)
    return warning if chinese == warning else f"{chinese}  ·  {warning}"


def _local(moment: _dt.datetime) -> str:
    """A date and time in this counter's time zone, labelled with its offset (``2029-01-15 08:00 UTC+08:00``):
    a licence's end shown in UTC would be a day early or late for a clerk in Shanghai near midnight. A time
    the local zone cannot hold (9999-12-31T23:59:59Z east of UTC: "never expires") is shown in UTC."""
    try:
        local = moment.astimezone()
    except (OverflowError, ValueError):
        return _utc(moment)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} UTC{offset[:3]}:{offset[3:]}"


def _utc(moment: _dt.datetime) -> str:
    """ISO 8601 in UTC to the second with ``Z``: the format of every time the CLI prints, in text and JSON."""
    return moment.astimezone(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _claim_text(value: ClaimValue | Any) -> str:
    if isinstance(value, bool):
        return _both(N_("yes")) if value else _both(N_("no"))
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return ", ".join(_claim_text(item) for item in value)
    if isinstance(value, Mapping):  # other formats' structured claims
        return "; ".join(f"{key}: {_claim_text(item)}" for key, item in value.items())
    return str(value)


def _duration(seconds: int, language: Language) -> str:
    """A rough, readable length of time: 45 s, 12 min, 5 h, 3 days, 6 years."""
    if seconds < 90:
        count, unit = seconds, N_("{count} s")
    elif seconds < 90 * 60:
        count, unit = round(seconds / 60), N_("{count} min")
    elif seconds < 48 * 3600:
        count, unit = round(seconds / 3600), N_("{count} h")
    elif seconds < 730 * 86400:
        count, unit = round(seconds / 86400), N_("{count} days")
    else:
        count, unit = seconds // (365 * 86400), N_("{count} years")
    return translate(unit, language).format(count=count)


def _shown(verdict: Verdict, checked: _dt.datetime, language: Language) -> str:
    """How long ago the code was made (the holder's phone stamps it), and how long it has left."""
    now = to_unix(checked)

    def say(message: str, seconds: int) -> str:
        return translate(message, language).format(time=_duration(seconds, language))

    if verdict.presented_at is None or verdict.expires_at is None:
        age = now - to_unix(verdict.issued_at)
        return say(N_("bearer code issued {time} ago: check the holder's identity by other means"), max(age, 0))
    age = now - to_unix(verdict.presented_at)
    left = to_unix(verdict.expires_at) - now
    made = say(N_("made {time} ago"), age) if age >= 0 else say(N_("made {time} ahead of this clock"), -age)
    end = say(N_("expires in {time}"), left) if left >= 0 else say(N_("expired {time} ago"), -left)
    return translate(N_("{made}, {end}"), language).format(made=made, end=end)


# ---------------------------------------------------------------------------------------------
# JSON: what ``verify --json``, ``scan --json`` and ``serve``'s ``POST /verify`` answer

# The sentence of a valid verdict, as a rejection has its reason's sentence.
_VALID_SENTENCE = N_("The code is valid: a trusted issuer signed it and it meets this counter's rules.")


def refusal_json(error: EconsentError) -> dict[str, Any]:
    """The one JSON shape of an error or refusal, in both languages: ``{"ok": false, "code", "sentence", ...}``.

    ``sentence_zh`` is the Chinese of ``sentence``; ``detail`` is for the log and may be empty. A rejected
    code (:class:`~econsent.errors.VerificationError`) also carries ``"valid": false``, like a verdict.
    """
    document: dict[str, Any] = {"valid": False} if isinstance(error, VerificationError) else {}
    document.update(
        ok=False, code=error.code.value, sentence=error.sentence, sentence_zh=error.sentence_zh, detail=error.detail
    )
    return document


def result_json(subject: CardSubject) -> dict[str, Any]:
    """A verdict (``{"valid": true, "ok": true, ...}`` with every field of
    :meth:`~econsent.model.Verdict.to_json`) or a rejection (:func:`refusal_json`), each with a sentence
    in English and Chinese."""
    if isinstance(subject, Verdict):
        zh = translate(_VALID_SENTENCE, "zh")
        return {**subject.to_json(), "ok": True, "sentence": _VALID_SENTENCE, "sentence_zh": zh}
    return refusal_json(subject)


def labels_json(verdict: Verdict, types: TypeRegistry = BUILTIN_TYPES) -> dict[str, Any]:
    """The Chinese and English names of a verdict's credential type and of its shown and withheld claims.

    ``{"type": {"zh", "en"}, "claims": {name: {"zh", "en"}}}``; a name the type registry does not label
    is its own label in both languages.
    """
    ctype = types.by_name(verdict.credential_type)
    specs = {spec.name: spec for spec in ctype.claims} if ctype else {}
    claims = {}
    for name in (*verdict.claims, *verdict.withheld):
        spec = specs.get(name)
        claims[name] = {"zh": (spec and spec.label_zh) or name, "en": (spec and spec.label_en) or name}
    kind = verdict.credential_type
    return {
        "type": {"zh": (ctype and ctype.label_zh) or kind, "en": (ctype and ctype.label_en) or kind},
        "claims": claims,
    }


# ---------------------------------------------------------------------------------------------
# Terminal


_BANNER_GLYPHS = {
    "V": ("█   █", "█   █", "█   █", " █ █ ", "  █  "),
    "A": (" ███ ", "█   █", "█████", "█   █", "█   █"),
    "L": ("█    ", "█    ", "█    ", "█    ", "█████"),
    "I": ("███", " █ ", " █ ", " █ ", "███"),
    "D": ("████ ", "█   █", "█   █", "█   █", "████ "),
    "R": ("████ ", "█   █", "████ ", "█  █ ", "█   █"),
    "E": ("█████", "█    ", "████ ", "█    ", "█████"),
    "J": ("  ███", "   █ ", "   █ ", "█  █ ", " ██  "),
    "C": (" ████", "█    ", "█    ", "█    ", " ████"),
    "T": ("█████", "  █  ", "  █  ", "  █  ", "  █  "),
    "N": ("█   █", "██  █", "█ █ █", "█  ██", "█   █"),
    "O": (" ███ ", "█   █", "█   █", "█   █", " ███ "),
    " ": ("   ", "   ", "   ", "   ", "   "),
}
_GREEN, _RED, _YELLOW, _DIM, _BOLD, _RESET = "\033[32m", "\033[31m", "\033[33m", "\033[2m", "\033[1m", "\033[0m"


def _display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide and full-width characters (Chinese) take two."""
    return sum(2 if _is_wide(char) else 1 for char in text)


def render_card_text(
    subject: CardSubject, *, now: Instant, color: bool = False, types: TypeRegistry = BUILTIN_TYPES
) -> str:
    """The card as terminal text: a five-line VALID, REJECTED or NOT READ banner, then the facts, one a line.

    ``now`` is the verifier's time (for "made 12 s ago"); ``color`` adds ANSI colours for a terminal.
    ``types`` supplies the Chinese claim labels of deployment-defined credential types.
    """
    content = _content(subject, now, types)
    tint = {"valid": _GREEN, "rejected": _RED, "unread": _YELLOW}[content.tone]

    def paint(text: str, *codes: str) -> str:
        return "".join(codes) + text + _RESET if color and text else text

    banner = ["  ".join(_BANNER_GLYPHS[letter][row] for letter in content.title).rstrip() for row in range(5)]
    lines = [paint(line, _BOLD, tint) for line in banner]
    lines.append(paint(f"{content.title} {content.title_zh}  {content.subtitle}", _BOLD, tint))
    column = max((_display_width(row.label) for row in content.rows if row.label), default=0) + 2
    for row in content.rows:
        if not row.label:
            lines.append("  " + paint(row.value, _BOLD))
            continue
        pad = " " * (column - _display_width(row.label))
        style = {"warning": (_YELLOW,), "muted": (_DIM,)}.get(row.style, ())
        lines.append("  " + paint(row.label + pad + row.value, *style))
    lines.append("  " + paint(content.footer, _DIM))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Fonts


@dataclass(frozen=True, slots=True)
class CardFont:
    """A font face for cards: the file, the face's index in a collection, and its family name."""

    path: str
    index: int
    family: str


def _require_pillow() -> None:
    try:
        import PIL.ImageFont  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(_PILLOW) from exc


@lru_cache(maxsize=64)
def _face(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    from PIL import ImageFont

    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.BASIC)


@lru_cache(maxsize=16)
def _notdef(path: str, index: int) -> tuple[tuple[int, int], bytes]:
    """The bitmap a face draws for a character it does not have (U+10FFFD is never mapped)."""
    return _bitmap(path, index, "\U0010fffd")


def _bitmap(path: str, index: int, char: str) -> tuple[tuple[int, int], bytes]:
    mask, _ = _face(path, index, 32).getmask2(char)
    return mask.size, bytes(mask)


@lru_cache(maxsize=65536)
def _has_glyph(path: str, index: int, char: str) -> bool:
    """Whether the face draws ``char`` with a glyph of its own rather than its .notdef box."""
    if char.isspace():
        return True
    return _bitmap(path, index, char) != _notdef(path, index)


def _open_face(path: str, *, need_chinese: bool) -> CardFont | None:
    """The best face in a font file, or None if it is not a font (or, if needed, lacks Chinese).

    In a collection the simplified-Chinese face wins (Noto CJK has JP, KR, SC, TC and HK faces).
    """
    faces = []
    for index in range(_MAX_FACES):
        try:
            family = _face(path, index, 32).getname()[0] or ""
        except OSError:
            break
        if not need_chinese or all(_has_glyph(path, index, char) for char in _PROBE):
            faces.append(CardFont(path, index, family))
    if not faces:
        return None
    simplified = [face for face in faces if any(tag in face.family for tag in (" SC", "GB", "CN"))]
    return (simplified or faces)[0]


def _fontconfig_chinese_fonts() -> list[str]:
    """Font files fontconfig says support Chinese, if fontconfig is installed."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        listing = subprocess.run(
            [fc_list, ":lang=zh-cn", "file"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.strip().rstrip(":") for line in listing.splitlines() if line.strip()})


def _system_candidates() -> list[str]:
    return list(dict.fromkeys([*SYSTEM_CJK_FONTS, *_fontconfig_chinese_fonts()]))


def find_cjk_font(path: str | os.PathLike[str] | None = None) -> CardFont:
    """The font cards are drawn with: ``path``, else ``$ECONSENT_CJK_FONT``, else a system font.

    A font named by the caller or the environment must exist and draw Chinese, or this fails
    rather than silently using another. Raises :class:`~econsent.errors.MissingDependencyError`
    when no font with Chinese glyphs is found, saying what to install.
    """
    _require_pillow()
    named = os.fspath(path) if path is not None else os.environ.get(FONT_ENV) or None
    if named is not None:
        source = "the font given" if path is not None else f"{FONT_ENV}"
        if not os.path.isfile(named):
            raise MissingDependencyError(f"{source} ({named}) is not a file; {_ADVICE}")
        font = _open_face(named, need_chinese=True)
        if font is None:
            raise MissingDependencyError(f"{source} ({named}) is not a font with Chinese glyphs; {_ADVICE}")
        return font
    for candidate in _system_candidates():
        if os.path.isfile(candidate):
            font = _open_face(candidate, need_chinese=True)
            if font is not None:
                return font
    raise MissingDependencyError(f"no font with Chinese glyphs was found to draw verdict cards; {_ADVICE}")


class _Typesetter:
    """Draws text with the card font, falling back character by character to other installed fonts.

    Fallback fonts are opened only when the card font lacks a character. A character that no font
    has raises MissingDependencyError: a box drawn in its place would misreport a name or address.
    """

    def __init__(self, primary: CardFont) -> None:
        self._faces = [primary]
        self._candidates: list[str] | None = None

    def _fallbacks(self) -> list[str]:
        if self._candidates is None:
            opened = {face.path for face in self._faces}
            paths = [*_system_candidates(), *_LATIN_FONTS]
            self._candidates = [p for p in dict.fromkeys(paths) if p not in opened and os.path.isfile(p)]
        return self._candidates

    def _face_for(self, char: str) -> int | None:
        for number, face in enumerate(self._faces):
            if _has_glyph(face.path, face.index, char):
                return number
        while self._fallbacks():
            font = _open_face(self._fallbacks().pop(0), need_chinese=False)
            if font is not None:
                self._faces.append(font)
                if _has_glyph(font.path, font.index, char):
                    return len(self._faces) - 1
        return None

    def check(self, texts: Sequence[str]) -> None:
        """Refuse, before anything is drawn, a card with a character that no installed font has."""
        missing = {char for text in texts for char in text if self._face_for(char) is None}
        if missing:
            raise _no_glyph(len(missing))

    def runs(self, text: str) -> list[tuple[int, str]]:
        """``text`` split into runs that one face draws: (face number, characters)."""
        runs: list[tuple[int, str]] = []
        for char in text:
            number = self._face_for(char)
            if number is None:  # refuse rather than draw a box
                raise _no_glyph(1)
            if char.isspace() and runs:
                number = runs[-1][0]
            if runs and runs[-1][0] == number:
                runs[-1] = (number, runs[-1][1] + char)
            else:
                runs.append((number, char))
        return runs

    def font(self, number: int, size: int) -> ImageFont.FreeTypeFont:
        face = self._faces[number]
        return _face(face.path, face.index, size)

    def width(self, text: str, size: int) -> float:
        return sum(self.font(number, size).getlength(run) for number, run in self.runs(text))

    def draw(self, draw: ImageDraw.ImageDraw, x: float, baseline: float, text: str, size: int, fill: str) -> None:
        for number, run in self.runs(text):
            font = self.font(number, size)
            draw.text((round(x), round(baseline)), run, font=font, fill=fill, anchor="ls")
            x += font.getlength(run)

    def wrap(self, text: str, size: int, width: float) -> list[str]:
        """Lines of at most ``width`` pixels: broken at spaces, or anywhere in Chinese text."""
        lines: list[str] = []
        line = ""
        for word in _break_points(text):
            if line and self.width((line + word).rstrip(), size) > width:
                lines.append(line.rstrip())
                line = word.lstrip()
            else:
                line += word
            while self.width(line.rstrip(), size) > width and len(line) > 1:  # one word too long for a line
                cut = len(line) - 1
                while cut > 1 and self.width(line[:cut], size) > width:
                    cut -= 1
                lines.append(line[:cut])
                line = line[cut:]
        if line.strip() or not lines:
            lines.append(line.rstrip())
        return lines


def _no_glyph(count: int) -> MissingDependencyError:
    # The characters themselves stay out of the message: they are from a name or an address.
    return MissingDependencyError(
        f"the card has {count} character(s) that no installed font can draw; install a font with wider "
        f"coverage (Debian/Ubuntu: apt-get install fonts-noto-cjk fonts-hanazono), or set {FONT_ENV} to one"
    )


def _break_points(text: str) -> list[str]:
    """``text`` cut where a line may break: after spaces, and around each wide (Chinese) character."""
    pieces: list[str] = []
    for char in text:
        if pieces and not _is_wide(char) and not pieces[-1].endswith(" ") and not _is_wide(pieces[-1][-1]):
            pieces[-1] += char
        else:
            pieces.append(char)
    return pieces


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in "WF"


# ---------------------------------------------------------------------------------------------
# PNG

# Sizes in pixels at the reference width of 800; everything scales with the card's width.
_REFERENCE_WIDTH = 800
_SIZES = {"title": 88, "subtitle": 30, "label": 22, "value": 36, "reason": 40, "muted": 24, "footer": 18}
_COLORS = {
    "valid": "#1b7a36",
    "rejected": "#b3261e",
    "unread": "#5f6368",
    "ink": "#111111",
    "label": "#5f6368",
    "muted": "#5f6368",
    "warning": "#8a5a00",
    "warning_band": "#fff3cd",
    "rule": "#dadce0",
    "paper": "#ffffff",
}


def _font_px(role: str, width: int) -> int:
    """The font size of a card text role (``title``, ``value``, ...) on a card ``width`` pixels wide."""
    return max(8, round(_SIZES[role] * width / _REFERENCE_WIDTH))


def _portrait(data: bytes, height: int) -> Image.Image | None:
    """A claim's bytes as an image ``height`` pixels tall, if they are a small JPEG, PNG or WebP."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > _MAX_PORTRAIT_BYTES:
        return None
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG", "PNG", "WEBP")) as opened:
            if max(opened.size) > _MAX_PORTRAIT_SIDE:
                return None
            picture = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    scale = height / picture.height
    return picture.resize((max(1, round(picture.width * scale)), height), Image.Resampling.LANCZOS)


def render_card_png(
    subject: CardSubject,
    *,
    now: Instant,
    width: int = 800,
    font: CardFont | str | os.PathLike[str] | None = None,
    types: TypeRegistry = BUILTIN_TYPES,
) -> bytes:
    """The card as a PNG ``width`` pixels wide (its height fits the content), for a kiosk display.

    A green, red or grey band carries VALID 有效, REJECTED 拒绝 or NOT READ 无法识别 in large type;
    below it come the same facts as :func:`render_card_text`, with a claim holding a small image (a
    portrait) drawn as one. ``font`` is a :class:`CardFont` or a font file (default:
    :func:`find_cjk_font`). Raises :class:`~econsent.errors.MissingDependencyError` without Pillow,
    without a Chinese font, or when a character of the card is in no installed font.
    """
    _check_width(width)
    return _render_png(_content(subject, now, types), width, font)


def render_not_shown_png(
    *, now: Instant, width: int = 800, font: CardFont | str | os.PathLike[str] | None = None
) -> bytes:
    """A neutral card saying that this verdict cannot be shown here: read it on the counter's screen.

    A kiosk display shows it in place of a card that could not be drawn (a name with a character no
    installed font has), so that it never goes on showing the previous person's card. Its text is
    fixed, so it draws with any font that :func:`find_cjk_font` accepts.
    """
    _check_width(width)
    rows = tuple(_Row("", text, "reason") for text in (translate(_NOT_SHOWN, "zh"), _NOT_SHOWN))
    checked = from_unix(to_unix(now))
    title = N_("SEE SCREEN")
    content = _Content("unread", title, translate(title, "zh"), "", rows, f"checked {_utc(checked)}")
    return _render_png(content, width, font)


_NOT_SHOWN = N_("This card cannot be drawn here: read the verdict on the counter's screen.")


def _check_width(width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or not 320 <= width <= 4096:
        raise ValueError(f"width must be an integer from 320 to 4096, not {width!r}")


def _render_png(content: _Content, width: int, font: CardFont | str | os.PathLike[str] | None) -> bytes:
    _require_pillow()
    from PIL import Image, ImageDraw

    card_font = font if isinstance(font, CardFont) else find_cjk_font(font)
    setter = _Typesetter(card_font)
    texts = [content.title, content.title_zh, content.subtitle, content.footer]
    texts += [text for row in content.rows for text in (row.label, row.value)]
    setter.check(texts)

    unit = width / _REFERENCE_WIDTH
    margin = round(36 * unit)
    inner = width - 2 * margin
    size = {role: _font_px(role, width) for role in _SIZES}
    canvas = Image.new("RGB", (width, round(8000 * unit)), _COLORS["paper"])
    draw = ImageDraw.Draw(canvas)
    band = _COLORS[content.tone]

    subtitle = setter.wrap(content.subtitle, size["subtitle"], inner)
    band_height = round(size["title"] * 1.55 + size["subtitle"] * (0.6 + 1.3 * len(subtitle)))
    draw.rectangle((0, 0, width, band_height), fill=band)
    y = margin * 0.5 + size["title"]
    title = f"{content.title}  {content.title_zh}"
    setter.draw(draw, margin, y, title, size["title"], "#ffffff")
    y += size["subtitle"] * 0.3
    for line in subtitle:
        y += size["subtitle"] * 1.3
        setter.draw(draw, margin, y, line, size["subtitle"], "#ffffff")
    y = band_height + margin * 0.8

    for row in content.rows:
        y = _draw_row(canvas, draw, setter, row, y, margin, inner, size)
    y += size["footer"] * 0.6
    draw.line((margin, y, width - margin, y), fill=_COLORS["rule"], width=max(1, round(unit)))
    y += size["footer"] * 1.6
    for line in setter.wrap(content.footer, size["footer"], inner):
        setter.draw(draw, margin, y, line, size["footer"], _COLORS["muted"])
        y += size["footer"] * 1.4
    height = max(round(y + margin * 0.6), round(width * 0.5))
    buffer = io.BytesIO()
    canvas.crop((0, 0, width, height)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _draw_row(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    setter: _Typesetter,
    row: _Row,
    y: float,
    margin: int,
    inner: int,
    size: Mapping[str, int],
) -> float:
    """Draw one row from ``y`` (its top) down; returns the top of the next row."""
    if row.style == "reason":
        for line in setter.wrap(row.value, size["reason"], inner):
            y += size["reason"] * 1.2
            setter.draw(draw, margin, y, line, size["reason"], _COLORS["ink"])
        return y + size["reason"] * 0.7
    value_role = "value" if row.style in ("claim", "fact") else "muted"
    color: dict[str, Any] = {
        "claim": _COLORS["ink"],
        "fact": _COLORS["ink"],
        "muted": _COLORS["muted"],
        "warning": _COLORS["warning"],
    }
    value_size = size[value_role] if row.style == "claim" else size["muted"]
    lines = setter.wrap(row.value, value_size, inner)
    block = size["label"] * 1.3 + len(lines) * value_size * 1.3
    if row.style == "warning":
        draw.rectangle(
            (margin * 0.5, y, margin * 1.5 + inner, y + block + size["label"] * 0.5), fill=_COLORS["warning_band"]
        )
    y += size["label"] * 1.1
    setter.draw(draw, margin, y, row.label, size["label"], _COLORS["label"])
    picture = _portrait(row.image, round(value_size * 4)) if row.image is not None else None
    if picture is not None:
        canvas.paste(picture, (margin, round(y + size["label"] * 0.4)))
        return y + size["label"] * 0.4 + picture.height + value_size * 0.6
    for line in lines:
        y += value_size * 1.3
        setter.draw(draw, margin, y, line, value_size, color[row.style])
    return y + value_size * 0.55
