"""Core benchmark: presentation size; verify, issue and scan speed as ratios to their bounds and peers.

Run by hand from the repository root:

    pip install -e '.[bench]'
    python bench/bench_core.py [--quick] [--holders N] [--frames N]

Every speed is a ratio measured in this one run, never an absolute time (the machines are noisy): the
paths compared run in rounds, each round runs a batch of every path in a fresh random order, each batch
is timed in thread CPU time (``time.thread_time_ns``: other processes and the scheduler do not count),
and a ratio is the median of the per-round ratios. Verify reads codes from ``--holders`` different
holders in turn (a counter sees a new phone with each code, so the holder key load is part of the cost),
and the signature bound cycles through the same holders. Issue is compared with a raw sign for a holder key
attested out of band (the goal), and with a raw sign plus a raw verify when the issuer checks the holder's
proof of possession (one more signature check). Two stage tables show where verify's and issue's time goes.

Reference: the driving licence in ../shared/reference/driving-licence.json (9 claims, Chinese text; a
copy ships in examples/data), an ES256 issuer, an ES256 holder key (what phone hardware offers) and a
60-second lifetime, unless a row says otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import random
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402

from econsent import (  # noqa: E402
    ATTESTED_OUT_OF_BAND,
    BUILTIN_TYPES,
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
    _disclosure,
    _envelope,
    _wire,
    present,
    prove_possession,
    qr,
)
from econsent import issue as issue_module  # noqa: E402
from econsent import verify as verify_module  # noqa: E402
from econsent.keys import Algorithm, sm2_available  # noqa: E402
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


def interleaved(cases: dict[str, Callable[[], object]], *, rounds: int, batch: int) -> dict[str, list[float]]:
    """Thread CPU seconds per call of each path, one sample per round; each round runs the paths in a random order."""
    rng = random.Random(14)
    names = list(cases)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for fn in cases.values():  # warm every path (first-call imports, caches of the type's plan)
        fn()
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            fn = cases[name]
            start = time.thread_time_ns()
            for _ in range(batch):
                fn()
            samples[name].append((time.thread_time_ns() - start) / batch / 1e9)
    return samples


def speed_ratio(samples: dict[str, list[float]], path: str, reference: str) -> float:
    """How fast ``path`` runs as a fraction of ``reference``'s speed: the median over rounds of t_ref / t_path."""
    return statistics.median(r / p for p, r in zip(samples[path], samples[reference], strict=True))


def us(samples: dict[str, list[float]], path: str) -> str:
    return f"{statistics.median(samples[path]) * 1e6:.1f}"


def met(value: float, goal: float, *, at_most: bool = False) -> str:
    return "yes" if (value <= goal if at_most else value >= goal) else "NO"


def cycle(items: Iterable[Any]) -> Callable[[], Any]:
    """The items in turn, forever (the next code from the next holder)."""
    return itertools.cycle(list(items)).__next__


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


