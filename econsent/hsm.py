"""Keys in secure hardware: a PKCS#11 signer named by an RFC 7512 ``pkcs11:`` URI, and :func:`load_signer`.

An issuing office keeps its signing key in an HSM (SoftHSM2 in the tests): the private key never leaves
the token, and :class:`Pkcs11Signer` asks the token for each signature through the PKCS#11 interface
(python-pkcs11, the ``hsm`` extra, imported only when a token is opened). ES256 keys sign a SHA-256
prehash with ``CKM_ECDSA`` (SoftHSM 2.6.1 refuses ``CKM_ECDSA_SHA256`` for P-256), Ed25519 keys sign
with ``CKM_EDDSA``; both return the raw 64-byte signature econsent uses.

The algorithm is the one of the key object on the token (its key type and curve), never a choice of the
caller; its public key is read from the token and enters through :class:`~econsent.keys.PublicKey`, so
the weak-key rules apply. The PIN is never part of a URI or argv: it comes from ``pin=`` or the
``ECONSENT_PKCS11_PIN`` environment variable, and is forgotten once the token has accepted it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from .errors import HsmError, HsmProblem, InputFileError, KeyLoadError, MissingDependencyError
from .keys import Algorithm, PublicKey, Signer, SigningKey

__all__ = [
    "MODULE_ENV",
    "PIN_ENV",
    "Pkcs11Signer",
    "Pkcs11Uri",
    "is_pkcs11_uri",
    "load_signer",
]

#: The environment variable that holds the token's user PIN (never argv, never a URI).
PIN_ENV = "ECONSENT_PKCS11_PIN"
#: The environment variable that names the PKCS#11 module when the URI has no ``module-path``.
MODULE_ENV = "ECONSENT_PKCS11_MODULE"

MAX_URI_LENGTH = 2048
_MAX_KEY_FILE_BYTES = 1024 * 1024  # a cap on reading; SigningKey.from_pem then applies the PEM limit
_SELF_TEST_MESSAGE = b"econsent pkcs11 self-test: the token's public key matches its private key"

# RFC 7512 section 2.3: the characters a path or query value may hold unencoded, besides pct-encoded octets.
_UNRESERVED = r"A-Za-z0-9._~\-"
_PATH_VALUE = re.compile(rf"(?:[{_UNRESERVED}:\[\]@!$'()*+,=]|%[0-9A-Fa-f]{{2}})*")
_QUERY_VALUE = re.compile(rf"(?:[{_UNRESERVED}:\[\]@!$'()*+,=/?|]|%[0-9A-Fa-f]{{2}})*")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
# The path attributes econsent reads, with the most bytes each may decode to (CK_TOKEN_INFO field widths).
_PATH_LIMITS = {"token": 32, "manufacturer": 32, "model": 16, "serial": 16, "object": 256, "id": 256, "type": 16}
_QUERY_LIMITS = {"module-path": 1024}
_KNOWN_UNSUPPORTED = {
    "library-description",
    "library-manufacturer",
    "library-version",
    "slot-description",
    "slot-id",
    "slot-manufacturer",
    "module-name",
}

# CKA_EC_PARAMS (DER): the named curves econsent signs with, and SM2's curve, refused by name.
_P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")  # OID 1.2.840.10045.3.1.7
_ED25519_PARAMS = (bytes.fromhex("06032b6570"), b"\x13\x0cedwards25519")  # OID 1.3.101.112 or its curve name
_SM2_PARAMS = bytes.fromhex("06082a811ccf5501822d")  # OID 1.2.156.10197.1.301


def is_pkcs11_uri(spec: str | os.PathLike[str]) -> bool:
    """True when ``spec`` names a key on a token (a ``pkcs11:`` URI) rather than a key file."""
    return isinstance(spec, str) and spec[:7].lower() == "pkcs11:"


@dataclass(frozen=True, slots=True)
class Pkcs11Uri:
    """A parsed RFC 7512 ``pkcs11:`` URI naming one private key; ``text`` is the URI as given.

    Parsing is strict: unknown attributes, repeated attributes, bad percent-encoding and PINs are refused
    (:class:`~econsent.errors.HsmError`), so a typo never silently selects another key.
    """

    text: str
    token: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    object: str | None = None
    id: bytes | None = None
    module_path: str | None = None

    @classmethod
    def parse(cls, text: str) -> Pkcs11Uri:
        """Parse ``text``; :class:`~econsent.errors.HsmError` (``BAD_URI``, ``PIN_IN_URI``) when it is refused."""
        if not isinstance(text, str) or not is_pkcs11_uri(text):
            raise HsmError(HsmProblem.BAD_URI, "a PKCS#11 URI starts with pkcs11:")
        if len(text) > MAX_URI_LENGTH:
            raise HsmError(HsmProblem.BAD_URI, f"longer than {MAX_URI_LENGTH} characters")
        if not text.isascii() or not text.isprintable():
            raise HsmError(HsmProblem.BAD_URI, "only printable ASCII: percent-encode other characters")
        if "#" in text:
            raise HsmError(HsmProblem.BAD_URI, "a PKCS#11 URI has no fragment (#)")
        path, _, query = text[7:].partition("?")
        path_values = _attributes(path, ";", _PATH_VALUE, _PATH_LIMITS, _QUERY_LIMITS)
        query_values = _attributes(query, "&", _QUERY_VALUE, _QUERY_LIMITS, _PATH_LIMITS)
        key_type = path_values.pop("type", None)
        if key_type is not None and key_type != b"private":
            raise HsmError(HsmProblem.BAD_URI, "a signer needs the private key: type=private, or no type")
        if "object" not in path_values and "id" not in path_values:
            raise HsmError(HsmProblem.BAD_URI, "name the key with object=LABEL or id=%XX...")
        strings = {name: _utf8(name, value) for name, value in path_values.items() if name != "id"}
        module = query_values.get("module-path")
        return cls(
            text=text,
            token=strings.get("token"),
            manufacturer=strings.get("manufacturer"),
            model=strings.get("model"),
            serial=strings.get("serial"),
            object=strings.get("object"),
            id=path_values.get("id"),
            module_path=None if module is None else _utf8("module-path", module),
        )


def _attributes(
    part: str, separator: str, allowed: re.Pattern[str], limits: Mapping[str, int], elsewhere: Mapping[str, int]
) -> dict[str, bytes]:
    """The ``name=value`` attributes of a URI's path or query, percent-decoded; each name at most once."""
    where = "path" if limits is _PATH_LIMITS else "query"
    values: dict[str, bytes] = {}
    if not part:
        return values
    for attribute in part.split(separator):
        name, equals, value = attribute.partition("=")
        if name in ("pin-value", "pin-source"):
            raise HsmError(HsmProblem.PIN_IN_URI, f"{name} is refused")
        if not equals or not name:
            raise HsmError(HsmProblem.BAD_URI, f"{where} attribute {attribute[:40]!r} is not name=value")
        if name in _KNOWN_UNSUPPORTED:
            hint = ": give module-path= instead" if name == "module-name" else ""
            raise HsmError(HsmProblem.BAD_URI, f"the attribute {name!r} is not supported{hint}")
        if name in elsewhere:
            raise HsmError(HsmProblem.BAD_URI, f"the attribute {name!r} does not belong in the {where}")
        if name not in limits:
            raise HsmError(HsmProblem.BAD_URI, f"unknown {where} attribute {name[:40]!r}")
        if name in values:
            raise HsmError(HsmProblem.BAD_URI, f"the attribute {name!r} appears twice")
        if not allowed.fullmatch(value):
            raise HsmError(HsmProblem.BAD_URI, f"{name}: characters that must be percent-encoded")
        decoded = _PERCENT.sub(lambda match: chr(int(match.group(1), 16)), value).encode("latin-1")
        if not decoded or len(decoded) > limits[name]:
            raise HsmError(HsmProblem.BAD_URI, f"{name}: from 1 to {limits[name]} bytes")
        values[name] = decoded
    return values


