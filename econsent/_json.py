"""Strict JSON for documents from outside (trust stores, proofs, batch rows, foreign codes): one way to parse.

:func:`loads_strict` refuses what :func:`json.loads` lets through silently: an object key given twice
(the last would win, and two readers could disagree on the document) and the non-JSON constants ``NaN``,
``Infinity`` and ``-Infinity``. It raises :class:`ValueError` (``UnicodeDecodeError`` for bytes that are
not UTF-8) and lets :class:`RecursionError` through from a deeply nested text; callers turn both into
their own typed error. Standard library only.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["STRICT_DECODER", "loads_strict", "reject_constant", "unique_keys"]


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: an object, unless a key appears twice."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def reject_constant(name: str) -> Any:
    """``parse_constant``: NaN and the infinities are not JSON numbers."""
    raise ValueError(f"{name} is not a JSON number")


#: A decoder with both refusals, for callers that need :meth:`json.JSONDecoder.raw_decode`.
STRICT_DECODER = json.JSONDecoder(object_pairs_hook=unique_keys, parse_constant=reject_constant)


def loads_strict(data: str | bytes) -> Any:
    """The JSON value of ``data`` (UTF-8 when bytes), with duplicate keys and NaN/Infinity refused."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return STRICT_DECODER.decode(text)
