"""One exception tree with stable, machine-readable codes: every error the library raises is defined here.

Every failure the library reports is an :class:`EconsentError`, and every one carries the same three
attributes: ``code`` (a member of one of the code enums below, whose value never changes once released:
scanners, logs, apps and other implementations key on it), ``sentence`` (what a clerk or citizen reads,
in English; ``sentence_zh`` in Chinese) and ``detail`` (specifics for the log, possibly empty, never
personal data or secrets). ``exit_code`` is what the CLI exits with. There is one code enum per family
of errors: verification, wallet, issuer registry, status list, trust list, proof of possession, image
refusal, and :class:`GeneralCode` for the errors whose class alone says what went wrong.

Foreign exceptions never escape the public API: they are wrapped with ``raise ... from exc``. This module
imports only the standard library and :mod:`econsent.i18n` (the sentences' Chinese comes from its gettext
catalogue), so every other module can import it. Errors pickle with every attribute, so that a process
pool or a Dask worker can hand one back to the process that asked.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from .i18n import N_, Language, translate

__all__ = [
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "EXIT_VALID",
    "BatchError",
    "BatchProblem",
    "Code",
    "CorruptWalletError",
    "CredentialError",
    "EconsentError",
    "EmptyWalletError",
    "EntryNotFoundError",
    "ErrorCode",
    "GeneralCode",
    "HolderKeyError",
    "HsmError",
    "HsmProblem",
    "ImageRefusal",
    "ImageRefusedError",
    "InputFileError",
    "IssueError",
    "KeyLoadError",
    "MissingDependencyError",
    "NotAWalletError",
    "PossessionError",
    "PossessionProblem",
    "QRError",
    "RegistryError",
    "RegistryErrorCode",
    "RequestError",
    "SchemaError",
    "SignerError",
    "StatusListError",
    "StatusListReason",
    "StorageError",
    "TruncatedWalletError",
    "TrustListError",
    "TrustListProblem",
    "TrustStoreError",
    "UnsupportedWalletVersionError",
    "UsageError",
    "VerificationError",
    "WalletChangedError",
    "WalletError",
    "WalletErrorCode",
    "WalletExistsError",
    "WalletLockedError",
    "WalletNotFoundError",
    "WalletRolledBackError",
    "WalletSwappedError",
    "WrongPassphraseError",
]

EXIT_VALID = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2


class Code(StrEnum):
    """Base of every code enum: a stable string value with an English and a Chinese sentence.

    Values repeat across families (a status list and a presentation can both be ``MALFORMED``), so the
    sentences are looked up by family and value.
    """

    @property
    def sentence(self) -> str:
        """A plain English sentence for the person who reads the refusal."""
        return _SENTENCES[type(self)][self.value]

    @property
    def sentence_zh(self) -> str:
        """The same sentence in Chinese (from the gettext catalogue)."""
        return translate(self.sentence, "zh")

    def sentence_in(self, language: Language) -> str:
        """The sentence in ``language`` (``"zh"`` or ``"en"``; see :mod:`econsent.i18n`)."""
        return translate(self.sentence, language)


class GeneralCode(Code):
    """The code of an error whose class alone says what went wrong (the details are in ``detail``)."""

    ERROR = "ERROR"
    ISSUE = "ISSUE"
    KEY_LOAD = "KEY_LOAD"
    SIGNER = "SIGNER"
    TRUST_STORE = "TRUST_STORE"
    CREDENTIAL = "CREDENTIAL"
    SCHEMA = "SCHEMA"
    QR = "QR"
    MISSING_DEPENDENCY = "MISSING_DEPENDENCY"
    USAGE = "USAGE"
    NO_SUCH_FILE = "NO_SUCH_FILE"
    FILE_ERROR = "FILE_ERROR"
    REQUEST = "REQUEST"


class ErrorCode(Code):
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
    FORMAT_NOT_SET_UP = "FORMAT_NOT_SET_UP"


class WalletErrorCode(Code):
    """Why a wallet operation failed. The string values are stable (apps and scripts key on them)."""

    WRONG_PASSPHRASE = "WRONG_PASSPHRASE"
    DAMAGED = "DAMAGED"
    TRUNCATED = "TRUNCATED"
    EMPTY = "EMPTY"
    LIMITS_EXCEEDED = "LIMITS_EXCEEDED"
    NOT_A_WALLET = "NOT_A_WALLET"
    WRONG_KIND = "WRONG_KIND"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    LOCKED = "LOCKED"
    NOT_FOUND = "NOT_FOUND"
    EXISTS = "EXISTS"
    CHANGED = "CHANGED"
    SWAPPED = "SWAPPED"
    ROLLED_BACK = "ROLLED_BACK"
    STORAGE = "STORAGE"
    NO_SUCH_ENTRY = "NO_SUCH_ENTRY"
    AMBIGUOUS_ENTRY = "AMBIGUOUS_ENTRY"
    HOLDER_KEY = "HOLDER_KEY"


class RegistryErrorCode(Code):
    """Why the issuer registry refused. The string values are stable."""

    UNKNOWN_SERIAL = "UNKNOWN_SERIAL"
    ALREADY_REVOKED = "ALREADY_REVOKED"
    REVOKED_IS_FINAL = "REVOKED_IS_FINAL"
    ALREADY_SUSPENDED = "ALREADY_SUSPENDED"
    NOT_SUSPENDED = "NOT_SUSPENDED"
    LISTS_FULL = "LISTS_FULL"
    UNKNOWN_LIST = "UNKNOWN_LIST"
    WRONG_KEY = "WRONG_KEY"
    ROLLBACK = "ROLLBACK"
    BAD_INPUT = "BAD_INPUT"
    WRONG_REGISTRY = "WRONG_REGISTRY"
    STORAGE = "STORAGE"
    NOT_RESERVED = "NOT_RESERVED"
    RESERVATION_MISMATCH = "RESERVATION_MISMATCH"
    NAME_TAKEN = "NAME_TAKEN"


class StatusListReason(Code):
    """Why a status list was refused. The string values are part of the public contract."""

    MALFORMED = "MALFORMED"
    TOO_LARGE = "TOO_LARGE"
    UNREADABLE = "UNREADABLE"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    WRONG_ISSUER = "WRONG_ISSUER"
    KEY_NOT_VALID = "KEY_NOT_VALID"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    ROLLBACK = "ROLLBACK"
    SEQUENCE_REUSED = "SEQUENCE_REUSED"
    INDEX_OUT_OF_RANGE = "INDEX_OUT_OF_RANGE"


class TrustListProblem(Code):
    """Why a signed trust list was refused (SPEC 9.2 gives the order of the checks)."""

    TOO_LARGE = "TOO_LARGE"
    MALFORMED = "MALFORMED"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    UNKNOWN_ANCHOR = "UNKNOWN_ANCHOR"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    ROLLBACK = "ROLLBACK"
    SEQUENCE_REUSED = "SEQUENCE_REUSED"


class PossessionProblem(Code):
    """Why an issuer refused to bind a holder key. The values are stable."""

    MISSING = "MISSING"
    MALFORMED = "MALFORMED"
    CHALLENGE_MISMATCH = "CHALLENGE_MISMATCH"
    BAD_SIGNATURE = "BAD_SIGNATURE"


class BatchProblem(Code):
    """Why a batch issuance refused a row (with its line number) or the whole run. The values are stable."""

    ROW_TOO_LARGE = "ROW_TOO_LARGE"
    NOT_UTF8 = "NOT_UTF8"
    MALFORMED_ROW = "MALFORMED_ROW"
    MISSING_FIELD = "MISSING_FIELD"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    BAD_ROW_ID = "BAD_ROW_ID"
    DUPLICATE_ROW_ID = "DUPLICATE_ROW_ID"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    BAD_CLAIMS = "BAD_CLAIMS"
    BAD_VALIDITY = "BAD_VALIDITY"
    BAD_HOLDER_KEY = "BAD_HOLDER_KEY"
    MISSING_PROOF = "MISSING_PROOF"
    BAD_PROOF = "BAD_PROOF"
    ISSUE_REFUSED = "ISSUE_REFUSED"
    BAD_HEADER = "BAD_HEADER"
    BAD_BATCH_ID = "BAD_BATCH_ID"
    BAD_OPTION = "BAD_OPTION"
    BAD_OUTPUT = "BAD_OUTPUT"
    RESERVATION_MISMATCH = "RESERVATION_MISMATCH"
    WORKER_FAILED = "WORKER_FAILED"
    ENGINE_UNREACHABLE = "ENGINE_UNREACHABLE"


class HsmProblem(Code):
    """Why a key on a PKCS#11 token (an HSM) could not be used. The values are stable."""

    BAD_URI = "HSM_BAD_URI"
    PIN_IN_URI = "HSM_PIN_IN_URI"
    NO_MODULE = "HSM_NO_MODULE"
    NO_TOKEN = "HSM_NO_TOKEN"
    AMBIGUOUS = "HSM_AMBIGUOUS"
    NO_KEY = "HSM_NO_KEY"
    NO_PIN = "HSM_NO_PIN"
    WRONG_PIN = "HSM_WRONG_PIN"
    PIN_LOCKED = "HSM_PIN_LOCKED"
    UNSUPPORTED_KEY = "HSM_UNSUPPORTED_KEY"
    UNSUPPORTED_MECHANISM = "HSM_UNSUPPORTED_MECHANISM"
    KEY_MISMATCH = "HSM_KEY_MISMATCH"
    TOKEN_FAILED = "HSM_TOKEN_FAILED"


