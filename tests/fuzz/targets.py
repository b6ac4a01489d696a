"""What each fuzz harness runs on one input, and the invariants it checks.

A target returns normally when econsent behaved: it verified, or it refused with its own error. Anything
else is a finding: a foreign exception escaping the public API (the scanner would crash), or an
``AssertionError`` from a broken invariant, above all **a code that verifies although nobody with a key
made it** (forged or replayed). The same functions replay ``regressions/`` in the normal test run
(``tests/test_fuzz_regressions.py``), so they import nothing that needs atheris.

The first byte of an input selects a mode (the seeds in ``world.py`` use every mode):

* ``text``: ``t`` QR text (UTF-8, surrogates allowed), ``p`` payload bytes, ``c`` a stored credential.
* ``verify``: 0 the payload as sent (nobody re-signs: nothing may verify but the genuine codes, which the
  replay cache has already seen), 1 the holder re-signs it (a lying holder), 2 issuer and holder re-sign
  it (a stolen issuer key or a buggy issuer: reaches every check after the signatures). Bit 2 of the
  mode byte passes the verifier's nonce, bit 3 selects a permissive policy (bearer, audience, warn).
* ``trust_list``: 0 a signed list file, 1 a list payload signed by the pinned anchor, 2 a local trust
  store file, 3 a JWKS document, 4 an X.509 certificate, 5 a PEM key.
* ``status_list``: 0 a status list file, 1 the same re-signed by the issuer (reaches inflation).
* ``wallet``: 0 a vault file, 1 a plaintext body sealed under the harness's key (a hostile backup whose
  passphrase the victim was given).
* ``scan``: 0 encoded image bytes, 1 raw gray pixels, 2 a text rendered as a QR code; each scanned and
  verified as a counter would.
* ``dcc`` (EU DCC, ``HC1:``): 0 QR text, 1 a COSE message as sent (nobody re-signs: only the genuine
  code may verify), 2 CWT claims signed by the trusted DSC (reaches every check after the signature),
  3 a protected header signed by the DSC over the genuine claims (reaches the header checks).
* ``shc`` (SMART Health Cards, ``shc:/``): 0 QR text, 1 a compact JWS as sent, 2 card JSON signed by the
  trusted issuer, 3 a JWS header signed over the genuine card, 4 a ``.smart-health-card`` file.

Every verdict and every refusal of ``dcc`` and ``shc`` is also drawn as a terminal card, which must hold
no control, bidi or separator character (whatever the code carried).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import msgpack
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from world import (
    AUDIENCE,
    CHEAP_KDF,
    NONCE,
    NOW,
    PASSPHRASE,
    SHC_ISSUER,
    TYPES,
    World,
    dcc_genuine,
    payload_of,
    qr_text_of_jws,
    world,
)
from world import (
    dcc as dcc_world,
)
from world import (
    shc as shc_world,
)

from econsent import (
    EconsentError,
    KeyLoadError,
    Policy,
    PublicKey,
    SigningKey,
    StatusFallback,
    TrustStore,
    TrustStoreError,
    VerificationError,
    Verifier,
    _wire,
    read_credential_unverified,
)
from econsent._envelope import (
    CREDENTIAL_CONTEXT,
    PRESENTATION_CONTEXT,
    STATUS_LIST_CONTEXT,
)
from econsent._terminal import printable
from econsent._vault import (
    VaultKind,
    _pack_header,
    derive_key,
    read_header,
)
from econsent.card import render_card_text
from econsent.errors import CredentialError, WalletError
from econsent.formats import DccFormat, DccTrust, ShcFormat, ShcTrust, read_health_card_file
from econsent.formats import dcc as dcc_steps
from econsent.formats import shc as shc_steps
from econsent.keys import public_keys_from_jwks
from econsent.model import Verdict
from econsent.status import StatusListCache, StatusListError, load_status_list, read_status_list_unverified
from econsent.trust import TrustLists, read_trust_list
from econsent.verify import _disclosed_claims
from econsent.wallet import MemoryStorage, Wallet

_SIGNATURE_FIELD = 66


class _State:
    """Per-process state: verifiers whose replay cache has seen every genuine presentation."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.strict = w.verifier(replay=True)
        self.permissive = w.verifier(
            Policy(accept_bearer=True, audience=AUDIENCE, unknown_status=StatusFallback.WARN, max_lifetime=86_400),
            replay=True,
        )
        self.genuine_signed: set[bytes] = set()
        self.genuine_bearer: set[bytes] = set()
        for text in w.presentations.values():
            wire = _wire.decode_payload(payload_of(text))
            if wire.proof is None:
                self.genuine_bearer.add(payload_of(text)[:-64])
            else:
                self.genuine_signed.add(wire.proof.signed_bytes)
            for verifier in (self.strict, self.permissive):
                for nonce in (None, NONCE):
                    with contextlib.suppress(VerificationError):
                        verifier.verify(text, now=NOW, nonce=nonce)
        self.lists = TrustLists([w.anchor.public_key])
        self.lists.update(w.trust_list)
        self.list_digests = {info.digest for info in self.lists.held()}
        self.tmp = Path(tempfile.mkdtemp(prefix="econsent-fuzz-"))
        atexit.register(shutil.rmtree, self.tmp, ignore_errors=True)
        self.wallet_key = derive_key(PASSPHRASE, CHEAP_KDF, bytes(16))


