"""A real PKCS#11 token for the tests: SoftHSM2, initialised in a temporary folder by the tests themselves.

:func:`start` writes a SoftHSM2 configuration whose token folder is private to the test session, points
``SOFTHSM2_CONF`` at it (SoftHSM reads it when the module is first initialised in a process, and worker
processes inherit it), and initialises one token with ``softhsm2-util``. Keys are made on the token with
python-pkcs11, as sensitive, non-extractable signing keys, and named by ``pkcs11:`` URIs.

SoftHSM2 missing is a failure that names the Debian package, never a skip: the README's install command
installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

APT_PACKAGE = "softhsm2"
LOCKED_LABEL = "econsent-locked"
_KNOWN_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
_CURVES = {"ES256": ("secp256r1", KeyType.EC), "Ed25519": ("1.3.101.112", KeyType.EC_EDWARDS)}
_TOKEN_FLAGS = bytes.fromhex("000000008000534b") + (2).to_bytes(8, "big")  # CKA_OS_TOKENFLAGS, a CK_ULONG
_CKF_USER_PIN_LOCKED = 0x40000


def module_path() -> str:
    """The SoftHSM2 PKCS#11 module: where Debian's package put it (``dpkg -L``), else a known path."""
    candidates: list[str] = []
    if shutil.which("dpkg"):
        listed = subprocess.run(
            ["dpkg", "-L", "libsofthsm2"], capture_output=True, text=True, check=False, timeout=30
        ).stdout
        candidates += [line for line in listed.splitlines() if line.endswith("/libsofthsm2.so")]
    for path in [*candidates, *_KNOWN_MODULES]:
        if os.path.isfile(path):
            return path
    raise AssertionError(
        f"SoftHSM2 is not installed: apt-get install -y {APT_PACKAGE} (the README's test command installs it)"
    )


@dataclass
class SoftHsm:
    """One initialised SoftHSM2 token; ``uri(label)`` names a key on it (without its PIN, as always)."""

    folder: Path
    module: str
    label: str = "econsent-test"
    pin: str = "314159"
    so_pin: str = "27182818"
    _labels: set[str] = field(default_factory=set)

    def uri(self, label: str, *, with_module: bool = True) -> str:
        base = f"pkcs11:token={quote(self.label)};object={quote(label)};type=private"
        return base + (f"?module-path={self.module}" if with_module else "")

    def session(self) -> Any:
        """A read-write session logged in as the user (the caller closes it)."""
        token = pkcs11.lib(self.module).get_token(token_label=self.label)
        try:
            return token.open(rw=True, user_pin=self.pin)
        except pkcs11.UserAlreadyLoggedIn:  # a signer of this process is logged in already
            return token.open(rw=True)

    def generate(self, algorithm: str, label: str, **private: Any) -> str:
        """A new key pair on the token, sensitive and never extractable unless ``private`` says otherwise."""
        curve, key_type = _CURVES[algorithm]
        key_id = len(self._labels).to_bytes(2, "big") + label.encode()[:14]
        self._labels.add(label)
        template = {
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
        }
        template.update({getattr(Attribute, name.upper()): value for name, value in private.items()})
        with self.session() as session:
            params = session.create_domain_parameters(
                key_type, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True
            )
            mechanism = Mechanism.EC_EDWARDS_KEY_PAIR_GEN if key_type is KeyType.EC_EDWARDS else None
            params.generate_keypair(store=True, label=label, id=key_id, mechanism=mechanism, private_template=template)
        return self.uri(label)

    def private_attributes(self, label: str, *names: Attribute) -> dict[Attribute, Any]:
        with self.session() as session:
            key = session.get_key(ObjectClass.PRIVATE_KEY, label=label)
            return {name: key[name] for name in names}

    def mark_user_pin_locked(self) -> None:
        """Set CKF_USER_PIN_LOCKED in this token's stored flags, as a real HSM reports a PIN locked after
        too many wrong tries (SoftHSM2 keeps counting but never locks, so the state is written directly)."""
        for path in (self.folder / "tokens").glob("*/token.object"):
            data = bytearray(path.read_bytes())
            if self.label.encode().ljust(32) not in data:
                continue
            at = data.index(_TOKEN_FLAGS) + len(_TOKEN_FLAGS)
            flags = int.from_bytes(data[at : at + 8], "big") | _CKF_USER_PIN_LOCKED
            data[at : at + 8] = flags.to_bytes(8, "big")
            path.write_bytes(bytes(data))
            return
        raise AssertionError(f"no token {self.label} under {self.folder}")


def start(folder: Path) -> SoftHsm:
    """Configure SoftHSM2 to keep its tokens under ``folder`` (for this process and its children) and
    initialise two tokens there before any process loads the module: the one returned, and one whose user
    PIN is locked (:data:`LOCKED_LABEL`)."""
    if shutil.which("softhsm2-util") is None:
        raise AssertionError(
            f"softhsm2-util is missing: apt-get install -y {APT_PACKAGE} (the README's test command installs it)"
        )
    module = module_path()
    (folder / "tokens").mkdir(parents=True, exist_ok=True)
    config = folder / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n",
        encoding="utf-8",
    )
    os.environ["SOFTHSM2_CONF"] = str(config)
    hsm = SoftHsm(folder, module)
    _init_token(hsm.label, hsm.pin, hsm.so_pin)
    locked = SoftHsm(folder, module, label=LOCKED_LABEL)
    _init_token(locked.label, locked.pin, locked.so_pin)
    locked.mark_user_pin_locked()
    return hsm


def _init_token(label: str, pin: str, so_pin: str) -> None:
    result = subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", pin],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