class ImageRefusal(Code):
    """Why an image was refused before or while its pixels were decoded. The values are stable."""

    FILE_TOO_LARGE = "IMAGE_FILE_TOO_LARGE"
    TOO_MANY_PIXELS = "IMAGE_TOO_MANY_PIXELS"
    TOO_MANY_SCANS = "IMAGE_TOO_MANY_SCANS"
    DEADLINE = "IMAGE_DEADLINE"
    OUT_OF_MEMORY = "IMAGE_OUT_OF_MEMORY"
    DECODER_FAILED = "IMAGE_DECODER_FAILED"


# The English sentence per family and value; the Chinese is in the gettext catalogue (econsent.i18n), and a
# test checks that every code of every family has both.
_SENTENCES: dict[type[Code], dict[str, str]] = {
    GeneralCode: {
        "ERROR": N_("The operation failed."),
        "ISSUE": N_("The issuer cannot sign what it was asked to sign."),
        "KEY_LOAD": N_("The key could not be read."),
        "SIGNER": N_("The signer did not produce a valid signature."),
        "TRUST_STORE": N_("The trust store or one of its entries is not valid."),
        "CREDENTIAL": N_("The credential could not be read or used."),
        "SCHEMA": N_("A claim value does not fit its declared kind."),
        "QR": N_("The QR code could not be made, or the image could not be read."),
        "MISSING_DEPENDENCY": N_("An optional component is not installed."),
        "USAGE": N_("The command line is not valid."),
        "NO_SUCH_FILE": N_("The path given does not exist or is not a file."),
        "FILE_ERROR": N_("The operating system could not read or write the file."),
        "REQUEST": N_("The counter's server cannot handle this request."),
    },
    ErrorCode: {
        "MALFORMED": N_("The code is not a well-formed econsent presentation."),
        "TOO_LARGE": N_("The code is larger than any valid presentation can be."),
        "UNSUPPORTED_VERSION": N_("The code uses a format version this verifier does not support."),
        "NO_QR_CODE": N_("No QR code could be read from the image."),
        "UNKNOWN_KEY": N_("The credential was signed by a key this verifier does not trust."),
        "ALGORITHM_NOT_ALLOWED": N_("The credential uses a signature algorithm this verifier does not allow."),
        "KEY_NOT_VALID": N_("The issuer key was not valid when the credential was issued."),
        "KEY_COMPROMISED": N_("The issuer key of this credential is compromised: nothing it signed is trusted."),
        "TRUST_LIST_EXPIRED": N_("The trust list this verifier uses is out of date: update it."),
        "UNKNOWN_TYPE": N_("The credential type is not known to this verifier."),
        "TYPE_NOT_ALLOWED": N_("The issuer is not allowed to issue this type of credential."),
        "BAD_ISSUER_SIGNATURE": N_("The issuer's signature does not match: the credential was altered or forged."),
        "NOT_YET_VALID": N_("The credential is not valid yet."),
        "EXPIRED": N_("The credential has expired."),
        "BEARER_REFUSED": N_("This counter does not accept credentials that are not bound to a holder."),
        "MISSING_HOLDER_PROOF": N_("The credential is bound to a holder but was shown without the holder's proof."),
        "BAD_HOLDER_SIGNATURE": N_(
            "The holder's signature does not match: the code was altered or not made by the holder."
        ),
        "PRESENTATION_FROM_FUTURE": N_("The code was made in the future: the phone's clock is ahead."),
        "STALE_PRESENTATION": N_("The code has expired: ask the holder to show a fresh one."),
        "LIFETIME_TOO_LONG": N_("The code claims a longer lifetime than this counter allows."),
        "NONCE_MISMATCH": N_("The code was not made for this counter's challenge."),
        "AUDIENCE_MISMATCH": N_("The code was made for another verifier."),
        "MISSING_CLAIMS": N_("The code does not show every claim this counter needs."),
        "REVOKED": N_("The issuer has revoked this credential."),
        "SUSPENDED": N_("The issuer has suspended this credential."),
        "STATUS_UNKNOWN": N_("The credential's revocation status cannot be checked: its status list is missing."),
        "STATUS_STALE": N_("The credential's status list is out of date: update it."),
        "REPLAYED": N_("This code has already been used: ask the holder to show a fresh one."),
        "FORMAT_NOT_SET_UP": N_(
            "This counter is not set up to verify this kind of code (EU DCC or SMART Health Card)."
        ),
    },
    WalletErrorCode: {
        "WRONG_PASSPHRASE": N_("The passphrase is wrong."),
        "DAMAGED": N_("The wallet file is damaged; restore it from a backup."),
        "TRUNCATED": N_("The wallet file is cut short; restore it from a backup."),
        "EMPTY": N_("The wallet file is empty; restore it from a backup."),
        "LIMITS_EXCEEDED": N_("The wallet file asks for more resources than a wallet may use."),
        "NOT_A_WALLET": N_("This file is not an econsent wallet."),
        "WRONG_KIND": N_("This file is an econsent file of another kind."),
        "UNSUPPORTED_VERSION": N_("The wallet was written by a newer version of econsent; update the app."),
        "LOCKED": N_("Another program is changing the wallet; try again when it has finished."),
        "NOT_FOUND": N_("There is no wallet here."),
        "EXISTS": N_("A wallet already exists here."),
        "CHANGED": N_("The wallet was re-encrypted by another program; open it again."),
        "SWAPPED": N_("The wallet file belongs to another wallet; restore this wallet's file or a backup."),
        "ROLLED_BACK": N_("The wallet file was replaced by an older copy of it; it was left as it is."),
        "STORAGE": N_("The wallet could not be read or written."),
        "NO_SUCH_ENTRY": N_("The wallet holds no such credential."),
        "AMBIGUOUS_ENTRY": N_("Several credentials match; give more of the id."),
        "HOLDER_KEY": N_("The holder key of this credential is missing or does not match."),
    },
    RegistryErrorCode: {
        "UNKNOWN_SERIAL": N_("The registry holds no credential with that serial number."),
        "ALREADY_REVOKED": N_("The credential is already revoked."),
        "REVOKED_IS_FINAL": N_("The credential is revoked, and a revocation is final."),
        "ALREADY_SUSPENDED": N_("The credential is already suspended."),
        "NOT_SUSPENDED": N_("The credential is not suspended."),
        "LISTS_FULL": N_("Every status list of this registry is full."),
        "UNKNOWN_LIST": N_("The registry has no such status list."),
        "WRONG_KEY": N_("The key is not a registered key of this registry's issuer."),
        "ROLLBACK": N_("The registry is older than what it has already published."),
        "NAME_TAKEN": N_("The output folder already holds another issuer's list under this file name."),
        "BAD_INPUT": N_("The input given to the registry is not valid."),
        "WRONG_REGISTRY": N_("The file is not a usable issuer registry."),
        "STORAGE": N_("The registry could not be read or written."),
        "NOT_RESERVED": N_("The batch holds no reservation for that row."),
        "RESERVATION_MISMATCH": N_("The credential's serial or status slot is not the one reserved for its row."),
    },
    StatusListReason: {
        "MALFORMED": N_("The status list is not a well-formed econsent status list."),
        "TOO_LARGE": N_("The status list is larger than any status list may be."),
        "UNREADABLE": N_("The status list file could not be read."),
        "UNKNOWN_KEY": N_("The status list was signed by a key this verifier does not trust."),
        "WRONG_ISSUER": N_("The status list was signed by a key of another issuer."),
        "KEY_NOT_VALID": N_("The key that signed the status list was not allowed to sign it."),
        "BAD_SIGNATURE": N_("The status list's signature does not match: it was altered or forged."),
        "ROLLBACK": N_("The status list is older than the one already held."),
        "SEQUENCE_REUSED": N_("The status list differs from the one already held under the same sequence."),
        "INDEX_OUT_OF_RANGE": N_("The status index lies outside the status list."),
    },
    TrustListProblem: {
        "TOO_LARGE": N_("The trust list is larger than any trust list may be."),
        "MALFORMED": N_("The trust list is not a well-formed econsent trust list."),
        "UNSUPPORTED_VERSION": N_("The trust list uses a version this verifier does not support."),
        "UNKNOWN_ANCHOR": N_("The trust list was not signed by a trusted anchor key."),
        "BAD_SIGNATURE": N_("The trust list's signature does not match: it was altered or forged."),
        "ROLLBACK": N_("The trust list is older than the one already held."),
        "SEQUENCE_REUSED": N_("The trust list differs from the one already held under the same sequence."),
    },
    PossessionProblem: {
        "MISSING": N_("The holder has not proved control of the key to be bound into the credential."),
        "MALFORMED": N_("The proof of possession is not well formed."),
        "CHALLENGE_MISMATCH": N_("The proof of possession answers another challenge than the one given."),
        "BAD_SIGNATURE": N_("The proof of possession was not signed by that key for this issuer and challenge."),
    },
    BatchProblem: {
        "ROW_TOO_LARGE": N_("The row is longer than a row may be; it was not issued."),
        "NOT_UTF8": N_("The row is not UTF-8 text; it was not issued."),
        "MALFORMED_ROW": N_("The row is not well formed; it was not issued."),
        "MISSING_FIELD": N_("The row lacks a required field; it was not issued."),
        "UNKNOWN_FIELD": N_("The row has a field that is not known; it was not issued."),
        "BAD_ROW_ID": N_(
            "The row id is not valid (1 to 64 letters, digits, dots, underscores or hyphens, "
            "starting with a letter or digit)."
        ),
        "DUPLICATE_ROW_ID": N_("The row id appears twice in the batch."),
        "UNKNOWN_TYPE": N_("The row names an unknown credential type."),
        "BAD_CLAIMS": N_("The row's claims do not fit its credential type."),
        "BAD_VALIDITY": N_("The row's validity period is not valid."),
        "BAD_HOLDER_KEY": N_("The row's holder public key is not valid."),
        "MISSING_PROOF": N_("The row lacks the holder's proof of possession and its challenge."),
        "BAD_PROOF": N_("The row's proof of possession was refused."),
        "ISSUE_REFUSED": N_("The issuer refused to sign the row."),
        "BAD_HEADER": N_("The input file's header is missing or wrong; the batch did not start."),
        "BAD_BATCH_ID": N_(
            "The batch id is not valid (1 to 64 letters, digits, dots, underscores or hyphens, "
            "starting with a letter or digit)."
        ),
        "BAD_OPTION": N_("A batch option is out of its range."),
        "BAD_OUTPUT": N_("The output file or folder is damaged or belongs to another batch; it was left as it is."),
        "RESERVATION_MISMATCH": N_(
            "The output holds serials the registry did not reserve for this batch; the batch stopped."
        ),
        "WORKER_FAILED": N_("A signing worker died; the batch stopped and can be resumed with the same batch id."),
        "ENGINE_UNREACHABLE": N_("The Dask scheduler could not be reached; nothing was issued."),
    },
    HsmProblem: {
        "HSM_BAD_URI": N_("The PKCS#11 URI is not valid."),
        "HSM_PIN_IN_URI": N_(
            "The PIN must never be written in a URI or on the command line: "
            "set ECONSENT_PKCS11_PIN or type it when asked."
        ),
        "HSM_NO_MODULE": N_("The PKCS#11 module (the HSM's driver library) could not be loaded."),
        "HSM_NO_TOKEN": N_("No token matches the URI."),
        "HSM_AMBIGUOUS": N_("Several tokens or keys match the URI: name the one to use more precisely."),
        "HSM_NO_KEY": N_("The token holds no private key that matches the URI."),
        "HSM_NO_PIN": N_("The token's PIN was not given: set ECONSENT_PKCS11_PIN or type it when asked."),
        "HSM_WRONG_PIN": N_("The token's PIN is wrong."),
        "HSM_PIN_LOCKED": N_("The token's PIN is locked: its security officer must unlock it."),
        "HSM_UNSUPPORTED_KEY": N_(
            "The key on the token cannot sign for econsent (only sensitive P-256 and Ed25519 keys can)."
        ),
        "HSM_UNSUPPORTED_MECHANISM": N_("The token does not offer the signing mechanism this key needs."),
        "HSM_KEY_MISMATCH": N_("The public key on the token does not match its private key."),
        "HSM_TOKEN_FAILED": N_("The token failed to sign."),
    },
    ImageRefusal: {
        "IMAGE_FILE_TOO_LARGE": N_("The image file is too large to scan."),
        "IMAGE_TOO_MANY_PIXELS": N_("The image has too many pixels to scan."),
        "IMAGE_TOO_MANY_SCANS": N_("The image holds too many frames to scan."),
        "IMAGE_DEADLINE": N_("Scanning the image took too long and was stopped."),
        "IMAGE_OUT_OF_MEMORY": N_("Scanning the image needed too much memory and was stopped."),
        "IMAGE_DECODER_FAILED": N_("The image decoder failed."),
    },
}