def _utf8(name: str, value: bytes) -> str:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HsmError(HsmProblem.BAD_URI, f"{name}: not UTF-8 once percent-decoded") from exc
    if not text.isprintable():
        raise HsmError(HsmProblem.BAD_URI, f"{name}: control characters")
    return text


# --- loading the PKCS#11 module, once per process ------------------------------------------------------------

_MODULE_LOCK = threading.Lock()
_INITIALISED_IN: dict[str, int] = {}  # module path -> the process id that initialised it
# python-pkcs11 initialises a module with C_Initialize(NULL), which by PKCS#11 promises the module that no two
# threads call it at once: every call into one module goes through that module's lock (SoftHSM2 spun for ever
# in C_Sign and C_SignInit when two threads signed with two keys of one token).
_CALL_LOCKS: dict[str, threading.Lock] = {}


def _fresh_locks_in_child() -> None:
    """A forked child starts with unheld locks: a thread of the parent may have been inside a module call
    (or loading one) at the fork, and its held lock would make every signer of the child wait for ever
    instead of failing with the clear "opened before this process was forked" error."""
    global _MODULE_LOCK
    _MODULE_LOCK = threading.Lock()
    _CALL_LOCKS.clear()


os.register_at_fork(after_in_child=_fresh_locks_in_child)
# PKCS#11 logs in once per process and token, and then answers a second login "already logged in" without
# checking its PIN: each login's PIN is kept as a keyed hash (the key random per process) to compare with.
_LOGINS: dict[tuple[str, str, bytes], bytes] = {}
_LOGIN_KEY = os.urandom(32)


