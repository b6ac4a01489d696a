"""The wallet: entries, holder keys (own, imported, external), rotating codes, backups, locking, the vault
format's failure modes (each its own error, the file never touched) and what never leaks into reprs or logs.

Every wallet here uses cheap scrypt parameters (N = 2**10, about 1 ms); the default cost is checked by value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import random
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testkeys import p256_private_key

from econsent import (
    ATTESTED_OUT_OF_BAND,
    Algorithm,
    CredentialError,
    EconsentError,
    Issuer,
    IssuerName,
    Policy,
    PublicKey,
    SignerError,
    SigningKey,
    TrustStore,
    TypeRegistry,
    Verifier,
    _vault,
    _wire,
    raw_signature_from_der,
)
from econsent.wallet import (
    DEFAULT_KDF,
    CorruptWalletError,
    EmptyWalletError,
    EntryNotFoundError,
    EntryStatus,
    ExternalKey,
    FileStorage,
    HolderKeyError,
    HolderKeyKind,
    KeyMode,
    MemoryStorage,
    NotAWalletError,
    RotatingCode,
    ScryptParams,
    Storage,
    StorageError,
    TruncatedWalletError,
    UnsupportedWalletVersionError,
    Wallet,
    WalletChangedError,
    WalletError,
    WalletErrorCode,
    WalletExistsError,
    WalletLockedError,
    WalletNotFoundError,
    WrongPassphraseError,
)

CHEAP = ScryptParams(log2_n=10, r=8, p=1)
PASSPHRASE = "correct horse 正确的马 battery"
BACKUP_PASSPHRASE = "备份 backup staple 42"
NOW = dt.datetime(2025, 6, 1, 8, 30, tzinfo=dt.UTC)
ISSUED = NOW - dt.timedelta(days=1)
UNTIL = NOW + dt.timedelta(days=365)
BUSINESS = {
    "unified_social_credit_code": "91310000MA1FL4XQ2B",
    "company_name": "上海示例科技有限公司",
    "legal_representative": "李娜",
    "address": "上海市浦东新区世纪大道一百号",
}
MARRIAGE = {
    "certificate_number": "J310101-2020-000123",
    "registration_date": dt.date(2020, 5, 20),
    "spouse_a_name": "王芳",
    "spouse_b_name": "陈杰",
}
PERMIT = {"family_name": "Smith", "given_name": "John", "permit_number": "SH-2024-77", "nationality": "GB"}


class Clock:
    """An injected clock: starts at ``start`` and moves only when told."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += dt.timedelta(seconds=seconds)


class SecureElementDouble:
    """A P-256 key in "secure hardware": it signs (returning DER, as Android Keystore and the Secure Enclave
    do) and shows its public key, and has no way to give out the private key: it lives only in a closure."""

    __slots__ = ("_public", "_sign", "calls")

    def __init__(self, label: str) -> None:
        private = p256_private_key(label)

        def sign(data: bytes) -> bytes:
            return private.sign(data, ec.ECDSA(hashes.SHA256()))

        self._sign = sign
        self._public = PublicKey(Algorithm.ES256, private.public_key())
        self.calls = 0

    @property
    def algorithm(self) -> Algorithm:
        return Algorithm.ES256

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        self.calls += 1
        return raw_signature_from_der(self._sign(data))

    def __reduce__(self) -> Any:
        raise TypeError("a hardware key cannot be copied")

    @staticmethod
    def scalar_bytes(label: str) -> bytes:
        """What the test knows about the key, to search for it where it must never be."""
        return p256_private_key(label).private_numbers().private_value.to_bytes(32, "big")


class Keystore:
    """A SignerProvider over hardware keys, by alias."""

    def __init__(self, **keys: SecureElementDouble) -> None:
        self.keys = keys

    def signer(self, key_ref: str) -> SecureElementDouble:
        return self.keys[key_ref]


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "wallet.ecw"


@pytest.fixture
def wallet(path: Path) -> Wallet:
    return Wallet.create(FileStorage(path), PASSPHRASE, kdf=CHEAP)


@pytest.fixture
def issuer(make_issuer: Callable[..., Issuer]) -> Issuer:
    return make_issuer(seed=7)


@pytest.fixture
def issue(issuer: Issuer, licence_claims: Mapping[str, Any]) -> Callable[..., bytes]:
    """Factory: credential bytes of a type (default the reference licence), bound to ``holder`` (None: bearer)."""
    serials = iter(range(1000, 100000))

    def make(
        holder: PublicKey | None,
        credential_type: str = "driving-licence",
        claims: Mapping[str, Any] | None = None,
        *,
        valid_from: dt.datetime = ISSUED,
        valid_until: dt.datetime = UNTIL,
        by: Issuer | None = None,
    ) -> bytes:
        return (
            (by or issuer)
            .issue(
                credential_type,
                licence_claims if claims is None else claims,
                holder_key=holder,
                possession=None if holder is None else ATTESTED_OUT_OF_BAND,
                valid_from=valid_from,
                valid_until=valid_until,
                now=ISSUED,
                serial=next(serials),
            )
            .encoded
        )

    return make


