"""The encrypted wallet file: byte format, key derivation, sealing, atomic storage and the writer lock.

A vault is a fixed 100-byte header followed by AES-256-GCM ciphertext of a msgpack body (the exact
layout is in ``docs/wallet.md``). The key comes from the passphrase through scrypt, whose parameters
and salt are in the header, bounded on read so a hostile file cannot make us allocate gigabytes.

The header also carries the wallet's id and a generation counter that every write increases. The whole
header is the AEAD's associated data, so neither can be changed without the key: a reader can tell
another wallet's file (same passphrase or not) and an older copy of its own from the file it expects.
Format 1 files (76-byte header, no id or generation) are still read, as generation 0, and are
written as format 2 by the next change.

Damage and a wrong passphrase are told apart in three layers, each checked before the next:

1. an unkeyed checksum over the header (SHA-256, first 8 bytes) says whether the header is intact,
   so a damaged salt or KDF parameter is reported as damage, never as a wrong passphrase;
2. a keyed key-check value (HMAC-SHA256 under a subkey of the scrypt output) says whether the
   passphrase is right; it lets an attacker test guesses no faster than the AEAD tag already does;
3. with an intact header and the right key, an AEAD failure can only be damage to the ciphertext.

Storage is anything with atomic ``read``/``write`` and an exclusive ``lock``: :class:`FileStorage`
(write to a temporary file, flush, fsync, rename, fsync the directory; ``flock`` on a side lock file)
or :class:`MemoryStorage`. Nothing here reads the clock except the bounded wait for the lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import struct
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import msgpack
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ._files import write_atomic
from .errors import EconsentError

__all__ = [
    "DEFAULT_KDF",
    "FORMAT_VERSION",
    "HEADER_BYTES",
    "MAGIC",
    "MAX_VAULT_BYTES",
    "CorruptWalletError",
    "EmptyWalletError",
    "FileStorage",
    "MemoryStorage",
    "NotAWalletError",
    "ScryptParams",
    "Storage",
    "StorageError",
    "TruncatedWalletError",
    "UnsupportedWalletVersionError",
    "VaultHeader",
    "VaultKey",
    "VaultKind",
    "WalletChangedError",
    "WalletError",
    "WalletErrorCode",
    "WalletExistsError",
    "WalletLockedError",
    "WalletNotFoundError",
    "WalletRolledBackError",
    "WalletSwappedError",
    "WrongPassphraseError",
    "derive_key",
    "new_key",
    "normalize_passphrase",
    "read_header",
    "seal",
    "unseal",
]

MAGIC = b"\x89ECW\r\n\x1a\n"
FORMAT_VERSION = 2
HEADER_BYTES = 100
WALLET_ID_BYTES = 16
MAX_GENERATION = 2**64 - 1
MAX_VAULT_BYTES = 64 * 1024 * 1024
MAX_BODY_ITEMS = 20_000
MAX_BODY_BIN = 64 * 1024
MAX_BODY_STR = 4 * 1024

_KDF_SCRYPT = 1
_AEAD_AES256GCM = 1
_SALT_BYTES = 16
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_CHECK_BYTES = 16
_CHECKSUM_BYTES = 8
# magic, version, header length, kind, kdf id, log2 N, r, p, aead id, reserved, salt, nonce, body length, key check
_HEADER = struct.Struct(">8sHHBBBBBBH16s12sI16s")
# format 2 only, after those: the wallet id and the generation. The 8-byte checksum ends the header in both.
_LINEAGE = struct.Struct(">16sQ")
_HEADER_LENGTHS = {1: _HEADER.size + 8, FORMAT_VERSION: _HEADER.size + _LINEAGE.size + 8}
_KEY_CHECK_CONTEXT = b"econsent/wallet v1 key check\x00"
_PREFIX_BYTES = 12  # magic, version and header length: the same in every format version

# scrypt bounds: memory is 128 * r * N bytes; work grows with N * r * p.
MIN_LOG2_N = 10
MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
MAX_SCRYPT_WORK = 512 * 1024 * 1024
MAX_SCRYPT_R = 32
MAX_SCRYPT_P = 16

_LOCK_POLL_SECONDS = 0.05


class WalletErrorCode(StrEnum):
    """Why a wallet operation failed. The string values are stable (apps and scripts key on them)."""

    WRONG_PASSPHRASE = "WRONG_PASSPHRASE"
    DAMAGED = "DAMAGED"
    TRUNCATED = "TRUNCATED"
    EMPTY = "EMPTY"
    LIMITS_EXCEEDED = "LIMITS_EXCEEDED"
    NOT_A_WALLET = "NOT_A_WALLET"
    WRONG_KIND = "WRONG_KIND"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    LOCKED = "LOCKED"
    NOT_FOUND = "NOT_FOUND"
    EXISTS = "EXISTS"
    CHANGED = "CHANGED"
    SWAPPED = "SWAPPED"
    ROLLED_BACK = "ROLLED_BACK"
    STORAGE = "STORAGE"
    NO_SUCH_ENTRY = "NO_SUCH_ENTRY"
    AMBIGUOUS_ENTRY = "AMBIGUOUS_ENTRY"
    HOLDER_KEY = "HOLDER_KEY"

    @property
    def sentence(self) -> str:
        """A plain sentence a phone user can read."""
        return _SENTENCES[self]


_SENTENCES: dict[WalletErrorCode, str] = {
    WalletErrorCode.WRONG_PASSPHRASE: "The passphrase is wrong.",
    WalletErrorCode.DAMAGED: "The wallet file is damaged; restore it from a backup.",
    WalletErrorCode.TRUNCATED: "The wallet file is cut short; restore it from a backup.",
    WalletErrorCode.EMPTY: "The wallet file is empty; restore it from a backup.",
    WalletErrorCode.LIMITS_EXCEEDED: "The wallet file asks for more resources than a wallet may use.",
    WalletErrorCode.NOT_A_WALLET: "This file is not an econsent wallet.",
    WalletErrorCode.WRONG_KIND: "This file is an econsent file of another kind.",
    WalletErrorCode.UNSUPPORTED_VERSION: "The wallet was written by a newer version of econsent; update the app.",
    WalletErrorCode.LOCKED: "Another program is changing the wallet; try again when it has finished.",
    WalletErrorCode.NOT_FOUND: "There is no wallet here.",
    WalletErrorCode.EXISTS: "A wallet already exists here.",
    WalletErrorCode.CHANGED: "The wallet was re-encrypted by another program; open it again.",
    WalletErrorCode.SWAPPED: "The wallet file belongs to another wallet; restore this wallet's file or a backup.",
    WalletErrorCode.ROLLED_BACK: "The wallet file was replaced by an older copy of it; it was left as it is.",
    WalletErrorCode.STORAGE: "The wallet could not be read or written.",
    WalletErrorCode.NO_SUCH_ENTRY: "The wallet holds no such credential.",
    WalletErrorCode.AMBIGUOUS_ENTRY: "Several credentials match; give more of the id.",
    WalletErrorCode.HOLDER_KEY: "The holder key of this credential is missing or does not match.",
}


_LIMITS = WalletErrorCode.LIMITS_EXCEEDED


class WalletError(EconsentError):
    """A wallet operation failed. ``code`` is stable; ``detail`` adds specifics (never secrets or personal data)."""

    default_code = WalletErrorCode.STORAGE

    def __init__(self, detail: str = "", *, code: WalletErrorCode | None = None, source: str = "") -> None:
        self.code = code or self.default_code
        self.detail = detail
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{self.code.value}: {self.code.sentence}" + (f" ({detail})" if detail else ""))

    @property
    def sentence(self) -> str:
        return self.code.sentence


class WrongPassphraseError(WalletError):
    """The header is intact but the passphrase does not match its key check."""

    default_code = WalletErrorCode.WRONG_PASSPHRASE


class CorruptWalletError(WalletError):
    """The file is damaged (header checksum, AEAD tag or contents), or asks for more than the limits allow."""

    default_code = WalletErrorCode.DAMAGED


class TruncatedWalletError(CorruptWalletError):
    """The file ends before its header or its declared ciphertext does."""

    default_code = WalletErrorCode.TRUNCATED


class EmptyWalletError(CorruptWalletError):
    """The file has no bytes at all."""

    default_code = WalletErrorCode.EMPTY


class NotAWalletError(WalletError):
    """The bytes are not an econsent vault (another file), or a vault of another kind (a backup)."""

    default_code = WalletErrorCode.NOT_A_WALLET


class UnsupportedWalletVersionError(WalletError):
    """An intact vault of a format version (or algorithm) this version of econsent cannot read."""

    default_code = WalletErrorCode.UNSUPPORTED_VERSION


class WalletLockedError(WalletError):
    """Another writer holds the wallet's lock and did not release it in time."""

    default_code = WalletErrorCode.LOCKED


