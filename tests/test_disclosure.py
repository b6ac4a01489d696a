"""Selective disclosure: profiles and subsets verify and show exactly what was chosen; the named attacks on
the disclosure tree fail with the expected code; withheld values stay private; and the cover and hash
functions of ``econsent._disclosure`` agree with a brute-force reference written from SPEC section 4.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Mapping
from typing import Any

import pytest

from econsent import (
    BUILTIN_TYPES,
    Credential,
    CredentialType,
    ErrorCode,
    SigningKey,
    Verifier,
    _disclosure,
    _wire,
    present,
)
from econsent.schema import DRIVING_LICENCE, encode_text

LEAF_TAG = b"econsent/v1 leaf\x00"
NODE_TAG = b"econsent/v1 node\x00"
SEED_TAG = b"econsent/v1 seed\x00"

# Every claim of every built-in type (the age claims are derived by the issuer).
FULL_CLAIMS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "business-licence": (
        {
            "unified_social_credit_code": "91310000MA1FL1234X",
            "company_name": "上海示例科技有限公司",
            "legal_representative": "李娜",
            "company_type": "有限责任公司(自然人投资或控股)",
            "registered_capital": "人民币100万元",
            "established_on": dt.date(2016, 5, 20),
            "address": "上海市浦东新区张江路88号",
            "business_scope": "技术开发、技术咨询、技术服务",
        },
        (),
    ),
    "marriage-certificate": (
        {
            "certificate_number": "J310101-2020-000123",
            "registration_date": dt.date(2020, 5, 20),
            "spouse_a_name": "王芳",
            "spouse_b_name": "陈明",
            "spouse_a_id_number": "310101199001011234",
            "spouse_b_id_number": "31010119890202123X",
            "spouse_a_birth_date": dt.date(1990, 1, 1),
            "spouse_b_birth_date": dt.date(1989, 2, 2),
            "registration_authority": "上海市黄浦区民政局",
        },
        (),
    ),
    "residence-permit": (
        {
            "family_name": "Smith",
            "given_name": "Anna",
            "permit_number": "310000199001011234",
            "expiry_date": dt.date(2027, 9, 30),
            "nationality": "英国",
            "birth_date": dt.date(1990, 1, 1),
            "issue_date": dt.date(2024, 9, 30),
            "issuing_authority": "上海市公安局出入境管理局",
            "address": "上海市徐汇区漕溪北路1号",
        },
        ("age_over_18",),
    ),
}


@pytest.fixture(scope="module")
def full_credentials(issue_licence: Any, licence_claims: Mapping[str, Any]) -> dict[str, Credential]:
    """One credential of every built-in type with every claim present."""
    credentials = {
        name: issue_licence(claims, credential_type=name, derive=derive)
        for name, (claims, derive) in FULL_CLAIMS.items()
    }
    credentials["driving-licence"] = issue_licence(
        {**licence_claims, "portrait": bytes(range(64))}, derive=("age_over_18", "age_over_60")
    )
    for name, cred in credentials.items():
        ctype = BUILTIN_TYPES.by_name(name)
        assert ctype is not None and set(cred.claims) == set(ctype.claim_names)
    return credentials


def _expected(cred: Credential, ctype: CredentialType, shown: set[str]) -> tuple[dict[str, Any], tuple[str, ...]]:
    claims = {name: cred.claims[name] for name in shown}
    withheld = tuple(name for name in ctype.claim_names if name in cred.claims and name not in shown)
    return claims, withheld


# --- what verifies --------------------------------------------------------------------------------

PROFILES = [(ctype.name, profile) for ctype in BUILTIN_TYPES for profile in ctype.profiles]


@pytest.mark.parametrize(("type_name", "profile"), PROFILES, ids=[f"{t}:{p}" for t, p in PROFILES])
def test_every_builtin_profile_verifies_and_shows_exactly_its_claims(
    full_credentials: dict[str, Credential],
    holder_key: SigningKey,
    verifier: Verifier,
    now: dt.datetime,
    type_name: str,
    profile: str,
) -> None:
    ctype = BUILTIN_TYPES.by_name(type_name)
    assert ctype is not None
    cred = full_credentials[type_name]
    verdict = verifier.verify(present(cred, holder_key, now=now, profile=profile), now=now)
    claims, withheld = _expected(cred, ctype, set(ctype.profiles[profile]))
    assert dict(verdict.claims) == claims
    assert verdict.withheld == withheld


def test_every_subset_of_a_business_licence_verifies(
    full_credentials: dict[str, Credential], holder_key: SigningKey, verifier: Verifier, now: dt.datetime
) -> None:
    cred = full_credentials["business-licence"]
    ctype = BUILTIN_TYPES.by_name("business-licence")
    assert ctype is not None and len(ctype.claims) == 8
    for mask in range(2**8):
        shown = {ctype.claims[i].name for i in range(8) if mask >> i & 1}
        verdict = verifier.verify(present(cred, holder_key, now=now, disclose=shown), now=now)
        assert (dict(verdict.claims), verdict.withheld) == _expected(cred, ctype, shown), sorted(shown)


def test_a_sample_of_driving_licence_subsets_verifies(
    full_credentials: dict[str, Credential], holder_key: SigningKey, verifier: Verifier, now: dt.datetime
) -> None:
    cred = full_credentials["driving-licence"]
    names = DRIVING_LICENCE.claim_names
    for mask in [*random.Random(12).sample(range(2**12), 150), 0, 2**12 - 1]:
        shown = {names[i] for i in range(12) if mask >> i & 1}
        verdict = verifier.verify(present(cred, holder_key, now=now, disclose=shown), now=now)
        assert (dict(verdict.claims), verdict.withheld) == _expected(cred, DRIVING_LICENCE, shown), sorted(shown)


def test_subsets_of_a_credential_with_absent_claims(
    credential: Credential, holder_key: SigningKey, verifier: Verifier, now: dt.datetime
) -> None:
    """The reference licence has claims 0-8 only: absent claims are neither shown nor withheld."""
    names = sorted(credential.claims)
    for mask in random.Random(3).sample(range(2 ** len(names)), 60):
        shown = {names[i] for i in range(len(names)) if mask >> i & 1}
        verdict = verifier.verify(present(credential, holder_key, now=now, disclose=shown), now=now)
        assert (dict(verdict.claims), verdict.withheld) == _expected(credential, DRIVING_LICENCE, shown)


def test_disclosing_nothing_proves_possession_only(
    credential: Credential, holder_key: SigningKey, verifier: Verifier, forge: Any, now: dt.datetime
) -> None:
    text = present(credential, holder_key, now=now, disclose=[])
    verdict = verifier.verify(text, now=now)
    assert dict(verdict.claims) == {}
    assert verdict.withheld == tuple(name for name in DRIVING_LICENCE.claim_names if name in credential.claims)
    p = forge.decode(text)
    issued = forge.unpack(credential.encoded)
    assert p[1] == [] and p[2] == {}
    assert p[3] == {1: forge.root(DRIVING_LICENCE, issued[0][6], issued[1], issued[2])}


# --- the holder's knowledge, for building attacks -------------------------------------------------


class Tree:
    """Everything the holder knows about a credential: root seed, every salt and every wire value.

    ``parts`` builds the values, seeds and node hashes of a disclosure exactly as a wallet must (the
    canonical covers), optionally lying about values or the claim bitmap.
    """

    def __init__(self, forge: Any, credential: Credential, ctype: CredentialType = DRIVING_LICENCE) -> None:
        payload = forge.unpack(credential.encoded)
        self.header: list[Any] = payload[0]
        self.present: int = self.header[6]
        self.depth = _disclosure.tree_depth(len(ctype.claims))
        self.root_seed: bytes = payload[2][1]
        self.values: dict[int, Any] = dict(zip(_disclosure.bits(self.present), payload[1], strict=True))
        self.salts = _disclosure.leaf_salts(self.depth, {1: self.root_seed}, self.present)

    def seed(self, node: int) -> bytes:
        return _disclosure.node_seed(self.root_seed, node)

    def hash(self, node: int) -> bytes:
        return _disclosure.node_hash(
            self.depth, node, self.present, self.salts, lambda i: _wire.pack(self.values[i]), {}
        )

    def parts(
        self, disclosed: int, *, present_mask: int | None = None, values: Mapping[int, Any] | None = None
    ) -> tuple[list[Any], dict[int, bytes], dict[int, bytes]]:
        mask = self.present if present_mask is None else present_mask
        wire = {**self.values, **(values or {})}
        salts = _disclosure.leaf_salts(self.depth, {1: self.root_seed}, mask)
        seeds = {n: self.seed(n) for n in _disclosure.open_cover(self.depth, mask, disclosed)}
        nodes = {
            n: _disclosure.node_hash(self.depth, n, mask, salts, lambda i: _wire.pack(wire[i]), {})
            for n in _disclosure.closed_cover(self.depth, mask, disclosed)
        }
        return [wire[i] for i in _disclosure.bits(disclosed & mask)], seeds, nodes


def _with(p: list[Any], values: list[Any], seeds: dict[int, bytes], nodes: dict[int, bytes]) -> list[Any]:
    return [p[0], values, dict(sorted(seeds.items())), dict(sorted(nodes.items())), *p[4:]]


def _mask(*names: str) -> int:
    return sum(1 << DRIVING_LICENCE.index_of(name) for name in names)


@pytest.fixture(scope="module")
def aged_credential(issue_licence: Any, licence_claims: Mapping[str, Any]) -> Credential:
    """The reference licence with age_over_18 (true) and age_over_60 (false) derived by the issuer."""
    return issue_licence(derive=("age_over_18", "age_over_60"))


@pytest.fixture
def driving_check(present_licence: Any, forge: Any) -> list[Any]:
    """A presentation of the driving-check profile (claims 0-3): seeds {4}, nodes {5, 6}."""
    p = forge.decode(present_licence(profile="driving-check"))
    assert list(p[2]) == [4] and list(p[3]) == [5, 6]
    return p


def test_tree_helper_builds_the_wallets_presentation(
    credential: Credential,
    driving_check: list[Any],
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    now: dt.datetime,
) -> None:
    """Control for the attacks: the honest parts equal the wallet's and verify."""
    values, seeds, nodes = Tree(forge, credential).parts(
        _mask("family_name", "given_name", "vehicle_classes", "expiry_date")
    )
    assert _with(driving_check, values, seeds, nodes) == driving_check
    assert verifier.verify(forge.sign_holder(driving_check, holder_key), now=now)


