"""Generate the layered test vectors of docs/SPEC.md ("Test vectors"), one JSON file per case, next to this file.

Run ``python tests/vectors/generate.py``. Everything is fixed (test keys derived from labels, the issuer's
randomness, every time, and ECDSA signatures, made deterministically as RFC 6979 describes), so
regenerating reproduces every file byte for byte. Every vector is run through the public ``Verifier``
before it is written; a vector whose actual result differs from the expected one is refused and the
generator exits non-zero.

Negative vectors are forged with the test keys so that exactly one check fails: where a forged structure
would also break a signature, the issuer re-signs it (an issuer bug or a stolen key) or the holder re-signs
the presentation (the holder is the attacker).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import struct
import sys
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import reference_verifier  # the reference verifier command, next to this file
import run_conformance
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

import econsent
from econsent import (
    BUILTIN_TYPES,
    Algorithm,
    ClaimKind,
    ClaimSpec,
    Credential,
    CredentialType,
    ErrorCode,
    Issuer,
    IssuerName,
    PossessionProblem,
    PossessionProof,
    PublicKey,
    SigningKey,
    StatusReference,
    TrustedKey,
    TrustStore,
    TypeRegistry,
    VerificationError,
    present,
    prove_possession,
)
from econsent import _disclosure as tree
from econsent._envelope import (
    CREDENTIAL_CONTEXT,
    POSSESSION_CONTEXT,
    PRESENTATION_CONTEXT,
    STATUS_LIST_CONTEXT,
    TRUST_LIST_CONTEXT,
    possession_input,
    presentation_fingerprint,
    sign_credential,
    sign_status_list,
)
from econsent._wire import decode_payload, pack, text_from_payload
from econsent.keys import ED25519_WEAK_ENCODINGS, SM2_DEFAULT_USER_ID, HashSuite, sm3
from econsent.model import claims_to_json
from econsent.status import CredentialStatus, StatusListBuilder
from econsent.trust import KeyStatus, sign_trust_list
from econsent.verify import _disclosed_claims

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the one test-key derivation
from testkeys import KEY_DERIVATION, P256_ORDER, SM2_ORDER, ed25519_test_key, es256_test_key, sm2_test_key

HERE = Path(__file__).resolve().parent
GENERATOR = "tests/vectors/generate.py"
STAGES = ("text", "payload", "issuer_signature", "validity", "holder_signature", "freshness", "policy")
TEST_KEY_NOTE = "TEST KEY, never trust"
SIGNATURE_FIELD = 66  # 0xc4 0x40 + 64 signature bytes: always the last field of a presentation


def unix(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp())


# Times (Unix seconds). The verifier's clock is NOW; the holder's phone made the code 12 s earlier.
KEY_FROM = unix("2020-01-01T00:00:00+00:00")
KEY_UNTIL = unix("2035-01-01T00:00:00+00:00")
ISSUED_AT = unix("2024-03-01T10:00:00+08:00")
REF_VALID_FROM = unix("2019-01-15T00:00:00+08:00")
REF_VALID_UNTIL = unix("2029-01-15T00:00:00+08:00")
NOW = unix("2025-05-20T14:30:00+08:00")
PRESENTED_AT = NOW - 12
LIFETIME = 60
LEEWAY = 30  # Policy default
MAX_LIFETIME = 300  # Policy default

# ---------------------------------------------------------------------------------------------- keys


KEYS: dict[str, SigningKey] = {
    "issuer-es256": es256_test_key("issuer-es256"),
    "issuer-ed25519": ed25519_test_key("issuer-ed25519"),
    "holder-es256": es256_test_key("holder-es256"),
    "holder-ed25519": ed25519_test_key("holder-ed25519"),
    "anchor-es256": es256_test_key("anchor-es256"),
    "other-holder-es256": es256_test_key("other-holder-es256"),
    "rogue-issuer-es256": es256_test_key("rogue-issuer-es256"),
    "rogue-anchor-es256": es256_test_key("rogue-anchor-es256"),
    "issuer-sm2": sm2_test_key("issuer-sm2"),
    "holder-sm2": sm2_test_key("holder-sm2"),
}
_used_keys: set[str] = set()


class TestSigner:
    """A test key that signs deterministically (RFC 6979 for ES256; Ed25519 is deterministic by design; SM2
    with k = int(SHA-256("econsent test sm2 k" 0x00 || d || data)) mod (n - 1) + 1, see :func:`sm2_sign`)."""

    def __init__(self, signing: SigningKey, sm2_user_id: bytes | None = None) -> None:
        self.signing = signing
        self.algorithm = signing.algorithm
        self.public_key = signing.public_key
        self._private = signing._key
        self.sm2_user_id = sm2_user_id

    def sign(self, data: bytes) -> bytes:
        if self.algorithm is Algorithm.SM2:
            signature = sm2_sign(self._private.d, data, self.sm2_user_id or SM2_DEFAULT_USER_ID)  # type: ignore[union-attr]
            assert self.public_key.verify(signature, data, sm2_user_id=self.sm2_user_id)
            return signature
        if isinstance(self._private, ec.EllipticCurvePrivateKey):
            der = self._private.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
            r, s = decode_dss_signature(der)
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return self.signing.sign(data)

    def sign_with_nonce(self, data: bytes, k: int) -> bytes:
        """An ES256 signature with a chosen nonce ``k``: another valid signature of the same bytes."""
        assert isinstance(self._private, ec.EllipticCurvePrivateKey)
        d = self._private.private_numbers().private_value
        r = ec.derive_private_key(k, ec.SECP256R1()).public_key().public_numbers().x % P256_ORDER
        z = int.from_bytes(hashlib.sha256(data).digest(), "big")
        s = pow(k, -1, P256_ORDER) * (z + r * d) % P256_ORDER
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert self.public_key.verify(signature, data)
        return signature


def key(name: str, *, sm2_user_id: bytes | None = None) -> TestSigner:
    """A test key by name; the vector being built publishes every key it used."""
    _used_keys.add(name)
    return TestSigner(KEYS[name], sm2_user_id)


def sm2_sign(d: int, data: bytes, user_id: bytes) -> bytes:
    """GB/T 32918.2 section 6.1 with a deterministic k, so regenerating the SM2 vectors reproduces every byte."""
    from econsent.keys import _SM2_CURVE_BYTES, _sm2_base_multiple

    x_a, y_a = _sm2_base_multiple(d)
    za = sm3(
        (8 * len(user_id)).to_bytes(2, "big")
        + user_id
        + _SM2_CURVE_BYTES
        + x_a.to_bytes(32, "big")
        + y_a.to_bytes(32, "big")
    )
    e = int.from_bytes(sm3(za + data), "big")
    k = int.from_bytes(hashlib.sha256(b"econsent test sm2 k\x00" + d.to_bytes(32, "big") + data).digest(), "big")
    k = k % (SM2_ORDER - 1) + 1
    r = (e + _sm2_base_multiple(k)[0]) % SM2_ORDER
    s = pow(1 + d, -1, SM2_ORDER) * (k - r * d) % SM2_ORDER
    assert r and r + k != SM2_ORDER and s  # one in 2**256 each: a test key that hit one would need another label
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def spki_der(public_key: PublicKey) -> bytes:
    """The DER SubjectPublicKeyInfo a kid is computed over (SPEC 6): named curve and uncompressed point for P-256
    and SM2 (SM3 for SM2's kid)."""
    if public_key.algorithm is Algorithm.SM2:
        der = base64.b64decode(b"".join(public_key.to_pem().splitlines()[1:-1]))
        assert sm3(der)[:8] == public_key.kid
        return der
    der = serialization.load_pem_public_key(public_key.to_pem()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert hashlib.sha256(der).digest()[:8] == public_key.kid
    return der


def test_keys_document(names: Iterable[str]) -> dict[str, Any]:
    document = {}
    for name in sorted(names):
        signing = KEYS[name]
        document[name] = {
            "note": TEST_KEY_NOTE,
            "algorithm": signing.algorithm.value,
            "kid": signing.public_key.kid.hex(),
            "public_raw_hex": signing.public_key.raw.hex(),
            "spki_der_hex": spki_der(signing.public_key).hex(),
            "derivation": KEY_DERIVATION[signing.algorithm],
            "private_pem": signing.to_pem().decode("ascii"),
        }
    return document


def fixed_random(label: str) -> Callable[[int], bytes]:
    """The issuer's randomness (serial, then disclosure seed): SHA-256 of the label and a call counter."""
    counter = itertools.count()

    def random_bytes(length: int) -> bytes:
        assert length <= 32
        block = f"econsent test random\x00{label}\x00{next(counter)}".encode()
        return hashlib.sha256(block).digest()[:length]

    return random_bytes


RANDOMNESS = (
    "Issuer(random_bytes=f) with f's k-th call (from 0) returning the first n bytes of "
    "SHA-256('econsent test random' 0x00 || label 0x00 || decimal k); the label is the credential's "
    "name in generate.py. Issue calls f(8) for the serial (shifted right by one bit), then f(16) for the seed."
)

# ------------------------------------------------------------------------------------- trust stores

ALL_TYPE_NAMES = ("business-licence", "driving-licence", "every-kind", "marriage-certificate", "residence-permit")


def trusted(
    name: str,
    zh: str,
    en: str,
    types: Sequence[str] = ALL_TYPE_NAMES,
    window: tuple[int, int] = (KEY_FROM, KEY_UNTIL),
    status: tuple[KeyStatus, int] | None = None,
    sm2_user_id: bytes | None = None,
) -> TrustedKey:
    return TrustedKey(
        public_key=KEYS[name].public_key,
        issuer=IssuerName(zh, en),
        credential_types=frozenset(types),
        valid_from=dt.datetime.fromtimestamp(window[0], dt.UTC),
        valid_until=dt.datetime.fromtimestamp(window[1], dt.UTC),
        status=KeyStatus.ACTIVE if status is None else status[0],
        status_since=None if status is None else dt.datetime.fromtimestamp(status[1], dt.UTC),
        sm2_user_id=sm2_user_id,
    )


def issuer_sm2_entry(**kwargs: Any) -> TrustedKey:
    return trusted("issuer-sm2", "测试签发机关（SM2）", "Test issuer (SM2)", **kwargs)  # noqa: RUF001


def sm2_trust(**kwargs: Any) -> TrustStore:
    """The standard trust store and the SM2 issuer key (only the SM2 vectors hold it: earlier files never change)."""
    return TrustStore([issuer_es256_entry(), issuer_ed25519_entry(), issuer_sm2_entry(**kwargs)])


def issuer_es256_entry(**kwargs: Any) -> TrustedKey:
    return trusted("issuer-es256", "测试签发机关（ES256）", "Test issuer (ES256)", **kwargs)  # noqa: RUF001


def issuer_ed25519_entry(**kwargs: Any) -> TrustedKey:
    return trusted("issuer-ed25519", "测试签发机关（Ed25519）", "Test issuer (Ed25519)", **kwargs)  # noqa: RUF001


def standard_trust() -> TrustStore:
    return TrustStore([issuer_es256_entry(), issuer_ed25519_entry()])


# ---------------------------------------------------------------------------------------- claims


def day(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


REFERENCE_LICENCE: dict[str, Any] = {
    "family_name": "张",
    "given_name": "伟",
    "birth_date": day("1985-03-14"),
    "licence_number": "310101198503140012",
    "vehicle_classes": ("C1", "D"),
    "issue_date": day("2019-01-15"),
    "expiry_date": day("2029-01-15"),
    "issuing_authority": "上海市公安局交通警察总队",
    "address": "上海市黄浦区豫园街道人民路一二三弄四号五零二室",
}
SECOND_LICENCE: dict[str, Any] = {
    "family_name": "李",
    "given_name": "秀英",
    "birth_date": day("1958-11-02"),
    "licence_number": "310104195811020027",
    "vehicle_classes": ("A1", "A2", "B1", "C1"),
    "issue_date": day("1990-05-20"),
    "expiry_date": day("2030-05-20"),
    "issuing_authority": "上海市公安局交通警察总队",
    "address": "上海市徐汇区漕溪北路八号",
}
BUSINESS_LICENCE: dict[str, Any] = {
    "unified_social_credit_code": "91310000MA1FL4XX3K",
    "company_name": "上海示例科技有限公司",
    "legal_representative": "李娜",
    "company_type": "有限责任公司（自然人投资或控股）",  # noqa: RUF001
    "registered_capital": "人民币100.0000万元整",
    "established_on": day("2018-07-01"),
    "address": "上海市浦东新区张江路一号",
    "business_scope": (
        "从事信息科技、计算机科技领域内的技术开发、技术咨询、技术服务、技术转让，计算机系统集成，"  # noqa: RUF001
        "软件开发，数据处理服务。【依法须经批准的项目，经相关部门批准后方可开展经营活动】"  # noqa: RUF001
    ),
}
MARRIAGE_CERTIFICATE: dict[str, Any] = {
    "certificate_number": "J310101-2021-004512",
    "registration_date": day("2021-05-20"),
    "spouse_a_name": "王小明",
    "spouse_b_name": "陈美玲",
    "spouse_a_id_number": "310101199004051234",
    "spouse_b_id_number": "31010119920817204X",
    "spouse_a_birth_date": day("1990-04-05"),
    "spouse_b_birth_date": day("1992-08-17"),
    "registration_authority": "上海市黄浦区民政局婚姻登记处",
}
RESIDENCE_PERMIT: dict[str, Any] = {
    "family_name": "Müller",
    "given_name": "Anna",
    "permit_number": "310000202300012345",
    "expiry_date": day("2028-02-29"),
    "nationality": "德国",
    "birth_date": day("1996-02-29"),
    "issue_date": day("2023-03-01"),
    "issuing_authority": "上海市公安局出入境管理局",
    "address": "上海市静安区南京西路一千号",
}

# A deployment-defined type (id >= 1000) with every claim kind. 19 claims: a depth-3 tree (node ids to 127).
_EVERY_KINDS = (
    ("ascii_text", ClaimKind.TEXT),
    ("latin_text", ClaimKind.TEXT),
    ("emoji_text", ClaimKind.TEXT),
    ("chinese_text", ClaimKind.TEXT),
    ("mixed_text", ClaimKind.TEXT),
    ("int_min", ClaimKind.INT),
    ("int_max", ClaimKind.INT),
    ("int_small", ClaimKind.INT),
    ("bool_true", ClaimKind.BOOL),
    ("bool_false", ClaimKind.BOOL),
    ("date_before_1970", ClaimKind.DATE),
    ("date_far", ClaimKind.DATE),
    ("bytes_value", ClaimKind.BYTES),
    ("text_list", ClaimKind.TEXT_LIST),
    ("int_list", ClaimKind.INT_LIST),
    ("bool_list", ClaimKind.BOOL_LIST),
    ("date_list", ClaimKind.DATE_LIST),
    ("bytes_list", ClaimKind.BYTES_LIST),
    ("empty_list", ClaimKind.INT_LIST),
)
EVERY_KIND = CredentialType(
    name="every-kind",
    type_id=1000,
    claims=tuple(ClaimSpec(name, kind) for name, kind in _EVERY_KINDS),
    profiles={"texts": ("ascii_text", "latin_text", "emoji_text", "chinese_text")},
)
EVERY_KIND_CLAIMS: dict[str, Any] = {
    "ascii_text": "Plain ASCII, 7-bit.",
    "latin_text": "José Müller, café à Besançon",  # 2-byte é/ü/à in GB18030 too, 4-byte ç: stays UTF-8
    "emoji_text": "驾驶 🚗 ok ✅",  # emoji are 4 bytes in GB18030: stays UTF-8 despite the Chinese
    "chinese_text": "上海市黄浦区人民路",  # compact text: a msgpack bin of GB18030 bytes
    "mixed_text": "No. 12 人民路, Room 502",  # ASCII + two-byte Chinese: compact
    "int_min": -(2**63),
    "int_max": 2**63 - 1,
    "int_small": -1,
    "bool_true": True,
    "bool_false": False,
    "date_before_1970": day("1900-01-01"),
    "date_far": day("2100-12-31"),
    "bytes_value": bytes([0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]),
    "text_list": ("C1", "驾驶", "é", ""),
    "int_list": (-(2**40), -33, -32, 0, 127, 128, 2**32),
    "bool_list": (True, False, True),
    "date_list": (day("1969-12-31"), day("1970-01-01"), day("2000-02-29")),
    "bytes_list": (b"", b"\xff\xff\xff"),
    "empty_list": (),
}
TYPES = BUILTIN_TYPES.with_types(EVERY_KIND)


def type_document(ctype: CredentialType) -> dict[str, Any]:
    """A type definition as `econsent types --json` prints it."""
    return {
        "name": ctype.name,
        "type_id": ctype.type_id,
        "claims": [{"name": c.name, "kind": c.kind.value} for c in ctype.claims],
        "profiles": {name: list(members) for name, members in ctype.profiles.items()},
    }


# ---------------------------------------------------------------------------------------- issuing


def issue(
    label: str,
    type_name: str,
    claims: Mapping[str, Any],
    *,
    issuer: str = "issuer-es256",
    holder: str | None = "holder-es256",
    valid_from: int = REF_VALID_FROM,
    valid_until: int = REF_VALID_UNTIL,
    issued_at: int = ISSUED_AT,
    derive: Sequence[str] = (),
    status: StatusReference | None = None,
    sm2_user_id: bytes | None = None,
) -> Credential:
    signer = Issuer(key(issuer, sm2_user_id=sm2_user_id), types=TYPES, random_bytes=fixed_random(label))
    challenge = hashlib.sha256(f"econsent test challenge\x00{label}".encode()).digest()
    return signer.issue(
        type_name,
        claims,
        holder_key=None if holder is None else key(holder).public_key,
        possession=None if holder is None else prove_possession(key(holder), challenge, issuer_kid=signer.kid),
        challenge=None if holder is None else challenge,
        valid_from=valid_from,
        valid_until=valid_until,
        now=issued_at,
        derive=derive,
        status=status,
    )


def payload_of(text: str) -> bytes:
    """The payload of an ``EC1:`` text; ValueError when the text does not carry one."""
    prefix, _, body = text.partition(":")
    if prefix != "EC1" or not body.isascii() or not body.isdigit() or body[0] == "0":
        raise ValueError("not an EC1 text")
    number = int(body)
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    if raw[0] != 0x01:
        raise ValueError("no sentinel byte")
    return raw[1:]


# -------------------------------------------------------------------------------------- forging


class Raw(bytes):
    """Pre-encoded msgpack bytes placed as they are (non-canonical or otherwise forged encodings)."""


HEADER_FIELDS = ("type_id", "kid", "serial", "issued_at", "valid_from", "valid_until", "present", "holder", "status")


@dataclasses.dataclass(frozen=True)
class Material:
    """Everything the issuer committed to: header fields, wire claim values by index, the root seed."""

    ctype: CredentialType
    header: tuple[Any, ...]
    claims: Mapping[int, Any]
    root_seed: bytes

    @classmethod
    def of(cls, credential: Credential) -> Material:
        wire = decode_payload(credential.encoded)
        ctype = TYPES.by_id(wire.header.type_id)
        assert ctype is not None
        indices = tree.bits(wire.header.present)
        return cls(ctype, tuple(wire.header.to_wire()), dict(zip(indices, wire.values, strict=True)), wire.seeds[1])

    def replace(self, **fields: Any) -> Material:
        header = list(self.header)
        for name, value in fields.items():
            header[HEADER_FIELDS.index(name)] = value
        return dataclasses.replace(self, header=tuple(header))

    def with_claim(self, index: int, wire_value: Any) -> Material:
        return dataclasses.replace(self, claims={**self.claims, index: wire_value})

    @property
    def depth(self) -> int:
        return tree.tree_depth(len(self.ctype.claims))

    @property
    def present(self) -> int:
        return int(self.header[6])

    def _salts(self) -> dict[int, bytes]:
        return tree.leaf_salts(self.depth, {tree.ROOT: self.root_seed}, self.present)

    def _value_bytes(self, index: int) -> bytes:
        return pack(self.claims[index])

    def node_hash(self, node: int) -> bytes:
        return tree.node_hash(self.depth, node, self.present, self._salts(), self._value_bytes, {})

    def seed(self, node: int) -> bytes:
        return tree.node_seed(self.root_seed, node)

    def leaf(self, index: int) -> int:
        """The node id of claim ``index``'s leaf."""
        return int(tree.ARITY**self.depth) + index

    def root(self) -> bytes:
        return self.node_hash(tree.ROOT)

    def sign(self, issuer: str, header_bytes: bytes | None = None) -> bytes:
        """The issuer's signature over these header bytes (canonical unless given) and the root."""
        return sign_credential(
            key(issuer), pack(list(self.header)) if header_bytes is None else header_bytes, self.root()
        )

    def disclosure(self, disclosed: int) -> tuple[list[Any], dict[int, bytes], dict[int, bytes]]:
        """Values, open-cover seeds and closed-cover hashes for a disclosed set (a bit mask)."""
        depth, present = self.depth, self.present
        values = [self.claims[i] for i in tree.bits(present) if disclosed >> i & 1]
        seeds = {node: self.seed(node) for node in tree.open_cover(depth, present, disclosed)}
        nodes = {node: self.node_hash(node) for node in tree.closed_cover(depth, present, disclosed)}
        return values, seeds, nodes

    def mask(self, names: Iterable[str]) -> int:
        return sum(1 << self.ctype.index_of(name) for name in names)


def encode(items: Sequence[Any]) -> bytes:
    """A msgpack array of the items (each packed canonically unless it is Raw)."""
    assert len(items) < 16
    return bytes((0x90 | len(items),)) + b"".join(i if isinstance(i, Raw) else pack(i) for i in items)


def items(
    material: Material,
    issuer_signature: bytes,
    disclosed: int,
    *,
    presented_at: int = PRESENTED_AT,
    lifetime: int = LIFETIME,
    binding: list[Any] | None = None,
) -> list[Any]:
    """The nine fields of a presentation, holder signature still a zero placeholder."""
    values, seeds, nodes = material.disclosure(disclosed)
    return [list(material.header), values, seeds, nodes, issuer_signature, presented_at, lifetime, binding, bytes(64)]


def seal(fields: Sequence[Any], holder: str | None, context: bytes = PRESENTATION_CONTEXT) -> bytes:
    """Encode and let the holder sign every byte before the signature field (as SPEC 3.4 says)."""
    data = encode(fields)
    if holder is None:
        return data
    assert data[-SIGNATURE_FIELD:-64] == b"\xc4\x40"
    return data[:-64] + key(holder).sign(context + data[:-SIGNATURE_FIELD])


def resign(payload: bytes, holder: str, k: int | None = None) -> bytes:
    """The holder's signature made again over the same bytes (with nonce ``k``: another ES256 signature)."""
    signed = PRESENTATION_CONTEXT + payload[:-SIGNATURE_FIELD]
    return payload[:-64] + (key(holder).sign(signed) if k is None else key(holder).sign_with_nonce(signed, k))


def raw_map(pairs: Sequence[tuple[int, bytes]]) -> Raw:
    """A msgpack map written pair by pair, in the given order (duplicates allowed)."""
    assert len(pairs) < 16
    return Raw(bytes((0x80 | len(pairs),)) + b"".join(pack(k) + pack(v) for k, v in pairs))


# ------------------------------------------------------------------------------------ vector model


@dataclasses.dataclass
class Case:
    """One vector as the generator describes it, before it is checked and written."""

    description: str
    text: str | list[str]  # a list for a replay case
    result: str | list[str]  # "valid" or an ErrorCode value (a list for a replay case)
    stage: str | None = None  # the stage that fails (None when valid; the last text's for a replay case)
    trust: TrustStore = dataclasses.field(default_factory=standard_trust)
    policy: dict[str, Any] = dataclasses.field(default_factory=dict)
    now: int = NOW
    nonce: bytes | None = None
    payload: bytes | None = None  # the payload a non-decodable text was made from
    claims: Mapping[str, Any] | None = None  # expected disclosed claims (Python values) of a valid case
    withheld: Sequence[str] = ()
    types: Sequence[CredentialType] = ()
    trust_list: bytes | None = None  # a signed trust list (anchor: "anchor-es256") used instead of trust
    status_lists: Sequence[bytes] = ()  # signed status lists the verifier holds
    refused_status_lists: Sequence[tuple[bytes, str]] = ()  # (file, StatusListReason) offered after those
    refused_trust_lists: Sequence[tuple[bytes, str]] = ()  # (file, TrustListProblem) offered after trust_list
    stages_per_text: Sequence[str | None] = ()  # replay cases: the failing stage of each text (None: valid)
    weak_key: Mapping[str, Any] | None = None  # a small-order key the case forged with (SPEC 6.1)


CASES: list[tuple[str, Callable[[], Case]]] = []


def case(name: str) -> Callable[[Callable[[], Case]], Callable[[], Case]]:
    def register(build: Callable[[], Case]) -> Callable[[], Case]:
        CASES.append((name, build))
        return build

    return register


def type_named(name: str) -> CredentialType:
    ctype = TYPES.by_name(name)
    assert ctype is not None
    return ctype


DL = type_named("driving-licence")
BL = type_named("business-licence")
MC = type_named("marriage-certificate")
RP = type_named("residence-permit")


def selected(claims: Mapping[str, Any], ctype: CredentialType, names: Iterable[str] | None) -> dict[str, Any]:
    """The expected disclosed claims: the named ones (all when None), in the type's claim order."""
    wanted = set(claims) if names is None else set(names)
    return {c.name: claims[c.name] for c in ctype.claims if c.name in wanted and c.name in claims}


def withheld_names(claims: Mapping[str, Any], ctype: CredentialType, names: Iterable[str] | None) -> list[str]:
    shown = selected(claims, ctype, names)
    return [c.name for c in ctype.claims if c.name in claims and c.name not in shown]


def reference(label: str = "reference", **options: Any) -> Credential:
    return issue(label, "driving-licence", REFERENCE_LICENCE, **options)


def show(
    credential: Credential,
    holder: str | None = "holder-es256",
    *,
    presented_at: int = PRESENTED_AT,
    lifetime: int = LIFETIME,
    names: Iterable[str] | None = None,
    profile: str | None = None,
    nonce: bytes | None = None,
    audience: str | None = None,
    issuer_algorithm: str = "ES256",
) -> str:
    """A genuine presentation made with the public wallet API (in the suite of ``issuer_algorithm``)."""
    return present(
        credential,
        None if holder is None else key(holder),
        now=presented_at,
        lifetime=lifetime,
        disclose=None if names is None or profile is not None else list(names),
        profile=profile,
        nonce=nonce,
        audience=audience,
        types=TYPES,
        issuer_algorithm=issuer_algorithm,
    )


def valid_case(
    description: str,
    credential: Credential,
    claims: Mapping[str, Any],
    ctype: CredentialType,
    *,
    names: Iterable[str] | None = None,
    holder: str | None = "holder-es256",
    profile: str | None = None,
    nonce: bytes | None = None,
    audience: str | None = None,
    presented_at: int = PRESENTED_AT,
    lifetime: int = LIFETIME,
    issuer_algorithm: str = "ES256",
    **case_fields: Any,
) -> Case:
    """A genuine presentation that must verify, with the claims it must disclose."""
    names = list(ctype.profiles[profile]) if profile is not None else None if names is None else list(names)
    text = show(
        credential,
        holder,
        presented_at=presented_at,
        lifetime=lifetime,
        names=names,
        profile=profile,
        nonce=nonce,
        audience=audience,
        issuer_algorithm=issuer_algorithm,
    )
    return Case(
        description,
        text,
        "valid",
        nonce=nonce,
        claims=selected(claims, ctype, names),
        withheld=withheld_names(claims, ctype, names),
        **case_fields,
    )


def reject(description: str, code: ErrorCode, stage: str, forged: str | bytes, **case_fields: Any) -> Case:
    """A vector that must fail with ``code``; ``forged`` is the payload (bytes) or the QR text itself."""
    text = text_from_payload(forged) if isinstance(forged, bytes) else forged
    return Case(description, text, code.value, stage, **case_fields)


# ---------------------------------------------------------------------------------- positive cases


@case("driving-licence-full")
def _() -> Case:
    return valid_case(
        "The reference driving licence (ES256 issuer, ES256 holder key), every claim disclosed.",
        reference(),
        REFERENCE_LICENCE,
        DL,
    )


@case("driving-licence-driving-check")
def _() -> Case:
    return valid_case(
        "The reference licence shown with the driving-check profile (claims 0-3: one seed, for node 4).",
        reference(),
        REFERENCE_LICENCE,
        DL,
        profile="driving-check",
    )


@case("driving-licence-name")
def _() -> Case:
    return valid_case(
        "The reference licence shown with the name profile (claims 0-1: seeds for leaves 16 and 17).",
        reference(),
        REFERENCE_LICENCE,
        DL,
        profile="name",
    )


@case("driving-licence-nothing-disclosed")
def _() -> Case:
    return valid_case(
        "The reference licence with no claim disclosed: seeds {}, nodes {1: root}. Proves possession only.",
        reference(),
        REFERENCE_LICENCE,
        DL,
        names=[],
    )


@case("driving-licence-scattered")
def _() -> Case:
    return valid_case(
        "Three claims from different blocks (family_name, licence_number, address): seeds and hashes at two levels.",
        reference(),
        REFERENCE_LICENCE,
        DL,
        names=["family_name", "licence_number", "address"],
    )


@case("driving-licence-ed25519")
def _() -> Case:
    return valid_case(
        "The reference licence signed by an Ed25519 issuer key and bound to an Ed25519 holder key.",
        reference("reference-ed25519", issuer="issuer-ed25519", holder="holder-ed25519"),
        REFERENCE_LICENCE,
        DL,
        holder="holder-ed25519",
    )


@case("mixed-es256-issuer-ed25519-holder")
def _() -> Case:
    return valid_case(
        "ES256 issuer, Ed25519 holder key; driving-check profile.",
        reference("reference-ed25519-holder", holder="holder-ed25519"),
        REFERENCE_LICENCE,
        DL,
        holder="holder-ed25519",
        profile="driving-check",
    )


@case("mixed-ed25519-issuer-es256-holder")
def _() -> Case:
    return valid_case(
        "Ed25519 issuer, ES256 holder key; every claim.",
        reference("reference-ed25519-issuer", issuer="issuer-ed25519"),
        REFERENCE_LICENCE,
        DL,
    )


NONCE = hashlib.sha256(b"econsent test nonce").digest()[:16]
OTHER_NONCE = hashlib.sha256(b"econsent test nonce, another").digest()[:16]
AUDIENCE = "sh-huangpu-dmv-counter-07"
OTHER_AUDIENCE = "sh-pudong-dmv-counter-02"


@case("nonce-and-audience")
def _() -> Case:
    return valid_case(
        "A presentation bound to the verifier's 16-byte nonce and to its audience; the policy names the audience.",
        reference(),
        REFERENCE_LICENCE,
        DL,
        profile="driving-check",
        nonce=NONCE,
        audience=AUDIENCE,
        policy={"audience": AUDIENCE},
    )


def business_licence() -> Credential:
    return issue(
        "business",
        "business-licence",
        BUSINESS_LICENCE,
        issuer="issuer-ed25519",
        holder=None,
        valid_from=unix("2018-07-01T00:00:00+08:00"),
        valid_until=unix("2038-06-30T00:00:00+08:00"),
    )


@case("bearer-business-licence")
def _() -> Case:
    return valid_case(
        "A bearer business licence (no holder key: a printed certificate, 5 payload fields), every claim; the "
        "policy accepts bearer codes. Freshness is skipped: a bearer code has no presentation time.",
        business_licence(),
        BUSINESS_LICENCE,
        BL,
        holder=None,
        policy={"accept_bearer": True},
    )


def every_kind() -> Credential:
    return issue(
        "every-kind",
        "every-kind",
        EVERY_KIND_CLAIMS,
        valid_from=unix("2024-01-01T00:00:00+00:00"),
        valid_until=unix("2034-01-01T00:00:00+00:00"),
    )


@case("every-claim-kind")
def _() -> Case:
    return valid_case(
        "A deployment-defined type (id 1000, its definition in `types`) with every claim kind: extreme ints, "
        "booleans, dates before 1970, bytes, every list kind and an empty list; ASCII, Latin and emoji text stay "
        "UTF-8 (str), Chinese and mixed text go compact (GB18030 bin). 19 claims: a depth-3 tree.",
        every_kind(),
        EVERY_KIND_CLAIMS,
        EVERY_KIND,
        types=[EVERY_KIND],
    )


@case("every-claim-kind-partial")
def _() -> Case:
    return valid_case(
        "The every-kind credential with four scattered claims disclosed: seeds and hashes at three levels.",
        every_kind(),
        EVERY_KIND_CLAIMS,
        EVERY_KIND,
        names=["chinese_text", "int_min", "date_before_1970", "empty_list"],
        types=[EVERY_KIND],
    )


@case("derived-age-over-18")
def _() -> Case:
    return valid_case(
        "age_over_18 and age_over_60 derived by the issuer from birth_date on the UTC day of issuance; the "
        "age-check profile shows age_over_18 only.",
        reference("reference-age", derive=["age_over_18", "age_over_60"]),
        {**REFERENCE_LICENCE, "age_over_18": True, "age_over_60": False},
        DL,
        profile="age-check",
    )


@case("marriage-certificate")
def _() -> Case:
    return valid_case(
        "A marriage certificate (Ed25519 issuer, ES256 holder) shown with the married-to profile.",
        issue(
            "marriage",
            "marriage-certificate",
            MARRIAGE_CERTIFICATE,
            issuer="issuer-ed25519",
            valid_from=unix("2021-05-20T00:00:00+08:00"),
            valid_until=unix("2121-05-20T00:00:00+08:00"),
        ),
        MARRIAGE_CERTIFICATE,
        MC,
        profile="married-to",
    )


@case("residence-permit")
def _() -> Case:
    return valid_case(
        "A residence permit (Latin-script names stay UTF-8; ES256 issuer, Ed25519 holder), residence-check profile.",
        issue(
            "residence",
            "residence-permit",
            RESIDENCE_PERMIT,
            holder="holder-ed25519",
            valid_from=unix("2023-03-01T00:00:00+08:00"),
            valid_until=unix("2028-03-01T00:00:00+08:00"),
        ),
        RESIDENCE_PERMIT,
        RP,
        holder="holder-ed25519",
        profile="residence-check",
    )


@case("phone-clock-ahead-by-leeway")
def _() -> Case:
    return valid_case(
        "presented_at is exactly clock_leeway (30 s) ahead of the verifier's clock: the last accepted offset.",
        reference(),
        REFERENCE_LICENCE,
        DL,
        profile="name",
        presented_at=NOW + LEEWAY,
    )


@case("last-second-of-freshness")
def _() -> Case:
    return valid_case(
        "Verified at presented_at + lifetime + clock_leeway exactly: the last accepted second.",
        reference(),
        REFERENCE_LICENCE,
        DL,
        profile="name",
        now=PRESENTED_AT + LIFETIME + LEEWAY,
    )


@case("first-second-of-validity")
def _() -> Case:
    return valid_case(
        "Verified at valid_from exactly (no leeway applies to valid_from).",
        reference("reference-starts-now", valid_from=NOW),
        REFERENCE_LICENCE,
        DL,
        profile="name",
    )


@case("last-second-of-validity")
def _() -> Case:
    return valid_case(
        "Verified at valid_until exactly (no leeway applies to valid_until).",
        reference("reference-ends-now", valid_until=NOW),
        REFERENCE_LICENCE,
        DL,
        profile="name",
    )


@case("lifetime-at-maximum")
def _() -> Case:
    return valid_case(
        "A presentation claiming exactly the policy's max_lifetime (the default 300 s).",
        reference(),
        REFERENCE_LICENCE,
        DL,
        profile="name",
        lifetime=MAX_LIFETIME,
    )


def high_s(signature: bytes) -> bytes:
    """The other valid ECDSA signature (r, n - s), chosen so that s > n / 2."""
    s = int.from_bytes(signature[32:], "big")
    return signature[:32] + (s if s > P256_ORDER // 2 else P256_ORDER - s).to_bytes(32, "big")


@case("ecdsa-high-s-signatures")
def _() -> Case:
    m = material()
    data = seal(items(m, high_s(m.sign("issuer-es256")), m.present), "holder-es256")
    return Case(
        "Issuer and holder ES256 signatures both with s > n/2: SPEC 6 asks only 0 < r, s < n, so a verifier "
        "must not insist on low-S (ECDSA malleability is why replay fingerprints exclude the signature).",
        text_from_payload(data[:-64] + high_s(data[-64:])),
        "valid",
        claims=selected(REFERENCE_LICENCE, DL, None),
        withheld=[],
    )


def status_list(size: int = 8, *, next_update: int = NOW + 86400) -> bytes:
    """Status list 7 of the ES256 test issuer (issuer_ref kid:<hex>): index 5 revoked, 6 suspended."""
    builder = StatusListBuilder(size)
    builder.set(5, CredentialStatus.REVOKED)
    builder.set(6, CredentialStatus.SUSPENDED)
    return builder.sign(
        key("issuer-es256"),
        issuer_ref=issuer_es256_entry().issuer_ref,
        list_id=7,
        sequence=1,
        issued_at=next_update - 2 * 86400,
        next_update=next_update,
    )


def status_licence(index: int) -> Credential:
    return reference(f"reference-status-{index}", status=StatusReference(7, index))


@case("status-reference")
def _() -> Case:
    return valid_case(
        "A licence whose header carries a revocation status reference [list_id 7, index 4], checked against the "
        "issuer's signed status list 7 (vector field status_lists), where index 4 is valid.",
        status_licence(4),
        REFERENCE_LICENCE,
        DL,
        profile="driving-check",
        status_lists=[status_list()],
    )


@case("replayed")
def _() -> Case:
    original = show(reference(), profile="driving-check")
    payload = payload_of(original)
    copy = text_from_payload(resign(payload, "holder-es256", k=0x5EED))
    assert copy != original
    return Case(
        "Replay (SPEC 7, step 23): run both texts, in order, through one verifier with one replay cache at the "
        "same time. The second is the first re-signed by the holder over the same signed bytes (a new ECDSA "
        "signature): same fingerprint, so it is REPLAYED although its signature is valid.",
        [original, copy],
        ["valid", ErrorCode.REPLAYED.value],
        "policy",
        claims=selected(REFERENCE_LICENCE, DL, DL.profiles["driving-check"]),
        withheld=withheld_names(REFERENCE_LICENCE, DL, DL.profiles["driving-check"]),
    )


# ------------------------------------------------------------------------------- negative: text form


def reference_presentation(**options: Any) -> bytes:
    return payload_of(show(reference(), **options))


@case("too-large-text")
def _() -> Case:
    return reject(
        "A text of 3,707 characters, one more than any valid code (checked before anything else).",
        ErrorCode.TOO_LARGE,
        "text",
        "EC1:1" + "0" * 3702,
    )


@case("too-large-payload")
def _() -> Case:
    payload = reference_presentation()
    payload += bytes(1537 - len(payload))
    text = "EC1:" + str(int.from_bytes(b"\x01" + payload, "big"))
    assert len(text) <= 3706
    return reject(
        "A 1,537-byte payload (a presentation padded with zero bytes): the text is within 3,706 characters, the "
        "payload one byte over 1,536.",
        ErrorCode.TOO_LARGE,
        "payload",
        text,
        payload=payload,
    )


def digits(payload: bytes) -> str:
    return str(int.from_bytes(b"\x01" + payload, "big"))


@case("unsupported-version")
def _() -> Case:
    payload = reference_presentation()
    return reject(
        "A valid presentation's digits under the prefix EC2: (a future format version).",
        ErrorCode.UNSUPPORTED_VERSION,
        "text",
        "EC2:" + digits(payload),
        payload=payload,
    )


@case("bad-prefix-lowercase")
def _() -> Case:
    payload = reference_presentation()
    return reject(
        "A valid presentation's digits under 'ec1:': the prefix is case-sensitive.",
        ErrorCode.MALFORMED,
        "text",
        "ec1:" + digits(payload),
        payload=payload,
    )


@case("leading-zero")
def _() -> Case:
    payload = reference_presentation()
    return reject(
        "A valid presentation's digits with a leading '0' added (the same integer, another text).",
        ErrorCode.MALFORMED,
        "text",
        "EC1:0" + digits(payload),
        payload=payload,
    )


@case("non-digit")
def _() -> Case:
    payload = reference_presentation()
    body = digits(payload)
    return reject(
        "A valid presentation's digits with the 11th digit replaced by the letter 'O'.",
        ErrorCode.MALFORMED,
        "text",
        "EC1:" + body[:10] + "O" + body[11:],
        payload=payload,
    )


@case("fullwidth-digit")
def _() -> Case:
    payload = reference_presentation()
    body = digits(payload)
    fullwidth = chr(0xFF10 + int(body[10]))
    return reject(
        "A valid presentation's digits with the 11th digit replaced by the same FULLWIDTH digit (U+FF10..U+FF19): "
        "many int() functions accept it; only ASCII 0-9 are allowed.",
        ErrorCode.MALFORMED,
        "text",
        "EC1:" + body[:10] + fullwidth + body[11:],
        payload=payload,
    )


@case("missing-sentinel")
def _() -> Case:
    payload = reference_presentation()
    return reject(
        "The digits of the payload without the 0x01 sentinel byte in front (the integer starts 0x99).",
        ErrorCode.MALFORMED,
        "text",
        "EC1:" + str(int.from_bytes(payload, "big")),
        payload=payload,
    )


# ---------------------------------------------------------------------------- negative: payload form


def material(label: str = "reference", **options: Any) -> Material:
    return Material.of(reference(label, **options))


def presentation(
    m: Material,
    disclosed: int | None = None,
    *,
    issuer: str = "issuer-es256",
    issuer_signature: bytes | None = None,
    holder: str | None = "holder-es256",
    edit: Callable[[list[Any]], None] | None = None,
    **proof: Any,
) -> bytes:
    """A presentation of ``m``, optionally edited before the holder signs it.

    The issuer signs ``m`` as it stands unless ``issuer_signature`` is given (the original signature
    kept over forged content).
    """
    signature = m.sign(issuer) if issuer_signature is None else issuer_signature
    fields = items(m, signature, m.present if disclosed is None else disclosed, **proof)
    if edit is not None:
        edit(fields)
    return seal(fields, holder)


def name_profile(m: Material) -> int:
    return m.mask(DL.profiles["name"])


def driving_check(m: Material) -> int:
    return m.mask(DL.profiles["driving-check"])


@case("trailing-byte")
def _() -> Case:
    return reject(
        "A valid presentation with one byte (0xc0, nil) appended after the msgpack array.",
        ErrorCode.MALFORMED,
        "payload",
        reference_presentation() + b"\xc0",
    )


@case("non-canonical-int")
def _() -> Case:
    m = material()
    header = pack(list(m.header))
    assert header[:2] == b"\x99\x01"
    long_header = b"\x99\xcd\x00\x01" + header[2:]
    fields = items(m, m.sign("issuer-es256", long_header), m.present)
    fields[0] = Raw(long_header)
    return reject(
        "type_id 1 encoded as uint16 (cd 00 01) instead of a positive fixint; the issuer signed these exact header "
        "bytes and the holder signed the presentation, so only canonical form fails.",
        ErrorCode.MALFORMED,
        "payload",
        seal(fields, "holder-es256"),
    )


@case("unordered-map-keys")
def _() -> Case:
    m = material()

    def descending(fields: list[Any]) -> None:
        fields[3] = raw_map(sorted(fields[3].items(), reverse=True))

    return reject(
        "driving-check presentation whose nodes map is written {6: ..., 5: ...} (keys descending); holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, driving_check(m), edit=descending),
    )


@case("duplicate-map-key")
def _() -> Case:
    m = material()

    def duplicate(fields: list[Any]) -> None:
        pairs = sorted(fields[3].items())
        fields[3] = raw_map([pairs[0], *pairs])

    return reject(
        "driving-check presentation whose nodes map holds key 5 twice (same hash); holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, driving_check(m), edit=duplicate),
    )


@case("float-time")
def _() -> Case:
    m = material()

    def as_float(fields: list[Any]) -> None:
        fields[5] = Raw(b"\xcb" + struct.pack(">d", float(PRESENTED_AT)))

    return reject(
        "presented_at written as a float64 (cb ...) of the right value; holder-signed. Floats are never allowed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), edit=as_float),
    )


@case("ext-type-time")
def _() -> Case:
    m = material()

    def as_timestamp(fields: list[Any]) -> None:
        fields[5] = Raw(b"\xd6\xff" + PRESENTED_AT.to_bytes(4, "big"))

    return reject(
        "presented_at written as a msgpack timestamp extension (ext type -1, d6 ff); holder-signed. No extension "
        "type is allowed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), edit=as_timestamp),
    )


@case("wrong-header-length")
def _() -> Case:
    m = material()
    header8 = list(m.header[:8])
    fields = items(m, m.sign("issuer-es256", pack(header8)), m.present)
    fields[0] = header8
    return reject(
        "A header of 8 elements (the status field left out), signed by the issuer; holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        seal(fields, "holder-es256"),
    )


@case("payload-eight-fields")
def _() -> Case:
    payload = reference_presentation()
    return reject(
        "A presentation with the holder signature field removed: an array of 8 elements.",
        ErrorCode.MALFORMED,
        "payload",
        bytes((0x98,)) + payload[1:-SIGNATURE_FIELD],
    )


@case("unknown-holder-algorithm")
def _() -> Case:
    m = material().replace(holder=b"\x03" + KEYS["holder-ed25519"].public_key.raw)
    return reject(
        "Holder key with algorithm byte 0x03 (only 0x01 ES256 and 0x02 Ed25519 exist) before an Ed25519 key; "
        "issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, holder="holder-ed25519"),
    )


@case("holder-signature-der")
def _() -> Case:
    m = material()
    data = presentation(m, name_profile(m), holder=None)
    signed = data[:-SIGNATURE_FIELD]
    raw = key("holder-es256").sign(PRESENTATION_CONTEXT + signed)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    return reject(
        "The holder signature as DER (what phone keystores return) instead of raw r || s: a bin of 70-72 bytes.",
        ErrorCode.MALFORMED,
        "payload",
        signed + pack(der),
    )


@case("nonce-too-short")
def _() -> Case:
    m = material()
    return reject(
        "binding [7-byte nonce, nil]: a nonce has 8 to 32 bytes; holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), binding=[NONCE[:7], None]),
    )


@case("lifetime-zero")
def _() -> Case:
    m = material()
    return reject(
        "lifetime 0 (the range is 1..86400); holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), lifetime=0),
    )


@case("empty-binding")
def _() -> Case:
    m = material()
    return reject(
        "binding [nil, nil]: a binding must set a nonce or an audience (else it is nil); holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), binding=[None, None]),
    )


@case("unknown-type")
def _() -> Case:
    m = material().replace(type_id=999)
    return reject(
        "type_id 999 (reserved, undefined) with driving-licence claims; issuer- and holder-signed.",
        ErrorCode.UNKNOWN_TYPE,
        "payload",
        presentation(m),
    )


@case("status-list-id-out-of-range")
def _() -> Case:
    m = material().replace(status=[65536, 0])
    return reject(
        "Status reference [65536, 0]: list ids are 0..65535. Issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m),
    )


# ---------------------------------------------------------------------------- negative: issuer side


@case("unknown-issuer-key")
def _() -> Case:
    credential = reference("reference-rogue", issuer="rogue-issuer-es256")
    return reject(
        "A well-formed presentation of a licence signed by a key that is not in the trust store.",
        ErrorCode.UNKNOWN_KEY,
        "issuer_signature",
        show(credential),
    )


@case("issuer-algorithm-not-allowed")
def _() -> Case:
    return reject(
        "The reference presentation (ES256 issuer key) to a verifier whose policy allows only Ed25519 issuers.",
        ErrorCode.ALGORITHM_NOT_ALLOWED,
        "issuer_signature",
        show(reference()),
        policy={"issuer_algorithms": ["Ed25519"]},
    )


@case("holder-algorithm-not-allowed")
def _() -> Case:
    return reject(
        "A licence bound to an Ed25519 holder key, to a verifier whose policy allows only ES256 holder keys (SPEC "
        "7 step 9, before the disclosure and the issuer signature are checked).",
        ErrorCode.ALGORITHM_NOT_ALLOWED,
        "issuer_signature",
        show(reference("reference-ed25519-holder", holder="holder-ed25519"), "holder-ed25519"),
        policy={"holder_algorithms": ["ES256"]},
    )


@case("type-not-allowed")
def _() -> Case:
    return reject(
        "The reference presentation against a trust store in which the ES256 issuer key may sign business licences "
        "only.",
        ErrorCode.TYPE_NOT_ALLOWED,
        "issuer_signature",
        show(reference()),
        trust=TrustStore([issuer_es256_entry(types=["business-licence"]), issuer_ed25519_entry()]),
    )


@case("key-not-valid")
def _() -> Case:
    return reject(
        "The reference presentation against a trust store in which the issuer key's signing window ended one "
        "second before the credential's issued_at.",
        ErrorCode.KEY_NOT_VALID,
        "issuer_signature",
        show(reference()),
        trust=TrustStore([issuer_es256_entry(window=(KEY_FROM, ISSUED_AT - 1)), issuer_ed25519_entry()]),
    )


@case("validity-window-empty")
def _() -> Case:
    m = material().replace(valid_from=NOW, valid_until=NOW)
    return reject(
        "valid_from == valid_until (== now): the window must satisfy valid_from < valid_until, a shape rule of the "
        "header (SPEC 7 step 3d). Issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m),
    )


@case("bitmap-names-undefined-claim")
def _() -> Case:
    m = material()
    forged = m.with_claim(12, True).replace(present=m.present | 1 << 12)
    return reject(
        "The issuer-signed bitmap sets bit 12; the driving licence defines claims 0-11 only. Claim 12 is withheld "
        "(its hash is in node 7). Issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(forged, m.present),
    )


@case("claim-never-issued")
def _() -> Case:
    m = material()

    def add_claim(fields: list[Any]) -> None:
        fields[1].append(True)
        fields[2][m.leaf(9)] = m.seed(m.leaf(9))

    return reject(
        "name presentation plus a seed for leaf 25 and a value true for claim 9 (age_over_18), which the bitmap "
        "does not name: the disclosed set is the present leaves below the seeds, so there is one value too many. "
        "Holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m, name_profile(m), edit=add_claim),
    )


@case("seeds-not-canonical-cover")
def _() -> Case:
    m = material()

    def split(fields: list[Any]) -> None:
        fields[2] = {m.leaf(i): m.seed(m.leaf(i)) for i in range(4)}

    return reject(
        "driving-check (claims 0-3) with the seeds of leaves 16-19 instead of the seed of node 4: the same claims "
        "and root, but not the canonical open cover. Holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m, driving_check(m), edit=split),
    )


@case("seed-for-withheld-claim")
def _() -> Case:
    m = material()

    def leak(fields: list[Any]) -> None:
        fields[2] = dict(sorted({**fields[2], m.leaf(2): m.seed(m.leaf(2))}.items()))

    return reject(
        "name presentation that also carries the seed of leaf 18 (vehicle_classes, withheld: its hash stays in "
        "nodes). Holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m, name_profile(m), edit=leak),
    )


@case("extra-node-hash")
def _() -> Case:
    m = material()

    def extra(fields: list[Any]) -> None:
        fields[3] = dict(sorted({**fields[3], 7: m.node_hash(7)}.items()))

    return reject(
        "name presentation with an extra hash for node 7 (claims 12-15, none present: the constant height-1 hash, "
        "so the root is unchanged). Holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m, name_profile(m), edit=extra),
    )


@case("missing-node-hash")
def _() -> Case:
    m = material()

    def drop(fields: list[Any]) -> None:
        del fields[3][6]

    return reject(
        "name presentation without the hash of node 6 (claim 8, address, withheld). Holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m, name_profile(m), edit=drop),
    )


@case("value-count-mismatch")
def _() -> Case:
    m = material()

    def drop(fields: list[Any]) -> None:
        fields[1].pop()

    return reject(
        "driving-check presentation (seed of node 4: claims 0-3) carrying 3 values. Holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m, driving_check(m), edit=drop),
    )


@case("repeated-claim")
def _() -> Case:
    m = material()

    def repeat(fields: list[Any]) -> None:
        fields[1].insert(0, fields[1][0])

    return reject(
        "name presentation whose values are [family_name, family_name, given_name]. Holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m, name_profile(m), edit=repeat),
    )


@case("compact-text-sent-as-str")
def _() -> Case:
    m = material().with_claim(0, REFERENCE_LICENCE["family_name"])
    return reject(
        "family_name '张' as a UTF-8 msgpack str although its compact GB18030 form is shorter (one wire form per "
        "text). Issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m),
    )


@case("ascii-text-sent-as-bin")
def _() -> Case:
    m = material().with_claim(5, REFERENCE_LICENCE["licence_number"].encode("ascii"))
    return reject(
        "licence_number (ASCII) as a msgpack bin: compact form is only for text it makes shorter. Issuer- and "
        "holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m),
    )


@case("value-of-wrong-kind")
def _() -> Case:
    m = material().with_claim(3, "2029-01-15")
    return reject(
        "expiry_date (kind date: a day count) as the text '2029-01-15'. Issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m),
    )


@case("text-claim-too-long")
def _() -> Case:
    m = material().with_claim(8, "Room 502, " + "x" * 503)
    return reject(
        "address of 513 ASCII bytes (a text claim holds at most 512 bytes on the wire). Issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m),
    )


@case("list-claim-too-long")
def _() -> Case:
    m = material().with_claim(2, ["C1"] * 33)
    return reject(
        "vehicle_classes with 33 items (a list claim holds at most 32). Issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m),
    )


@case("bytes-claim-too-long")
def _() -> Case:
    m = material()
    forged = m.with_claim(11, bytes(range(256)) + b"\x00").replace(present=m.present | 1 << 11)
    return reject(
        "portrait of 257 bytes (a bytes claim holds at most 256). Issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(forged),
    )


@case("nested-list-claim")
def _() -> Case:
    m = material().with_claim(2, [["C1"], "D"])
    return reject(
        "vehicle_classes [['C1'], 'D']: lists are flat, and an array four levels deep exceeds the payload's "
        "nesting limit. Issuer- and holder-signed. A shape rule (SPEC 7 step 3d): refused before any key is looked up.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m),
    )


@case("int-claim-out-of-range")
def _() -> Case:
    m = Material.of(every_kind()).with_claim(EVERY_KIND.index_of("int_max"), 2**63)
    return reject(
        "Every-kind credential whose int_max is 2^63 (a uint64 on the wire; int claims are -2^63..2^63-1). "
        "Issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m),
        types=[EVERY_KIND],
    )


@case("changed-claim-value")
def _() -> Case:
    m = material()
    forged = m.with_claim(0, "王".encode("gb18030"))
    return reject(
        "family_name changed from 张 to 王 under the original issuer signature; the holder re-signed the presentation.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(forged, issuer_signature=m.sign("issuer-es256")),
    )


@case("renamed-claim")
def _() -> Case:
    m = material()
    disclosed = m.mask(["family_name"])

    def rename(fields: list[Any]) -> None:
        fields[1] = [m.claims[1]]
        fields[2] = {m.leaf(0): m.seed(m.leaf(1))}

    return reject(
        "given_name's value and salt shown as claim 0 (family_name): leaf hashes commit to the claim index. "
        "Holder re-signed.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(m, disclosed, edit=rename),
    )


@case("claim-moved-from-another-credential")
def _() -> Case:
    m = material()
    other = Material.of(issue("second-licence", "driving-licence", SECOND_LICENCE, holder="other-holder-es256"))
    disclosed = m.mask(["birth_date"])

    def move(fields: list[Any]) -> None:
        fields[1] = [other.claims[4]]
        fields[2] = {m.leaf(4): other.seed(m.leaf(4))}

    return reject(
        "birth_date (1958-11-02) with its salt taken from another person's licence by the same issuer (as seen in "
        "one of that holder's presentations), shown on the reference licence. Holder re-signed.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(m, disclosed, edit=move),
    )


@case("bitmap-flipped")
def _() -> Case:
    m = material()
    forged = m.with_claim(9, True).replace(present=m.present | 1 << 9)
    return reject(
        "Bit 9 (age_over_18) set in the bitmap and a value true disclosed with a seed-derived salt, under the "
        "original issuer signature; holder re-signed.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(forged, issuer_signature=m.sign("issuer-es256")),
    )


@case("validity-extended")
def _() -> Case:
    m = material()
    forged = m.replace(valid_until=unix("2039-01-15T00:00:00+08:00"))
    return reject(
        "valid_until moved ten years later under the original issuer signature; holder re-signed.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(forged, issuer_signature=m.sign("issuer-es256")),
    )


@case("issuer-signature-by-other-key")
def _() -> Case:
    m = material()
    return reject(
        "Header and claims signed by a rogue key while the kid names the trusted ES256 issuer key; holder-signed.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(m, issuer="rogue-issuer-es256"),
    )


@case("issuer-signature-zero")
def _() -> Case:
    m = material()
    return reject(
        "An issuer signature of 64 zero bytes (r = s = 0, outside 0 < r, s < n); holder-signed.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(m, issuer_signature=bytes(64)),
    )


@case("ed25519-issuer-changed-claim")
def _() -> Case:
    m = material("reference-ed25519", issuer="issuer-ed25519", holder="holder-ed25519")
    forged = m.with_claim(4, (dt.date(1975, 3, 14) - dt.date(1970, 1, 1)).days)
    return reject(
        "Ed25519 issuer: birth_date changed from 1985-03-14 to 1975-03-14 under the original signature; the "
        "Ed25519 holder re-signed.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(
            forged,
            issuer="issuer-ed25519",
            holder="holder-ed25519",
            issuer_signature=m.sign("issuer-ed25519"),
        ),
    )


# -------------------------------------------------------------------------------- negative: validity


@case("not-yet-valid")
def _() -> Case:
    return reject(
        "A licence whose valid_from is one second after the verifier's time (no leeway on valid_from).",
        ErrorCode.NOT_YET_VALID,
        "validity",
        show(reference("reference-starts-later", valid_from=NOW + 1), profile="name"),
    )


@case("issued-in-the-future")
def _() -> Case:
    return reject(
        "A licence issued (issued_at) clock_leeway + 1 s after the verifier's time, by an issuer whose clock was "
        "ahead; the validity window itself holds.",
        ErrorCode.NOT_YET_VALID,
        "validity",
        show(reference("reference-issued-later", issued_at=NOW + LEEWAY + 1), profile="name"),
    )


@case("expired")
def _() -> Case:
    return reject(
        "A licence whose valid_until is one second before the verifier's time; the presentation itself is fresh.",
        ErrorCode.EXPIRED,
        "validity",
        show(reference("reference-ended", valid_until=NOW - 1), profile="name"),
    )


# ------------------------------------------------------------------------------ negative: holder proof


@case("bearer-refused")
def _() -> Case:
    return reject(
        "The bearer business licence to a verifier with the default policy (bearer codes refused).",
        ErrorCode.BEARER_REFUSED,
        "holder_signature",
        show(business_licence(), None),
    )


@case("bearer-with-holder-proof")
def _() -> Case:
    m = Material.of(business_licence())
    return reject(
        "The bearer business licence (holder nil) with a holder proof appended (9 fields, signed by some ES256 "
        "key); the policy accepts bearer codes. 9 elements need a holder key: a shape rule (SPEC 7 step 3d).",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, issuer="issuer-ed25519"),
        policy={"accept_bearer": True},
    )


@case("missing-holder-proof")
def _() -> Case:
    return reject(
        "The holder-bound reference licence as issued (5 fields: the credential itself, with the full seed), shown "
        "without a holder proof.",
        ErrorCode.MISSING_HOLDER_PROOF,
        "holder_signature",
        reference().encoded,
    )


def off_curve_point() -> bytes:
    for x in range(256):
        candidate = b"\x02" + x.to_bytes(32, "big")
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), candidate)
        except ValueError:
            return candidate
    raise AssertionError("no x without a point")