class WalletNotFoundError(WalletError):
    """The storage holds no wallet yet."""

    default_code = WalletErrorCode.NOT_FOUND


class WalletExistsError(WalletError):
    """``create`` was asked to make a wallet where one exists (it never overwrites)."""

    default_code = WalletErrorCode.EXISTS


class WalletChangedError(WalletError):
    """Another program re-encrypted the wallet (new passphrase or parameters) since it was opened."""

    default_code = WalletErrorCode.CHANGED


class WalletSwappedError(WalletError):
    """The file is another wallet's (another id) than the one opened or expected: never read or written over."""

    default_code = WalletErrorCode.SWAPPED


class WalletRolledBackError(WalletError):
    """The file is an older copy of this wallet (a lower generation than one already seen): never written over."""

    default_code = WalletErrorCode.ROLLED_BACK


class StorageError(WalletError):
    """The storage backend failed to read or write (disk full, permissions, ...)."""

    default_code = WalletErrorCode.STORAGE


class VaultKind(IntEnum):
    """What a vault holds: the live wallet, or a backup exported from one."""

    WALLET = 1
    BACKUP = 2


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost: N = 2**log2_n, block size r, parallelism p. Memory is 128 * r * N bytes.

    The default (N = 2**17, r = 8, p = 1: 128 MiB) takes about 350 ms on a 2020s server core and is the
    OWASP recommendation for scrypt; see ``docs/wallet.md`` for the figures. Lower values are for tests.
    """

    log2_n: int = 17
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        for name, value in (("log2_n", self.log2_n), ("r", self.r), ("p", self.p)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"scrypt {name} must be an integer")
        if not MIN_LOG2_N <= self.log2_n <= 24 or not 1 <= self.r <= MAX_SCRYPT_R or not 1 <= self.p <= MAX_SCRYPT_P:
            raise ValueError(
                f"scrypt parameters out of range (log2_n {MIN_LOG2_N}.., r 1..{MAX_SCRYPT_R}, p 1..{MAX_SCRYPT_P})"
            )
        if self.memory_bytes > MAX_SCRYPT_MEMORY:
            raise ValueError(
                f"scrypt would need {self.memory_bytes >> 20} MiB, more than {MAX_SCRYPT_MEMORY >> 20} MiB"
            )
        if self.memory_bytes * self.p > MAX_SCRYPT_WORK:
            raise ValueError("scrypt work (128 * N * r * p) exceeds the limit")

    @property
    def memory_bytes(self) -> int:
        return 128 * self.r * (1 << self.log2_n)


DEFAULT_KDF = ScryptParams()
_KINDS = frozenset(kind.value for kind in VaultKind)


class VaultKey:
    """The keys derived from a passphrase for one salt and KDF setting. Its repr shows no key material."""

    __slots__ = ("_check", "_encryption", "params", "salt")

    def __init__(self, params: ScryptParams, salt: bytes, derived: bytes) -> None:
        self.params = params
        self.salt = salt
        self._encryption = derived[:32]
        self._check = hmac.new(derived[32:], _KEY_CHECK_CONTEXT, hashlib.sha256).digest()[:_KEY_CHECK_BYTES]

    def matches(self, header: VaultHeader) -> bool:
        """True when this key was derived with the header's salt and KDF parameters."""
        return self.salt == header.salt and self.params == header.params

    def __repr__(self) -> str:
        return f"VaultKey(scrypt log2_n={self.params.log2_n} r={self.params.r} p={self.params.p})"


