"""SM2 benchmark (issue 17): SM2 sign and verify rates side by side with ES256 and Ed25519, in one run.

Run by hand from the repository root:

    pip install -e '.[sm]'
    python bench/bench_sm2.py [--quick]

Every path runs in rounds; each round runs a batch of every path in a fresh random order, timed in thread
CPU time; a rate is the median over rounds, a ratio the median of the per-round ratios to ES256 (the
machine is shared and noisy: read the ratios). Rows:

* raw signatures over a 100-byte message (SM2 through econsent's keys, i.e. Z and SM3 included);
* the whole counter check (``Verifier.verify``) of the reference driving licence, driving-check profile,
  for an ES256 issuer and holder, and for an SM2 issuer and holder (SM3 tree, salts and fingerprint);
* the other SM2 candidates of issue 17 when they are importable (``tongsuopy``, pure-Python ``gmssl``),
  through their own APIs, for the choice of library.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from econsent import Issuer, SigningKey, TrustedKey, TrustStore, Verifier, present, prove_possession
from econsent.model import IssuerName

REFERENCE = Path(__file__).resolve().parent.parent / "examples" / "data" / "driving-licence.json"
NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
MESSAGE = bytes(range(100))


def _licence_check(algorithm: str) -> Callable[[], object]:
    """A counter verifying fresh codes of the reference licence, issuer and holder both ``algorithm``."""
    document = json.loads(REFERENCE.read_text(encoding="utf-8"))
    claims = dict(document["claims"])
    for name in ("birth_date", "issue_date", "expiry_date"):
        claims[name] = dt.date.fromisoformat(claims[name])
    office, phone = SigningKey.generate(algorithm), SigningKey.generate(algorithm)
    issuer = Issuer(office)
    challenge = issuer.new_challenge()
    credential = issuer.issue(
        "driving-licence",
        claims,
        holder_key=phone.public_key,
        possession=prove_possession(phone, challenge, issuer_kid=issuer.kid),
        challenge=challenge,
        valid_from=NOW,
        valid_until=NOW + dt.timedelta(days=365),
        now=NOW,
        derive=["age_over_18"],
    )
    text = present(credential, phone, now=NOW, profile="driving-check", issuer_algorithm=algorithm)
    trusted = TrustedKey(
        public_key=office.public_key,
        issuer=IssuerName("上海市公安局", "Shanghai PSB"),
        credential_types=frozenset({"driving-licence"}),
        valid_from=NOW - dt.timedelta(days=1),
        valid_until=NOW + dt.timedelta(days=365),
    )
    verifier = Verifier(TrustStore([trusted]))
    return lambda: verifier.verify(text, now=NOW)


def _paths() -> dict[str, tuple[str, Callable[[], object]]]:
    """name -> (the ES256 row it is compared with, the callable)."""
    paths: dict[str, tuple[str, Callable[[], object]]] = {}
    for algorithm in ("ES256", "Ed25519", "SM2"):
        key = SigningKey.generate(algorithm)
        signature = key.sign(MESSAGE)
        paths[f"{algorithm} sign"] = ("ES256 sign", lambda key=key: key.sign(MESSAGE))
        paths[f"{algorithm} verify"] = (
            "ES256 verify",
            lambda key=key, signature=signature: key.public_key.verify(signature, MESSAGE),
        )
    for algorithm in ("ES256", "SM2"):
        paths[f"licence check, {algorithm} issuer and holder"] = (
            "licence check, ES256 issuer and holder",
            _licence_check(algorithm),
        )
    paths.update(_candidates())
    return paths


def _candidates() -> dict[str, tuple[str, Callable[[], object]]]:
    """The other libraries issue 17 names, when installed (not dependencies of econsent)."""
    found: dict[str, tuple[str, Callable[[], object]]] = {}
    try:
        from tongsuopy.crypto import hashes as tongsuo_hashes  # type: ignore[import-not-found]
        from tongsuopy.crypto.asymciphers import ec as tongsuo_ec  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        algorithm = tongsuo_ec.ECDSA(tongsuo_hashes.SM3())
        private = tongsuo_ec.generate_private_key(tongsuo_ec.SM2())
        der = private.sign(MESSAGE, algorithm)
        found["tongsuopy SM2 sign (fixed user ID)"] = ("ES256 sign", lambda: private.sign(MESSAGE, algorithm))
        found["tongsuopy SM2 verify (fixed user ID)"] = (
            "ES256 verify",
            lambda: private.public_key().verify(der, MESSAGE, algorithm),
        )
    try:
        from gmssl import sm2 as pure_sm2  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        from econsent.keys import _Sm2Private

        pair = _Sm2Private(12345)  # the pure library takes the key pair as hex
        pure = pure_sm2.CryptSM2(private_key=f"{pair.d:064x}", public_key=pair.public.uncompressed.hex())
        pure_signature = pure.sign_with_sm3(MESSAGE)
        found["gmssl (pure Python) SM2 sign"] = ("ES256 sign", lambda: pure.sign_with_sm3(MESSAGE))
        found["gmssl (pure Python) SM2 verify"] = (
            "ES256 verify",
            lambda: pure.verify_with_sm3(pure_signature, MESSAGE),
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    rounds, seconds = (5, 0.05) if args.quick else (15, 0.2)
    paths = _paths()
    batches = {name: max(1, int(seconds / _once(fn))) for name, (_, fn) in paths.items()}
    rates: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        order = list(paths)
        random.shuffle(order)
        for name in order:
            fn, count = paths[name][1], batches[name]
            start = time.thread_time_ns()
            for _ in range(count):
                fn()
            rates[name].append(count / ((time.thread_time_ns() - start) / 1e9))
    print(f"# SM2 benchmark: {rounds} interleaved rounds, thread CPU time; ratio = median of per-round ratios")
    print(f"{'path':52} {'per second':>12} {'ratio to ES256':>15}")
    for name, (baseline, _) in paths.items():
        ratio = statistics.median(a / b for a, b in zip(rates[name], rates[baseline], strict=True))
        print(f"{name:52} {statistics.median(rates[name]):12,.0f} {ratio:15.3f}")


def _once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return max(time.perf_counter() - start, 1e-6)


if __name__ == "__main__":
    main()