@case("holder-key-not-on-curve")
def _() -> Case:
    m = material().replace(holder=b"\x01" + off_curve_point())
    return reject(
        "An issuer-signed holder key 0x01 || 02 || x where no P-256 point has that x; the holder signature is "
        "zeros (nobody holds that key).",
        ErrorCode.MALFORMED,
        "holder_signature",
        presentation(m, holder=None),
    )


@case("presented-at-changed")
def _() -> Case:
    m = material()
    signed = presentation(m, name_profile(m), presented_at=PRESENTED_AT)
    fields = items(m, m.sign("issuer-es256"), name_profile(m), presented_at=PRESENTED_AT - 5)
    return reject(
        "presented_at moved 5 s earlier after the holder signed (still fresh): the holder signature no longer matches.",
        ErrorCode.BAD_HOLDER_SIGNATURE,
        "holder_signature",
        encode(fields)[:-64] + signed[-64:],
    )


@case("signed-by-other-holder-key")
def _() -> Case:
    m = material()
    return reject(
        "A presentation of the reference licence signed by another holder's ES256 key.",
        ErrorCode.BAD_HOLDER_SIGNATURE,
        "holder_signature",
        presentation(m, name_profile(m), holder="other-holder-es256"),
    )


@case("holder-signature-credential-context")
def _() -> Case:
    m = material()
    fields = items(m, m.sign("issuer-es256"), name_profile(m))
    return reject(
        "Cross-context: the holder key signed the right bytes under the credential context "
        "('econsent/v1 credential' 0x00) instead of the presentation context.",
        ErrorCode.BAD_HOLDER_SIGNATURE,
        "holder_signature",
        seal(fields, "holder-es256", context=CREDENTIAL_CONTEXT),
    )


