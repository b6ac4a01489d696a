"""The verifier: a configured object that runs every check and returns a verdict or raises.

``Verifier(trust, policy).verify(text, now=...)`` takes QR text (an image is scanned and verified by
:func:`econsent.qr.verify_image`) and checks, in this order: size and format version, structure, credential type,
issuer key (known, algorithm allowed, allowed to sign this type, valid when the credential was issued),
disclosure structure, issuer signature over the header and the disclosure tree, credential validity,
holder binding and the holder's signature, presentation time and lifetime, nonce and audience, required
claims, and replay. The first failure raises :class:`~econsent.errors.VerificationError` with a stable
code; success returns a :class:`~econsent.model.Verdict`.
"""

from __future__ import annotations

import heapq
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from . import _disclosure
from ._envelope import presentation_fingerprint, verify_credential, verify_presentation
from ._wire import WirePayload, WireProof, decode_payload, payload_from_text
from .errors import ErrorCode, KeyLoadError, VerificationError
from .i18n import N_
from .keys import Algorithm, HashSuite, PublicKey, sm2_available
from .model import Instant, Notice, StatusReference, Verdict, from_unix, presentation_verdict, to_unix
from .schema import BUILTIN_TYPES, ClaimValue, CredentialType, SchemaError, TypeRegistry
from .status import CredentialStatus, StatusList, StatusListCache
from .trust import TrustedKey, TrustStore

__all__ = [
    "DEFAULT_CLOCK_LEEWAY",
    "DEFAULT_MAX_LIFETIME",
    "MAX_CLOCK_LEEWAY",
    "MemoryReplayCache",
    "Policy",
    "ReplayCache",
    "Verifier",
]

MAX_CLOCK_LEEWAY = 300
DEFAULT_CLOCK_LEEWAY = 30
DEFAULT_MAX_LIFETIME = 300
DEFAULT_TRUST_LIST_GRACE = 72 * 3600
DEFAULT_STATUS_LIST_GRACE = 24 * 3600


class StatusFallback(StrEnum):
    """What to do when a credential's revocation status cannot be established (list missing or stale)."""

    REFUSE = "refuse"
    WARN = "warn"


_ALL_ALGORITHMS = frozenset(Algorithm)


@dataclass(frozen=True, slots=True)
class Policy:
    """What a verifier accepts. Defaults suit a service counter.

    ``clock_leeway`` (seconds, at most 300) absorbs small differences between the phone's clock and
    the verifier's; ``max_lifetime`` caps the lifetime a presentation may claim; ``audience`` is this
    verifier's identity (a presentation made for another audience is refused); ``required_claims``
    must all be disclosed. ``trust_list_grace`` is how long past its next update a signed trust list is
    still used (with a warning in the verdict) before every code it vouches for is refused.
    A credential that names a status list is checked against it: revoked and suspended credentials are
    always refused; when the list is missing, or past its next update by more than
    ``status_list_grace``, ``unknown_status`` decides between refusing and accepting with a warning.
    The status is never silently taken as good.
    """

    clock_leeway: int = DEFAULT_CLOCK_LEEWAY
    max_lifetime: int = DEFAULT_MAX_LIFETIME
    accept_bearer: bool = False
    issuer_algorithms: frozenset[Algorithm] = field(default=_ALL_ALGORITHMS)
    holder_algorithms: frozenset[Algorithm] = field(default=_ALL_ALGORITHMS)
    required_claims: tuple[str, ...] = ()
    audience: str | None = None
    trust_list_grace: int = DEFAULT_TRUST_LIST_GRACE
    status_list_grace: int = DEFAULT_STATUS_LIST_GRACE
    unknown_status: StatusFallback = StatusFallback.REFUSE

    def __post_init__(self) -> None:
        if not 0 <= self.clock_leeway <= MAX_CLOCK_LEEWAY:
            raise ValueError(f"clock_leeway must be 0 to {MAX_CLOCK_LEEWAY} seconds")
        if not 1 <= self.max_lifetime <= 86_400:
            raise ValueError("max_lifetime must be 1 to 86400 seconds")
        if self.trust_list_grace < 0 or self.status_list_grace < 0:
            raise ValueError("grace periods must not be negative")
        object.__setattr__(self, "unknown_status", StatusFallback(self.unknown_status))
        object.__setattr__(self, "issuer_algorithms", frozenset(self.issuer_algorithms))
        object.__setattr__(self, "holder_algorithms", frozenset(self.holder_algorithms))
        object.__setattr__(self, "required_claims", tuple(self.required_claims))


