"""The external suites (``../shared/testdata``): every EU DCC case and every SMART Health Card case.

DCC: each case runs with its own signer certificate and validation clock. Each expectation flag that
names a verifier step is checked against the matching step of ``econsent.formats.dcc`` (the flag table
of shared/testdata/README.md), and the case runs end to end through :class:`econsent.Verifier`. Where
econsent disagrees with the suite, the case must be listed with the reason in
``tests/formats_disagreements.json``; a listed case that agrees fails too, so the list cannot grow or
go stale silently. SHC: every row of ``manifests/shc-cases.csv`` has econsent's expected result below,
and the disagreements with the manifest's recommended verdicts are listed in the same file.

Without ``../shared/testdata`` every test here is skipped with a reason. ``python
tests/test_formats_suites.py`` prints the agreement tables.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import functools
import hashlib
import json
import re
import sys
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from econsent import (
    Algorithm,
    ErrorCode,
    Policy,
    SigningKey,
    TrustStore,
    TrustStoreError,
    VerificationError,
    Verifier,
    qr,
)
from econsent.formats import DccFormat, DccTrust, DscEntry, ShcFormat, ShcTrust, read_health_card_file
from econsent.formats import dcc as dcc_steps
from econsent.formats import shc as shc_steps

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
DCC_ROOT = TESTDATA / "dcc"
SHC_ROOT = TESTDATA / "shc"
MANIFESTS = TESTDATA / "manifests"
DISAGREEMENTS_FILE = Path(__file__).with_name("formats_disagreements.json")
ABSENT = f"the external test suites are not at {TESTDATA}"

# Flags naming a verifier step, grouped by stage; SCHEMAVALIDATION (JSON schema, value sets and business
# rules), VALIDOBJECT and ENCODE (issuer-side) are not econsent's checks and are reported as not evaluated.
STAGES: dict[str, tuple[str, ...]] = {
    "picture": ("PICTUREDECODE",),
    "decode": ("UNPREFIX", "B45DECODE", "COMPRESSION", "DECODE", "VALIDJSON"),
    "signature": ("VERIFY",),
    "expiry": ("EXPIRATIONCHECK",),
    "key usage": ("KEYUSAGE",),
}
EVALUATED = tuple(flag for flags in STAGES.values() for flag in flags)
# Flags whose `false` means the code itself must be refused (PICTUREDECODE is about the image, VALIDJSON
# about the test file's own JSON and CBOR fields, not about the signed code).
VERDICT_FLAGS = (
    "UNPREFIX",
    "B45DECODE",
    "COMPRESSION",
    "DECODE",
    "VERIFY",
    "EXPIRATIONCHECK",
    "KEYUSAGE",
    "SCHEMAVALIDATION",
)


@functools.cache
def disagreements() -> dict[str, Any]:
    return json.loads(DISAGREEMENTS_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _listed(section: str) -> dict[str, tuple[str, Any]]:
    """case -> (reason, detail) for one section of the disagreement file."""
    listed: dict[str, tuple[str, Any]] = {}
    for group in disagreements()[section]:
        for case, detail in group["cases"].items():
            assert case not in listed, f"{case} is listed twice in {section}"
            listed[case] = (group["reason"], detail)
    return listed


def _params(items: list[str]) -> list[Any]:
    if not items:
        return [pytest.param(None, marks=pytest.mark.skip(reason=ABSENT))]
    return items


# --- EU DCC -------------------------------------------------------------------------------------------


def dcc_case_paths() -> list[str]:
    if not DCC_ROOT.is_dir():
        return []
    paths = [
        p.relative_to(DCC_ROOT).as_posix()
        for p in DCC_ROOT.rglob("*.json")
        if "ehn-dcc-schema" not in p.parts and p.relative_to(DCC_ROOT).as_posix() != "6.json"
    ]
    return sorted([*paths, "QR"])


def country(case: str) -> str:
    return "QR (root file)" if case == "QR" else case.split("/")[0]


def validation_clock(text: str) -> int:
    """VALIDATIONCLOCK as whole Unix seconds: any fraction length, Z, +hh:mm, +hhmm, or no zone (UTC)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?", text.strip())
    assert match is not None, text
    base, _, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    return int(dt.datetime.fromisoformat(base + zone).timestamp())


