"""docs/security.md, claim by claim: every test and vector it names exists, every attacker names one, and
the claims no other file tests are tested here (exhaustively where the space is small enough).

Also keeps docs/SPEC.md's table of attack classes in step with tests/vectors/, and checks what the
vectors say about lists a verifier must refuse (tests/test_vectors.py runs their verification results).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from itertools import chain
from pathlib import Path
from typing import Any

import pytest

from econsent import (
    ATTESTED_OUT_OF_BAND,
    Credential,
    ErrorCode,
    Issuer,
    MemoryReplayCache,
    Policy,
    PublicKey,
    SigningKey,
    StatusFallback,
    TrustStore,
    VerificationError,
    Verifier,
    present,
)
from econsent.schema import DRIVING_LICENCE
from econsent.status import StatusListCache, StatusListError, load_status_list
from econsent.trust import TrustListError, TrustLists

ROOT = Path(__file__).resolve().parent.parent
SECURITY = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
SPEC = (ROOT / "docs" / "SPEC.md").read_text(encoding="utf-8")
VECTOR_DIR = ROOT / "tests" / "vectors"
VECTOR_FILES = {int(path.name[:3]): path for path in VECTOR_DIR.glob("[0-9][0-9][0-9]-*.json")}
VECTORS = {number: json.loads(path.read_text(encoding="utf-8")) for number, path in VECTOR_FILES.items()}


# --- the document names tests that exist -------------------------------------------------------------


def named_tests(text: str) -> list[str]:
    return re.findall(r"`(tests/[\w/]+\.py(?:::[\w*]+)?)`", text)


def _numbers(spec: str) -> list[int]:
    """'047, 074-076 (...)' -> [47, 74, 75, 76]."""
    spec = re.sub(r"\([^)]*\)", "", spec)
    numbers: list[int] = []
    for first, last in re.findall(r"\b(\d{3})(?:-(\d{3}))?\b", spec):
        numbers.extend(range(int(first), int(last or first) + 1))
    return numbers


def named_vectors(text: str) -> list[int]:
    runs = re.findall(r"[Vv]ectors?\s+((?:\d{3}(?:-\d{3})?(?:\s*\([^)]*\))?(?:,|\s+and)?\s*)+)", text)
    return list(chain.from_iterable(_numbers(run) for run in runs))


def _exists(reference: str) -> bool:
    path, _, name = reference.partition("::")
    file = ROOT / path
    if not file.is_file():
        return False
    if not name:
        return True
    pattern = re.escape(name.rstrip("*")) + (r"\w*" if name.endswith("*") else r"\b")
    return re.search(rf"^def {pattern}\(", file.read_text(encoding="utf-8"), flags=re.MULTILINE) is not None


def test_every_test_named_in_the_threat_model_exists() -> None:
    references = named_tests(SECURITY)
    assert len(references) > 60
    missing = [reference for reference in references if not _exists(reference)]
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"


def test_every_vector_named_in_the_threat_model_exists() -> None:
    numbers = named_vectors(SECURITY)
    assert len(set(numbers)) > 100
    assert not set(numbers) - set(VECTOR_FILES)


def attacker_sections() -> dict[str, str]:
    part = SECURITY.split("## Attackers", 1)[1].split("\n## ", 1)[0]
    sections = re.split(r"^### ", part, flags=re.MULTILINE)[1:]
    return {section.splitlines()[0]: section for section in sections}


def test_every_attacker_has_a_mitigation_a_test_and_what_is_out_of_scope() -> None:
    sections = attacker_sections()
    assert len(sections) >= 10
    for title, section in sections.items():
        if title.startswith("A curious verifier"):
            assert named_tests(section), title
            continue
        for heading in ("**Mitigation.**", "**Shown by.**", "**Out of scope.**"):
            assert heading in section, f"{title}: no {heading}"
        shown = section.split("**Shown by.**", 1)[1].split("**Out of scope.**", 1)[0]
        assert named_tests(shown) or named_vectors(shown), f"{title}: names no test"


def test_the_issue_s_attackers_are_all_in_the_threat_model() -> None:
    titles = " / ".join(attacker_sections()).lower()
    for attacker in (
        "forger",
        "editing",
        "screenshot",
        "stolen phone",
        "clock",
        "compromised",
        "trust list",
        "status list",
        "qr content",
        "privacy",
    ):
        assert attacker in titles, attacker


# --- SPEC's table of attack classes names every vector once, with its results ---------------------------


def attack_classes() -> list[tuple[str, list[int], set[str]]]:
    table = SPEC.split("<!-- attack-classes -->", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in [line for line in table.splitlines() if line.startswith("|")][2:]:
        name, numbers, results = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append((name, _numbers(numbers), set(re.findall(r"`(\w+)`", results))))
    return rows


def results_of(vector: dict[str, Any]) -> set[str]:
    expected = vector["expected"]
    return set(expected["results"]) if vector["type"] == "replay" else {expected["result"]}


def test_attack_class_table_names_every_vector_once_with_its_results() -> None:
    rows = attack_classes()
    listed = [number for _, numbers, _ in rows for number in numbers]
    assert sorted(listed) == sorted(VECTOR_FILES), "every vector in exactly one attack class"
    for name, numbers, results in rows:
        actual = set().union(*(results_of(VECTORS[number]) for number in numbers))
        assert actual == results, f"{name}: the vectors give {sorted(actual)}"


def test_every_error_code_but_no_qr_code_has_a_negative_vector() -> None:
    """NO_QR_CODE is about an image, FORMAT_NOT_SET_UP about the counter's set-up: no text can carry them."""
    covered = set().union(*map(results_of, VECTORS.values())) - {"valid"}
    assert covered == {code.value for code in ErrorCode} - {"NO_QR_CODE", "FORMAT_NOT_SET_UP"}
    negative = [number for number, vector in VECTORS.items() if results_of(vector) != {"valid"}]
    assert len(negative) >= 150


