"""The disclosure tree: salted claim commitments in a 4-ary hash tree, salts from a seed tree.

A credential type with ``n`` claims uses a complete 4-ary tree of depth ``d >= 1`` with ``4**d >= n``
leaves; claim ``i`` is leaf ``i``. A node at level ``l`` (the root is level 0) and position ``x`` has
the id ``4**l + x``: the root is 1, level 1 is 4..7, level 2 is 16..31, level 3 is 64..127.

* Salts: the issuer draws a 16-byte seed for the root. The four children's seeds are the four 16-byte
  quarters of ``SHA-512(SEED_TAG || seed)``; a leaf's seed is its claim's salt. Revealing a node's
  seed reveals the salts below it and nothing else.
* Commitments: a present claim's leaf hash is ``SHA-256(LEAF_TAG || salt || i || value bytes)[:16]``
  (``i`` one byte); an absent claim's is 16 zero bytes; an inner node's is
  ``SHA-256(NODE_TAG || h0 || h1 || h2 || h3)[:16]``. The issuer signs the root hash.
* A presentation carries the seeds of the *open cover* (the maximal subtrees whose present leaves are
  all disclosed) and the hashes of the *closed cover* (the maximal subtrees whose present leaves are all
  withheld). The disclosed claims are the present leaves under the open cover, in ascending order.

Hash suite (SPEC 5.4): the above is the SHA-2 suite. A credential whose issuer key is SM2 uses the SM3
suite instead: SM3 in place of SHA-256 for leaves and nodes, and ``SM3(SEED_TAG || seed || 0x00) ||
SM3(SEED_TAG || seed || 0x01)`` in place of ``SHA-512(SEED_TAG || seed)`` for the children's seeds. Every
function takes the suite from its caller, who took it from the issuer key (the trust store's, for a
verifier); nothing here guesses it from the bytes.

Both covers are a function of the present and disclosed sets, so there is exactly one valid encoding of
any disclosure, and a verifier insists on it. Sets of leaves are handled as bit masks (bit ``i`` is
claim ``i``).

The node ids make a node's children ``4n .. 4n + 3``. The issuer's and verifier's steps run a *root
plan*: which seeds to split, which leaves to hash and which nodes to merge, worked out once per tree
shape (claim count, present claims, the covers' node ids; never a value) and kept in a bounded cache.
:func:`node_hash` and :func:`leaf_salts` are the same computation written out node by node.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .keys import HashSuite, sm3

__all__ = [
    "ARITY",
    "NODE_BYTES",
    "ROOT",
    "SEED_BYTES",
    "bits",
    "check_disclosure",
    "closed_cover",
    "commit",
    "disclose",
    "leaf_mask",
    "leaf_salts",
    "node_hash",
    "node_seed",
    "open_cover",
    "rebuild_root",
    "tree_depth",
]

ARITY = 4
NODE_BYTES = 16  # the size of every node hash and seed on the wire
SEED_BYTES = NODE_BYTES
ROOT = 1
_ABSENT = bytes(NODE_BYTES)
_SEED_TAG = b"econsent/v1 seed\x00"
_LEAF_TAG = b"econsent/v1 leaf\x00"
_NODE_TAG = b"econsent/v1 node\x00"


class _Digest(Protocol):
    def digest(self) -> bytes: ...


class _Sm3:
    """SM3 in hashlib's shape (``SM3(data).digest()``), so both suites run through the same code."""

    __slots__ = ("_digest",)

    def __init__(self, data: bytes) -> None:
        self._digest = sm3(data)

    def digest(self) -> bytes:
        return self._digest


class _Sm3Expand:
    """The SM3 suite's 64-byte seed expansion: ``SM3(data || 0x00) || SM3(data || 0x01)``."""

    __slots__ = ("_digest",)

    def __init__(self, data: bytes) -> None:
        self._digest = sm3(data + b"\x00") + sm3(data + b"\x01")

    def digest(self) -> bytes:
        return self._digest


_Hash = Callable[[bytes], _Digest]


def _cpython_sha2() -> tuple[_Hash, _Hash]:
    """SHA-256 and SHA-512 from CPython's own modules when the build has them, else hashlib's (OpenSSL).

    The same digests; but a tree hashes a few dozen short inputs, and for those OpenSSL 3 spends more on
    setting up each hash (it looks the digest up on every call) than on hashing: CPython's own cost half
    (``_sha2`` from Python 3.12, ``_sha256`` and ``_sha512`` before; a build may leave them out).
    """
    for module_256, module_512 in (("_sha2", "_sha2"), ("_sha256", "_sha512")):
        try:
            return importlib.import_module(module_256).sha256, importlib.import_module(module_512).sha512
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256, hashlib.sha512


