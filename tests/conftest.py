"""Shared fixtures: a fixed clock, fixed test keys, a trust store, the reference licence, issue/present helpers.

Every key here is derived from a fixed label, so runs are repeatable; they are test keys and must never be
trusted anywhere else. Immutable things are session-scoped (Hypothesis tests may use them); anything
mutable (trust store, issuer with its seeded random source, verifier) is made fresh for each test.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgpack
import pytest
from testkeys import ed25519_test_key, es256_test_key

from econsent import (
    ATTESTED_OUT_OF_BAND,
    BUILTIN_TYPES,
    ClaimKind,
    ClaimSpec,
    Credential,
    CredentialType,
    ErrorCode,
    Issuer,
    IssuerName,
    Signer,
    SigningKey,
    StatusReference,
    TrustedKey,
    TrustStore,
    TypeRegistry,
    VerificationError,
    Verifier,
    _disclosure,
    _envelope,
    _wire,
    present,
)

NOW = dt.datetime(2025, 6, 1, 8, 30, tzinfo=dt.UTC)
ISSUER_NAME = IssuerName("上海市公安局交通警察总队", "Shanghai Public Security Bureau, Traffic Police Division")
KEY_VALID_FROM = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
KEY_VALID_UNTIL = dt.datetime(2035, 1, 1, tzinfo=dt.UTC)

# A deployment-defined type (id >= 1000) with one claim of every kind, for value round trips.
STAFF_CARD = CredentialType(
    name="staff-card",
    type_id=1000,
    claims=tuple(
        ClaimSpec(name, kind)
        for name, kind in (
            ("name", ClaimKind.TEXT),
            ("employee_number", ClaimKind.INT),
            ("active", ClaimKind.BOOL),
            ("hired_on", ClaimKind.DATE),
            ("badge", ClaimKind.BYTES),
            ("languages", ClaimKind.TEXT_LIST),
            ("shift_codes", ClaimKind.INT_LIST),
            ("flags", ClaimKind.BOOL_LIST),
            ("training_dates", ClaimKind.DATE_LIST),
            ("door_keys", ClaimKind.BYTES_LIST),
        )
    ),
    profiles={"badge-check": ("name", "active")},
)
STAFF_TYPES = BUILTIN_TYPES.with_types(STAFF_CARD)
ALL_TYPE_NAMES = frozenset(STAFF_TYPES.names())
# ../shared/reference/ relative to the repository root.
REFERENCE_LICENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "driving-licence.json"

# The claims of shared/reference/driving-licence.json, inline so that most tests never need shared/.
LICENCE_CLAIMS: Mapping[str, Any] = MappingProxyType(
    {
        "family_name": "张",
        "given_name": "伟",
        "birth_date": dt.date(1985, 3, 14),
        "licence_number": "310101198503140012",
        "vehicle_classes": ("C1", "D"),
        "issue_date": dt.date(2019, 1, 15),
        "expiry_date": dt.date(2029, 1, 15),
        "issuing_authority": "上海市公安局交通警察总队",
        "address": "上海市黄浦区豫园街道人民路一二三弄四号五零二室",
    }
)

_DEFAULT = object()


def _preload_hypothesis_failure_reporting() -> None:
    """Import what Hypothesis's pytest plugin imports to report a failing example, ahead of time.

    That import pulls in libcst, which uses the deprecated ``mypy_extensions.TypedDict``; under
    ``filterwarnings = error`` the DeprecationWarning, raised inside a report hook, turns one failing
    property into an INTERNALERROR that ends the whole session.
    """
    with warnings.catch_warnings(), contextlib.suppress(ImportError):
        warnings.simplefilter("ignore", DeprecationWarning)
        import hypothesis.extra._patching  # noqa: F401


_preload_hypothesis_failure_reporting()


# --- clock and keys -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def now() -> dt.datetime:
    """The verifier's (and, unless a test says otherwise, the phone's) clock: a fixed aware UTC time."""
    return NOW


@pytest.fixture(scope="session")
def issuer_key() -> SigningKey:
    return es256_test_key("econsent test issuer ES256")


@pytest.fixture(scope="session")
def issuer_key_ed25519() -> SigningKey:
    return ed25519_test_key("econsent test issuer Ed25519")


@pytest.fixture(scope="session")
def holder_key() -> SigningKey:
    return es256_test_key("econsent test holder ES256")


@pytest.fixture(scope="session")
def holder_key_ed25519() -> SigningKey:
    return ed25519_test_key("econsent test holder Ed25519")


@pytest.fixture(scope="session")
def other_holder_key() -> SigningKey:
    """A second ES256 holder key: someone who is not the holder the credential was issued to."""
    return es256_test_key("econsent test other holder ES256")


# --- trust ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def trusted_key() -> Callable[..., TrustedKey]:
    """Factory: a trust store entry for a key (built-in types and staff-card, signing window 2020-2035);
    other TrustedKey fields (``status``, ``status_since``, ...) pass through."""

    def make(
        key: Signer,
        *,
        types: frozenset[str] | set[str] = ALL_TYPE_NAMES,
        valid_from: dt.datetime = KEY_VALID_FROM,
        valid_until: dt.datetime = KEY_VALID_UNTIL,
        issuer: IssuerName = ISSUER_NAME,
        **extra: Any,
    ) -> TrustedKey:
        return TrustedKey(
            public_key=key.public_key,
            issuer=issuer,
            credential_types=frozenset(types),
            valid_from=valid_from,
            valid_until=valid_until,
            **extra,
        )

    return make


@pytest.fixture
def trust(trusted_key: Callable[..., TrustedKey], issuer_key: SigningKey, issuer_key_ed25519: SigningKey) -> TrustStore:
    """A fresh trust store holding both test issuer keys, for every built-in type and staff-card."""
    return TrustStore([trusted_key(issuer_key), trusted_key(issuer_key_ed25519)])


@pytest.fixture
def verifier(trust: TrustStore) -> Verifier:
    """A verifier with the default policy and no replay cache."""
    return Verifier(trust)


# --- claims ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def licence_claims() -> Mapping[str, Any]:
    """The reference driving licence's claims (read-only; copy with ``dict(...)`` to change)."""
    return LICENCE_CLAIMS