@case("holder-signature-without-context")
def _() -> Case:
    m = material()
    fields = items(m, m.sign("issuer-es256"), name_profile(m))
    return reject(
        "The holder key signed the payload bytes before the signature field without the context string.",
        ErrorCode.BAD_HOLDER_SIGNATURE,
        "holder_signature",
        seal(fields, "holder-es256", context=b""),
    )


@case("ed25519-holder-nonce-changed")
def _() -> Case:
    m = material("reference-ed25519", issuer="issuer-ed25519", holder="holder-ed25519")
    signed = presentation(m, name_profile(m), issuer="issuer-ed25519", holder="holder-ed25519", binding=[NONCE, None])
    fields = items(m, m.sign("issuer-ed25519"), name_profile(m), binding=[OTHER_NONCE, None])
    return reject(
        "Ed25519 holder: the nonce replaced after signing by the nonce this verifier asked for.",
        ErrorCode.BAD_HOLDER_SIGNATURE,
        "holder_signature",
        encode(fields)[:-64] + signed[-64:],
        nonce=OTHER_NONCE,
    )


# -------------------------------------------------------------------------------- negative: freshness


@case("lifetime-too-long")
def _() -> Case:
    return reject(
        "A fresh presentation claiming a lifetime of 301 s; the policy's max_lifetime is the default 300 s.",
        ErrorCode.LIFETIME_TOO_LONG,
        "freshness",
        show(reference(), profile="name", lifetime=MAX_LIFETIME + 1),
    )