# Per suite: the tree hash (truncated to NODE_BYTES) and the 64-byte seed expansion.
_SUITES: dict[HashSuite, tuple[_Hash, _Hash]] = {
    HashSuite.SHA2: _cpython_sha2(),
    HashSuite.SM3: (_Sm3, _Sm3Expand),
}


def tree_depth(claim_count: int) -> int:
    """Depth of the tree for a type with ``claim_count`` claims (at least 1: the root is never a leaf)."""
    depth = 1
    while ARITY**depth < claim_count:
        depth += 1
    return depth


def bits(mask: int) -> list[int]:
    """The indices of the set bits of ``mask``, ascending."""
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


def _position(node: int) -> tuple[int, int]:
    level = 0
    while ARITY ** (level + 1) <= node:
        level += 1
    return level, node - ARITY**level


def leaf_mask(node: int, depth: int) -> int:
    """The mask of the leaves below ``node``; 0 for an id that is not a node of this tree."""
    level, index = _position(node)
    if level > depth or index >= ARITY**level:
        return 0
    span: int = ARITY ** (depth - level)
    return ((1 << span) - 1) << (index * span)


def _cover(depth: int, wanted: int, other: int) -> list[int]:
    """Maximal nodes whose leaves include a ``wanted`` leaf and no ``other`` leaf, ascending by id."""
    result: list[int] = []
    frontier = [ROOT]
    for level in range(depth + 1):
        span = ARITY ** (depth - level)
        full = (1 << span) - 1
        deeper: list[int] = []
        for node in frontier:
            shift = (node - ARITY**level) * span
            if not (wanted >> shift) & full:
                continue
            if (other >> shift) & full:
                first_child = ARITY ** (level + 1) + (node - ARITY**level) * ARITY
                deeper.extend(range(first_child, first_child + ARITY))
            else:
                result.append(node)
        frontier = deeper
    return sorted(result)


def open_cover(depth: int, present: int, disclosed: int) -> list[int]:
    """Nodes whose seeds a presentation carries: maximal subtrees where every present claim is disclosed."""
    return _cover(depth, disclosed, present & ~disclosed)


def closed_cover(depth: int, present: int, disclosed: int) -> list[int]:
    """Nodes whose hashes a presentation carries: maximal subtrees where every present claim is withheld."""
    return _cover(depth, present & ~disclosed, disclosed)


def _children_seeds(seed: bytes, suite: HashSuite) -> list[bytes]:
    block = _SUITES[suite][1](_SEED_TAG + seed).digest()
    return [block[0:16], block[16:32], block[32:48], block[48:64]]