# --- malicious trust lists and status lists (the vectors' refused lists) ---------------------------------


@pytest.mark.parametrize(
    "number", sorted(n for n, v in VECTORS.items() if "refused_status_lists" in v or "refused_trust_lists" in v)
)
def test_vector_lists_are_refused_with_their_reason(number: int) -> None:
    vector = VECTORS[number]
    if "refused_trust_lists" in vector:
        refused = vector["refused_trust_lists"]
        lists = TrustLists([PublicKey.from_pem(pem) for pem in refused["anchors"]])
        if "trust_list" in vector:
            lists.update(json.dumps(vector["trust_list"]["file"]).encode())
        before = lists.held()
        for offered in refused["lists"]:
            with pytest.raises(TrustListError) as caught:
                lists.update(json.dumps(offered["file"]).encode())
            assert caught.value.code.value == offered["reason"]
        assert lists.held() == before
    if "refused_status_lists" in vector:
        trust = TrustStore.from_json(vector["trust_store"])
        cache = StatusListCache()
        for data in vector.get("status_lists", []):
            cache.add(load_status_list(bytes.fromhex(data), trust))
        before = list(cache)
        for offered in vector["refused_status_lists"]:
            with pytest.raises(StatusListError) as caught:
                cache.add(load_status_list(bytes.fromhex(offered["file"]), trust))
            assert caught.value.code.value == offered["reason"]
        assert list(cache) == before


# --- malicious QR content: every single-character change is rejected, exhaustively ----------------------