@case("presentation-from-future")
def _() -> Case:
    return reject(
        "presented_at is clock_leeway + 1 s (31 s) ahead of the verifier's clock.",
        ErrorCode.PRESENTATION_FROM_FUTURE,
        "freshness",
        show(reference(), profile="name", presented_at=NOW + LEEWAY + 1),
    )


@case("stale-presentation")
def _() -> Case:
    return reject(
        "Verified at presented_at + lifetime + clock_leeway + 1 s: one second too late.",
        ErrorCode.STALE_PRESENTATION,
        "freshness",
        show(reference(), profile="name"),
        now=PRESENTED_AT + LIFETIME + LEEWAY + 1,
    )


# ----------------------------------------------------------------------------------- negative: policy


@case("nonce-mismatch")
def _() -> Case:
    return reject(
        "A presentation bound to one nonce, verified by a verifier that asked for another.",
        ErrorCode.NONCE_MISMATCH,
        "policy",
        show(reference(), profile="name", nonce=NONCE),
        nonce=OTHER_NONCE,
    )


@case("nonce-missing")
def _() -> Case:
    return reject(
        "The verifier asked for a nonce; the presentation carries none.",
        ErrorCode.NONCE_MISMATCH,
        "policy",
        show(reference(), profile="name"),
        nonce=NONCE,
    )


@case("bearer-cannot-answer-nonce")
def _() -> Case:
    return reject(
        "The bearer business licence to a verifier that accepts bearer codes but asked for a nonce.",
        ErrorCode.NONCE_MISMATCH,
        "policy",
        show(business_licence(), None),
        policy={"accept_bearer": True},
        nonce=NONCE,
    )


@case("audience-mismatch")
def _() -> Case:
    return reject(
        "A presentation made for one audience, verified by a verifier with another.",
        ErrorCode.AUDIENCE_MISMATCH,
        "policy",
        show(reference(), profile="name", audience=OTHER_AUDIENCE),
        policy={"audience": AUDIENCE},
    )


@case("audience-required")
def _() -> Case:
    return reject(
        "The verifier has an audience and so requires codes made for it; the presentation names none.",
        ErrorCode.AUDIENCE_MISMATCH,
        "policy",
        show(reference(), profile="name"),
        policy={"audience": AUDIENCE},
    )


@case("audience-unexpected")
def _() -> Case:
    return reject(
        "A presentation made for an audience, verified by a verifier without one.",
        ErrorCode.AUDIENCE_MISMATCH,
        "policy",
        show(reference(), profile="name", audience=OTHER_AUDIENCE),
    )


@case("bearer-cannot-name-audience")
def _() -> Case:
    return reject(
        "The bearer business licence to a verifier that accepts bearer codes but has an audience.",
        ErrorCode.AUDIENCE_MISMATCH,
        "policy",
        show(business_licence(), None),
        policy={"accept_bearer": True, "audience": AUDIENCE},
    )


@case("missing-claims")
def _() -> Case:
    return reject(
        "A driving-check presentation to a verifier that requires birth_date.",
        ErrorCode.MISSING_CLAIMS,
        "policy",
        show(reference(), profile="driving-check"),
        policy={"required_claims": ["expiry_date", "birth_date"]},
    )


# -------------------------------------------------------------------------------- checking and output


def check(vector: Mapping[str, Any]) -> list[str]:
    """Run the vector as written (JSON round trip) through the reference verifier command's code, and compare
    its output line as the conformance runner does: results, failing stages, claims and list outcomes."""
    vector = json.loads(json.dumps(vector))
    if "challenge_hex" in vector:
        actual = reference_verifier.run_possession_vector(vector)
    else:
        actual = reference_verifier.run_credential_vector(vector)
    return run_conformance.differences(run_conformance.expected_outcome(vector), actual)