def _normalised(value: Any) -> Any:
    """JSON values for comparison: date-times as UTC seconds, numbers as floats, maps order-free."""
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normalised(item) for item in value]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?", value):
        text = value.replace("Z", "+00:00")
        moment = dt.datetime.fromisoformat(re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text))
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


class DccCase:
    """One dgc-testdata case, with econsent's outcome for each step the case's flags name."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads((DCC_ROOT / path).read_text(encoding="utf-8"))
        self.context: dict[str, Any] = self.data["TESTCTX"]
        self.flags: dict[str, bool] = {
            key.removeprefix("EXPECTED"): value
            for key, value in self.data.get("EXPECTEDRESULTS", {}).items()
            if isinstance(value, bool) and key.startswith("EXPECTED")
        }
        self.clock = validation_clock(self.context["VALIDATIONCLOCK"])
        self.signer = DscEntry(base64.b64decode(self.context["CERTIFICATE"]))
        self.trust = DccTrust([self.signer])

    def field(self, name: str) -> Any:
        return self.data.get(name)

    def cose_bytes(self) -> bytes:
        if self.field("COSE"):
            return bytes.fromhex(self.field("COSE"))
        compressed = self.field("COMPRESSED")
        if compressed:
            return dcc_steps.decompress(bytes.fromhex(compressed))
        return dcc_steps.decompress(dcc_steps.base45_decode(dcc_steps.strip_prefix(self.field("PREFIX"))))

    def cwt(self) -> dcc_steps.CwtClaims:
        return dcc_steps.read_cwt(dcc_steps.read_cose(self.cose_bytes()).payload)

    def step(self, flag: str) -> bool | None:
        """econsent's outcome for the step a flag names (None: the case lacks the fields it needs)."""
        runner = getattr(self, f"_step_{flag.lower()}")
        try:
            return bool(runner())
        except VerificationError:
            return False
        except _NotApplicableError:
            return None

    def _step_picturedecode(self) -> bool:
        if not self.field("2DCODE") or not self.field("PREFIX"):
            raise _NotApplicableError
        try:
            texts = qr.scan(base64.b64decode(self.field("2DCODE")))
        except Exception:  # an unreadable picture is the failure this flag expects (Q1)
            return False
        return self.field("PREFIX") in texts

    def _step_unprefix(self) -> bool:
        if not self.field("PREFIX"):
            raise _NotApplicableError
        body = dcc_steps.strip_prefix(self.field("PREFIX"))
        return self.field("BASE45") is None or body == self.field("BASE45")

    def _step_b45decode(self) -> bool:
        if not self.field("BASE45"):
            raise _NotApplicableError
        decoded = dcc_steps.base45_decode(self.field("BASE45"))
        return not self.field("COMPRESSED") or decoded.hex() == self.field("COMPRESSED").lower()

    def _step_compression(self) -> bool:
        compressed = self.field("COMPRESSED")
        if compressed:
            raw = bytes.fromhex(compressed)
        elif self.field("BASE45"):
            raw = dcc_steps.base45_decode(self.field("BASE45"))
        else:
            raise _NotApplicableError
        cose = dcc_steps.decompress(raw)
        return not self.field("COSE") or cose == bytes.fromhex(self.field("COSE"))

    def _step_verify(self) -> bool:
        cose = dcc_steps.read_cose(self.cose_bytes())
        return dcc_steps.find_signer(cose, self.trust, {"ES256", "PS256"}) is self.signer

    def _step_decode(self) -> bool:
        hcert = self.cwt().hcert
        document = self.field("JSON")
        return document is None or _normalised(hcert) == _normalised(document)

    def _step_validjson(self) -> bool:
        if not self.field("CBOR") or self.field("JSON") is None:
            raise _NotApplicableError
        value = dcc_steps.cbor_loads(bytes.fromhex(self.field("CBOR")), "the CBOR field")
        if isinstance(value, dict) and -260 in value:
            value = value[-260][1]
        return bool(_normalised(value) == _normalised(self.field("JSON")))

    def _step_expirationcheck(self) -> bool:
        dcc_steps.check_times(self.cwt(), self.signer, self.clock, Policy().clock_leeway)
        return True

    def _step_keyusage(self) -> bool:
        dcc_steps.check_key_usage(self.cwt(), self.signer)
        return True

    def outcomes(self) -> dict[str, bool]:
        """econsent's outcome for each evaluated flag the case sets (steps it cannot run are left out)."""
        found = {}
        for flag in EVALUATED:
            if flag in self.flags:
                outcome = self.step(flag)
                if outcome is not None:
                    found[flag] = outcome
        return found

    def end_to_end(self) -> str:
        """``ACCEPT`` or the error code of the full verification of PREFIX at the case's clock."""
        verifier = Verifier(TrustStore([]), formats=[DccFormat(self.trust)])
        try:
            verifier.verify(self.field("PREFIX"), now=self.clock)
        except VerificationError as exc:
            return exc.code.value
        return "ACCEPT"

    def suite_verdict(self) -> str:
        return "REJECT" if any(self.flags.get(flag) is False for flag in VERDICT_FLAGS) else "ACCEPT"