def _pkcs11() -> Any:
    """python-pkcs11, or a :class:`MissingDependencyError` saying how to install it."""
    try:
        import pkcs11
    except ImportError as exc:
        raise MissingDependencyError("keys on a token need python-pkcs11: pip install 'econsent[hsm]'") from exc
    return pkcs11


def _library(path: str) -> Any:
    """The loaded PKCS#11 module at ``path``, initialised in this process.

    A module initialised in a parent is refused in a child made by ``fork``: re-initialising it there
    crashed SoftHSM now and then (a segmentation fault in about one run in ten of the pool test), and
    PKCS#11 leaves a module's state after fork undefined. Workers are started with ``spawn`` or
    ``forkserver`` (the batch pool does), and each opens the module itself.
    """
    p11 = _pkcs11()
    with _MODULE_LOCK:
        if _INITIALISED_IN.setdefault(path, os.getpid()) != os.getpid():
            raise HsmError(
                HsmProblem.TOKEN_FAILED,
                "the PKCS#11 module was opened before this process was forked: start workers with "
                "'spawn' or 'forkserver' and open the token in each",
            )
        try:
            library = p11.lib(path)
        except p11.PKCS11Error as exc:
            raise HsmError(HsmProblem.NO_MODULE, f"{path}: {type(exc).__name__} {exc}".strip()) from exc
    return library


def _call_lock(path: str) -> threading.Lock:
    """The lock every call into the module at ``path`` holds (one per module file and process, symlinks resolved)."""
    with _MODULE_LOCK:
        return _CALL_LOCKS.setdefault(os.path.realpath(path), threading.Lock())


def _module_path(uri: Pkcs11Uri, module: str | None) -> str:
    """The module the key is reached through: ``module=``, the URI's ``module-path``, or ``ECONSENT_PKCS11_MODULE``.

    It must be an absolute path to a file: a bare name would be searched for in the library path, and a
    relative one in the current folder, where anyone could plant a library that runs in the issuer.
    """
    path = module or uri.module_path or os.environ.get(MODULE_ENV)
    if not path:
        raise HsmError(HsmProblem.NO_MODULE, f"give module-path=/path/to/module.so in the URI, or set {MODULE_ENV}")
    if not os.path.isabs(path):
        raise HsmError(HsmProblem.NO_MODULE, f"the module path must be absolute: {path!r}")
    if not os.path.isfile(path):
        raise HsmError(HsmProblem.NO_MODULE, f"no such file: {path}")
    return path


# --- the signer ---------------------------------------------------------------------------------------------


