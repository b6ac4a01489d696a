"""Wallet benchmark: open a wallet of 100 credentials and show one, with the passphrase KDF reported apart.

Run by hand from the repository root (numbers vary with the machine; the KDF's share of opening is
measured side by side in this one run):

    python bench/bench_wallet.py [--quick]

The wallet holds 100 credentials (97 copies of the reference driving licence with fresh serials and
seeds, a business licence, a marriage certificate, a residence permit), each with its own ES256 holder
key (the default per-credential mode), in a FileStorage file on the local disk, sealed with the default
scrypt cost (N = 2**17, r = 8, p = 1). Every figure is the median of several runs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from econsent import (  # noqa: E402
    ATTESTED_OUT_OF_BAND,
    Issuer,
    SigningKey,
    _vault,
    qr,
)
from econsent.wallet import DEFAULT_KDF, FileStorage, ScryptParams, Wallet  # noqa: E402
from econsent.wallet import core as wallet_module  # noqa: E402

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
PASSPHRASE = "a phone user's passphrase 手机钱包"


def median_ms(action: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


@contextlib.contextmanager
def precomputed(key: _vault.VaultKey) -> Iterator[None]:
    """Let ``Wallet.open`` skip scrypt by handing it the key scrypt would give (benchmark only)."""
    original = wallet_module.derive_key
    wallet_module.derive_key = lambda passphrase, params, salt: key
    try:
        yield
    finally:
        wallet_module.derive_key = original


def reference_claims() -> dict[str, Any]:
    shared = ROOT.parent / "shared" / "reference" / "driving-licence.json"
    path = shared if shared.exists() else ROOT / "examples" / "data" / "driving-licence.json"
    claims = dict(json.loads(path.read_text(encoding="utf-8"))["claims"])
    for name in ("birth_date", "issue_date", "expiry_date"):
        claims[name] = dt.date.fromisoformat(claims[name])
    return claims


OTHERS = [
    ("business-licence", {"unified_social_credit_code": "91310000MA1FL4XQ2B", "company_name": "上海示例科技有限公司"}),
    (
        "marriage-certificate",
        {"certificate_number": "J310101-2020-000123", "spouse_a_name": "王芳", "spouse_b_name": "陈杰"},
    ),
    ("residence-permit", {"family_name": "Smith", "given_name": "John", "permit_number": "SH-2024-77"}),
]


def build(path: Path, count: int) -> tuple[str, float]:
    """A wallet of ``count`` credentials at the default KDF; returns an entry id and the median add time."""
    issuer = Issuer(SigningKey.generate("ES256"))
    wallet = Wallet.create(FileStorage(path), PASSPHRASE, kdf=DEFAULT_KDF)
    licence = reference_claims()
    kinds = [("driving-licence", licence)] * (count - len(OTHERS)) + OTHERS
    adds = []
    first = ""
    for serial, (credential_type, claims) in enumerate(kinds, start=31_000_000):
        key = wallet.new_holder_key()
        credential = issuer.issue(
            credential_type,
            claims,
            holder_key=key,
            possession=ATTESTED_OUT_OF_BAND,  # the wallet made the key itself
            valid_from=NOW - dt.timedelta(days=30),
            valid_until=NOW + dt.timedelta(days=3650),
            now=NOW - dt.timedelta(days=30),
            serial=serial,
        )
        started = time.perf_counter()
        entry_id = wallet.add(credential.encoded)
        adds.append(time.perf_counter() - started)
        first = first or entry_id
    return first, statistics.median(adds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--credentials", type=int, default=100)
    options = parser.parse_args()
    runs = 3 if options.quick else 7

    with tempfile.TemporaryDirectory(prefix="bench-wallet-") as folder:
        path = Path(folder) / "wallet.ecw"
        entry_id, add_ms = build(path, options.credentials)
        data = path.read_bytes()
        header = _vault.read_header(data)

        kdf_ms = median_ms(lambda: _vault.derive_key(PASSPHRASE, header.params, header.salt), runs)
        key = _vault.derive_key(PASSPHRASE, header.params, header.salt)
        read_ms = median_ms(lambda: _vault.read_header(FileStorage(path).read() or b""), runs)
        decrypt_ms = median_ms(lambda: _vault.unseal(data, header, key), runs)

        def open_and_show() -> str:
            opened = Wallet.open(FileStorage(path), PASSPHRASE)
            return opened.show(entry_id, clock=lambda: NOW, profile="driving-check").current(NOW).text

        open_ms = median_ms(lambda: Wallet.open(FileStorage(path), PASSPHRASE), runs)
        tap_ms = median_ms(open_and_show, runs)
        tap_png_ms = median_ms(lambda: qr.render_png(open_and_show()), runs)
        with precomputed(key):  # the same calls with the KDF's result given: the rest of the work, measured
            open_rest_ms = median_ms(lambda: Wallet.open(FileStorage(path), PASSPHRASE), runs * 3)
            tap_rest_ms = median_ms(open_and_show, runs * 3)

        wallet = Wallet.open(FileStorage(path), PASSPHRASE)
        started = time.perf_counter()
        wallet.entries(now=NOW)
        list_first_ms = (time.perf_counter() - started) * 1000
        list_ms = median_ms(lambda: wallet.entries(now=NOW), runs)
        code = wallet.show(entry_id, clock=lambda: NOW, profile="driving-check")
        started = time.perf_counter()
        frame = code.current(NOW)
        first_frame_ms = (time.perf_counter() - started) * 1000
        moments = iter(range(int(NOW.timestamp()) + 50, int(NOW.timestamp()) + 50_000_000, 50))
        renew_ms = median_ms(lambda: code.current(next(moments)), runs * 3)
        png_ms = median_ms(lambda: qr.render_png(frame.text), runs)
        terminal_ms = median_ms(lambda: qr.render_terminal(frame.text), runs)

        extra = Issuer(SigningKey.generate("ES256"))

        def add_and_remove() -> None:
            credential = extra.issue(
                "business-licence",
                OTHERS[0][1],
                holder_key=None,
                valid_from=NOW,
                valid_until=NOW + dt.timedelta(days=1),
                now=NOW,
            )
            wallet.remove(wallet.add(credential.encoded))

        write_ms = median_ms(add_and_remove, runs) / 2
        backup_ms = median_ms(lambda: wallet.export_backup("backup passphrase"), max(3, runs // 2))
        size = len(data)

    kdf_rows = []
    for log2_n in (15, 16, 17, 18):
        params = ScryptParams(log2_n, 8, 1)
        ms = median_ms(lambda p=params: _vault.derive_key(PASSPHRASE, p, bytes(16)), 3)  # type: ignore[misc]
        kdf_rows.append((params, ms))

    n = options.credentials
    p = DEFAULT_KDF
    print(f"\nWallet of {n} credentials, {size:,} bytes on disk ({size / n:.0f} bytes a credential with its key)")
    print(f"Default KDF: scrypt N=2^{p.log2_n} r={p.r} p={p.p}, {p.memory_bytes >> 20} MiB\n")
    print("| step | median |")
    print("|---|---:|")
    rows = [
        ("KDF alone: scrypt of the passphrase (on purpose)", kdf_ms),
        ("read the file and check its header", read_ms),
        (f"decrypt (AES-256-GCM) and decode {n} entries", decrypt_ms),
        ("**open** (read + KDF + decrypt + check shapes)", open_ms),
        ("open, all but the KDF (measured with the key given)", open_rest_ms),
        (f"list {n} entries, first time (parses every credential)", list_first_ms),
        (f"list {n} entries again (cached)", list_ms),
        ("first code of an entry (loads its key, selects claims, signs)", first_frame_ms),
        ("each renewal (new time, sign)", renew_ms),
        ("**open and show one code: the user's tap**", tap_ms),
        ("the tap, all but the KDF (measured with the key given)", tap_rest_ms),
        ("render the code as PNG", png_ms),
        ("open, show and render the PNG: what the user waits for", tap_png_ms),
        ("render the code for a terminal", terminal_ms),
        (f"one write at {n} entries (seal, temp file, fsync, rename, dir fsync)", write_ms),
        (f"median add while filling to {n} (key write not counted)", add_ms),
        ("export a backup (own KDF + seal)", backup_ms),
    ]
    for label, ms in rows:
        print(f"| {label} | {ms:,.1f} ms |")
    share = kdf_ms / (kdf_ms + tap_rest_ms)
    print(f"\nThe KDF is {share:.1%} of the tap; everything else takes {tap_rest_ms:.1f} ms (rendering aside).\n")
    print("| scrypt (r=8, p=1) | memory | time |")
    print("|---|---:|---:|")
    for params, ms in kdf_rows:
        marker = " (default)" if params == DEFAULT_KDF else ""
        print(f"| N=2^{params.log2_n}{marker} | {params.memory_bytes >> 20} MiB | {ms:,.0f} ms |")


if __name__ == "__main__":
    main()
