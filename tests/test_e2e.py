"""End to end through real images and both real decoders: issue, show as PNG/JPEG, scan, verify."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import pytest
from camera import camera_frame
from PIL import Image

from econsent import (
    ATTESTED_OUT_OF_BAND,
    ErrorCode,
    Issuer,
    IssuerName,
    MemoryReplayCache,
    SigningKey,
    TrustedKey,
    TrustStore,
    VerificationError,
    Verifier,
    present,
    qr,
)

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
CLAIMS = {
    "family_name": "张",
    "given_name": "伟",
    "vehicle_classes": ("C1", "D"),
    "expiry_date": dt.date(2029, 1, 15),
    "birth_date": dt.date(1985, 3, 14),
    "licence_number": "310101198503140012",
    "issue_date": dt.date(2019, 1, 15),
    "issuing_authority": "上海市公安局交通警察总队",
    "address": "上海市黄浦区豫园街道人民路一二三弄四号五零二室",
}


@pytest.fixture(scope="module")
def setup() -> tuple[TrustStore, str]:
    """A trust store and the QR text of a full presentation made at NOW."""
    issuer_key = SigningKey.generate("ES256")
    holder_key = SigningKey.generate("ES256")
    credential = Issuer(issuer_key).issue(
        "driving-licence",
        CLAIMS,
        holder_key=holder_key.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=NOW - dt.timedelta(days=1),
        valid_until=NOW + dt.timedelta(days=365),
        now=NOW,
    )
    trust = TrustStore(
        [
            TrustedKey(
                issuer_key.public_key,
                IssuerName("上海市公安局交通警察总队", "Shanghai Traffic Police"),
                frozenset({"driving-licence"}),
                NOW - dt.timedelta(days=30),
                NOW + dt.timedelta(days=3650),
            )
        ]
    )
    return trust, present(credential, holder_key, now=NOW, lifetime=60)


def _jpeg(text: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    qr.render_image(text, module_px=6).convert("L").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
@pytest.mark.parametrize("form", ["png-file", "png-bytes", "jpeg-file", "pil"])
def test_each_decoder_reads_the_code_back_exactly_and_it_verifies(
    setup: tuple[TrustStore, str], tmp_path: Path, backend: str, form: str
) -> None:
    trust, text = setup
    if form == "png-file":
        image: object = tmp_path / "code.png"
        (tmp_path / "code.png").write_bytes(qr.render_png(text))
    elif form == "png-bytes":
        image = qr.render_png(text)
    elif form == "jpeg-file":
        image = tmp_path / "code.jpg"
        (tmp_path / "code.jpg").write_bytes(_jpeg(text, quality=70))
    else:
        image = Image.open(io.BytesIO(qr.render_png(text)))
    assert qr.scan(image, backends=(backend,)) == [text]
    verdict = Verifier(trust).verify(text, now=NOW + dt.timedelta(seconds=10))
    assert dict(verdict.claims) == CLAIMS


def test_verify_image_scans_a_photo_file_and_verifies_it(setup: tuple[TrustStore, str], tmp_path: Path) -> None:
    trust, text = setup
    verifier = Verifier(trust)
    path = tmp_path / "code.jpg"
    path.write_bytes(_jpeg(text, quality=50))
    verdict = qr.verify_image(verifier, path, now=NOW + dt.timedelta(seconds=10))
    assert verdict.claims["address"] == CLAIMS["address"]
    assert verdict.expires_at == NOW + dt.timedelta(seconds=60)


def test_verify_takes_text_only_and_names_verify_image_for_an_image(
    setup: tuple[TrustStore, str], tmp_path: Path
) -> None:
    path = tmp_path / "code.png"
    path.write_bytes(qr.render_png(setup[1]))
    with pytest.raises(VerificationError) as caught:
        Verifier(setup[0]).verify(path, now=NOW)  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.MALFORMED
    assert "econsent.qr.verify_image" in caught.value.detail


def test_a_camera_like_frame_verifies(setup: tuple[TrustStore, str]) -> None:
    trust, text = setup
    verifier = Verifier(trust)
    frame = camera_frame(text, seed=7, px_per_module=5.0)
    assert qr.verify_image(verifier, frame, now=NOW).credential_type == "driving-licence"


def test_replay_of_a_photographed_code_is_refused(setup: tuple[TrustStore, str]) -> None:
    trust, text = setup
    verifier = Verifier(trust, replay_cache=MemoryReplayCache())
    first = qr.verify_image(verifier, qr.render_png(text), now=NOW)
    assert first.presented_at == NOW
    with pytest.raises(VerificationError) as caught:
        qr.verify_image(verifier, _jpeg(text, quality=80), now=NOW + dt.timedelta(seconds=5))
    assert caught.value.code is ErrorCode.REPLAYED


def test_image_without_a_code_is_no_qr_code(setup: tuple[TrustStore, str]) -> None:
    verifier = Verifier(setup[0])
    buffer = io.BytesIO()
    Image.new("L", (200, 200), 255).save(buffer, format="PNG")
    with pytest.raises(VerificationError) as caught:
        qr.verify_image(verifier, buffer.getvalue(), now=NOW)
    assert caught.value.code is ErrorCode.NO_QR_CODE


def test_unreadable_image_bytes_are_no_qr_code_not_a_crash(setup: tuple[TrustStore, str]) -> None:
    verifier = Verifier(setup[0])
    with pytest.raises(VerificationError) as caught:
        qr.verify_image(verifier, b"\x89PNG\r\n\x1a\n broken", now=NOW)
    assert caught.value.code is ErrorCode.NO_QR_CODE


def test_full_licence_fits_version_14(setup: tuple[TrustStore, str]) -> None:
    _, text = setup
    assert qr.qr_version(text, ecc="M") <= 14


def test_import_econsent_loads_no_imaging_or_decoder_library() -> None:
    """The library, the app developer's modules, every qr module and the CLI import nothing heavy."""
    code = (
        "import sys, econsent, econsent.issue, econsent.verify, econsent.wallet, econsent.cli\n"
        "import econsent.qr.render, econsent.qr.images, econsent.qr.decoders, econsent.qr.scanner\n"
        "import econsent.qr._worker, econsent.qr.camera, econsent.qr.verify\n"
        "heavy = {'PIL', 'qrcode', 'pyzbar', 'zxingcpp', 'numpy'} & {m.split('.')[0] for m in sys.modules}\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