@pytest.fixture
def full_wallet(wallet: Wallet, issue: Callable[..., bytes]) -> tuple[Wallet, dict[str, str]]:
    """A wallet with a driving licence (wallet key), a bearer business licence and a marriage certificate."""
    ids = {
        "licence": wallet.add(issue(wallet.new_holder_key()), issuer="上海市公安局交通警察总队"),
        "business": wallet.add(issue(None, "business-licence", BUSINESS)),
        "marriage": wallet.add(issue(wallet.new_holder_key(), "marriage-certificate", MARRIAGE)),
    }
    return wallet, ids


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def rewrite_header(data: bytes, **changes: int) -> bytes:
    """The file with header fields changed and the header checksum recomputed (a well-formed file)."""
    offsets = {"version": (8, ">H"), "kind": (12, "B"), "kdf": (13, "B"), "log2_n": (14, "B"), "r": (15, "B")}
    offsets |= {"aead": (17, "B"), "reserved": (18, ">H"), "generation": (84, ">Q")}
    raw = bytearray(data)
    for name, value in changes.items():
        offset, fmt = offsets[name]
        struct.pack_into(fmt, raw, offset, value)
    raw[92:100] = hashlib.sha256(bytes(raw[:92])).digest()[:8]
    return bytes(raw)


# --- creating and opening ---------------------------------------------------------------------------


def test_create_then_open_round_trips_entries(full_wallet: tuple[Wallet, dict[str, str]], path: Path) -> None:
    wallet, ids = full_wallet
    reopened = Wallet.open(FileStorage(path), PASSPHRASE)
    assert reopened.entry_ids == tuple(ids.values())
    assert [e.to_json() for e in reopened.entries(now=NOW)] == [e.to_json() for e in wallet.entries(now=NOW)]
    assert reopened.credential(ids["licence"]).encoded == wallet.credential(ids["licence"]).encoded


def test_create_never_overwrites(path: Path, wallet: Wallet) -> None:
    before = path.read_bytes()
    with pytest.raises(WalletExistsError):
        Wallet.create(FileStorage(path), "another passphrase", kdf=CHEAP)
    path.write_bytes(b"damaged or foreign bytes")
    with pytest.raises(WalletExistsError):
        Wallet.create(FileStorage(path), "another passphrase", kdf=CHEAP)
    assert path.read_bytes() == b"damaged or foreign bytes"
    assert before != path.read_bytes()


def test_open_missing_wallet(tmp_path: Path) -> None:
    with pytest.raises(WalletNotFoundError) as info:
        Wallet.open(FileStorage(tmp_path / "nowhere.ecw"), PASSPHRASE)
    assert info.value.code is WalletErrorCode.NOT_FOUND
    assert list(tmp_path.iterdir()) == []


def test_empty_passphrase_refused_on_create() -> None:
    with pytest.raises(ValueError, match="empty"):
        Wallet.create(MemoryStorage(), "", kdf=CHEAP)


def test_passphrase_is_unicode_normalized() -> None:
    storage = MemoryStorage()
    Wallet.create(storage, "caf\u00e9 密码", kdf=CHEAP)
    Wallet.open(storage, "cafe\u0301 密码")  # the same text typed as e + combining accent
    Wallet.open(storage, "caf\u00e9 密码".encode())


def test_files_are_private_to_the_owner(path: Path, wallet: Wallet, issue: Callable[..., bytes]) -> None:
    wallet.add(issue(wallet.new_holder_key()))
    assert path.stat().st_mode & 0o077 == 0
    assert (path.parent / "wallet.ecw.lock").stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in path.parent.iterdir()) == ["wallet.ecw", "wallet.ecw.lock"]


def test_default_kdf_is_scrypt_n_2_17_r_8_p_1() -> None:
    assert ScryptParams(17, 8, 1) == DEFAULT_KDF
    assert DEFAULT_KDF.memory_bytes == 128 * 1024 * 1024


@pytest.mark.parametrize(
    ("log2_n", "r", "p"),
    [(9, 8, 1), (25, 8, 1), (18, 16, 1), (17, 0, 1), (17, 8, 0), (17, 8, 17), (18, 8, 4), (17, 33, 1)],
)
def test_kdf_parameters_are_bounded(log2_n: int, r: int, p: int) -> None:
    with pytest.raises(ValueError):
        ScryptParams(log2_n, r, p)


def test_storage_protocol_is_satisfied_by_both_backends(tmp_path: Path) -> None:
    assert isinstance(MemoryStorage(), Storage)
    assert isinstance(FileStorage(tmp_path / "w"), Storage)


# --- entries: type, issuer, holder name, validity, status ---------------------------------------------


def test_entries_describe_each_credential(full_wallet: tuple[Wallet, dict[str, str]]) -> None:
    wallet, ids = full_wallet
    by_id = {e.entry_id: e for e in wallet.entries(now=NOW)}
    licence, business, marriage = by_id[ids["licence"]], by_id[ids["business"]], by_id[ids["marriage"]]
    assert (licence.credential_type, licence.type_label_zh, licence.type_label_en) == (
        "driving-licence",
        "机动车驾驶证",
        "Driving licence",
    )
    assert licence.issuer == IssuerName("上海市公安局交通警察总队")
    assert licence.holder_name == "张伟"
    assert (licence.valid_from, licence.valid_until, licence.status) == (ISSUED, UNTIL, EntryStatus.VALID)
    assert licence.holder_key is HolderKeyKind.WALLET and licence.holder_algorithm == "ES256"
    assert "driving-check" in licence.profiles and "full" in licence.profiles
    assert "age-check" not in licence.profiles  # the licence holds no age_over_18 claim
    assert business.holder_name == "上海示例科技有限公司"
    assert business.holder_key is HolderKeyKind.NONE and business.holder_algorithm is None
    assert business.issuer is None and len(business.issuer_kid) == 16
    assert marriage.holder_name == "王芳 & 陈杰"
    assert marriage.credential_type == "marriage-certificate"