class Pkcs11Signer:
    """A :class:`~econsent.keys.Signer` whose private key stays on a PKCS#11 token.

    The token is opened on first use (the algorithm, the public key or a signature), with one session per
    signer and process; :meth:`close` (or leaving a ``with`` block) ends it. Threads may share a signer, and
    signers of one module may be used from many threads: their calls into the module take turns (one lock
    per module), because the module was promised single-threaded use when it was initialised.
    A pickled signer is its URI and module path, never its PIN or a session: a worker process that
    unpickles it opens the token itself, with the PIN from ``ECONSENT_PKCS11_PIN``.
    """

    __slots__ = ("_algorithm", "_key", "_module", "_pid", "_pin", "_public", "_session", "uri")

    def __init__(self, uri: str | Pkcs11Uri, *, pin: str | None = None, module: str | None = None) -> None:
        self.uri = uri if isinstance(uri, Pkcs11Uri) else Pkcs11Uri.parse(uri)
        self._module = _module_path(self.uri, module)
        self._pin = pin
        self._session: Any = None
        self._key: Any = None
        self._pid = 0
        self._algorithm: Algorithm | None = None
        self._public: PublicKey | None = None

    @property
    def _lock(self) -> threading.Lock:
        """The module's call lock, looked up on each use: a forked child gets fresh locks, not the parent's."""
        return _call_lock(self._module)

    @property
    def module(self) -> str:
        """The path of the PKCS#11 module (the HSM vendor's library) the token is reached through."""
        return self._module

    @property
    def algorithm(self) -> Algorithm:
        """The key's algorithm, as the token's key object says (opening the token if it is not open)."""
        with self._lock:
            self._ensure_open()
            assert self._algorithm is not None
            return self._algorithm

    @property
    def public_key(self) -> PublicKey:
        """The key's public half, read from the token and checked against a signature at opening."""
        with self._lock:
            self._ensure_open()
            assert self._public is not None
            return self._public

    def sign(self, data: bytes) -> bytes:
        """The raw 64-byte signature of ``data`` by the key on the token."""
        with self._lock:
            self._ensure_open()
            return self._sign(data)

    def open(self) -> Pkcs11Signer:
        """Open the token now (rather than at first use), so a wrong PIN or a missing key shows at once."""
        with self._lock:
            self._ensure_open()
        return self

    def close(self) -> None:
        """End the session (the token logs out when it was the last one); the next use opens it again."""
        with self._lock:
            session, self._session, self._key = self._session, None, None
            if session is not None and self._pid == os.getpid():
                try:
                    session.close()
                except _pkcs11().PKCS11Error:
                    pass  # the token went away: the session is gone with it

    def __enter__(self) -> Pkcs11Signer:
        return self.open()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return _restore, (self.uri.text, self._module)

    def __repr__(self) -> str:
        return f"Pkcs11Signer({self.uri.text!r}, module={self._module!r})"

    # -- with the lock held --

    def _ensure_open(self) -> None:
        if self._session is not None and self._pid == os.getpid():
            return
        # After a fork the parent's session handle means nothing here: open a fresh one, never close the parent's.
        self._session, self._key = None, None
        p11 = _pkcs11()
        try:
            token = self._token(_library(self._module))
            session = self._login(token)
            try:
                key, algorithm, public = self._find_key(p11, session)
                self._session, self._key, self._pid = session, key, os.getpid()
                self._check(algorithm, public)
            except BaseException:
                self._session = self._key = None
                session.close()
                raise
        except p11.PKCS11Error as exc:
            raise _token_error(p11, exc) from exc
        self._algorithm, self._public = algorithm, public

    def _token(self, library: Any) -> Any:
        p11, uri = _pkcs11(), self.uri
        tokens = [
            token
            for token in library.get_tokens(token_label=uri.token)
            if p11.TokenFlag.TOKEN_INITIALIZED in token.flags
            and (uri.serial is None or token.serial.decode("ascii", "replace").strip() == uri.serial)
            and (uri.manufacturer is None or token.manufacturer_id == uri.manufacturer)
            and (uri.model is None or token.model == uri.model)
        ]
        if not tokens:
            raise HsmError(HsmProblem.NO_TOKEN, "no token present matches the URI's token attributes")
        if len(tokens) > 1:
            raise HsmError(HsmProblem.AMBIGUOUS, f"{len(tokens)} tokens match: add token= or serial= to the URI")
        return tokens[0]

    def _login(self, token: Any) -> Any:
        p11 = _pkcs11()
        if p11.TokenFlag.USER_PIN_LOCKED in token.flags:  # never spend another attempt on a locked PIN
            raise HsmError(HsmProblem.PIN_LOCKED, f"token {token.label!r}")
        pin = self._pin if self._pin is not None else os.environ.get(PIN_ENV)
        if not pin:
            raise HsmError(HsmProblem.NO_PIN, f"set {PIN_ENV}, or type the PIN when asked")
        login = (self._module, token.label, bytes(token.serial))
        pin_hash = hmac.new(_LOGIN_KEY, pin.encode("utf-8"), hashlib.sha256).digest()
        try:
            session = token.open(user_pin=pin)
        except p11.UserAlreadyLoggedIn:
            # Another signer of this process logged in to the same token: it must have used this PIN.
            if not hmac.compare_digest(_LOGINS.get(login, pin_hash), pin_hash):
                raise HsmError(HsmProblem.WRONG_PIN) from None
            session = token.open()
        _LOGINS[login] = pin_hash
        self._pin = None  # accepted: forget it (a worker after a fork reads the environment again)
        return session

    def _find_key(self, p11: Any, session: Any) -> tuple[Any, Algorithm, PublicKey]:
        """The one private key the URI names, its algorithm, and its public key from the token."""
        attribute, object_class = p11.Attribute, p11.ObjectClass
        template: dict[Any, Any] = {attribute.CLASS: object_class.PRIVATE_KEY}
        if self.uri.object is not None:
            template[attribute.LABEL] = self.uri.object
        if self.uri.id is not None:
            template[attribute.ID] = self.uri.id
        keys = list(session.get_objects(template))
        if not keys:
            raise HsmError(HsmProblem.NO_KEY, "no private key on the token matches object= and id=")
        if len(keys) > 1:
            raise HsmError(HsmProblem.AMBIGUOUS, f"{len(keys)} private keys match: give both object= and id=")
        key = keys[0]
        if not key[attribute.SIGN]:
            raise HsmError(HsmProblem.UNSUPPORTED_KEY, "the key is not allowed to sign (CKA_SIGN is false)")
        if not key[attribute.SENSITIVE]:
            raise HsmError(HsmProblem.UNSUPPORTED_KEY, "the key is not sensitive: its value can be read off the token")
        algorithm = _algorithm_of(p11, key)
        mechanism = p11.Mechanism.ECDSA if algorithm is Algorithm.ES256 else p11.Mechanism.EDDSA
        if mechanism not in session.token.slot.get_mechanisms():
            raise HsmError(HsmProblem.UNSUPPORTED_MECHANISM, f"the token does not offer {mechanism.name}")
        return key, algorithm, _public_key(p11, session, key, algorithm)

    def _check(self, algorithm: Algorithm, public: PublicKey) -> None:
        """One signature at opening, verified: a token whose public object belongs to another key is refused."""
        self._algorithm = algorithm
        if not public.verify(self._sign(_SELF_TEST_MESSAGE), _SELF_TEST_MESSAGE):
            raise HsmError(HsmProblem.KEY_MISMATCH, "a signature by the private key does not verify")

    def _sign(self, data: bytes) -> bytes:
        p11 = _pkcs11()
        try:
            if self._algorithm is Algorithm.ES256:
                signature = self._key.sign(hashlib.sha256(data).digest(), mechanism=p11.Mechanism.ECDSA)
            else:
                signature = self._key.sign(data, mechanism=p11.Mechanism.EDDSA)
        except p11.PKCS11Error as exc:
            raise _token_error(p11, exc) from exc
        if not isinstance(signature, bytes) or len(signature) != 64:
            raise HsmError(HsmProblem.TOKEN_FAILED, "the token returned a signature that is not 64 bytes")
        return signature