class EconsentError(Exception):
    """Base of every error the library raises on purpose: ``code``, ``sentence``, ``detail`` and ``exit_code``.

    A class whose code does not vary names it in ``default_code``; a family whose code varies per
    refusal takes it as the first argument. ``str()`` is ``CODE: sentence (detail)``.
    """

    default_code: ClassVar[Code] = GeneralCode.ERROR
    #: True when the library understood the request and refused it (exit 1), not bad input or storage (exit 2).
    refusal: ClassVar[bool] = False

    def __init__(self, detail: str = "", *, code: Code | None = None) -> None:
        self.code: Code = code or self.default_code
        self.detail = detail
        super().__init__(f"{self.code.value}: {self.code.sentence}" + (f" ({detail})" if detail else ""))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the message plus every attribute: the subclasses' ``__init__`` take other arguments
        than ``args`` holds, so the default (calling the class with ``args``) would fail on loading."""
        return (_restore_error, (type(self), self.args), dict(self.__dict__))

    @property
    def sentence(self) -> str:
        """The code's English sentence."""
        return self.code.sentence

    @property
    def sentence_zh(self) -> str:
        """The code's Chinese sentence."""
        return self.code.sentence_zh

    def sentence_in(self, language: Language) -> str:
        """The code's sentence in ``language`` (``"zh"`` or ``"en"``)."""
        return self.code.sentence_in(language)

    @property
    def exit_code(self) -> int:
        """What the CLI exits with when it reports this error."""
        return EXIT_REJECTED if self.refusal else EXIT_USAGE