def sd_jwt_style(document: dict[str, Any], count: int) -> Callable[[], object] | None:
    """The same 9 claims as SD-JWT presentations with key binding (the reference ``sd-jwt`` package, ES256
    issuer and holders), from ``count`` different holders, and a verifier of the next one; None when the
    package is not installed."""
    try:
        from jwcrypto.jwk import JWK
        from sd_jwt.common import SDObj
        from sd_jwt.holder import SDJWTHolder
        from sd_jwt.issuer import SDJWTIssuer
        from sd_jwt.verifier import SDJWTVerifier
    except ImportError:
        return None

    issuer_jwk = JWK.generate(kty="EC", crv="P-256")
    issuer_public = JWK.from_json(issuer_jwk.export_public())
    claims = {SDObj(name): value for name, value in document["claims"].items()}
    claims["iss"] = "https://traffic.example.cn"
    claims["exp"] = int(dt.datetime.fromisoformat(document["valid_until"]).timestamp())
    texts = []
    for _ in range(count):
        holder = JWK.generate(kty="EC", crv="P-256")
        issued = SDJWTIssuer(claims, issuer_jwk, holder_key=holder, sign_alg="ES256").sd_jwt_issuance
        wallet = SDJWTHolder(issued)
        wallet.create_presentation(
            {name: True for name in document["claims"]},
            nonce="n-1234567",
            aud="counter-7",
            holder_key=holder,
            sign_alg="ES256",
        )
        texts.append(wallet.sd_jwt_presentation)
    next_text = cycle(texts)
    names = set(document["claims"])

    def verify() -> object:
        verifier = SDJWTVerifier(
            next_text(), lambda iss, header: issuer_public, expected_aud="counter-7", expected_nonce="n-1234567"
        )
        payload = verifier.get_verified_payload()
        if payload["exp"] < NOW.timestamp() or not names <= payload.keys():
            raise AssertionError("not the licence")
        return payload

    return verify


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    parser.add_argument("--frames", type=int, default=60, help="camera frames for the scan row")
    parser.add_argument("--holders", type=int, default=512, help="different holders whose codes verify cycles through")
    args = parser.parse_args()
    rounds, batch = (15, 20) if args.quick else (41, 40)

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
    if sm2_available():  # 国密: an SM2 issuer (SM3 tree) and an SM2 holder, the same claims
        sm2_issuer, holder_sm2 = Issuer(SigningKey.generate(Algorithm.SM2)), SigningKey.generate(Algorithm.SM2)
        cred_sm2 = sm2_issuer.issue(
            "driving-licence",
            claims,
            holder_key=holder_sm2.public_key,
            possession=ATTESTED_OUT_OF_BAND,
            now=NOW,
            serial=SERIAL,
            **validity,
        )
        for profile in ("full", "driving-check"):
            text = present(cred_sm2, holder_sm2, now=NOW, lifetime=60, profile=profile)
            cases.append((f"{profile}, SM2 issuer + SM2 holder", text))
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

    # --- verify: a counter reading codes from many phones -------------------------------------------------
    text = cases[0][1]
    verifier = Verifier(trust)
    curve, ecdsa = ec.SECP256R1(), ec.ECDSA(hashes.SHA256())
    issuer_public = ec.EllipticCurvePublicKey.from_encoded_point(curve, issuer_key.public_key.raw)

    def der(signature: bytes) -> bytes:
        return encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))

    codes, bound_inputs = [], []
    for _ in range(max(256, args.holders)):
        holder = SigningKey.generate(Algorithm.ES256)
        code = present(credential_for(holder), holder, now=NOW, lifetime=60)
        wire = _wire.decode_payload(_wire.payload_from_text(code))
        assert wire.proof is not None
        # The bound signs what a credential signature covers (context, header, a 16-byte root) and checks the
        # code's own holder signature over its own bytes, loading that code's holder key: cryptography alone.
        issuer_message = _envelope.CREDENTIAL_CONTEXT + wire.header_bytes + os.urandom(16)
        issuer_der = der(issuer_key.sign(issuer_message))
        holder_message = _envelope.PRESENTATION_CONTEXT + wire.proof.signed_bytes
        bound_inputs.append(
            (issuer_message, issuer_der, holder.public_key.raw, holder_message, der(wire.proof.signature))
        )
        codes.append(code)
    next_code, next_bound = cycle(codes), cycle(bound_inputs)

    def signature_bound() -> None:
        issuer_message, issuer_der, holder_raw, holder_message, holder_der = next_bound()
        issuer_public.verify(issuer_der, issuer_message, ecdsa)
        ec.EllipticCurvePublicKey.from_encoded_point(curve, holder_raw).verify(holder_der, holder_message, ecdsa)

    def one_holder_bound() -> None:
        issuer_message, issuer_der, _, holder_message, holder_der = bound_inputs[0]
        issuer_public.verify(issuer_der, issuer_message, ecdsa)
        repeated_holder.verify(holder_der, holder_message, ecdsa)

    repeated_holder = ec.EllipticCurvePublicKey.from_encoded_point(curve, bound_inputs[0][2])
    sd_jwt_verify = sd_jwt_style(document, 256)
    verify_cases: dict[str, Callable[[], object]] = {
        "econsent": lambda: verifier.verify(next_code(), now=NOW),
        "bound": signature_bound,
        "econsent, one code repeated": lambda: verifier.verify(codes[0], now=NOW),
        "bound, one holder": one_holder_bound,
        "dcc": dcc_verify,
    }
    if sd_jwt_verify is not None:
        verify_cases["sd-jwt"] = sd_jwt_verify
    samples = interleaved(verify_cases, rounds=rounds, batch=batch)
    of_bound = speed_ratio(samples, "econsent", "bound")
    of_dcc = speed_ratio(samples, "econsent", "dcc")
    rows = [
        [
            f"econsent Verifier.verify, codes from {len(codes)} holders in turn",
            us(samples, "econsent"),
            f"{of_bound:.2f}x of the bound",
            ">= 0.60x",
            met(of_bound, 0.60),
        ],
        [
            "bound: 2 x ES256 verify + compressed P-256 holder key load (cryptography alone)",
            us(samples, "bound"),
            "1.00x",
            "",
            "",
        ],
        [
            "econsent, one code repeated (hides the key load)",
            us(samples, "econsent, one code repeated"),
            f"{speed_ratio(samples, 'econsent, one code repeated', 'bound, one holder'):.2f}x of its bound",
            "",
            "",
        ],
        ["bound for one holder (key loaded once)", us(samples, "bound, one holder"), "1.00x", "", ""],
        [
            "EU-DCC style: python-cwt + base45 + zlib (1 x ES256, no holder proof, no disclosure)",
            us(samples, "dcc"),
            f"econsent = {of_dcc:.2f}x of its speed",
            ">= 0.75x",
            met(of_dcc, 0.75),
        ],
    ]
    if sd_jwt_verify is not None:
        of_sd = speed_ratio(samples, "econsent", "sd-jwt")
        rows.append(
            [
                "SD-JWT + key binding, reference sd-jwt package, 256 holders (2 x ES256)",
                us(samples, "sd-jwt"),
                f"econsent = {of_sd:.2f}x of its speed",
                ">= 2x",
                met(of_sd, 2.0),
            ]
        )
    else:
        rows.append(
            [
                "SD-JWT + key binding: the sd-jwt package is not installed (pip install -e '.[bench]')",
                "-",
                "-",
                ">= 2x",
                "-",
            ]
        )
    table(
        f"Verify, text -> verdict ({rounds} rounds of {batch}, thread CPU time, median us and median ratio)",
        ["path", "us/verify", "speed ratio", "goal", "met"],
        rows,
    )
    verify_stages(verifier, codes, rounds=rounds, batch=batch)

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
    samples = interleaved(
        {"core": lambda: verifier.verify(text, now=NOW), "full": lambda: full_verifier.verify(with_status, now=NOW)},
        rounds=rounds,
        batch=batch,
    )
    of_core = speed_ratio(samples, "full", "core")
    table(
        "Verify with a signed trust list and a status check (one code repeated in both rows)",
        ["path", "us/verify", "speed ratio", "goal", "met"],
        [
            ["core: local trust store, no status reference", us(samples, "core"), "1.00x", "", ""],
            [
                "trust list + status list (1 M entries, 1% revoked)",
                us(samples, "full"),
                f"{of_core:.2f}x of core",
                ">= 0.95x",
                met(of_core, 0.95),
            ],
        ],
    )

    # --- issue --------------------------------------------------------------------------------------------
    issuer_private = ec.derive_private_key(int.from_bytes(os.urandom(31), "big") + 1, curve)
    sign_message = b"y" * (len(_envelope.CREDENTIAL_CONTEXT) + len(wire.header_bytes) + 16)
    holders_for_issue = cycle(SigningKey.generate(Algorithm.ES256) for _ in range(64))
    # With a proof of possession the issuer also checks the holder's signature over its challenge: one ES256
    # verify more, so that row's bound is a raw sign plus a raw verify (the holder's key object given).
    requests, proof_bounds = [], []
    for _ in range(64):
        holder = SigningKey.generate(Algorithm.ES256)
        challenge = issuer.new_challenge()
        proof = prove_possession(holder, challenge, issuer_kid=issuer.kid)
        requests.append((holder.public_key, proof, challenge))
        signed = _envelope.possession_input(issuer.kid, holder.public_key, challenge)
        holder_object = ec.EllipticCurvePublicKey.from_encoded_point(curve, holder.public_key.raw)
        proof_bounds.append((holder_object, der(proof.signature), signed))
    next_request, next_proof_bound = cycle(requests), cycle(proof_bounds)

    def issue_with_proof() -> object:
        holder_key, proof, challenge = next_request()
        return issuer.issue(
            "driving-licence",
            claims,
            holder_key=holder_key,
            possession=proof,
            challenge=challenge,
            now=NOW,
            serial=SERIAL,
            **validity,
        )

    def sign_and_verify() -> None:
        holder_object, proof_der, signed = next_proof_bound()
        issuer_private.sign(sign_message, ecdsa)
        holder_object.verify(proof_der, signed, ecdsa)

    samples = interleaved(
        {
            "issue": lambda: credential_for(holders_for_issue()),
            "sign": lambda: issuer_private.sign(sign_message, ecdsa),
            "issue, proof": issue_with_proof,
            "sign + verify": sign_and_verify,
        },
        rounds=rounds,
        batch=batch,
    )
    of_sign = speed_ratio(samples, "issue", "sign")
    of_sign_verify = speed_ratio(samples, "issue, proof", "sign + verify")
    table(
        "Issue (reference licence, ES256 holder key; the goal is for a key attested out of band)",
        ["path", "us", "speed ratio", "goal", "met"],
        [
            ["Issuer.issue", us(samples, "issue"), f"{of_sign:.2f}x of a raw sign", ">= 0.40x", met(of_sign, 0.40)],
            ["raw ES256 sign (cryptography alone)", us(samples, "sign"), "1.00x", "", ""],
            [
                "Issuer.issue with the holder's proof of possession checked",
                us(samples, "issue, proof"),
                f"{of_sign_verify:.2f}x of sign + verify",
                "",
                "",
            ],
            ["raw ES256 sign + raw ES256 verify (cryptography alone)", us(samples, "sign + verify"), "1.00x", "", ""],
        ],
    )
    issue_stages(issuer_key, credential_for, claims, holders_for_issue, rounds=rounds, batch=batch)

    # --- scan ---------------------------------------------------------------------------------------------
    scan_frames(verifier, cred_es, holder_es, args.frames)


