"""The real objects the fuzz harnesses start from: keys, a trust store, credentials, presentations, a status
list, a trust list, a wallet and QR images, all deterministic (keys derived from labels, RFC 6979 ECDSA).

``seeds_of()`` turns them into the seed corpus of each harness (``targets.py`` says what a seed's first byte
selects). Nothing here reads the clock: the verifier's time is ``NOW``. The keys are test keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import msgpack
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from econsent import (
    ATTESTED_OUT_OF_BAND,
    BUILTIN_TYPES,
    Algorithm,
    ClaimKind,
    ClaimSpec,
    Credential,
    CredentialType,
    Issuer,
    IssuerName,
    MemoryReplayCache,
    Policy,
    PublicKey,
    SigningKey,
    StatusReference,
    TrustedKey,
    TrustStore,
    Verifier,
    present,
)
from econsent._vault import ScryptParams
from econsent.status import CredentialStatus, StatusListBuilder, StatusListCache, load_status_list
from econsent.trust import sign_trust_list
from econsent.wallet import MemoryStorage, Wallet

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
NOW = int(dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC).timestamp())
DAY = 86_400
NONCE = hashlib.sha256(b"econsent fuzz nonce").digest()[:16]
AUDIENCE = "counter-07"
PASSPHRASE = "fuzz passphrase 口令"
CHEAP_KDF = ScryptParams(log2_n=10, r=1, p=1)
STATUS_LIST_ID = 7


class DeterministicSigner:
    """A test key that signs deterministically (RFC 6979 for ES256), so seed corpora are the same every run."""

    def __init__(self, key: SigningKey) -> None:
        self._pem = key.to_pem()
        self._private = serialization.load_pem_private_key(self._pem, password=None)
        self.algorithm = key.algorithm
        self.public_key = key.public_key
        self.signing_key = key

    def sign(self, data: bytes) -> bytes:
        if isinstance(self._private, ec.EllipticCurvePrivateKey):
            der = self._private.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
            r, s = decode_dss_signature(der)
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert isinstance(self._private, ed25519.Ed25519PrivateKey)
        return self._private.sign(data)


def _digest(label: str) -> bytes:
    return hashlib.sha256(b"econsent fuzz key\x00" + label.encode()).digest()


def es256(label: str) -> DeterministicSigner:
    scalar = int.from_bytes(_digest(label), "big") % (P256_ORDER - 1) + 1
    return DeterministicSigner(SigningKey(Algorithm.ES256, ec.derive_private_key(scalar, ec.SECP256R1())))


def ed25519_key(label: str) -> DeterministicSigner:
    private = ed25519.Ed25519PrivateKey.from_private_bytes(_digest(label))
    return DeterministicSigner(SigningKey(Algorithm.ED25519, private))


# A deployment type with one claim of every kind, so every claim decoder is reachable (19 claims: depth 3).
EVERY_KIND = CredentialType(
    name="every-kind",
    type_id=1000,
    claims=tuple(
        ClaimSpec(f"{kind.value.replace('[', '_').replace(']', '')}_{n}", kind) for kind in ClaimKind for n in (0, 1)
    )[:19],
    profiles={"first": ("text_0", "text_1")},
)
TYPES = BUILTIN_TYPES.with_types(EVERY_KIND)
EVERY_KIND_CLAIMS = {
    "text_0": "ASCII",
    "text_1": "上海市黄浦区 No. 12",
    "int_0": -(2**63),
    "int_1": 2**63 - 1,
    "bool_0": True,
    "bool_1": False,
    "date_0": dt.date(1900, 1, 1),
    "date_1": dt.date(9999, 12, 31),
    "bytes_0": bytes(range(40)),
    "bytes_1": b"",
    "list_text_0": ("C1", "驾驶", "🚗"),
    "list_text_1": (),
    "list_int_0": (-1, 0, 2**40),
    "list_int_1": (127,),
    "list_bool_0": (True, False),
    "list_bool_1": (),
    "list_date_0": (dt.date(1969, 12, 31),),
    "list_date_1": (),
    "list_bytes_0": (b"\x00\xff",),
}
LICENCE = {
    "family_name": "张",
    "given_name": "伟",
    "vehicle_classes": ("C1", "D"),
    "expiry_date": dt.date(2029, 1, 15),
    "birth_date": dt.date(1985, 3, 14),
    "licence_number": "310101198503140012",
    "issue_date": dt.date(2019, 1, 15),
    "issuing_authority": "上海市公安局交通警察总队",
    "address": "上海市黄浦区人民路一二三弄四号",
}
BUSINESS = {
    "unified_social_credit_code": "91310000MA1FL4XX3K",
    "company_name": "上海示例科技有限公司",
    "legal_representative": "李娜",
    "company_type": "有限责任公司",
}


@dataclass(frozen=True)
class World:
    """Everything the harnesses need, built once per process."""

    issuer: DeterministicSigner
    issuer_ed25519: DeterministicSigner
    holder: DeterministicSigner
    holder_ed25519: DeterministicSigner
    anchor: DeterministicSigner
    trust: TrustStore
    status_list: bytes
    trust_list: bytes
    credentials: dict[str, Credential]
    presentations: dict[str, str]
    wallet: bytes
    signers: dict[bytes, DeterministicSigner]

    def holder_for(self, raw: bytes | None) -> DeterministicSigner | None:
        """The test holder key whose public key is ``raw`` (None for any other key)."""
        return next((k for k in (self.holder, self.holder_ed25519) if k.public_key.raw == raw), None)

    def issuer_for(self, kid: bytes) -> DeterministicSigner | None:
        return next((k for k in (self.issuer, self.issuer_ed25519) if k.public_key.kid == kid), None)

    def status_cache(self) -> StatusListCache:
        cache = StatusListCache()
        cache.add(load_status_list(self.status_list, self.trust))
        return cache

    def verifier(self, policy: Policy | None = None, *, replay: bool = False) -> Verifier:
        return Verifier(
            self.trust,
            policy,
            types=TYPES,
            replay_cache=MemoryReplayCache() if replay else None,
            status_lists=self.status_cache(),
        )


def _trusted(signer: DeterministicSigner, issuer_id: str, zh: str) -> TrustedKey:
    return TrustedKey(
        public_key=signer.public_key,
        issuer=IssuerName(zh, issuer_id),
        credential_types=frozenset(TYPES.names()),
        valid_from=dt.datetime.fromtimestamp(NOW - 3000 * DAY, dt.UTC),
        valid_until=dt.datetime.fromtimestamp(NOW + 3000 * DAY, dt.UTC),
        issuer_id=issuer_id,
    )


@cache
def world() -> World:
    issuer, issuer_ed = es256("issuer-es256"), ed25519_key("issuer-ed25519")
    holder, holder_ed = es256("holder-es256"), ed25519_key("holder-ed25519")
    anchor = es256("anchor-es256")
    trust = TrustStore([_trusted(issuer, "sh-traffic", "交通警察总队"), _trusted(issuer_ed, "sh-market", "市场监督局")])

    def issue(
        signer: DeterministicSigner,
        type_name: str,
        claims: dict[str, object],
        holder_key: PublicKey | None,
        label: str,
        **options: object,
    ) -> Credential:
        rng = random.Random(label)
        return Issuer(
            signer, types=TYPES, random_bytes=rng.randbytes
        ).issue(
            type_name,
            claims,  # type: ignore[arg-type]
            holder_key=holder_key,
            possession=None if holder_key is None else ATTESTED_OUT_OF_BAND,
            valid_from=NOW - 400 * DAY,
            valid_until=NOW + 400 * DAY,
            now=NOW - 10 * DAY,
            serial=int.from_bytes(hashlib.sha256(label.encode()).digest()[:4], "big"),
            **options,  # type: ignore[arg-type]
        )

    credentials = {
        "licence": issue(
            issuer,
            "driving-licence",
            LICENCE,
            holder.public_key,
            "licence",
            status=StatusReference(STATUS_LIST_ID, 4),
            derive=("age_over_18",),
        ),
        "licence-ed25519": issue(issuer_ed, "driving-licence", LICENCE, holder_ed.public_key, "licence-ed25519"),
        "revoked": issue(
            issuer, "driving-licence", LICENCE, holder.public_key, "revoked", status=StatusReference(STATUS_LIST_ID, 5)
        ),
        "bearer": issue(issuer_ed, "business-licence", BUSINESS, None, "bearer"),
        "every-kind": issue(issuer, "every-kind", EVERY_KIND_CLAIMS, holder_ed.public_key, "every-kind"),
    }
    signer_of = {"licence": holder, "licence-ed25519": holder_ed, "revoked": holder, "every-kind": holder_ed}
    at = NOW - 5

    def show(name: str, **options: object) -> str:
        return present(credentials[name], signer_of.get(name), now=at, types=TYPES, **options)  # type: ignore[arg-type]

    presentations = {
        "full": show("licence"),
        "driving-check": show("licence", profile="driving-check"),
        "name": show("licence", profile="name"),
        "scattered": show("licence", disclose=["family_name", "licence_number", "age_over_18"]),
        "nothing": show("licence", disclose=[]),
        "challenge": show("licence", profile="name", nonce=NONCE, audience=AUDIENCE, lifetime=120),
        "ed25519": show("licence-ed25519", profile="driving-check"),
        "revoked": show("revoked", profile="name"),
        "bearer": show("bearer"),
        "every-kind": show("every-kind"),
        "every-kind-partial": show("every-kind", disclose=["text_1", "int_0", "date_1", "list_bytes_0"]),
    }
    builder = StatusListBuilder(64)
    builder.set(5, CredentialStatus.REVOKED)
    builder.set(6, CredentialStatus.SUSPENDED)
    status_list = builder.sign(
        issuer, issuer_ref="sh-traffic", list_id=STATUS_LIST_ID, sequence=3, issued_at=NOW - DAY, next_update=NOW + DAY
    )
    trust_list = sign_trust_list(trust, anchor, name="shanghai", sequence=5, issued_at=NOW - DAY, next_update=NOW + DAY)
    storage = MemoryStorage()
    wallet = Wallet.create(storage, PASSPHRASE, kdf=CHEAP_KDF, types=TYPES)
    wallet.add(credentials["licence"], holder_key=holder.signing_key, label="驾驶证")
    wallet.add(credentials["bearer"], issuer="市场监督局")
    assert storage.data is not None
    signers = {k.public_key.kid: k for k in (issuer, issuer_ed, holder, holder_ed, anchor)}
    return World(
        issuer,
        issuer_ed,
        holder,
        holder_ed,
        anchor,
        trust,
        status_list,
        trust_list,
        credentials,
        presentations,
        storage.data,
        signers,
    )


def payload_of(text: str) -> bytes:
    number = int(text.removeprefix("EC1:"))
    return number.to_bytes((number.bit_length() + 7) // 8, "big")[1:]


def certificate(signer: DeterministicSigner, issuer_signer: DeterministicSigner | None = None) -> bytes:
    """A self-signed (or ``issuer_signer``-signed) X.509 certificate for an ES256 test key, as DER."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "econsent fuzz")])
    private = (issuer_signer or signer)._private
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    public = serialization.load_pem_public_key(signer.public_key.to_pem())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(7)
        .not_valid_before(dt.datetime.fromtimestamp(NOW - DAY, dt.UTC))
        .not_valid_after(dt.datetime.fromtimestamp(NOW + 365 * DAY, dt.UTC))
        .sign(private, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


# --- foreign formats: an EU DCC signer and a SMART Health Card issuer, with genuine codes of each ----------


def cbor(value: object) -> bytes:
    """A minimal CBOR encoder (ints, byte and text strings, lists, maps, tags) for building DCCs."""
    from econsent.formats._cbor import Tag

    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes((major << 5 | n,))
        size = next(size for size in (1, 2, 4, 8) if n < 1 << (8 * size))
        return bytes((major << 5 | (24 + size.bit_length() - 1),)) + n.to_bytes(size, "big")

    if isinstance(value, bool) or value is None:
        return {True: b"\xf5", False: b"\xf4", None: b"\xf6"}[value]
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        return head(3, len(value.encode())) + value.encode()
    if isinstance(value, list):
        return head(4, len(value)) + b"".join(cbor(item) for item in value)
    if isinstance(value, dict):
        return head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    if isinstance(value, Tag):
        return head(6, value.number) + cbor(value.value)
    raise TypeError(type(value))


def base45(data: bytes) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    out = []
    for i in range(0, len(data), 2):
        chunk = data[i : i + 2]
        number = int.from_bytes(chunk, "big")
        out += [alphabet[(number // 45**k) % 45] for k in range(3 if len(chunk) == 2 else 2)]
    return "".join(out)


DCC_HCERT = {
    "ver": "1.3.0",
    "nam": {"fn": "Musterfrau", "fnt": "MUSTERFRAU", "gn": "Erika", "gnt": "ERIKA"},
    "dob": "1964-08-12",
    "v": [{"tg": "840539006", "vp": "1119349007", "dn": 2, "sd": 2, "dt": "2021-05-29", "co": "AT",
           "is": "Ministry of Health, Austria", "ci": "URN:UVCI:01:AT:TEST#0"}],
}  # fmt: skip
SHC_ISSUER = "https://issuer.example.org/shc"


@dataclass(frozen=True)
class Dcc:
    """A Document Signer (ES256, certificate valid around NOW) and what it signs."""

    signer: DeterministicSigner
    der: bytes
    kid: bytes

    def protected(self) -> bytes:
        return cbor({1: -7, 4: self.kid})

    def cose(self, protected: bytes, payload: bytes, unprotected: dict[object, object] | None = None) -> bytes:
        """A COSE_Sign1 (tag 18) with this signer's signature over ``protected`` and ``payload``."""
        from econsent.formats._cbor import Tag

        signature = self.signer.sign(cbor(["Signature1", protected, b"", payload]))
        return cbor(Tag(18, [protected, unprotected or {}, payload, signature]))

    def claims(self, hcert: object = None) -> bytes:
        return cbor({1: "AT", 6: NOW - DAY, 4: NOW + 180 * DAY, -260: {1: hcert or DCC_HCERT}})

    def text(self, cose: bytes) -> str:
        import zlib

        return "HC1:" + base45(zlib.compress(cose))


@dataclass(frozen=True)
class Shc:
    """A SMART Health Card issuer (ES256, kid = JWK thumbprint) and what it signs."""

    signer: DeterministicSigner
    jwk: dict[str, object]

    @property
    def kid(self) -> str:
        return str(self.jwk["kid"])

    def crl(self) -> dict[str, object]:
        """The issuer's revocation list for its key: one rid revoked for good, one before a time."""
        return {"kid": self.kid, "method": "rid", "ctr": 1, "rids": ["revokedrid", f"MKjR5NqBOYA.{NOW - 10 * DAY}"]}

    def header(self) -> bytes:
        return json.dumps({"zip": "DEF", "alg": "ES256", "kid": self.kid}, separators=(",", ":")).encode()

    def card(self) -> bytes:
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {
                    "fullUrl": "resource:0",
                    "resource": {
                        "resourceType": "Patient",
                        "name": [{"family": "Anyperson", "given": ["John", "B."]}],
                        "birthDate": "1951-01-20",
                    },
                }
            ],
        }
        document = {
            "iss": SHC_ISSUER,
            "nbf": NOW - DAY,
            "vc": {
                "type": ["https://smarthealth.cards#health-card", "https://smarthealth.cards#immunization"],
                "credentialSubject": {"fhirVersion": "4.0.1", "fhirBundle": bundle},
                "rid": "MKjR5NqBOYA",
            },
        }
        return json.dumps(document, separators=(",", ":")).encode()

    def jws(self, header: bytes, payload_json: bytes) -> str:
        """A compact JWS signed by this issuer: ``payload_json`` is raw-DEFLATEd as the format requires."""
        import base64
        import zlib

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        body = compressor.compress(payload_json) + compressor.flush()
        signed = f"{b64(header)}.{b64(body)}"
        return f"{signed}.{b64(self.signer.sign(signed.encode()))}"


def qr_text_of_jws(jws: str) -> str:
    return "shc:/" + "".join(f"{ord(char) - 45:02d}" for char in jws)


@cache
def dcc() -> Dcc:
    from econsent.formats import DscEntry

    signer = es256("dcc-dsc-es256")
    der = certificate(signer)
    return Dcc(signer, der, DscEntry(der).kid)


@cache
def shc() -> Shc:
    import base64

    from econsent.formats.shc import jwk_thumbprint

    signer = es256("shc-issuer-es256")
    public = serialization.load_pem_public_key(signer.public_key.to_pem())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    numbers = public.public_numbers()
    point = numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    jwk = {"kty": "EC", "crv": "P-256", "x": b64(point[:32]), "y": b64(point[32:])}
    return Shc(signer, {**jwk, "kid": jwk_thumbprint(jwk), "use": "sig", "alg": "ES256", "crlVersion": 1})


def images() -> dict[str, bytes]:
    """Small encoded images of QR codes (Pillow and qrcode are imported only here)."""
    from PIL import Image

    from econsent import qr

    w = world()
    code = qr.render_image(w.presentations["name"], module_px=1, border=2)
    other = qr.render_image("HELLO, NOT AN ECONSENT CODE", module_px=2, border=2)
    out: dict[str, bytes] = {}
    for name, image, fmt in (
        ("png", code, "PNG"),
        ("gif", code, "GIF"),
        ("bmp", code.convert("L"), "BMP"),
        ("jpeg", code.convert("L").resize((code.width * 2, code.height * 2), Image.Resampling.NEAREST), "JPEG"),
        ("other-png", other, "PNG"),
        ("rgba-png", code.convert("RGBA"), "PNG"),
    ):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        out[name] = buffer.getvalue()
    return out


def _pixels(text: str) -> bytes:
    """A QR code as raw 8-bit gray pixels: a width byte (width - 16), then the rows."""
    from econsent import qr

    image = qr.render_image(text, module_px=1, border=2).convert("L")
    assert 16 <= image.width < 272
    return bytes((image.width - 16,)) + image.tobytes()


def _json(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def seeds_of(harness: str) -> dict[str, bytes]:
    """A harness's seed inputs, by name; the first byte of each selects the mode (see targets.py).

    The foreign formats' seeds need none of econsent's own objects (keys, credentials, wallet).
    """
    if harness == "dcc":
        return _dcc_seeds()
    if harness == "shc":
        return _shc_seeds()
    return _econsent_seeds()[harness]


@cache
def _econsent_seeds() -> dict[str, dict[str, bytes]]:
    w = world()
    payloads = {name: payload_of(text) for name, text in w.presentations.items()}
    list_doc = json.loads(w.trust_list)
    import base64

    list_payload = base64.urlsafe_b64decode(list_doc["payload"] + "==")
    wallet_body = _wallet_plaintext(w)
    cert = certificate(w.anchor)
    jwks = {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": base64.urlsafe_b64encode(w.issuer_ed25519.public_key.raw).rstrip(b"=").decode(),
            }
        ]
    }
    return {
        "text": {
            **{f"text-{name}": b"t" + text.encode() for name, text in w.presentations.items()},
            **{f"payload-{name}": b"p" + payload for name, payload in payloads.items()},
            "credential": b"c" + w.credentials["licence"].encoded,
        },
        "verify": {
            **{f"raw-{name}": b"\x00" + payload for name, payload in payloads.items()},
            **{f"holder-{name}": b"\x01" + payload for name, payload in payloads.items()},
            **{f"issuer-{name}": b"\x02" + payload for name, payload in payloads.items()},
            "raw-credential": b"\x00" + w.credentials["licence"].encoded,
        },
        "trust_list": {
            "file": b"\x00" + w.trust_list,
            "payload": b"\x01" + list_payload,
            "store": b"\x02" + _json(w.trust.to_json()),
            "jwks": b"\x03" + _json(jwks),
            "certificate": b"\x04" + cert,
            "pem": b"\x05" + w.issuer.public_key.to_pem(),
        },
        "status_list": {
            "file": b"\x00" + w.status_list,
            "resigned": b"\x01" + w.status_list,
        },
        "wallet": {
            "vault": b"\x00" + w.wallet,
            "body": b"\x01" + wallet_body,
        },
        "scan": {
            **{f"image-{name}": b"\x00" + data for name, data in images().items()},
            "pixels": b"\x01" + _pixels(w.presentations["name"]),
            "rendered-text": b"\x02" + w.presentations["name"].encode(),
            "rendered-other-text": b"\x02" + "EC1:0123 not a code, 驾驶证".encode(),
        },
    }


def dcc_genuine() -> tuple[bytes, ...]:
    """The COSE messages the test DSC signed in the seeds (the key id in the protected or unprotected header)."""
    d = dcc()
    return d.cose(d.protected(), d.claims()), d.cose(cbor({1: -7}), d.claims(), {4: d.kid})


@cache
def _dcc_seeds() -> dict[str, bytes]:
    """Mode 0 HC1 text, 1 a COSE message (unsigned), 2 CWT claims signed by the DSC, 3 a signed protected header."""
    d = dcc()
    genuine, kid_unprotected = dcc_genuine()
    test_hcert = {
        "ver": "1.3.0",
        "nam": {"fnt": "MUSTERFRAU"},
        "dob": "1964",
        "t": [{"tg": "840539006", "tt": "LP6464-4", "sc": "2021-05-29T10:00:00Z", "ci": "URN:UVCI:01:AT:T#1"}],
    }
    return {
        "text": b"\x00" + d.text(genuine).encode(),
        "text-cwt-tagged": b"\x00" + d.text(b"\xd8\x3d" + genuine).encode(),
        "cose": b"\x01" + genuine,
        "cose-kid-unprotected": b"\x01" + kid_unprotected,
        "claims": b"\x02" + d.claims(),
        "claims-test": b"\x02" + d.claims(test_hcert),
        "claims-no-issuer": b"\x02" + cbor({6: NOW - DAY, 4: NOW + DAY, -260: {1: DCC_HCERT}}),
        "protected": b"\x03" + d.protected(),
        "protected-alg-list": b"\x03" + cbor({1: [-7], 4: d.kid}),
    }


@cache
def _shc_seeds() -> dict[str, bytes]:
    """Mode 0 shc:/ text, 1 a compact JWS (unsigned), 2 card JSON signed, 3 a signed header, 4 a card file."""
    s = shc()
    genuine = s.jws(s.header(), s.card())
    revoked = s.card().replace(b"MKjR5NqBOYA", b"revokedrid")
    return {
        "text": b"\x00" + qr_text_of_jws(genuine).encode(),
        "jws": b"\x01" + genuine.encode(),
        "card": b"\x02" + s.card(),
        "card-revoked": b"\x02" + revoked,
        "card-expiring": b"\x02" + s.card().replace(b'"nbf"', f'"exp":{NOW + DAY},"nbf"'.encode()),
        "header": b"\x03" + s.header(),
        "file": b"\x04" + _json({"verifiableCredential": [genuine]}),
        "file-parameters": b"\x04"
        + _json(
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "verifiableCredential", "valueString": genuine}],
            }
        ),
    }


def _wallet_plaintext(w: World) -> bytes:
    """The decrypted body of the seed wallet (what the wallet harness seals under its own key)."""
    from econsent._vault import derive_key, read_header, unseal

    header = read_header(w.wallet)
    body = unseal(w.wallet, header, derive_key(PASSPHRASE, header.params, header.salt))
    return msgpack.packb(body, use_bin_type=True)  # type: ignore[no-any-return]


HARNESSES: tuple[str, ...] = ("text", "verify", "trust_list", "status_list", "wallet", "scan", "dcc", "shc")
Target = Callable[[bytes], None]
