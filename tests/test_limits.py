"""Every limit a hostile input meets, with a test each (docs/SPEC.md section 8, docs/security.md "Limits").

A limit is checked before the work it bounds: the text length before any digit is converted, the payload
size before msgpack runs, declared msgpack lengths before anything is allocated, file sizes before a file
is read whole, image dimensions before a pixel is decoded, scrypt parameters before scrypt runs, and a
status list is never inflated past the size it declares. Memory is measured with tracemalloc (Python
allocations; OpenSSL's few hundred bytes per signature check are not traced). Times are not asserted
here (tests assert behaviour; ``tests/fuzz/measure.py`` reports time per scan and per verification).
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import sys
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from econsent import (
    ATTESTED_OUT_OF_BAND,
    ClaimKind,
    ClaimSpec,
    CredentialType,
    ErrorCode,
    Issuer,
    Policy,
    SigningKey,
    TrustStore,
    VerificationError,
    Verifier,
    _vault,
    _wire,
    present,
    schema,
)
from econsent import status as status_module
from econsent import trust as trust_module
from econsent.status import (
    MAX_STATUS_LIST_BYTES,
    StatusListBuilder,
    StatusListCache,
    StatusListError,
    StatusListReason,
    load_status_list,
)
from econsent.trust import MAX_TRUST_STORE_BYTES, TrustListError, TrustListProblem, TrustLists, read_trust_list
from econsent.verify import MAX_CLOCK_LEEWAY
from econsent.wallet import (
    MAX_ENTRIES,
    CorruptWalletError,
    MemoryStorage,
    ScryptParams,
    Wallet,
    WalletError,
    WalletErrorCode,
)

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
CHEAP = ScryptParams(log2_n=10, r=1, p=1)


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Yields a list that receives the peak of traced Python allocations (bytes) over the block."""
    result: list[int] = []
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        yield result
    finally:
        result.append(tracemalloc.get_traced_memory()[1] - base)
        if started:
            tracemalloc.stop()


def rejected(verifier: Verifier, text: str, code: ErrorCode, now: dt.datetime) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        verifier.verify(text, now=now)
    assert caught.value.code is code, caught.value
    return caught.value


# --- the limit table of SPEC section 8 is the code's ---------------------------------------------------


