"""HSM benchmark: signatures per second through a PKCS#11 token (SoftHSM2) against the in-memory key.

Run by hand from the repository root (needs the ``hsm`` extra and the Debian package softhsm2):

    python bench/bench_hsm.py [--rounds 15] [--batch 500]

It initialises its own SoftHSM2 token in a temporary folder, makes an ES256 and an Ed25519 key on it, and
times, single-threaded, batches of ``--batch`` signatures of a 300-byte message by four paths per algorithm:
the ``Pkcs11Signer``, the same followed by a verification of each signature (what checking every token
signature would cost), the in-memory ``SigningKey``, and python-pkcs11's raw call alone (the floor of the
token path). Each round runs every path once, in random order; the table shows median rates and the
median of the per-round ratios, so the machine's noise hits every path alike.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import hashlib  # noqa: E402

import pkcs11  # noqa: E402
import softhsm  # noqa: E402

from econsent import SigningKey  # noqa: E402
from econsent.hsm import Pkcs11Signer  # noqa: E402

MESSAGE = bytes(range(256)) + bytes(44)  # about the size of a credential's signed bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        hsm = softhsm.start(Path(folder))
        print(f"SoftHSM2 module {hsm.module}; {args.rounds} rounds of {args.batch} signatures, single-threaded")
        print(f"{'algorithm':<9} {'path':<22} {'sig/s (median)':>15} {'ratio to in-memory':>19}")
        for algorithm in ("ES256", "Ed25519"):
            _bench(hsm, algorithm, args.rounds, args.batch)


def _bench(hsm: softhsm.SoftHsm, algorithm: str, rounds: int, batch: int) -> None:
    uri = hsm.generate(algorithm, f"bench-{algorithm}")
    token = Pkcs11Signer(uri, pin=hsm.pin).open()
    memory = SigningKey.generate(algorithm)
    raw_key = token._key  # python-pkcs11's own object: the floor under the signer's work
    mechanism = pkcs11.Mechanism.ECDSA if algorithm == "ES256" else pkcs11.Mechanism.EDDSA
    prehash = algorithm == "ES256"

    def raw_sign(data: bytes) -> bytes:
        return bytes(raw_key.sign(hashlib.sha256(data).digest() if prehash else data, mechanism=mechanism))

    def sign_and_verify(data: bytes) -> bytes:
        signature = token.sign(data)
        assert token.public_key.verify(signature, data)
        return signature

    paths: dict[str, Callable[[bytes], bytes]] = {
        "Pkcs11Signer": token.sign,
        "Pkcs11Signer + verify": sign_and_verify,
        "python-pkcs11 raw": raw_sign,
        "SigningKey (memory)": memory.sign,
    }
    rates: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        order = list(paths)
        random.shuffle(order)
        for name in order:
            sign = paths[name]
            start = time.perf_counter()
            for _ in range(batch):
                sign(MESSAGE)
            rates[name].append(batch / (time.perf_counter() - start))
    for name in paths:
        ratios = [
            rate / memory_rate for rate, memory_rate in zip(rates[name], rates["SigningKey (memory)"], strict=True)
        ]
        print(f"{algorithm:<9} {name:<22} {statistics.median(rates[name]):>15,.0f} {statistics.median(ratios):>18.2f}x")
    token.close()


if __name__ == "__main__":
    main()