def test_latin_names_are_given_name_first(wallet: Wallet, issue: Callable[..., bytes]) -> None:
    entry_id = wallet.add(issue(wallet.new_holder_key(), "residence-permit", PERMIT))
    assert wallet.entry(entry_id, now=NOW).holder_name == "John Smith"


def test_status_follows_the_injected_time(wallet: Wallet, issue: Callable[..., bytes]) -> None:
    entry_id = wallet.add(issue(wallet.new_holder_key()))
    assert wallet.entry(entry_id, now=ISSUED - dt.timedelta(seconds=1)).status is EntryStatus.NOT_YET_VALID
    assert wallet.entry(entry_id, now=ISSUED).status is EntryStatus.VALID
    assert wallet.entry(entry_id, now=UNTIL).status is EntryStatus.VALID
    assert wallet.entry(entry_id, now=UNTIL + dt.timedelta(seconds=1)).status is EntryStatus.EXPIRED
    assert wallet.entry(entry_id, now=int(UNTIL.timestamp()) + 1).status is EntryStatus.EXPIRED


def test_issuer_name_comes_from_label_then_trust_store(
    path: Path, wallet: Wallet, issue: Callable[..., bytes], trust: TrustStore
) -> None:
    labelled = wallet.add(issue(None, "business-licence", BUSINESS), issuer=IssuerName("市场监督管理局", "SAMR"))
    unnamed = wallet.add(issue(wallet.new_holder_key()))
    assert wallet.entry(unnamed, now=NOW).issuer is None
    named = Wallet.open(FileStorage(path), PASSPHRASE, trust=trust)
    trusted_name = trust.get(named.credential(unnamed).kid)
    assert trusted_name is not None
    assert named.entry(unnamed, now=NOW).issuer == trusted_name.issuer
    assert named.entry(labelled, now=NOW).issuer == IssuerName("市场监督管理局", "SAMR")


def test_issuer_name_from_trust_store_is_stored_on_add(
    path: Path, issue: Callable[..., bytes], trust: TrustStore
) -> None:
    wallet = Wallet.create(FileStorage(path), PASSPHRASE, kdf=CHEAP, trust=trust)
    entry_id = wallet.add(issue(wallet.new_holder_key()))
    assert Wallet.open(FileStorage(path), PASSPHRASE).entry(entry_id, now=NOW).issuer is not None


def test_credential_of_a_type_unknown_at_open_is_kept_not_lost(
    path: Path, issue: Callable[..., bytes], make_issuer: Callable[..., Issuer], staff_types: TypeRegistry
) -> None:
    wallet = Wallet.create(FileStorage(path), PASSPHRASE, kdf=CHEAP, types=staff_types)
    badge = issue(None, "staff-card", {"name": "赵六", "active": True}, by=make_issuer(types=staff_types))
    staff_id = wallet.add(badge)
    plain = Wallet.open(FileStorage(path), PASSPHRASE)  # built-in types only
    entry = plain.entry(staff_id, now=NOW)
    assert (entry.credential_type, entry.status, entry.holder_name) == ("type-1000", EntryStatus.VALID, None)
    with pytest.raises(CredentialError):
        plain.credential(staff_id)
    plain.add(issue(plain.new_holder_key()))  # a write by the narrower reader keeps the entry
    again = Wallet.open(FileStorage(path), PASSPHRASE, types=staff_types)
    assert again.credential(staff_id).encoded == badge


# --- adding and removing ------------------------------------------------------------------------------


def test_add_is_idempotent(wallet: Wallet, issue: Callable[..., bytes], path: Path) -> None:
    data = issue(wallet.new_holder_key())
    first = wallet.add(data)
    before = path.read_bytes()
    assert wallet.add(data) == first
    assert path.read_bytes() == before
    assert len(wallet) == 1


def test_add_refuses_what_is_not_a_credential(
    wallet: Wallet, issue: Callable[..., bytes], path: Path, present_licence: Callable[..., str]
) -> None:
    before = path.read_bytes()
    with pytest.raises(CredentialError):
        wallet.add(b"\x93\x01\x02\x03")
    with pytest.raises(CredentialError):
        wallet.add(_wire.payload_from_text(present_licence()))
    assert path.read_bytes() == before


def test_credential_bound_to_a_key_the_wallet_lacks_is_refused(
    wallet: Wallet, issue: Callable[..., bytes], holder_key: SigningKey, other_holder_key: SigningKey
) -> None:
    data = issue(holder_key.public_key)
    with pytest.raises(HolderKeyError) as info:
        wallet.add(data)
    assert info.value.code is WalletErrorCode.HOLDER_KEY
    with pytest.raises(HolderKeyError):
        wallet.add(data, holder_key=other_holder_key)
    with pytest.raises(HolderKeyError):
        wallet.add(issue(None, "business-licence", BUSINESS), holder_key=holder_key)
    assert len(wallet) == 0


def test_imported_software_key_is_stored_encrypted_and_used(
    path: Path, wallet: Wallet, issue: Callable[..., bytes], holder_key_ed25519: SigningKey, trust: TrustStore
) -> None:
    entry_id = wallet.add(issue(holder_key_ed25519.public_key), holder_key=holder_key_ed25519)
    reopened = Wallet.open(FileStorage(path), PASSPHRASE)
    assert reopened.entry(entry_id, now=NOW).holder_algorithm == "Ed25519"
    verdict = Verifier(trust).verify(reopened.present(entry_id, now=NOW), now=NOW)
    assert verdict.holder_algorithm == "Ed25519"
    assert b"PRIVATE KEY" not in path.read_bytes()