def normalize_passphrase(passphrase: str | bytes) -> bytes:
    """Passphrase bytes: text in Unicode NFC (the same characters typed with another input method give
    the same key), UTF-8 encoded; bytes (for example a secret from the phone's keystore) as given."""
    if isinstance(passphrase, bytes | bytearray):
        return bytes(passphrase)
    if not isinstance(passphrase, str):
        raise TypeError("a passphrase is text or bytes")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def derive_key(passphrase: str | bytes, params: ScryptParams, salt: bytes) -> VaultKey:
    """Run scrypt once (the expensive step) and split its 64 bytes into the encryption and check keys."""
    kdf = Scrypt(salt=salt, length=64, n=1 << params.log2_n, r=params.r, p=params.p)
    return VaultKey(params, salt, kdf.derive(normalize_passphrase(passphrase)))


def new_key(passphrase: str | bytes, params: ScryptParams = DEFAULT_KDF) -> VaultKey:
    """A key for a new vault: a fresh random salt."""
    if not normalize_passphrase(passphrase):
        raise ValueError("the passphrase must not be empty")
    return derive_key(passphrase, params, os.urandom(_SALT_BYTES))


@dataclass(frozen=True, slots=True)
class VaultHeader:
    """A parsed, checksum-verified header. ``raw`` is all of its bytes, the AEAD's associated data.

    ``wallet_id`` and ``generation`` are authenticated only once :func:`unseal` has succeeded; before
    that they are what an intact header claims (a changed value fails the AEAD tag). A format 1 header
    has no id (``None``) and generation 0.
    """

    version: int
    kind: VaultKind
    params: ScryptParams
    salt: bytes
    nonce: bytes
    body_length: int
    key_check: bytes
    wallet_id: bytes | None
    generation: int
    raw: bytes