# --- named attacks (the attacker is the holder: every forged presentation is re-signed by the holder) --


def test_attack_swap_a_disclosed_value(
    driving_check: list[Any], forge: Any, holder_key: SigningKey, verifier: Verifier, reject: Any
) -> None:
    driving_check[1][0] = encode_text("李")
    reject(verifier, forge.sign_holder(driving_check, holder_key), ErrorCode.BAD_ISSUER_SIGNATURE)


def test_attack_swap_a_disclosed_value_without_holder_key(
    driving_check: list[Any], forge: Any, verifier: Verifier, reject: Any
) -> None:
    driving_check[1][2] = ["A1", "C1", "D"]
    reject(verifier, forge.text(driving_check), ErrorCode.BAD_ISSUER_SIGNATURE)


@pytest.mark.parametrize("salt_from", ["target-leaf", "original-leaf"])
def test_attack_rename_a_claim(
    aged_credential: Credential,
    present_licence: Any,
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    reject: Any,
    now: dt.datetime,
    salt_from: str,
) -> None:
    """A true age_over_18 shown as age_over_60 (a senior discount): the value moves to another index."""
    tree = Tree(forge, aged_credential)
    p = forge.decode(present_licence(aged_credential, profile="age-check"))
    over_18, over_60 = DRIVING_LICENCE.index_of("age_over_18"), DRIVING_LICENCE.index_of("age_over_60")
    assert p[1] == [True] and list(p[2]) == [16 + over_18]

    honest = _with(p, *tree.parts(1 << over_60))  # control: showing the real age_over_60 verifies
    assert verifier.verify(forge.sign_holder(honest, holder_key), now=now).claims == {"age_over_60": False}

    values, seeds, nodes = tree.parts(1 << over_60, values={over_60: True})
    if salt_from == "original-leaf":
        seeds = {16 + over_60: tree.seed(16 + over_18)}
    reject(verifier, forge.sign_holder(_with(p, values, seeds, nodes), holder_key), ErrorCode.BAD_ISSUER_SIGNATURE)