class VerificationError(EconsentError):
    """A presentation was rejected. ``code`` is stable; ``detail`` adds specifics (never personal data)."""

    refusal = True
    code: ErrorCode

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        super().__init__(detail, code=code)


class IssueError(EconsentError):
    """The issuer was asked to sign something invalid (unknown claim, wrong kind, bad window)."""

    default_code = GeneralCode.ISSUE


class KeyLoadError(EconsentError):
    """A key could not be read: wrong format, wrong passphrase, or an unsupported key type or curve."""

    default_code = GeneralCode.KEY_LOAD


class SignerError(EconsentError):
    """A signer failed or returned something that is not a valid raw signature for its algorithm."""

    default_code = GeneralCode.SIGNER


class HsmError(SignerError):
    """A key on a PKCS#11 token could not be used; ``code`` is a stable :class:`HsmProblem`.

    A setup or input problem of the issuing office (exit 2), never a verdict about a credential.
    """

    code: HsmProblem

    def __init__(self, code: HsmProblem, detail: str = "") -> None:
        super().__init__(detail, code=code)


class TrustStoreError(EconsentError):
    """A trust store file or entry is invalid (unknown field, duplicate key id, bad key)."""

    default_code = GeneralCode.TRUST_STORE


class CredentialError(EconsentError):
    """A stored credential could not be read or used (for example, presented without its holder key)."""

    default_code = GeneralCode.CREDENTIAL