def test_per_credential_keys_are_fresh_and_removed_with_their_credential(
    wallet: Wallet, issue: Callable[..., bytes]
) -> None:
    assert wallet.key_mode is KeyMode.PER_CREDENTIAL
    first, second = wallet.new_holder_key(), wallet.new_holder_key()
    assert first != second
    assert set(wallet.pending_keys()) == {first, second}
    entry_id = wallet.add(issue(first))
    assert wallet.pending_keys() == [second]
    wallet.discard_holder_key(second)
    assert wallet.pending_keys() == []
    with pytest.raises(HolderKeyError):
        wallet.discard_holder_key(first)  # in use
    wallet.remove(entry_id)
    assert len(wallet) == 0 and wallet.pending_keys() == []
    with pytest.raises(HolderKeyError):
        wallet.add(issue(first))  # the key went with its credential


def test_per_wallet_mode_uses_one_key(tmp_path: Path, issue: Callable[..., bytes], trust: TrustStore) -> None:
    wallet = Wallet.create(FileStorage(tmp_path / "w"), PASSPHRASE, kdf=CHEAP, key_mode="per-wallet")
    key = wallet.new_holder_key()
    assert wallet.new_holder_key() == key and wallet.key_mode is KeyMode.PER_WALLET
    one, two = wallet.add(issue(key)), wallet.add(issue(key, "residence-permit", PERMIT))
    wallet.remove(one)
    Verifier(trust).verify(wallet.present(two, now=NOW), now=NOW)
    assert wallet.pending_keys() == []
    with pytest.raises(HolderKeyError):
        wallet.new_holder_key("Ed25519")


def test_remove_and_find(full_wallet: tuple[Wallet, dict[str, str]]) -> None:
    wallet, ids = full_wallet
    licence = ids["licence"]
    assert wallet.find(licence) == licence
    assert wallet.find(licence[:10]) == licence
    with pytest.raises(EntryNotFoundError) as ambiguous:
        wallet.find("")
    assert ambiguous.value.code in (WalletErrorCode.NO_SUCH_ENTRY, WalletErrorCode.AMBIGUOUS_ENTRY)
    wallet.remove(licence)
    assert licence not in wallet and len(wallet) == 2
    for call in (lambda: wallet.remove(licence), lambda: wallet.find(licence), lambda: wallet.entry(licence, now=NOW)):
        with pytest.raises(EntryNotFoundError):
            call()


# --- external keys (secure hardware) ------------------------------------------------------------------


def test_external_key_signs_but_never_enters_the_wallet(
    path: Path, issue: Callable[..., bytes], trust: TrustStore
) -> None:
    enclave = SecureElementDouble("phone secure enclave key 1")
    keystore = Keystore(**{"licence-2025": enclave})
    wallet = Wallet.create(FileStorage(path), PASSPHRASE, kdf=CHEAP, signers=keystore)
    entry_id = wallet.add(issue(enclave.public_key), holder_key=ExternalKey("licence-2025"))
    entry = wallet.entry(entry_id, now=NOW)
    assert (entry.holder_key, entry.key_ref) == (HolderKeyKind.EXTERNAL, "licence-2025")
    reopened = Wallet.open(FileStorage(path), PASSPHRASE, signers={"licence-2025": enclave})
    code = reopened.show(entry_id, clock=Clock(NOW), profile="driving-check")
    Verifier(trust).verify(next(code).text, now=NOW)
    assert enclave.calls == 1
    secret = SecureElementDouble.scalar_bytes("phone secure enclave key 1")
    header = _vault.read_header(path.read_bytes())
    body = _vault.unseal(path.read_bytes(), header, _vault.derive_key(PASSPHRASE, header.params, header.salt))
    assert secret not in repr(body).encode() and secret not in path.read_bytes()
    assert body["keys"] == []
    backup = reopened.export_backup(BACKUP_PASSPHRASE, kdf=CHEAP)
    assert secret not in backup


def test_external_key_must_match_and_be_reachable(path: Path, issue: Callable[..., bytes]) -> None:
    enclave, other = SecureElementDouble("enclave A"), SecureElementDouble("enclave B")
    data = issue(enclave.public_key)
    no_provider = Wallet.create(FileStorage(path), PASSPHRASE, kdf=CHEAP)
    with pytest.raises(HolderKeyError, match="signers="):
        no_provider.add(data, holder_key=ExternalKey("a"))
    wallet = Wallet.open(FileStorage(path), PASSPHRASE, signers=Keystore(a=enclave, b=other))
    with pytest.raises(HolderKeyError):
        wallet.add(data, holder_key=ExternalKey("b"))
    with pytest.raises(HolderKeyError):
        wallet.add(data, holder_key=ExternalKey("missing"))
    entry_id = wallet.add(data, holder_key=ExternalKey("a"))
    elsewhere = Wallet.open(FileStorage(path), PASSPHRASE, signers=Keystore())  # restored on another phone
    with pytest.raises(HolderKeyError):
        elsewhere.present(entry_id, now=NOW)
    swapped = Wallet.open(FileStorage(path), PASSPHRASE, signers=Keystore(a=other))
    with pytest.raises(CredentialError):
        swapped.present(entry_id, now=NOW)
    with pytest.raises(ValueError):
        ExternalKey("")


