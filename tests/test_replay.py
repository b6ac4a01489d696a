"""Replay: no different-looking copy of a presentation gets past the replay cache (docs/security.md, "Replay").

A copy of someone's code can differ from the original in four places, and each is closed:

* the QR image (another size, error-correction level, photo, JPEG): it carries the same text, so the
  same fingerprint (``REPLAYED``);
* the text (case, whitespace, leading zeros, other digit characters, another prefix): exactly one text
  per payload is accepted, every other form is ``MALFORMED`` or ``UNSUPPORTED_VERSION`` (never a
  second valid copy);
* the msgpack encoding (any item in a longer form, map entries reordered): exactly one encoding is
  accepted, every other is ``MALFORMED``;
* the signature bytes (ECDSA (r, n - s), or the holder signing the same bytes again): the fingerprint
  covers the holder-signed bytes, not the signature, so ``REPLAYED``; a non-canonical Ed25519 S is
  refused outright.

test_verify.py has the basic cases (same text twice, re-signed and malleated copies, until stale); this
file covers every way to re-encode, counters that share a cache, relaying to another counter, and the
cache's capacity.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econsent import (
    MemoryReplayCache,
    Policy,
    SigningKey,
    TrustStore,
    VerificationError,
    Verifier,
    _wire,
    present,
)
from econsent._envelope import PRESENTATION_CONTEXT, presentation_fingerprint

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493
SECOND = dt.timedelta(seconds=1)


def code_of(verifier: Verifier, text: Any, now: dt.datetime, nonce: bytes | None = None) -> str:
    """'valid' or the rejection code."""
    try:
        verifier.verify(text, now=now, nonce=nonce)
    except VerificationError as error:
        return error.code.value
    return "valid"


@pytest.fixture
def seen(trust: TrustStore, presentation: str, now: dt.datetime) -> Verifier:
    """A counter whose replay cache has already seen ``presentation``."""
    verifier = Verifier(trust, replay_cache=MemoryReplayCache())
    verifier.verify(presentation, now=now)
    return verifier


# --- 1. the image -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ecc", "module_px", "form"),
    [("L", 3, "PNG"), ("M", 8, "PNG"), ("H", 5, "PNG"), ("Q", 6, "JPEG"), ("M", 4, "BMP")],
)
def test_another_image_of_the_same_code_is_replayed(
    seen: Verifier, presentation: str, now: dt.datetime, ecc: str, module_px: int, form: str
) -> None:
    from econsent import qr

    image = qr.render_image(presentation, ecc=ecc, module_px=module_px).convert("L")
    buffer = io.BytesIO()
    image.save(buffer, format=form)
    assert qr.scan(buffer.getvalue()) == [presentation]
    with pytest.raises(VerificationError) as caught:
        qr.verify_image(seen, buffer.getvalue(), now=now + 3 * SECOND)
    assert caught.value.code.value == "REPLAYED"


# --- 2. the text ------------------------------------------------------------------------------------


def _digits(text: str) -> str:
    return text.removeprefix("EC1:")


TEXT_COPIES: dict[str, Callable[[str], str]] = {
    "lowercase prefix": lambda t: "ec1:" + _digits(t),
    "mixed-case prefix e": lambda t: "eC1:" + _digits(t),
    "mixed-case prefix c": lambda t: "Ec1:" + _digits(t),
    "Cyrillic look-alike prefix": lambda t: "\u0415\u04211:" + _digits(t),
    "fullwidth prefix": lambda t: "\uff25\uff23\uff11:" + _digits(t),
    "version with a leading zero": lambda t: "EC01:" + _digits(t),
    "one leading zero": lambda t: "EC1:0" + _digits(t),
    "many leading zeros": lambda t: "EC1:" + "0" * 30 + _digits(t),
    "leading space": lambda t: " " + t,
    "trailing space": lambda t: t + " ",
    "trailing newline": lambda t: t + "\n",
    "trailing CRLF": lambda t: t + "\r\n",
    "tab inside": lambda t: t[:50] + "\t" + t[50:],
    "zero-width space inside": lambda t: t[:50] + "\u200b" + t[50:],
    "no-break space after the prefix": lambda t: "EC1:\u00a0" + _digits(t),
    "NUL at the end": lambda t: t + "\x00",
    "BOM in front": lambda t: "\ufeff" + t,
    "plus sign": lambda t: "EC1:+" + _digits(t),
    "digit grouping with underscores": lambda t: (
        "EC1:" + "_".join(_digits(t)[i : i + 3] for i in range(0, 60, 3)) + _digits(t)[60:]
    ),
    "fullwidth digits": lambda t: "EC1:" + "".join(chr(0xFF10 + int(d)) for d in _digits(t)),
    "Arabic-Indic digits": lambda t: "EC1:" + "".join(chr(0x0660 + int(d)) for d in _digits(t)),
    "Devanagari digits": lambda t: "EC1:" + "".join(chr(0x0966 + int(d)) for d in _digits(t)),
    "one fullwidth digit": lambda t: t[:30] + chr(0xFF10 + int(t[30])) + t[31:],
    "sentinel 0x01 0x00": lambda t: "EC1:" + str(int.from_bytes(b"\x01\x00" + _wire.payload_from_text(t), "big")),
    "no sentinel": lambda t: "EC1:" + str(int.from_bytes(_wire.payload_from_text(t), "big")),
    "hexadecimal body": lambda t: "EC1:" + (b"\x01" + _wire.payload_from_text(t)).hex(),
    "uppercase hexadecimal body": lambda t: "EC1:" + (b"\x01" + _wire.payload_from_text(t)).hex().upper(),
}


@pytest.mark.parametrize("copy", TEXT_COPIES.values(), ids=TEXT_COPIES.keys())
def test_every_other_form_of_the_text_is_refused_outright(
    trust: TrustStore, seen: Verifier, presentation: str, now: dt.datetime, copy: Callable[[str], str]
) -> None:
    """Not merely REPLAYED: not a valid code at all, at any counter, seen before or not."""
    text = copy(presentation)
    assert text != presentation
    expected = {"MALFORMED", "UNSUPPORTED_VERSION"}
    assert code_of(Verifier(trust), text, now) in expected
    assert code_of(seen, text, now + SECOND) in expected


@st.composite
def cosmetic_copies(draw: st.DrawFn, text: str) -> str:
    """Several cosmetic edits at once: what a careless or hostile re-typing of a code could produce."""
    edits = draw(st.lists(st.sampled_from(sorted(TEXT_COPIES)), min_size=1, max_size=4))
    for name in edits:
        try:
            text = TEXT_COPIES[name](text)
        except (VerificationError, ValueError):  # an earlier edit left no decodable payload: keep what we have
            continue
    return text


@settings(derandomize=True, database=None, max_examples=200, deadline=None)
@given(data=st.data())
def test_no_combination_of_cosmetic_edits_makes_a_second_valid_text(
    trusted_key: Any, issuer_key: SigningKey, presentation: str, now: dt.datetime, data: st.DataObject
) -> None:
    text = data.draw(cosmetic_copies(presentation))
    if text != presentation:
        verifier = Verifier(TrustStore([trusted_key(issuer_key)]))
        assert code_of(verifier, text, now) in {"MALFORMED", "UNSUPPORTED_VERSION"}


def test_a_payload_has_exactly_one_text() -> None:
    """The decoder accepts only the text the encoder makes (also a fuzz invariant: tests/fuzz/targets.py)."""
    for payload in (b"", b"\x00", b"\x00\x00\x01", b"\xff" * 40, bytes(range(256))):
        text = _wire.text_from_payload(payload)
        assert _wire.payload_from_text(text) == payload
        assert _wire.text_from_payload(_wire.payload_from_text(text)) == text


# --- 3. the msgpack encoding ------------------------------------------------------------------------


def _items(data: bytes) -> list[tuple[int, int, str, int]]:
    """Every msgpack item of a payload: (offset, header length, kind, value or length)."""
    found: list[tuple[int, int, str, int]] = []

    def length(pos: int, size: int) -> int:
        return int.from_bytes(data[pos : pos + size], "big")

    def item(pos: int) -> int:
        b = data[pos]
        if b <= 0x7F:
            found.append((pos, 1, "uint", b))
            return pos + 1
        if b >= 0xE0:
            found.append((pos, 1, "int", b - 256))
            return pos + 1
        if 0x80 <= b <= 0x9F:
            count, kind = b & 0x0F, "map" if b < 0x90 else "array"
            found.append((pos, 1, kind, count))
            return children(pos + 1, count * (2 if kind == "map" else 1))
        if 0xA0 <= b <= 0xBF:
            found.append((pos, 1, "str", b & 0x1F))
            return pos + 1 + (b & 0x1F)
        if b in (0xC0, 0xC2, 0xC3):
            return pos + 1
        sized = {
            0xC4: ("bin", 1),
            0xC5: ("bin", 2),
            0xC6: ("bin", 4),
            0xD9: ("str", 1),
            0xDA: ("str", 2),
            0xDB: ("str", 4),
        }
        if b in sized:
            kind, size = sized[b]
            n = length(pos + 1, size)
            found.append((pos, 1 + size, kind, n))
            return pos + 1 + size + n
        ints = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}
        if b in ints:
            found.append((pos, 1 + ints[b], "uint", length(pos + 1, ints[b])))
            return pos + 1 + ints[b]
        signed = {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
        if b in signed:
            value = int.from_bytes(data[pos + 1 : pos + 1 + signed[b]], "big", signed=True)
            found.append((pos, 1 + signed[b], "int", value))
            return pos + 1 + signed[b]
        containers = {0xDC: ("array", 2), 0xDD: ("array", 4), 0xDE: ("map", 2), 0xDF: ("map", 4)}
        kind, size = containers[b]
        count = length(pos + 1, size)
        found.append((pos, 1 + size, kind, count))
        return children(pos + 1 + size, count * (2 if kind == "map" else 1))

    def children(pos: int, count: int) -> int:
        for _ in range(count):
            pos = item(pos)
        return pos

    assert item(0) == len(data)
    return found


def _headers(kind: str, value: int) -> set[bytes]:
    """Every msgpack header that encodes this item (the canonical one among them)."""
    forms: set[bytes] = set()
    if kind in ("uint", "int"):
        if 0 <= value <= 0x7F or -32 <= value < 0:
            forms.add(struct.pack(">b", value) if value < 0 else bytes([value]))
        for code, size in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
            if 0 <= value < 256**size:
                forms.add(bytes([code]) + value.to_bytes(size, "big"))
        for code, size in ((0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8)):
            if -(2 ** (8 * size - 1)) <= value < 2 ** (8 * size - 1):
                forms.add(bytes([code]) + value.to_bytes(size, "big", signed=True))
        return forms
    small = {"str": (0xA0, 32), "array": (0x90, 16), "map": (0x80, 16)}
    if kind in small and value < small[kind][1]:
        forms.add(bytes([small[kind][0] | value]))
    sized = {
        "str": ((0xD9, 1), (0xDA, 2), (0xDB, 4)),
        "bin": ((0xC4, 1), (0xC5, 2), (0xC6, 4)),
        "array": ((0xDC, 2), (0xDD, 4)),
        "map": ((0xDE, 2), (0xDF, 4)),
    }
    for code, size in sized[kind]:
        if value < 256**size:
            forms.add(bytes([code]) + value.to_bytes(size, "big"))
    return forms


def re_encodings(payload: bytes) -> Iterator[tuple[str, bytes]]:
    """The payload with one item in another valid msgpack encoding, for every item and every other form."""
    for offset, header_length, kind, value in _items(payload):
        canonical = payload[offset : offset + header_length]
        for header in sorted(_headers(kind, value) - {canonical}):
            yield f"{kind}@{offset}:{header[:1].hex()}", payload[:offset] + header + payload[offset + header_length :]


def test_the_re_encoder_knows_every_item_of_a_presentation(presentation: str) -> None:
    payload = _wire.payload_from_text(presentation)
    for _, header_length, kind, value in _items(payload):
        assert kind in ("uint", "int", "str", "bin", "array", "map")
        assert header_length >= 1 and value >= -(2**63)
    assert len(list(re_encodings(payload))) > 100


@pytest.mark.parametrize("holder", ["holder_key", "holder_key_ed25519"])
def test_every_re_encoding_of_a_presentation_is_refused_outright(
    request: pytest.FixtureRequest, issue_licence: Any, trust: TrustStore, now: dt.datetime, holder: str
) -> None:
    """Hundreds of copies, each with one item (integer, string, byte string, array, map header; the holder
    signature field included) in a longer encoding: all MALFORMED, even after the holder re-signs them."""
    key: SigningKey = request.getfixturevalue(holder)
    text = present(issue_licence(holder=key), key, now=now, profile="driving-check", nonce=b"n" * 16)
    payload = _wire.payload_from_text(text)
    counter = Verifier(trust, replay_cache=MemoryReplayCache())
    assert code_of(counter, text, now, b"n" * 16) == "valid"
    checked = 0
    for name, copy in re_encodings(payload):
        results = {code_of(Verifier(trust), _wire.text_from_payload(copy), now, b"n" * 16)}
        results.add(code_of(counter, _wire.text_from_payload(copy), now, b"n" * 16))
        if copy[-66:-64] == b"\xc4\x40":  # the holder re-signs what a re-encoding left of its signed bytes
            resigned = copy[:-64] + key.sign(PRESENTATION_CONTEXT + copy[:-66])
            results.add(code_of(Verifier(trust), _wire.text_from_payload(resigned), now, b"n" * 16))
        assert results == {"MALFORMED"}, name
        checked += 1
    assert checked > 100


def test_map_entries_in_another_order_are_refused(
    forge: Any, issue_licence: Any, holder_key: SigningKey, trust: TrustStore, now: dt.datetime
) -> None:
    text = present(issue_licence(), holder_key, now=now, disclose=["family_name", "licence_number", "address"])
    fields = forge.decode(text)
    assert len(fields[2]) >= 2 and len(fields[3]) >= 2
    for element in (2, 3):
        swapped = list(fields)
        swapped[element] = dict(reversed(list(fields[element].items())))
        assert code_of(Verifier(trust), forge.sign_holder(swapped, holder_key), now) == "MALFORMED"


# --- 4. the signature bytes -------------------------------------------------------------------------


def test_malleated_and_re_signed_copies_share_the_fingerprint(presentation: str, holder_key: SigningKey) -> None:
    payload = _wire.payload_from_text(presentation)
    r, s = payload[-64:-32], int.from_bytes(payload[-32:], "big")
    malleated = payload[:-32] + (P256_ORDER - s).to_bytes(32, "big")
    resigned = payload[:-64] + holder_key.sign(PRESENTATION_CONTEXT + payload[:-66])
    fingerprints = {presentation_fingerprint(p[:-66]) for p in (payload, malleated, resigned)}
    assert len({payload, malleated, resigned}) == 3 and len(fingerprints) == 1
    assert r == malleated[-64:-32]


def test_a_malleated_issuer_signature_breaks_the_holder_signature(
    presentation: str, seen: Verifier, trust: TrustStore, forge: Any, now: dt.datetime
) -> None:
    """The issuer signature lies inside the holder-signed bytes: without the holder key, no copy there."""
    fields = forge.decode(presentation)
    signature = fields[4]
    fields[4] = signature[:32] + (P256_ORDER - int.from_bytes(signature[32:], "big")).to_bytes(32, "big")
    copy = forge.text(fields)
    assert code_of(Verifier(trust), copy, now) == "BAD_HOLDER_SIGNATURE"


def _s_plus_order(signature: bytes) -> bytes:
    """An Ed25519 signature R || S with S + L in place of S: the same point equation, a non-canonical S."""
    s = int.from_bytes(signature[32:], "little")
    return signature[:32] + (s + ED25519_ORDER).to_bytes(32, "little")


def test_ed25519_signatures_with_a_non_canonical_s_are_refused(
    issue_licence: Any,
    issuer_key_ed25519: SigningKey,
    holder_key_ed25519: SigningKey,
    trust: TrustStore,
    forge: Any,
    now: dt.datetime,
) -> None:
    """RFC 8032 requires S < L; a verifier that reduced S mod L would accept a second copy of each code."""
    text = present(issue_licence(issuer_key=issuer_key_ed25519, holder=holder_key_ed25519), holder_key_ed25519, now=now)
    payload = _wire.payload_from_text(text)
    assert holder_key_ed25519.sign(PRESENTATION_CONTEXT + payload[:-66]) == payload[-64:]  # deterministic
    holder_copy = forge.text(payload[:-64] + _s_plus_order(payload[-64:]))
    assert code_of(Verifier(trust), holder_copy, now) == "BAD_HOLDER_SIGNATURE"
    fields = forge.decode(text)
    fields[4] = _s_plus_order(fields[4])
    issuer_copy = forge.sign_holder(fields, holder_key_ed25519)
    assert code_of(Verifier(trust), issuer_copy, now) == "BAD_ISSUER_SIGNATURE"


def test_ecdsa_signature_values_outside_one_to_n_are_refused(
    presentation: str, trust: TrustStore, forge: Any, now: dt.datetime
) -> None:
    payload = _wire.payload_from_text(presentation)
    r, s = int.from_bytes(payload[-64:-32], "big"), int.from_bytes(payload[-32:], "big")
    for bad_r, bad_s in ((r, 0), (0, s), (r, P256_ORDER), (P256_ORDER, s), (r, s + P256_ORDER), (2**256 - 1, s)):
        if bad_s >= 2**256:
            continue
        copy = payload[:-64] + bad_r.to_bytes(32, "big") + bad_s.to_bytes(32, "big")
        assert code_of(Verifier(trust), forge.text(copy), now) == "BAD_HOLDER_SIGNATURE"


# --- counters: a shared cache, relays, capacity -------------------------------------------------------


def test_counters_sharing_a_cache_refuse_a_code_relayed_between_them(
    trust: TrustStore, presentation: str, now: dt.datetime
) -> None:
    """The ReplayCache protocol is how a fleet shares what it has seen (one MemoryReplayCache stands in)."""
    shared = MemoryReplayCache()
    counter_a = Verifier(trust, replay_cache=shared)
    counter_b = Verifier(trust, Policy(required_claims=("family_name",)), replay_cache=shared)
    assert code_of(counter_a, presentation, now) == "valid"
    assert code_of(counter_b, presentation, now + 10 * SECOND) == "REPLAYED"


def test_a_relayed_code_is_refused_by_another_counter_when_bound_to_its_audience_or_nonce(
    present_licence: Callable[..., str], trust: TrustStore, now: dt.datetime
) -> None:
    counter_a = Policy(audience="huangpu-07")
    counter_b = Policy(audience="pudong-02")
    for_a = present_licence(audience="huangpu-07", nonce=b"challenge-of-a-16")
    assert code_of(Verifier(trust, counter_a), for_a, now, b"challenge-of-a-16") == "valid"
    assert code_of(Verifier(trust, counter_b), for_a, now, b"challenge-of-a-16") == "AUDIENCE_MISMATCH"
    assert code_of(Verifier(trust, counter_a), for_a, now, b"challenge-of-b-16") == "NONCE_MISMATCH"


def test_an_unbound_code_relayed_to_a_counter_with_its_own_cache_verifies_there(
    trust: TrustStore, presentation: str, now: dt.datetime
) -> None:
    """The documented limit (docs/security.md): without a shared cache, a nonce or an audience, a copy
    shown at another counter within its lifetime verifies there. Binding is how a counter closes it."""
    assert code_of(Verifier(trust, replay_cache=MemoryReplayCache()), presentation, now) == "valid"
    assert code_of(Verifier(trust, replay_cache=MemoryReplayCache()), presentation, now + SECOND) == "valid"


def test_the_cache_keeps_every_code_until_it_is_stale_within_its_capacity() -> None:
    cache = MemoryReplayCache(capacity=3)
    for i in range(3):
        assert not cache.check_and_add(bytes([i]) * 32, keep_until=100 + i, now=0)
    assert all(cache.check_and_add(bytes([i]) * 32, keep_until=100 + i, now=50) for i in range(3))
    assert len(cache) == 3
    assert not cache.check_and_add(b"\x09" * 32, keep_until=300, now=102)  # entries 0 and 1 are stale
    assert len(cache) == 2


def test_a_full_cache_still_refuses_every_code_it_holds() -> None:
    """Regression: a full cache evicted its earliest entry before looking the code up, so a replay of the
    oldest code it held was accepted (and, once full, on every check)."""
    cache = MemoryReplayCache(capacity=3)
    for i in range(3):
        cache.check_and_add(bytes([i]) * 32, keep_until=100 + i, now=0)
    for _ in range(2):
        assert all(cache.check_and_add(bytes([i]) * 32, keep_until=100 + i, now=1) for i in range(3))
    assert len(cache) == 3


def test_a_full_cache_drops_the_code_that_expires_first() -> None:
    """The documented capacity limit: a verifier shown more distinct codes than its capacity within one
    lifetime forgets the one that expires first. 100,000 by default: size it to the codes a verifier sees
    in a lifetime plus the leeway, or share a larger cache."""
    cache = MemoryReplayCache(capacity=2)
    cache.check_and_add(b"a" * 32, keep_until=100, now=0)
    cache.check_and_add(b"b" * 32, keep_until=200, now=0)
    cache.check_and_add(b"c" * 32, keep_until=300, now=0)
    assert len(cache) == 2
    assert cache.check_and_add(b"b" * 32, keep_until=200, now=1)
    assert cache.check_and_add(b"c" * 32, keep_until=300, now=1)
    assert not cache.check_and_add(b"a" * 32, keep_until=100, now=1)
    assert MemoryReplayCache()._capacity == 100_000