class SchemaError(EconsentError, ValueError):
    """A claim value does not fit its declared kind, or a credential type is defined inconsistently.

    Issuing, presenting and verifying turn it into their own typed error. It stays a ``ValueError`` as
    well, so code written against earlier versions that caught ``ValueError`` keeps working.
    """

    default_code = GeneralCode.SCHEMA


class QRError(EconsentError):
    """A QR code could not be rendered, or an image could not be read."""

    default_code = GeneralCode.QR


class MissingDependencyError(EconsentError):
    """An optional dependency is not installed; ``detail`` says what to install."""

    default_code = GeneralCode.MISSING_DEPENDENCY


class UsageError(EconsentError):
    """Bad command-line input: reported with exit code 2 and the code ``USAGE``."""

    default_code = GeneralCode.USAGE


class InputFileError(EconsentError):
    """A file the caller named does not exist, or is a folder or another thing that is not a regular file.

    A usage error (exit 2), never a verdict: a typo in a path must not read as a refused or forged code.
    """

    default_code = GeneralCode.NO_SUCH_FILE


class RequestError(EconsentError):
    """A request to ``econsent serve`` it cannot handle (wrong type, too large, busy, foreign origin).

    ``status`` is the HTTP status it is answered with; the body is the one error shape.
    """

    default_code = GeneralCode.REQUEST

    def __init__(self, detail: str = "", *, status: int = 400) -> None:
        super().__init__(detail)
        self.status = status


