"""The issuer: claims in, signed credential out.

An :class:`Issuer` holds a signer (an in-memory key or an HSM behind the :class:`~econsent.keys.Signer`
interface) and the credential types it knows. ``issue`` checks every claim against the type, commits
to each claim with a salted hash in the disclosure tree, and signs the header and the tree's root, so
the holder can later show any subset of the claims without asking the issuer again. It binds a holder
key only with the holder's proof of possession over a challenge it handed out (:mod:`econsent.possession`),
or when the caller says the key was attested out of band.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import _disclosure
from ._envelope import sign_credential
from ._wire import (
    MAX_PAYLOAD_BYTES,
    MAX_STATUS_INDEX,
    MAX_STATUS_LIST_ID,
    MAX_TIME,
    WireHeader,
    encode_credential,
    pack,
    pack_each,
)
from .errors import IssueError
from .keys import PublicKey, Signer
from .model import Credential, Instant, StatusReference, from_unix, to_unix
from .possession import (
    KeyAttestation,
    PossessionError,
    PossessionProblem,
    PossessionProof,
    check_possession,
    new_challenge,
)
from .schema import BUILTIN_TYPES, ClaimKind, ClaimValue, CredentialType, SchemaError, TypeRegistry

__all__ = ["AGE_CLAIM_PREFIX", "Issuer", "checked_validity", "derived_claims"]

AGE_CLAIM_PREFIX = "age_over_"
_MAX_SERIAL = 2**64 - 1


class Issuer:
    """Signs credentials with one issuer key. Thread-safe: it keeps no state between calls."""

    __slots__ = ("_random", "_signer", "_types")

    def __init__(
        self,
        signer: Signer,
        *,
        types: TypeRegistry = BUILTIN_TYPES,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._signer = signer
        self._types = types
        self._random = random_bytes

    @property
    def kid(self) -> bytes:
        return self._signer.public_key.kid

    @property
    def public_key(self) -> PublicKey:
        return self._signer.public_key

    def new_challenge(self) -> bytes:
        """Fresh random bytes for a holder to sign (:func:`~econsent.possession.prove_possession`).

        The issuer keeps no state: the caller keeps the challenge with the pending request and passes it
        back to :meth:`issue` as ``challenge=``, and uses each one for one issuance only.
        """
        return new_challenge(self._random)

    def issue(
        self,
        credential_type: str,
        claims: Mapping[str, ClaimValue],
        *,
        holder_key: PublicKey | None,
        possession: PossessionProof | KeyAttestation | None = None,
        challenge: bytes | None = None,
        valid_from: Instant,
        valid_until: Instant,
        now: Instant,
        serial: int | None = None,
        derive: Iterable[str] = (),
        status: StatusReference | None = None,
    ) -> Credential:
        """Issue a credential.

        ``holder_key=None`` makes a bearer credential (for printed certificates: whoever holds the code
        can show it, and verifiers refuse it unless their policy accepts bearer credentials).
        A holder key needs ``possession``: the holder's :class:`~econsent.possession.PossessionProof`
        over ``challenge`` (what :meth:`new_challenge` gave this request), or
        :data:`~econsent.possession.ATTESTED_OUT_OF_BAND` when the caller vouches for the key itself;
        a missing or invalid proof raises :class:`~econsent.possession.PossessionError`.
        ``derive`` names claims the issuer computes, such as ``age_over_18`` from ``birth_date``,
        evaluated on the UTC date of ``now``. ``serial`` defaults to a random 63-bit number; issuers
        with a registry pass their own (smaller numbers also make the code smaller). ``status`` says
        where the issuer publishes the credential's revocation status.
        """
        ctype = self._types.by_name(credential_type)
        if ctype is None:
            raise IssueError(f"unknown credential type {credential_type!r} (known: {', '.join(self._types.names())})")
        issued_at, start, end = checked_validity(now, valid_from, valid_until)
        self._check_holder_key(holder_key, possession, challenge)
        if serial is None:
            serial = int.from_bytes(self._random(8), "big") >> 1
        elif isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial <= _MAX_SERIAL:
            raise IssueError("serial must be an integer from 0 to 2**64 - 1")

        all_claims = dict(claims)
        derive = tuple(derive)
        if derive:
            all_claims.update(derived_claims(ctype, all_claims, derive, from_unix(issued_at).date()))
        wire_claims, checked_claims = _checked_claims(ctype, all_claims)

        present = 0
        for index in wire_claims:
            present |= 1 << index
        kid = self.kid
        header = WireHeader(
            type_id=ctype.type_id,
            kid=kid,
            serial=serial,
            issued_at=issued_at,
            valid_from=start,
            valid_until=end,
            present=present,
            holder_alg=None if holder_key is None else holder_key.algorithm.wire_id,
            holder_key=None if holder_key is None else holder_key.raw,
            status=None if status is None else _status_pair(status),
        )
        header_bytes = pack(header.to_wire())
        seed = self._random(_disclosure.SEED_BYTES)
        # each value packed once: its bytes are hashed into the tree and written into the credential as they are
        claim_bytes = dict(zip(wire_claims, pack_each(wire_claims.values()), strict=True))  # ascending by index
        suite = self._signer.algorithm.hash_suite
        root = _disclosure.commit(len(ctype.claims), present, seed, claim_bytes, suite)
        signature = sign_credential(self._signer, header_bytes, root)
        encoded = encode_credential(header_bytes, list(claim_bytes.values()), seed, signature)
        if len(encoded) > MAX_PAYLOAD_BYTES:
            raise IssueError(
                f"the credential takes {len(encoded)} bytes; a QR payload holds at most {MAX_PAYLOAD_BYTES}"
            )
        return Credential(
            credential_type=ctype.name,
            kid=kid,
            serial=serial,
            issued_at=_utc_datetime(now, issued_at),
            valid_from=_utc_datetime(valid_from, start),
            valid_until=_utc_datetime(valid_until, end),
            holder_algorithm=None if holder_key is None else holder_key.algorithm.value,
            holder_key=None if holder_key is None else holder_key.raw,
            claims=checked_claims,
            encoded=encoded,
            status=status,
            issuer_algorithm=self._signer.algorithm.value,
        )

    def _check_holder_key(
        self, holder_key: PublicKey | None, possession: PossessionProof | KeyAttestation | None, challenge: bytes | None
    ) -> None:
        """The holder key is a point of its curve and the holder proved control of it (or the caller vouches)."""
        if holder_key is None:
            if possession is not None or challenge is not None:
                raise IssueError("a bearer credential binds no holder key: give no possession proof or challenge")
            return
        if not isinstance(holder_key, PublicKey):
            raise IssueError(f"holder_key must be a PublicKey or None, not {type(holder_key).__name__}")
        if possession is not None and not isinstance(possession, PossessionProof | KeyAttestation):
            raise PossessionError(
                PossessionProblem.MALFORMED,
                f"possession must be a PossessionProof or ATTESTED_OUT_OF_BAND, not {type(possession).__name__}",
            )
        if not holder_key.is_on_curve():
            raise IssueError("the holder key is not a point of its curve: no signature could ever match it")
        if isinstance(possession, KeyAttestation):
            if challenge is not None:
                raise IssueError("a key attested out of band answers no challenge: give challenge=None")
            return
        if possession is None:
            raise PossessionError(
                PossessionProblem.MISSING,
                "give possession= the holder's proof over a challenge from new_challenge(), "
                "or ATTESTED_OUT_OF_BAND for a key attested out of band",
            )
        if challenge is None:
            raise PossessionError(PossessionProblem.MISSING, "give challenge=, the bytes new_challenge() returned")
        check_possession(holder_key, possession, issuer_kid=self.kid, challenge=challenge)


def _utc_datetime(moment: Instant, seconds: int) -> _dt.datetime:
    """``from_unix(seconds)`` for ``seconds = to_unix(moment)``: the caller's own datetime when it already is that
    value (aware UTC, whole seconds), which saves making one."""
    if type(moment) is _dt.datetime and moment.tzinfo is _dt.UTC and not moment.microsecond and not moment.fold:
        return moment
    return from_unix(seconds)


def _status_pair(status: StatusReference) -> tuple[int, int]:
    if not 0 <= status.list_id <= MAX_STATUS_LIST_ID or not 0 <= status.index <= MAX_STATUS_INDEX:
        raise IssueError(f"status list id must be 0..{MAX_STATUS_LIST_ID} and index 0..{MAX_STATUS_INDEX}")
    return status.list_id, status.index


def _checked_claims(ctype: CredentialType, claims: Mapping[str, Any]) -> tuple[dict[int, Any], dict[str, ClaimValue]]:
    """Wire values by claim index, and the normalised claims by name, in the type's claim order."""
    if not ctype.has_claims(claims):
        unknown = sorted(set(claims) - set(ctype.claim_names))
        raise IssueError(f"{ctype.name} has no claims named {unknown} (it has: {', '.join(ctype.claim_names)})")
    if not claims:
        raise IssueError("a credential needs at least one claim")
    try:
        return ctype.claims_to_wire(claims)
    except SchemaError as exc:
        raise IssueError(exc.detail) from exc