def node_seed(root_seed: bytes, node: int, suite: HashSuite = HashSuite.SHA2) -> bytes:
    """The seed of ``node``, derived from the root seed along the path from the root."""
    level, index = _position(node)
    seed = root_seed
    for step in range(level - 1, -1, -1):
        seed = _children_seeds(seed, suite)[(index // ARITY**step) % ARITY]
    return seed


def leaf_salts(
    depth: int, seeds: Mapping[int, bytes], present: int, suite: HashSuite = HashSuite.SHA2
) -> dict[int, bytes]:
    """Expand node seeds (node id -> seed) into the salts of the present leaves below them."""
    salts: dict[int, bytes] = {}
    for node, seed in seeds.items():
        level, index = _position(node)
        frontier = {index: seed}
        for below in range(level + 1, depth + 1):
            span = ARITY ** (depth - below)
            frontier = {
                ARITY * parent + j: child
                for parent, parent_seed in frontier.items()
                if (present >> (ARITY * parent * span)) & ((1 << (ARITY * span)) - 1)
                for j, child in enumerate(_children_seeds(parent_seed, suite))
            }
        for leaf, salt in frontier.items():
            if present >> leaf & 1:
                salts[leaf] = salt
    return salts


def node_hash(
    depth: int,
    node: int,
    present: int,
    salts: Mapping[int, bytes],
    value_bytes: Callable[[int], bytes],
    known: Mapping[int, bytes],
    suite: HashSuite = HashSuite.SHA2,
) -> bytes:
    """The hash of ``node`` from disclosed leaves (salt + value bytes) and already known subtree hashes.

    The verifier calls it for the root with the closed cover as ``known``; the holder calls it for each
    node of the closed cover with nothing known. Every present leaf below ``node`` must have a salt or lie
    below a known node; a present leaf with neither raises ``ValueError``.
    """
    level, index = _position(node)
    height = depth - level
    first_leaf = index * ARITY**height
    leaf_ids = ARITY**depth
    tree_hash = _SUITES[suite][0]
    hashes: list[bytes | None] = []
    for leaf in range(first_leaf, first_leaf + ARITY**height):
        if not present >> leaf & 1:
            hashes.append(_ABSENT)
        elif leaf in salts:
            data = _LEAF_TAG + salts[leaf] + bytes((leaf,)) + value_bytes(leaf)
            hashes.append(tree_hash(data).digest()[:NODE_BYTES])
        else:
            hashes.append(known.get(leaf_ids + leaf))
    for up in range(1, height + 1):
        first_id = ARITY ** (depth - up) + (first_leaf >> (2 * up))
        merged: list[bytes | None] = []
        for position in range(0, len(hashes), ARITY):
            group = hashes[position : position + ARITY]
            node_known = known.get(first_id + position // ARITY)
            if node_known is not None:
                merged.append(node_known)
            elif None in group:
                merged.append(None)
            else:
                merged.append(tree_hash(_NODE_TAG + b"".join(group)).digest()[:NODE_BYTES])  # type: ignore[arg-type]
        hashes = merged
    result = hashes[0]
    if result is None:
        raise ValueError("a present claim has neither a salt nor a known subtree hash")
    return result


# --- the three parties' steps -------------------------------------------------------------------------


def commit(
    claim_count: int, present: int, seed: bytes, value_bytes: Mapping[int, bytes], suite: HashSuite = HashSuite.SHA2
) -> bytes:
    """The issuer's step: the root hash over the ``present`` claims' encoded values, salted from ``seed``."""
    plan = _root_plan(claim_count, present, (ROOT,), (), suite)
    return _run(plan, {ROOT: seed}, {}, [value_bytes[leaf] for leaf in bits(present)])


def disclose(
    claim_count: int,
    present: int,
    disclosed: int,
    seed: bytes,
    value_bytes: Mapping[int, bytes],
    suite: HashSuite = HashSuite.SHA2,
) -> tuple[dict[int, bytes], dict[int, bytes]]:
    """The holder's step: the seeds of the open cover and the hashes of the closed cover, ascending by node.

    ``seed`` is the root seed of the credential as issued; ``value_bytes`` holds every present claim's
    encoded value (the withheld ones are hashed here, so the verifier can rebuild the root without them).
    """
    depth = tree_depth(claim_count)
    salts = leaf_salts(depth, {ROOT: seed}, present, suite)
    seeds = {node: node_seed(seed, node, suite) for node in open_cover(depth, present, disclosed)}
    hashes = {
        node: node_hash(depth, node, present, salts, value_bytes.__getitem__, {}, suite)
        for node in closed_cover(depth, present, disclosed)
    }
    return seeds, hashes


def check_disclosure(claim_count: int, present: int, seeds: Iterable[int], nodes: Iterable[int], values: int) -> int:
    """The verifier's first step: the disclosed claims (a mask), once the disclosure's shape is the one valid one.

    ``seeds`` and ``nodes`` are the node ids a presentation carries, in its order; ``values`` is how many
    claim values it carries. Raises ``ValueError`` saying what is wrong: a node the tree does not have, a
    value count that does not match, or covers that are not the canonical ones.
    """
    return _checked_shape(claim_count, present, tuple(seeds), tuple(nodes), values)


@functools.lru_cache(maxsize=256)
def _checked_shape(
    claim_count: int, present: int, seed_ids: tuple[int, ...], node_ids: tuple[int, ...], values: int
) -> int:
    """:func:`check_disclosure` for one shape, remembered (a shape is a few integers; a refusal is not kept)."""
    depth = tree_depth(claim_count)
    disclosed = 0
    for node in seed_ids:
        mask = leaf_mask(node, depth)
        if not mask:
            raise ValueError(f"seed for node {node}, which this tree does not have")
        disclosed |= mask
    disclosed &= present
    if disclosed.bit_count() != values:
        raise ValueError("the number of claim values does not match the seeds")
    if list(seed_ids) != open_cover(depth, present, disclosed):
        raise ValueError("disclosure seeds are not the canonical cover")
    if list(node_ids) != closed_cover(depth, present, disclosed):
        raise ValueError("withheld-claim hashes are not the canonical cover")
    return disclosed


def rebuild_root(
    claim_count: int,
    present: int,
    seeds: Mapping[int, bytes],
    nodes: Mapping[int, bytes],
    values: Sequence[bytes],
    suite: HashSuite = HashSuite.SHA2,
) -> bytes:
    """The verifier's last step: the root hash from the disclosed claims and the withheld subtrees' hashes.

    ``values`` are the disclosed claims' encoded values, ascending by claim. Call it after
    :func:`check_disclosure`; the issuer's signature over the result is what proves the claims.
    """
    plan = _root_plan(claim_count, present, tuple(seeds), tuple(nodes), suite)
    if len(values) != len(plan.leaves):
        raise ValueError("the number of claim values does not match the seeds")
    return _run(plan, seeds, nodes, values)


@dataclass(frozen=True, slots=True)
class _RootPlan:
    """The work that turns seeds, known subtree hashes and claim values into the root, for one tree shape."""

    splits: tuple[int, ...]  # nodes whose seed is split into their children's, parents first
    leaves: tuple[tuple[int, bytes], ...]  # (leaf node, its claim index byte) of each salted leaf, ascending
    merges: tuple[int, ...]  # inner nodes to hash from their four children, children first
    empty: Mapping[int, bytes]  # hashes of the needed nodes with no present claim below, in the plan's suite
    tree_hash: _Hash  # the suite's tree hash (a node hash is its first NODE_BYTES bytes)
    expand: _Hash  # the suite's 64-byte seed expansion


@functools.lru_cache(maxsize=256)
def _root_plan(
    claim_count: int, present: int, seed_ids: tuple[int, ...], known_ids: tuple[int, ...], suite: HashSuite
) -> _RootPlan:
    """The plan for one shape and suite: the same walk as :func:`leaf_salts` and :func:`node_hash`, with no hashing."""
    depth = tree_depth(claim_count)
    first_leaf = ARITY**depth
    splits: list[int] = []
    salted = 0
    for node in seed_ids:
        frontier = [node]
        while frontier:
            below = [n for n in frontier if leaf_mask(n, depth) & present]
            inner = [n for n in below if n < first_leaf]
            salted |= sum(1 << (n - first_leaf) for n in below if n >= first_leaf)
            splits += inner
            frontier = [child for n in inner for child in range(ARITY * n, ARITY * n + ARITY)]
    known = set(known_ids)
    merges: list[int] = []
    empty: dict[int, bytes] = {}

    def visit(node: int, height: int) -> None:
        if node in known:
            return
        if not leaf_mask(node, depth) & present:
            empty[node] = _empty_hash(height, suite)
        elif height == 0:
            if not salted >> (node - first_leaf) & 1:
                raise ValueError("a present claim has neither a salt nor a known subtree hash")
        else:
            for child in range(ARITY * node, ARITY * node + ARITY):
                visit(child, height - 1)
            merges.append(node)

    visit(ROOT, depth)
    leaves = tuple((first_leaf + leaf, bytes((leaf,))) for leaf in bits(salted))
    return _RootPlan(tuple(splits), leaves, tuple(merges), empty, *_SUITES[suite])


@functools.cache
def _empty_hash(height: int, suite: HashSuite) -> bytes:
    """The hash of a subtree of ``height`` with no present claim: absent leaves are zero bytes."""
    if height == 0:
        return _ABSENT
    below = _empty_hash(height - 1, suite)
    return _SUITES[suite][0](_NODE_TAG + below * ARITY).digest()[:NODE_BYTES]


def _run(plan: _RootPlan, seeds: Mapping[int, bytes], known: Mapping[int, bytes], values: Sequence[bytes]) -> bytes:
    """Execute a root plan: split seeds down to the salts, hash the leaves, merge up to the root."""
    tree_hash, expand = plan.tree_hash, plan.expand
    seed = dict(seeds)
    for node in plan.splits:
        block = expand(_SEED_TAG + seed[node]).digest()
        child = ARITY * node
        seed[child] = block[:16]
        seed[child + 1] = block[16:32]
        seed[child + 2] = block[32:48]
        seed[child + 3] = block[48:64]
    hashes = {**plan.empty, **known}
    for (leaf, index), value in zip(plan.leaves, values, strict=True):
        hashes[leaf] = tree_hash(_LEAF_TAG + seed[leaf] + index + value).digest()[:NODE_BYTES]
    for node in plan.merges:
        child = ARITY * node
        data = _NODE_TAG + hashes[child] + hashes[child + 1] + hashes[child + 2] + hashes[child + 3]
        hashes[node] = tree_hash(data).digest()[:NODE_BYTES]
    return hashes[ROOT]