_state: _State | None = None


def state() -> _State:
    global _state
    if _state is None:
        _state = _State(world())
    return _state


# ------------------------------------------------------------------------------------------- text


def text(data: bytes) -> None:
    """Text form and payload decoding: only VerificationError; one text per payload; header bytes round-trip."""
    mode, body = data[:1], data[1:]
    if mode == b"t":
        qr_text = body.decode("utf-8", "surrogateescape")
        try:
            payload = _wire.payload_from_text(qr_text)
        except VerificationError:
            return
        if len(payload) <= _wire.MAX_PAYLOAD_BYTES:
            assert _wire.text_from_payload(payload) == qr_text, "two texts decode to the same payload"
        _decode(payload)
    elif mode == b"p":
        _decode(body)
    elif mode == b"c":
        try:
            credential = read_credential_unverified(body, types=TYPES)
        except CredentialError:
            return
        assert credential.encoded == body


def _decode(payload: bytes) -> None:
    try:
        wire = _wire.decode_payload(payload)
    except VerificationError:
        return
    assert _wire.pack(wire.header.to_wire()) == wire.header_bytes, "parsed header differs from the signed bytes"
    assert [_wire.pack(value) for value in wire.values] == wire.value_bytes
    if wire.proof is not None:
        assert payload[: len(wire.proof.signed_bytes)] == wire.proof.signed_bytes
        assert payload[len(wire.proof.signed_bytes) :] == b"\xc4\x40" + wire.proof.signature


# ----------------------------------------------------------------------------------------- verify


def verify(data: bytes) -> None:
    """Verification: a Verdict or VerificationError; without keys, nothing but the genuine codes verifies."""
    if not data:
        return
    s = state()
    mode, payload = data[0], data[1:]
    signing = mode & 3
    nonce = NONCE if mode & 4 else None
    verifier = s.permissive if mode & 8 else s.strict
    payload = payload[: _wire.MAX_PAYLOAD_BYTES + 16]  # longer texts are TOO_LARGE before anything is parsed
    if signing == 2:
        payload = _resign_issuer(s.w, payload)
    if signing >= 1:
        payload = _resign_holder(s.w, payload)
    qr_text = "EC1:" + str(int.from_bytes(b"\x01" + payload, "big"))
    try:
        verdict = verifier.verify(qr_text, now=NOW, nonce=nonce)
    except VerificationError:
        return
    _check_verdict(verdict)
    if signing == 0:
        wire = _wire.decode_payload(payload)
        if wire.proof is None:
            assert payload[:-64] in s.genuine_bearer, "a bearer code nobody signed verified"
        else:
            assert wire.proof.signed_bytes not in s.genuine_signed, "a replayed code verified"
            raise AssertionError("a presentation nobody signed verified")


def _check_verdict(verdict: Verdict) -> None:
    ctype = TYPES.by_name(verdict.credential_type)
    assert ctype is not None
    assert set(verdict.claims) <= set(ctype.claim_names)
    assert not set(verdict.claims) & set(verdict.withheld)
    json.dumps(verdict.to_json(), ensure_ascii=False)  # what the CLI prints
    repr(verdict)