class ImageRefusedError(QRError):
    """An image that would cost too much to scan, refused up front or stopped by the scan deadline.

    ``code`` is an :class:`ImageRefusal`; ``str()`` starts with it, so a verifier that turns this into a
    ``NO_QR_CODE`` rejection keeps the reason at the front of its detail.
    """

    code: ImageRefusal

    def __init__(self, code: ImageRefusal, detail: str = "") -> None:
        super().__init__(detail, code=code)


class PossessionError(IssueError):
    """A holder key's proof of possession was refused; ``code`` is a stable :class:`PossessionProblem`."""

    refusal = True
    code: PossessionProblem

    def __init__(self, code: PossessionProblem, detail: str = "") -> None:
        super().__init__(detail, code=code)


class TrustListError(TrustStoreError):
    """A signed trust list was refused; ``code`` is a stable :class:`TrustListProblem`."""

    refusal = True
    code: TrustListProblem

    def __init__(self, code: TrustListProblem, detail: str = "") -> None:
        super().__init__(detail, code=code)


class StatusListError(EconsentError):
    """A status list was refused, or an index lies outside it; ``code`` is a stable :class:`StatusListReason`."""

    code: StatusListReason

    def __init__(self, code: StatusListReason, detail: str = "") -> None:
        super().__init__(detail, code=code)


