"""Revocation status lists: a signed, compressed bitstring of every credential's status, checked offline.

An issuer publishes one list per ``list_id``; a credential's header names its list and index. Each entry
is 2 bits (0 valid, 1 revoked, 2 suspended; 3 is refused), packed four to a byte with entry ``i`` in
bits ``2*(i%4)`` and ``2*(i%4)+1`` of byte ``i//4`` (the IETF Token Status List layout with ``bits=2``),
then zlib-compressed. The file is one canonical msgpack array signed by one of the issuer's keys over
``"econsent/v1 status-list\\0" || every byte before the signature field``. ``docs/SPEC.md`` section 10
describes the format byte by byte.

Loading checks everything before it inflates anything: size cap, canonical msgpack, field ranges, the
key (known, the list's issuer, allowed to sign at ``issued_at``, not compromised) and the signature. Only
then is the bitstring inflated, into exactly the number of bytes ``size`` calls for. A loaded
:class:`StatusList` keeps only the packed bytes (12.5 MB for 50 million entries); ``status(i)`` is one
byte read. Whether a list is fresh enough is the verifier's policy, not this module's.
"""

from __future__ import annotations

import datetime as _dt
import os
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ._envelope import STATUS_LIST_CONTEXT, sign_status_list, verify_status_list
from ._wire import KID_BYTES, MAX_STATUS_LIST_ID, MAX_TIME, SIGNATURE_BYTES, pack, unpack_canonical
from .errors import StatusListError, StatusListReason
from .keys import Signer
from .model import Instant, from_unix, to_unix
from .trust import IssuerScope, KeyStatus, TrustStore

__all__ = [
    "BITS_PER_ENTRY",
    "MAX_STATUS_LIST_BYTES",
    "MAX_STATUS_LIST_ENTRIES",
    "STATUS_LIST_CONTEXT",
    "STATUS_LIST_FILE_SUFFIX",
    "CredentialStatus",
    "LoadReport",
    "StatusList",
    "StatusListBuilder",
    "StatusListCache",
    "StatusListError",
    "StatusListReason",
    "load_status_list",
    "read_status_list_unverified",
    "sign_status_list",
    "verify_status_list",
]

STATUS_LIST_FILE_SUFFIX = ".ecsl"
MAX_STATUS_LIST_BYTES = 64 * 1024 * 1024
MAX_STATUS_LIST_ENTRIES = 2**28  # a 64 MiB bitstring; Shanghai's 50 million licences need 12.5 MB
BITS_PER_ENTRY = 2
MAX_ISSUER_REF_CHARS = 64
MAX_SEQUENCE = 2**63 - 1
ZLIB_LEVEL = 9
_FORMAT = "econsent-status-list"
_VERSION = 1
_FIELDS = 12
_SIGNATURE_FIELD_BYTES = 2 + SIGNATURE_BYTES


class CredentialStatus(StrEnum):
    """A credential's status in its issuer's list. The wire value is the index in declaration order."""

    VALID = "valid"
    REVOKED = "revoked"
    SUSPENDED = "suspended"


_STATUSES = (CredentialStatus.VALID, CredentialStatus.REVOKED, CredentialStatus.SUSPENDED)
_VALUE = {status: value for value, status in enumerate(_STATUSES)}
# Byte values whose four entries are all 0, 1 or 2: deleting them from a bitstring leaves its bad bytes.
_GOOD_BYTES = bytes(b for b in range(256) if all((b >> shift) & 3 != 3 for shift in (0, 2, 4, 6)))
# Per byte value, how many of its four entries are revoked (1) and suspended (2), as translate tables.
_REVOKED_PER_BYTE = bytes(sum((b >> shift) & 3 == 1 for shift in (0, 2, 4, 6)) for b in range(256))
_SUSPENDED_PER_BYTE = bytes(sum((b >> shift) & 3 == 2 for shift in (0, 2, 4, 6)) for b in range(256))
_CLEAR = tuple(0xFF ^ (3 << (2 * position)) for position in range(4))