def _restore(uri: str, module: str) -> Pkcs11Signer:
    """Unpickle a :class:`Pkcs11Signer`: its spec, opened at first use with the PIN from the environment."""
    return Pkcs11Signer(uri, module=module)


def _algorithm_of(p11: Any, key: Any) -> Algorithm:
    """The algorithm of a key object on the token: its key type and curve decide, and nothing else."""
    key_type = key[p11.Attribute.KEY_TYPE]
    if key_type not in (p11.KeyType.EC, p11.KeyType.EC_EDWARDS):
        name = getattr(key_type, "name", hex(int(key_type)))
        raise HsmError(HsmProblem.UNSUPPORTED_KEY, f"a key of type {name} (use an EC P-256 or Ed25519 key)")
    params = bytes(key[p11.Attribute.EC_PARAMS])
    if key_type == p11.KeyType.EC and params == _P256_PARAMS:
        return Algorithm.ES256
    if key_type == p11.KeyType.EC_EDWARDS and params in _ED25519_PARAMS:
        return Algorithm.ED25519
    if params == _SM2_PARAMS:
        raise HsmError(HsmProblem.UNSUPPORTED_KEY, "this token's SM2 mechanism is not supported")
    raise HsmError(HsmProblem.UNSUPPORTED_KEY, f"a key on the curve {params[:32].hex()} (use P-256 or Ed25519)")