def test_attack_rename_family_name_to_given_name(
    credential: Credential, present_licence: Any, forge: Any, holder_key: SigningKey, verifier: Verifier, reject: Any
) -> None:
    tree = Tree(forge, credential)
    p = forge.decode(present_licence(disclose=["family_name"]))
    values, seeds, nodes = tree.parts(_mask("given_name"), values={1: tree.values[0]})
    reject(verifier, forge.sign_holder(_with(p, values, seeds, nodes), holder_key), ErrorCode.BAD_ISSUER_SIGNATURE)


def test_attack_repeat_a_claim_value(
    driving_check: list[Any], forge: Any, holder_key: SigningKey, verifier: Verifier, reject: Any
) -> None:
    driving_check[1].insert(1, driving_check[1][0])
    reject(verifier, forge.sign_holder(driving_check, holder_key), ErrorCode.MALFORMED)


def test_attack_repeat_one_claim_in_the_place_of_another(
    present_licence: Any, forge: Any, holder_key: SigningKey, verifier: Verifier, reject: Any
) -> None:
    p = forge.decode(present_licence(profile="name"))
    p[1] = [p[1][0], p[1][0]]
    reject(verifier, forge.sign_holder(p, holder_key), ErrorCode.BAD_ISSUER_SIGNATURE)


