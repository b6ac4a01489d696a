"""A wallet knows which wallet it is and how recent its file is: another wallet's file, an older copy of
its own or a copy forked from one is detected, reported with its code, and never silently used or written over.

The wallet id (random, fixed at creation) and a generation counter (raised by every write) are in the
vault header, which AES-GCM authenticates. An app pins the id and the highest generation it saw outside
the file (``Wallet.open(..., expected_id=, min_generation=)``); an open ``Wallet`` checks both on every
reload and write. Every wallet here uses cheap scrypt parameters (N = 2**10).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from econsent import ATTESTED_OUT_OF_BAND, Issuer, PublicKey, TrustStore, Verifier, _vault
from econsent.wallet import (
    CorruptWalletError,
    FileStorage,
    MemoryStorage,
    NotAWalletError,
    ScryptParams,
    Wallet,
    WalletChangedError,
    WalletErrorCode,
    WalletRolledBackError,
    WalletSwappedError,
    WrongPassphraseError,
)

CHEAP = ScryptParams(log2_n=10, r=8, p=1)
PASSPHRASE = "the same passphrase 同一个口令"
NOW = dt.datetime(2025, 6, 1, 8, 30, tzinfo=dt.UTC)
BUSINESS = {"unified_social_credit_code": "91310000MA1FL4XQ2B", "company_name": "上海示例科技有限公司"}

# tests/data/wallet-v1.ecw: a format 1 wallet written by econsent at commit 981578e (see tests/data/README.md).
V1_FILE = Path(__file__).parent / "data" / "wallet-v1.ecw"
V1_PASSPHRASE = "v1 wallet 旧版钱包"
V1_WALLET_ID = "0f40944a232c144118191ca8256a0556"
V1_ENTRY = "34427d682cfc"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "wallet.ecw"


@pytest.fixture
def wallet(path: Path) -> Wallet:
    return Wallet.create(FileStorage(path), PASSPHRASE, kdf=CHEAP)


@pytest.fixture
def issue(make_issuer: Callable[..., Issuer], licence_claims: Mapping[str, Any]) -> Callable[..., bytes]:
    """Factory: a driving licence bound to ``holder``, or a bearer business licence for ``None``."""
    issuer = make_issuer(seed=11)
    serials = iter(range(5000, 100000))

    def make(holder: PublicKey | None) -> bytes:
        return issuer.issue(
            "driving-licence" if holder else "business-licence",
            licence_claims if holder else BUSINESS,
            holder_key=holder,
            possession=None if holder is None else ATTESTED_OUT_OF_BAND,
            valid_from=NOW - dt.timedelta(days=1),
            valid_until=NOW + dt.timedelta(days=365),
            now=NOW - dt.timedelta(days=1),
            serial=next(serials),
        ).encoded

    return make


def add_licence(wallet: Wallet, issue: Callable[..., bytes]) -> str:
    return wallet.add(issue(wallet.new_holder_key()))


def folder_of(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.parent.iterdir()) if p.is_file()}


def rewritten(data: bytes, offset: int, value: bytes) -> bytes:
    """The file with header bytes replaced and the header checksum recomputed (intact, but edited)."""
    raw = bytearray(data)
    raw[offset : offset + len(value)] = value
    raw[92:100] = hashlib.sha256(bytes(raw[:92])).digest()[:8]
    return bytes(raw)


# --- another wallet's file ------------------------------------------------------------------------------


def test_another_wallets_file_with_the_same_passphrase_is_refused_by_its_pinned_id(
    path: Path, wallet: Wallet, tmp_path: Path
) -> None:
    kept_id = wallet.wallet_id  # what the app stored in its preferences when it created the wallet
    other = Wallet.create(FileStorage(tmp_path / "other.ecw"), PASSPHRASE, kdf=CHEAP)
    shutil.copyfile(tmp_path / "other.ecw", path)
    before = folder_of(path)
    with pytest.raises(WalletSwappedError) as info:
        Wallet.open(FileStorage(path), PASSPHRASE, expected_id=kept_id)
    assert info.value.code is WalletErrorCode.SWAPPED
    assert info.value.sentence == WalletErrorCode.SWAPPED.sentence
    assert other.wallet_id in info.value.detail and kept_id in info.value.detail
    with pytest.raises(WalletSwappedError):  # named as swapped before the passphrase is even tried
        Wallet.open(FileStorage(path), "not the passphrase", expected_id=kept_id)
    assert folder_of(path) == before, "opening wrote something"
    assert Wallet.open(FileStorage(path), PASSPHRASE, expected_id=other.wallet_id).wallet_id == other.wallet_id


@pytest.mark.parametrize("expected_id", ["", "0f40944a", "zz" * 16, " " + "0" * 31, "0" * 33])
def test_a_malformed_pinned_id_is_a_usage_error(path: Path, wallet: Wallet, expected_id: str) -> None:
    with pytest.raises(ValueError, match="32 hex digits"):
        Wallet.open(FileStorage(path), PASSPHRASE, expected_id=expected_id)


def test_a_file_put_in_place_of_an_open_wallet_is_refused_and_never_written_over(
    path: Path, wallet: Wallet, issue: Callable[..., bytes], tmp_path: Path
) -> None:
    mine = add_licence(wallet, issue)
    Wallet.create(FileStorage(tmp_path / "other.ecw"), PASSPHRASE, kdf=CHEAP).add(issue(None))
    backup = wallet.export_backup(PASSPHRASE, kdf=CHEAP)  # this wallet's own data, under the same passphrase
    for planted, error, code in [
        ((tmp_path / "other.ecw").read_bytes(), WalletSwappedError, WalletErrorCode.SWAPPED),
        (backup, NotAWalletError, WalletErrorCode.WRONG_KIND),
    ]:
        path.write_bytes(planted)
        attempts = [wallet.refresh, wallet.replace_older_file, lambda: wallet.add(issue(None))]
        for attempt in [*attempts, lambda: wallet.export_backup("b", kdf=CHEAP)]:
            with pytest.raises(error) as info:
                attempt()
            assert info.value.code is code
        assert path.read_bytes() == planted
        assert wallet.entry_ids == (mine,)  # the app still holds and shows its own wallet
        wallet.present(mine, now=NOW)


# --- an older copy of this wallet ----------------------------------------------------------------------


def test_an_older_copy_put_back_while_the_wallet_is_open_is_refused_and_nothing_is_lost(
    path: Path, wallet: Wallet, issue: Callable[..., bytes], trust: TrustStore
) -> None:
    first = add_licence(wallet, issue)
    older = path.read_bytes()
    added_since = add_licence(wallet, issue)
    path.write_bytes(older)  # someone with write access puts the earlier file back
    with pytest.raises(WalletRolledBackError) as info:
        wallet.refresh()
    assert info.value.code is WalletErrorCode.ROLLED_BACK
    with pytest.raises(WalletRolledBackError):
        wallet.add(issue(None))
    with pytest.raises(WalletRolledBackError):
        wallet.remove(first)
    assert path.read_bytes() == older, "the older copy was written over"
    assert wallet.entry_ids == (first, added_since)
    Verifier(trust).verify(wallet.present(added_since, now=NOW), now=NOW)


def test_the_app_keeps_its_newer_wallet_over_an_older_copy(
    path: Path, wallet: Wallet, issue: Callable[..., bytes]
) -> None:
    older = path.read_bytes()
    added_since = add_licence(wallet, issue)
    held = wallet.generation
    path.write_bytes(older)
    assert wallet.replace_older_file() is True
    assert wallet.generation == held + 1
    reopened = Wallet.open(FileStorage(path), PASSPHRASE, expected_id=wallet.wallet_id, min_generation=held + 1)
    assert reopened.entry_ids == (added_since,)
    assert wallet.replace_older_file() is False  # nothing older is there any more: nothing written
    assert reopened.generation == wallet.generation


def test_an_older_copy_under_an_earlier_passphrase_is_a_rollback_not_a_change(
    path: Path, wallet: Wallet, issue: Callable[..., bytes]
) -> None:
    older = path.read_bytes()
    add_licence(wallet, issue)
    wallet.change_passphrase("a newer passphrase", kdf=CHEAP)
    path.write_bytes(older)
    with pytest.raises(WalletRolledBackError):
        wallet.refresh()
    assert wallet.replace_older_file()
    Wallet.open(FileStorage(path), "a newer passphrase").change_passphrase("re-keyed on the tablet", kdf=CHEAP)
    with pytest.raises(WalletChangedError):  # a later file under another key is still a change, not a rollback
        wallet.refresh()


def test_a_copy_forked_from_an_older_one_is_refused(path: Path, wallet: Wallet, issue: Callable[..., bytes]) -> None:
    older = path.read_bytes()
    mine = add_licence(wallet, issue)
    path.write_bytes(older)
    other_program = Wallet.open(FileStorage(path), PASSPHRASE)  # it writes twice on the older copy
    other_program.add(issue(None))
    other_program.add(issue(None))
    assert Wallet.open(FileStorage(path), PASSPHRASE).generation == wallet.generation  # same count, other history
    forked = path.read_bytes()
    with pytest.raises(WalletRolledBackError):
        wallet.add(issue(None))
    assert path.read_bytes() == forked
    assert mine in wallet


def test_min_generation_refuses_an_older_copy_put_back_between_runs(
    path: Path, wallet: Wallet, issue: Callable[..., bytes]
) -> None:
    older = path.read_bytes()
    add_licence(wallet, issue)
    kept = wallet.generation  # what the app stores in the platform keystore after each change
    current = path.read_bytes()
    path.write_bytes(older)
    before = folder_of(path)
    for passphrase in (PASSPHRASE, "not the passphrase"):  # refused before the passphrase is tried
        with pytest.raises(WalletRolledBackError) as info:
            Wallet.open(FileStorage(path), passphrase, min_generation=kept)
        assert info.value.code is WalletErrorCode.ROLLED_BACK
        assert f"generation 1; this app needs generation {kept}" in info.value.detail
    assert folder_of(path) == before
    path.write_bytes(current)
    assert Wallet.open(FileStorage(path), PASSPHRASE, min_generation=kept).generation == kept


@pytest.mark.parametrize("value", [-1, 2**64, True, 1.0, "3"])
def test_a_bad_min_generation_is_a_usage_error(path: Path, wallet: Wallet, value: Any) -> None:
    with pytest.raises(ValueError, match="min_generation"):
        Wallet.open(FileStorage(path), PASSPHRASE, min_generation=value)


# --- a newer file from another program -------------------------------------------------------------


def test_a_newer_file_from_another_program_is_read_and_merged_never_written_over(
    path: Path, wallet: Wallet, issue: Callable[..., bytes]
) -> None:
    tablet = Wallet.open(FileStorage(path), PASSPHRASE)
    theirs = tablet.add(issue(None))
    theirs_too = tablet.add(issue(None))
    assert tablet.generation == wallet.generation + 2  # one write per add
    mine = add_licence(wallet, issue)  # re-reads the newer file under the lock, then writes after it
    assert wallet.generation == tablet.generation + 2
    reopened = Wallet.open(FileStorage(path), PASSPHRASE, min_generation=wallet.generation)
    assert set(reopened.entry_ids) == {theirs, theirs_too, mine}


def test_the_generation_counts_every_write_and_nothing_else(
    path: Path, wallet: Wallet, issue: Callable[..., bytes]
) -> None:
    assert wallet.generation == 1  # create is the first write
    key = wallet.new_holder_key()
    data = issue(key)
    entry_id = wallet.add(data)
    assert wallet.generation == 3
    assert wallet.add(data) == entry_id and wallet.generation == 3  # already held: nothing written
    wallet.export_backup("backup", kdf=CHEAP)
    wallet.refresh()
    assert wallet.generation == 3
    wallet.change_passphrase("new", kdf=CHEAP)
    wallet.remove(entry_id)
    assert wallet.generation == 5
    assert Wallet.open(FileStorage(path), "new").generation == 5
    assert struct.unpack_from(">Q", path.read_bytes(), 84) == (5,)


# --- the id and generation are authenticated --------------------------------------------------------


def test_an_edited_id_or_generation_fails_authentication(
    path: Path, wallet: Wallet, issue: Callable[..., bytes]
) -> None:
    add_licence(wallet, issue)
    sealed = path.read_bytes()
    for offset, value in [(84, struct.pack(">Q", 1000)), (68, bytes(16))]:
        path.write_bytes(rewritten(sealed, offset, value))
        with pytest.raises(CorruptWalletError) as info:
            Wallet.open(FileStorage(path), PASSPHRASE)
        assert info.value.code is WalletErrorCode.DAMAGED
    path.write_bytes(rewritten(sealed, 68, bytes(16)))
    with pytest.raises(WalletSwappedError):  # with the id pinned, an edited id is someone else's file
        Wallet.open(FileStorage(path), PASSPHRASE, expected_id=wallet.wallet_id)


def test_a_header_that_names_another_wallet_than_its_contents_is_damage() -> None:
    key = _vault.derive_key("p", CHEAP, bytes(16))
    body = {"wallet_id": b"\x01" * 16, "key_mode": "per-credential", "wallet_key": None, "keys": [], "entries": []}
    plaintext = msgpack.packb(body, use_bin_type=True)
    header = _vault._pack_header(_vault.VaultKind.WALLET, key, bytes(12), len(plaintext) + 16, b"\x02" * 16, 9)
    data = header + AESGCM(key._encryption).encrypt(bytes(12), plaintext, header)
    with pytest.raises(CorruptWalletError, match="name different wallets"):
        Wallet.open(MemoryStorage(data), "p")


# --- format 1 files ----------------------------------------------------------------------------------


def test_a_format_1_wallet_opens_and_is_upgraded_on_the_next_write(
    tmp_path: Path, issue: Callable[..., bytes], trust: TrustStore
) -> None:
    path = tmp_path / "old.ecw"
    shutil.copyfile(V1_FILE, path)
    assert _vault.read_header(path.read_bytes()).version == 1
    wallet = Wallet.open(FileStorage(path), V1_PASSPHRASE, expected_id=V1_WALLET_ID)
    assert (wallet.wallet_id, wallet.generation, wallet.entry_ids) == (V1_WALLET_ID, 0, (V1_ENTRY,))
    assert path.read_bytes() == V1_FILE.read_bytes(), "opening wrote something"
    added = wallet.add(issue(None))
    header = _vault.read_header(path.read_bytes())
    assert (header.version, header.wallet_id, header.generation) == (2, bytes.fromhex(V1_WALLET_ID), 1)
    upgraded = Wallet.open(FileStorage(path), V1_PASSPHRASE, expected_id=V1_WALLET_ID, min_generation=1)
    assert upgraded.entry_ids == (V1_ENTRY, added)
    Verifier(trust).verify(upgraded.present(V1_ENTRY, now=NOW), now=NOW)
    path.write_bytes(V1_FILE.read_bytes())  # the format 1 copy put back after the upgrade
    with pytest.raises(WalletRolledBackError):
        Wallet.open(FileStorage(path), V1_PASSPHRASE, min_generation=1)
    with pytest.raises(WalletRolledBackError):
        upgraded.refresh()


def test_a_format_1_file_of_another_wallet_is_refused_by_its_pinned_id(tmp_path: Path) -> None:
    path = tmp_path / "old.ecw"
    shutil.copyfile(V1_FILE, path)
    with pytest.raises(WalletSwappedError):  # its id is only in the encrypted body: known after the passphrase
        Wallet.open(FileStorage(path), V1_PASSPHRASE, expected_id="ab" * 16)
    with pytest.raises(WrongPassphraseError):
        Wallet.open(FileStorage(path), "wrong", expected_id="ab" * 16)