def _public_key(p11: Any, session: Any, private: Any, algorithm: Algorithm) -> PublicKey:
    """The public key object with the private key's id (or label), read and checked as a :class:`PublicKey`."""
    attribute = p11.Attribute
    template: dict[Any, Any] = {attribute.CLASS: p11.ObjectClass.PUBLIC_KEY}
    key_id = bytes(private[attribute.ID] or b"")
    if key_id:
        template[attribute.ID] = key_id
    else:
        template[attribute.LABEL] = private[attribute.LABEL]
    found = list(session.get_objects(template))
    if len(found) != 1:
        raise HsmError(HsmProblem.NO_KEY, f"{len(found)} public key objects share the private key's id, not 1")
    if _algorithm_of(p11, found[0]) is not algorithm:
        raise HsmError(HsmProblem.KEY_MISMATCH, "the public key object is of another algorithm")
    point = _der_octet_string(bytes(found[0][attribute.EC_POINT]))
    if algorithm is Algorithm.ED25519:
        return PublicKey.from_raw(Algorithm.ED25519, point).on_curve()
    try:
        curve_point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise KeyLoadError(f"the token's P-256 public key is not a point of the curve: {exc}") from exc
    return PublicKey(Algorithm.ES256, curve_point)


def _der_octet_string(der: bytes) -> bytes:
    """The contents of a DER OCTET STRING (how PKCS#11 stores CKA_EC_POINT), with no byte after it."""
    if len(der) < 2 or der[0] != 0x04:
        raise HsmError(HsmProblem.UNSUPPORTED_KEY, "CKA_EC_POINT is not a DER OCTET STRING")
    length, start = der[1], 2
    if length == 0x81 and len(der) > 2 and der[2] >= 0x80:
        length, start = der[2], 3
    if length >= 0x80 or len(der) != start + length:
        raise HsmError(HsmProblem.UNSUPPORTED_KEY, "CKA_EC_POINT is not one DER OCTET STRING of a point")
    return der[start:]


def _token_error(p11: Any, exc: Exception) -> HsmError:
    """A python-pkcs11 error as the typed error a clerk can act on (the PIN is never in its text)."""
    if isinstance(exc, p11.PinIncorrect | p11.PinInvalid | p11.PinLenRange):
        return HsmError(HsmProblem.WRONG_PIN)
    if isinstance(exc, p11.PinLocked | p11.PinExpired):
        return HsmError(HsmProblem.PIN_LOCKED, type(exc).__name__)
    if isinstance(exc, p11.UserPinNotInitialized):
        return HsmError(HsmProblem.PIN_LOCKED, "the token's user PIN was never set")
    if isinstance(exc, p11.MechanismInvalid | p11.FunctionNotSupported):
        return HsmError(HsmProblem.UNSUPPORTED_MECHANISM, type(exc).__name__)
    return HsmError(HsmProblem.TOKEN_FAILED, type(exc).__name__)


# --- one entry point for "the signer the user named" ------------------------------------------------------------


def load_signer(
    spec: str | os.PathLike[str], *, passphrase: str | bytes | None = None, pin: str | None = None
) -> Signer:
    """The signer ``spec`` names: a key on a token (a ``pkcs11:`` URI, opened now) or a PEM private key file.

    A token takes ``pin`` or the ``ECONSENT_PKCS11_PIN`` environment variable; a key file takes
    ``passphrase`` when it is encrypted. Giving one to the other is refused, never ignored. A file that
    does not exist is an :class:`~econsent.errors.InputFileError`; any other refusal a typed error too.
    """
    if is_pkcs11_uri(spec):
        if passphrase is not None:
            raise KeyLoadError("a passphrase is for key files: a token takes its PIN")
        return Pkcs11Signer(str(spec), pin=pin).open()
    if pin is not None:
        raise KeyLoadError("a PIN is for a token (a pkcs11: URI): a key file takes its passphrase")
    path = Path(spec)
    if not path.is_file():
        raise InputFileError(f"{path}: " + ("not a file" if os.path.lexists(path) else "no such file"))
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyLoadError(f"{path}: {exc.strerror or type(exc).__name__}") from exc
    return SigningKey.from_pem(data, passphrase)