def stages(failing: str | None, bearer: bool) -> dict[str, str]:
    """ok before the failing stage, fail at it, skipped after; freshness is skipped for bearer codes."""
    result = {}
    state = "ok"
    for stage in STAGES:
        if stage == failing:
            result[stage] = "fail"
            state = "skipped"
        elif stage == "freshness" and bearer:
            result[stage] = "skipped"
        else:
            result[stage] = state
    return result


def is_bearer(payload: bytes | None) -> bool:
    if payload is None:
        return False
    try:
        return decode_payload(payload).header.holder_key is None
    except VerificationError:
        return False


def decodable_payload(text: str) -> bytes | None:
    try:
        return payload_of(text)
    except ValueError:
        return None


def positive_layers(text: str, types: TypeRegistry) -> dict[str, Any]:
    payload = payload_of(text)
    wire = decode_payload(payload)
    ctype = types.by_id(wire.header.type_id)
    assert ctype is not None
    suite = suite_of_kid(wire.header.kid)
    _, _, root = _disclosed_claims(wire, ctype, suite)
    h = wire.header
    layers: dict[str, Any] = {
        "text": text,
        "payload_hex": payload.hex(),
        "header": {
            "type_id": h.type_id,
            "kid": h.kid.hex(),
            "serial": h.serial,
            "issued_at": h.issued_at,
            "valid_from": h.valid_from,
            "valid_until": h.valid_until,
            "present": h.present,
            "holder": None if h.holder_key is None else (bytes((h.holder_alg or 0,)) + h.holder_key).hex(),
            "status": None if h.status is None else list(h.status),
        },
        "root_hex": root.hex(),
        "issuer_signed_hex": (CREDENTIAL_CONTEXT + wire.header_bytes + root).hex(),
    }
    if wire.proof is not None:
        layers["holder_signed_hex"] = (PRESENTATION_CONTEXT + wire.proof.signed_bytes).hex()
        layers["replay_fingerprint_hex"] = replay_fingerprint(wire.proof.signed_bytes, suite).hex()
    return layers


def suite_of_kid(kid: bytes) -> HashSuite:
    """The hash suite of the test issuer key with this kid (SPEC 4: the issuer key's, as a trust store gives it)."""
    return next(k.algorithm.hash_suite for k in KEYS.values() if k.public_key.kid == kid)


def replay_fingerprint(signed_bytes: bytes, suite: HashSuite) -> bytes:
    """SPEC 7.4, written out: SHA-256 (SM3 for an SM2 issuer) over the context string and the holder-signed
    payload bytes (no other context)."""
    data = b"econsent/v1 replay\x00" + signed_bytes
    fingerprint = sm3(data) if suite is HashSuite.SM3 else hashlib.sha256(data).digest()
    assert fingerprint == presentation_fingerprint(signed_bytes, suite)
    return fingerprint


def vector_document(name: str, built: Case) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": name,
        "description": built.description,
        "provenance": {
            "generator": GENERATOR,
            "econsent_version": econsent.__version__,
            "format": "EC1 (docs/SPEC.md, v1)",
            "randomness": RANDOMNESS,
            "note": "ECDSA signatures are deterministic (RFC 6979): regenerating reproduces every byte.",
        },
        "type": "replay" if isinstance(built.text, list) else "single",
        "trust_store": built.trust.to_json(),
        "policy": built.policy,
        "now": built.now,
        "nonce": None if built.nonce is None else built.nonce.hex(),
    }
    if built.status_lists:
        document["status_lists"] = [data.hex() for data in built.status_lists]
    if built.refused_status_lists:
        document["refused_status_lists"] = [
            {"file": data.hex(), "reason": reason} for data, reason in built.refused_status_lists
        ]
    anchors = [KEYS["anchor-es256"].public_key.to_pem().decode("ascii")]
    if built.trust_list is not None:
        document["trust_list"] = {"file": json.loads(built.trust_list), "anchors": anchors}
    if built.refused_trust_lists:
        document["refused_trust_lists"] = {
            "anchors": anchors,
            "lists": [{"file": json.loads(data), "reason": reason} for data, reason in built.refused_trust_lists],
        }
    if built.types:
        document["types"] = [type_document(t) for t in built.types]
    if built.weak_key is not None:
        document["weak_key"] = dict(built.weak_key)
    registry = BUILTIN_TYPES.with_types(*built.types)
    if isinstance(built.text, list):
        assert isinstance(built.result, list)
        document["layers"] = {
            "texts": built.text,
            "payloads_hex": [None if (p := decodable_payload(t)) is None else p.hex() for t in built.text],
            "holder_signed_hex": positive_layers(built.text[0], registry)["holder_signed_hex"],
            "replay_fingerprint_hex": positive_layers(built.text[0], registry)["replay_fingerprint_hex"],
        }
        per_text = list(built.stages_per_text) or [None, built.stage]
        assert len(per_text) == len(built.text)
        document["expected"] = {
            "results": built.result,
            "stages": [stages(stage, False) for stage in per_text],
            "claims": claims_to_json(built.claims or {}),
            "withheld": list(built.withheld),
        }
        return document
    assert isinstance(built.result, str)
    if built.result == "valid":
        layers = positive_layers(built.text, registry)
        expected = {
            **stages(None, is_bearer(payload_of(built.text))),
            "result": "valid",
            "claims": claims_to_json(built.claims or {}),
            "withheld": list(built.withheld),
        }
    else:
        payload = built.payload if built.payload is not None else decodable_payload(built.text)
        layers = {"text": built.text, "payload_hex": None if payload is None else payload.hex()}
        expected = {**stages(built.stage, is_bearer(payload)), "result": built.result}
    document["layers"] = layers
    document["expected"] = expected
    return document


@case("key-compromised")
def _() -> Case:
    return reject(
        "The reference presentation against a trust store that marks the ES256 issuer key compromised since one "
        "second before the verifier's now: from then on nothing the key signed is trusted, whatever issued_at says.",
        ErrorCode.KEY_COMPROMISED,
        "issuer_signature",
        show(reference()),
        trust=TrustStore([issuer_es256_entry(status=(KeyStatus.COMPROMISED, NOW - 1)), issuer_ed25519_entry()]),
    )


@case("key-retired-after-issuance")
def _() -> Case:
    return valid_case(
        "The ES256 issuer key was retired one second after the credential's issued_at: credentials it signed "
        "before retirement stay valid until they expire.",
        reference(),
        REFERENCE_LICENCE,
        DL,
        trust=TrustStore([issuer_es256_entry(status=(KeyStatus.RETIRED, ISSUED_AT + 1)), issuer_ed25519_entry()]),
    )


@case("key-retired-before-issuance")
def _() -> Case:
    return reject(
        "The ES256 issuer key was retired one second before the credential's issued_at: a retired key no longer signs.",
        ErrorCode.KEY_NOT_VALID,
        "issuer_signature",
        show(reference()),
        trust=TrustStore([issuer_es256_entry(status=(KeyStatus.RETIRED, ISSUED_AT - 1)), issuer_ed25519_entry()]),
    )


@case("unsupported-version-long-prefix")
def _() -> Case:
    payload = reference_presentation()
    return reject(
        "A valid presentation's digits under the prefix EC1234: (any EC<digits>: other than EC1: is a version).",
        ErrorCode.UNSUPPORTED_VERSION,
        "text",
        "EC1234:" + digits(payload),
        payload=payload,
    )


@case("holder-key-off-curve-ed25519")
def _() -> Case:
    m = material(issuer="issuer-ed25519").replace(holder=b"\x02" + b"\x02" + bytes(31))
    return reject(
        "The issuer (Ed25519) bound an Ed25519 holder key with y = 2, which encodes no curve point (y < p, so it "
        "decodes; SPEC 7 step 15): no holder signature can match it. Holder signature of 64 zero bytes.",
        ErrorCode.BAD_HOLDER_SIGNATURE,
        "holder_signature",
        presentation(m, name_profile(m), issuer="issuer-ed25519", holder=None),
    )


@case("revoked")
def _() -> Case:
    return reject(
        "The licence's status reference [7, 5] points at an entry the issuer's status list marks revoked.",
        ErrorCode.REVOKED,
        "validity",
        show(status_licence(5)),
        status_lists=[status_list()],
    )


@case("suspended")
def _() -> Case:
    return reject(
        "The licence's status reference [7, 6] points at an entry the issuer's status list marks suspended.",
        ErrorCode.SUSPENDED,
        "validity",
        show(status_licence(6)),
        status_lists=[status_list()],
    )


@case("status-list-missing")
def _() -> Case:
    return reject(
        "The licence names status list 7, which the verifier does not hold: under the default policy an unknown "
        "status is refused, never taken as good.",
        ErrorCode.STATUS_UNKNOWN,
        "validity",
        show(status_licence(4)),
    )


@case("status-index-beyond-list")
def _() -> Case:
    return reject(
        "The licence's status index 9 lies beyond the issuer's 8-entry status list: refused whatever the policy.",
        ErrorCode.STATUS_UNKNOWN,
        "validity",
        show(status_licence(9)),
        status_lists=[status_list()],
        policy={"unknown_status": "warn"},
    )


@case("status-list-stale")
def _() -> Case:
    return reject(
        "The issuer's status list 7 passed its next_update 30 hours before now, beyond the default 24-hour grace.",
        ErrorCode.STATUS_STALE,
        "validity",
        show(status_licence(4)),
        status_lists=[status_list(next_update=NOW - 30 * 3600)],
    )


@case("trust-list-expired")
def _() -> Case:
    listed = TrustStore(
        [
            dataclasses.replace(issuer_es256_entry(), issuer_id="test-issuer-es256"),
            dataclasses.replace(issuer_ed25519_entry(), issuer_id="test-issuer-ed25519"),
        ]
    )
    signed = sign_trust_list(
        listed, key("anchor-es256"), name="test", sequence=3, issued_at=NOW - 8 * 86400, next_update=NOW - 80 * 3600
    )
    return reject(
        "The issuer key comes from the signed trust list test#3, whose next_update was 80 hours before now: past "
        "the default 72-hour grace, every credential it vouches for is refused.",
        ErrorCode.TRUST_LIST_EXPIRED,
        "issuer_signature",
        show(reference()),
        trust=listed,
        trust_list=signed,
    )


# ====================================================================== attack classes (vectors 111 onwards)
# Appended in SPEC's "Attack classes" order; earlier numbers never move.

ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493


def other_s(signature: bytes) -> bytes:
    """The other valid ECDSA signature of the same bytes: (r, n - s)."""
    return signature[:32] + (P256_ORDER - int.from_bytes(signature[32:], "big")).to_bytes(32, "big")


def s_plus_order(signature: bytes) -> bytes:
    """An Ed25519 signature R || S with S + L in place of S (RFC 8032 requires S < L)."""
    return signature[:32] + (int.from_bytes(signature[32:], "little") + ED25519_ORDER).to_bytes(32, "little")


def text_reject(name: str, description: str, make: Callable[[str], str], code: ErrorCode = ErrorCode.MALFORMED) -> None:
    """A case that takes a valid presentation's text and writes it in a form no verifier may accept."""

    @case(name)
    def _() -> Case:
        payload = reference_presentation(profile="name")
        return reject(description, code, "text", make(text_from_payload(payload)), payload=payload)


def _body(text: str) -> str:
    return text.removeprefix("EC1:")


# --- text form: case, padding, look-alike characters (a copy of a code must not be a second valid code)

text_reject(
    "space-inside-digits",
    "A valid name presentation with a space after its 20th digit.",
    lambda t: "EC1:" + _body(t)[:20] + " " + _body(t)[20:],
)
text_reject(
    "look-alike-prefix",
    "The prefix written with Cyrillic IE (U+0415) and ES (U+0421), which look like E and C.",
    lambda t: "\u0415\u04211:" + _body(t),
)
text_reject(
    "arabic-indic-digits",
    "Every digit replaced by the same ARABIC-INDIC digit (U+0660..U+0669); many int() functions accept them.",
    lambda t: "EC1:" + "".join(chr(0x0660 + int(d)) for d in _body(t)),
)
text_reject(
    "plus-sign", "'EC1:+' followed by the digits: a sign many integer parsers accept.", lambda t: "EC1:+" + _body(t)
)
text_reject("empty-text", "An empty text.", lambda t: "")
text_reject("prefix-only", "The prefix 'EC1:' and nothing after it.", lambda t: "EC1:")
text_reject(
    "wrong-sentinel",
    "The digits of 0x02 || payload: the sentinel byte must be 0x01.",
    lambda t: "EC1:" + str(int.from_bytes(b"\x02" + payload_of(t), "big")),
)
text_reject(
    "version-with-leading-zero",
    "The prefix 'EC01:': '01' is not the version '1', so it names an unknown version.",
    lambda t: "EC01:" + _body(t),
    ErrorCode.UNSUPPORTED_VERSION,
)
text_reject(
    "hexadecimal-body",
    "The bytes 0x01 || payload in lowercase hexadecimal instead of decimal.",
    lambda t: "EC1:" + (b"\x01" + payload_of(t)).hex(),
)


# --- msgpack re-encodings of a valid presentation (each a different-looking copy; none may verify)


@case("holder-signature-as-bin16")
def _() -> Case:
    payload = reference_presentation(profile="name")
    return reject(
        "A valid presentation whose holder signature field is re-encoded as bin16 (c5 00 40) instead of bin8 (c4 40), "
        "as a copier would to make a different-looking copy: the signed bytes are the same, the encoding is not "
        "canonical.",
        ErrorCode.MALFORMED,
        "payload",
        payload[:-SIGNATURE_FIELD] + b"\xc5\x00\x40" + payload[-64:],
    )


@case("issuer-signature-as-bin32")
def _() -> Case:
    m = material()

    def widen(fields: list[Any]) -> None:
        fields[4] = Raw(b"\xc6\x00\x00\x00\x40" + fields[4])

    return reject(
        "The issuer signature written as bin32 (c6 00 00 00 40); holder-signed over these bytes.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), edit=widen),
    )


@case("payload-as-array16")
def _() -> Case:
    payload = reference_presentation(profile="name")
    return reject(
        "A valid presentation whose top-level array header is array16 (dc 00 09) instead of fixarray (99).",
        ErrorCode.MALFORMED,
        "payload",
        b"\xdc\x00\x09" + payload[1:],
    )


@case("seeds-as-map16")
def _() -> Case:
    m = material()

    def widen(fields: list[Any]) -> None:
        ((node, seed),) = fields[2].items()
        fields[2] = Raw(b"\xde\x00\x01" + pack(node) + pack(seed))

    return reject(
        "driving-check presentation whose seeds map {4: seed} is written as map16 (de 00 01); holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, driving_check(m), edit=widen),
    )


@case("time-as-signed-int64")
def _() -> Case:
    m = material()

    def widen(fields: list[Any]) -> None:
        fields[5] = Raw(b"\xd3" + PRESENTED_AT.to_bytes(8, "big", signed=True))

    return reject(
        "presented_at written as int64 (d3 ...) instead of uint32 (ce ...): the same number; holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), edit=widen),
    )


@case("audience-as-str8")
def _() -> Case:
    m = material()
    audience = AUDIENCE.encode()

    def widen(fields: list[Any]) -> None:
        fields[7] = Raw(b"\x92\xc0\xd9" + bytes((len(audience),)) + audience)

    return reject(
        "The audience (25 characters) written as str8 (d9 19 ...) instead of fixstr (b9 ...); holder-signed; the "
        "verifier's audience matches.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), edit=widen),
        policy={"audience": AUDIENCE},
    )


# --- hostile structure aimed at the parser (oversized declarations, nesting)


@case("arrays-nested-1535-deep")
def _() -> Case:
    return reject(
        "A 1,536-byte payload of 1,535 nested one-element arrays around nil: the parser must refuse it without "
        "recursing 1,535 deep.",
        ErrorCode.MALFORMED,
        "payload",
        b"\x91" * 1535 + b"\xc0",
    )


@case("array32-declaring-4-billion-items")
def _() -> Case:
    return reject(
        "A payload that starts with an array32 header declaring 4,294,967,295 items, followed by 16 bytes: refused "
        "before anything is allocated for the items.",
        ErrorCode.MALFORMED,
        "payload",
        b"\xdd\xff\xff\xff\xff" + bytes(16),
    )


@case("str32-declaring-4-gib")
def _() -> Case:
    return reject(
        "A payload that is a str32 header declaring 4 GiB of text, followed by 16 bytes.",
        ErrorCode.MALFORMED,
        "payload",
        b"\xdb\xff\xff\xff\xff" + b"EC1:" * 4,
    )