class ReplayCache(Protocol):
    """Remembers presentations until they expire. Replace the in-memory one to share it across counters."""

    def check_and_add(self, fingerprint: bytes, keep_until: int, now: int) -> bool:
        """Record ``fingerprint`` until ``keep_until``; return True when it was already recorded."""
        ...


class MemoryReplayCache:
    """An in-process replay cache with a bounded size.

    Entries are dropped once expired. When ``capacity`` unexpired entries are held, the one that
    expires first is dropped to make room (a counter sees far fewer codes than that per lifetime).
    """

    __slots__ = ("_capacity", "_expiries", "_seen")

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._seen: dict[bytes, int] = {}
        self._expiries: list[tuple[int, bytes]] = []

    def check_and_add(self, fingerprint: bytes, keep_until: int, now: int) -> bool:
        while self._expiries and self._expiries[0][0] < now:
            self._drop_earliest()
        if fingerprint in self._seen:  # before any eviction: a full cache must still catch what it holds
            return True
        while len(self._seen) >= self._capacity:
            self._drop_earliest()
        self._seen[fingerprint] = keep_until
        heapq.heappush(self._expiries, (keep_until, fingerprint))
        return False

    def _drop_earliest(self) -> None:
        expiry, old = heapq.heappop(self._expiries)
        if self._seen.get(old) == expiry:
            del self._seen[old]

    def __len__(self) -> int:
        return len(self._seen)


class CodeFormat(Protocol):
    """Another kind of signed QR code a Verifier checks (EU DCC, SMART Health Cards, ...).

    A format claims the texts that start with one of its ``prefixes``; every other text is read as an
    econsent presentation, the default format. A format holds its own trust material and returns a
    :class:`~econsent.model.Verdict` (with its ``format`` field set) or raises VerificationError, never
    anything else. Adding a format touches no other format.
    """

    @property
    def prefixes(self) -> tuple[str, ...]: ...

    def verify(self, text: str, *, now: int, nonce: bytes | None, policy: Policy) -> Verdict: ...


