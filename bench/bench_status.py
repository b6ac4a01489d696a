"""Status-list benchmark: one list for all of Shanghai's 50 million licences, built, signed, loaded and queried.

Run by hand from the repository root (takes about a minute; ``--quick`` uses 5 million entries):

    python bench/bench_status.py [--entries N] [--quick] [--no-alternatives]

For 0.1 % and 1 % revoked (plus 0.01 % suspended) it prints the bytes on the wire (and per million
entries, next to the IETF Token Status List's published sizes), build time (set + compress + sign), load
time (verify + inflate + check every entry; goal <= 1 s), check time per credential (``StatusList.status``
on random indices; goal <= 2 us) and verifier memory. A second table compares wire forms on the same
entries: zlib levels, bz2, lzma, and a sparse list of varint gaps, with the time to get from the wire
back to a queryable bitstring. Ratios are measured side by side in this one run.
"""

from __future__ import annotations

import argparse
import bz2
import datetime as dt
import gc
import lzma
import random
import statistics
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from econsent import IssuerName, SigningKey, TrustedKey, TrustStore  # noqa: E402
from econsent.status import CredentialStatus, StatusListBuilder, load_status_list  # noqa: E402

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
ISSUER_REF = "cn-sh-traffic-police"
GOAL_LOAD_S = 1.0
GOAL_CHECK_US = 2.0
# draft-ietf-oauth-status-list, "Size Comparison" (1 bit per entry, zlib at the highest level), per 1 M entries.
IETF_KB_PER_MILLION = {0.001: 2.2, 0.01: 13.7}
SUSPENDED_RATE = 0.0001
CHECKS = 1_000_000


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def table(title: str, header: list[str], rows: list[list[object]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def kb(n: float) -> str:
    return f"{n / 1000:,.1f} KB"


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def marks(entries: int, rate: float, seed: int) -> tuple[list[int], list[int]]:
    """Random revoked and suspended indices (disjoint), as an issuer's registry would have them."""
    rng = random.Random(seed)
    chosen = rng.sample(range(entries), int(entries * rate) + int(entries * SUSPENDED_RATE))
    return chosen[: int(entries * rate)], chosen[int(entries * rate) :]


def varint_gaps(indices: list[int]) -> bytes:
    out = bytearray()
    previous = -1
    for index in sorted(indices):
        gap = index - previous - 1
        previous = index
        while gap >= 0x80:
            out.append((gap & 0x7F) | 0x80)
            gap >>= 7
        out.append(gap)
    return bytes(out)


def bitstring_from_gaps(data: bytes, entries: int) -> bytearray:
    """What a verifier would do with a sparse list: decode the gaps and build the bitstring to query."""
    bits = bytearray((entries + 3) // 4)
    position, gap, shift = -1, 0, 0
    for byte in data:
        gap |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        position += gap + 1
        gap = shift = 0
        bits[position >> 2] |= 1 << ((position & 3) << 1)
    return bits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=50_000_000)
    parser.add_argument("--quick", action="store_true", help="5 million entries, fewer repeats")
    parser.add_argument("--no-alternatives", action="store_true", help="skip the wire-form comparison")
    args = parser.parse_args()
    entries = 5_000_000 if args.quick else args.entries
    repeats = 3 if args.quick else 5
    millions = entries / 1_000_000

    key = SigningKey.generate("ES256")
    trust = TrustStore(
        [
            TrustedKey(
                public_key=key.public_key,
                issuer=IssuerName("上海市公安局交通警察总队", "Shanghai Traffic Police"),
                credential_types=frozenset({"driving-licence"}),
                valid_from=NOW - dt.timedelta(days=365),
                valid_until=NOW + dt.timedelta(days=365),
                issuer_id=ISSUER_REF,
            )
        ]
    )
    python = sys.version.split()[0]
    print(f"Status list of {entries:,} entries (2 bits each, zlib level 9), ES256 issuer key, Python {python}.")

    rows: list[list[object]] = []
    ratio_rows: list[list[object]] = []
    bitstrings: dict[float, bytes] = {}
    for rate in (0.001, 0.01):
        revoked, suspended = marks(entries, rate, seed=int(rate * 1e6))

        def build(revoked: list[int] = revoked, suspended: list[int] = suspended) -> bytes:
            builder = StatusListBuilder(entries)
            builder.set_many(revoked, CredentialStatus.REVOKED)
            builder.set_many(suspended, CredentialStatus.SUSPENDED)
            return builder.sign(
                key, issuer_ref=ISSUER_REF, list_id=0, sequence=1, issued_at=NOW, next_update=NOW + dt.timedelta(days=1)
            )

        start = time.perf_counter()
        builder = StatusListBuilder(entries)
        builder.set_many(revoked, CredentialStatus.REVOKED)
        builder.set_many(suspended, CredentialStatus.SUSPENDED)
        set_s = time.perf_counter() - start
        build_s = timed(build, 1 if not args.quick else 2)
        data = build()

        load_s = timed(lambda data=data: load_status_list(data, trust), repeats)
        gc.collect()
        rss_before = rss_bytes()
        tracemalloc.start()
        loaded = load_status_list(data, trust)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_delta = rss_bytes() - rss_before
        bitstrings[rate] = loaded.bitstring
        counts = loaded.counts()
        assert counts[CredentialStatus.REVOKED] == len(revoked) and counts[CredentialStatus.SUSPENDED] == len(suspended)
        assert all(loaded.status(i) is CredentialStatus.REVOKED for i in revoked[:1000])

        rng = random.Random(7)
        queries = [rng.randrange(entries) for _ in range(CHECKS)]
        check = loaded.status

        def run_checks(queries: list[int] = queries, check: Callable[[int], CredentialStatus] = check) -> None:
            for index in queries:
                check(index)

        check_us = timed(run_checks, repeats) / CHECKS * 1e6
        per_million = len(data) / millions
        ietf = IETF_KB_PER_MILLION[rate] * 1000
        rows.append(
            [
                f"{rate:.1%} revoked + {SUSPENDED_RATE:.2%} suspended",
                f"{len(data):,} B",
                kb(per_million),
                f"{set_s:.2f} s + {build_s - set_s:.2f} s",
                f"{load_s * 1000:.0f} ms",
                f"{check_us:.2f} us",
                f"{len(loaded.bitstring) / 1e6:.1f} MB",
                f"{peak / 1e6:.1f} MB / {rss_delta / 1e6:.1f} MB",
            ]
        )
        ratio_rows.append(
            [
                f"{rate:.1%}",
                f"{per_million / ietf:.2f}x IETF 1-bit ({kb(ietf)}/M)",
                f"{load_s / GOAL_LOAD_S:.3f}x goal",
                f"{check_us / GOAL_CHECK_US:.2f}x goal",
            ]
        )
        del loaded, data, builder

    table(
        f"Status list, {millions:g} M entries",
        [
            "revoked",
            "wire",
            "per 1 M entries",
            "build (set + compress & sign)",
            "load (verify + inflate + check)",
            "check / credential",
            "kept in memory",
            "load peak (tracemalloc) / RSS delta",
        ],
        rows,
    )
    table("Against the goals and the IETF Token Status List", ["revoked", "bytes", "load", "check"], ratio_rows)
    calibration()
    if not args.no_alternatives:
        alternatives(entries, bitstrings, repeats)


def calibration() -> None:
    """Reproduce the IETF 1-bit size at 1 M / 1 %, and the same entries with our 2 bits, to compare like with like."""
    revoked, _ = marks(1_000_000, 0.01, seed=99)
    one_bit = bytearray(125_000)
    two_bit = bytearray(250_000)
    for index in revoked:
        one_bit[index >> 3] |= 1 << (index & 7)
        two_bit[index >> 2] |= 1 << ((index & 3) << 1)
    table(
        "Calibration: 1 M entries, 1 % revoked, zlib level 9",
        ["layout", "compressed", "vs IETF 13.7 KB"],
        [
            [
                "1 bit per entry (IETF example)",
                f"{len(zlib.compress(one_bit, 9)):,} B",
                f"{len(zlib.compress(one_bit, 9)) / 13_700:.2f}x",
            ],
            [
                "2 bits per entry (econsent)",
                f"{len(zlib.compress(two_bit, 9)):,} B",
                f"{len(zlib.compress(two_bit, 9)) / 13_700:.2f}x",
            ],
        ],
    )


def alternatives(entries: int, bitstrings: dict[float, bytes], repeats: int) -> None:
    """Other wire forms for the same entries: size, issuer-side encode time, verifier-side decode to a bitstring.

    A 10 % row (an old list, or a mass revocation) shows how each form's decode time grows with revocations.
    """
    rows: list[list[object]] = []
    high = StatusListBuilder(entries)
    high.set_many(marks(entries, 0.1, seed=100_000)[0], CredentialStatus.REVOKED)
    bitstrings = {**bitstrings, 0.1: bytes(high._bits)}
    for rate, bits in bitstrings.items():
        chosen = None
        forms: list[tuple[str, Callable[[], bytes], Callable[[bytes], object]]] = [
            ("zlib 6", lambda bits=bits: zlib.compress(bits, 6), zlib.decompress),
            ("zlib 9 (chosen)", lambda bits=bits: zlib.compress(bits, 9), zlib.decompress),
            ("bz2 9", lambda bits=bits: bz2.compress(bits, 9), bz2.decompress),
            ("lzma 9e", lambda bits=bits: lzma.compress(bits, preset=9 | lzma.PRESET_EXTREME), lzma.decompress),
        ]
        for name, encode, decode in forms:
            start = time.perf_counter()
            wire = encode()
            encode_s = time.perf_counter() - start
            decode_s = timed(lambda wire=wire, decode=decode: decode(wire), repeats)
            if name.startswith("zlib 9"):
                chosen = len(wire)
            rows.append([f"{rate:.1%}", name, f"{len(wire):,} B", f"{encode_s:.2f} s", f"{decode_s * 1000:.0f} ms"])
        positions = sparse_positions(bits)
        start = time.perf_counter()
        wire = zlib.compress(varint_gaps(positions), 9)
        encode_s = time.perf_counter() - start
        decode_s = timed(lambda wire=wire: bitstring_from_gaps(zlib.decompress(wire), entries), 1)
        rows.append(
            [f"{rate:.1%}", "sparse varint gaps + zlib 9 (revoked only)", f"{len(wire):,} B", f"{encode_s:.2f} s",
             f"{decode_s * 1000:.0f} ms"]
        )  # fmt: skip
        assert chosen is not None
        rows.append([f"{rate:.1%}", "(sparse / chosen)", f"{len(wire) / chosen:.2f}x", "", ""])
    table(
        f"Wire forms for the same {entries / 1e6:g} M entries (decode = wire to a queryable bitstring)",
        ["revoked", "form", "wire", "encode", "decode"],
        rows,
    )


def sparse_positions(bits: bytes) -> list[int]:
    """Indices of revoked entries in a bitstring (value 1), found byte by byte only where a byte is non-zero."""
    positions = []
    start = 0
    nonzero = bits.translate(bytes([0] + [1] * 255))
    while True:
        byte = nonzero.find(1, start)
        if byte < 0:
            return positions
        value = bits[byte]
        positions.extend(4 * byte + slot for slot in range(4) if (value >> (2 * slot)) & 3 == 1)
        start = byte + 1


if __name__ == "__main__":
    main()