@case("values-array-of-65")
def _() -> Case:
    m = material()

    def flood(fields: list[Any]) -> None:
        fields[1] = [True] * 65

    return reject(
        "name presentation whose values array holds 65 items: arrays and maps hold at most 64. Holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), edit=flood),
    )


@case("empty-payload")
def _() -> Case:
    return reject("'EC1:1': the sentinel byte and an empty payload.", ErrorCode.MALFORMED, "payload", b"")


@case("payload-is-a-map")
def _() -> Case:
    return reject(
        "A payload that is a msgpack map {0: 1} instead of an array.", ErrorCode.MALFORMED, "payload", pack({0: 1})
    )


# --- fields out of their format ranges or shapes


@case("lifetime-beyond-format-maximum")
def _() -> Case:
    m = material()
    return reject(
        "lifetime 86,401 s, one over the format's maximum (a day); holder-signed. (301..86,400 is LIFETIME_TOO_LONG "
        "under a policy, beyond 86,400 is not a presentation at all.)",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), lifetime=86_401),
        policy={"max_lifetime": 86_400},
    )


@case("nonce-too-long")
def _() -> Case:
    m = material()
    return reject(
        "binding [33-byte nonce, nil]: a nonce has 8 to 32 bytes; holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), binding=[bytes(33), None]),
    )


@case("audience-too-long")
def _() -> Case:
    m = material()
    return reject(
        "binding [nil, 65-character audience]: an audience has 1 to 64 characters; holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), binding=[None, "a" * 65]),
        policy={"audience": "a" * 65},
    )


@case("audience-empty")
def _() -> Case:
    m = material()
    return reject(
        "binding [nil, '']: an empty audience; holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), binding=[None, ""]),
    )


@case("kid-of-seven-bytes")
def _() -> Case:
    m = material()
    forged = m.replace(kid=bytes(m.header[1])[:7])
    return reject(
        "A key id of 7 bytes (the trusted kid without its last byte); issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(forged),
    )


@case("holder-key-uncompressed-point")
def _() -> Case:
    m = material()
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), KEYS["holder-es256"].public_key.raw)
    uncompressed = public.public_numbers().x.to_bytes(32, "big") + public.public_numbers().y.to_bytes(32, "big")
    forged = m.replace(holder=b"\x01\x04" + uncompressed)
    return reject(
        "The holder's ES256 key as an uncompressed SEC1 point (04 || x || y, 65 bytes) instead of the 33-byte "
        "compressed point; issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(forged),
    )


@case("presented-at-negative")
def _() -> Case:
    m = material()
    return reject(
        "presented_at -1 (times are 0..253402300799); holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), presented_at=-1),
    )


@case("valid-until-beyond-9999")
def _() -> Case:
    m = material().replace(valid_until=253_402_300_800)
    return reject(
        "valid_until 253402300800 (10000-01-01T00:00:00Z), one second past the time range; issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m),
    )


@case("type-id-as-boolean")
def _() -> Case:
    m = material().replace(type_id=True)
    return reject(
        "type_id written as msgpack true (c3), which some decoders read as 1; issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m),
    )


@case("claim-bitmap-zero")
def _() -> Case:
    m = material().replace(present=0)
    return reject(
        "A claim bitmap of 0 (no claim issued; the range is 1..2^64-1), nothing disclosed; issuer- and holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, 0),
    )


@case("seed-for-node-outside-tree")
def _() -> Case:
    m = material()

    def extra(fields: list[Any]) -> None:
        fields[2] = dict(sorted({**fields[2], 64: bytes(16)}.items()))

    return reject(
        "name presentation with an extra seed for node 64 (level 3); the driving licence's tree has depth 2 "
        "(node ids up to 31). Holder-signed.",
        ErrorCode.MALFORMED,
        "issuer_signature",
        presentation(m, name_profile(m), edit=extra),
    )


@case("node-id-zero")
def _() -> Case:
    m = material()

    def zero(fields: list[Any]) -> None:
        fields[2] = {0: m.seed(4)}

    return reject(
        "driving-check presentation whose seed is keyed by node 0 (node ids start at 1, the root). Holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, driving_check(m), edit=zero),
    )


@case("seed-of-15-bytes")
def _() -> Case:
    m = material()

    def short(fields: list[Any]) -> None:
        fields[2] = {4: m.seed(4)[:15]}

    return reject(
        "driving-check presentation whose seed for node 4 has 15 bytes (seeds have 16). Holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, driving_check(m), edit=short),
    )


@case("claim-value-nil")
def _() -> Case:
    m = material()

    def nil(fields: list[Any]) -> None:
        fields[1][0] = None

    return reject(
        "name presentation whose first claim value is nil. Holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), edit=nil),
    )


@case("claim-value-float")
def _() -> Case:
    m = material()

    def real(fields: list[Any]) -> None:
        fields[1][0] = 1.5

    return reject(
        "name presentation whose first claim value is the float64 1.5. Holder-signed.",
        ErrorCode.MALFORMED,
        "payload",
        presentation(m, name_profile(m), edit=real),
    )


@case("holder-signature-of-63-bytes")
def _() -> Case:
    m = material()
    data = presentation(m, name_profile(m))
    return reject(
        "A presentation whose holder signature field is bin8 of 63 bytes (the last byte cut off).",
        ErrorCode.MALFORMED,
        "payload",
        data[:-SIGNATURE_FIELD] + pack(data[-64:-1]),
    )


# --- signatures made for another purpose (domain separation)


def issuer_signed_in(m: Material, context: bytes) -> bytes:
    return key("issuer-es256").sign(context + pack(list(m.header)) + m.root())


for _context_name, _context in (
    ("presentation", PRESENTATION_CONTEXT),
    ("status-list", STATUS_LIST_CONTEXT),
    ("trust-list", TRUST_LIST_CONTEXT),
):

    def _issuer_in_context(context_name: str = _context_name, context: bytes = _context) -> Case:
        m = material()
        return reject(
            f"The issuer key signed the right bytes (header || root) under the {context_name} context "
            f"({context[:-1].decode()!r} 0x00) instead of the credential context; holder-signed.",
            ErrorCode.BAD_ISSUER_SIGNATURE,
            "issuer_signature",
            presentation(m, name_profile(m), issuer_signature=issuer_signed_in(m, context)),
        )

    case(f"issuer-signature-{_context_name}-context")(_issuer_in_context)


@case("holder-signature-status-list-context")
def _() -> Case:
    m = material()
    return reject(
        "The holder key signed the right bytes under the status-list context instead of the presentation context.",
        ErrorCode.BAD_HOLDER_SIGNATURE,
        "holder_signature",
        seal(items(m, m.sign("issuer-es256"), name_profile(m)), "holder-es256", context=STATUS_LIST_CONTEXT),
    )


# --- other encodings of a signature


def ed25519_material() -> Material:
    return material("reference-ed25519", issuer="issuer-ed25519", holder="holder-ed25519")


@case("ed25519-holder-signature-s-plus-l")
def _() -> Case:
    m = ed25519_material()
    data = presentation(m, name_profile(m), issuer="issuer-ed25519", holder="holder-ed25519")
    return reject(
        "A valid Ed25519 presentation whose holder signature R || S has S + L in place of S (L the group order): a "
        "verifier that reduced S mod L would accept a second copy of every code. RFC 8032 requires S < L.",
        ErrorCode.BAD_HOLDER_SIGNATURE,
        "holder_signature",
        data[:-64] + s_plus_order(data[-64:]),
    )


@case("ed25519-issuer-signature-s-plus-l")
def _() -> Case:
    m = ed25519_material()
    return reject(
        "The Ed25519 issuer signature with S + L in place of S; the holder re-signed.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(
            m,
            name_profile(m),
            issuer="issuer-ed25519",
            holder="holder-ed25519",
            issuer_signature=s_plus_order(m.sign("issuer-ed25519")),
        ),
    )


@case("ecdsa-holder-signature-s-equals-n")
def _() -> Case:
    m = material()
    data = presentation(m, name_profile(m))
    return reject(
        "The holder's ES256 signature with s = n (the group order): 0 < s < n fails; an implementation that "
        "reduces s mod n must still refuse s = 0.",
        ErrorCode.BAD_HOLDER_SIGNATURE,
        "holder_signature",
        data[:-32] + P256_ORDER.to_bytes(32, "big"),
    )


@case("issuer-signature-malleated-by-a-copier")
def _() -> Case:
    m = material()
    signature = m.sign("issuer-es256")
    genuine = presentation(m, name_profile(m), issuer_signature=signature)
    copy = encode(items(m, other_s(signature), name_profile(m)))
    return reject(
        "A copy of a valid presentation with the issuer signature (r, s) replaced by the also valid (r, n - s), "
        "keeping the holder signature: the issuer signature is inside the holder-signed bytes, so without the "
        "holder key no such copy verifies.",
        ErrorCode.BAD_HOLDER_SIGNATURE,
        "holder_signature",
        copy[:-64] + genuine[-64:],
    )


# --- a holder or a thief editing what the issuer signed (the original issuer signature kept)


@case("holder-key-replaced-by-thief")
def _() -> Case:
    m = material()
    forged = m.replace(holder=b"\x01" + KEYS["other-holder-es256"].public_key.raw)
    return reject(
        "Someone else's licence re-bound to the thief's own ES256 key (header field 7 replaced) under the original "
        "issuer signature; the thief signs the presentation with their key.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(forged, issuer_signature=m.sign("issuer-es256"), holder="other-holder-es256"),
    )


@case("holder-binding-removed")
def _() -> Case:
    m = material()
    forged = m.replace(holder=None)
    fields = items(forged, m.sign("issuer-es256"), m.present)[:5]
    return reject(
        "A holder-bound licence turned into a bearer code (holder key set to nil, no holder proof) under the "
        "original issuer signature, to a verifier that accepts bearer codes.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        encode(fields),
        policy={"accept_bearer": True},
    )


@case("status-reference-removed")
def _() -> Case:
    m = material("reference-status-5", status=StatusReference(7, 5))
    forged = m.replace(status=None)
    return reject(
        "A revoked licence (status [7, 5], revoked in the held list) with its status reference set to nil to dodge "
        "the revocation check, under the original issuer signature; holder re-signed.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(forged, issuer_signature=m.sign("issuer-es256")),
        status_lists=[status_list()],
    )


@case("type-relabelled")
def _() -> Case:
    m = material()
    forged = m.replace(type_id=4)
    return reject(
        "A driving licence relabelled as a residence permit (type_id 1 -> 4; both start with family_name and "
        "given_name) under the original issuer signature, name profile; holder re-signed.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(forged, name_profile(m), issuer_signature=m.sign("issuer-es256")),
    )


@case("serial-changed")
def _() -> Case:
    m = material()
    forged = m.replace(serial=int(m.header[2]) ^ 1)
    return reject(
        "The serial number changed by one bit under the original issuer signature; holder re-signed.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(forged, issuer_signature=m.sign("issuer-es256")),
    )


@case("withheld-hash-changed")
def _() -> Case:
    m = material()

    def change(fields: list[Any]) -> None:
        fields[3][6] = bytes(16)

    return reject(
        "name presentation whose hash of node 6 (the withheld address) is replaced by 16 zero bytes. Holder-signed.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(m, name_profile(m), edit=change),
    )


@case("disclosed-seed-changed")
def _() -> Case:
    m = material()

    def change(fields: list[Any]) -> None:
        fields[2][4] = bytes([fields[2][4][0] ^ 1]) + fields[2][4][1:]

    return reject(
        "driving-check presentation whose seed of node 4 has one bit flipped (the salts and so the root change). "
        "Holder-signed.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        presentation(m, driving_check(m), edit=change),
    )


# --- the phone's clock


@case("post-dated-presentation")
def _() -> Case:
    return reject(
        "A code post-dated 10 minutes with a 300 s lifetime (a holder setting the phone's clock ahead to make a "
        "code that stays usable longer).",
        ErrorCode.PRESENTATION_FROM_FUTURE,
        "freshness",
        show(reference(), profile="name", presented_at=NOW + 600, lifetime=MAX_LIFETIME),
    )


@case("phone-clock-an-hour-behind")
def _() -> Case:
    return reject(
        "A code just made by a phone whose clock is an hour behind (presented_at = now - 3600, lifetime 60 s).",
        ErrorCode.STALE_PRESENTATION,
        "freshness",
        show(reference(), profile="name", presented_at=NOW - 3600),
    )


# --- replay: copies that look different


@case("replayed-malleated-signature")
def _() -> Case:
    original = show(reference(), profile="name")
    payload = payload_of(original)
    copy = text_from_payload(payload[:-64] + other_s(payload[-64:]))
    return Case(
        "Replay of a copy whose holder signature (r, s) was replaced by (r, n - s), also valid (ECDSA "
        "malleability): the fingerprint covers the signed bytes, not the signature, so it is REPLAYED.",
        [original, copy],
        ["valid", ErrorCode.REPLAYED.value],
        "policy",
        claims=selected(REFERENCE_LICENCE, DL, DL.profiles["name"]),
        withheld=withheld_names(REFERENCE_LICENCE, DL, DL.profiles["name"]),
    )


@case("replayed-copies-in-other-forms")
def _() -> Case:
    original = show(reference(), profile="name")
    payload = payload_of(original)
    copies = [
        "ec1:" + _body(original),
        "EC1:0" + _body(original),
        text_from_payload(payload[:-SIGNATURE_FIELD] + b"\xc5\x00\x40" + payload[-64:]),
        text_from_payload(resign(payload, "holder-es256", k=0xC0FFEE)),
    ]
    return Case(
        "One verifier, one cache: the original, then copies with a lowercase prefix, a leading zero, the holder "
        "signature re-encoded as bin16 (each not a code at all), and the same bytes signed again by the holder "
        "(valid, but REPLAYED).",
        [original, *copies],
        ["valid", "MALFORMED", "MALFORMED", "MALFORMED", ErrorCode.REPLAYED.value],
        stages_per_text=[None, "text", "text", "payload", "policy"],
        claims=selected(REFERENCE_LICENCE, DL, DL.profiles["name"]),
        withheld=withheld_names(REFERENCE_LICENCE, DL, DL.profiles["name"]),
    )


@case("replayed-ed25519-same-text")
def _() -> Case:
    original = show(
        reference("reference-ed25519", issuer="issuer-ed25519", holder="holder-ed25519"),
        "holder-ed25519",
        profile="driving-check",
    )
    return Case(
        "An Ed25519 presentation shown twice (Ed25519 signatures are deterministic: re-signing gives the same text).",
        [original, original],
        ["valid", ErrorCode.REPLAYED.value],
        "policy",
        claims=selected(REFERENCE_LICENCE, DL, DL.profiles["driving-check"]),
        withheld=withheld_names(REFERENCE_LICENCE, DL, DL.profiles["driving-check"]),
    )


# --- malicious status lists (offered to a verifier that holds the genuine list 7, sequence 2)


def status_list_file(
    *,
    signer: str = "issuer-es256",
    issuer_ref: str | None = None,
    sequence: int = 2,
    revoked: Sequence[int] = (5,),
    entries: bytes | None = None,
    size: int = 8,
) -> bytes:
    """Status list 7 as ``signer`` signs it; with ``entries``, the zlib stream is taken as given."""
    ref = issuer_es256_entry().issuer_ref if issuer_ref is None else issuer_ref
    if entries is None:
        builder = StatusListBuilder(size)
        for index in revoked:
            builder.set(index, CredentialStatus.REVOKED)
        return builder.sign(
            key(signer), issuer_ref=ref, list_id=7, sequence=sequence, issued_at=NOW - 86400, next_update=NOW + 86400
        )
    unsigned = pack(
        [
            "econsent-status-list",
            1,
            ref,
            7,
            sequence,
            KEYS[signer].public_key.kid,
            NOW - 86400,
            NOW + 86400,
            size,
            2,
            entries,
            bytes(64),
        ]
    )
    return unsigned[:-64] + sign_status_list(key(signer), unsigned[:-SIGNATURE_FIELD])


def status_list_attack(description: str, offered: bytes, reason: str) -> Case:
    return reject(
        description + " The verifier holds the genuine list 7 (sequence 2, index 5 revoked), so the licence with "
        "status [7, 5] stays REVOKED.",
        ErrorCode.REVOKED,
        "validity",
        show(status_licence(5), profile="name"),
        status_lists=[status_list_file()],
        refused_status_lists=[(offered, reason)],
    )


@case("status-list-forged-entries")
def _() -> Case:
    genuine = status_list_file(sequence=3)
    entries = zlib.compress(bytes(2), 9)
    forged = genuine.replace(zlib.compress(bytes([0x00, 0x04]), 9), entries)
    assert forged != genuine
    return status_list_attack(
        "Offered: sequence 3 of the list with index 5 changed from revoked to valid, under the issuer's signature "
        "of the original: refused (BAD_SIGNATURE).",
        forged,
        "BAD_SIGNATURE",
    )


