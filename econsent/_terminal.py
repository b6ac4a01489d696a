"""Text from outside, made safe for a terminal: the one place that neutralises control characters.

A QR code, a file name, a wallet file or a trust list can carry escape sequences (clear the screen, move
the cursor, paint a green VALID card), bidirectional overrides that reorder what a clerk reads, line
separators that forge extra lines, and lone surrogates that crash the output encoder. Every such
character is shown as a visible escape (``\\x1b``, ``\\u202e``) instead. Standard library only: the CLI
and the verdict cards both import it.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

__all__ = ["json_text", "printable"]

# Controls (C0, DEL, C1), format characters (bidi overrides and isolates, zero-width, BOM, tags),
# surrogates, and the line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def _visible(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every control, format, separator and surrogate character replaced by a visible escape.

    Newlines are escaped too: a value is one line, and only the program decides where lines break.
    """
    if text.isprintable():  # the common case, in C: isprintable() is False for every character escaped here
        return text
    return "".join(_visible(char) if _unsafe(char) else char for char in text)


def _json_escape(char: str) -> str:
    """A JSON ``\\uXXXX`` escape of one character (a surrogate pair beyond the BMP)."""
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_text(document: Any, *, indent: int | None = None) -> str:
    """``document`` as JSON that is safe on a terminal and exactly equal to ``json.dumps`` once parsed.

    Chinese and other text stays readable (``ensure_ascii=False``); the characters :func:`printable`
    escapes that json.dumps prints raw (DEL, C1 controls, bidi overrides, separators, surrogates) become
    ``\\uXXXX`` escapes. JSON has them only inside strings (it escapes C0 controls itself and its own
    syntax is ASCII), so the parsed document is unchanged.
    """
    text = json.dumps(document, ensure_ascii=False, indent=indent)
    if text.isascii() and "\x7f" not in text:  # the common case: nothing to escape
        return text
    return "".join(_json_escape(char) if char >= "\x7f" and _unsafe(char) else char for char in text)
