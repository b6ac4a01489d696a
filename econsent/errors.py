"""One exception tree with stable, machine-readable codes: every error the library raises is defined here.

Every failure the library reports is an :class:`EconsentError`, and every one carries the same three
attributes: ``code`` (a member of one of the code enums below, whose value never changes once released:
scanners, logs, apps and other implementations key on it), ``sentence`` (what a clerk or citizen reads,
in English; ``sentence_zh`` in Chinese) and ``detail`` (specifics for the log, possibly empty, never
personal data or secrets). ``exit_code`` is what the CLI exits with. There is one code enum per family
of errors: verification, wallet, issuer registry, status list, trust list, proof of possession, image
refusal, and :class:`GeneralCode` for the errors whose class alone says what went wrong.

Foreign exceptions never escape the public API: they are wrapped with ``raise ... from exc``. This module
imports only the standard library, so every other module can import it.
"""

# Chinese sentences use Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

__all__ = [
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "EXIT_VALID",
    "Code",
    "CorruptWalletError",
    "CredentialError",
    "EconsentError",
    "EmptyWalletError",
    "EntryNotFoundError",
    "ErrorCode",
    "GeneralCode",
    "HolderKeyError",
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
        return _SENTENCES[type(self)][self.value][1]

    @property
    def sentence_zh(self) -> str:
        """The same sentence in Chinese."""
        return _SENTENCES[type(self)][self.value][0]


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


class ImageRefusal(Code):
    """Why an image was refused before or while its pixels were decoded. The values are stable."""

    FILE_TOO_LARGE = "IMAGE_FILE_TOO_LARGE"
    TOO_MANY_PIXELS = "IMAGE_TOO_MANY_PIXELS"
    TOO_MANY_SCANS = "IMAGE_TOO_MANY_SCANS"
    DEADLINE = "IMAGE_DEADLINE"
    OUT_OF_MEMORY = "IMAGE_OUT_OF_MEMORY"
    DECODER_FAILED = "IMAGE_DECODER_FAILED"


# (Chinese, English) per family and value; a test checks that every code of every family has both.
_SENTENCES: dict[type[Code], dict[str, tuple[str, str]]] = {
    GeneralCode: {
        "ERROR": ("操作失败。", "The operation failed."),
        "ISSUE": ("签发请求无效，无法签发该凭证。", "The issuer cannot sign what it was asked to sign."),
        "KEY_LOAD": ("无法读取密钥。", "The key could not be read."),
        "SIGNER": ("签名器未能给出有效的签名。", "The signer did not produce a valid signature."),
        "TRUST_STORE": ("信任库或其中的条目无效。", "The trust store or one of its entries is not valid."),
        "CREDENTIAL": ("无法读取或使用该凭证。", "The credential could not be read or used."),
        "SCHEMA": ("声明的值与其类型不符。", "A claim value does not fit its declared kind."),
        "QR": ("无法生成二维码，或无法读取图像。", "The QR code could not be made, or the image could not be read."),
        "MISSING_DEPENDENCY": ("缺少一个可选组件，请按说明安装。", "An optional component is not installed."),
        "USAGE": ("命令行输入有误。", "The command line is not valid."),
        "NO_SUCH_FILE": ("所给路径不存在，或不是文件。", "The path given does not exist or is not a file."),
    },
    ErrorCode: {
        "MALFORMED": ("该码不是格式正确的 econsent 出示码。", "The code is not a well-formed econsent presentation."),
        "TOO_LARGE": ("该码超出了任何有效出示码的大小。", "The code is larger than any valid presentation can be."),
        "UNSUPPORTED_VERSION": (
            "该码使用了本验证端不支持的格式版本。",
            "The code uses a format version this verifier does not support.",
        ),
        "NO_QR_CODE": ("未能从图像中读出二维码。", "No QR code could be read from the image."),
        "UNKNOWN_KEY": (
            "签发该凭证的密钥不受本验证端信任。",
            "The credential was signed by a key this verifier does not trust.",
        ),
        "ALGORITHM_NOT_ALLOWED": (
            "该凭证使用了本验证端不允许的签名算法。",
            "The credential uses a signature algorithm this verifier does not allow.",
        ),
        "KEY_NOT_VALID": ("签发时该签发方密钥无效。", "The issuer key was not valid when the credential was issued."),
        "KEY_COMPROMISED": (
            "该凭证的签发方密钥已泄露：其签发的任何内容均不可信。",
            "The issuer key of this credential is compromised: nothing it signed is trusted.",
        ),
        "TRUST_LIST_EXPIRED": (
            "本验证端使用的信任列表已过期：请更新。",
            "The trust list this verifier uses is out of date: update it.",
        ),
        "UNKNOWN_TYPE": ("本验证端不认识该凭证类型。", "The credential type is not known to this verifier."),
        "TYPE_NOT_ALLOWED": (
            "该签发方无权签发此类凭证。",
            "The issuer is not allowed to issue this type of credential.",
        ),
        "BAD_ISSUER_SIGNATURE": (
            "签发方签名不符：凭证已被篡改或伪造。",
            "The issuer's signature does not match: the credential was altered or forged.",
        ),
        "NOT_YET_VALID": ("该凭证尚未生效。", "The credential is not valid yet."),
        "EXPIRED": ("该凭证已过期。", "The credential has expired."),
        "BEARER_REFUSED": (
            "本窗口不接受未绑定持有人的凭证。",
            "This counter does not accept credentials that are not bound to a holder.",
        ),
        "MISSING_HOLDER_PROOF": (
            "该凭证绑定了持有人，但出示时缺少持有人证明。",
            "The credential is bound to a holder but was shown without the holder's proof.",
        ),
        "BAD_HOLDER_SIGNATURE": (
            "持有人签名不符：该码被篡改或并非持有人生成。",
            "The holder's signature does not match: the code was altered or not made by the holder.",
        ),
        "PRESENTATION_FROM_FUTURE": (
            "该码的生成时间在未来：手机时钟偏快。",
            "The code was made in the future: the phone's clock is ahead.",
        ),
        "STALE_PRESENTATION": (
            "该码已失效：请持有人出示新码。",
            "The code has expired: ask the holder to show a fresh one.",
        ),
        "LIFETIME_TOO_LONG": (
            "该码声明的有效期超出本窗口允许的范围。",
            "The code claims a longer lifetime than this counter allows.",
        ),
        "NONCE_MISMATCH": ("该码不是针对本窗口的挑战生成的。", "The code was not made for this counter's challenge."),
        "AUDIENCE_MISMATCH": ("该码是为其他验证端生成的。", "The code was made for another verifier."),
        "MISSING_CLAIMS": (
            "该码未出示本窗口所需的全部信息。",
            "The code does not show every claim this counter needs.",
        ),
        "REVOKED": ("签发方已撤销该凭证。", "The issuer has revoked this credential."),
        "SUSPENDED": ("签发方已暂停该凭证。", "The issuer has suspended this credential."),
        "STATUS_UNKNOWN": (
            "无法核查该凭证的撤销状态：缺少其状态列表。",
            "The credential's revocation status cannot be checked: its status list is missing.",
        ),
        "STATUS_STALE": ("该凭证的状态列表已过期：请更新。", "The credential's status list is out of date: update it."),
        "REPLAYED": (
            "该码已被使用过：请持有人出示新码。",
            "This code has already been used: ask the holder to show a fresh one.",
        ),
        "FORMAT_NOT_SET_UP": (
            "本窗口未设置核验此类码（欧盟数字新冠证书或 SMART 健康卡）。",
            "This counter is not set up to verify this kind of code (EU DCC or SMART Health Card).",
        ),
    },
    WalletErrorCode: {
        "WRONG_PASSPHRASE": ("密码错误。", "The passphrase is wrong."),
        "DAMAGED": ("钱包文件已损坏，请从备份恢复。", "The wallet file is damaged; restore it from a backup."),
        "TRUNCATED": ("钱包文件不完整，请从备份恢复。", "The wallet file is cut short; restore it from a backup."),
        "EMPTY": ("钱包文件为空，请从备份恢复。", "The wallet file is empty; restore it from a backup."),
        "LIMITS_EXCEEDED": (
            "钱包文件要求的资源超出了钱包允许的上限。",
            "The wallet file asks for more resources than a wallet may use.",
        ),
        "NOT_A_WALLET": ("该文件不是 econsent 钱包。", "This file is not an econsent wallet."),
        "WRONG_KIND": ("该文件是另一种 econsent 文件。", "This file is an econsent file of another kind."),
        "UNSUPPORTED_VERSION": (
            "该钱包由更新版本的 econsent 写入，请更新应用。",
            "The wallet was written by a newer version of econsent; update the app.",
        ),
        "LOCKED": (
            "另一个程序正在修改钱包，请待其完成后重试。",
            "Another program is changing the wallet; try again when it has finished.",
        ),
        "NOT_FOUND": ("此处没有钱包。", "There is no wallet here."),
        "EXISTS": ("此处已有钱包。", "A wallet already exists here."),
        "CHANGED": (
            "钱包已被另一个程序重新加密，请重新打开。",
            "The wallet was re-encrypted by another program; open it again.",
        ),
        "SWAPPED": (
            "该钱包文件属于另一个钱包，请恢复本钱包的文件或备份。",
            "The wallet file belongs to another wallet; restore this wallet's file or a backup.",
        ),
        "ROLLED_BACK": (
            "钱包文件被替换为其旧副本，已保持原样未写入。",
            "The wallet file was replaced by an older copy of it; it was left as it is.",
        ),
        "STORAGE": ("无法读取或写入钱包。", "The wallet could not be read or written."),
        "NO_SUCH_ENTRY": ("钱包中没有这张凭证。", "The wallet holds no such credential."),
        "AMBIGUOUS_ENTRY": (
            "有多张凭证与之匹配，请给出更长的编号。",
            "Several credentials match; give more of the id.",
        ),
        "HOLDER_KEY": (
            "该凭证的持有人密钥缺失或不匹配。",
            "The holder key of this credential is missing or does not match.",
        ),
    },
    RegistryErrorCode: {
        "UNKNOWN_SERIAL": ("登记簿中没有该序号的凭证。", "The registry holds no credential with that serial number."),
        "ALREADY_REVOKED": ("该凭证已被撤销。", "The credential is already revoked."),
        "REVOKED_IS_FINAL": ("撤销不可恢复：该凭证已被撤销。", "The credential is revoked, and a revocation is final."),
        "ALREADY_SUSPENDED": ("该凭证已被暂停。", "The credential is already suspended."),
        "NOT_SUSPENDED": ("该凭证未被暂停。", "The credential is not suspended."),
        "LISTS_FULL": ("状态列表已全部用完。", "Every status list of this registry is full."),
        "UNKNOWN_LIST": ("登记簿中没有该状态列表。", "The registry has no such status list."),
        "WRONG_KEY": (
            "该密钥不是本登记簿签发方的已登记密钥。",
            "The key is not a registered key of this registry's issuer.",
        ),
        "ROLLBACK": ("登记簿的记录比已发布的内容旧。", "The registry is older than what it has already published."),
        "BAD_INPUT": ("给登记簿的输入无效。", "The input given to the registry is not valid."),
        "WRONG_REGISTRY": ("该文件不是可用的签发方登记簿。", "The file is not a usable issuer registry."),
        "STORAGE": ("无法读取或写入登记簿。", "The registry could not be read or written."),
    },
    StatusListReason: {
        "MALFORMED": ("该状态列表格式不正确。", "The status list is not a well-formed econsent status list."),
        "TOO_LARGE": ("该状态列表超出了允许的大小。", "The status list is larger than any status list may be."),
        "UNREADABLE": ("无法读取状态列表文件。", "The status list file could not be read."),
        "UNKNOWN_KEY": (
            "签发该状态列表的密钥不受本验证端信任。",
            "The status list was signed by a key this verifier does not trust.",
        ),
        "WRONG_ISSUER": (
            "该状态列表由另一签发方的密钥签发。",
            "The status list was signed by a key of another issuer.",
        ),
        "KEY_NOT_VALID": (
            "签发该状态列表的密钥无权签发它。",
            "The key that signed the status list was not allowed to sign it.",
        ),
        "BAD_SIGNATURE": (
            "状态列表的签名不符：已被篡改或伪造。",
            "The status list's signature does not match: it was altered or forged.",
        ),
        "ROLLBACK": ("该状态列表比已持有的更旧。", "The status list is older than the one already held."),
        "SEQUENCE_REUSED": (
            "该状态列表与已持有的同序号列表内容不同。",
            "The status list differs from the one already held under the same sequence.",
        ),
        "INDEX_OUT_OF_RANGE": ("状态索引超出了状态列表的范围。", "The status index lies outside the status list."),
    },
    TrustListProblem: {
        "TOO_LARGE": ("该信任列表超出了允许的大小。", "The trust list is larger than any trust list may be."),
        "MALFORMED": ("该信任列表格式不正确。", "The trust list is not a well-formed econsent trust list."),
        "UNSUPPORTED_VERSION": (
            "该信任列表使用了不支持的版本。",
            "The trust list uses a version this verifier does not support.",
        ),
        "UNKNOWN_ANCHOR": (
            "该信任列表不是由受信任的根密钥签发的。",
            "The trust list was not signed by a trusted anchor key.",
        ),
        "BAD_SIGNATURE": (
            "信任列表的签名不符：已被篡改或伪造。",
            "The trust list's signature does not match: it was altered or forged.",
        ),
        "ROLLBACK": ("该信任列表比已持有的更旧。", "The trust list is older than the one already held."),
        "SEQUENCE_REUSED": (
            "该信任列表与已持有的同序号列表内容不同。",
            "The trust list differs from the one already held under the same sequence.",
        ),
    },
    PossessionProblem: {
        "MISSING": (
            "持有人尚未证明其控制要绑定到凭证中的密钥。",
            "The holder has not proved control of the key to be bound into the credential.",
        ),
        "MALFORMED": ("持有证明格式不正确。", "The proof of possession is not well formed."),
        "CHALLENGE_MISMATCH": (
            "持有证明回应的不是所给的挑战。",
            "The proof of possession answers another challenge than the one given.",
        ),
        "BAD_SIGNATURE": (
            "持有证明不是由该密钥针对本签发方和挑战签署的。",
            "The proof of possession was not signed by that key for this issuer and challenge.",
        ),
    },
    ImageRefusal: {
        "IMAGE_FILE_TOO_LARGE": ("图像文件过大，未予扫描。", "The image file is too large to scan."),
        "IMAGE_TOO_MANY_PIXELS": ("图像像素过多，未予扫描。", "The image has too many pixels to scan."),
        "IMAGE_TOO_MANY_SCANS": ("图像包含的帧过多，未予扫描。", "The image holds too many frames to scan."),
        "IMAGE_DEADLINE": ("图像扫描超时，已停止。", "Scanning the image took too long and was stopped."),
        "IMAGE_OUT_OF_MEMORY": (
            "图像扫描所需内存过多，已停止。",
            "Scanning the image needed too much memory and was stopped.",
        ),
        "IMAGE_DECODER_FAILED": ("图像解码器出错。", "The image decoder failed."),
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

    @property
    def sentence(self) -> str:
        """The code's English sentence."""
        return self.code.sentence

    @property
    def sentence_zh(self) -> str:
        """The code's Chinese sentence."""
        return self.code.sentence_zh

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
