"""econsent: electronic licences shown as time-limited QR codes and verified offline.

The public API, re-exported. Importing it loads no imaging or QR library: :mod:`econsent.qr` loads
Pillow, qrcode and the decoders on first use.
"""

from .errors import (
    CredentialError,
    EconsentError,
    ErrorCode,
    IssueError,
    KeyLoadError,
    MissingDependencyError,
    PossessionError,
    PossessionProblem,
    QRError,
    SignerError,
    StatusListError,
    TrustStoreError,
    VerificationError,
    WalletError,
)
from .issue import Issuer
from .keys import Algorithm, PublicKey, Signer, SigningKey, raw_signature_from_der
from .model import Credential, IssuerName, StatusReference, Verdict
from .possession import ATTESTED_OUT_OF_BAND, KeyAttestation, PossessionProof, prove_possession
from .present import present, read_credential_unverified
from .schema import BUILTIN_TYPES, ClaimKind, ClaimSpec, CredentialType, TypeRegistry
from .status import CredentialStatus, StatusList, StatusListCache, load_status_list
from .trust import IssuerScope, KeyStatus, TrustedKey, TrustLists, TrustStore
from .verify import MemoryReplayCache, Policy, ReplayCache, StatusFallback, Verifier
from .wallet import FileStorage, MemoryStorage, Wallet

__version__ = "0.1.0"

__all__ = [
    "ATTESTED_OUT_OF_BAND",
    "BUILTIN_TYPES",
    "Algorithm",
    "ClaimKind",
    "ClaimSpec",
    "Credential",
    "CredentialError",
    "CredentialStatus",
    "CredentialType",
    "EconsentError",
    "ErrorCode",
    "FileStorage",
    "IssueError",
    "Issuer",
    "IssuerName",
    "IssuerScope",
    "KeyAttestation",
    "KeyLoadError",
    "KeyStatus",
    "MemoryReplayCache",
    "MemoryStorage",
    "MissingDependencyError",
    "Policy",
    "PossessionError",
    "PossessionProblem",
    "PossessionProof",
    "PublicKey",
    "QRError",
    "ReplayCache",
    "Signer",
    "SignerError",
    "SigningKey",
    "StatusFallback",
    "StatusList",
    "StatusListCache",
    "StatusListError",
    "StatusReference",
    "TrustLists",
    "TrustStore",
    "TrustStoreError",
    "TrustedKey",
    "TypeRegistry",
    "Verdict",
    "VerificationError",
    "Verifier",
    "Wallet",
    "WalletError",
    "load_status_list",
    "present",
    "prove_possession",
    "raw_signature_from_der",
    "read_credential_unverified",
]