def test_a_failing_hardware_signer_raises_signer_error(path: Path, issue: Callable[..., bytes]) -> None:
    enclave = SecureElementDouble("enclave C")

    class Cancelled(SecureElementDouble):
        __slots__ = ()

        def sign(self, data: bytes) -> bytes:
            raise RuntimeError("user cancelled the biometric prompt")

    wallet = Wallet.create(FileStorage(path), PASSPHRASE, kdf=CHEAP, signers={"c": enclave})
    entry_id = wallet.add(issue(enclave.public_key), holder_key=ExternalKey("c"))
    cancelled = Cancelled("enclave C")
    failing = Wallet.open(FileStorage(path), PASSPHRASE, signers={"c": cancelled})
    with pytest.raises(SignerError):
        failing.present(entry_id, now=NOW)


# --- showing: rotating codes ------------------------------------------------------------------------


def test_code_renews_before_it_expires(full_wallet: tuple[Wallet, dict[str, str]], trust: TrustStore) -> None:
    wallet, ids = full_wallet
    clock = Clock(NOW)
    code = wallet.show(ids["licence"], clock=clock, lifetime=60, refresh_before=10, profile="driving-check")
    assert isinstance(code, RotatingCode)
    first = next(code)
    assert (first.presented_at, first.expires_at, first.refresh_at) == (
        NOW,
        NOW + dt.timedelta(seconds=60),
        NOW + dt.timedelta(seconds=50),
    )
    assert first.seconds_left(NOW) == 60 and first.seconds_to_refresh(NOW) == 50
    clock.advance(49)
    assert next(code) is first
    clock.advance(1)
    second = next(code)
    assert second is not first and second.text != first.text
    assert second.presented_at == NOW + dt.timedelta(seconds=50)
    verifier = Verifier(trust)
    for frame in (first, second):
        # each code is valid until it expires, so the overlap covers a scan started just before renewal
        verdict = verifier.verify(frame.text, now=frame.expires_at)
        assert set(verdict.claims) == {"family_name", "given_name", "vehicle_classes", "expiry_date"}
    assert code.current(NOW + dt.timedelta(seconds=99)) is second
    assert code.current(NOW + dt.timedelta(seconds=100)).presented_at == NOW + dt.timedelta(seconds=100)


def test_code_renews_when_the_clock_goes_back(full_wallet: tuple[Wallet, dict[str, str]]) -> None:
    wallet, ids = full_wallet
    code = wallet.show(ids["licence"], clock=Clock(NOW))
    late = code.current(NOW + dt.timedelta(seconds=30))
    corrected = code.current(NOW)
    assert corrected is not late and corrected.presented_at == NOW


def test_code_takes_a_challenge_and_a_claim_choice(
    full_wallet: tuple[Wallet, dict[str, str]], trust: TrustStore
) -> None:
    wallet, ids = full_wallet
    nonce = bytes(range(16))
    code = wallet.show(ids["licence"], clock=Clock(NOW), disclose=["given_name"], nonce=nonce, audience="counter-7")
    verdict = Verifier(trust, Policy(audience="counter-7")).verify(code.current(NOW).text, now=NOW, nonce=nonce)
    assert dict(verdict.claims) == {"given_name": "伟"} and verdict.audience == "counter-7"


@pytest.mark.parametrize(
    "options",
    [
        {"profile": "no-such-profile"},
        {"profile": "age-check"},  # the credential holds no age claim
        {"disclose": ["address", "no_such_claim"]},
        {"profile": "name", "disclose": ["given_name"]},
        {"lifetime": 0},
        {"lifetime": 86_401},
        {"lifetime": 60, "refresh_before": 60},
        {"refresh_before": -1},
        {"nonce": b"short"},
    ],
)
def test_bad_show_options_fail_at_once(full_wallet: tuple[Wallet, dict[str, str]], options: dict[str, Any]) -> None:
    wallet, ids = full_wallet
    with pytest.raises(CredentialError):
        wallet.show(ids["licence"], clock=Clock(NOW), **options)


def test_bearer_code_is_static(full_wallet: tuple[Wallet, dict[str, str]], trust: TrustStore) -> None:
    wallet, ids = full_wallet
    clock = Clock(NOW)
    code = wallet.show(ids["business"], clock=clock, profile="identity")
    first = next(code)
    assert first.static and first.expires_at == UNTIL
    clock.advance(3600)
    assert next(code).text == first.text
    verdict = Verifier(trust, Policy(accept_bearer=True)).verify(first.text, now=NOW)
    assert set(verdict.claims) == {"unified_social_credit_code", "company_name"}


def test_removed_entry_stops_its_code(full_wallet: tuple[Wallet, dict[str, str]]) -> None:
    wallet, ids = full_wallet
    clock = Clock(NOW)
    code = wallet.show(ids["licence"], clock=clock)
    next(code)
    wallet.remove(ids["licence"])
    clock.advance(60)
    with pytest.raises(EntryNotFoundError):
        next(code)


# --- backup -----------------------------------------------------------------------------------------