@pytest.fixture(scope="session")
def reference_licence() -> dict[str, Any]:
    """shared/reference/driving-licence.json with claims converted to Python values (skips without shared/)."""
    if not REFERENCE_LICENCE.is_file():
        pytest.skip(reason=f"shared reference licence not found at {REFERENCE_LICENCE}")
    document = json.loads(REFERENCE_LICENCE.read_text(encoding="utf-8"))
    ctype = BUILTIN_TYPES.by_name(document["credential_type"])
    assert ctype is not None
    claims: dict[str, Any] = {}
    for name, value in document["claims"].items():
        kind = ctype.claims[ctype.index_of(name)].kind.value
        if kind == "date":
            claims[name] = dt.date.fromisoformat(value)
        elif kind.startswith("list["):
            claims[name] = tuple(value)
        else:
            claims[name] = value
    return {**document, "claims": claims}


@pytest.fixture(scope="session")
def staff_card() -> CredentialType:
    """A deployment type (id 1000, not built in) with one claim of every kind."""
    return STAFF_CARD


@pytest.fixture(scope="session")
def staff_types() -> TypeRegistry:
    """The built-in types plus ``staff_card``: pass as ``types=`` to Issuer, present and Verifier."""
    return STAFF_TYPES


# --- issuing and presenting -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def make_issuer(issuer_key: SigningKey) -> Callable[..., Issuer]:
    """Factory: an Issuer with a seeded random source (repeatable seeds and serials)."""

    def make(key: Signer | None = None, *, types: TypeRegistry = BUILTIN_TYPES, seed: int = 2025) -> Issuer:
        return Issuer(key or issuer_key, types=types, random_bytes=random.Random(seed).randbytes)

    return make


@pytest.fixture
def issuer(make_issuer: Callable[..., Issuer]) -> Issuer:
    """An Issuer with the ES256 test issuer key."""
    return make_issuer()