class _NotApplicableError(Exception):
    """The case lacks the fields a step needs (the upstream harness skips the flag too)."""


@functools.cache
def dcc_case(path: str) -> DccCase:
    return DccCase(path)


@functools.cache
def dcc_results(path: str) -> tuple[dict[str, bool], str]:
    case = dcc_case(path)
    return case.outcomes(), case.end_to_end()


@pytest.mark.parametrize("path", _params(dcc_case_paths()))
def test_dcc_case_steps_agree_or_are_listed(path: str) -> None:
    case = dcc_case(path)
    outcomes, _ = dcc_results(path)
    differing = sorted(flag for flag, outcome in outcomes.items() if outcome != case.flags[flag])
    listed = _listed("dcc_steps").get(path)
    assert differing == (sorted(listed[1]) if listed else []), (
        f"{path}: econsent differs from the suite on {differing or 'nothing'}; "
        f"tests/formats_disagreements.json lists {listed[1] if listed else 'nothing'}"
    )


@pytest.mark.parametrize("path", _params(dcc_case_paths()))
def test_dcc_case_end_to_end_agrees_or_is_listed(path: str) -> None:
    case = dcc_case(path)
    _, result = dcc_results(path)
    agrees = (result == "ACCEPT") == (case.suite_verdict() == "ACCEPT")
    listed = _listed("dcc_end_to_end").get(path)
    if agrees:
        assert listed is None, f"{path} is listed as a disagreement but econsent agrees ({result})"
    else:
        assert listed is not None, f"{path}: suite says {case.suite_verdict()}, econsent {result}: list it"
        assert listed[1] == result, f"{path}: listed as {listed[1]}, econsent now says {result}"


def test_dcc_listed_cases_exist() -> None:
    if not DCC_ROOT.is_dir():
        pytest.skip(reason=ABSENT)
    known = set(dcc_case_paths())
    for section in ("dcc_steps", "dcc_end_to_end"):
        assert set(_listed(section)) <= known


def test_dcc_known_wrong_expectations_are_among_the_listed() -> None:
    """The README's known-wrong expectations show up as listed disagreements, not as silent passes."""
    if not DCC_ROOT.is_dir():
        pytest.skip(reason=ABSENT)
    steps = _listed("dcc_steps")
    assert {"ES/2DCode/raw/401.json", "ES/2DCode/raw/402.json", "ES/2DCode/raw/403.json"} <= set(steps)
    assert steps["ES/2DCode/raw/401.json"][1] == ["VERIFY"]
    assert {"FR/2DCode/raw/test_pcr_ok.json", "PL/1.3.0/2DCode/raw/1.json", "PL/1.3.0/2DCode/raw/5.json"} <= set(steps)


def test_dcc_png_renderings_verify_through_the_verifier() -> None:
    """The suite's own PNG files, scanned by econsent.qr and verified from the image path."""
    case_path = "AT/2DCode/raw/1.json"
    image = DCC_ROOT / "AT" / "png" / "1.png"
    if not image.is_file():
        pytest.skip(reason=ABSENT)
    case = dcc_case(case_path)
    assert qr.scan(image) == [case.field("PREFIX")]
    verdict = qr.verify_image(Verifier(TrustStore([]), formats=[DccFormat(case.trust)]), image, now=case.clock)
    assert verdict.format == "eu-dcc/1" and verdict.issuer.zh == "AT"