def test_backup_restores_on_a_new_phone(
    full_wallet: tuple[Wallet, dict[str, str]], tmp_path: Path, trust: TrustStore
) -> None:
    wallet, ids = full_wallet
    backup = wallet.export_backup(BACKUP_PASSPHRASE, kdf=CHEAP)
    assert b"PRIVATE KEY" not in backup and "张".encode() not in backup
    phone = Wallet.create(FileStorage(tmp_path / "new-phone.ecw"), "new phone passphrase", kdf=CHEAP)
    report = phone.import_backup(backup, BACKUP_PASSPHRASE)
    assert set(report.added) == set(ids.values()) and report.skipped == 0
    assert phone.import_backup(backup, BACKUP_PASSPHRASE).skipped == 3
    Verifier(trust).verify(phone.present(ids["licence"], now=NOW), now=NOW)
    Verifier(trust).verify(phone.present(ids["marriage"], now=NOW, profile="married-to"), now=NOW)
    assert [e.to_json() for e in phone.entries(now=NOW)] == [e.to_json() for e in wallet.entries(now=NOW)]


def test_backup_errors(full_wallet: tuple[Wallet, dict[str, str]], path: Path) -> None:
    wallet, _ = full_wallet
    backup = wallet.export_backup(BACKUP_PASSPHRASE, kdf=CHEAP)
    target = Wallet.create(MemoryStorage(), PASSPHRASE, kdf=CHEAP)
    with pytest.raises(WrongPassphraseError):
        target.import_backup(backup, PASSPHRASE)  # the wallet passphrase is not the backup passphrase
    with pytest.raises(TruncatedWalletError):
        target.import_backup(backup[:-1], BACKUP_PASSPHRASE)
    with pytest.raises(CorruptWalletError):
        target.import_backup(backup[:-1] + bytes([backup[-1] ^ 1]), BACKUP_PASSPHRASE)
    with pytest.raises(NotAWalletError):
        target.import_backup(b"PK\x03\x04 a zip file", BACKUP_PASSPHRASE)
    with pytest.raises(NotAWalletError) as wrong_kind:
        Wallet.open(MemoryStorage(backup), BACKUP_PASSPHRASE)
    assert wrong_kind.value.code is WalletErrorCode.WRONG_KIND
    assert len(target) == 0
    assert target.import_backup(path.read_bytes(), PASSPHRASE).added  # a copied wallet file restores too


# --- change of passphrase, other writers, locks -----------------------------------------------------


def test_change_passphrase(path: Path, full_wallet: tuple[Wallet, dict[str, str]]) -> None:
    wallet, _ = full_wallet
    wallet.change_passphrase("a new passphrase")
    with pytest.raises(WrongPassphraseError):
        Wallet.open(FileStorage(path), PASSPHRASE)
    assert len(Wallet.open(FileStorage(path), "a new passphrase")) == 3


def test_two_writers_keep_each_others_changes(path: Path, wallet: Wallet, issue: Callable[..., bytes]) -> None:
    other = Wallet.open(FileStorage(path), PASSPHRASE)
    mine = wallet.add(issue(wallet.new_holder_key()))
    theirs = other.add(issue(None, "business-licence", BUSINESS))  # re-reads under the lock first
    assert set(other.entry_ids) == {mine, theirs}
    wallet.refresh()
    assert set(wallet.entry_ids) == {mine, theirs}


def test_rekeyed_elsewhere_is_reported(path: Path, wallet: Wallet, issue: Callable[..., bytes]) -> None:
    Wallet.open(FileStorage(path), PASSPHRASE).change_passphrase("changed on the tablet")
    before = path.read_bytes()
    with pytest.raises(WalletChangedError):
        wallet.add(issue(None, "business-licence", BUSINESS))
    assert path.read_bytes() == before


def test_locked_wallet_refuses_a_second_writer(path: Path, wallet: Wallet, issue: Callable[..., bytes]) -> None:
    data = issue(None, "business-licence", BUSINESS)
    impatient = Wallet.open(FileStorage(path, lock_timeout=0), PASSPHRASE)
    before = path.read_bytes()
    with FileStorage(path).lock(), pytest.raises(WalletLockedError) as info:
        impatient.add(data)
    assert info.value.code is WalletErrorCode.LOCKED
    assert path.read_bytes() == before
    impatient.add(data)  # released


def test_lock_held_by_another_process(path: Path, wallet: Wallet, issue: Callable[..., bytes]) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
            str(path) + ".lock",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        waiting = Wallet.open(FileStorage(path, lock_timeout=0.2), PASSPHRASE)  # a bounded wait, then an error
        with pytest.raises(WalletLockedError):
            waiting.add(issue(None, "business-licence", BUSINESS))
    finally:
        holder.communicate("")
    assert holder.returncode == 0
    waiting.add(issue(None, "business-licence", BUSINESS))


def test_memory_storage_lock_between_threads() -> None:
    storage = MemoryStorage(lock_timeout=0)
    wallet = Wallet.create(storage, PASSPHRASE, kdf=CHEAP)
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with storage.lock():
            taken.set()
            release.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    taken.wait()
    try:
        with pytest.raises(WalletLockedError):
            wallet.new_holder_key()
    finally:
        release.set()
        thread.join()
    wallet.new_holder_key()


def test_stale_temporary_files_are_cleaned(path: Path, wallet: Wallet) -> None:
    stale = path.parent / ".wallet.ecw.k1ll3d.tmp"
    stale.write_bytes(b"half a wallet from a writer that was killed")
    wallet.new_holder_key()
    assert not stale.exists()