class RegistryError(EconsentError):
    """The issuer registry refused an operation (exit 1) or its input or storage failed (exit 2)."""

    code: RegistryErrorCode

    def __init__(self, code: RegistryErrorCode, detail: str = "") -> None:
        super().__init__(detail, code=code)

    @property
    def exit_code(self) -> int:
        """A refusal of the operation exits 1; bad input, a wrong file or failed storage exits 2."""
        return EXIT_USAGE if self.code in _REGISTRY_USAGE else EXIT_REJECTED


_REGISTRY_USAGE = frozenset({RegistryErrorCode.BAD_INPUT, RegistryErrorCode.WRONG_REGISTRY, RegistryErrorCode.STORAGE})


class WalletError(EconsentError):
    """A wallet operation failed. ``source`` names the file when there is one (never secrets or personal data)."""

    default_code = WalletErrorCode.STORAGE
    refusal = True
    code: WalletErrorCode

    def __init__(self, detail: str = "", *, code: WalletErrorCode | None = None, source: str = "") -> None:
        super().__init__(detail, code=code)
        self.source = source
        if source:
            self.args = (f"{source}: {self.args[0]}",)


class WrongPassphraseError(WalletError):
    """The header is intact but the passphrase does not match its key check."""

    default_code = WalletErrorCode.WRONG_PASSPHRASE