def test_attack_repeat_a_seed_node(
    present_licence: Any, forge: Any, holder_key: SigningKey, verifier: Verifier, reject: Any
) -> None:
    p = forge.decode(present_licence(profile="name"))
    parts = [_wire.pack(element) for element in p]
    (node, seed), _ = p[2].items()
    parts[2] = b"\x82" + (_wire.pack(node) + _wire.pack(seed)) * 2
    reject(verifier, forge.sign_holder(bytes([0x99]) + b"".join(parts), holder_key), ErrorCode.MALFORMED)


@pytest.fixture(scope="module")
def second_credential(issue_licence: Any, licence_claims: Mapping[str, Any]) -> Credential:
    """Another licence of the same holder (other seeds), with another family name."""
    return issue_licence({**licence_claims, "family_name": "李"}, seed=99, serial=43)


def test_attack_move_a_block_from_another_credential(
    credential: Credential,
    second_credential: Credential,
    driving_check: list[Any],
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    reject: Any,
) -> None:
    other = Tree(forge, second_credential)
    values, seeds, _ = other.parts(_mask("family_name", "given_name", "vehicle_classes", "expiry_date"))
    attack = _with(driving_check, values, seeds, driving_check[3])
    reject(verifier, forge.sign_holder(attack, holder_key), ErrorCode.BAD_ISSUER_SIGNATURE)


def test_attack_move_one_value_and_seed_from_another_credential(
    credential: Credential,
    second_credential: Credential,
    present_licence: Any,
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    reject: Any,
    now: dt.datetime,
) -> None:
    other = Tree(forge, second_credential)
    assert verifier.verify(present(second_credential, holder_key, now=now, profile="name"), now=now)
    p = forge.decode(present_licence(profile="name"))
    assert list(p[2]) == [16, 17]
    p[1][0], p[2][16] = other.values[0], other.seed(16)
    reject(verifier, forge.sign_holder(p, holder_key), ErrorCode.BAD_ISSUER_SIGNATURE)


def test_attack_move_a_withheld_hash_from_another_credential(
    second_credential: Credential,
    driving_check: list[Any],
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    reject: Any,
) -> None:
    driving_check[3][5] = Tree(forge, second_credential).hash(5)
    reject(verifier, forge.sign_holder(driving_check, holder_key), ErrorCode.BAD_ISSUER_SIGNATURE)


