"""One exception tree with stable, machine-readable codes.

Every failure the library reports is an :class:`EconsentError`. Verification failures carry an
:class:`ErrorCode` whose value never changes once released (scanners, logs and other
implementations key on it), a human sentence, and the CLI exit code. Foreign exceptions never
escape the public API: they are wrapped with ``raise ... from exc``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "EXIT_VALID",
    "CredentialError",
    "EconsentError",
    "ErrorCode",
    "ImageRefusal",
    "ImageRefusedError",
    "IssueError",
    "KeyLoadError",
    "MissingDependencyError",
    "QRError",
    "SignerError",
    "TrustStoreError",
    "VerificationError",
]

EXIT_VALID = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2


class ErrorCode(StrEnum):
    """Why a presentation was rejected. The string values are part of the public contract."""

    MALFORMED = "MALFORMED"
    TOO_LARGE = "TOO_LARGE"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    NO_QR_CODE = "NO_QR_CODE"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    ALGORITHM_NOT_ALLOWED = "ALGORITHM_NOT_ALLOWED"
    KEY_NOT_VALID = "KEY_NOT_VALID"
    KEY_COMPROMISED = "KEY_COMPROMISED"
    TRUST_LIST_EXPIRED = "TRUST_LIST_EXPIRED"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    TYPE_NOT_ALLOWED = "TYPE_NOT_ALLOWED"
    BAD_ISSUER_SIGNATURE = "BAD_ISSUER_SIGNATURE"
    NOT_YET_VALID = "NOT_YET_VALID"
    EXPIRED = "EXPIRED"
    BEARER_REFUSED = "BEARER_REFUSED"
    MISSING_HOLDER_PROOF = "MISSING_HOLDER_PROOF"
    BAD_HOLDER_SIGNATURE = "BAD_HOLDER_SIGNATURE"
    PRESENTATION_FROM_FUTURE = "PRESENTATION_FROM_FUTURE"
    STALE_PRESENTATION = "STALE_PRESENTATION"
    LIFETIME_TOO_LONG = "LIFETIME_TOO_LONG"
    NONCE_MISMATCH = "NONCE_MISMATCH"
    AUDIENCE_MISMATCH = "AUDIENCE_MISMATCH"
    MISSING_CLAIMS = "MISSING_CLAIMS"
    REVOKED = "REVOKED"
    SUSPENDED = "SUSPENDED"
    STATUS_UNKNOWN = "STATUS_UNKNOWN"
    STATUS_STALE = "STATUS_STALE"
    REPLAYED = "REPLAYED"

    @property
    def sentence(self) -> str:
        """A plain sentence a counter clerk can read."""
        return _SENTENCES[self]


_SENTENCES: dict[ErrorCode, str] = {
    ErrorCode.MALFORMED: "The code is not a well-formed econsent presentation.",
    ErrorCode.TOO_LARGE: "The code is larger than any valid presentation can be.",
    ErrorCode.UNSUPPORTED_VERSION: "The code uses a format version this verifier does not support.",
    ErrorCode.NO_QR_CODE: "No QR code could be read from the image.",
    ErrorCode.UNKNOWN_KEY: "The credential was signed by a key this verifier does not trust.",
    ErrorCode.ALGORITHM_NOT_ALLOWED: "The credential uses a signature algorithm this verifier does not allow.",
    ErrorCode.KEY_NOT_VALID: "The issuer key was not valid when the credential was issued.",
    ErrorCode.KEY_COMPROMISED: "The issuer key of this credential is compromised: nothing it signed is trusted.",
    ErrorCode.TRUST_LIST_EXPIRED: "The trust list this verifier uses is out of date: update it.",
    ErrorCode.UNKNOWN_TYPE: "The credential type is not known to this verifier.",
    ErrorCode.TYPE_NOT_ALLOWED: "The issuer is not allowed to issue this type of credential.",
    ErrorCode.BAD_ISSUER_SIGNATURE: "The issuer's signature does not match: the credential was altered or forged.",
    ErrorCode.NOT_YET_VALID: "The credential is not valid yet.",
    ErrorCode.EXPIRED: "The credential has expired.",
    ErrorCode.BEARER_REFUSED: "This counter does not accept credentials that are not bound to a holder.",
    ErrorCode.MISSING_HOLDER_PROOF: "The credential is bound to a holder but was shown without the holder's proof.",
    ErrorCode.BAD_HOLDER_SIGNATURE: (
        "The holder's signature does not match: the code was altered or not made by the holder."
    ),
    ErrorCode.PRESENTATION_FROM_FUTURE: "The code was made in the future: the phone's clock is ahead.",
    ErrorCode.STALE_PRESENTATION: "The code has expired: ask the holder to show a fresh one.",
    ErrorCode.LIFETIME_TOO_LONG: "The code claims a longer lifetime than this counter allows.",
    ErrorCode.NONCE_MISMATCH: "The code was not made for this counter's challenge.",
    ErrorCode.AUDIENCE_MISMATCH: "The code was made for another verifier.",
    ErrorCode.MISSING_CLAIMS: "The code does not show every claim this counter needs.",
    ErrorCode.REVOKED: "The issuer has revoked this credential.",
    ErrorCode.SUSPENDED: "The issuer has suspended this credential.",
    ErrorCode.STATUS_UNKNOWN: "The credential's revocation status cannot be checked: its status list is missing.",
    ErrorCode.STATUS_STALE: "The credential's status list is out of date: update it.",
    ErrorCode.REPLAYED: "This code has already been used: ask the holder to show a fresh one.",
}


class EconsentError(Exception):
    """Base of every error the library raises on purpose."""


class VerificationError(EconsentError):
    """A presentation was rejected. ``code`` is stable; ``detail`` adds specifics (never personal data)."""

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code.value}: {code.sentence}" + (f" ({detail})" if detail else ""))

    @property
    def sentence(self) -> str:
        return self.code.sentence


class IssueError(EconsentError):
    """The issuer was asked to sign something invalid (unknown claim, wrong kind, bad window)."""


class KeyLoadError(EconsentError):
    """A key could not be read: wrong format, wrong passphrase, or an unsupported key type or curve."""


class SignerError(EconsentError):
    """A signer failed or returned something that is not a valid raw signature for its algorithm."""


class TrustStoreError(EconsentError):
    """A trust store file or entry is invalid (unknown field, duplicate key id, bad key)."""


class CredentialError(EconsentError):
    """A stored credential could not be read or used (for example, presented without its holder key)."""


class QRError(EconsentError):
    """A QR code could not be rendered, or an image could not be read."""


class MissingDependencyError(EconsentError):
    """An optional dependency is not installed; the message says what to install."""


class ImageRefusal(StrEnum):
    """Why an image was refused before or while its pixels were decoded. The values are stable."""

    FILE_TOO_LARGE = "IMAGE_FILE_TOO_LARGE"
    TOO_MANY_PIXELS = "IMAGE_TOO_MANY_PIXELS"
    TOO_MANY_SCANS = "IMAGE_TOO_MANY_SCANS"
    DEADLINE = "IMAGE_DEADLINE"
    OUT_OF_MEMORY = "IMAGE_OUT_OF_MEMORY"
    DECODER_FAILED = "IMAGE_DECODER_FAILED"


class ImageRefusedError(QRError):
    """An image that would cost too much to scan, refused up front or stopped by the scan deadline.

    ``reason`` is machine-readable; the message starts with it, so a verifier that turns this into a
    ``NO_QR_CODE`` rejection keeps the reason at the front of its detail.
    """

    def __init__(self, reason: ImageRefusal, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}")