class Verifier:
    """Verifies presentations offline against a trust store, under a policy."""

    __slots__ = (
        "_formats",
        "_holder_algorithms",
        "_issuer_algorithms",
        "_policy",
        "_replay",
        "_status_lists",
        "_trust",
        "_types",
    )

    def __init__(
        self,
        trust: TrustStore,
        policy: Policy | None = None,
        *,
        types: TypeRegistry = BUILTIN_TYPES,
        replay_cache: ReplayCache | None = None,
        status_lists: StatusListCache | None = None,
        formats: Sequence[CodeFormat] = (),
    ) -> None:
        self._formats = tuple(formats)
        self._trust = trust
        self._policy = policy or Policy()
        # The policy's algorithms as lookups that need no hash of an enum member (a Python call each time):
        # a tuple compared by identity first, and the allowed holder algorithms by their wire id.
        self._issuer_algorithms = tuple(self._policy.issuer_algorithms)
        self._holder_algorithms = {algorithm.wire_id: algorithm for algorithm in self._policy.holder_algorithms}
        self._types = types
        self._replay = replay_cache
        self._status_lists = status_lists

    @property
    def policy(self) -> Policy:
        return self._policy

    def verify(self, text: str, *, now: Instant, nonce: bytes | None = None) -> Verdict:
        """Verify the text of a QR code (an image is verified by :func:`econsent.qr.verify_image`).

        ``nonce`` is the challenge this verifier gave the holder, if it gave one. Raises
        :class:`~econsent.errors.VerificationError`; never any other exception for any input: anything
        but a string is ``MALFORMED``, saying to pass text.
        """
        if not isinstance(text, str):
            raise VerificationError(
                ErrorCode.MALFORMED,
                f"got a {type(text).__name__}: pass the code's text; to verify an image use econsent.qr.verify_image",
            )
        moment = to_unix(now)
        for code_format in self._formats:
            if text.startswith(code_format.prefixes):
                return code_format.verify(text, now=moment, nonce=nonce, policy=self._policy)
        return self._verify_text(text, moment, nonce)

    def _verify_text(self, text: str, now: int, nonce: bytes | None) -> Verdict:
        policy = self._policy
        wire = decode_payload(payload_from_text(text))
        header = wire.header
        ctype = self._types.by_id(header.type_id)
        if ctype is None:
            raise VerificationError(ErrorCode.UNKNOWN_TYPE, f"type id {header.type_id}")
        trusted = self._trusted_key(header.kid, ctype, header.issued_at, now)
        warnings = _trust_list_warnings(trusted, now, policy.trust_list_grace)
        holder_alg = self._holder_algorithm(header.holder_alg)
        # The hash suite follows the issuer key of the trust store (SM3 for SM2), never the code: a tree built
        # in the other suite rebuilds another root, and the issuer signature fails (BAD_ISSUER_SIGNATURE).
        suite = trusted.public_key.algorithm.hash_suite
        claims, withheld, root = _disclosed_claims(wire, ctype, suite)
        if not verify_credential(
            trusted.public_key, wire.issuer_signature, wire.header_bytes, root, sm2_user_id=trusted.sm2_user_id
        ):
            raise VerificationError(ErrorCode.BAD_ISSUER_SIGNATURE)
        _check_validity(header.issued_at, header.valid_from, header.valid_until, now, policy.clock_leeway)
        if header.status is not None:
            warnings += self._check_status(trusted, header.status, now)

        proof = wire.proof  # the codec refused a holder proof on a bearer credential
        if header.holder_key is None:
            if not policy.accept_bearer:
                raise VerificationError(ErrorCode.BEARER_REFUSED)
            presented_at = expires_at = offset = None
        elif proof is None:
            raise VerificationError(ErrorCode.MISSING_HOLDER_PROOF)
        else:
            assert holder_alg is not None  # the header carries a holder key, so it named its algorithm
            presented_at, expires_at, offset = _check_holder_proof(proof, holder_alg, header.holder_key, policy, now)

        _check_binding(proof, nonce, policy.audience)
        missing = [name for name in policy.required_claims if name not in claims]
        if missing:
            raise VerificationError(ErrorCode.MISSING_CLAIMS, f"needs {', '.join(missing)}")
        if proof is not None and expires_at is not None and self._replay is not None:
            fingerprint = presentation_fingerprint(proof.signed_bytes, suite)
            if self._replay.check_and_add(fingerprint, expires_at + policy.clock_leeway, now):
                raise VerificationError(ErrorCode.REPLAYED)

        return presentation_verdict(
            credential_type=ctype.name,
            claims=claims,
            withheld=withheld,
            issuer=trusted.issuer,
            kid=header.kid.hex(),
            algorithm=trusted.public_key.algorithm.value,
            serial=header.serial,
            issued_at=from_unix(header.issued_at),
            valid_from=from_unix(header.valid_from),
            valid_until=from_unix(header.valid_until),
            holder_bound=header.holder_key is not None,
            holder_algorithm=None if holder_alg is None else holder_alg.value,
            presented_at=None if presented_at is None else from_unix(presented_at),
            expires_at=None if expires_at is None else from_unix(expires_at),
            clock_offset_seconds=offset,
            nonce=None if proof is None else proof.nonce,
            audience=None if proof is None else proof.audience,
            status=None if header.status is None else StatusReference(*header.status),
            trust_list=None if trusted.source is None else trusted.source.label,
            warnings=warnings,
        )

    def _trusted_key(self, kid: bytes, ctype: CredentialType, issued_at: int, now: int) -> TrustedKey:
        trusted = self._trust.get(kid)
        if trusted is None:
            raise VerificationError(ErrorCode.UNKNOWN_KEY, f"key id {kid.hex()}")
        if trusted.public_key.algorithm not in self._issuer_algorithms:
            raise VerificationError(
                ErrorCode.ALGORITHM_NOT_ALLOWED,
                f"issuer key {kid.hex()} is {trusted.public_key.algorithm.value}",
            )
        if trusted.public_key.algorithm is Algorithm.SM2:
            _require_sm2("issuer")
        if ctype.name not in trusted.credential_types:
            raise VerificationError(ErrorCode.TYPE_NOT_ALLOWED, f"{ctype.name} by key {kid.hex()}")
        if trusted.compromised_at(now):
            raise VerificationError(ErrorCode.KEY_COMPROMISED, f"key {kid.hex()} since {trusted.status_since}")
        if not trusted.signs_at(issued_at):
            raise VerificationError(ErrorCode.KEY_NOT_VALID, f"issued {from_unix(issued_at).isoformat()}")
        return trusted

    def _check_status(self, trusted: TrustedKey, reference: tuple[int, int], now: int) -> tuple[str, ...]:
        """Refuse a revoked or suspended credential; apply the fallback policy when the status is unknown.

        Only lists that speak for the credential key's own issuer within the same trust source count (an
        issuer speaks only for itself); if several sources hold the key, the most restrictive list wins.
        """
        list_id, index = reference

        def name() -> str:  # written only for a refusal or a warning: most codes are simply in good standing
            return f"status list {list_id} of {trusted.scope}"

        held = self._status_lists_for(trusted.kid, list_id, now)
        if not held:
            return self._unknown_status(ErrorCode.STATUS_UNKNOWN, f"no {name()} is loaded")
        for status_list in held:
            if index >= status_list.size:  # the issuer points outside its own list: never acceptable
                raise VerificationError(ErrorCode.STATUS_UNKNOWN, f"index {index} is beyond the {name()}")
        for refusal, code in (
            (CredentialStatus.REVOKED, ErrorCode.REVOKED),
            (CredentialStatus.SUSPENDED, ErrorCode.SUSPENDED),
        ):
            for status_list in held:
                if status_list.status(index) is refusal:
                    raise VerificationError(code, f"{name()}, sequence {status_list.sequence}")
        overdue = now - min(to_unix(status_list.next_update) for status_list in held)
        if overdue > self._policy.status_list_grace:
            return self._unknown_status(ErrorCode.STATUS_STALE, f"the {name()} expired {overdue / 3600:.1f} hours ago")
        if overdue > 0:
            message = N_("status list {list_id} of {scope} is {hours} hours past its next update: update it")
            return (Notice(message, list_id=list_id, scope=trusted.scope, hours=f"{overdue / 3600:.1f}"),)
        return ()

    def _status_lists_for(self, kid: bytes, list_id: int, now: int) -> list[StatusList]:
        """The held lists ``list_id`` of every issuer scope the key speaks for, whose signer still speaks for it.

        The trust store may have changed since a list was cached (a key marked compromised, a list that no
        longer places the signer under that issuer): such a list no longer counts.
        """
        if self._status_lists is None:
            return []
        trust = self._trust
        found = []
        for scope in trust.scopes(kid):
            status_list = self._status_lists.get(scope, list_id)
            if status_list is None:
                continue
            signer = trust.get(status_list.kid)
            if signer is not None and not signer.compromised_at(now) and scope in trust.scopes(status_list.kid):
                found.append(status_list)
        return found

    def _unknown_status(self, code: ErrorCode, detail: str) -> tuple[str, ...]:
        if self._policy.unknown_status is StatusFallback.REFUSE:
            raise VerificationError(code, detail)
        return (Notice(N_("revocation status not checked: {detail}"), detail=detail),)

    def _holder_algorithm(self, wire_id: int | None) -> Algorithm | None:
        if wire_id is None:
            return None
        algorithm = self._holder_algorithms.get(wire_id)
        if algorithm is None:  # the codec let only known ids through: this one the policy does not allow
            algorithm = Algorithm.from_wire_id(wire_id)
            raise VerificationError(ErrorCode.ALGORITHM_NOT_ALLOWED, f"holder key is {algorithm.value}")
        if algorithm is Algorithm.SM2:
            _require_sm2("holder")
        return algorithm