def test_attack_show_a_claim_that_was_never_issued(
    credential: Credential,
    driving_check: list[Any],
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    reject: Any,
) -> None:
    """The bitmap says the portrait is absent: a seed and a value for it are not part of any valid cover."""
    portrait = DRIVING_LICENCE.index_of("portrait")
    assert not Tree(forge, credential).present >> portrait & 1
    driving_check[2][16 + portrait] = bytes(16)
    driving_check[1].append(b"someone else's face")
    reject(verifier, forge.sign_holder(driving_check, holder_key), ErrorCode.MALFORMED)


def test_attack_show_a_claim_that_was_never_issued_with_a_flipped_bitmap(
    credential: Credential,
    driving_check: list[Any],
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    reject: Any,
) -> None:
    tree = Tree(forge, credential)
    portrait = DRIVING_LICENCE.index_of("portrait")
    lie = tree.present | 1 << portrait
    shown = _mask("family_name", "given_name", "vehicle_classes", "expiry_date") | 1 << portrait
    values, seeds, nodes = tree.parts(shown, present_mask=lie, values={portrait: b"someone else's face"})
    attack = _with(driving_check, values, seeds, nodes)
    attack[0] = [*attack[0][:6], lie, *attack[0][7:]]
    reject(verifier, forge.sign_holder(attack, holder_key), ErrorCode.BAD_ISSUER_SIGNATURE)


def test_attack_seed_for_a_withheld_claim(
    credential: Credential,
    driving_check: list[Any],
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    reject: Any,
) -> None:
    birth_leaf = 16 + DRIVING_LICENCE.index_of("birth_date")
    driving_check[2][birth_leaf] = Tree(forge, credential).seed(birth_leaf)
    reject(verifier, forge.sign_holder(driving_check, holder_key), ErrorCode.MALFORMED)


def test_attack_seed_and_value_for_a_withheld_claim_keeping_its_hash(
    credential: Credential,
    driving_check: list[Any],
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    reject: Any,
) -> None:
    tree = Tree(forge, credential)
    birth = DRIVING_LICENCE.index_of("birth_date")
    driving_check[2][16 + birth] = tree.seed(16 + birth)
    driving_check[1].append(tree.values[birth])
    reject(verifier, forge.sign_holder(driving_check, holder_key), ErrorCode.MALFORMED)


@pytest.mark.parametrize(
    "seeds",
    [
        pytest.param(
            lambda t: {16: t.seed(16), 17: t.seed(17), 18: t.seed(18), 19: t.seed(19)}, id="split-into-leaves"
        ),
        pytest.param(lambda t: {1: t.root_seed}, id="root-seed-for-a-partial-disclosure"),
        pytest.param(lambda t: {4: t.seed(4), 28: t.seed(28)}, id="extra-seed-for-a-leaf-beyond-the-claims"),
        pytest.param(lambda t: {4: t.seed(4), 7: t.seed(7)}, id="extra-seed-for-an-empty-subtree"),
    ],
)
def test_attack_non_canonical_open_cover(
    credential: Credential,
    driving_check: list[Any],
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    reject: Any,
    seeds: Any,
) -> None:
    driving_check[2] = seeds(Tree(forge, credential))
    reject(verifier, forge.sign_holder(driving_check, holder_key), ErrorCode.MALFORMED)


def test_attack_root_seed_with_every_value_but_leftover_hashes(
    credential: Credential,
    driving_check: list[Any],
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    reject: Any,
) -> None:
    tree = Tree(forge, credential)
    attack = _with(driving_check, list(tree.values.values()), {1: tree.root_seed}, driving_check[3])
    reject(verifier, forge.sign_holder(attack, holder_key), ErrorCode.MALFORMED)