def verify_stages(verifier: Verifier, codes: list[str], *, rounds: int, batch: int) -> None:
    """Where verify's time goes: each stage alone on the same codes, as a share of the whole verify."""
    prepared = []
    for code in codes:
        wire = _wire.decode_payload(_wire.payload_from_text(code))
        ctype = verifier._types.by_id(wire.header.type_id)
        assert ctype is not None and wire.proof is not None
        trusted = verifier._trust.get(wire.header.kid)
        assert trusted is not None
        suite = trusted.public_key.algorithm.hash_suite
        _, _, root = verify_module._disclosed_claims(wire, ctype, suite)
        prepared.append((code, wire, ctype, suite, trusted, root))
    item = cycle(prepared)

    def issuer_signature() -> None:
        _, wire, _, _, trusted, root = item()
        _envelope.verify_credential(trusted.public_key, wire.issuer_signature, wire.header_bytes, root)

    def holder_signature() -> None:
        _, wire, _, _, _, _ = item()
        key = PublicKey.from_raw(Algorithm.ES256, wire.header.holder_key)
        _envelope.verify_presentation(key, wire.proof.signature, wire.proof.signed_bytes)

    stages: dict[str, Callable[[], object]] = {
        "whole verify": lambda: verifier.verify(item()[0], now=NOW),
        "text -> payload bytes": lambda: _wire.payload_from_text(item()[0]),
        "payload bytes -> shape-checked structure (msgpack, canonical check)": lambda: _wire.decode_payload(
            _wire.payload_from_text(item()[0])
        ),
        "disclosure: covers, claim decoding, salts, root": lambda: verify_module._disclosed_claims(*item()[1:4]),
        "issuer signature (ES256)": issuer_signature,
        "holder key load + holder signature (ES256)": holder_signature,
    }
    samples = interleaved(stages, rounds=rounds, batch=batch)
    whole = statistics.median(samples["whole verify"])
    parts = {name: statistics.median(times) for name, times in samples.items() if name != "whole verify"}
    parts["payload bytes -> shape-checked structure (msgpack, canonical check)"] -= parts["text -> payload bytes"]
    rest = whole - sum(parts.values())
    rows = [[name, f"{t * 1e6:.1f}", f"{t / whole:.0%}"] for name, t in parts.items()]
    rows.append(
        ["the rest: type, trust, validity, freshness, binding, the Verdict", f"{rest * 1e6:.1f}", f"{rest / whole:.0%}"]
    )
    rows.append(["whole verify", f"{whole * 1e6:.1f}", "100%"])
    table("Where verify's time goes (median us per stage, each measured alone)", ["stage", "us", "share"], rows)