@pytest.mark.parametrize(
    "image",
    _params([p.relative_to(DCC_ROOT).as_posix() for p in sorted(DCC_ROOT.glob("[EMN][ETAO]/**/*.[Pp][Nn][Gg]"))]),
)
def test_dcc_png_only_folders_decode_but_have_no_signer(image: str) -> None:
    """EE, MA, MT and NO ship QR pictures without a certificate: they decode, and their key is unknown."""
    texts = qr.scan(DCC_ROOT / image)
    assert len(texts) == 1 and texts[0].startswith("HC1:")
    cose = dcc_steps.read_cose(dcc_steps.decompress(dcc_steps.base45_decode(dcc_steps.strip_prefix(texts[0]))))
    dcc_steps.read_cwt(cose.payload)
    with pytest.raises(VerificationError) as info:
        Verifier(TrustStore([]), formats=[DccFormat(DccTrust())]).verify(texts[0], now=0)
    assert info.value.code is ErrorCode.UNKNOWN_KEY


# --- SMART Health Cards ---------------------------------------------------------------------------------

SPEC_ISSUER = "https://spec.smarthealth.cards/examples/issuer"
BADCRL_ISSUER = "https://raw.githubusercontent.com/smart-on-fhir/health-cards-dev-tools/main/testdata/badcrl/"
SPEC_CLOCK = int(dt.datetime(2023, 6, 23, tzinfo=dt.UTC).timestamp())
SDK_CLOCK = int(dt.datetime(2022, 5, 31, tzinfo=dt.UTC).timestamp())
ACCEPT = "ACCEPT"
KEY_OK = "KEY-ACCEPTED"
KEY_REFUSED = "KEY-REFUSED"
NOT_EVALUATED = "NOT-EVALUATED"