@case("status-list-rollback")
def _() -> Case:
    return status_list_attack(
        "Offered: a genuinely signed older publication (sequence 1) in which index 5 was still valid: refused "
        "(ROLLBACK), an old file never un-revokes.",
        status_list_file(sequence=1, revoked=()),
        "ROLLBACK",
    )


@case("status-list-sequence-reused")
def _() -> Case:
    return status_list_attack(
        "Offered: another genuinely signed list under the held sequence 2, with index 5 valid: refused "
        "(SEQUENCE_REUSED).",
        status_list_file(sequence=2, revoked=()),
        "SEQUENCE_REUSED",
    )


@case("status-list-of-another-issuer")
def _() -> Case:
    return status_list_attack(
        "Offered: sequence 9 of list 7 naming the ES256 issuer, signed by the (trusted) Ed25519 issuer's key, "
        "which belongs to another issuer: refused (WRONG_ISSUER).",
        status_list_file(signer="issuer-ed25519", sequence=9, revoked=()),
        "WRONG_ISSUER",
    )


@case("status-list-unknown-key")
def _() -> Case:
    return status_list_attack(
        "Offered: sequence 9 with index 5 valid, signed by a key the verifier does not trust: refused (UNKNOWN_KEY).",
        status_list_file(signer="rogue-issuer-es256", sequence=9, revoked=()),
        "UNKNOWN_KEY",
    )


@case("status-list-decompression-bomb")
def _() -> Case:
    bomb = zlib.compress(bytes(1 << 20), 9)
    return status_list_attack(
        f"Offered: sequence 9, signed by the issuer (a bug or a stolen key), declaring 8 entries (2 bytes) whose "
        f"{len(bomb)}-byte zlib stream inflates to 1 MiB: refused (TOO_LARGE) after inflating at most 3 bytes.",
        status_list_file(sequence=9, entries=bomb),
        "TOO_LARGE",
    )


# --- malicious trust lists


def listed_store(compromised: bool = False, rogue: bool = False) -> TrustStore:
    status = (KeyStatus.COMPROMISED, NOW - 1) if compromised else None
    keys = [
        dataclasses.replace(issuer_es256_entry(status=status), issuer_id="test-issuer-es256"),
        dataclasses.replace(issuer_ed25519_entry(), issuer_id="test-issuer-ed25519"),
    ]
    if rogue:
        keys.append(
            dataclasses.replace(trusted("rogue-issuer-es256", "伪造机关", "Rogue issuer"), issuer_id="rogue-issuer")
        )
    return TrustStore(keys)


def trust_list_file(store: TrustStore, sequence: int, anchor: str = "anchor-es256") -> bytes:
    return sign_trust_list(
        store, key(anchor), name="test", sequence=sequence, issued_at=NOW - 86400, next_update=NOW + 7 * 86400
    )


def rogue_list_attack(description: str, offered: bytes, reason: str) -> Case:
    return reject(
        description + " The verifier's keys stay the standard trust store, so a presentation of a licence signed by "
        "the rogue key is UNKNOWN_KEY.",
        ErrorCode.UNKNOWN_KEY,
        "issuer_signature",
        show(reference("reference-rogue", issuer="rogue-issuer-es256")),
        refused_trust_lists=[(offered, reason)],
    )


@case("trust-list-unpinned-anchor")
def _() -> Case:
    return rogue_list_attack(
        "Offered: a well-formed trust list adding a rogue issuer key, signed by an anchor key the verifier did not "
        "pin: refused (UNKNOWN_ANCHOR).",
        trust_list_file(listed_store(rogue=True), 1, anchor="rogue-anchor-es256"),
        "UNKNOWN_ANCHOR",
    )


def _edited_list(rogue_payload: bytes, signed: bytes) -> bytes:
    envelope = json.loads(signed)
    envelope["payload"] = base64.urlsafe_b64encode(rogue_payload).rstrip(b"=").decode()
    return json.dumps(envelope, indent=2).encode()


def _payload_of_list(data: bytes) -> bytes:
    encoded = json.loads(data)["payload"]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


@case("trust-list-forged-payload")
def _() -> Case:
    genuine = trust_list_file(listed_store(), 1)
    rogue_payload = _payload_of_list(trust_list_file(listed_store(rogue=True), 1))
    return rogue_list_attack(
        "Offered: the pinned anchor's list with its payload replaced by one that adds a rogue issuer key, keeping "
        "the anchor's signature: refused (BAD_SIGNATURE).",
        _edited_list(rogue_payload, genuine),
        "BAD_SIGNATURE",
    )


@case("trust-list-unknown-field")
def _() -> Case:
    payload = json.loads(_payload_of_list(trust_list_file(listed_store(rogue=True), 1)))
    payload["trust_any_key"] = True
    payload_bytes = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    envelope = json.loads(trust_list_file(listed_store(), 1))
    envelope["payload"] = base64.urlsafe_b64encode(payload_bytes).rstrip(b"=").decode()
    signature = key("anchor-es256").sign(TRUST_LIST_CONTEXT + payload_bytes)
    envelope["signature"] = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    return rogue_list_attack(
        "Offered: a list signed by the pinned anchor whose payload has an unknown field ('trust_any_key': true) "
        "besides a rogue issuer key: refused whole (MALFORMED), never read past what a verifier understands.",
        json.dumps(envelope, indent=2).encode(),
        "MALFORMED",
    )


def compromise_attack(description: str, offered: bytes, reason: str) -> Case:
    held = listed_store(compromised=True)
    return reject(
        description + " The verifier holds sequence 4, which marks the ES256 issuer key compromised, so the "
        "reference presentation stays KEY_COMPROMISED.",
        ErrorCode.KEY_COMPROMISED,
        "issuer_signature",
        show(reference()),
        trust=held,
        trust_list=trust_list_file(held, 4),
        refused_trust_lists=[(offered, reason)],
    )


@case("trust-list-rollback")
def _() -> Case:
    return compromise_attack(
        "Offered: the anchor's genuine older list (sequence 3) in which the key was still active: refused "
        "(ROLLBACK), so an old list never un-compromises a key.",
        trust_list_file(listed_store(), 3),
        "ROLLBACK",
    )


@case("trust-list-sequence-reused")
def _() -> Case:
    return compromise_attack(
        "Offered: another list signed by the anchor under the held sequence 4, in which the key is active: refused "
        "(SEQUENCE_REUSED).",
        trust_list_file(listed_store(), 4),
        "SEQUENCE_REUSED",
    )


# --- small-order Ed25519 keys (SPEC 6.1): a forged signature that OpenSSL accepts, refused by our checks

IDENTITY_SIGNATURE = (1).to_bytes(32, "little") + bytes(32)  # R = the identity point, S = 0
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")  # RFC 8410 SubjectPublicKeyInfo, then 32 key bytes