@pytest.fixture(scope="session")
def issue_licence(
    make_issuer: Callable[..., Issuer], holder_key: SigningKey, licence_claims: Mapping[str, Any]
) -> Callable[..., Credential]:
    """Factory: issue a credential (default: the reference licence to ``holder_key``, issued a day before NOW,
    valid from issuance until a year after NOW). ``holder=None`` makes a bearer credential.

    The holder key is bound as attested out of band: these credentials serve tests of presenting and
    verifying, some with deliberately broken holder signers (tests/test_possession.py tests the proof)."""

    def issue(
        claims: Mapping[str, Any] | None = None,
        *,
        issuer_key: Signer | None = None,
        holder: Any = _DEFAULT,
        credential_type: str = "driving-licence",
        issued_at: dt.datetime | int | None = None,
        valid_from: dt.datetime | int | None = None,
        valid_until: dt.datetime | int | None = None,
        serial: int = 42,
        derive: tuple[str, ...] = (),
        types: TypeRegistry = BUILTIN_TYPES,
        seed: int = 2025,
        status: StatusReference | None = None,
    ) -> Credential:
        holder_signer = holder_key if holder is _DEFAULT else holder
        issued = NOW - dt.timedelta(days=1) if issued_at is None else issued_at
        return make_issuer(issuer_key, types=types, seed=seed).issue(
            credential_type,
            licence_claims if claims is None else claims,
            holder_key=None if holder_signer is None else holder_signer.public_key,
            possession=None if holder_signer is None else ATTESTED_OUT_OF_BAND,
            valid_from=issued if valid_from is None else valid_from,
            valid_until=NOW + dt.timedelta(days=365) if valid_until is None else valid_until,
            now=issued,
            serial=serial,
            derive=derive,
            status=status,
        )

    return issue


@pytest.fixture(scope="session")
def credential(issue_licence: Callable[..., Credential]) -> Credential:
    """The reference licence, bound to ``holder_key``, issued by ``issuer_key``."""
    return issue_licence()


@pytest.fixture(scope="session")
def bearer_credential(issue_licence: Callable[..., Credential]) -> Credential:
    """The reference licence as a bearer credential (no holder key)."""
    return issue_licence(holder=None)


@pytest.fixture(scope="session")
def present_licence(credential: Credential, holder_key: SigningKey) -> Callable[..., str]:
    """Factory: the QR text of a presentation (default: ``credential`` by ``holder_key`` at NOW, every claim)."""

    def make(
        cred: Credential | None = None, *, holder: Any = _DEFAULT, now: dt.datetime | int = NOW, **options: Any
    ) -> str:
        cred = credential if cred is None else cred
        signer = (None if cred.is_bearer else holder_key) if holder is _DEFAULT else holder
        return present(cred, signer, now=now, **options)

    return make


@pytest.fixture(scope="session")
def presentation(present_licence: Callable[..., str]) -> str:
    """A valid presentation of ``credential`` made at NOW with every claim, lifetime 60 s."""
    return present_licence()


# --- byte-level forging ---------------------------------------------------------------------------