def spec_limits() -> dict[str, str]:
    spec = (ROOT / "docs" / "SPEC.md").read_text(encoding="utf-8")
    section = spec.split("## 8. Limits", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|$", section, flags=re.MULTILINE)
    return {what: limit for what, limit in rows if what != "what"}


def test_spec_limit_table_matches_the_code() -> None:
    def number(text: str) -> int:
        return int(text.replace(",", ""))

    limits = spec_limits()
    assert number(limits["QR text"].split()[0]) == _wire.MAX_TEXT_CHARS
    assert number(limits["payload"].split()[0]) == _wire.MAX_PAYLOAD_BYTES
    assert number(limits["text claim"].split()[0]) == schema.MAX_TEXT_BYTES
    assert number(limits["bytes claim"].split()[0]) == schema.MAX_BYTES_LENGTH
    assert number(limits["list claim"].split()[0]) == schema.MAX_LIST_ITEMS
    assert number(limits["claims per type"].split()[0]) == schema.MAX_CLAIMS
    assert limits["nonce"] == f"{_wire.MIN_NONCE_BYTES}..{_wire.MAX_NONCE_BYTES} bytes"
    assert limits["audience"] == f"1..{_wire.MAX_AUDIENCE_CHARS} characters"
    assert limits["lifetime"].startswith(f"1..{_wire.MAX_LIFETIME:,} s")
    assert limits["clock leeway"] == f"≤ {MAX_CLOCK_LEEWAY} s"
    assert number(limits["msgpack array / map length"]) == 64  # enforced below: test_msgpack_caps


# --- QR text ------------------------------------------------------------------------------------------


def test_text_limit_admits_every_payload_up_to_its_limit_and_no_much_larger_one(
    verifier: Verifier, now: dt.datetime
) -> None:
    """3,706 characters: the longest text of a 1,536-byte payload has 3,704, so the text cap is the first
    check and the payload cap the exact one (a 3,705- or 3,706-character text holds 1,537 bytes)."""
    longest = _wire.text_from_payload(b"\xff" * _wire.MAX_PAYLOAD_BYTES)
    assert len(longest) == 3704 <= _wire.MAX_TEXT_CHARS == 3706
    over = "EC1:" + str(int.from_bytes(b"\x01" + bytes(_wire.MAX_PAYLOAD_BYTES + 1), "big"))
    assert len(over) == _wire.MAX_TEXT_CHARS
    rejected(verifier, over, ErrorCode.TOO_LARGE, now)
    assert rejected(verifier, longest, ErrorCode.MALFORMED, now)


def test_a_huge_text_is_too_large_before_any_digit_is_converted(
    monkeypatch: pytest.MonkeyPatch, verifier: Verifier, now: dt.datetime
) -> None:
    monkeypatch.setattr(_wire, "_PREFIX_RE", None)  # any parsing step would now fail with a foreign error
    for text in ("EC1:" + "7" * 10_000_000, "x" * (_wire.MAX_TEXT_CHARS + 1)):
        with peak_memory() as peak:
            rejected(verifier, text, ErrorCode.TOO_LARGE, now)
        assert peak[0] < 64 * 1024


def test_codes_of_every_size_work_when_python_limits_integer_digits(
    monkeypatch: pytest.MonkeyPatch, presentation: str, verifier: Verifier, now: dt.datetime
) -> None:
    """A program may lower sys.int_max_str_digits to 640 (the CVE-2020-10735 guard): codes still decode."""
    largest = b"\xff" * _wire.MAX_PAYLOAD_BYTES
    text = _wire.text_from_payload(largest)
    monkeypatch.setattr(sys, "get_int_max_str_digits", sys.get_int_max_str_digits)  # restored afterwards
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        assert _wire.text_from_payload(largest) == text
        assert _wire.payload_from_text(text) == largest
        assert verifier.verify(presentation, now=now)
        rejected(verifier, text, ErrorCode.MALFORMED, now)
    finally:
        sys.set_int_max_str_digits(previous)


# --- payload and msgpack --------------------------------------------------------------------------------


def test_payload_size_is_checked_before_msgpack_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_wire, "unpack_canonical", lambda *a, **k: pytest.fail("parsed an oversized payload"))
    with pytest.raises(VerificationError) as caught:
        _wire.decode_payload(bytes(_wire.MAX_PAYLOAD_BYTES + 1))
    assert caught.value.code is ErrorCode.TOO_LARGE


def _header() -> list[Any]:
    return [1, bytes(8), 1, 0, 0, 1, 1, None, None]


HOSTILE_PAYLOADS: dict[str, bytes] = {
    "top-level array of 65": _wire.pack([0] * 65),
    "65 claim values": _wire.pack([_header(), [True] * 65, {}, {}, bytes(64)]),
    "65 seeds": _wire.pack([_header(), [], {i: bytes(16) for i in range(1, 66)}, {}, bytes(64)]),
    "array32 declaring 4 billion items": b"\xdd\xff\xff\xff\xff" + bytes(8),
    "map32 declaring 4 billion pairs": b"\xdf\xff\xff\xff\xff" + bytes(8),
    "str32 declaring 4 GiB": b"\xdb\xff\xff\xff\xff" + b"a" * 8,
    "bin32 declaring 4 GiB": b"\xc6\xff\xff\xff\xff" + b"a" * 8,
    "ext32 declaring 4 GiB": b"\xc9\xff\xff\xff\xff\x01" + b"a" * 8,
    "arrays nested 1,535 deep": b"\x91" * 1535 + b"\xc0",
    "maps nested 767 deep": b"\x81\x00" * 767 + b"\xc0",
    "1,536 bytes of empty arrays": b"\xdc\x05\xfd" + b"\x90" * 1533,
    "64 arrays of 22 nils": _wire.pack([[None] * 22] * 64)[:1536],
}


@pytest.mark.parametrize("payload", HOSTILE_PAYLOADS.values(), ids=HOSTILE_PAYLOADS.keys())
def test_msgpack_caps(payload: bytes, verifier: Verifier, now: dt.datetime) -> None:
    """Declared lengths are checked before allocation; nesting never raises RecursionError; memory stays small."""
    assert len(payload) <= _wire.MAX_PAYLOAD_BYTES
    with peak_memory() as peak:
        rejected(verifier, _wire.text_from_payload(payload), ErrorCode.MALFORMED, now)
    assert peak[0] < MAX_VERIFY_MEMORY, f"{peak[0]:,} bytes"


