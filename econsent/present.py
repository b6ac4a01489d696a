"""The holder protocol: a credential as issued in, a time-limited presentation out.

A presentation is the credential with the claims the holder chose to show, stamped with the phone's
time and a short lifetime, optionally bound to a verifier's nonce and audience, and signed by the holder
key that the issuer bound into the credential. The holder key is behind the
:class:`~econsent.keys.Signer` interface, so it can live in a phone's secure hardware. Nothing here
reads the clock. The bytes are made by the codec (``_wire``, ``_disclosure``); storing credentials and
keys is the wallet's job (:mod:`econsent.wallet`).
"""

from __future__ import annotations

from collections.abc import Iterable

from . import _disclosure
from ._envelope import sign_presentation
from ._wire import (
    MAX_AUDIENCE_CHARS,
    MAX_LIFETIME,
    MAX_NONCE_BYTES,
    MAX_PAYLOAD_BYTES,
    MIN_NONCE_BYTES,
    WirePayload,
    decode_payload,
    encode_presentation,
    holder_signed_bytes,
    text_from_payload,
    with_holder_signature,
)
from .errors import CredentialError, VerificationError
from .keys import Algorithm, Signer
from .model import Credential, Instant, StatusReference, from_unix, to_unix
from .schema import BUILTIN_TYPES, CredentialType, SchemaError, TypeRegistry

__all__ = ["DEFAULT_LIFETIME", "check_request", "issuer_key_algorithm", "present", "read_credential_unverified"]

DEFAULT_LIFETIME = 60


def read_credential_unverified(data: bytes, *, types: TypeRegistry = BUILTIN_TYPES) -> Credential:
    """Parse a credential as the issuer produced it, WITHOUT checking the issuer's signature.

    For the holder's own storage. A verifier must use :class:`~econsent.verify.Verifier` instead.
    """
    wire, ctype = _parse(data, types)
    if wire.proof is not None or list(wire.seeds) != [_disclosure.ROOT] or wire.nodes:
        raise CredentialError("this is a presentation, not a credential as issued (it lacks the full seed)")
    h = wire.header
    indices = _disclosure.bits(h.present)
    if len(indices) != len(wire.values) or indices[-1] >= len(ctype.claims):
        raise CredentialError("the credential does not carry exactly the claims it was issued with")
    try:
        claims = {ctype.claims[i].name: ctype.claims[i].from_wire(v) for i, v in zip(indices, wire.values, strict=True)}
    except SchemaError as exc:
        raise CredentialError(f"a claim does not match the {ctype.name} type: {exc.detail}") from exc
    return Credential(
        credential_type=ctype.name,
        kid=h.kid,
        serial=h.serial,
        issued_at=from_unix(h.issued_at),
        valid_from=from_unix(h.valid_from),
        valid_until=from_unix(h.valid_until),
        holder_algorithm=None if h.holder_alg is None else Algorithm.from_wire_id(h.holder_alg).value,
        holder_key=h.holder_key,
        claims=claims,
        encoded=bytes(data),
        status=None if h.status is None else StatusReference(*h.status),
    )


def present(
    credential: Credential,
    holder: Signer | None,
    *,
    now: Instant,
    lifetime: int = DEFAULT_LIFETIME,
    disclose: Iterable[str] | None = None,
    profile: str | None = None,
    nonce: bytes | None = None,
    audience: str | None = None,
    types: TypeRegistry = BUILTIN_TYPES,
    issuer_algorithm: Algorithm | str | None = None,
) -> str:
    """Make the QR text of a presentation.

    Shows every claim unless ``disclose`` (claim names) or ``profile`` (a named set from the credential
    type, e.g. ``driving-check``) narrows it. A holder-bound credential needs its holder's signer and
    yields a presentation valid for ``lifetime`` seconds from ``now`` (the phone's clock). A bearer
    credential takes ``holder=None`` and yields a static code (no time, nonce or audience).
    ``issuer_algorithm`` is the algorithm of the issuer's key, whose hash suite made the disclosure tree
    (SM3 for ``SM2``; ES256 and Ed25519 share SHA-2): by default the credential's own
    ``issuer_algorithm`` (set by the issuer), else SHA-2. A presentation made in the other suite fails
    the issuer signature.
    """
    suite = issuer_key_algorithm(issuer_algorithm or credential.issuer_algorithm).hash_suite
    wire, ctype = _parse(credential.encoded, types)
    if wire.proof is not None or list(wire.seeds) != [_disclosure.ROOT]:
        raise CredentialError("present() needs the credential as issued, not a presentation")
    shown = check_request(
        credential, ctype, disclose=disclose, profile=profile, lifetime=lifetime, nonce=nonce, audience=audience
    )
    disclosed = sum(1 << i for i in shown)
    present_mask = wire.header.present
    indices = _disclosure.bits(present_mask)
    value_bytes = dict(zip(indices, wire.value_bytes, strict=True))
    seeds, nodes = _disclosure.disclose(
        len(ctype.claims), present_mask, disclosed, wire.seeds[_disclosure.ROOT], value_bytes, suite
    )
    values = [value for index, value in zip(indices, wire.values, strict=True) if disclosed >> index & 1]
    parts = (wire.header, values, seeds, nodes, wire.issuer_signature)
    if credential.is_bearer:
        if holder is not None:
            raise CredentialError("a bearer credential has no holder key: it takes no signer, nonce or audience")
        return text_from_payload(_fitting(encode_presentation(*parts)))
    if holder is None:
        raise CredentialError("this credential is bound to a holder key: give the holder's signer")
    if holder.public_key.raw != credential.holder_key:
        raise CredentialError("the signer's key is not the holder key this credential was issued to")
    unsigned = _fitting(encode_presentation(*parts, holder=(to_unix(now), lifetime, nonce, audience)))
    signature = sign_presentation(holder, holder_signed_bytes(unsigned))
    return text_from_payload(with_holder_signature(unsigned, signature))


