"""Core benchmark: presentation size, verify and issue rates, scan + verify of a camera frame.

Run by hand from the repository root (numbers vary with the machine; compare the ratios, which are
measured side by side in this one run):

    pip install -e '.[bench]'
    python bench/bench_core.py [--quick]

Reference: the driving licence in ../shared/reference/driving-licence.json (9 claims, Chinese text; a
copy ships in examples/data), an ES256 issuer, an ES256 holder key (what phone hardware offers) and a
60-second lifetime, unless a row says otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from econsent import (  # noqa: E402
    ATTESTED_OUT_OF_BAND,
    CredentialStatus,
    Issuer,
    IssuerName,
    PublicKey,
    SigningKey,
    StatusListCache,
    StatusReference,
    TrustedKey,
    TrustLists,
    TrustStore,
    Verifier,
    _envelope,
    _wire,
    present,
    qr,
)
from econsent.keys import Algorithm  # noqa: E402
from econsent.status import StatusListBuilder, load_status_list  # noqa: E402
from econsent.trust import sign_trust_list  # noqa: E402

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
SERIAL = 31_000_123  # a registry-assigned serial; a random default serial costs 4 bytes more


def reference() -> dict[str, Any]:
    shared = ROOT.parent / "shared" / "reference" / "driving-licence.json"
    path = shared if shared.exists() else ROOT / "examples" / "data" / "driving-licence.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def claims_of(document: dict[str, Any]) -> dict[str, Any]:
    claims = dict(document["claims"])
    for name in ("birth_date", "issue_date", "expiry_date"):
        claims[name] = dt.date.fromisoformat(claims[name])
    return claims


def timed_pair(
    first: Callable[[], object], second: Callable[[], object], number: int, repeats: int = 9
) -> tuple[float, float]:
    """Seconds per call of two paths, batches interleaved so that machine noise hits both alike (fastest batch)."""
    a, b = [], []
    for _ in range(repeats):
        for fn, samples in ((first, a), (second, b)):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples.append((time.perf_counter() - start) / number)
    return min(a), min(b)


def table(title: str, header: list[str], rows: list[list[object]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def machinery_bytes(text: str) -> int:
    """Bytes spent on disclosure: the seeds and node hashes with their msgpack framing."""
    wire = _wire.decode_payload(_wire.payload_from_text(text))
    return len(_wire.pack(wire.seeds)) + len(_wire.pack(wire.nodes))


def dcc_style(document: dict[str, Any], key: SigningKey) -> tuple[str, Callable[[], object]]:
    """The same claims as an EU-DCC-style HC1 code (CWT in COSE_Sign1 ES256, zlib, Base45) and its verifier."""
    import base45
    import cwt
    from cwt import COSEKey

    claims = document["claims"]
    payload = {
        1: "CN",
        4: int(dt.datetime.fromisoformat(document["valid_until"]).timestamp()),
        6: int(NOW.timestamp()),
        -260: {
            1: {
                "fn": claims["family_name"],
                "gn": claims["given_name"],
                "dob": claims["birth_date"],
                "ln": claims["licence_number"],
                "vc": claims["vehicle_classes"],
                "id": claims["issue_date"],
                "ed": claims["expiry_date"],
                "ia": claims["issuing_authority"],
                "ad": claims["address"],
            }
        },
    }
    pem = key.to_pem()
    private = COSEKey.from_pem(pem, alg="ES256", kid=key.public_key.kid)
    public = COSEKey.from_pem(key.public_key.to_pem(), alg="ES256", kid=key.public_key.kid)
    token = cwt.encode(payload, private)
    text = "HC1:" + base45.b45encode(zlib.compress(token, 9)).decode("ascii")

    def verify() -> object:
        raw = zlib.decompress(base45.b45decode(text[4:]), bufsize=4096)
        decoded = cwt.decode(raw, public)
        if decoded[4] < NOW.timestamp():
            raise AssertionError("expired")
        return decoded[-260][1]

    return text, verify


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    parser.add_argument("--frames", type=int, default=60, help="camera frames for the scan row")
    args = parser.parse_args()
    n = 300 if args.quick else 2000

    document = reference()
    claims = claims_of(document)
    issuer_key = SigningKey.generate(Algorithm.ES256)
    issuer = Issuer(issuer_key)
    trust = TrustStore(
        [
            TrustedKey(
                issuer_key.public_key,
                IssuerName(document["issuer"]["name"]),
                frozenset({"driving-licence"}),
                NOW - dt.timedelta(days=1),
                NOW + dt.timedelta(days=3650),
            )
        ]
    )
    validity = {
        "valid_from": dt.datetime.fromisoformat(document["valid_from"]),
        "valid_until": dt.datetime.fromisoformat(document["valid_until"]),
    }

    def credential_for(holder: SigningKey | None, **extra: Any) -> Any:
        return issuer.issue(
            "driving-licence",
            claims,
            holder_key=None if holder is None else holder.public_key,
            possession=None if holder is None else ATTESTED_OUT_OF_BAND,  # the sizes measured, not the proof
            now=NOW,
            serial=SERIAL,
            **validity,
            **extra,
        )

    holder_es = SigningKey.generate(Algorithm.ES256)
    holder_ed = SigningKey.generate(Algorithm.ED25519)
    cred_es = credential_for(holder_es)

    print(f"# econsent core benchmark ({'quick' if args.quick else 'full'} run)")
    print("Reference driving licence, ES256 issuer; ratios are measured in this run.")

    # --- sizes ---------------------------------------------------------------------------------------
    rows: list[list[object]] = []
    cases: list[tuple[str, str]] = []
    for profile in ("full", "driving-check", "name"):
        cases.append((f"{profile}, ES256 holder", present(cred_es, holder_es, now=NOW, lifetime=60, profile=profile)))
    cases.append(("full, Ed25519 holder", present(credential_for(holder_ed), holder_ed, now=NOW)))
    cases.append(("full, bearer (printed)", present(credential_for(None), None, now=NOW)))
    derived = credential_for(holder_es, derive=["age_over_18"])
    cases.append(("age-check (age_over_18 only)", present(derived, holder_es, now=NOW, profile="age-check")))
    dcc_text, dcc_verify = dcc_style(document, issuer_key)
    for label, text in cases:
        size = len(_wire.payload_from_text(text))
        mech = machinery_bytes(text)
        rows.append(
            [
                label,
                size,
                len(text),
                qr.qr_version(text, ecc="L"),
                qr.qr_version(text, ecc="M"),
                qr.qr_version(text, ecc="Q"),
                mech,
                f"{mech / size:.1%}",
            ]
        )
    rows.append(
        [
            "EU-DCC style HC1 (no holder binding)",
            "-",
            len(dcc_text),
            qr.qr_version(dcc_text, ecc="L"),
            qr.qr_version(dcc_text, ecc="M"),
            qr.qr_version(dcc_text, ecc="Q"),
            "-",
            "-",
        ]
    )
    table(
        "Presentation size (goal: full <= v14 at M, driving-check <= v13 at M)",
        ["presentation", "payload B", "text chars", "v@L", "v@M", "v@Q", "disclosure B", "disclosure share"],
        rows,
    )

    # --- verify rate -----------------------------------------------------------------------------------
    text = cases[0][1]
    verifier = Verifier(trust)
    wire = _wire.decode_payload(_wire.payload_from_text(text))
    assert wire.proof is not None
    issuer_message = b"x" * (len(_envelope.CREDENTIAL_CONTEXT) + len(wire.header_bytes) + 16)
    issuer_sig = issuer_key.sign(issuer_message)
    holder_raw = holder_es.public_key.raw
    proof = wire.proof

    def signature_checks() -> None:
        issuer_key.public_key.verify(issuer_sig, issuer_message)
        holder = PublicKey.from_raw(Algorithm.ES256, holder_raw)
        holder.verify(proof.signature, _envelope.PRESENTATION_CONTEXT + proof.signed_bytes)

    t_verify, t_bound = timed_pair(lambda: verifier.verify(text, now=NOW), signature_checks, n // 4)
    _, t_dcc = timed_pair(lambda: verifier.verify(text, now=NOW), dcc_verify, n // 4)
    table(
        "Verify rate, text -> verdict (goal: >= 0.85x the signature-check bound)",
        ["path", "verifies/s", "us/verify", "ratio"],
        [
            [
                "econsent full verify (2 x ES256 + holder key load + everything)",
                f"{1 / t_verify:,.0f}",
                f"{t_verify * 1e6:.1f}",
                f"{t_bound / t_verify:.2f}x of bound",
            ],
            ["signature checks alone (the bound)", f"{1 / t_bound:,.0f}", f"{t_bound * 1e6:.1f}", "1.00x"],
            [
                "EU-DCC style, cwt + base45 + zlib (1 x ES256, no holder proof)",
                f"{1 / t_dcc:,.0f}",
                f"{t_dcc * 1e6:.1f}",
                f"econsent = {t_dcc / t_verify:.2f}x of it",
            ],
        ],
    )

    # --- verify with a signed trust list and a status check ------------------------------------------------
    anchor = SigningKey.generate(Algorithm.ES256)
    listed_key = TrustedKey(issuer_key.public_key, IssuerName(document["issuer"]["name"]),
                            frozenset({"driving-licence"}), NOW - dt.timedelta(days=1),
                            NOW + dt.timedelta(days=3650), issuer_id="sh-traffic")  # fmt: skip
    lists = TrustLists([anchor.public_key])
    listed = sign_trust_list(TrustStore([listed_key]), anchor, name="shanghai", sequence=1,
                             issued_at=NOW - dt.timedelta(hours=1), next_update=NOW + dt.timedelta(days=1))  # fmt: skip
    lists.update(listed)
    builder = StatusListBuilder(1_000_000)
    builder.set_many(range(0, 1_000_000, 100), CredentialStatus.REVOKED)
    status_cache = StatusListCache()
    status_cache.add(load_status_list(builder.sign(issuer_key, issuer_ref="sh-traffic", list_id=0, sequence=1,
                                                   issued_at=NOW - dt.timedelta(hours=1),
                                                   next_update=NOW + dt.timedelta(days=1)), lists.store()))  # fmt: skip
    with_status = present(credential_for(holder_es, status=StatusReference(0, 123_457)), holder_es, now=NOW)
    full_verifier = Verifier(lists.store(), status_lists=status_cache)
    assert full_verifier.verify(with_status, now=NOW).trust_list == "shanghai#1"
    t_core, t_full = timed_pair(
        lambda: verifier.verify(text, now=NOW), lambda: full_verifier.verify(with_status, now=NOW), n // 4
    )
    table(
        "Verify with a signed trust list and a status check (goal: >= 0.95x the core verify rate)",
        ["path", "verifies/s", "us/verify", "ratio"],
        [
            ["core: local trust store, no status reference", f"{1 / t_core:,.0f}", f"{t_core * 1e6:.1f}", "1.00x"],
            [
                "trust list + status list (1 M entries, 1% revoked)",
                f"{1 / t_full:,.0f}",
                f"{t_full * 1e6:.1f}",
                f"{t_core / t_full:.2f}x of core",
            ],
        ],
    )

    # --- issue rate --------------------------------------------------------------------------------------
    message = b"y" * 300
    t_issue, t_sign = timed_pair(lambda: credential_for(holder_es), lambda: issuer_key.sign(message), n // 4)
    table(
        "Issue rate (goal: >= 0.85x the raw signing rate)",
        ["path", "per s", "us", "ratio"],
        [
            [
                "Issuer.issue (reference licence)",
                f"{1 / t_issue:,.0f}",
                f"{t_issue * 1e6:.1f}",
                f"{t_sign / t_issue:.2f}x of raw sign",
            ],
            ["ES256 sign alone", f"{1 / t_sign:,.0f}", f"{t_sign * 1e6:.1f}", "1.00x"],
        ],
    )

    # --- scan + verify ---------------------------------------------------------------------------------------
    from camera import camera_frame

    timings, ok = [], 0
    for seed in range(args.frames):
        frame_text = present(cred_es, holder_es, now=NOW, lifetime=60)
        frame = camera_frame(frame_text, seed=seed, px_per_module=4.0)
        start = time.perf_counter()
        try:
            qr.verify_image(verifier, frame, now=NOW)
            ok += 1
        except Exception:
            pass
        timings.append(time.perf_counter() - start)
    timings.sort()
    table(
        "Scan + verify of a 1280x720 camera-like frame, 4 px/module, full presentation (goal: median <= 10 ms)",
        ["frames", "verified", "median ms", "p95 ms"],
        [
            [
                len(timings),
                f"{ok / len(timings):.0%}",
                f"{statistics.median(timings) * 1e3:.1f}",
                f"{timings[int(0.95 * (len(timings) - 1))] * 1e3:.1f}",
            ]
        ],
    )


if __name__ == "__main__":
    main()