def _require_sm2(role: str) -> None:
    """An SM2 key cannot be checked without the ``sm`` extra: a refusal that says so, not a crash."""
    if not sm2_available():
        raise VerificationError(
            ErrorCode.ALGORITHM_NOT_ALLOWED,
            f"the {role} key is SM2, and SM2 support is not installed here (pip install 'econsent[sm]')",
        )


def _disclosed_claims(
    wire: WirePayload, ctype: CredentialType, suite: HashSuite
) -> tuple[dict[str, ClaimValue], tuple[str, ...], bytes]:
    """Check the disclosure structure, decode the disclosed claims and rebuild the tree's root."""
    present = wire.header.present
    if present >> len(ctype.claims):
        raise VerificationError(ErrorCode.MALFORMED, f"claim bitmap names claims {ctype.name} does not have")
    try:
        disclosed = _disclosure.check_disclosure(len(ctype.claims), present, wire.seeds, wire.nodes, len(wire.values))
    except ValueError as exc:
        raise VerificationError(ErrorCode.MALFORMED, str(exc)) from exc
    try:
        claims, withheld = ctype.decode_disclosed(present, disclosed, wire.values)
    except SchemaError as exc:
        raise VerificationError(ErrorCode.MALFORMED, exc.detail) from exc
    try:
        root = _disclosure.rebuild_root(len(ctype.claims), present, wire.seeds, wire.nodes, wire.value_bytes, suite)
    except ValueError as exc:  # cannot happen once the covers are canonical; never let it escape as ValueError
        raise VerificationError(ErrorCode.MALFORMED, str(exc)) from exc
    return claims, withheld, root