def small_order_order(raw: bytes) -> int:
    """The order (1, 2, 4 or 8) of the point a weak encoding names, by Edwards point arithmetic."""
    p, d = 2**255 - 19, (-121665 * pow(121666, -1, 2**255 - 19)) % (2**255 - 19)
    encoded = int.from_bytes(raw, "little")
    y, sign = (encoded & ((1 << 255) - 1)) % p, encoded >> 255
    x2 = (y * y - 1) * pow(d * y * y + 1, -1, p) % p
    x = pow(x2, (p + 3) // 8, p)
    if x * x % p != x2:
        x = x * pow(2, (p - 1) // 4, p) % p
    if x & 1 != sign and x:
        x = p - x
    point, order = (x, y), 1
    total = point
    while total != (0, 1):
        x1, y1 = total
        t = d * x1 * x * y1 * y % p
        total = ((x1 * y + x * y1) * pow(1 + t, -1, p) % p, (y1 * y + x1 * x) * pow(1 - t, -1, p) % p)
        order += 1
    return order


def openssl_accepts(raw: bytes, signature: bytes, message: bytes) -> bool:
    """Whether OpenSSL (through cryptography, with no econsent check) takes the signature as valid."""
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def is_canonical(raw: bytes) -> bool:
    """y < p, and the sign bit clear where x = 0 (only y = 1 and y = p - 1 have x = 0)."""
    encoded = int.from_bytes(raw, "little")
    y, sign = encoded & ((1 << 255) - 1), encoded >> 255
    return y < 2**255 - 19 and not (sign and y in (1, 2**255 - 20))


def weak_key_document(raw: bytes, role: str, signed: bytes) -> dict[str, Any]:
    assert openssl_accepts(raw, IDENTITY_SIGNATURE, signed), "the forgery must pass OpenSSL before econsent refuses it"
    spki = ED25519_SPKI_PREFIX + raw
    canonical = is_canonical(raw)
    return {
        "role": role,
        "algorithm": "Ed25519",
        "raw_hex": raw.hex(),
        "kid": hashlib.sha256(spki).digest()[:8].hex(),
        "pem": "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(spki).decode("ascii") + "\n-----END PUBLIC KEY-----\n",
        "order": small_order_order(raw),
        "canonical": canonical,
        "signed_hex": signed.hex(),
        "signature_hex": IDENTITY_SIGNATURE.hex(),
        "openssl_accepts": True,
    }


WEAK_ENCODINGS = sorted(ED25519_WEAK_ENCODINGS, key=lambda raw: (small_order_order(raw), raw[::-1]))


def weak_holder_case(raw: bytes) -> Case:
    """A nonce- and audience-bound presentation under a small-order holder key the issuer bound (an issuer
    that did not check), holder signature R = identity, S = 0, presented_at moved until OpenSSL accepts."""
    m = material().replace(holder=b"\x02" + raw)
    binding = [NONCE, AUDIENCE]
    for tries in itertools.count(1):
        fields = items(
            m, m.sign("issuer-es256"), driving_check(m), presented_at=PRESENTED_AT - tries + 1, binding=binding
        )
        data = encode(fields)
        signed = PRESENTATION_CONTEXT + data[:-SIGNATURE_FIELD]
        if openssl_accepts(raw, IDENTITY_SIGNATURE, signed):
            break
    order = small_order_order(raw)
    return reject(
        f"An issuer-signed Ed25519 holder key {raw.hex()}, a point of order {order}"
        f"{'' if is_canonical(raw) else ' in a non-canonical encoding'}, and a "
        f"nonce- and audience-bound presentation forged without any private key: holder signature R = identity, "
        f"S = 0, which OpenSSL accepts for this presentation (found after {tries} value(s) of presented_at). "
        "The holder key is refused at step 15.",
        ErrorCode.MALFORMED,
        "holder_signature",
        data[:-64] + IDENTITY_SIGNATURE,
        nonce=NONCE,
        policy={"audience": AUDIENCE},
        weak_key=weak_key_document(raw, "holder", signed),
    )


def weak_issuer_case(raw: bytes) -> Case:
    """A credential "signed" R = identity, S = 0 under a small-order issuer key: the serial moves until
    OpenSSL accepts; the trust store entry that would hold the key is refused, so the key is unknown."""
    kid = hashlib.sha256(ED25519_SPKI_PREFIX + raw).digest()[:8]
    base = material()
    for serial in itertools.count(1):
        m = base.replace(kid=kid, serial=serial)
        signed = CREDENTIAL_CONTEXT + pack(list(m.header)) + m.root()
        if openssl_accepts(raw, IDENTITY_SIGNATURE, signed):
            break
    order = small_order_order(raw)
    return reject(
        f"A credential under an Ed25519 issuer key {raw.hex()}, a point of order {order}, 'signed' R = identity, "
        f"S = 0 (OpenSSL accepts it for this header, serial {serial}); genuinely holder-signed. A trust store "
        "refuses to hold the key (weak_key.pem), so the verifier does not know it.",
        ErrorCode.UNKNOWN_KEY,
        "issuer_signature",
        presentation(m, name_profile(m), issuer_signature=IDENTITY_SIGNATURE),
        weak_key=weak_key_document(raw, "issuer", signed),
    )


for _raw in WEAK_ENCODINGS:
    _label = f"order-{small_order_order(_raw)}-{_raw[:2].hex()}{_raw[-1]:02x}"
    case(f"small-order-holder-key-{_label}")(lambda raw=_raw: weak_holder_case(raw))
for _raw in [raw for raw in WEAK_ENCODINGS if is_canonical(raw)]:
    _label = f"order-{small_order_order(_raw)}-{_raw[:2].hex()}{_raw[-1]:02x}"
    case(f"small-order-issuer-key-{_label}")(lambda raw=_raw: weak_issuer_case(raw))


# ============================================================ SPEC v1 revision 3 (vectors 201 onwards)
# One vector for each rule that two careful readings of revision 2 could decide differently.

ROGUE = "rogue-issuer-es256"  # in no trust store of these vectors


def rogue_material(m: Material) -> Material:
    """``m`` under the rogue key's kid, so the issuer key is unknown (step 5) and the issuer re-signs as the rogue."""
    return m.replace(kid=KEYS[ROGUE].public_key.kid)


def shape_before_key(description: str, forged: bytes, **case_fields: Any) -> Case:
    return reject(
        description + " The header names a key no trust store holds: a shape rule (SPEC 7 step 3d) fails first, "
        "so the result is MALFORMED, never UNKNOWN_KEY.",
        ErrorCode.MALFORMED,
        "payload",
        forged,
        **case_fields,
    )


@case("shape-before-key-nested-list-claim")
def _() -> Case:
    m = rogue_material(material().with_claim(2, [["C1"], "D"]))
    return shape_before_key("vehicle_classes [['C1'], 'D'] (lists are flat).", presentation(m, issuer=ROGUE))


@case("shape-before-key-node-id-zero")
def _() -> Case:
    m = rogue_material(material())

    def zero(fields: list[Any]) -> None:
        fields[2] = {0: m.seed(4)}

    return shape_before_key(
        "A seed keyed by node 0 (node ids start at 1).",
        presentation(m, driving_check(m), issuer=ROGUE, edit=zero),
    )


@case("shape-before-key-validity-window-empty")
def _() -> Case:
    m = rogue_material(material().replace(valid_from=NOW, valid_until=NOW))
    return shape_before_key("valid_from == valid_until.", presentation(m, issuer=ROGUE))


@case("shape-before-key-bearer-with-holder-proof")
def _() -> Case:
    m = rogue_material(Material.of(business_licence()))
    return shape_before_key(
        "A bearer licence (holder nil) of 9 elements, with a holder proof; the policy accepts bearer codes.",
        presentation(m, issuer=ROGUE),
        policy={"accept_bearer": True},
    )


@case("key-retired-at-issued-at")
def _() -> Case:
    return valid_case(
        "The ES256 issuer key was retired at exactly the credential's issued_at: the signing window "
        "[valid_from, min(valid_until, retired since)] is closed at both ends, so a key signs at its retirement "
        "second (SPEC 7 step 8b) and the credential stays valid until it expires.",
        reference(),
        REFERENCE_LICENCE,
        DL,
        trust=TrustStore([issuer_es256_entry(status=(KeyStatus.RETIRED, ISSUED_AT)), issuer_ed25519_entry()]),
    )


@case("unsolicited-nonce")
def _() -> Case:
    names = DL.profiles["driving-check"]
    return Case(
        "A presentation carrying a nonce, to a verifier that asked for none: the nonce binds nothing this "
        "verifier checks, so it is accepted (SPEC 7 step 20).",
        show(reference(), profile="driving-check", nonce=NONCE),
        "valid",
        claims=selected(REFERENCE_LICENCE, DL, names),
        withheld=withheld_names(REFERENCE_LICENCE, DL, names),
    )


@case("claims-at-their-size-limits")
def _() -> Case:
    m = material()
    address = "京" * 256  # compact text: 512 GB18030 bytes, 768 in UTF-8
    portrait = bytes(range(256))
    forged = m.with_claim(8, address.encode("gb18030")).with_claim(11, portrait).replace(present=m.present | 1 << 11)
    claims = {**REFERENCE_LICENCE, "address": address, "portrait": portrait}
    return Case(
        "address as compact text of exactly 512 bytes (msgpack bin16: 515 bytes with its framing) and portrait "
        "of exactly 256 bytes (bin16: 259): the limits count content bytes, not the framing (SPEC 8). Issuer- and "
        "holder-signed.",
        text_from_payload(presentation(forged)),
        "valid",
        claims=selected(claims, DL, None),
        withheld=withheld_names(claims, DL, None),
    )


text_reject(
    "trailing-line-feed",
    "A valid name presentation followed by LF: a line-based reader splits lines before the text reaches the "
    "verifier; the text itself never holds whitespace (SPEC 2).",
    lambda text: text + "\n",
)
text_reject(
    "trailing-carriage-return-line-feed",
    "A valid name presentation followed by CR LF, as a keyboard-wedge scanner types it: not part of the text.",
    lambda text: text + "\r\n",
)
text_reject(
    "version-prefix-without-digits",
    "A valid name presentation's digits under 'EC:': the version prefix is 'EC' 1*DIGIT ':', so this is no "
    "version at all (MALFORMED), not another version.",
    lambda text: "EC:" + _body(text),
)


@case("status-list-recompressed-same-sequence")
def _() -> Case:
    genuine = status_list_file()
    recompressed = status_list_file(entries=zlib.compress(b"\x00\x04", 1))
    assert recompressed != genuine
    return reject(
        "The verifier holds list 7 (sequence 2, index 5 revoked), then the same list with its entries compressed "
        "at zlib level 1 and signed again: the same decoded content under the same sequence is the same list "
        "(SPEC 10.4), accepted, never SEQUENCE_REUSED. The licence with status [7, 5] is REVOKED.",
        ErrorCode.REVOKED,
        "validity",
        show(status_licence(5), profile="name"),
        status_lists=[genuine, recompressed],
    )


@case("status-index-beyond-stale-list")
def _() -> Case:
    return reject(
        "The licence's status index 9 lies beyond the 8-entry list, which is also 30 hours past its next_update: "
        "the index is checked first (SPEC 10.5), so the result is STATUS_UNKNOWN, not STATUS_STALE.",
        ErrorCode.STATUS_UNKNOWN,
        "validity",
        show(status_licence(9)),
        status_lists=[status_list(next_update=NOW - 30 * 3600)],
    )


@case("status-list-key-checks-before-succession")
def _() -> Case:
    forged = bytearray(status_list_file(sequence=1, revoked=()))
    forged[-1] ^= 1
    return reject(
        "The verifier holds list 7 (sequence 2, index 5 revoked). Offered: sequence 1 with a broken signature, "
        "refused BAD_SIGNATURE (not ROLLBACK), and sequence 2 with other entries signed by a key no trust store "
        "holds, refused UNKNOWN_KEY (not SEQUENCE_REUSED): every key and signature check (SPEC 10.3 steps 1-8) "
        "runs before the succession checks (steps 9-10).",
        ErrorCode.REVOKED,
        "validity",
        show(status_licence(5), profile="name"),
        status_lists=[status_list_file()],
        refused_status_lists=[
            (bytes(forged), "BAD_SIGNATURE"),
            (status_list_file(signer=ROGUE, revoked=()), "UNKNOWN_KEY"),
        ],
    )


@case("status-list-signed-by-compromised-key")
def _() -> Case:
    issuer = {"issuer_id": "test-issuer"}
    trust = TrustStore(
        [
            dataclasses.replace(issuer_es256_entry(), **issuer),
            dataclasses.replace(issuer_ed25519_entry(status=(KeyStatus.COMPROMISED, NOW - 3600)), **issuer),
        ]
    )
    return reject(
        "Both test keys belong to issuer test-issuer; the Ed25519 one is compromised since an hour before now. The "
        "verifier holds list 7 (sequence 2, index 5 revoked) signed by the ES256 key. Offered: sequence 3, all "
        "valid, signed by the compromised key with an issued_at a day before the compromise: refused KEY_NOT_VALID "
        "(SPEC 10.3 step 5: a compromised key signs no list, whatever issued_at says). The licence stays REVOKED.",
        ErrorCode.REVOKED,
        "validity",
        show(status_licence(5), profile="name"),
        trust=trust,
        status_lists=[status_list_file(issuer_ref="test-issuer")],
        refused_status_lists=[
            (
                status_list_file(signer="issuer-ed25519", issuer_ref="test-issuer", sequence=3, revoked=()),
                "KEY_NOT_VALID",
            )
        ],
    )


@case("trust-list-signature-not-canonical-base64url")
def _() -> Case:
    document = json.loads(trust_list_file(listed_store(), 5))
    signature = document["signature"]
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(signature[-1])
    assert len(signature) == 86 and last % 16 == 0  # 64 bytes: the last character carries 4 unused bits
    document["signature"] = (
        signature[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last + 1]
    )
    return compromise_attack(
        "Offered: the anchor's genuine sequence 5, in which the key is active, with one unused bit of the "
        "signature's base64url set (the same 64 bytes decode from it): base64url has one form (SPEC 9.1), refused "
        "(MALFORMED) before the signature is checked.",
        json.dumps(document, indent=2).encode("ascii") + b"\n",
        "MALFORMED",
    )


# --- SM2 with SM3 (SPEC revision 4): appended, so earlier numbers never move


def sm2_reference(label: str = "reference-sm2", **options: Any) -> Credential:
    return reference(label, issuer="issuer-sm2", **options)


@case("sm2-issuer-sm2-holder")
def _() -> Case:
    return valid_case(
        "The reference licence signed by an SM2 issuer key (SM3 tree, salts and fingerprint) and bound to an SM2 "
        "holder key; every claim.",
        sm2_reference(holder="holder-sm2"),
        REFERENCE_LICENCE,
        DL,
        holder="holder-sm2",
        issuer_algorithm="SM2",
        trust=sm2_trust(),
    )


@case("sm2-issuer-es256-holder-driving-check")
def _() -> Case:
    return valid_case(
        "SM2 issuer, ES256 holder key, driving-check profile: the holder's algorithm does not choose the suite.",
        sm2_reference("reference-sm2-es256-holder"),
        REFERENCE_LICENCE,
        DL,
        profile="driving-check",
        issuer_algorithm="SM2",
        trust=sm2_trust(),
    )


@case("sm2-scattered-disclosure")
def _() -> Case:
    return valid_case(
        "SM2 issuer and holder; three claims from different blocks, so SM3 seeds and hashes at two levels.",
        sm2_reference(holder="holder-sm2"),
        REFERENCE_LICENCE,
        DL,
        holder="holder-sm2",
        names=["family_name", "licence_number", "address"],
        issuer_algorithm="SM2",
        trust=sm2_trust(),
    )


@case("sm2-es256-issuer-sm2-holder")
def _() -> Case:
    return valid_case(
        "ES256 issuer (SHA-2 suite), SM2 holder key (holder key algorithm id 3); name profile.",
        reference("reference-sm2-holder", holder="holder-sm2"),
        REFERENCE_LICENCE,
        DL,
        holder="holder-sm2",
        profile="name",
        trust=sm2_trust(),
    )


SM2_USER_ID = b"310000-traffic@gov.sh.cn"


@case("sm2-issuer-user-id-from-trust-store")
def _() -> Case:
    return valid_case(
        "The SM2 issuer signs with the user ID 310000-traffic@gov.sh.cn, which its trust store entry names "
        "(sm2_user_id): Z_A is computed with it.",
        sm2_reference("reference-sm2-user-id", holder="holder-sm2", sm2_user_id=SM2_USER_ID),
        REFERENCE_LICENCE,
        DL,
        holder="holder-sm2",
        issuer_algorithm="SM2",
        trust=sm2_trust(sm2_user_id=SM2_USER_ID),
    )


@case("sm2-issuer-user-id-missing-from-trust-store")
def _() -> Case:
    text = show(sm2_reference("reference-sm2-user-id", holder="holder-sm2", sm2_user_id=SM2_USER_ID), "holder-sm2",
                issuer_algorithm="SM2")  # fmt: skip
    return reject(
        "The same SM2 issuer signature made with a user ID the trust store does not name: the verifier checks it "
        "with the default 1234567812345678, another Z_A.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        text,
        trust=sm2_trust(),
    )


@case("sm2-mixed-sha2-tree-under-sm2-issuer")
def _() -> Case:
    text = show(sm2_reference(holder="holder-sm2"), "holder-sm2", profile="driving-check", issuer_algorithm="ES256")
    return reject(
        "An SM2-issued credential presented with its disclosure built in the SHA-2 suite (seeds split with "
        "SHA-512, withheld subtrees hashed with SHA-256): the verifier takes SM3 from the trust store's SM2 "
        "key, rebuilds another root, and the issuer signature fails.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        text,
        trust=sm2_trust(),
    )


@case("sm2-mixed-sm3-tree-under-es256-issuer")
def _() -> Case:
    text = show(reference("reference-sm2-holder", holder="holder-sm2"), "holder-sm2", profile="driving-check",
                issuer_algorithm="SM2")  # fmt: skip
    return reject(
        "An ES256-issued credential presented with its disclosure built in the SM3 suite: the trust store's "
        "ES256 key means SHA-2, the root differs, and the issuer signature fails.",
        ErrorCode.BAD_ISSUER_SIGNATURE,
        "issuer_signature",
        text,
        trust=sm2_trust(),
    )


def _sm2_off_curve_x() -> bytes:
    from econsent.keys import _SM2_A, _SM2_B, _SM2_P

    x = 1
    while pow((x**3 + _SM2_A * x + _SM2_B) % _SM2_P, (_SM2_P - 1) // 2, _SM2_P) == 1:
        x += 1
    return x.to_bytes(32, "big")


@case("sm2-holder-key-not-on-curve")
def _() -> Case:
    m = material().replace(holder=b"\x03\x02" + _sm2_off_curve_x())
    return reject(
        "An issuer-signed SM2 holder key 0x03 || 02 || x where no sm2p256v1 point has that x; the holder "
        "signature is zeros (nobody holds that key).",
        ErrorCode.MALFORMED,
        "holder_signature",
        presentation(m, holder=None),
        trust=sm2_trust(),
    )


@case("sm2-holder-key-x-not-below-p")
def _() -> Case:
    m = material().replace(holder=b"\x03\x03" + b"\xff" * 32)
    return reject(
        "An issuer-signed SM2 holder key whose x is 2^256 - 1, not below the field prime (no canonical point).",
        ErrorCode.MALFORMED,
        "holder_signature",
        presentation(m, holder=None),
        trust=sm2_trust(),
    )


@case("sm2-holder-signature-bit-flipped")
def _() -> Case:
    text = show(reference("reference-sm2-holder", holder="holder-sm2"), "holder-sm2", profile="name")
    payload = bytearray(payload_of(text))
    payload[-1] ^= 1
    return reject(
        "A genuine presentation by an SM2 holder key with the last bit of s flipped.",
        ErrorCode.BAD_HOLDER_SIGNATURE,
        "holder_signature",
        bytes(payload),
        trust=sm2_trust(),
    )


# --- proofs of possession at issuance (SPEC 6.2): a second vector kind, in possession/

POSSESSION_DIR = HERE / "possession"
CHALLENGE = hashlib.sha256(b"econsent test challenge").digest()
OTHER_CHALLENGE = hashlib.sha256(b"econsent test challenge, another").digest()
POSSESSION_CASES: list[tuple[str, Callable[[], dict[str, Any]]]] = []


def possession_case(name: str) -> Callable[[Callable[[], dict[str, Any]]], Callable[[], dict[str, Any]]]:
    def register(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        POSSESSION_CASES.append((name, build))
        return build

    return register


def possession_vector(
    description: str,
    issuer: str,
    holder: str,
    proof: dict[str, Any],
    signed: bytes,
    result: str,
    *,
    challenge: bytes = CHALLENGE,
) -> dict[str, Any]:
    """A holder key, the challenge the issuer handed out, the proof offered and what the issuer must decide."""
    return {
        "description": description,
        "issuer_kid": key(issuer).public_key.kid.hex(),
        "holder_key": {"algorithm": KEYS[holder].algorithm.value, "raw_hex": key(holder).public_key.raw.hex()},
        "challenge_hex": challenge.hex(),
        "proof": proof,
        "signed_hex": signed.hex(),
        "expected": {"result": result},
    }


def proof_by(signer: str, signed: bytes, challenge: bytes = CHALLENGE) -> dict[str, Any]:
    return PossessionProof(challenge, key(signer).sign(signed)).to_json()


def genuine_possession(issuer: str, holder: str) -> dict[str, Any]:
    signed = possession_input(key(issuer).public_key.kid, key(holder).public_key, CHALLENGE)
    return possession_vector(
        f"A {KEYS[holder].algorithm.value} holder key's proof for the {KEYS[issuer].algorithm.value} issuer over "
        "its challenge: the issuer binds the key.",
        issuer,
        holder,
        proof_by(holder, signed),
        signed,
        "valid",
    )


possession_case("valid-es256-holder")(lambda: genuine_possession("issuer-es256", "holder-es256"))
possession_case("valid-ed25519-holder")(lambda: genuine_possession("issuer-ed25519", "holder-ed25519"))


@possession_case("proof-for-another-issuer")
def _() -> dict[str, Any]:
    signed = possession_input(key("rogue-issuer-es256").public_key.kid, key("holder-es256").public_key, CHALLENGE)
    return possession_vector(
        "The holder's proof over the same challenge, made for another issuer's key id: useless here.",
        "issuer-es256",
        "holder-es256",
        proof_by("holder-es256", signed),
        signed,
        PossessionProblem.BAD_SIGNATURE.value,
    )


@possession_case("proof-over-another-key")
def _() -> dict[str, Any]:
    signed = possession_input(key("issuer-es256").public_key.kid, key("other-holder-es256").public_key, CHALLENGE)
    return possession_vector(
        "A genuine proof of possession of another key (other-holder-es256), offered with holder-es256's public "
        "key: whoever sent it does not show control of the key to be bound.",
        "issuer-es256",
        "holder-es256",
        proof_by("other-holder-es256", signed),
        signed,
        PossessionProblem.BAD_SIGNATURE.value,
    )


@possession_case("wrong-challenge")
def _() -> dict[str, Any]:
    signed = possession_input(key("issuer-es256").public_key.kid, key("holder-es256").public_key, OTHER_CHALLENGE)
    return possession_vector(
        "A valid proof over another challenge than the one the issuer handed out (an old proof replayed).",
        "issuer-es256",
        "holder-es256",
        proof_by("holder-es256", signed, OTHER_CHALLENGE),
        signed,
        PossessionProblem.CHALLENGE_MISMATCH.value,
    )


@possession_case("wrong-context")
def _() -> dict[str, Any]:
    exact = possession_input(key("issuer-es256").public_key.kid, key("holder-es256").public_key, CHALLENGE)
    signed = PRESENTATION_CONTEXT + exact[len(POSSESSION_CONTEXT) :]
    return possession_vector(
        "The holder key signed the right fields under the presentation context instead of the possession context.",
        "issuer-es256",
        "holder-es256",
        proof_by("holder-es256", signed),
        signed,
        PossessionProblem.BAD_SIGNATURE.value,
    )


@possession_case("challenge-too-short")
def _() -> dict[str, Any]:
    short = CHALLENGE[:15]
    signed = possession_input(key("issuer-es256").public_key.kid, key("holder-es256").public_key, short)
    proof = {**proof_by("holder-es256", signed), "challenge": short.hex()}
    return possession_vector(
        "A proof over a 15-byte challenge (challenges are 16 to 64 bytes), the issuer expecting those 15 bytes.",
        "issuer-es256",
        "holder-es256",
        proof,
        signed,
        PossessionProblem.MALFORMED.value,
        challenge=short,
    )


def write_possession_vectors() -> list[str]:
    """Write possession/NN-name.json; return the refused ones."""
    POSSESSION_DIR.mkdir(exist_ok=True)
    for old in POSSESSION_DIR.glob("[0-9][0-9]-*.json"):
        old.unlink()
    refused = []
    for number, (name, build) in enumerate(POSSESSION_CASES, start=1):
        _used_keys.clear()
        built = build()
        document = {
            "name": name,
            "description": built.pop("description"),
            "provenance": {"generator": GENERATOR, "econsent_version": econsent.__version__, "format": "SPEC 6.2"},
            **built,
        }
        document["test_keys"] = test_keys_document(_used_keys)
        document = json.loads(json.dumps(document))
        problems = check(document)
        filename = f"{number:02d}-{name}.json"
        if problems:
            refused.append(f"possession/{filename}: {'; '.join(problems)}")
            continue
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
        (POSSESSION_DIR / filename).write_text(text, encoding="utf-8")
    print(f"wrote {len(POSSESSION_CASES) - len(refused)} possession vectors to {POSSESSION_DIR}")
    return refused


def main() -> int:
    for old in HERE.glob("[0-9][0-9][0-9]-*.json"):
        old.unlink()
    written: dict[str, int] = {}
    refused = []
    names = [name for name, _ in CASES]
    assert len(set(names)) == len(names), "case names must be unique"
    for number, (name, build) in enumerate(CASES, start=1):
        _used_keys.clear()
        built = build()
        document = vector_document(name, built)
        document["test_keys"] = test_keys_document(_used_keys)
        problems = check(document)
        filename = f"{number:03d}-{name}.json"
        if problems:
            refused.append(f"{filename}: {'; '.join(problems)}")
            continue
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
        (HERE / filename).write_text(text, encoding="utf-8")
        label = "replay" if document["type"] == "replay" else document["expected"]["result"]
        written[label] = written.get(label, 0) + 1
    counts = ", ".join(f"{label} {count}" for label, count in sorted(written.items()))
    print(f"wrote {sum(written.values())} vectors to {HERE}: {counts}")
    refused += write_possession_vectors()
    for line in refused:
        print(f"REFUSED {line}", file=sys.stderr)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