@pytest.mark.parametrize(
    "nodes",
    [
        pytest.param(lambda t, n: {5: n[5]}, id="drop-a-hash"),
        pytest.param(lambda t, n: {**n, 7: t.hash(7)}, id="add-the-hash-of-an-empty-subtree"),
        pytest.param(lambda t, n: {**n, 1: t.hash(1)}, id="add-the-root-hash"),
        pytest.param(lambda t, n: {**n, 4: t.hash(4)}, id="add-the-hash-of-a-disclosed-node"),
        pytest.param(lambda t, n: {6: n[6], **{c: t.hash(c) for c in range(20, 24)}}, id="split-a-hash-into-leaves"),
        pytest.param(lambda t, n: {}, id="no-hashes"),
    ],
)
def test_attack_non_canonical_closed_cover(
    credential: Credential,
    driving_check: list[Any],
    forge: Any,
    holder_key: SigningKey,
    verifier: Verifier,
    reject: Any,
    nodes: Any,
) -> None:
    driving_check[3] = dict(sorted(nodes(Tree(forge, credential), driving_check[3]).items()))
    reject(verifier, forge.sign_holder(driving_check, holder_key), ErrorCode.MALFORMED)


def test_attack_change_a_withheld_hash(
    driving_check: list[Any], forge: Any, holder_key: SigningKey, verifier: Verifier, reject: Any
) -> None:
    driving_check[3][6] = bytes(16)
    reject(verifier, forge.sign_holder(driving_check, holder_key), ErrorCode.BAD_ISSUER_SIGNATURE)


@pytest.mark.parametrize("node", [2, 3, 8, 15, 32, 63, 64, 127])
@pytest.mark.parametrize("where", ["seeds", "nodes"])
def test_attack_node_id_outside_the_tree(
    driving_check: list[Any], forge: Any, holder_key: SigningKey, verifier: Verifier, reject: Any, node: int, where: str
) -> None:
    """Ids that are no node of the 16-leaf tree (levels 0-2 hold 1, 4..7 and 16..31)."""
    index = 2 if where == "seeds" else 3
    driving_check[index] = dict(sorted({**driving_check[index], node: bytes(range(16))}.items()))
    reject(verifier, forge.sign_holder(driving_check, holder_key), ErrorCode.MALFORMED)


# --- privacy: what a verifier learns about withheld claims ----------------------------------------

PRIVACY_DISCLOSURES = {
    **{f"profile-{name}": set(names) for name, names in DRIVING_LICENCE.profiles.items()},
    "nothing": set(),
    "only-portrait": {"portrait"},
    "name-and-age": {"family_name", "given_name", "age_over_18"},
    "everything-but-birth-date": set(DRIVING_LICENCE.claim_names) - {"birth_date"},
    "everything-but-licence-number": set(DRIVING_LICENCE.claim_names) - {"licence_number"},
}


@pytest.mark.parametrize("case", PRIVACY_DISCLOSURES)
def test_withheld_claims_cannot_be_recovered(
    full_credentials: dict[str, Credential],
    holder_key: SigningKey,
    forge: Any,
    verifier: Verifier,
    now: dt.datetime,
    case: str,
) -> None:
    cred = full_credentials["driving-licence"]
    shown = PRIVACY_DISCLOSURES[case]
    text = present(cred, holder_key, now=now, disclose=shown)
    assert set(verifier.verify(text, now=now).claims) == shown
    payload = _wire.payload_from_text(text)
    p = forge.unpack(payload)
    tree = Tree(forge, cred)
    shown_mask = sum(1 << DRIVING_LICENCE.index_of(name) for name in shown)
    withheld = [i for i in _disclosure.bits(tree.present) if not shown_mask >> i & 1]

    # Only the shown values travel, and no withheld value's wire bytes occur anywhere in the payload.
    assert p[1] == [tree.values[i] for i in _disclosure.bits(shown_mask)]
    for i in withheld:
        value_bytes = _wire.pack(tree.values[i])
        if len(value_bytes) >= 5:  # shorter ones (bools, day counts) can occur in random bytes by chance
            assert value_bytes not in payload, DRIVING_LICENCE.claims[i].name

    # Every seed sent covers only shown (or absent) claims, so no withheld salt can be derived ...
    for node in p[2]:
        assert not _disclosure.leaf_mask(node, tree.depth) & sum(1 << i for i in withheld), node
    derivable = _disclosure.leaf_salts(tree.depth, p[2], (1 << 4**tree.depth) - 1)
    assert not set(derivable) & set(withheld)
    assert not set(derivable.values()) & {tree.salts[i] for i in withheld}
    # ... and neither a withheld salt nor any seed above one is sent.
    for i in withheld:
        assert tree.salts[i] not in payload
        node = 4**tree.depth + i
        while node >= 1:
            assert tree.seed(node) not in payload, (i, node)
            node = node // 4 if node >= 4 else 0