def _check_holder_proof(
    proof: WireProof, algorithm: Algorithm, raw_key: bytes, policy: Policy, now: int
) -> tuple[int, int, int]:
    """Holder key, holder signature, lifetime and freshness; returns presented-at, expires-at and clock offset."""
    try:
        holder_key = PublicKey.from_raw(algorithm, raw_key)
    except KeyLoadError as exc:
        raise VerificationError(ErrorCode.MALFORMED, "the holder key is not a valid public key") from exc
    if not verify_presentation(holder_key, proof.signature, proof.signed_bytes):
        raise VerificationError(ErrorCode.BAD_HOLDER_SIGNATURE)
    if proof.lifetime > policy.max_lifetime:
        raise VerificationError(
            ErrorCode.LIFETIME_TOO_LONG, f"{proof.lifetime} s, this counter allows {policy.max_lifetime} s"
        )
    offset = proof.presented_at - now
    if offset > policy.clock_leeway:
        raise VerificationError(
            ErrorCode.PRESENTATION_FROM_FUTURE, f"the phone's clock is {offset} s ahead of this verifier's"
        )
    expires_at = proof.presented_at + proof.lifetime
    if now > expires_at + policy.clock_leeway:
        raise VerificationError(
            ErrorCode.STALE_PRESENTATION,
            f"expired {now - expires_at} s ago; made {-offset} s before this verifier's clock "
            f"(if it was just made, the phone's clock is {-offset} s behind)",
        )
    return proof.presented_at, expires_at, offset


def _trust_list_warnings(trusted: TrustedKey, now: int, grace: int) -> tuple[str, ...]:
    """Apply the staleness policy of the trust list the key came from (nothing for a local trust store)."""
    if trusted.source is None:
        return ()
    overdue = now - to_unix(trusted.source.next_update)
    if overdue <= 0:
        return ()
    hours = overdue / 3600
    if overdue > grace:
        raise VerificationError(
            ErrorCode.TRUST_LIST_EXPIRED,
            f"trust list {trusted.source.label} expired {hours:.1f} hours ago (grace {grace / 3600:.0f} h)",
        )
    message = N_("trust list {label} is {hours} hours past its next update: update it")
    return (Notice(message, label=trusted.source.label, hours=f"{hours:.1f}"),)


def _check_validity(issued_at: int, valid_from: int, valid_until: int, now: int, leeway: int) -> None:
    if issued_at > now + leeway:
        raise VerificationError(ErrorCode.NOT_YET_VALID, f"issued {issued_at - now} s in the future")
    if now < valid_from:
        raise VerificationError(ErrorCode.NOT_YET_VALID, f"valid from {from_unix(valid_from).isoformat()}")
    if now > valid_until:
        raise VerificationError(ErrorCode.EXPIRED, f"expired {from_unix(valid_until).isoformat()}")


def _check_binding(proof: WireProof | None, expected_nonce: bytes | None, expected_audience: str | None) -> None:
    """SPEC 7 steps 20-21, the same for every code: a bearer code (no proof) presents no nonce and no audience.

    A nonce the verifier did not ask for is ignored: it binds nothing this verifier checks.
    """
    nonce = None if proof is None else proof.nonce
    audience = None if proof is None else proof.audience
    if expected_nonce is not None:
        if nonce is None:
            raise VerificationError(ErrorCode.NONCE_MISMATCH, "the code answers no challenge")
        if not hmac.compare_digest(nonce, expected_nonce):
            raise VerificationError(ErrorCode.NONCE_MISMATCH)
    if audience is not None and audience != expected_audience:
        raise VerificationError(ErrorCode.AUDIENCE_MISMATCH, "the code names another verifier")
    if expected_audience is not None and audience is None:
        raise VerificationError(ErrorCode.AUDIENCE_MISMATCH, "this verifier requires codes made for it")