def test_failed_write_leaves_the_old_file(
    path: Path, wallet: Wallet, issue: Callable[..., bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = snapshot(path.parent)

    def no_rename(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(StorageError) as info:
        wallet.add(issue(None, "business-licence", BUSINESS))
    assert "No space left" in str(info.value)
    monkeypatch.undo()
    assert snapshot(path.parent) == folder
    assert len(Wallet.open(FileStorage(path), PASSPHRASE)) == 0
    assert len(wallet) == 0  # memory did not run ahead of the disk


def test_damage_after_opening_is_never_overwritten(path: Path, wallet: Wallet, issue: Callable[..., bytes]) -> None:
    damaged = bytearray(path.read_bytes())
    damaged[-20] ^= 0x40
    path.write_bytes(bytes(damaged))
    with pytest.raises(CorruptWalletError):
        wallet.add(issue(None, "business-licence", BUSINESS))
    assert path.read_bytes() == bytes(damaged)


# --- the vault format: every failure its own error, the file untouched --------------------------------


@pytest.fixture
def sealed(full_wallet: tuple[Wallet, dict[str, str]], path: Path) -> bytes:
    """The bytes of a wallet file with three entries."""
    return path.read_bytes()


def assert_open_fails(path: Path, data: bytes, error: type[WalletError], passphrase: str = PASSPHRASE) -> WalletError:
    path.write_bytes(data)
    folder = snapshot(path.parent)
    with pytest.raises(WalletError) as info:
        Wallet.open(FileStorage(path), passphrase)
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    assert snapshot(path.parent) == folder, "opening changed the folder"
    return info.value


def test_wrong_passphrase(path: Path, sealed: bytes) -> None:
    error = assert_open_fails(path, sealed, WrongPassphraseError, "wrong passphrase")
    assert error.code is WalletErrorCode.WRONG_PASSPHRASE
    assert error.sentence == "The passphrase is wrong."


def test_empty_file(path: Path) -> None:
    assert assert_open_fails(path, b"", EmptyWalletError).code is WalletErrorCode.EMPTY


def test_truncated_file(path: Path, sealed: bytes) -> None:
    for length in (1, 4, 7, 8, 11, 12, 20, 47, 75, 76, 77, 99, 100, 101, 200, len(sealed) - 16, len(sealed) - 1):
        error = assert_open_fails(path, sealed[:length], TruncatedWalletError)
        assert error.code is WalletErrorCode.TRUNCATED


# Byte classes of the format 2 layout (docs/wallet.md): magic 0-7, version 8-9, header length 10-11, kind and
# algorithms 12-19, salt 20-35, nonce 36-47, body length 48-51, key check 52-67, wallet id 68-83,
# generation 84-91, checksum 92-99.
HEADER_CLASSES = {
    "magic": range(0, 8),
    "version": range(8, 10),
    "header-length": range(10, 12),
    "kind-and-kdf": range(12, 20),
    "salt": range(20, 36),
    "nonce": range(36, 48),
    "body-length": range(48, 52),
    "key-check": range(52, 68),
    "wallet-id": range(68, 84),
    "generation": range(84, 92),
    "checksum": range(92, 100),
}


@pytest.mark.parametrize("part", [*HEADER_CLASSES, "ciphertext", "tag"])
def test_flipped_byte_is_damage_not_a_wrong_passphrase(path: Path, sealed: bytes, part: str) -> None:
    if part == "ciphertext":
        positions: range | list[int] = list(range(100, len(sealed) - 16, 37))
    elif part == "tag":
        positions = range(len(sealed) - 16, len(sealed))
    else:
        positions = HEADER_CLASSES[part]
    for position in positions:
        for mask in (0x01, 0x80, 0xFF):
            damaged = bytearray(sealed)
            damaged[position] ^= mask
            error = assert_open_fails(path, bytes(damaged), CorruptWalletError)
            assert error.code is WalletErrorCode.DAMAGED, (part, position, mask)


def test_wrong_passphrase_wins_over_damaged_contents(path: Path, sealed: bytes) -> None:
    damaged = bytearray(sealed)
    damaged[100] ^= 1
    assert_open_fails(path, bytes(damaged), WrongPassphraseError, "wrong passphrase")


def test_newer_format_version(path: Path, sealed: bytes) -> None:
    error = assert_open_fails(path, rewrite_header(sealed, version=3), UnsupportedWalletVersionError)
    assert error.code is WalletErrorCode.UNSUPPORTED_VERSION and "format version 3" in str(error)
    for change in ({"kdf": 2}, {"aead": 9}, {"reserved": 1}, {"kind": 7}):
        assert_open_fails(path, rewrite_header(sealed, **change), UnsupportedWalletVersionError)


def test_newer_version_with_a_longer_header(path: Path) -> None:
    header = _vault.MAGIC + struct.pack(">HH", 3, 100) + bytes(80)
    header += hashlib.sha256(header).digest()[:8]
    assert_open_fails(path, header + b"whatever a future version keeps here", UnsupportedWalletVersionError)


def test_hostile_kdf_parameters_are_refused_before_deriving(path: Path, sealed: bytes) -> None:
    for change in ({"log2_n": 30}, {"log2_n": 20, "r": 8}, {"log2_n": 1}, {"r": 0}):
        error = assert_open_fails(path, rewrite_header(sealed, **change), CorruptWalletError)
        assert error.code is WalletErrorCode.LIMITS_EXCEEDED


@pytest.mark.parametrize(
    "garbage",
    [
        random.Random(1).randbytes(700),
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        b'{"format": "econsent-trust-store"}',
        b"EC1:123456",
        b"\x89ECW",  # too short to tell: it is the start of a wallet
    ],
    ids=["random", "png", "json", "qr-text", "prefix"],
)
def test_garbage_file(path: Path, garbage: bytes) -> None:
    expected = TruncatedWalletError if garbage == b"\x89ECW" else NotAWalletError
    error = assert_open_fails(path, garbage, expected)
    if expected is NotAWalletError:
        assert error.code is WalletErrorCode.NOT_A_WALLET


def test_trailing_bytes_are_damage(path: Path, sealed: bytes) -> None:
    assert_open_fails(path, sealed + b"\x00", CorruptWalletError)


SAMPLE = Wallet.create(MemoryStorage(), PASSPHRASE, kdf=CHEAP)
SAMPLE.new_holder_key()
SAMPLE_BYTES = SAMPLE._data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_open_or_raise_a_wallet_error(data: bytes) -> None:
    with pytest.raises(WalletError):
        Wallet.open(MemoryStorage(data), PASSPHRASE)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.integers(0, len(SAMPLE_BYTES) - 1), st.integers(1, 255), min_size=1, max_size=4))
def test_any_damage_to_a_wallet_raises_a_wallet_error(changes: dict[int, int]) -> None:
    damaged = bytearray(SAMPLE_BYTES)
    for position, mask in changes.items():
        damaged[position] ^= mask
    with pytest.raises(WalletError) as info:
        Wallet.open(MemoryStorage(bytes(damaged)), PASSPHRASE)
    assert info.value.code is not WalletErrorCode.WRONG_PASSPHRASE


# --- nothing secret in reprs, errors or logs ------------------------------------------------------------


def secret_forms(claims: Mapping[str, Any], key: SigningKey) -> list[str]:
    """Passphrases, private key material and personal data, in the forms they could leak in."""
    pem = key.to_pem().decode()
    body = "".join(pem.splitlines()[1:-1])
    der = key._key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    forms = [PASSPHRASE, BACKUP_PASSPHRASE, body[:40], body[-40:], der.hex()[-64:], "PRIVATE KEY"]
    for name in ("licence_number", "address", "birth_date", "given_name"):
        value = claims[name]
        text = value.isoformat() if isinstance(value, dt.date) else str(value)
        forms.append(text)
        if not text.isascii():
            forms += [repr(text.encode())[2:-1], repr(text.encode("gb18030"))[2:-1]]
    return [*forms, claims["family_name"] + claims["given_name"]]


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger="econsent")
    yield caplog