def issue_stages(
    issuer_key: SigningKey,
    credential_for: Callable[..., Any],
    claims: dict[str, Any],
    holders: Callable[[], SigningKey],
    *,
    rounds: int,
    batch: int,
) -> None:
    """Where issue's time goes: each stage alone on the reference licence, as a share of the whole issue."""
    ctype = BUILTIN_TYPES.by_name("driving-licence")
    assert ctype is not None
    wire_claims, _ = issue_module._checked_claims(ctype, claims)
    present = sum(1 << index for index in wire_claims)
    packed = {index: _wire.pack(value) for index, value in wire_claims.items()}
    message = _envelope.CREDENTIAL_CONTEXT + bytes(150)
    stages: dict[str, Callable[[], object]] = {
        "whole issue": lambda: credential_for(holders()),
        "claims -> wire values (kinds, limits, GB18030 compact text)": lambda: issue_module._checked_claims(
            ctype, claims
        ),
        "pack each value (msgpack)": lambda: [_wire.pack(value) for value in wire_claims.values()],
        "salts and tree root (4 x SHA-512, 13 x SHA-256)": lambda: _disclosure.commit(
            len(ctype.claims), present, os.urandom(16), packed
        ),
        "issuer signature (SigningKey.sign: ES256, DER -> r || s)": lambda: issuer_key.sign(message),
    }
    samples = interleaved(stages, rounds=rounds, batch=batch)
    whole = statistics.median(samples["whole issue"])
    parts = {name: statistics.median(times) for name, times in samples.items() if name != "whole issue"}
    rest = whole - sum(parts.values())
    rows = [[name, f"{t * 1e6:.1f}", f"{t / whole:.0%}"] for name, t in parts.items()]
    rows.append(
        [
            "the rest: times, holder key, header, credential bytes, the Credential",
            f"{rest * 1e6:.1f}",
            f"{rest / whole:.0%}",
        ]
    )
    rows.append(["whole issue", f"{whole * 1e6:.1f}", "100%"])
    table("Where issue's time goes (median us per stage, each measured alone)", ["stage", "us", "share"], rows)