def checked_validity(now: Instant, valid_from: Instant, valid_until: Instant) -> tuple[int, int, int]:
    """``(issued_at, valid_from, valid_until)`` in Unix seconds, or the IssueError :meth:`Issuer.issue` gives
    (each within 1970..9999 UTC, a window that is not empty and not over at ``now``); batch issuance checks
    rows with it before it reserves their serials."""
    issued_at = to_unix(now)
    start, end = to_unix(valid_from), to_unix(valid_until)
    for name, moment in (("now", issued_at), ("valid_from", start), ("valid_until", end)):
        if not 0 <= moment <= MAX_TIME:
            raise IssueError(f"{name} must lie between 1970-01-01 and 9999-12-31 (UTC)")
    if start >= end:
        raise IssueError("valid_from must be before valid_until")
    if end <= issued_at:
        raise IssueError("the credential would already be expired when issued")
    return issued_at, start, end


def derived_claims(
    ctype: CredentialType, claims: Mapping[str, Any], derive: Iterable[str], today: _dt.date
) -> dict[str, bool]:
    """The claims ``derive`` names, computed from ``claims`` on ``today`` (``age_over_NN`` from ``birth_date``),
    or the IssueError :meth:`Issuer.issue` gives; batch issuance checks rows with it before reserving."""
    derived: dict[str, bool] = {}
    for name in derive:
        if name in claims:
            raise IssueError(f"claim {name!r} is given and also asked to be derived")
        if name not in ctype.claim_names or ctype.claims[ctype.index_of(name)].kind is not ClaimKind.BOOL:
            raise IssueError(f"{ctype.name} has no boolean claim {name!r} to derive")
        threshold = name.removeprefix(AGE_CLAIM_PREFIX)
        if not name.startswith(AGE_CLAIM_PREFIX) or not threshold.isdigit():
            raise IssueError(f"don't know how to derive {name!r} (derivable: age_over_NN)")
        birth = claims.get("birth_date")
        if not isinstance(birth, _dt.date):
            raise IssueError(f"deriving {name!r} needs a birth_date claim")
        derived[name] = _age_on(birth, today) >= int(threshold)
    return derived


def _age_on(birth: _dt.date, day: _dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
