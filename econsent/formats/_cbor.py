"""A strict, limited CBOR decoder (RFC 8949) for what EU DCCs carry. Decoding only; no cryptography.

Accepted: integers up to 64 bits, byte and text strings, arrays and maps (definite or indefinite length),
false, true, null, half/single/double floats, and tags: the caller names the tags it expects around the
whole item (COSE's 18 and CWT's 61, returned as :class:`Tag`); tag 0 around text and tag 1 around a
number (date/time) are read as the plain value; every other tag is refused. Refused as well: undefined
and other simple values, reserved encodings, map keys that are not integers or text, duplicate map keys,
invalid UTF-8, nesting deeper than ``max_depth``, more than ``max_items`` items, and bytes after the item.

Why not cbor2: only its 6.x line can refuse duplicate keys and its built-in tags (shared references can
even build cycles), and 6.x conflicts with the cbor2<6 pin of ``cwt`` in the bench extra. The subset a
DCC needs is this small, and every limit here holds before any value is built.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from ._common import malformed

__all__ = ["Tag", "loads"]

_BREAK = 0xFF


@dataclass(frozen=True, slots=True)
class Tag:
    """A tagged item the caller asked for (an outer COSE or CWT tag)."""

    number: int
    value: Any


class _Reader:
    __slots__ = ("data", "items", "max_depth", "max_items", "outer_tags", "pos", "what")

    def __init__(self, data: bytes, what: str, max_depth: int, max_items: int, outer_tags: frozenset[int]) -> None:
        self.data = data
        self.pos = 0
        self.items = 0
        self.what = what
        self.max_depth = max_depth
        self.max_items = max_items
        self.outer_tags = outer_tags

    def fail(self, problem: str) -> Exception:
        return malformed(f"{self.what} is not well-formed CBOR: {problem} at byte {self.pos}")

    def take(self, count: int) -> bytes:
        end = self.pos + count
        if end > len(self.data):
            raise self.fail("the data ends inside an item")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def head(self) -> tuple[int, int, int | None]:
        """(major type, additional info, argument); the argument is None for an indefinite length."""
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            return major, info, info
        if info <= 27:
            return major, info, int.from_bytes(self.take(1 << (info - 24)), "big")
        if info == 31 and major in (2, 3, 4, 5):
            return major, info, None
        raise self.fail(f"reserved or misplaced additional information {info}")

    def item(self, depth: int, *, outer: bool = False) -> Any:
        if depth > self.max_depth:
            raise self.fail(f"nesting deeper than {self.max_depth}")
        self.items += 1
        if self.items > self.max_items:
            raise self.fail(f"more than {self.max_items} items")
        major, info, argument = self.head()
        if major == 0:
            return argument
        if major == 1:
            assert argument is not None
            return -1 - argument
        if major in (2, 3):
            return self.string(major, argument)
        if major == 4:
            return self.array(argument, depth)
        if major == 5:
            return self.map(argument, depth)
        if major == 6:
            assert argument is not None
            return self.tag(argument, depth, outer)
        return self.simple(info, argument)

    def string(self, major: int, length: int | None) -> bytes | str:
        if length is None:
            chunks = []
            while self.data[self.pos : self.pos + 1] != bytes((_BREAK,)):
                chunk_major, _, chunk_length = self.head()
                if chunk_major != major or chunk_length is None:
                    raise self.fail("an indefinite string holds a chunk of another kind")
                chunks.append(self.take(chunk_length))
            self.take(1)
            raw = b"".join(chunks)
        else:
            raw = self.take(length)
        if major == 2:
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail("text that is not UTF-8") from exc

    def _more(self, remaining: int | None) -> bool:
        if remaining is not None:
            return remaining > 0
        if self.data[self.pos : self.pos + 1] == bytes((_BREAK,)):
            self.pos += 1
            return False
        return True

    def array(self, length: int | None, depth: int) -> list[Any]:
        if length is not None and length > len(self.data) - self.pos:
            raise self.fail("an array longer than the data")
        result: list[Any] = []
        remaining = length
        while self._more(remaining):
            result.append(self.item(depth + 1))
            remaining = None if remaining is None else remaining - 1
        return result

    def map(self, length: int | None, depth: int) -> dict[Any, Any]:
        if length is not None and 2 * length > len(self.data) - self.pos:
            raise self.fail("a map longer than the data")
        result: dict[Any, Any] = {}
        remaining = length
        while self._more(remaining):
            key = self.item(depth + 1)
            if isinstance(key, bool) or not isinstance(key, int | str):
                raise self.fail("a map key that is not an integer or text")
            if key in result:
                raise self.fail(f"duplicate map key {key!r}")
            result[key] = self.item(depth + 1)
            remaining = None if remaining is None else remaining - 1
        return result

    def tag(self, number: int, depth: int, outer: bool) -> Any:
        if outer and number in self.outer_tags:
            inner = self.data[self.pos : self.pos + 1]
            nested = bool(inner) and inner[0] >> 5 == 6
            return Tag(number, self.item(depth + 1, outer=nested))
        value = self.item(depth + 1)
        if number == 0 and isinstance(value, str):
            return value
        if number == 1 and not isinstance(value, bool) and isinstance(value, int | float):
            return value
        raise self.fail(f"tag {number}, which has no place here")

    def simple(self, info: int, argument: int | None) -> Any:
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        assert argument is not None
        if info == 25:
            return float(struct.unpack(">e", argument.to_bytes(2, "big"))[0])
        if info == 26:
            return float(struct.unpack(">f", argument.to_bytes(4, "big"))[0])
        if info == 27:
            return float(struct.unpack(">d", argument.to_bytes(8, "big"))[0])
        raise self.fail("a simple value other than false, true and null")


def loads(
    data: bytes, what: str, *, max_depth: int = 16, max_items: int = 100_000, outer_tags: frozenset[int] = frozenset()
) -> Any:
    """Decode exactly one CBOR item from ``data``; raises VerificationError (MALFORMED) for anything else."""
    reader = _Reader(bytes(data), what, max_depth, max_items, outer_tags)
    if not data:
        raise reader.fail("no data")
    value = reader.item(0, outer=True)
    if reader.pos != len(data):
        raise malformed(f"{len(data) - reader.pos} bytes follow the CBOR item of {what}")
    return value
