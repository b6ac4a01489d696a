"""Credential types: which claims a type has, their kinds, their order on the wire, and named profiles.

The wire format identifies claims by their index in the type's claim list, not by name, which keeps a
licence inside a small QR code. So a type's claim list is append-only: never reorder or remove a claim
of a published type. Claims that are usually disclosed together come first and in a block, because a
disclosed block that is an aligned power-of-two range costs one 16-byte node instead of one per claim
(see ``docs/SPEC.md``, "Disclosure tree").

A claim value on the wire is a msgpack-ready Python object: ``str`` or ``bytes`` (text, see below),
``int``, ``bool``, ``bytes`` or a ``list`` of these. Dates travel as days since 1970-01-01. Text travels
as a msgpack str (UTF-8) or, when strictly shorter, as a msgpack bin holding the GB18030 two-byte form
("compact text"), which saves a third of the bytes of Chinese text.
"""

from __future__ import annotations

import codecs
import datetime as _dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeAlias

from .errors import SchemaError

__all__ = [
    "BUILTIN_TYPES",
    "BUSINESS_LICENCE",
    "DRIVING_LICENCE",
    "MARRIAGE_CERTIFICATE",
    "MAX_BYTES_LENGTH",
    "MAX_CLAIMS",
    "MAX_LIST_ITEMS",
    "MAX_TEXT_BYTES",
    "RESIDENCE_PERMIT",
    "ClaimKind",
    "ClaimSpec",
    "ClaimValue",
    "CredentialType",
    "SchemaError",
    "TypeRegistry",
    "decode_text",
    "encode_text",
]

ScalarValue: TypeAlias = str | int | bool | _dt.date | bytes
ClaimValue: TypeAlias = ScalarValue | tuple[ScalarValue, ...]
WireValue: TypeAlias = str | int | bool | bytes | list[str | int | bool | bytes]