# --- memory per verification ----------------------------------------------------------------------------

LARGEST = CredentialType(
    name="largest",
    type_id=1001,
    claims=(
        ClaimSpec("note", ClaimKind.TEXT),
        ClaimSpec("photo", ClaimKind.BYTES),
        ClaimSpec("codes", ClaimKind.INT_LIST),
        ClaimSpec("more", ClaimKind.TEXT),
        *(ClaimSpec(f"flag_{i}", ClaimKind.BOOL) for i in range(60)),
    ),
)
#: The documented bound on Python allocations while verifying the largest payload (measured: ~270 KiB,
#: 256 KiB of it the buffer msgpack's packer allocates for every canonical re-encoding, whatever its size).
MAX_VERIFY_MEMORY = 512 * 1024


def test_memory_per_verification_of_a_maximal_payload_is_bounded(
    issuer_key: SigningKey, holder_key: SigningKey, trusted_key: Any, now: dt.datetime
) -> None:
    """A valid presentation of ~1.5 kB (64 claims, a depth-3 tree, the longest text and bytes claims)."""
    types = schema.BUILTIN_TYPES.with_types(LARGEST)
    claims: dict[str, Any] = {"note": "n" * 512, "photo": bytes(256), "codes": [2**62] * 32, "more": "m" * 60}
    claims |= {f"flag_{i}": bool(i % 2) for i in range(60)}
    credential = Issuer(issuer_key, types=types).issue(
        "largest",
        claims,
        holder_key=holder_key.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=now,
        valid_until=now + dt.timedelta(days=1),
        now=now,
        serial=1,
    )
    text = present(credential, holder_key, now=now, types=types, nonce=bytes(32), audience="a" * 64)
    assert _wire.MAX_PAYLOAD_BYTES - 64 < len(_wire.payload_from_text(text)) <= _wire.MAX_PAYLOAD_BYTES
    trust = TrustStore([trusted_key(issuer_key, types={"largest"})])
    verifier = Verifier(trust, Policy(audience="a" * 64), types=types)
    verifier.verify(text, now=now, nonce=bytes(32))  # warm up: imports and caches are not per-verification
    with peak_memory() as peak:
        verdict = verifier.verify(text, now=now, nonce=bytes(32))
    assert verdict.claims["note"] == "n" * 512
    assert peak[0] < MAX_VERIFY_MEMORY, f"{peak[0]:,} bytes"


# --- claim sizes (verifier side: vectors 064-066 and test_properties; here the boundaries once more) -----


