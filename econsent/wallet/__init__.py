"""The holder's storage: credentials and holder keys in an encrypted vault, and rotating codes.

``docs/wallet.md`` is the guide for app developers. The package is split by job:

* :mod:`~econsent.wallet.core`: :class:`Wallet`, the transactions over the vault file;
* :mod:`~econsent.wallet.state`: what a wallet holds (entries, keys, the sealed body) and how entries
  are described (:class:`WalletEntry`);
* :mod:`~econsent.wallet.storage`: where the sealed bytes live (:class:`FileStorage`, :class:`MemoryStorage`,
  or an app's own :class:`Storage`);
* :mod:`~econsent.wallet.codes`: :class:`RotatingCode` and its :class:`Frame` s.

The vault file format is ``econsent._vault``; making a presentation is :mod:`econsent.present` (its
``present`` and ``read_credential_unverified`` are re-exported here, where they used to live), and
the wallet errors are defined in :mod:`econsent.errors`.
"""

from __future__ import annotations

from .._vault import DEFAULT_KDF, ScryptParams
from ..errors import (
    CorruptWalletError,
    EmptyWalletError,
    EntryNotFoundError,
    HolderKeyError,
    NotAWalletError,
    StorageError,
    TruncatedWalletError,
    UnsupportedWalletVersionError,
    WalletChangedError,
    WalletError,
    WalletErrorCode,
    WalletExistsError,
    WalletLockedError,
    WalletNotFoundError,
    WalletRolledBackError,
    WalletSwappedError,
    WrongPassphraseError,
)
from ..present import DEFAULT_LIFETIME, present, read_credential_unverified
from .codes import DEFAULT_REFRESH_BEFORE, Frame, RotatingCode
from .core import ImportReport, Wallet
from .state import (
    MAX_ENTRIES,
    MAX_ISSUER_NAME_CHARS,
    MAX_KEY_REF_CHARS,
    MAX_KEYS,
    MAX_LABEL_CHARS,
    EntryStatus,
    ExternalKey,
    HolderKeyKind,
    KeyMode,
    SignerProvider,
    WalletEntry,
)
from .storage import FileStorage, MemoryStorage, Storage

__all__ = [
    "DEFAULT_KDF",
    "DEFAULT_LIFETIME",
    "DEFAULT_REFRESH_BEFORE",
    "MAX_ENTRIES",
    "MAX_ISSUER_NAME_CHARS",
    "MAX_KEYS",
    "MAX_KEY_REF_CHARS",
    "MAX_LABEL_CHARS",
    "CorruptWalletError",
    "EmptyWalletError",
    "EntryNotFoundError",
    "EntryStatus",
    "ExternalKey",
    "FileStorage",
    "Frame",
    "HolderKeyError",
    "HolderKeyKind",
    "ImportReport",
    "KeyMode",
    "MemoryStorage",
    "NotAWalletError",
    "RotatingCode",
    "ScryptParams",
    "SignerProvider",
    "Storage",
    "StorageError",
    "TruncatedWalletError",
    "UnsupportedWalletVersionError",
    "Wallet",
    "WalletChangedError",
    "WalletEntry",
    "WalletError",
    "WalletErrorCode",
    "WalletExistsError",
    "WalletLockedError",
    "WalletNotFoundError",
    "WalletRolledBackError",
    "WalletSwappedError",
    "WrongPassphraseError",
    "present",
    "read_credential_unverified",
]