@pytest.mark.parametrize("algorithm", ["ES256", "Ed25519"])
def test_every_single_character_change_of_a_code_is_rejected(
    request: pytest.FixtureRequest, issue_licence: Any, trust: TrustStore, now: dt.datetime, algorithm: str
) -> None:
    """Every digit replaced by every other digit, every character deleted, every digit inserted anywhere:
    all ~14,000 neighbours of a nonce-bound driving-check code are rejected (tests/test_properties.py
    samples other characters too)."""
    suffix = "" if algorithm == "ES256" else "_ed25519"
    issuer, holder = (request.getfixturevalue(f"{role}{suffix}") for role in ("issuer_key", "holder_key"))
    text = present(
        issue_licence(issuer_key=issuer, holder=holder),
        holder,
        now=now,
        profile="driving-check",
        nonce=b"counter-nonce-07",
    )
    verifier = Verifier(trust)
    assert verifier.verify(text, now=now, nonce=b"counter-nonce-07")
    seen: dict[str, int] = {}
    count = 0
    for position in range(len(text) + 1):
        neighbours = [text[:position] + digit + text[position:] for digit in "0123456789"]
        if position < len(text):
            neighbours.append(text[:position] + text[position + 1 :])
            neighbours += [text[:position] + d + text[position + 1 :] for d in "0123456789" if d != text[position]]
        for neighbour in neighbours:
            if neighbour == text:  # inserting a digit next to the same digit
                continue
            with pytest.raises(VerificationError) as caught:
                verifier.verify(neighbour, now=now, nonce=b"counter-nonce-07")
            seen[caught.value.code.value] = seen.get(caught.value.code.value, 0) + 1
            count += 1
    assert count > 12_000
    assert seen.keys() <= {"MALFORMED", "UNSUPPORTED_VERSION", "BAD_HOLDER_SIGNATURE", "BAD_ISSUER_SIGNATURE"}


# --- privacy ------------------------------------------------------------------------------------------


def test_every_disclosure_of_the_reference_licence_shows_exactly_its_claims(
    issuer_key_ed25519: SigningKey,
    holder_key_ed25519: SigningKey,
    trusted_key: Any,
    licence_claims: Any,
    now: dt.datetime,
) -> None:
    """All 2^12 subsets of a licence with every claim issued: shown claims exactly, withheld ones by name only."""
    claims = {**licence_claims, "portrait": bytes(range(48))}
    credential = Issuer(issuer_key_ed25519).issue(
        "driving-licence",
        claims,
        holder_key=holder_key_ed25519.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=now,
        valid_until=now + dt.timedelta(days=1),
        now=now,
        derive=("age_over_18", "age_over_60"),
    )
    names = DRIVING_LICENCE.claim_names
    assert set(credential.claims) == set(names)
    verifier = Verifier(TrustStore([trusted_key(issuer_key_ed25519)]))
    for mask in range(2 ** len(names)):
        shown = [name for i, name in enumerate(names) if mask >> i & 1]
        verdict = verifier.verify(present(credential, holder_key_ed25519, now=now, disclose=shown), now=now)
        assert dict(verdict.claims) == {name: credential.claims[name] for name in shown}
        assert verdict.withheld == tuple(name for name in names if name not in shown)


def test_verification_logs_nothing(
    caplog: pytest.LogCaptureFixture, presentation: str, trust: TrustStore, now: dt.datetime
) -> None:
    caplog.set_level(logging.DEBUG)
    verifier = Verifier(trust, Policy(unknown_status=StatusFallback.WARN), replay_cache=MemoryReplayCache())
    verifier.verify(presentation, now=now)
    for code in (presentation, presentation[:-1], "EC1:1", "x"):
        with pytest.raises(VerificationError):
            verifier.verify(code, now=now)
    assert [record for record in caplog.records if record.name.startswith("econsent")] == []


def test_presentations_of_one_credential_are_linkable_and_of_two_are_not(
    issue_licence: Any,
    holder_key: SigningKey,
    other_holder_key: SigningKey,
    trust: TrustStore,
    forge: Any,
    now: dt.datetime,
) -> None:
    """The documented linkability: what two codes of one credential share, and what two credentials do not."""
    one: Credential = issue_licence(serial=1, seed=1)
    other: Credential = issue_licence(serial=2, seed=2, holder=other_holder_key)
    first = forge.decode(present(one, holder_key, now=now, profile="name"))
    second = forge.decode(present(one, holder_key, now=now + dt.timedelta(seconds=5), profile="driving-check"))
    third = forge.decode(present(other, other_holder_key, now=now, profile="name"))
    assert first[0] == second[0] and first[4] == second[4]  # header (serial, holder key) and issuer signature
    assert first[0][2] != third[0][2] and first[0][7] != third[0][7] and first[4] != third[4]
    assert first[2] != third[2]  # different seeds: the salts of the same claim values differ
    verifier = Verifier(trust)
    assert verifier.verify(present(one, holder_key, now=now), now=now).serial == 1
    assert verifier.verify(present(other, other_holder_key, now=now), now=now).serial == 2