# econsent's result for every manifest row: ACCEPT, an error code, KEY-ACCEPTED/KEY-REFUSED for issuer key
# sets, or NOT-EVALUATED with the reason (content-only rows carry no signature to verify).
UNSIGNED = "unsigned content: econsent verifies signed cards (the signed form of this card is its own row)"
FHIR_ONLY = "FHIR content only: econsent does not validate FHIR resources"
SHC_EXPECTED: dict[str, str] = {
    **{f"spec-0{n}-{kind}": UNSIGNED for n in range(4) for kind in ("bundle", "payload-expanded", "payload-minified")},
    **{f"spec-0{n}-{kind}": ACCEPT for n in (0, 1) for kind in ("jws", "file", "qrnumeric", "qr-svg")},
    "spec-02-jws": ACCEPT,
    "spec-02-file": ACCEPT,
    "spec-02-qrnumeric": "UNSUPPORTED_VERSION",
    "spec-02-qr-svg": "UNSUPPORTED_VERSION",
    **{f"spec-03-{kind}": "REVOKED" for kind in ("jws", "file", "qrnumeric", "qr-svg")},
    "spec-issuer-jwks": KEY_OK,
    "spec-issuer-crl": KEY_OK,
    "sdk-1195-byte-qrnumeric": ACCEPT,
    "sdk-qr-scaled-23": ACCEPT,
    "sdk-qr-scaled-85": ACCEPT,
    "sdk-file-multi-jws": ACCEPT,
    "sdk-fhirhealthcard": ACCEPT,
    "sdk-fhirhealthcard-multi-jws": ACCEPT,
    "sdk-fhirhealthcard-resource-link": ACCEPT,
    "sdk-issuer-directory": NOT_EVALUATED + ": econsent trusts the issuers it is given, not a directory",
    "sdk-nbf-not-yet-valid": "NOT_YET_VALID",
    "sdk-expired": "EXPIRED",
    "sdk-exp-milliseconds": "MALFORMED",
    "sdk-missing-imm-vc-type": ACCEPT,
    "sdk-missing-covid-vc-type": ACCEPT,
    "sdk-missing-lab-vc-type": ACCEPT,
    "sdk-optional-vc-type": ACCEPT,
    "sdk-unknown-vc-types": ACCEPT,
    "sdk-inflated-qr-v22": ACCEPT,
    "sdk-wrong-extension": ACCEPT,
    "sdk-wrong-multi-chunk-header": "UNSUPPORTED_VERSION",
    "sdk-bad-fhir-metadata": ACCEPT,
    "sdk-bundle-non-dm-properties": FHIR_ONLY,
    "sdk-bundle-bad-meta-extra-key": FHIR_ONLY,
    "sdk-bundle-bad-meta-non-security": FHIR_ONLY,
    "sdk-bundle-trailing-chars": FHIR_ONLY,
    "sdk-payload-trailing-chars": "MALFORMED",
    "sdk-jws-trailing-chars": "MALFORMED",
    "sdk-file-trailing-chars": "MALFORMED",
    "sdk-qrnumeric-trailing-chars": "MALFORMED",
    "sdk-jws-utf8-bom": "MALFORMED",
    "sdk-jws-example02-too-long": ACCEPT,
    "sdk-qr-chunk-too-small-png": "UNSUPPORTED_VERSION",
    "sdk-qr-17-chunks": "UNSUPPORTED_VERSION",
    "sdk-missing-coding": ACCEPT,
    "sdk-missing-shc-vc-type": "UNKNOWN_TYPE",
    "sdk-nbf-milliseconds": "MALFORMED",
    "sdk-pre-expired": "MALFORMED",
    "sdk-invalid-deflate": "MALFORMED",
    "sdk-no-deflate-file": "MALFORMED",
    "sdk-no-deflate-jws": "MALFORMED",
    "sdk-no-header-alg": "MALFORMED",
    "sdk-no-header-kid": "MALFORMED",
    "sdk-no-header-zip": "MALFORMED",
    "sdk-wrong-header-kid": "UNKNOWN_KEY",
    "sdk-invalid-signature": "BAD_ISSUER_SIGNATURE",
    "sdk-der-signature": "MALFORMED",
    "sdk-der-signature-r-neg": "MALFORMED",
    "sdk-der-signature-s-neg": "MALFORMED",
    "sdk-der-signature-rs-neg": "MALFORMED",
    "sdk-file-multi-jws-issues": "MALFORMED",
    "sdk-invalid-issuer-url": "UNKNOWN_KEY",
    "sdk-issuer-url-http": "UNKNOWN_KEY",
    "sdk-issuer-url-trailing-slash": "UNKNOWN_KEY",
    "sdk-bad-jwks": "UNKNOWN_KEY",
    "sdk-issuer-not-valid-with-smart-key": "UNKNOWN_KEY",
    "sdk-issuer-kid-mismatch": "UNKNOWN_KEY",
    "sdk-wrong-qr-header": "MALFORMED",
    "sdk-qr-odd-count": "MALFORMED",
    "sdk-qr-number-too-big": "MALFORMED",
    "sdk-missing-qr-chunk": "UNSUPPORTED_VERSION",
    "sdk-duplicated-qr-chunk": "UNSUPPORTED_VERSION",
    "sdk-qr-chunk-index-out-of-range": "UNSUPPORTED_VERSION",
    "sdk-qr-chunk-too-big": "UNSUPPORTED_VERSION",
    "sdk-qr-single-segment": ACCEPT,
    "sdk-qr-too-many-segments": "MALFORMED",
    "sdk-qr-bad-version": ACCEPT,
    "sdk-qr-corrupted": "NO_QR_CODE",
    "sdk-qr-double-stringified-payload": "UNKNOWN_KEY",  # signed by kid "verifymyidentity", not a trusted key
    "sdk-bundle-short-refs": FHIR_ONLY,
    "sdk-bundle-bad-meta-wrong-security": FHIR_ONLY,
    "sdk-bundle-profile-usa": FHIR_ONLY,
    "sdk-bundle-empty-values": FHIR_ONLY,
    "sdk-bundle-occurrence-issues": FHIR_ONLY,
    "sdk-bundle-status-not-completed": FHIR_ONLY,
    **{f"sdk-crl-{name}": KEY_REFUSED for name in ("invalid-method", "non-base64url-rid", "duplicate-rid")},
    **{f"sdk-crl-{name}": KEY_REFUSED for name in ("too-long-rid", "version-mismatch")},
    "sdk-crl-shared-issuer-key": KEY_OK,
    "sdk-key-valid": KEY_OK,
    "sdk-keys-valid": KEY_OK,
    "sdk-key-valid-x5c-3chain": KEY_OK,
    "sdk-key-valid-x5c-2chain": KEY_OK,
    **{
        f"sdk-key-{name}": KEY_REFUSED
        for name in ("wrong_kid_key", "wrong_curve_key", "wrong_use_key", "wrong_alg_key", "wrong_kty_key")
    },
    **{
        f"sdk-key-{name}": KEY_REFUSED
        for name in ("private_key", "invalid_DNS_SAN", "invalid_no_SAN", "cert_mismatch", "invalid_chain")
    },
    "sdk-unreferenced-jws-too-long": "MALFORMED",
    "sdk-unreferenced-file-jws-too-long": "MALFORMED",
    "sdk-smart-health-links": NOT_EVALUATED + ": SMART Health Links need the SDK's link server (out of scope)",
}
for _case, _value in list(SHC_EXPECTED.items()):
    if _value in (UNSIGNED, FHIR_ONLY):
        SHC_EXPECTED[_case] = f"{NOT_EVALUATED}: {_value}"

