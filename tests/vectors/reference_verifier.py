"""The reference verifier command of the conformance protocol (tests/vectors/README.md, "Conformance").

    python tests/vectors/reference_verifier.py VECTOR.json [VECTOR.json ...]

For each vector file, in the order given, prints one JSON line: ``{"file": <path as given>, "results":
[...], "lists": [...]}`` (see the README for every field). Verdicts come from econsent's public API
(``Verifier``, ``TrustStore``, ``TrustLists``, ``load_status_list``, ``Issuer``); the failing stage is
read off the step table of docs/SPEC.md section 7, which needs the codec stages for the three codes
that more than one stage can give (``TOO_LARGE``, ``UNSUPPORTED_VERSION``, ``MALFORMED``).
A file that cannot be read or run gives ``{"file": ..., "error": "..."}``; the command still exits 0.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from econsent import (
    BUILTIN_TYPES,
    Algorithm,
    ClaimKind,
    ClaimSpec,
    CredentialType,
    EconsentError,
    Issuer,
    MemoryReplayCache,
    Policy,
    PossessionError,
    PossessionProof,
    PublicKey,
    SigningKey,
    StatusListCache,
    StatusListError,
    TrustLists,
    TrustStore,
    TypeRegistry,
    VerificationError,
    Verifier,
    load_status_list,
)
from econsent._wire import decode_payload, payload_from_text
from econsent.keys import HashSuite
from econsent.model import claims_to_json
from econsent.trust import TrustListError
from econsent.verify import _disclosed_claims

STAGES = ("text", "payload", "issuer_signature", "validity", "holder_signature", "freshness", "policy")

# SPEC 7: the stage of every step, by the code only that step gives. TOO_LARGE, UNSUPPORTED_VERSION and
# MALFORMED come from several steps; stage_of finds which.
STAGE_OF_CODE = {
    "UNKNOWN_TYPE": "payload",
    "UNKNOWN_KEY": "issuer_signature",
    "ALGORITHM_NOT_ALLOWED": "issuer_signature",
    "TYPE_NOT_ALLOWED": "issuer_signature",
    "KEY_COMPROMISED": "issuer_signature",
    "KEY_NOT_VALID": "issuer_signature",
    "TRUST_LIST_EXPIRED": "issuer_signature",
    "BAD_ISSUER_SIGNATURE": "issuer_signature",
    "NOT_YET_VALID": "validity",
    "EXPIRED": "validity",
    "REVOKED": "validity",
    "SUSPENDED": "validity",
    "STATUS_UNKNOWN": "validity",
    "STATUS_STALE": "validity",
    "BEARER_REFUSED": "holder_signature",
    "MISSING_HOLDER_PROOF": "holder_signature",
    "BAD_HOLDER_SIGNATURE": "holder_signature",
    "LIFETIME_TOO_LONG": "freshness",
    "PRESENTATION_FROM_FUTURE": "freshness",
    "STALE_PRESENTATION": "freshness",
    "NONCE_MISMATCH": "policy",
    "AUDIENCE_MISMATCH": "policy",
    "MISSING_CLAIMS": "policy",
    "REPLAYED": "policy",
}


def build_policy(document: Mapping[str, Any]) -> Policy:
    """A Policy from the vector's ``policy`` object (SPEC 7.2: field names and defaults)."""
    fields = dict(document)
    for name in ("issuer_algorithms", "holder_algorithms"):
        if name in fields:
            fields[name] = frozenset(Algorithm(alg) for alg in fields[name])
    return Policy(**fields)


def build_types(documents: Sequence[Mapping[str, Any]]) -> TypeRegistry:
    """The built-in types plus the vector's custom type definitions (SPEC 5.3)."""
    return BUILTIN_TYPES.with_types(
        *(
            CredentialType(
                name=doc["name"],
                type_id=doc["type_id"],
                claims=tuple(ClaimSpec(claim["name"], ClaimKind(claim["kind"])) for claim in doc["claims"]),
                profiles=doc["profiles"],
            )
            for doc in documents
        )
    )