def _malformed(detail: str) -> StatusListError:
    return StatusListError(StatusListReason.MALFORMED, detail)


def _packed_length(size: int) -> int:
    return (size * BITS_PER_ENTRY + 7) // 8


@dataclass(frozen=True, slots=True)
class StatusList:
    """A verified status list: who published it, which list and publication, and the packed entries.

    Made by :func:`load_status_list`. Construction checks the bitstring itself (length, no entry 3, zero
    padding) but not where it came from: only a loaded list is a verified one. ``scopes`` are the issuers,
    each within its trust source, the list was verified to speak for (empty for an unverified read):
    a verifier uses it only for credentials of those issuers.
    """

    issuer_ref: str
    list_id: int
    sequence: int
    issued_at: _dt.datetime
    next_update: _dt.datetime
    size: int
    kid: bytes
    bitstring: bytes = field(repr=False)
    scopes: frozenset[IssuerScope] = frozenset()
    verified_with: TrustStore | None = field(default=None, repr=False, compare=False)
    """The trust store the list was verified against: a cache judges by it whether the lists it holds
    still count (their signer still trusted, in the same scope) before they can block this one."""

    def __post_init__(self) -> None:
        _check_bitstring(self.bitstring, self.size)
        object.__setattr__(self, "scopes", frozenset(self.scopes))

    def status(self, index: int) -> CredentialStatus:
        """The status of entry ``index``; an index outside the list raises ``INDEX_OUT_OF_RANGE``."""
        if not 0 <= index < self.size:
            raise StatusListError(
                StatusListReason.INDEX_OUT_OF_RANGE, f"index {index}, list {self.list_id} has {self.size} entries"
            )
        return _STATUSES[(self.bitstring[index >> 2] >> ((index & 3) << 1)) & 3]

    def counts(self) -> dict[CredentialStatus, int]:
        """How many entries have each status (padding bits are not entries)."""
        revoked = _weighted_count(self.bitstring.translate(_REVOKED_PER_BYTE))
        suspended = _weighted_count(self.bitstring.translate(_SUSPENDED_PER_BYTE))
        return {
            CredentialStatus.VALID: self.size - revoked - suspended,
            CredentialStatus.REVOKED: revoked,
            CredentialStatus.SUSPENDED: suspended,
        }

    def same_content(self, other: StatusList) -> bool:
        """True when both say the same thing: same list, publication, times and entries (the key may differ)."""
        return (self.issuer_ref, self.list_id, self.sequence, self.issued_at, self.next_update, self.size) == (
            other.issuer_ref,
            other.list_id,
            other.sequence,
            other.issued_at,
            other.next_update,
            other.size,
        ) and self.bitstring == other.bitstring


def _weighted_count(per_byte: bytes) -> int:
    return sum(count * per_byte.count(count) for count in (1, 2, 3, 4))