def _fitting(payload: bytes) -> bytes:
    """The payload, if one QR code can carry it (a credential near the limit leaves no room for the proof)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CredentialError(
            f"the code would take {len(payload)} bytes, more than the {MAX_PAYLOAD_BYTES} a code holds: "
            "disclose fewer claims"
        )
    return payload


def _parse(data: bytes, types: TypeRegistry) -> tuple[WirePayload, CredentialType]:
    try:
        wire = decode_payload(data)
    except VerificationError as exc:
        raise CredentialError(f"not an econsent credential: {exc.detail or exc.code.sentence}") from exc
    ctype = types.by_id(wire.header.type_id)
    if ctype is None:
        raise CredentialError(f"unknown credential type id {wire.header.type_id}: pass its definition in types=")
    return wire, ctype


def check_request(
    credential: Credential,
    ctype: CredentialType,
    *,
    disclose: Iterable[str] | None,
    profile: str | None,
    lifetime: int,
    nonce: bytes | None,
    audience: str | None,
) -> set[int]:
    """The indices of the claims to show, once everything :func:`present` checks about the request itself
    holds: the choice of claims, and the lifetime, nonce and audience (which a bearer credential cannot
    take). A wallet calls it to refuse a bad request before its first code, not at the first frame."""
    shown = _disclosed_indices(ctype, credential, disclose, profile)
    if credential.is_bearer:
        if nonce is not None or audience is not None:
            raise CredentialError("a bearer credential has no holder key: it takes no signer, nonce or audience")
    else:
        _check_request(lifetime, nonce, audience)
    return shown


def _disclosed_indices(
    ctype: CredentialType, credential: Credential, disclose: Iterable[str] | None, profile: str | None
) -> set[int]:
    if disclose is not None and profile is not None:
        raise CredentialError("give either disclose or profile, not both")
    if profile is not None:
        if profile not in ctype.profiles:
            raise CredentialError(
                f"{ctype.name} has no profile {profile!r} (profiles: {', '.join(ctype.profiles) or 'none'})"
            )
        names = list(ctype.profiles[profile])
    elif disclose is not None:
        names = list(disclose)
    else:
        names = list(credential.claims)
    missing = sorted(set(names) - set(credential.claims))
    if missing:
        raise CredentialError(f"the credential has no claims {missing} to disclose")
    return {ctype.index_of(name) for name in names}


def _check_request(lifetime: int, nonce: bytes | None, audience: str | None) -> None:
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 1 <= lifetime <= MAX_LIFETIME:
        raise CredentialError(f"lifetime must be 1 to {MAX_LIFETIME} seconds")
    if nonce is not None and (not isinstance(nonce, bytes) or not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES):
        raise CredentialError(f"nonce must be {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes")
    if audience is not None and (not isinstance(audience, str) or not 1 <= len(audience) <= MAX_AUDIENCE_CHARS):
        raise CredentialError(f"audience must be 1 to {MAX_AUDIENCE_CHARS} characters")


def issuer_key_algorithm(name: Algorithm | str | None) -> Algorithm:
    """The issuer key's algorithm a presentation is built for; unknown means SHA-2, as before SM2 existed."""
    if name is None:
        return Algorithm.ES256
    if isinstance(name, Algorithm):
        return name
    try:
        return Algorithm.parse(name)
    except ValueError as exc:
        raise CredentialError(str(exc)) from exc