class Forge:
    """Tools for attack tests: a code's msgpack structure, changed, re-encoded and re-signed as an attacker would.

    The attacker may hold the holder key (a holder lying about their own credential) but never the
    issuer key; ``sign_issuer`` exists to build codes that only a (misbehaving) issuer could make, so a
    test reaches the checks that come after the issuer signature.
    """

    @staticmethod
    def unpack(payload: bytes) -> list[Any]:
        """Payload bytes as plain msgpack values (maps keep their wire order)."""
        return msgpack.unpackb(payload, raw=False, strict_map_key=False)  # type: ignore[no-any-return]

    @staticmethod
    def decode(text: str) -> list[Any]:
        """The payload of QR text as plain msgpack values."""
        return Forge.unpack(_wire.payload_from_text(text))

    @staticmethod
    def text(payload: list[Any] | bytes) -> str:
        """QR text for a payload structure (packed as given: maps keep insertion order) or for raw bytes."""
        data = payload if isinstance(payload, bytes) else _wire.pack(payload)
        return "EC1:" + str(int.from_bytes(b"\x01" + data, "big"))

    @staticmethod
    def sign_holder(payload: list[Any] | bytes, holder: Signer) -> str:
        """Re-make the holder signature over a 9-element presentation's bytes (as a lying holder would)."""
        data = payload if isinstance(payload, bytes) else _wire.pack([*payload[:8], bytes(64)])
        signature = _envelope.sign_presentation(holder, data[:-66])
        return Forge.text(data[:-64] + signature)

    @staticmethod
    def prove(
        credential_payload: list[Any],
        holder: Signer,
        presented_at: int,
        lifetime: int = 60,
        binding: list[Any] | None = None,
    ) -> str:
        """A full-disclosure presentation of an as-issued payload (seeds {1: root seed}), signed by ``holder``."""
        return Forge.sign_holder([*credential_payload[:5], presented_at, lifetime, binding, bytes(64)], holder)

    @staticmethod
    def root(ctype: CredentialType, present_mask: int, values: list[Any], seeds: dict[int, bytes]) -> bytes:
        """The disclosure-tree root for a full disclosure (every present claim's value and the root seed)."""
        depth = _disclosure.tree_depth(len(ctype.claims))
        indices = _disclosure.bits(present_mask)
        value_bytes = dict(zip(indices, (_wire.pack(v) for v in values), strict=True))
        salts = _disclosure.leaf_salts(depth, seeds, present_mask)
        return _disclosure.node_hash(depth, _disclosure.ROOT, present_mask, salts, value_bytes.__getitem__, {})

    @staticmethod
    def sign_issuer(payload: list[Any], issuer: Signer, ctype: CredentialType) -> list[Any]:
        """Re-make the issuer signature of an as-issued payload after its header or values were changed."""
        header, values, seeds = payload[0], payload[1], payload[2]
        root = Forge.root(ctype, header[6], values, seeds)
        return [header, values, seeds, payload[3], _envelope.sign_credential(issuer, _wire.pack(header), root)]

    @staticmethod
    def unix(moment: dt.datetime) -> int:
        return int(moment.timestamp())


@pytest.fixture(scope="session")
def forge() -> type[Forge]:
    return Forge


# --- rejections -----------------------------------------------------------------------------------


def _personal_data_forms(claims: Mapping[str, Any]) -> list[str]:
    """How the reference licence's personal data could show up in an error text."""
    forms: list[str] = []
    for name in ("licence_number", "address", "given_name", "birth_date"):
        value = claims[name]
        text = value.isoformat() if isinstance(value, dt.date) else str(value)
        forms.append(text)
        if not text.isascii():
            for encoded in (text.encode("utf-8"), text.encode("gb18030")):
                forms.append(repr(encoded)[2:-1])
                if len(encoded) >= 8:  # short hex strings could occur by chance in a key id
                    forms.append(encoded.hex())
    forms.append(claims["family_name"] + claims["given_name"])
    return forms


@pytest.fixture(scope="session")
def reject(licence_claims: Mapping[str, Any]) -> Callable[..., VerificationError]:
    """``reject(verifier, text, CODE, now=..., nonce=...)``: assert the code is rejected with CODE.

    Also checks the error contract on every rejection: a stable code, a non-empty sentence, and no
    personal data (licence number, address, name, birth date) in its text, detail or cause.
    """
    personal = _personal_data_forms(licence_claims)

    def check(
        verifier: Verifier, text: str, code: ErrorCode, *, now: dt.datetime | int = NOW, nonce: bytes | None = None
    ) -> VerificationError:
        with pytest.raises(VerificationError) as info:
            verifier.verify(text, now=now, nonce=nonce)
        error = info.value
        assert error.code is code, f"expected {code.value}, got {error.code.value}: {error}"
        assert isinstance(error.sentence, str) and error.sentence.strip()
        assert error.sentence == code.sentence
        rendered = " | ".join([str(error), repr(error), error.detail, *map(str, error.args), str(error.__cause__)])
        leaked = [form for form in personal if form in rendered]
        assert not leaked, f"error text shows personal data {leaked}: {rendered}"
        return error

    return check