def _checksum(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:_CHECKSUM_BYTES]


def _pack_header(
    kind: VaultKind,
    key: VaultKey,
    nonce: bytes,
    body_length: int,
    wallet_id: bytes = bytes(WALLET_ID_BYTES),
    generation: int = 0,
) -> bytes:
    """A format 2 header (the id and generation default to zero for harnesses that seal raw plaintext)."""
    if len(wallet_id) != WALLET_ID_BYTES or not 0 <= generation <= MAX_GENERATION:
        raise ValueError(f"a vault needs a {WALLET_ID_BYTES}-byte wallet id and a generation of 0 to 2**64 - 1")
    p = key.params
    fields = _HEADER.pack(
        MAGIC, FORMAT_VERSION, HEADER_BYTES, kind, _KDF_SCRYPT, p.log2_n, p.r, p.p, _AEAD_AES256GCM, 0,
        key.salt, nonce, body_length, key._check,
    ) + _LINEAGE.pack(wallet_id, generation)  # fmt: skip
    return fields + _checksum(fields)


def seal(body: Any, key: VaultKey, kind: VaultKind, *, wallet_id: bytes, generation: int) -> bytes:
    """Encrypt a msgpack-able body into vault bytes, under a fresh random nonce, with the wallet's id
    and generation in the authenticated header.

    The result is read back (header, key check, decryption, decoding under the read limits) before it
    is returned, so nothing ever writes a vault that could not be opened again.
    """
    plaintext = msgpack.packb(body, use_bin_type=True)
    nonce = os.urandom(_NONCE_BYTES)
    header = _pack_header(kind, key, nonce, len(plaintext) + _TAG_BYTES, wallet_id, generation)
    data = header + AESGCM(key._encryption).encrypt(nonce, plaintext, header)
    if len(data) > MAX_VAULT_BYTES:
        raise WalletError(f"the wallet would take {len(data)} bytes, more than {MAX_VAULT_BYTES}", code=_LIMITS)
    try:
        unseal(data, read_header(data), key)
    except WalletError as exc:
        raise WalletError(f"refusing to write a wallet that would not open again ({exc.detail})", code=_LIMITS) from exc
    return data


