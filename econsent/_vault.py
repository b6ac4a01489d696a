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

Where the sealed bytes are kept is ``econsent.wallet.storage``'s job; nothing here reads the clock.
The wallet errors are defined in ``econsent.errors``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import unicodedata
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ._wire import pack, unpack_canonical
from .errors import (
    CorruptWalletError,
    EmptyWalletError,
    NotAWalletError,
    TruncatedWalletError,
    UnsupportedWalletVersionError,
    WalletError,
    WalletErrorCode,
    WrongPassphraseError,
)

__all__ = [
    "DEFAULT_KDF",
    "FORMAT_VERSION",
    "HEADER_BYTES",
    "MAGIC",
    "MAX_VAULT_BYTES",
    "ScryptParams",
    "VaultHeader",
    "VaultKey",
    "VaultKind",
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


_LIMITS = WalletErrorCode.LIMITS_EXCEEDED


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
    plaintext = pack(body)
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
        return unpack_canonical(plaintext, max_bytes=MAX_BODY_BIN, max_items=MAX_BODY_ITEMS, max_str_len=MAX_BODY_STR)
    except ValueError:
        raise CorruptWalletError("the decrypted contents are not valid msgpack", source=source) from None