class CorruptWalletError(WalletError):
    """The file is damaged (header checksum, AEAD tag or contents), or asks for more than the limits allow."""

    default_code = WalletErrorCode.DAMAGED


class TruncatedWalletError(CorruptWalletError):
    """The file ends before its header or its declared ciphertext does."""

    default_code = WalletErrorCode.TRUNCATED


class EmptyWalletError(CorruptWalletError):
    """The file has no bytes at all."""

    default_code = WalletErrorCode.EMPTY


class NotAWalletError(WalletError):
    """The bytes are not an econsent vault (another file), or a vault of another kind (a backup)."""

    default_code = WalletErrorCode.NOT_A_WALLET


class UnsupportedWalletVersionError(WalletError):
    """An intact vault of a format version (or algorithm) this version of econsent cannot read."""

    default_code = WalletErrorCode.UNSUPPORTED_VERSION


class WalletLockedError(WalletError):
    """Another writer holds the wallet's lock and did not release it in time."""

    default_code = WalletErrorCode.LOCKED


class WalletNotFoundError(WalletError):
    """The storage holds no wallet yet."""

    default_code = WalletErrorCode.NOT_FOUND


class WalletExistsError(WalletError):
    """``create`` was asked to make a wallet where one exists (it never overwrites)."""

    default_code = WalletErrorCode.EXISTS


class WalletChangedError(WalletError):
    """Another program re-encrypted the wallet (new passphrase or parameters) since it was opened."""

    default_code = WalletErrorCode.CHANGED


class WalletSwappedError(WalletError):
    """The file is another wallet's (another id) than the one opened or expected: never read or written over."""

    default_code = WalletErrorCode.SWAPPED


class WalletRolledBackError(WalletError):
    """The file is an older copy of this wallet (a lower generation than one already seen): never written over."""

    default_code = WalletErrorCode.ROLLED_BACK


class StorageError(WalletError):
    """The storage backend failed to read or write (disk full, permissions, ...)."""

    default_code = WalletErrorCode.STORAGE


class EntryNotFoundError(WalletError):
    """No entry has this id (or, for a prefix, several do: code ``AMBIGUOUS_ENTRY``)."""

    default_code = WalletErrorCode.NO_SUCH_ENTRY


class HolderKeyError(WalletError):
    """The holder key of a credential is missing, unavailable on this device, or not the one it is bound to."""

    default_code = WalletErrorCode.HOLDER_KEY


class BatchError(EconsentError):
    """A batch issuance refused its input or output as a whole (a bad row is reported, not raised).

    ``code`` is a stable :class:`BatchProblem`; a usage or input error (exit 2).
    """

    code: BatchProblem

    def __init__(self, code: BatchProblem, detail: str = "") -> None:
        super().__init__(detail, code=code)


def _restore_error(cls: type[EconsentError], args: tuple[Any, ...]) -> EconsentError:
    """An error as pickled: built without its ``__init__``; pickle then restores its attributes."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    return error