# --- econsent._disclosure against a brute-force reference -----------------------------------------


def _h16(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:16]


def _nodes(depth: int) -> list[tuple[int, int, int]]:
    """(id, level, position) of every node of the tree, by SPEC: id = 4**level + position."""
    return [(4**level + x, level, x) for level in range(depth + 1) for x in range(4**level)]


def _leaves(depth: int, level: int, x: int) -> set[int]:
    span = 4 ** (depth - level)
    return set(range(x * span, (x + 1) * span))


def _reference_cover(depth: int, wanted: set[int], other: set[int]) -> list[int]:
    """Maximal nodes whose leaves hold a wanted leaf and no other leaf (SPEC 4, "Covers")."""
    qualifies = {
        node: bool(_leaves(depth, level, x) & wanted) and not _leaves(depth, level, x) & other
        for node, level, x in _nodes(depth)
    }
    result = []
    for node, level, x in _nodes(depth):
        ancestors = [4 ** (level - k) + x // 4**k for k in range(1, level + 1)]
        if qualifies[node] and not any(qualifies[a] for a in ancestors):
            result.append(node)
    return sorted(result)


def _reference_seed(root_seed: bytes, level: int, x: int) -> bytes:
    if level == 0:
        return root_seed
    parent = _reference_seed(root_seed, level - 1, x // 4)
    block = hashlib.sha512(SEED_TAG + parent).digest()
    return block[16 * (x % 4) : 16 * (x % 4) + 16]


def _reference_hash(
    depth: int, level: int, x: int, present: set[int], root_seed: bytes, values: dict[int, bytes]
) -> bytes:
    if level == depth:
        if x not in present:
            return bytes(16)
        return _h16(LEAF_TAG + _reference_seed(root_seed, depth, x) + bytes([x]) + values[x])
    children = b"".join(_reference_hash(depth, level + 1, 4 * x + j, present, root_seed, values) for j in range(4))
    return _h16(NODE_TAG + children)


def _random_masks(rng: random.Random, leaves: int) -> tuple[int, int]:
    density = rng.choice([0.1, 0.5, 0.9, 1.0])
    present = sum(1 << i for i in range(leaves) if rng.random() < density) or 1
    choice = rng.choice(["random", "none", "all"])
    if choice == "none":
        return present, 0
    if choice == "all":
        return present, present
    return present, present & rng.getrandbits(leaves)


@pytest.mark.parametrize("leaves", [4, 16, 64])
def test_covers_match_the_reference(leaves: int) -> None:
    depth = _disclosure.tree_depth(leaves)
    assert 4**depth == leaves
    rng = random.Random(leaves)
    for _ in range(400):
        present, disclosed = _random_masks(rng, leaves)
        d = set(_disclosure.bits(disclosed))
        w = set(_disclosure.bits(present & ~disclosed))
        opened = _disclosure.open_cover(depth, present, disclosed)
        closed = _disclosure.closed_cover(depth, present, disclosed)
        assert opened == _reference_cover(depth, d, w), (hex(present), hex(disclosed))
        assert closed == _reference_cover(depth, w, d), (hex(present), hex(disclosed))
        # The covers partition the present leaves into shown and withheld.
        below_open = set().union(*(_disclosure.bits(_disclosure.leaf_mask(n, depth)) for n in opened)) & (d | w)
        below_closed = set().union(*(_disclosure.bits(_disclosure.leaf_mask(n, depth)) for n in closed)) & (d | w)
        assert below_open == d and below_closed == w


def test_covers_of_named_cases() -> None:
    present = 0x1FF  # the reference licence: claims 0-8 of a 16-leaf tree
    assert _disclosure.open_cover(2, present, 0x00F) == [4]
    assert _disclosure.closed_cover(2, present, 0x00F) == [5, 6]
    assert _disclosure.open_cover(2, present, present) == [1]
    assert _disclosure.closed_cover(2, present, present) == []
    assert _disclosure.open_cover(2, present, 0) == []
    assert _disclosure.closed_cover(2, present, 0) == [1]
    assert _disclosure.open_cover(2, present, 0b11) == [16, 17]
    assert _disclosure.closed_cover(2, present, 0b11) == [5, 6, 18, 19]


@pytest.mark.parametrize("leaves", [4, 16, 64])
def test_leaf_mask_of_every_node_matches_the_reference(leaves: int) -> None:
    depth = _disclosure.tree_depth(leaves)
    for node, level, x in _nodes(depth):
        assert set(_disclosure.bits(_disclosure.leaf_mask(node, depth))) == _leaves(depth, level, x), node


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_leaf_mask_is_zero_for_ids_that_are_not_nodes(depth: int) -> None:
    """``leaf_mask`` promises 0 for an id that is no node of the tree (the verifier uses it to refuse seeds)."""
    valid = {node for node, _, _ in _nodes(depth)}
    for node in range(1, 128):
        if node not in valid:
            assert _disclosure.leaf_mask(node, depth) == 0, node


@pytest.mark.parametrize("leaves", [16, 64])
def test_seeds_and_hashes_match_the_reference(leaves: int) -> None:
    depth = _disclosure.tree_depth(leaves)
    rng = random.Random(1000 + leaves)
    for _ in range(25):
        root_seed = rng.randbytes(16)
        present, disclosed = _random_masks(rng, leaves)
        values = {
            i: _wire.pack(rng.choice(["张", 7, True, b"\x00" * rng.randrange(5), ["C1"]]))
            for i in _disclosure.bits(present)
        }
        salts = _disclosure.leaf_salts(depth, {1: root_seed}, present)
        assert set(salts) == set(values)
        for i, salt in salts.items():
            assert salt == _reference_seed(root_seed, depth, i)
        for node, level, x in _nodes(depth):
            assert _disclosure.node_seed(root_seed, node) == _reference_seed(root_seed, level, x)
        root = _disclosure.node_hash(depth, 1, present, salts, values.__getitem__, {})
        assert root == _reference_hash(depth, 0, 0, set(values), root_seed, values)

        # What a verifier rebuilds from the open cover's seeds and the closed cover's hashes is the same root.
        opened = {n: _disclosure.node_seed(root_seed, n) for n in _disclosure.open_cover(depth, present, disclosed)}
        closed = {
            n: _disclosure.node_hash(depth, n, present, salts, values.__getitem__, {})
            for n in _disclosure.closed_cover(depth, present, disclosed)
        }
        shown_salts = _disclosure.leaf_salts(depth, opened, disclosed)
        assert set(shown_salts) == set(_disclosure.bits(disclosed))
        assert _disclosure.node_hash(depth, 1, present, shown_salts, values.__getitem__, closed) == root


def test_empty_subtree_hashes_are_the_published_constants() -> None:
    """SPEC 4 publishes the hash of a subtree without present claims per height."""
    published = {
        1: "c9a01dd48cb3656f919903bae6410a3e",
        2: "1ddeb100df2309c6704d9314eb4d6cdd",
        3: "cf59994aad1d22fdff09bc45f2096746",
    }
    expected = bytes(16)
    for height in (1, 2, 3):
        expected = _h16(NODE_TAG + expected * 4)
        assert expected.hex() == published[height]
        node = 4 ** (3 - height)  # the first node at that height in a depth-3 tree
        assert _disclosure.node_hash(3, node, 0, {}, lambda i: b"", {}).hex() == published[height]


@pytest.mark.parametrize(("claims", "depth"), [(1, 1), (4, 1), (5, 2), (12, 2), (16, 2), (17, 3), (64, 3)])
def test_tree_depth(claims: int, depth: int) -> None:
    assert _disclosure.tree_depth(claims) == depth