def test_no_secret_in_reprs_errors_or_logs(
    tmp_path: Path,
    issue: Callable[..., bytes],
    licence_claims: Mapping[str, Any],
    holder_key: SigningKey,
    captured: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "w.ecw"
    wallet = Wallet.create(FileStorage(path), PASSPHRASE, kdf=CHEAP)
    entry_id = wallet.add(issue(holder_key.public_key), holder_key=holder_key, label="我的驾照")
    wallet.add(issue(None, "business-licence", BUSINESS))
    code = wallet.show(entry_id, clock=Clock(NOW))
    frame = next(code)
    backup = wallet.export_backup(BACKUP_PASSPHRASE, kdf=CHEAP)
    shown: list[object] = [wallet, code, frame, wallet.entries(now=NOW), wallet.credential(entry_id), FileStorage(path)]
    shown += [_vault.derive_key(PASSPHRASE, CHEAP, bytes(16)), wallet._state.keys, wallet._state.entries]

    errors: list[EconsentError] = []
    attempts: list[Callable[[], object]] = [
        lambda: Wallet.open(FileStorage(path), PASSPHRASE + "x"),
        lambda: Wallet.open(MemoryStorage(path.read_bytes()[:-3]), PASSPHRASE),
        lambda: Wallet.open(MemoryStorage(path.read_bytes()[:-3] + b"xyz"), PASSPHRASE),
        lambda: Wallet.open(MemoryStorage(backup), BACKUP_PASSPHRASE),
        lambda: wallet.import_backup(backup, PASSPHRASE),
        lambda: wallet.add(issue(holder_key.public_key), holder_key=SigningKey.generate()),
        lambda: wallet.add(b"\x92\xa3" + "张伟".encode()),
        lambda: wallet.remove("missing"),
        lambda: wallet.show(entry_id, clock=Clock(NOW), disclose=["address", "nope"]),
        lambda: wallet.add(issue(SecureElementDouble("x").public_key), holder_key=ExternalKey("my licence key")),
        lambda: Wallet.create(FileStorage(path), PASSPHRASE, kdf=CHEAP),
    ]
    for attempt in attempts:
        with pytest.raises(EconsentError) as info:
            attempt()
        errors.append(info.value)
    rendered = [repr(item) for item in shown] + [str(item) for item in shown]
    for error in errors:
        rendered += [str(error), repr(error), str(error.__cause__), repr(error.__context__)]
    rendered += [record.getMessage() for record in captured.records]
    assert captured.records, "the wallet logs its operations at DEBUG level"
    text = "\n".join(rendered)
    leaked = [form for form in secret_forms(licence_claims, holder_key) if form in text]
    assert not leaked, f"leaked {leaked}"
    assert "我的驾照" not in text  # a user's label can be personal too
    stored = path.read_bytes() + backup
    for value in ("上海市黄浦区", "310101198503140012", "PRIVATE KEY", PASSPHRASE):
        assert value.encode() not in stored and value.encode("gb18030") not in stored