MAX_CLAIMS = 64
MAX_TEXT_BYTES = 512
MAX_BYTES_LENGTH = 256
MAX_LIST_ITEMS = 32
MIN_INT = -(2**63)
MAX_INT = 2**63 - 1
_EPOCH = _dt.date(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
# Characters whose two-byte GB18030 code differs between the 2000, 2005 and 2022 editions (besides the
# Private Use Area): U+1E3F moved to A8BC in 2005; the vertical forms U+FE10-FE19 and U+9FB4-9FBB moved
# from PUA codes to these characters in 2022. Excluding them keeps compact text edition-independent.
_NOT_COMPACT = re.compile("[\ue000-\uf8ff\u1e3f\ufe10-\ufe19\u9fb4-\u9fbb]")
# The codec's own functions, looked up once: ``str.encode``/``bytes.decode`` look the codec up by name on every
# call, which costs twice the conversion of a name or an address.
_GB18030_ENCODE = codecs.getencoder("gb18030")
_GB18030_DECODE = codecs.getdecoder("gb18030")


class ClaimKind(StrEnum):
    """The kind of a claim's value (a list kind holds scalars of the named kind)."""

    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    DATE = "date"
    BYTES = "bytes"
    TEXT_LIST = "list[text]"
    INT_LIST = "list[int]"
    BOOL_LIST = "list[bool]"
    DATE_LIST = "list[date]"
    BYTES_LIST = "list[bytes]"

    @property
    def item_kind(self) -> ClaimKind:
        """The scalar kind of this kind (itself for scalars)."""
        return ClaimKind(self.value[5:-1]) if self.value.startswith("list[") else self

    @property
    def is_list(self) -> bool:
        return self.value.startswith("list[")


def encode_text(text: str) -> str | bytes:
    """Return the canonical wire form of a text: GB18030 bytes when that is strictly shorter, else the str.

    Compact form is only used when every character is ASCII or a character that GB18030 encodes in two
    bytes, outside the Private Use Area and the few characters whose code changed between editions:
    that set maps identically in GB18030-2000, -2005 and -2022, so every implementation agrees.
    """
    if text.isascii():
        return text
    try:
        compact: bytes = _GB18030_ENCODE(text)[0]
    except UnicodeEncodeError:
        return text
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    if (
        len(compact) != len(text) + non_ascii  # some character takes four bytes
        or len(compact) >= len(text.encode("utf-8", "surrogatepass"))
        or _NOT_COMPACT.search(text)
    ):
        return text
    return compact


def decode_text(wire: object) -> str:
    """Decode a wire text and insist that it was in canonical form (so every text has exactly one encoding)."""
    if isinstance(wire, str):
        if not wire.isascii() and encode_text(wire) != wire:
            raise SchemaError("text that has a shorter compact form must be sent in compact form")
        return wire
    if isinstance(wire, bytes):
        return _compact_text(wire)
    raise SchemaError("expected text")


def _compact_text(wire: bytes) -> str:
    """The text of a compact (GB18030) wire text, which must be in the form :func:`encode_text` gives."""
    try:
        text: str = _GB18030_DECODE(wire)[0]
    except UnicodeDecodeError as exc:
        raise SchemaError("compact text is not valid GB18030") from exc
    # GB18030 maps characters one to one, so instead of re-encoding, check the rules of encode_text:
    # not pure ASCII, every non-ASCII character in two bytes, none excluded, shorter than UTF-8.
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    if (
        not non_ascii
        or len(wire) != len(text) + non_ascii
        or _NOT_COMPACT.search(text)
        or len(wire) >= len(text.encode("utf-8"))
    ):
        raise SchemaError("compact text is not in canonical form")
    return text


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    """One claim of a credential type: its name (snake_case ASCII) and kind."""

    name: str
    kind: ClaimKind
    label_zh: str = ""
    label_en: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.isascii() or not self.name.replace("_", "").isalnum():
            raise SchemaError(f"claim name must be ASCII letters, digits and '_': {self.name!r}")

    def to_wire(self, value: object) -> tuple[WireValue, ClaimValue]:
        """Check ``value`` against the kind; return its wire form and its normalised Python value.

        Lists come back as tuples and byte strings as ``bytes``. Raises SchemaError.
        """
        try:
            return _WIRE_ENCODERS[self.kind](value)
        except SchemaError as exc:
            raise SchemaError(f"claim {self.name!r} {exc.detail}") from None

    def from_wire(self, wire: object) -> ClaimValue:
        """Check a decoded wire value against the kind and return the Python value. Raises SchemaError."""
        try:
            return _DECODERS[self.kind](wire)
        except SchemaError as exc:
            raise SchemaError(f"claim {self.name!r} {exc.detail}") from None


def _text_to_wire(value: object) -> tuple[str | bytes, str]:
    if not isinstance(value, str):
        raise SchemaError("must be text")
    if value.isascii():  # one byte a character, and sent as it is (encode_text)
        if len(value) > MAX_TEXT_BYTES:
            raise SchemaError(f"is longer than {MAX_TEXT_BYTES} bytes")
        return value, value
    try:
        utf8 = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SchemaError("is not valid Unicode text (lone surrogate)") from exc
    if len(utf8) > 2 * MAX_TEXT_BYTES:  # not even compact text could fit: skip the GB18030 attempt
        raise SchemaError(f"is longer than {MAX_TEXT_BYTES} bytes")
    wire = encode_text(value)
    # the limit counts the bytes a verifier receives (SPEC 5.2): compact GB18030 or UTF-8, as sent
    if (len(wire) if isinstance(wire, bytes) else len(utf8)) > MAX_TEXT_BYTES:
        raise SchemaError(f"is longer than {MAX_TEXT_BYTES} bytes")
    return wire, value


def _bool_to_wire(value: object) -> tuple[bool, bool]:
    if not isinstance(value, bool):
        raise SchemaError("must be true or false")
    return value, value


def _int_to_wire(value: object) -> tuple[int, int]:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_INT <= value <= MAX_INT:
        raise SchemaError("must be a 64-bit signed integer")
    return value, value


def _date_to_wire(value: object) -> tuple[int, _dt.date]:
    if isinstance(value, _dt.datetime) or not isinstance(value, _dt.date):
        raise SchemaError("must be a date (datetime.date, not datetime)")
    return value.toordinal() - _EPOCH_ORDINAL, value


def _bytes_to_wire(value: object) -> tuple[bytes, bytes]:
    if not isinstance(value, bytes | bytearray) or len(value) > MAX_BYTES_LENGTH:
        raise SchemaError(f"must be at most {MAX_BYTES_LENGTH} bytes")
    return bytes(value), bytes(value)


_ENCODERS: dict[ClaimKind, Callable[[object], tuple[Any, Any]]] = {
    ClaimKind.TEXT: _text_to_wire,
    ClaimKind.BOOL: _bool_to_wire,
    ClaimKind.INT: _int_to_wire,
    ClaimKind.DATE: _date_to_wire,
    ClaimKind.BYTES: _bytes_to_wire,
}


def _list_encoder(item: Callable[[object], tuple[Any, Any]], kind: ClaimKind) -> Callable[[object], tuple[Any, Any]]:
    def encode(value: object) -> tuple[WireValue, ClaimValue]:
        if not isinstance(value, list | tuple) or len(value) > MAX_LIST_ITEMS:
            raise SchemaError(f"must be a list of at most {MAX_LIST_ITEMS} {kind.value} items")
        pairs = [item(one) for one in value]
        return [wire for wire, _ in pairs], tuple(checked for _, checked in pairs)

    return encode


# Every kind's encoder, lists included, looked up once per claim (the kind's properties are not free).
_WIRE_ENCODERS: dict[ClaimKind, Callable[[object], tuple[Any, Any]]] = {
    kind: _ENCODERS[kind] if not kind.is_list else _list_encoder(_ENCODERS[kind.item_kind], kind.item_kind)
    for kind in ClaimKind
}


def _text_from_wire(wire: object) -> str:
    if type(wire) is str and wire.isascii():  # the common case: one byte a character, nothing to re-check
        if len(wire) > MAX_TEXT_BYTES:
            raise SchemaError(f"text is longer than {MAX_TEXT_BYTES} bytes")
        return wire
    if type(wire) is bytes:  # compact text (GB18030), the usual form of Chinese text
        text = _compact_text(wire)
        if len(wire) > MAX_TEXT_BYTES:
            raise SchemaError(f"text is longer than {MAX_TEXT_BYTES} bytes")
        return text
    text = decode_text(wire)
    wire_bytes = len(wire) if isinstance(wire, bytes) else len(text.encode("utf-8"))
    if wire_bytes > MAX_TEXT_BYTES:
        raise SchemaError(f"text is longer than {MAX_TEXT_BYTES} bytes")
    return text


def _bool_from_wire(wire: object) -> bool:
    if wire is not True and wire is not False:
        raise SchemaError("must be a boolean")
    return wire


def _int_from_wire(wire: object) -> int:
    if type(wire) is not int or not MIN_INT <= wire <= MAX_INT:
        raise SchemaError("must be a 64-bit integer")
    return wire


def _date_from_wire(wire: object) -> _dt.date:
    if type(wire) is not int:
        raise SchemaError("must be a day count")
    try:
        return _dt.date.fromordinal(_EPOCH_ORDINAL + wire)
    except (ValueError, OverflowError) as exc:
        raise SchemaError("is out of the date range") from exc


def _bytes_from_wire(wire: object) -> bytes:
    if type(wire) is not bytes or len(wire) > MAX_BYTES_LENGTH:
        raise SchemaError(f"must be at most {MAX_BYTES_LENGTH} bytes")
    return wire


def _list_decoder(item: Callable[[object], ScalarValue]) -> Callable[[object], ClaimValue]:
    def decode(wire: object) -> ClaimValue:
        if type(wire) is not list or len(wire) > MAX_LIST_ITEMS:
            raise SchemaError(f"must be a list of at most {MAX_LIST_ITEMS} items")
        return tuple(map(item, wire))

    return decode


_SCALAR_DECODERS: dict[ClaimKind, Callable[[object], ScalarValue]] = {
    ClaimKind.TEXT: _text_from_wire,
    ClaimKind.BOOL: _bool_from_wire,
    ClaimKind.INT: _int_from_wire,
    ClaimKind.DATE: _date_from_wire,
    ClaimKind.BYTES: _bytes_from_wire,
}
_DECODERS: dict[ClaimKind, Callable[[object], ClaimValue]] = {
    kind: _SCALAR_DECODERS[kind] if not kind.is_list else _list_decoder(_SCALAR_DECODERS[kind.item_kind])
    for kind in ClaimKind
}


@dataclass(frozen=True, slots=True)
class CredentialType:
    """A credential type: a name, a wire id, its ordered claims and named disclosure profiles.

    ``type_id`` 1-999 are reserved for types defined in ``docs/SPEC.md``; deployments define their own
    types with ids from 1000 up and give the same definition to issuers and verifiers.
    """

    name: str
    type_id: int
    claims: tuple[ClaimSpec, ...]
    profiles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    label_zh: str = ""
    label_en: str = ""
    _decoders: tuple[tuple[str, Callable[[object], ClaimValue]], ...] = field(
        init=False, repr=False, compare=False, default=()
    )
    _encoders: tuple[tuple[str, Callable[[object], tuple[Any, Any]]], ...] = field(
        init=False, repr=False, compare=False, default=()
    )
    _names: frozenset[str] = field(init=False, repr=False, compare=False, default=frozenset())
    # (present, disclosed) bitmaps -> (disclosed claim indices, withheld claim names): a few integers per shape
    _shapes: dict[tuple[int, int], tuple[tuple[int, ...], tuple[str, ...]]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        if not 1 <= self.type_id <= 0xFFFF:
            raise SchemaError("type_id must be between 1 and 65535")
        if not 1 <= len(self.claims) <= MAX_CLAIMS:
            raise SchemaError(f"a credential type has 1 to {MAX_CLAIMS} claims")
        names = [c.name for c in self.claims]
        if len(set(names)) != len(names):
            raise SchemaError(f"duplicate claim names in type {self.name!r}")
        for profile, members in self.profiles.items():
            unknown = set(members) - set(names)
            if unknown or not members:
                raise SchemaError(f"profile {profile!r} of {self.name!r} names unknown claims {sorted(unknown)}")
        object.__setattr__(self, "profiles", MappingProxyType({k: tuple(v) for k, v in self.profiles.items()}))
        object.__setattr__(self, "_decoders", tuple((c.name, _DECODERS[c.kind]) for c in self.claims))
        object.__setattr__(self, "_encoders", tuple((c.name, _WIRE_ENCODERS[c.kind]) for c in self.claims))
        object.__setattr__(self, "_names", frozenset(names))

    def has_claims(self, names: Iterable[str]) -> bool:
        """True when the type has a claim of every one of these names."""
        return self._names.issuperset(names)

    def claims_to_wire(self, claims: Mapping[str, object]) -> tuple[dict[int, WireValue], dict[str, ClaimValue]]:
        """Check each claim against its kind, in the type's claim order, as :meth:`ClaimSpec.to_wire` does.

        Returns the wire values by claim index (ascending) and the normalised values by name. Names the type
        does not have are not looked at (:meth:`has_claims` tells). Raises SchemaError naming the claim.
        """
        wire: dict[int, WireValue] = {}
        checked: dict[str, ClaimValue] = {}
        for index, (name, encode) in enumerate(self._encoders):
            if name in claims:
                try:
                    wire[index], checked[name] = encode(claims[name])
                except SchemaError as exc:
                    raise SchemaError(f"claim {name!r} {exc.detail}") from None
        return wire, checked

    def claims_from_wire(self, indices: Iterable[int], values: Iterable[object]) -> dict[str, ClaimValue]:
        """Decode the wire values of the claims at ``indices`` (ascending, one value each) to a name -> value map.

        Each value is checked as :meth:`ClaimSpec.from_wire` checks it; raises SchemaError naming the claim.
        """
        decoders = self._decoders
        claims: dict[str, ClaimValue] = {}
        for index, wire in zip(indices, values, strict=True):
            name, decode = decoders[index]
            try:
                claims[name] = decode(wire)
            except SchemaError as exc:
                raise SchemaError(f"claim {name!r} {exc.detail}") from None
        return claims

    def decode_disclosed(
        self, present: int, disclosed: int, values: Iterable[object]
    ) -> tuple[dict[str, ClaimValue], tuple[str, ...]]:
        """The disclosed claims by name, decoded as :meth:`claims_from_wire` does, and the withheld claims' names.

        Bit ``i`` of ``present`` / ``disclosed`` is claim ``i``; ``values`` holds one value per disclosed claim,
        ascending. Which claims a shape names is worked out once per shape and kept (a bounded cache).
        """
        shape = self._shapes.get((present, disclosed))
        if shape is None:
            hidden = present & ~disclosed
            shape = (
                tuple(i for i in range(len(self.claims)) if disclosed >> i & 1),
                tuple(spec.name for i, spec in enumerate(self.claims) if hidden >> i & 1),
            )
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            self._shapes[present, disclosed] = shape
        indices, withheld = shape
        return self.claims_from_wire(indices, values), withheld

    def index_of(self, claim_name: str) -> int:
        for index, spec in enumerate(self.claims):
            if spec.name == claim_name:
                return index
        raise KeyError(claim_name)

    @property
    def claim_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.claims)


_MAX_SHAPES = 256  # per type; each entry is a few small tuples


class TypeRegistry:
    """An immutable set of credential types, looked up by name or by wire id. No global state: pass it in."""

    __slots__ = ("_by_id", "_by_name")

    def __init__(self, types: Iterable[CredentialType] = ()) -> None:
        by_name: dict[str, CredentialType] = {}
        by_id: dict[int, CredentialType] = {}
        for ctype in types:
            if ctype.name in by_name or ctype.type_id in by_id:
                raise SchemaError(f"credential type {ctype.name!r} (id {ctype.type_id}) is defined twice")
            by_name[ctype.name] = ctype
            by_id[ctype.type_id] = ctype
        self._by_name = MappingProxyType(by_name)
        self._by_id = MappingProxyType(by_id)

    def with_types(self, *types: CredentialType) -> TypeRegistry:
        """A new registry holding these types as well as this one's."""
        return TypeRegistry([*self._by_name.values(), *types])

    def by_name(self, name: str) -> CredentialType | None:
        return self._by_name.get(name)

    def by_id(self, type_id: int) -> CredentialType | None:
        return self._by_id.get(type_id)

    def __iter__(self) -> Iterator[CredentialType]:
        return iter(self._by_name.values())

    def names(self) -> Sequence[str]:
        return tuple(self._by_name)


def _claims(*specs: tuple[str, ClaimKind, str, str]) -> tuple[ClaimSpec, ...]:
    return tuple(ClaimSpec(name, kind, zh, en) for name, kind, zh, en in specs)


K = ClaimKind

DRIVING_LICENCE = CredentialType(
    name="driving-licence",
    type_id=1,
    label_zh="机动车驾驶证",
    label_en="Driving licence",
    claims=_claims(
        ("family_name", K.TEXT, "姓", "Family name"),
        ("given_name", K.TEXT, "名", "Given name"),
        ("vehicle_classes", K.TEXT_LIST, "准驾车型", "Vehicle classes"),
        ("expiry_date", K.DATE, "有效期至", "Expiry date"),
        ("birth_date", K.DATE, "出生日期", "Date of birth"),
        ("licence_number", K.TEXT, "证号", "Licence number"),
        ("issue_date", K.DATE, "初次领证日期", "Issue date"),
        ("issuing_authority", K.TEXT, "发证机关", "Issuing authority"),
        ("address", K.TEXT, "住址", "Address"),
        ("age_over_18", K.BOOL, "年满18周岁", "Aged 18 or over"),
        ("age_over_60", K.BOOL, "年满60周岁", "Aged 60 or over"),
        ("portrait", K.BYTES, "照片", "Portrait (small)"),
    ),
    profiles={
        "full": (
            "family_name",
            "given_name",
            "vehicle_classes",
            "expiry_date",
            "birth_date",
            "licence_number",
            "issue_date",
            "issuing_authority",
            "address",
        ),
        "driving-check": ("family_name", "given_name", "vehicle_classes", "expiry_date"),
        "name": ("family_name", "given_name"),
        "age-check": ("age_over_18",),
    },
)

BUSINESS_LICENCE = CredentialType(
    name="business-licence",
    type_id=2,
    label_zh="营业执照",
    label_en="Business licence",
    claims=_claims(
        ("unified_social_credit_code", K.TEXT, "统一社会信用代码", "Unified social credit code"),
        ("company_name", K.TEXT, "名称", "Company name"),
        ("legal_representative", K.TEXT, "法定代表人", "Legal representative"),
        ("company_type", K.TEXT, "类型", "Company type"),
        ("registered_capital", K.TEXT, "注册资本", "Registered capital"),
        ("established_on", K.DATE, "成立日期", "Established on"),
        ("address", K.TEXT, "住所", "Address"),
        ("business_scope", K.TEXT, "经营范围", "Business scope"),
    ),
    profiles={
        "full": (
            "unified_social_credit_code",
            "company_name",
            "legal_representative",
            "company_type",
            "registered_capital",
            "established_on",
            "address",
            "business_scope",
        ),
        "identity": ("unified_social_credit_code", "company_name"),
        "counter-check": (
            "unified_social_credit_code",
            "company_name",
            "legal_representative",
            "company_type",
        ),
    },
)

MARRIAGE_CERTIFICATE = CredentialType(
    name="marriage-certificate",
    type_id=3,
    label_zh="结婚证",
    label_en="Marriage certificate",
    claims=_claims(
        ("certificate_number", K.TEXT, "结婚证字号", "Certificate number"),
        ("registration_date", K.DATE, "登记日期", "Registration date"),
        ("spouse_a_name", K.TEXT, "持证人姓名", "Holder's name"),
        ("spouse_b_name", K.TEXT, "配偶姓名", "Spouse's name"),
        ("spouse_a_id_number", K.TEXT, "持证人身份证件号", "Holder's ID number"),
        ("spouse_b_id_number", K.TEXT, "配偶身份证件号", "Spouse's ID number"),
        ("spouse_a_birth_date", K.DATE, "持证人出生日期", "Holder's date of birth"),
        ("spouse_b_birth_date", K.DATE, "配偶出生日期", "Spouse's date of birth"),
        ("registration_authority", K.TEXT, "登记机关", "Registration authority"),
    ),
    profiles={
        "full": (
            "certificate_number",
            "registration_date",
            "spouse_a_name",
            "spouse_b_name",
            "spouse_a_id_number",
            "spouse_b_id_number",
            "spouse_a_birth_date",
            "spouse_b_birth_date",
            "registration_authority",
        ),
        "married-to": ("certificate_number", "registration_date", "spouse_a_name", "spouse_b_name"),
    },
)

RESIDENCE_PERMIT = CredentialType(
    name="residence-permit",
    type_id=4,
    label_zh="居住证",
    label_en="Residence permit",
    claims=_claims(
        ("family_name", K.TEXT, "姓", "Family name"),
        ("given_name", K.TEXT, "名", "Given name"),
        ("permit_number", K.TEXT, "证件号码", "Permit number"),
        ("expiry_date", K.DATE, "有效期至", "Expiry date"),
        ("nationality", K.TEXT, "国籍", "Nationality"),
        ("birth_date", K.DATE, "出生日期", "Date of birth"),
        ("issue_date", K.DATE, "签发日期", "Issue date"),
        ("issuing_authority", K.TEXT, "签发机关", "Issuing authority"),
        ("address", K.TEXT, "居住地址", "Address"),
        ("age_over_18", K.BOOL, "年满18周岁", "Aged 18 or over"),
    ),
    profiles={
        "name": ("family_name", "given_name"),
        "residence-check": ("family_name", "given_name", "permit_number", "expiry_date"),
    },
)

BUILTIN_TYPES = TypeRegistry([DRIVING_LICENCE, BUSINESS_LICENCE, MARRIAGE_CERTIFICATE, RESIDENCE_PERMIT])