def _resign_issuer(w: World, payload: bytes) -> bytes:
    """Re-make the issuer signature over whatever header and disclosure the payload holds (when it parses)."""
    try:
        wire = _wire.decode_payload(payload)
        ctype = TYPES.by_id(wire.header.type_id)
        if ctype is None:
            return payload
        signer = w.issuer_for(wire.header.kid)
        if signer is None:
            return payload
        _, _, root = _disclosed_claims(wire, ctype, signer.algorithm.hash_suite)  # the issuer key's suite
    except VerificationError:
        return payload
    fields = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    fields[4] = signer.sign(CREDENTIAL_CONTEXT + wire.header_bytes + root)
    return _wire.pack(fields)


def _resign_holder(w: World, payload: bytes) -> bytes:
    try:
        wire = _wire.decode_payload(payload)
    except VerificationError:
        return payload
    signer = w.holder_for(wire.header.holder_key)
    if wire.proof is None or signer is None:
        return payload
    return payload[:-64] + signer.sign(PRESENTATION_CONTEXT + payload[:-_SIGNATURE_FIELD])


# ------------------------------------------------------------------------------------- trust lists


def trust_list(data: bytes) -> None:
    """Trust lists, trust stores and key imports: only TrustStoreError / KeyLoadError; no unsigned list is held."""
    if not data:
        return
    s = state()
    mode, body = data[0] % 6, data[1:]
    try:
        if mode == 0:
            info = s.lists.update(body)
            assert info.digest in s.list_digests, "a trust list the anchor did not sign was accepted"
        elif mode == 1:
            _anchor_signed(s, body)
        elif mode == 2:
            path = s.tmp / "trust.json"
            path.write_bytes(body)
            _use_store(s, TrustStore.load(path))
        elif mode == 3:
            try:
                document = json.loads(body)
            except (ValueError, RecursionError):
                return
            for key in public_keys_from_jwks(document):
                assert key.is_on_curve() in (True, False)
        elif mode == 4:
            key, start, end = PublicKey.from_certificate(body)
            assert start.tzinfo is not None and end.tzinfo is not None
            PublicKey.from_certificate(body, ca=body, at=start)
        else:
            with contextlib.suppress(KeyLoadError):
                PublicKey.from_pem(body)
            SigningKey.from_pem(body)
    except (TrustStoreError, KeyLoadError):
        return


def _anchor_signed(s: _State, payload: bytes) -> None:
    """Wrap a payload in an envelope signed by the pinned anchor, as a (buggy) anchor would."""
    envelope = {
        "format": "econsent-trust-list",
        "version": 1,
        "anchor": s.w.anchor.public_key.kid.hex(),
        "payload": base64.urlsafe_b64encode(payload).rstrip(b"=").decode(),
        "signature": base64.urlsafe_b64encode(s.w.anchor.sign(b"econsent/v1 trust-list\x00" + payload))
        .rstrip(b"=")
        .decode(),
    }
    data = json.dumps(envelope).encode()
    store = read_trust_list(data, [s.w.anchor.public_key])
    _use_store(s, store)
    lists = TrustLists([s.w.anchor.public_key])
    lists.update(s.w.trust_list)
    lists.update(data)


def _use_store(s: _State, store: TrustStore) -> None:
    """A verifier built on the store verifies or refuses a genuine code, and the store re-serialises."""
    for key in store:
        key.to_json()
    TrustStore.from_json(json.loads(json.dumps(store.to_json())))
    verifier = Verifier(store, types=TYPES, status_lists=StatusListCache())
    for name in ("name", "ed25519"):
        with contextlib.suppress(VerificationError):
            _check_verdict(verifier.verify(s.w.presentations[name], now=NOW))


# ------------------------------------------------------------------------------------ status lists


def status_list(data: bytes) -> None:
    """Status lists: only StatusListError; nothing the issuer did not sign loads; succession rules hold."""
    if not data:
        return
    s = state()
    mode, body = data[0] & 1, data[1:]
    if mode == 1 and len(body) >= _SIGNATURE_FIELD and body[-_SIGNATURE_FIELD:-64] == b"\xc4\x40":
        body = body[:-64] + s.w.issuer.sign(STATUS_LIST_CONTEXT + body[:-_SIGNATURE_FIELD])
    with contextlib.suppress(StatusListError):
        read_status_list_unverified(body)
    try:
        loaded = load_status_list(body, s.w.trust)
    except StatusListError:
        return
    if mode == 0:
        assert body[:-64] == s.w.status_list[:-64], "a status list the issuer did not sign was loaded"
    counts = loaded.counts()
    assert sum(counts.values()) == loaded.size
    for index in {0, loaded.size - 1, 4, 5}:
        if index < loaded.size:
            loaded.status(index)
    cache = s.w.status_cache()
    try:
        cache.add(loaded)
    except StatusListError:
        return
    verifier = Verifier(s.w.trust, types=TYPES, status_lists=cache)
    for name in ("name", "revoked"):
        with contextlib.suppress(VerificationError):
            _check_verdict(verifier.verify(s.w.presentations[name], now=NOW))