def read_header(data: bytes, *, source: str = "") -> VaultHeader:
    """Check magic, version, header checksum, algorithms, bounds and length, in that order.

    Raises the typed error for the first problem: :class:`EmptyWalletError`, :class:`TruncatedWalletError`,
    :class:`NotAWalletError`, :class:`CorruptWalletError`, :class:`UnsupportedWalletVersionError`.
    """
    size = len(data)
    if size == 0:
        raise EmptyWalletError(source=source)
    if size > MAX_VAULT_BYTES:
        raise CorruptWalletError(
            f"{size} bytes, at most {MAX_VAULT_BYTES}", code=WalletErrorCode.LIMITS_EXCEEDED, source=source
        )
    head = data[: len(MAGIC)]
    if head != MAGIC[: len(head)]:
        if len(head) == len(MAGIC) and sum(a != b for a, b in zip(head, MAGIC, strict=True)) == 1:
            raise CorruptWalletError("the file signature has one damaged byte", source=source)
        raise NotAWalletError(source=source)
    if size < _PREFIX_BYTES:
        raise TruncatedWalletError(f"{size} bytes, shorter than any header", source=source)
    version, header_length = struct.unpack_from(">HH", data, len(MAGIC))
    known_length = _HEADER_LENGTHS.get(version)
    if known_length is not None and header_length != known_length:
        raise CorruptWalletError("the header length field is damaged", source=source)
    if not _PREFIX_BYTES + _CHECKSUM_BYTES <= header_length <= 4096:
        raise CorruptWalletError("the header length field is damaged", source=source)
    if size < header_length:
        raise TruncatedWalletError(f"{size} bytes, shorter than the {header_length}-byte header", source=source)
    fields, checksum = data[: header_length - _CHECKSUM_BYTES], data[header_length - _CHECKSUM_BYTES : header_length]
    if not hmac.compare_digest(_checksum(fields), checksum):
        raise CorruptWalletError("the header checksum does not match", source=source)
    if known_length is None:
        raise UnsupportedWalletVersionError(
            f"format version {version}; this version of econsent reads versions 1 to {FORMAT_VERSION}", source=source
        )
    (_, _, _, kind, kdf_id, log2_n, r, p, aead_id, reserved, salt, nonce, body_length, key_check) = _HEADER.unpack_from(
        data
    )
    wallet_id: bytes | None = None
    generation = 0
    if version != 1:
        wallet_id, generation = _LINEAGE.unpack_from(data, _HEADER.size)
    if kdf_id != _KDF_SCRYPT or aead_id != _AEAD_AES256GCM or reserved != 0 or kind not in _KINDS:
        raise UnsupportedWalletVersionError(
            f"kind {kind}, KDF {kdf_id}, cipher {aead_id}, flags {reserved}: not known to this version", source=source
        )
    try:
        params = ScryptParams(log2_n, r, p)
    except ValueError as exc:  # checked before scrypt runs: a hostile file cannot make us allocate gigabytes
        raise CorruptWalletError(str(exc), code=WalletErrorCode.LIMITS_EXCEEDED, source=source) from None
    if body_length < _TAG_BYTES:
        raise CorruptWalletError("the ciphertext length field is damaged", source=source)
    expected = header_length + body_length
    if size < expected:
        raise TruncatedWalletError(f"{size} bytes, the header announces {expected}", source=source)
    if size > expected:
        raise CorruptWalletError(f"{size - expected} unexpected bytes after the ciphertext", source=source)
    return VaultHeader(
        version, VaultKind(kind), params, salt, nonce, body_length, key_check, wallet_id, generation,
        data[:header_length],
    )  # fmt: skip


def unseal(data: bytes, header: VaultHeader, key: VaultKey, *, source: str = "") -> Any:
    """Check the key, decrypt and decode the body of vault bytes whose header was read by :func:`read_header`."""
    if not hmac.compare_digest(key._check, header.key_check):
        raise WrongPassphraseError(source=source)
    try:
        plaintext = AESGCM(key._encryption).decrypt(header.nonce, data[len(header.raw) :], header.raw)
    except InvalidTag:
        raise CorruptWalletError("the encrypted contents fail authentication", source=source) from None
    try:
        return msgpack.unpackb(
            plaintext,
            raw=False,
            strict_map_key=True,
            ext_hook=_reject_ext,
            max_bin_len=MAX_BODY_BIN,
            max_str_len=MAX_BODY_STR,
            max_array_len=MAX_BODY_ITEMS,
            max_map_len=MAX_BODY_ITEMS,
            max_ext_len=0,
        )
    except Exception:  # a trust boundary: msgpack raises several unrelated types
        raise CorruptWalletError("the decrypted contents are not valid msgpack", source=source) from None


def _reject_ext(code: int, data: bytes) -> Any:
    raise ValueError("msgpack extension types are not allowed")


@runtime_checkable
class Storage(Protocol):
    """Where the sealed wallet bytes live. Apps may supply their own (keychain, app-private database).

    * ``read()`` returns the last bytes written, or ``None`` when nothing was ever written.
    * ``write(data)`` replaces them atomically and durably: after it returns, a crash or power loss
      leaves ``data``; a crash during it leaves either the old bytes or ``data``, never a mix.
    * ``lock()`` is a context manager giving exclusive write access across threads and processes; it
      raises :class:`WalletLockedError` when it cannot get it in bounded time. The wallet only writes under it.
    """

    def read(self) -> bytes | None: ...

    def write(self, data: bytes) -> None: ...

    def lock(self) -> AbstractContextManager[None]: ...