@pytest.mark.parametrize(
    ("kind", "at_limit", "over"),
    [
        (ClaimKind.TEXT, "a" * schema.MAX_TEXT_BYTES, "a" * (schema.MAX_TEXT_BYTES + 1)),
        (ClaimKind.TEXT, "张" * (schema.MAX_TEXT_BYTES // 2), "张" * (schema.MAX_TEXT_BYTES // 2 + 1)),
        (ClaimKind.TEXT, "🚗" * (schema.MAX_TEXT_BYTES // 4), "🚗" * (schema.MAX_TEXT_BYTES // 4) + "a"),
        (ClaimKind.BYTES, bytes(schema.MAX_BYTES_LENGTH), bytes(schema.MAX_BYTES_LENGTH + 1)),
        (ClaimKind.INT_LIST, [0] * schema.MAX_LIST_ITEMS, [0] * (schema.MAX_LIST_ITEMS + 1)),
    ],
    ids=["ascii-text", "compact-text", "utf8-text", "bytes", "list"],
)
def test_claim_size_limits_on_the_wire(kind: ClaimKind, at_limit: Any, over: Any) -> None:
    """What a verifier accepts: 512 bytes of text as sent (compact GB18030 or UTF-8), 256 bytes, 32 items;
    and an issuer issues exactly what verifiers accept (256 Chinese characters were refused at issue
    because the issuer counted UTF-8 bytes, 768, where the wire carries 512 in compact form)."""
    spec = ClaimSpec("claim", kind)
    assert spec.to_wire(at_limit)
    with pytest.raises(schema.SchemaError):
        spec.to_wire(over)

    def wire(value: Any) -> Any:
        return schema.encode_text(value) if kind is ClaimKind.TEXT else value

    assert spec.from_wire(msgpack.unpackb(_wire.pack(wire(at_limit)), raw=False)) is not None
    with pytest.raises(schema.SchemaError):
        spec.from_wire(msgpack.unpackb(_wire.pack(wire(over)), raw=False))


def test_a_presentation_too_large_for_a_code_is_refused_by_the_holder(
    issuer_key: SigningKey, holder_key: SigningKey, now: dt.datetime
) -> None:
    """The issuer keeps a credential within 1,536 bytes; the holder proof must fit too, or present() says so."""
    from econsent import CredentialError

    types = schema.BUILTIN_TYPES.with_types(LARGEST)
    claims: dict[str, Any] = {"note": "n" * 512, "photo": bytes(256), "codes": [2**62] * 32, "more": "m" * 200}
    claims |= {f"flag_{i}": True for i in range(60)}
    credential = Issuer(issuer_key, types=types).issue(
        "largest",
        claims,
        holder_key=holder_key.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=now,
        valid_until=now + dt.timedelta(days=1),
        now=now,
    )
    assert len(credential.encoded) <= _wire.MAX_PAYLOAD_BYTES
    with pytest.raises(CredentialError, match="disclose fewer claims"):
        present(credential, holder_key, now=now, types=types)
    assert present(credential, holder_key, now=now, types=types, disclose=["note", "photo"])


# --- trust lists and trust stores ------------------------------------------------------------------------


def sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


def test_trust_list_over_16_mib_is_refused_before_json_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trust_module, "_strict_json", lambda data: pytest.fail("parsed an oversized list"))
    with pytest.raises(TrustListError) as caught:
        read_trust_list(bytes(MAX_TRUST_STORE_BYTES + 1), [])
    assert caught.value.code is TrustListProblem.TOO_LARGE


def test_trust_files_are_read_at_most_one_byte_past_the_cap(tmp_path: Path, issuer_key: SigningKey) -> None:
    """A 1 GiB (sparse) file is refused after reading 16 MiB + 1 bytes, never read whole."""
    huge = sparse_file(tmp_path / "huge.json", 1024 * MiB)
    with peak_memory() as peak:
        with pytest.raises(trust_module.TrustStoreError):
            TrustStore.load(huge)
        with pytest.raises(trust_module.TrustStoreError):
            TrustLists([issuer_key.public_key]).update_file(huge)
    assert peak[0] < 2 * MAX_TRUST_STORE_BYTES + MiB


@pytest.mark.parametrize("document", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000])
def test_deeply_nested_json_is_a_trust_store_error(tmp_path: Path, issuer_key: SigningKey, document: bytes) -> None:
    path = tmp_path / "nested.json"
    path.write_bytes(document)
    with pytest.raises(trust_module.TrustStoreError):
        TrustStore.load(path)
    with pytest.raises(TrustListError):
        TrustLists([issuer_key.public_key]).update(document)


# --- status lists ----------------------------------------------------------------------------------------


def _status_trust(key: SigningKey, trusted_key: Callable[..., Any]) -> TrustStore:
    return TrustStore([trusted_key(key, issuer_id="sh-traffic")])


def test_status_list_file_over_64_mib_is_refused_without_reading_it_whole(
    tmp_path: Path, issuer_key: SigningKey, trusted_key: Any
) -> None:
    sparse_file(tmp_path / "sh-traffic.0.ecsl", 1024 * MiB)
    with peak_memory() as peak:
        report = StatusListCache().load_directory(tmp_path, _status_trust(issuer_key, trusted_key))
    ((_, error),) = report.errors
    assert error.code is StatusListReason.TOO_LARGE
    assert peak[0] < MAX_STATUS_LIST_BYTES + 2 * MiB


def _signed_list_with_entries(key: SigningKey, size: int, entries: bytes, now: dt.datetime) -> bytes:
    unsigned = _wire.pack(
        [
            "econsent-status-list",
            1,
            "sh-traffic",
            0,
            1,
            key.public_key.kid,
            int(now.timestamp()) - 60,
            int(now.timestamp()) + 86_400,
            size,
            2,
            entries,
            bytes(64),
        ]
    )
    from econsent._envelope import sign_status_list

    return unsigned[:-64] + sign_status_list(key, unsigned[:-66])


def test_status_list_bomb_inflates_no_further_than_its_declared_size(
    issuer_key: SigningKey, trusted_key: Any, now: dt.datetime
) -> None:
    """A signed list (a buggy issuer) declaring 8 entries whose stream inflates to 64 MiB of zeros."""
    bomb = zlib.compress(bytes(64 * MiB), 9)
    assert len(bomb) < 100 * 1024
    data = _signed_list_with_entries(issuer_key, 8, bomb, now)
    with peak_memory() as peak, pytest.raises(StatusListError) as caught:
        load_status_list(data, _status_trust(issuer_key, trusted_key))
    assert caught.value.code is StatusListReason.TOO_LARGE
    assert peak[0] < 3 * len(data) + 256 * 1024, f"{peak[0]:,} bytes"


def test_status_list_inflates_exactly_its_declared_size(
    monkeypatch: pytest.MonkeyPatch, issuer_key: SigningKey, trusted_key: Any, now: dt.datetime
) -> None:
    asked: list[int] = []
    original = status_module._inflate
    monkeypatch.setattr(
        status_module, "_inflate", lambda data, expected: asked.append(expected) or original(data, expected)
    )
    builder = StatusListBuilder(1000)
    data = builder.sign(
        issuer_key,
        issuer_ref="sh-traffic",
        list_id=0,
        sequence=1,
        issued_at=now,
        next_update=now + dt.timedelta(days=1),
    )
    assert load_status_list(data, _status_trust(issuer_key, trusted_key)).size == 1000
    assert asked == [250]


# --- wallet ----------------------------------------------------------------------------------------------


def test_vault_over_64_mib_is_refused(tmp_path: Path) -> None:
    from econsent.wallet import FileStorage

    with pytest.raises(CorruptWalletError) as caught:
        _vault.read_header(bytes(_vault.MAX_VAULT_BYTES + 1))
    assert caught.value.code is WalletErrorCode.LIMITS_EXCEEDED
    huge = sparse_file(tmp_path / "wallet.ecw", 1024 * MiB)
    with peak_memory() as peak, pytest.raises(CorruptWalletError) as caught:
        Wallet.open(FileStorage(huge), "passphrase")
    assert caught.value.code is WalletErrorCode.LIMITS_EXCEEDED
    assert peak[0] < _vault.MAX_VAULT_BYTES + 2 * MiB


@pytest.mark.parametrize(
    ("params", "allowed"),
    [
        ((10, 1, 1), True),  # the cheapest: 128 KiB
        ((9, 1, 1), False),  # below N = 2^10
        ((21, 1, 2), True),  # memory 256 MiB and work 512 MiB: both at their caps
        ((22, 1, 1), False),  # 512 MiB of memory
        ((21, 1, 3), False),  # work 768 MiB
        ((17, 32, 1), False),  # memory 512 MiB
        ((17, 8, 16), False),  # work 2 GiB
    ],
)
def test_scrypt_parameter_bounds(params: tuple[int, int, int], allowed: bool) -> None:
    if allowed:
        ScryptParams(*params)
    else:
        with pytest.raises(ValueError):
            ScryptParams(*params)


def _header_bytes(log2_n: int, r: int, p: int) -> bytes:
    fields = struct.pack(
        ">8sHHBBBBBBH16s12sI16s",
        _vault.MAGIC,
        _vault.FORMAT_VERSION,
        _vault.HEADER_BYTES,
        1,
        1,
        log2_n,
        r,
        p,
        1,
        0,
        bytes(16),
        bytes(12),
        16,
        bytes(16),
    ) + _vault._LINEAGE.pack(bytes(_vault.WALLET_ID_BYTES), 1)
    import hashlib

    return fields + hashlib.sha256(fields).digest()[:8]


@pytest.mark.parametrize("params", [(24, 32, 16), (30, 8, 1), (20, 8, 2), (255, 255, 255)])
def test_hostile_scrypt_parameters_are_refused_before_scrypt_runs(
    monkeypatch: pytest.MonkeyPatch, params: tuple[int, int, int]
) -> None:
    monkeypatch.setattr(_vault, "Scrypt", lambda **kwargs: pytest.fail("scrypt ran"))
    data = _header_bytes(*params) + bytes(16)
    with pytest.raises(CorruptWalletError) as caught:
        Wallet.open(MemoryStorage(data), "passphrase")
    assert caught.value.code is WalletErrorCode.LIMITS_EXCEEDED


def _sealed(plaintext: bytes) -> bytes:
    """Vault bytes holding ``plaintext`` under the passphrase 'p' (a backup an attacker made)."""
    key = _vault.derive_key("p", CHEAP, bytes(16))
    header = _vault._pack_header(_vault.VaultKind.WALLET, key, bytes(12), len(plaintext) + 16)
    return header + AESGCM(key._encryption).encrypt(bytes(12), plaintext, header)


BODY_BOMBS = {
    "array of 20,001 items": msgpack.packb([None] * (_vault.MAX_BODY_ITEMS + 1)),
    "map declaring 4 billion pairs": b"\xdf\xff\xff\xff\xff",
    "binary of 64 KiB + 1": msgpack.packb(bytes(_vault.MAX_BODY_BIN + 1)),
    "string of 4 KiB + 1": msgpack.packb("x" * (_vault.MAX_BODY_STR + 1)),
    "nested 100,000 deep": b"\x91" * 100_000 + b"\xc0",
}


@pytest.mark.parametrize("plaintext", BODY_BOMBS.values(), ids=BODY_BOMBS.keys())
def test_decrypted_wallet_body_caps(plaintext: bytes) -> None:
    with pytest.raises(CorruptWalletError) as caught:
        Wallet.open(MemoryStorage(_sealed(plaintext)), "p")
    assert caught.value.code is WalletErrorCode.DAMAGED


def test_a_backup_with_too_many_entries_is_refused_whole(credential: Any) -> None:
    body = {
        "wallet_id": bytes(16),
        "key_mode": "per-credential",
        "wallet_key": None,
        "keys": [],
        "entries": [
            {
                "id": f"{i:012x}",
                "credential": credential.encoded,
                "key": None,
                "external": f"key-{i}",
                "issuer": None,
                "label": None,
            }
            for i in range(MAX_ENTRIES + 1)
        ],
    }
    backup = _sealed(msgpack.packb(body, use_bin_type=True))
    wallet = Wallet.create(MemoryStorage(), "q", kdf=CHEAP)
    with pytest.raises(WalletError) as caught:
        wallet.import_backup(backup, "p")
    assert caught.value.code is WalletErrorCode.LIMITS_EXCEEDED
    assert len(wallet) == 0


# --- images (econsent.qr) ---------------------------------------------------------------------------------


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (6325, 6325), (8193, 16), (16, 8193)])
def test_decompression_bomb_images_are_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch, verifier: Verifier, now: dt.datetime, width: int, height: int
) -> None:
    from PIL import Image, ImageFile

    from econsent import qr

    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded the pixels"))
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded the pixels"))
    with pytest.raises(qr.QRError, match="limit"):
        qr.scan(png_claiming(width, height))
    with pytest.raises(VerificationError) as caught:
        qr.verify_image(verifier, png_claiming(width, height), now=now)
    assert caught.value.code is ErrorCode.NO_QR_CODE
    assert "limit" in caught.value.detail


def test_image_just_inside_the_pixel_limit_gets_past_the_size_checks() -> None:
    """4,096 x 4,096 is 16,777,216 pixels: allowed, so this tiny file fails later, as truncated pixel data."""
    from econsent import qr

    assert qr.MAX_IMAGE_PIXELS == 4096 * 4096
    with pytest.raises(qr.QRError) as caught:
        qr.scan(png_claiming(4096, 4096))
    assert "limit" not in str(caught.value)
    with pytest.raises(qr.ImageRefusedError, match="limit") as refused:
        qr.scan(png_claiming(4097, 4096))
    assert refused.value.code is qr.ImageRefusal.TOO_MANY_PIXELS


def test_image_files_over_20_mb_are_refused_without_reading_them_whole(tmp_path: Path) -> None:
    from econsent import qr

    huge = sparse_file(tmp_path / "huge.png", 1024 * MiB)
    with peak_memory() as peak, pytest.raises(qr.QRError, match="limit"):
        qr.scan(huge)
    assert peak[0] < qr.MAX_IMAGE_BYTES + 2 * MiB