# ------------------------------------------------------------------------------------------ wallet


def wallet(data: bytes) -> None:
    """Wallet files and backups: only EconsentError (WalletError, CredentialError), whatever the bytes say."""
    if not data:
        return
    s = state()
    mode, body = data[0] & 1, data[1:]
    if mode == 1:
        body = _seal_plaintext(s, body)
    try:
        header = read_header(body)
    except WalletError:
        return
    if header.params != CHEAP_KDF:  # a costlier KDF is bounded (test_limits) but would only slow the fuzzer
        return
    try:
        opened = Wallet.open(MemoryStorage(body), PASSPHRASE, types=TYPES)
    except WalletError:
        return
    _use_wallet(opened)
    try:
        target = Wallet.create(MemoryStorage(), "another passphrase", kdf=CHEAP_KDF, types=TYPES)
        target.import_backup(body, PASSPHRASE)
    except EconsentError:
        pass


def _seal_plaintext(s: _State, plaintext: bytes) -> bytes:
    nonce = bytes(12)
    header = _pack_header(VaultKind.WALLET, s.wallet_key, nonce, len(plaintext) + 16)
    return header + AESGCM(s.wallet_key._encryption).encrypt(nonce, plaintext, header)


def _use_wallet(opened: Wallet) -> None:
    try:
        entries = opened.entries(now=NOW)
    except EconsentError:
        return
    for entry in entries:
        json.dumps(entry.to_json(), ensure_ascii=False)
        repr(entry)
        with contextlib.suppress(EconsentError):
            opened.credential(entry.entry_id)
        with contextlib.suppress(EconsentError):
            opened.present(entry.entry_id, now=NOW)
        with contextlib.suppress(EconsentError):
            opened.show(entry.entry_id, clock=lambda: NOW).current(NOW)
    repr(opened)
    opened.pending_keys()


# -------------------------------------------------------------------------------------------- scan


def scan(data: bytes) -> None:
    """Image scanning at a counter: qr.verify_image gives a Verdict or VerificationError only.

    Mode 0: encoded image bytes (Pillow's parsers, the size checks). Mode 1: raw gray pixels, a width byte
    then rows (the decoders on arbitrary pixels). Mode 2: any text rendered as a QR code and scanned back,
    which must read back as exactly that text.
    """
    from econsent import qr

    if not data:
        return
    s = state()
    mode, body = data[0] % 3, data[1:]
    image: Any = body
    if mode == 1:
        import numpy

        width = 16 + (body[0] if body else 0)
        rows = (len(body) - 1) // width
        if rows < 1:
            return
        image = numpy.frombuffer(body[1 : 1 + rows * width], dtype=numpy.uint8).reshape(rows, width)
    elif mode == 2:
        text = body.decode("utf-8", "replace")
        try:
            image = qr.render_image(text, module_px=2, border=2)
        except qr.QRError:
            return
        assert qr.scan(image) == [text], "a rendered code does not read back as its text"
    try:
        qr.verify_image(s.strict, image, now=NOW)
    except VerificationError:
        return
    raise AssertionError("an image verified, but its only genuine code was already seen")


# ---------------------------------------------------------------------------------- foreign formats