def scan_frames(verifier: Verifier, credential: Any, holder: SigningKey, count: int) -> None:
    """The scan pipeline against one plain zxing-cpp QR-only pass, on the same numpy BGR camera frames."""
    import numpy as np
    import zxingcpp
    from camera import camera_frame

    frames = []
    for seed in range(count):
        image = camera_frame(present(credential, holder, now=NOW, lifetime=60), seed=seed, px_per_module=4.0)
        frames.append(np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1]))  # as OpenCV delivers
    qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    found = {"pipeline": 0, "zxing": 0, "verified": 0}
    rows_ms: dict[str, list[float]] = {"pipeline": [], "zxing": [], "pipeline + verify": []}
    for frame in frames:  # interleaved per frame, in a random order
        jobs: list[tuple[str, Callable[[], object]]] = [
            ("pipeline", lambda frame=frame: qr.scan(frame, deadline=None)),
            ("zxing", lambda frame=frame: zxingcpp.read_barcodes(frame, formats=qr_only)),
        ]
        random.shuffle(jobs)
        for name, job in jobs:
            start = time.thread_time_ns()
            result = job()
            rows_ms[name].append((time.thread_time_ns() - start) / 1e6)
            found[name] += bool(result)
        start = time.thread_time_ns()
        texts = qr.scan(frame, deadline=None)
        if texts:
            try:
                verifier.verify(texts[0], now=NOW)
                found["verified"] += 1
            except Exception:
                pass
        rows_ms["pipeline + verify"].append((time.thread_time_ns() - start) / 1e6)
    ratios = [p / z for p, z in zip(rows_ms["pipeline"], rows_ms["zxing"], strict=True)]
    ratio = statistics.median(rows_ms["pipeline"]) / statistics.median(rows_ms["zxing"])
    table(
        f"Scan a 1280x720 BGR camera frame, 4 px/module ({count} frames, thread CPU ms)",
        ["path", "read", "median ms", "p95 ms", "ratio", "goal", "met"],
        [
            [
                "econsent.qr.scan (in process)",
                f"{found['pipeline'] / count:.0%}",
                *ms_cells(rows_ms["pipeline"]),
                f"{ratio:.2f}x of zxing (per-frame median {statistics.median(ratios):.2f}x)",
                "<= 1.2x",
                met(ratio, 1.2, at_most=True),
            ],
            [
                "one plain zxing-cpp QR-only pass on the array",
                f"{found['zxing'] / count:.0%}",
                *ms_cells(rows_ms["zxing"]),
                "1.00x",
                "",
                "",
            ],
            [
                "scan + Verifier.verify",
                f"{found['verified'] / count:.0%}",
                *ms_cells(rows_ms["pipeline + verify"]),
                "",
                "",
                "",
            ],
        ],
    )


def ms_cells(times: list[float]) -> list[str]:
    ordered = sorted(times)
    return [f"{statistics.median(ordered):.2f}", f"{ordered[int(0.95 * (len(ordered) - 1))]:.2f}"]


if __name__ == "__main__":
    main()