class MemoryStorage:
    """Storage in memory, for tests and for apps that persist the sealed bytes themselves."""

    __slots__ = ("_data", "_lock", "lock_timeout")

    def __init__(self, data: bytes | None = None, *, lock_timeout: float = 10.0) -> None:
        self._data = data
        self._lock = threading.RLock()
        self.lock_timeout = lock_timeout

    @property
    def data(self) -> bytes | None:
        """The sealed bytes last written (encrypted; safe to persist anywhere)."""
        return self._data

    def read(self) -> bytes | None:
        return self._data

    def write(self, data: bytes) -> None:
        with self.lock():
            self._data = bytes(data)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        acquired = (
            self._lock.acquire(timeout=self.lock_timeout)
            if self.lock_timeout > 0
            else self._lock.acquire(blocking=False)
        )
        if not acquired:
            raise WalletLockedError("another thread holds the wallet", source=str(self))
        try:
            yield
        finally:
            self._lock.release()

    def __repr__(self) -> str:
        return "MemoryStorage()" if self._data is None else f"MemoryStorage({len(self._data)} bytes)"

    __str__ = __repr__


class FileStorage:
    """A wallet file on a POSIX file system (Linux, Android, macOS, iOS).

    Writes go to a temporary file in the same directory, which is flushed and fsynced (``F_FULLFSYNC``
    where the platform has it), renamed over the wallet, and then the directory is fsynced, so the
    rename itself survives power loss. Writers take ``fcntl.flock`` on ``<wallet>.lock`` (created once,
    never deleted: deleting a lock file races with a writer opening it), waiting at most
    ``lock_timeout`` seconds (0: fail at once). Temporary files left by a killed writer are removed by
    the next write. Files are created readable by the owner only.
    """

    __slots__ = ("_depth", "_fd", "_thread_lock", "lock_timeout", "path")

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._thread_lock = threading.RLock()
        self._fd: int | None = None
        self._depth = 0

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def read(self) -> bytes | None:
        try:
            with open(self.path, "rb") as handle:
                data = handle.read(MAX_VAULT_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read: {exc.strerror or exc}", source=str(self.path)) from exc
        if len(data) > MAX_VAULT_BYTES:
            raise CorruptWalletError(
                f"larger than {MAX_VAULT_BYTES} bytes", code=WalletErrorCode.LIMITS_EXCEEDED, source=str(self.path)
            )
        return data

    def write(self, data: bytes) -> None:
        with self.lock():
            self._remove_stale_temporaries()
            try:
                write_atomic(self.path, data, prefix=self._tmp_prefix)
            except OSError as exc:
                raise StorageError(f"cannot write: {exc.strerror or exc}", source=str(self.path)) from exc

    @property
    def _tmp_prefix(self) -> str:
        return f".{self.path.name}."

    def _remove_stale_temporaries(self) -> None:
        """Delete temporary files of writers that died before their rename (safe: we hold the lock)."""
        with contextlib.suppress(OSError):
            for name in os.listdir(self.path.parent):
                if name.startswith(self._tmp_prefix) and name.endswith(".tmp"):
                    with contextlib.suppress(OSError):
                        os.unlink(self.path.parent / name)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        acquired = (
            self._thread_lock.acquire(timeout=self.lock_timeout)
            if self.lock_timeout > 0
            else self._thread_lock.acquire(blocking=False)
        )
        if not acquired:
            raise WalletLockedError("another thread of this program holds the wallet", source=str(self.path))
        try:
            if self._depth == 0:
                self._fd = self._acquire_file_lock()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    os.close(self._fd)  # closing the descriptor releases the flock
                    self._fd = None
        finally:
            self._thread_lock.release()

    def _acquire_file_lock(self) -> int:
        import fcntl

        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot open the lock file: {exc.strerror or exc}", source=str(self.path)) from exc
        deadline = time.monotonic() + max(self.lock_timeout, 0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    os.close(fd)
                    raise WalletLockedError(
                        f"another program held the lock for {self.lock_timeout:g} s", source=str(self.path)
                    ) from None
                time.sleep(min(_LOCK_POLL_SECONDS, remaining))
            except OSError as exc:
                os.close(fd)
                raise StorageError(f"cannot lock: {exc.strerror or exc}", source=str(self.path)) from exc

    def __repr__(self) -> str:
        return f"FileStorage({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)