class _Foreign:
    """A verifier that trusts the test DSC and the test SHC issuer (with its CRL), and nothing of econsent."""

    def __init__(self) -> None:
        self.dcc, self.shc = dcc_world(), shc_world()
        dsc = DccTrust()
        dsc.add_certificates(self.dcc.der, country="AT")
        issuers = ShcTrust()
        issuers.add_jwks(SHC_ISSUER, {"keys": [self.shc.jwk]})
        issuers.add_crl(SHC_ISSUER, self.shc.crl())
        self.shc_format = ShcFormat(issuers)
        self.verifier = Verifier(TrustStore([]), formats=[DccFormat(dsc), self.shc_format])
        self.warning = Verifier(
            TrustStore([]),
            Policy(unknown_status=StatusFallback.WARN, required_claims=("birth_date",)),
            formats=[DccFormat(DccTrust([])), ShcFormat(ShcTrust())],
        )
        self.dcc_genuine = {dcc_steps.read_cose(cose).signed_bytes() for cose in dcc_genuine()}
        self.shc_genuine = self.shc.jws(self.shc.header(), self.shc.card())


_foreign: _Foreign | None = None


def foreign() -> _Foreign:
    global _foreign
    if _foreign is None:
        _foreign = _Foreign()
    return _foreign


def _answer(call: Any) -> Verdict | None:
    """Run one verification: a Verdict, or None for a refusal; either is drawn as a terminal card."""
    try:
        verdict = call()
    except VerificationError as exc:
        _check_card(exc)
        return None
    json.dumps(verdict.to_json(), ensure_ascii=False)
    _check_card(verdict)
    return verdict  # type: ignore[no-any-return]


def _check_card(subject: Verdict | VerificationError) -> None:
    card = render_card_text(subject, now=NOW)
    for line in card.splitlines():
        assert printable(line) == line, f"a card line carries a control character: {line!r}"


def dcc(data: bytes) -> None:
    """EU DCCs: a Verdict or VerificationError only; without the DSC's key nothing but the genuine code verifies."""
    if not data:
        return
    f = foreign()
    mode, body = data[0] % 4, data[1:]
    if mode == 0:
        text = body.decode("utf-8", "surrogateescape")
    elif mode == 1:
        text = f.dcc.text(body)
    elif mode == 2:
        text = f.dcc.text(f.dcc.cose(f.dcc.protected(), body))
    else:
        text = f.dcc.text(f.dcc.cose(body, f.dcc.claims()))
    verdict = _answer(lambda: f.verifier.verify(text, now=NOW))
    _answer(lambda: f.warning.verify(text, now=NOW))
    if verdict is not None and mode < 2:
        cose = dcc_steps.read_cose(dcc_steps.decompress(dcc_steps.base45_decode(dcc_steps.strip_prefix(text))))
        assert cose.signed_bytes() in f.dcc_genuine, "a DCC nobody signed verified"


def shc(data: bytes) -> None:
    """SMART Health Cards: a Verdict or VerificationError only; without the key only the genuine card verifies."""
    if not data:
        return
    f = foreign()
    mode, body = data[0] % 5, data[1:]
    text = body.decode("utf-8", "surrogateescape")
    if mode == 4:
        try:
            jwss = read_health_card_file(body)
        except VerificationError:
            return
        for jws in jwss:
            verdict = _answer(lambda jws=jws: f.shc_format.verify_jws(jws, now=NOW, nonce=None, policy=Policy()))
            assert verdict is None or jws == f.shc_genuine, "a card file nobody signed verified"
        return
    if mode == 1:
        jws = text
    elif mode == 2:
        jws = f.shc.jws(f.shc.header(), body)
    elif mode == 3:
        jws = f.shc.jws(body, f.shc.card())
    else:
        jws = None
    qr_text = text if jws is None else qr_text_of_jws(jws) if jws.isascii() else "shc:/" + jws
    verdict = _answer(lambda: f.verifier.verify(qr_text, now=NOW))
    _answer(lambda: f.warning.verify(qr_text, now=NOW))
    if jws is not None:
        _answer(lambda: f.shc_format.verify_jws(jws, now=NOW, nonce=None, policy=Policy()))
    if verdict is not None and mode < 2:
        signed = shc_steps.read_jws(shc_steps.jws_from_qr_text(qr_text)).signed_bytes
        assert signed == shc_steps.read_jws(f.shc_genuine).signed_bytes, "a card nobody signed verified"


TARGETS: dict[str, Any] = {
    "text": text,
    "verify": verify,
    "trust_list": trust_list,
    "status_list": status_list,
    "wallet": wallet,
    "scan": scan,
    "dcc": dcc,
    "shc": shc,
}


def run_file(harness: str, path: str | os.PathLike[str]) -> None:
    """Replay one saved input through its harness's target (what the regression test does)."""
    TARGETS[harness](Path(path).read_bytes())