def _check_bitstring(bitstring: bytes, size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_STATUS_LIST_ENTRIES:
        raise _malformed(f"size must be 1 to {MAX_STATUS_LIST_ENTRIES} entries")
    if not isinstance(bitstring, bytes) or len(bitstring) != _packed_length(size):
        raise _malformed(f"a list of {size} entries has exactly {_packed_length(size)} bytes of entries")
    if bitstring.translate(None, _GOOD_BYTES):
        raise _malformed("an entry has the value 3, which no status has")
    used_bits = (size % 4) * BITS_PER_ENTRY
    if used_bits and bitstring[-1] >> used_bits:
        raise _malformed("the padding bits after the last entry must be zero")


class StatusListBuilder:
    """Entries of one status list being prepared for publication; every entry starts out valid."""

    __slots__ = ("_bits", "_size")

    def __init__(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_STATUS_LIST_ENTRIES:
            raise ValueError(f"a status list holds 1 to {MAX_STATUS_LIST_ENTRIES} entries")
        self._size = size
        self._bits = bytearray(_packed_length(size))

    @property
    def size(self) -> int:
        return self._size

    def set(self, index: int, status: CredentialStatus) -> None:
        if not 0 <= index < self._size:
            raise StatusListError(StatusListReason.INDEX_OUT_OF_RANGE, f"index {index} of {self._size}")
        shift = (index & 3) << 1
        self._bits[index >> 2] = (self._bits[index >> 2] & _CLEAR[index & 3]) | (_VALUE[status] << shift)

    def set_many(self, indices: Iterable[int], status: CredentialStatus) -> None:
        """Set many entries to one status. All indices are checked first: on an error nothing changes.

        A ``range`` with step 1 fills whole bytes at once; anything else costs about 0.2 us an index.
        """
        value = _VALUE[status]
        if isinstance(indices, range) and indices.step == 1:
            self._fill(indices.start, indices.stop, value)
            return
        todo = indices if isinstance(indices, list) else list(indices)
        if not todo:
            return
        low, high = min(todo), max(todo)
        if low < 0 or high >= self._size:
            raise StatusListError(
                StatusListReason.INDEX_OUT_OF_RANGE, f"indices {low}..{high}, the list has {self._size} entries"
            )
        bits = self._bits
        clear = _CLEAR
        put = tuple(value << (2 * position) for position in range(4))
        for index in todo:
            byte, position = index >> 2, index & 3
            bits[byte] = (bits[byte] & clear[position]) | put[position]

    def _fill(self, start: int, stop: int, value: int) -> None:
        if start >= stop:
            return
        if start < 0 or stop > self._size:
            raise StatusListError(
                StatusListReason.INDEX_OUT_OF_RANGE, f"indices {start}..{stop - 1}, the list has {self._size} entries"
            )
        head_end = min(stop, (start + 3) & ~3)
        tail_start = max(head_end, stop & ~3)
        for index in (*range(start, head_end), *range(tail_start, stop)):
            self.set(index, _STATUSES[value])
        self._bits[head_end >> 2 : tail_start >> 2] = bytes((value * 0x55,)) * ((tail_start - head_end) >> 2)

    def sign(
        self,
        signer: Signer,
        *,
        issuer_ref: str,
        list_id: int,
        sequence: int,
        issued_at: Instant,
        next_update: Instant,
    ) -> bytes:
        """The signed status list file (what goes into a ``.ecsl`` file)."""
        issued, until = to_unix(issued_at), to_unix(next_update)
        _check_fields(issuer_ref, list_id, sequence, issued, until)
        unsigned = pack(
            [
                _FORMAT,
                _VERSION,
                issuer_ref,
                list_id,
                sequence,
                signer.public_key.kid,
                issued,
                until,
                self._size,
                BITS_PER_ENTRY,
                zlib.compress(self._bits, ZLIB_LEVEL),
                bytes(SIGNATURE_BYTES),
            ]
        )
        if len(unsigned) > MAX_STATUS_LIST_BYTES:
            raise StatusListError(StatusListReason.TOO_LARGE, f"{len(unsigned)} bytes, at most {MAX_STATUS_LIST_BYTES}")
        signed_bytes = unsigned[:-_SIGNATURE_FIELD_BYTES]
        return unsigned[:-SIGNATURE_BYTES] + sign_status_list(signer, signed_bytes)


def _check_fields(issuer_ref: Any, list_id: Any, sequence: Any, issued_at: Any, next_update: Any) -> None:
    if not isinstance(issuer_ref, str) or not 1 <= len(issuer_ref) <= MAX_ISSUER_REF_CHARS:
        raise _malformed(f"issuer_ref must be text of 1 to {MAX_ISSUER_REF_CHARS} characters")
    _int(list_id, "list id", 0, MAX_STATUS_LIST_ID)
    _int(sequence, "sequence", 0, MAX_SEQUENCE)
    _int(issued_at, "issued-at", 0, MAX_TIME)
    _int(next_update, "next-update", 0, MAX_TIME)
    if issued_at >= next_update:
        raise _malformed("issued-at must be before next-update")


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _malformed(f"{name} must be an integer from {low} to {high}")
    return value


def _unpack_strict(data: bytes) -> list[Any]:
    """The status list array, parsed with limits and required to be in canonical msgpack form."""
    try:
        obj = unpack_canonical(
            data, max_bytes=MAX_STATUS_LIST_BYTES, max_items=_FIELDS, max_str_len=4 * MAX_ISSUER_REF_CHARS
        )
    except ValueError as exc:
        raise _malformed(str(exc)) from exc
    if not isinstance(obj, list) or len(obj) != _FIELDS:
        raise _malformed(f"a status list is an array of {_FIELDS} elements")
    return obj


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A shape-checked status list file whose key and signature have not been checked yet."""

    issuer_ref: str
    list_id: int
    sequence: int
    kid: bytes
    issued_at: int
    next_update: int
    size: int
    compressed: bytes
    signature: bytes
    signed_bytes: bytes

    def status_list(
        self, scopes: frozenset[IssuerScope] = frozenset(), verified_with: TrustStore | None = None
    ) -> StatusList:
        return StatusList(
            issuer_ref=self.issuer_ref,
            list_id=self.list_id,
            sequence=self.sequence,
            issued_at=from_unix(self.issued_at),
            next_update=from_unix(self.next_update),
            size=self.size,
            kid=self.kid,
            bitstring=_inflate(self.compressed, _packed_length(self.size)),
            scopes=scopes,
            verified_with=verified_with,
        )


def load_status_list(data: bytes, trust: TrustStore) -> StatusList:
    """Verify a status list file and return it, or raise :class:`StatusListError`.

    The key is looked up by key id in ``trust``; some trust source must place it under the list's issuer
    (``issuer_ref``): the list then speaks for that issuer in those sources only (``scopes``), never for
    a namesake in another source. The key must have been allowed to sign at the list's ``issued_at`` and
    must not be compromised: a list signed by a compromised key is refused whatever its ``issued_at``,
    since whoever holds the key can backdate it. The entries are inflated only after the signature verified.
    """
    parsed = _parse(data)
    kid = parsed.kid
    trusted = trust.get(kid)
    if trusted is None:
        raise StatusListError(StatusListReason.UNKNOWN_KEY, f"key id {kid.hex()}")
    held = trust.scopes(kid)
    scopes = frozenset(scope for scope in held if scope.issuer_ref == parsed.issuer_ref)
    if not scopes:
        owners = ", ".join(sorted(repr(str(scope)) for scope in held))
        raise StatusListError(StatusListReason.WRONG_ISSUER, f"key {kid.hex()} belongs to {owners}")
    # Stricter than compromised_at(issued_at): issued_at is only the signer's word.
    if trusted.status is KeyStatus.COMPROMISED:
        raise StatusListError(StatusListReason.KEY_NOT_VALID, f"key {kid.hex()} is compromised")
    if not trusted.signs_at(parsed.issued_at):
        raise StatusListError(
            StatusListReason.KEY_NOT_VALID,
            f"key {kid.hex()} could not sign at {from_unix(parsed.issued_at).isoformat()}",
        )
    if not verify_status_list(
        trusted.public_key, parsed.signature, parsed.signed_bytes, sm2_user_id=trusted.sm2_user_id
    ):
        raise StatusListError(StatusListReason.BAD_SIGNATURE, f"key {kid.hex()}")
    return parsed.status_list(scopes, trust)


def read_status_list_unverified(data: bytes) -> StatusList:
    """Read a status list WITHOUT checking its key or signature: to inspect a file, never to trust it."""
    return _parse(data).status_list()


def _parse(data: bytes) -> _Parsed:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise _malformed("a status list is bytes")
    data = bytes(data)
    if len(data) > MAX_STATUS_LIST_BYTES:
        raise StatusListError(StatusListReason.TOO_LARGE, f"{len(data)} bytes, at most {MAX_STATUS_LIST_BYTES}")
    fields = _unpack_strict(data)
    form, version, issuer_ref, list_id, sequence, kid, issued_at, next_update, size, bits, compressed, signature = (
        fields
    )
    if form != _FORMAT:
        raise _malformed(f"not a status list (the first element must be {_FORMAT!r})")
    if type(version) is not int or version != _VERSION:
        raise _malformed(f"unsupported status list version {version!r} (this verifier reads version {_VERSION})")
    _check_fields(issuer_ref, list_id, sequence, issued_at, next_update)
    if not isinstance(kid, bytes) or len(kid) != KID_BYTES:
        raise _malformed(f"key id must be {KID_BYTES} bytes")
    _int(size, "size", 1, MAX_STATUS_LIST_ENTRIES)
    if type(bits) is not int or bits != BITS_PER_ENTRY:
        raise _malformed(f"bits must be {BITS_PER_ENTRY}")
    if not isinstance(compressed, bytes):
        raise _malformed("the entries must be a byte string")
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise _malformed(f"signature must be {SIGNATURE_BYTES} bytes")
    return _Parsed(
        issuer_ref=issuer_ref,
        list_id=list_id,
        sequence=sequence,
        kid=kid,
        issued_at=issued_at,
        next_update=next_update,
        size=size,
        compressed=compressed,
        signature=signature,
        signed_bytes=data[:-_SIGNATURE_FIELD_BYTES],
    )


def _inflate(compressed: bytes, expected: int) -> bytes:
    """Exactly ``expected`` bytes from one complete zlib stream; more output, less, or trailing input is refused."""
    inflater = zlib.decompressobj()
    try:
        entries = inflater.decompress(compressed, expected)
        if len(entries) == expected and not inflater.eof and inflater.decompress(inflater.unconsumed_tail, 1):
            raise StatusListError(StatusListReason.TOO_LARGE, f"the entries inflate to more than {expected} bytes")
    except zlib.error as exc:
        raise _malformed(f"the entries are not a valid zlib stream: {exc}") from exc
    if len(entries) != expected or not inflater.eof:
        raise _malformed(f"the entries inflate to fewer than {expected} bytes (truncated)")
    if inflater.unused_data or inflater.unconsumed_tail:
        raise _malformed("bytes follow the end of the zlib stream")
    return entries


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What :meth:`StatusListCache.load_directory` did with each ``.ecsl`` file.

    ``loaded``: files whose list the cache now holds; ``unchanged``: valid files identical to the list held,
    or superseded by a newer file of the same list in the folder; ``errors``: refused files and why (a
    folder whose newest file of a list is older than the list held is reported as ``ROLLBACK``).
    """

    loaded: tuple[Path, ...]
    unchanged: tuple[Path, ...]
    errors: tuple[tuple[Path, StatusListError], ...]


class StatusListCache:
    """The newest verified status list of each ``(issuer scope, list_id)``, in memory. Thread-safe.

    The scope is the issuer *within its trust source* (:class:`~econsent.trust.IssuerScope`), as
    :func:`load_status_list` established it: a list never lands where a namesake issuer of another
    source would find it. A list older than the one held (lower ``sequence``) is refused as ``ROLLBACK``:
    an attacker who replays an old file must not un-revoke anything. A different list under the held
    sequence number (an issuer that signed two versions of one publication) is refused as ``SEQUENCE_REUSED``.
    """

    __slots__ = ("_lists", "_lock")

    def __init__(self) -> None:
        self._lists: dict[tuple[IssuerScope, int], StatusList] = {}
        self._lock = threading.Lock()

    def add(self, status_list: StatusList) -> bool:
        """Hold ``status_list`` if it is newer than the one held; False when the same list is already held.

        A list that was not verified against a trust store (no ``scopes``) speaks for nobody: refused as
        ``UNKNOWN_KEY``. A list verified for several scopes is checked against each before it is held.
        """
        if not status_list.scopes:
            raise StatusListError(StatusListReason.UNKNOWN_KEY, "the list was not verified against a trust store")
        keys = [(scope, status_list.list_id) for scope in status_list.scopes]
        with self._lock:
            counting = {key: self._counting(key, status_list.verified_with) for key in keys}
            for held in counting.values():
                if held is not None:
                    _check_succession(held, status_list)
            newer = False
            for key, held in counting.items():
                if held is None or held.sequence != status_list.sequence:
                    self._lists[key] = status_list
                    newer = True
            return newer

    def _counting(self, key: tuple[IssuerScope, int], trust: TrustStore | None) -> StatusList | None:
        """The held list for ``key`` if it still counts under ``trust``: a list whose signer has since been
        marked compromised, or left that issuer's scope, must not block the issuer's next list (an attacker
        with a stolen key could otherwise publish a huge sequence number once and freeze the list)."""
        held = self._lists.get(key)
        if held is None or trust is None:
            return held
        signer = trust.get(held.kid)
        if signer is None or signer.status is KeyStatus.COMPROMISED or key[0] not in trust.scopes(held.kid):
            return None
        return held

    def get(self, scope: IssuerScope, list_id: int) -> StatusList | None:
        """The list ``list_id`` of that issuer in that trust source, if one is held."""
        return self._lists.get((scope, list_id))

    def __len__(self) -> int:
        """How many lists are held (a list that speaks for several scopes counts once)."""
        with self._lock:
            return len({id(held) for held in self._lists.values()})

    def __iter__(self) -> Iterator[StatusList]:
        with self._lock:
            return iter(list({id(held): held for held in self._lists.values()}.values()))

    def load_directory(self, path: str | os.PathLike[str], trust: TrustStore) -> LoadReport:
        """Load every ``*.ecsl`` file in a folder (the offline distribution form); a bad file never stops the rest.

        Several publications of one list may lie side by side: the newest wins, older ones count as unchanged.
        """
        folder = Path(path)
        best: dict[tuple[frozenset[IssuerScope], int], tuple[Path, StatusList]] = {}
        unchanged: list[Path] = []
        errors: list[tuple[Path, StatusListError]] = []
        for file in sorted(folder.glob(f"*{STATUS_LIST_FILE_SUFFIX}")):
            try:
                status_list = load_status_list(_read_file(file), trust)
                key = (status_list.scopes, status_list.list_id)
                seen = best.get(key)
                if seen is not None:
                    older, newer = sorted((seen[1], status_list), key=lambda candidate: candidate.sequence)
                    _check_succession(older, newer)
                    if status_list.sequence <= seen[1].sequence:
                        unchanged.append(file)
                        continue
                    unchanged.append(seen[0])
                best[key] = (file, status_list)
            except StatusListError as exc:
                errors.append((file, exc))
        loaded: list[Path] = []
        for file, status_list in best.values():
            try:
                (loaded if self.add(status_list) else unchanged).append(file)
            except StatusListError as exc:
                errors.append((file, exc))
        return LoadReport(tuple(sorted(loaded)), tuple(sorted(unchanged)), tuple(errors))


def _check_succession(held: StatusList, new: StatusList) -> None:
    if new.sequence < held.sequence:
        raise StatusListError(
            StatusListReason.ROLLBACK,
            f"{new.issuer_ref!r} list {new.list_id}: sequence {new.sequence}, already holding {held.sequence}",
        )
    if new.sequence == held.sequence and not held.same_content(new):
        raise StatusListError(
            StatusListReason.SEQUENCE_REUSED,
            f"{new.issuer_ref!r} list {new.list_id}: two different lists with sequence {new.sequence}",
        )


def _read_file(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_STATUS_LIST_BYTES + 1)
    except OSError as exc:
        raise StatusListError(StatusListReason.UNREADABLE, f"{path.name}: {exc.strerror}") from exc
    if len(data) > MAX_STATUS_LIST_BYTES:
        raise StatusListError(StatusListReason.TOO_LARGE, f"{path.name} is larger than {MAX_STATUS_LIST_BYTES} bytes")
    return data