# SDK rows whose payload (an unsigned JSON file) is deflated as it is and signed by a test key trusted for
# the payload's own issuer, so that econsent's claim checks run on exactly the SDK's payload.
PAYLOAD_KINDS = ("jwspayload",)


def shc_rows() -> list[dict[str, str]]:
    manifest = MANIFESTS / "shc-cases.csv"
    if not manifest.is_file():
        return []
    with open(manifest, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def shc_case_ids() -> list[str]:
    return [row["case_id"] for row in shc_rows()]


@functools.cache
def spec_trust() -> ShcTrust:
    trust = ShcTrust()
    trust.load_issuer_folder(SPEC_ISSUER, SHC_ROOT / "examples" / "issuer")
    return trust


def _row(case_id: str) -> dict[str, str]:
    return next(row for row in shc_rows() if row["case_id"] == case_id)


def _files(row: dict[str, str]) -> list[Path]:
    return [SHC_ROOT / name.strip() for name in row["files"].split("+")]


def _clock(row: dict[str, str]) -> int:
    return SDK_CLOCK if row["clock"].startswith("2022-05-31") else SPEC_CLOCK


def _svg_image(path: Path) -> Any:
    """Rasterise the spec's QR SVGs (one stroked path of horizontal runs, as node-qrcode writes them)."""
    from PIL import Image, ImageDraw

    text = path.read_text(encoding="utf-8")
    side = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', text).group(1))  # type: ignore[union-attr]
    path_data = re.search(r'<path stroke="#000000" d="([^"]+)"', text).group(1)  # type: ignore[union-attr]
    scale = 6
    image = Image.new("L", (side * scale, side * scale), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for command, args in re.findall(r"([MmHhVv])([^MmHhVv]*)", path_data):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        elif command == "h":
            row = int(y)
            draw.rectangle([x * scale, row * scale, (x + numbers[0]) * scale - 1, (row + 1) * scale - 1], fill=0)
            x += numbers[0]
        else:
            raise AssertionError(f"unexpected SVG path command {command}")
    return image


class _TestIssuer:
    """A test key trusted for an issuer URL, to sign the SDK's unsigned payload files as they are."""

    def __init__(self, issuer: str) -> None:
        secret = int.from_bytes(hashlib.sha256(f"econsent SHC test issuer {issuer}".encode()).digest(), "big")
        private = ec.derive_private_key(secret, ec.SECP256R1())
        self.key = SigningKey(Algorithm.ES256, private)
        numbers = private.public_key().public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }
        jwk["kid"] = shc_steps.jwk_thumbprint(jwk)
        self.kid = jwk["kid"]
        self.trust = ShcTrust()
        self.trust.add_jwks(issuer, {"keys": [jwk]})

    def sign(self, payload: bytes) -> str:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        deflated = compressor.compress(payload) + compressor.flush()
        header = _b64(json.dumps({"zip": "DEF", "alg": "ES256", "kid": self.kid}, separators=(",", ":")).encode())
        body = f"{header}.{_b64(deflated)}"
        return f"{body}.{_b64(self.key.sign(body.encode()))}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _results(fn: Callable[[], Iterator[str]]) -> str:
    """Every result of a case (one per JWS, image or chunk) must be the same; that is the case's result."""
    try:
        found = set(fn())
    except VerificationError as exc:
        return exc.code.value
    assert len(found) == 1, found
    return found.pop()


def run_shc_case(case_id: str) -> str:
    row = _row(case_id)
    kind, files, now = row["input_type"], _files(row), _clock(row)
    if SHC_EXPECTED[case_id].startswith(NOT_EVALUATED):
        return SHC_EXPECTED[case_id]
    if case_id.startswith("sdk-crl-") and case_id != "sdk-crl-shared-issuer-key":
        return _run_bad_crl(case_id, files)
    if "issuer key" in kind or kind.startswith(("CRL", "issuer JWKS")):
        return _run_key_set(case_id, files)
    trust = spec_trust()
    if case_id == "sdk-issuer-kid-mismatch":
        trust = ShcTrust()
        trust.load_issuer_folder(SPEC_ISSUER, SHC_ROOT / "examples" / "issuer")
        trust.add_jwks("https://example.org/another-issuer", json.loads(files[1].read_text()))
        files = files[:1]
    if case_id == "sdk-bad-jwks":
        with pytest.raises(TrustStoreError):
            ShcTrust().load_issuer_folder("https://example.org/badjwks", files[1].parents[1])
        trust, files = ShcTrust(), files[:1]
    shc = ShcFormat(trust)
    verifier = Verifier(TrustStore([]), formats=[shc])

    def each() -> Iterator[str]:
        for file in files:
            if kind.startswith("jwspayload"):
                issuer = json.JSONDecoder().raw_decode(file.read_text(encoding="utf-8").lstrip())[0]["iss"]
                signer = _TestIssuer(issuer)
                jwss = [signer.sign(file.read_bytes())]
                shc_for = ShcFormat(signer.trust)
            elif kind.startswith(("jws", "healthcard", "FHIR")):
                data = file.read_bytes()
                jwss = list(read_health_card_file(data)) if kind.startswith(("healthcard", "FHIR")) else [data.decode()]
                shc_for = shc
            else:
                yield _verify_code(verifier, file, now)
                continue
            for jws in jwss:
                try:
                    shc_for.verify_jws(jws, now=now, nonce=None, policy=Policy())
                    yield ACCEPT
                except VerificationError as exc:
                    yield exc.code.value

    return _results(each)


def _verify_code(verifier: Verifier, file: Path, now: int) -> str:
    try:
        if file.suffix == ".txt":
            verifier.verify(file.read_text(encoding="utf-8"), now=now)
        elif file.suffix == ".svg":
            qr.verify_image(verifier, _svg_image(file), now=now)
        else:
            qr.verify_image(verifier, file, now=now)
    except VerificationError as exc:
        return exc.code.value
    return ACCEPT


def _run_key_set(case_id: str, files: list[Path]) -> str:
    trust = ShcTrust()
    issuer = "https://smarthealth.cards/examples/issuer" if "x5c" in case_id else SPEC_ISSUER
    try:
        if case_id == "spec-issuer-crl":
            trust.load_issuer_folder(SPEC_ISSUER, SHC_ROOT / "examples" / "issuer")
            assert trust.revocation_list(SPEC_ISSUER, files[0].stem) is not None
        elif case_id == "sdk-crl-shared-issuer-key":  # both files hold a single JWK, not a key set
            for file in files:
                trust.add_jwks(issuer, {"keys": [json.loads(file.read_text())]})
        else:
            trust.add_jwks(issuer, json.loads(files[0].read_text()))
    except TrustStoreError:
        return KEY_REFUSED
    return KEY_OK


def _run_bad_crl(case_id: str, files: list[Path]) -> str:
    """A malformed CRL is refused when the issuer is loaded; without it, a card with a rid has no known status."""
    name = case_id.removeprefix("sdk-crl-")
    issuer, folder = BADCRL_ISSUER + name, files[0].parent
    try:
        ShcTrust().load_issuer_folder(issuer, folder)
    except TrustStoreError:
        trust = ShcTrust()
        trust.add_jwks(issuer, json.loads(files[1].read_text()))
        jws = files[0].read_text()
        if shc_steps.read_payload(shc_steps.read_jws(jws)).rid is not None:
            with pytest.raises(VerificationError) as info:
                ShcFormat(trust).verify_jws(jws, now=SDK_CLOCK, nonce=None, policy=Policy())
            assert info.value.code is ErrorCode.STATUS_UNKNOWN
        return KEY_REFUSED
    return KEY_OK


def recommended(row: dict[str, str]) -> str | None:
    """The manifest's recommended verdict as ACCEPT/REJECT, or None when it leaves the choice open or N/A."""
    text = row["recommended_verifier_verdict"]
    if "or reject" in text or "or accept" in text or text.startswith(("N/A", "OUT OF SCOPE", "trust", "revocation")):
        return None
    if text.startswith(("ACCEPT", "public key", "directory")):
        return "ACCEPT"
    if text.startswith("REJECT"):
        return "REJECT"
    raise AssertionError(f"unparsed recommendation {text!r}")


def econsent_verdict(result: str) -> str | None:
    if result.startswith(NOT_EVALUATED):
        return None
    return "ACCEPT" if result in (ACCEPT, KEY_OK) else "REJECT"


@functools.cache
def shc_result(case_id: str) -> str:
    return run_shc_case(case_id)


def test_every_shc_manifest_row_has_an_expectation() -> None:
    if not shc_rows():
        pytest.skip(reason=ABSENT)
    assert set(shc_case_ids()) == set(SHC_EXPECTED)


@pytest.mark.parametrize("case_id", _params(shc_case_ids()))
def test_shc_case(case_id: str) -> None:
    result = shc_result(case_id)
    assert result == SHC_EXPECTED[case_id]
    row = _row(case_id)
    ours, theirs = econsent_verdict(result), recommended(row)
    listed = _listed("shc").get(case_id)
    if ours is None or theirs is None or ours == theirs:
        assert listed is None, f"{case_id} is listed as a disagreement but econsent agrees or it is not evaluated"
    else:
        assert listed is not None, f"{case_id}: manifest recommends {theirs}, econsent says {result}: list it"
        assert listed[1] == result, f"{case_id}: listed as {listed[1]}, econsent now says {result}"


# --- the tables -------------------------------------------------------------------------------------------


def dcc_table() -> str:
    per_country: dict[str, Counter[str]] = defaultdict(Counter)
    for path in dcc_case_paths():
        case, (outcomes, result) = dcc_case(path), dcc_results(path)
        counts = per_country[country(path)]
        counts["cases"] += 1
        for stage, flags in STAGES.items():
            for flag in flags:
                if flag in outcomes:
                    counts[f"{stage} n"] += 1
                    counts[f"{stage} ok"] += outcomes[flag] == case.flags[flag]
        counts["e2e ok"] += (result == "ACCEPT") == (case.suite_verdict() == "ACCEPT")
        counts["accepted"] += result == "ACCEPT"
        counts["schema n/e"] += "SCHEMAVALIDATION" in case.flags
    columns = ["decode", "signature", "expiry", "key usage", "picture"]
    lines = [
        "| folder | cases | "
        + " | ".join(columns)
        + " | end to end | econsent accepts | schema flags (not evaluated) |",
        "|---|---:|" + "---:|" * (len(columns) + 3),
    ]
    total: Counter[str] = Counter()
    for name in sorted(per_country, key=lambda c: (c.startswith("QR"), c != "common", c)):
        counts = per_country[name]
        total.update(counts)
        lines.append(_table_row(name, counts, columns))
    lines.append(_table_row("**total**", total, columns))
    return "\n".join(lines)


def _table_row(name: str, counts: Counter[str], columns: list[str]) -> str:
    cells = [f"{counts[c + ' ok']}/{counts[c + ' n']}" if counts[c + " n"] else "-" for c in columns]
    e2e = f"{counts['e2e ok']}/{counts['cases']}"
    return (
        f"| {name} | {counts['cases']} | "
        + " | ".join(cells)
        + f" | {e2e} | {counts['accepted']} | {counts['schema n/e']} |"
    )


def shc_table() -> str:
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for case_id in shc_case_ids():
        ours, theirs = econsent_verdict(shc_result(case_id)), recommended(_row(case_id))
        counts = groups["spec examples" if case_id.startswith("spec-") else "SDK test data"]
        counts["rows"] += 1
        if ours is None or theirs is None:
            counts["not compared"] += 1
        else:
            counts["compared"] += 1
            counts["agree"] += ours == theirs
    lines = [
        "| suite | rows | compared | agree | not compared (content only, open choice, out of scope) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, counts in groups.items():
        lines.append(
            f"| {name} | {counts['rows']} | {counts['compared']} | {counts['agree']} | {counts['not compared']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if not TESTDATA.is_dir():
        sys.exit(ABSENT)
    print(dcc_table())
    print()
    print(shc_table())