def stage_of(result: str, text: str, types: TypeRegistry) -> str | None:
    """The stage (SPEC 7) whose step gave ``result`` for ``text``; None for a valid code."""
    if result == "valid":
        return None
    if result in STAGE_OF_CODE:
        return STAGE_OF_CODE[result]
    try:
        payload = payload_from_text(text)
    except VerificationError:
        return "text"  # steps 1-3a
    try:
        wire = decode_payload(payload)
    except VerificationError:
        return "payload"  # steps 3b-3d
    ctype = types.by_id(wire.header.type_id)
    assert ctype is not None, "an unknown type stops at step 4"
    try:
        _disclosed_claims(wire, ctype, HashSuite.SHA2)  # its structure checks are the same in every suite
    except VerificationError:
        return "issuer_signature"  # step 10
    return "holder_signature"  # step 15, the last step that gives MALFORMED


def verdict(verifier: Verifier, text: str, now: int, nonce: bytes | None, types: TypeRegistry) -> dict[str, Any]:
    try:
        found = verifier.verify(text, now=now, nonce=nonce)
    except VerificationError as exc:
        return {"result": exc.code.value, "stage": stage_of(exc.code.value, text, types)}
    return {
        "result": "valid",
        "stage": None,
        "claims": claims_to_json(found.claims),
        "withheld": list(found.withheld),
    }


def trust_lists(vector: Mapping[str, Any], lists: list[str]) -> TrustStore:
    """The verifier's keys: the held trust list (then the refused ones offered after it), or the trust store."""
    if "trust_list" not in vector and "refused_trust_lists" not in vector:
        return TrustStore.from_json(vector["trust_store"])
    anchors = (vector.get("trust_list") or vector["refused_trust_lists"])["anchors"]
    held = TrustLists([PublicKey.from_pem(pem) for pem in anchors])
    offered = [vector["trust_list"]["file"]] if "trust_list" in vector else []
    offered += [entry["file"] for entry in vector.get("refused_trust_lists", {}).get("lists", [])]
    for document in offered:
        try:
            held.update(json.dumps(document).encode())
            lists.append("accepted")
        except TrustListError as exc:
            lists.append(exc.code.value)
    return held.store() if "trust_list" in vector else TrustStore.from_json(vector["trust_store"])


def run_credential_vector(vector: Mapping[str, Any]) -> dict[str, Any]:
    lists: list[str] = []
    trust = trust_lists(vector, lists)
    held = StatusListCache()
    offered = [*vector.get("status_lists", []), *(entry["file"] for entry in vector.get("refused_status_lists", []))]
    status_outcomes = []
    for data in offered:
        try:
            held.add(load_status_list(bytes.fromhex(data), trust))
            status_outcomes.append("accepted")
        except StatusListError as exc:
            status_outcomes.append(exc.code.value)
    types = build_types(vector.get("types", []))
    verifier = Verifier(
        trust,
        build_policy(vector["policy"]),
        types=types,
        replay_cache=MemoryReplayCache() if vector["type"] == "replay" else None,
        status_lists=held,
    )
    nonce = None if vector["nonce"] is None else bytes.fromhex(vector["nonce"])
    layers = vector["layers"]
    texts = layers["texts"] if vector["type"] == "replay" else [layers["text"]]
    results = [verdict(verifier, text, vector["now"], nonce, types) for text in texts]
    return {"results": results, "lists": lists + status_outcomes}


def run_possession_vector(vector: Mapping[str, Any]) -> dict[str, Any]:
    """What an issuer decides with the vector's issuer key, holder key, challenge and proof (SPEC 6.2)."""
    issuer_pem = next(k["private_pem"] for k in vector["test_keys"].values() if k["kid"] == vector["issuer_kid"])
    holder = vector["holder_key"]
    try:
        Issuer(SigningKey.from_pem(issuer_pem)).issue(
            "driving-licence",
            {"family_name": "张"},
            holder_key=PublicKey.from_raw(Algorithm(holder["algorithm"]), bytes.fromhex(holder["raw_hex"])),
            possession=PossessionProof.from_json(vector["proof"]),
            challenge=bytes.fromhex(vector["challenge_hex"]),
            valid_from=1_700_000_000,
            valid_until=1_800_000_000,
            now=1_700_000_000,
        )
    except PossessionError as exc:
        return {"results": [{"result": exc.code.value}], "lists": []}
    return {"results": [{"result": "valid"}], "lists": []}


def run(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            vector = json.load(handle)
        outcome = run_possession_vector(vector) if "challenge_hex" in vector else run_credential_vector(vector)
    except (OSError, ValueError, KeyError, TypeError, EconsentError) as exc:
        return {"file": path, "error": f"{type(exc).__name__}: {exc}"}
    return {"file": path, **outcome}


def main(argv: Sequence[str]) -> int:
    for path in argv:
        print(json.dumps(run(path), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
