"""``econsent serve``: the counter page and its JSON API, through Starlette's TestClient and a real browser.

The API tests drive :func:`econsent.web.create_app` around a real verifier; the CLI tests call
``econsent.cli.main``; the browser tests start ``python -m econsent serve`` and drive Debian's Chromium
through Playwright, its camera fed a Y4M video of a real presentation's QR code.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ISSUER_NAME, es256_test_key
from PIL import Image
from playwright.sync_api import expect, sync_playwright
from starlette.testclient import TestClient

from econsent import (
    ATTESTED_OUT_OF_BAND,
    Credential,
    ErrorCode,
    Issuer,
    MemoryReplayCache,
    Policy,
    TrustedKey,
    TrustStore,
    Verifier,
    _wire,
    card,
    present,
    qr,
    web,
)
from econsent.cli import main
from econsent.errors import EXIT_USAGE

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
NOW_ISO = "2026-11-27T09:00:20Z"
CHECKED = dt.datetime(2026, 11, 27, 9, 0, 20, tzinfo=dt.UTC)
HOSTILE = '<img src=x onerror="window.__pwned=1">\u202e<script>window.__pwned=2</script>'
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


class Office:
    """An issuer trusted by a trust store file, and a holder who makes fresh presentations."""

    def __init__(self, folder: Path, *, given_name: str = "伟") -> None:
        issuer_key = es256_test_key("serve issuer")
        self.holder_key = es256_test_key("serve holder")
        self.credential: Credential = Issuer(issuer_key).issue(
            "driving-licence",
            {
                "family_name": "张",
                "given_name": given_name,
                "vehicle_classes": ("C1", "D"),
                "expiry_date": dt.date(2029, 1, 15),
                "birth_date": dt.date(1985, 3, 14),
            },
            holder_key=self.holder_key.public_key,
            possession=ATTESTED_OUT_OF_BAND,
            valid_from=NOW - dt.timedelta(days=1),
            valid_until=NOW + dt.timedelta(days=365),
            now=NOW,
            serial=31000123,
        )
        self.store = TrustStore(
            [
                TrustedKey(
                    issuer_key.public_key,
                    ISSUER_NAME,
                    frozenset({"driving-licence"}),
                    NOW - dt.timedelta(days=30),
                    NOW + dt.timedelta(days=3650),
                )
            ]
        )
        self.trust = folder / "trust.json"
        self.store.save(self.trust)
        self._made = 0

    def code(self) -> str:
        """A fresh presentation of the driving-check profile (each a second later: each one distinct)."""
        self._made += 1
        made = NOW + dt.timedelta(seconds=self._made)
        return present(self.credential, self.holder_key, now=made, lifetime=60, profile="driving-check")


def tampered(text: str) -> str:
    """``text`` with its last payload byte (inside the holder's signature) changed."""
    payload = _wire.payload_from_text(text)
    return _wire.text_from_payload(payload[:-1] + bytes([payload[-1] ^ 0x01]))


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def office(tmp_path: Path) -> Office:
    return Office(tmp_path)


def client_for(
    office: Office, clock: Clock | None = None, now: Callable[[], dt.datetime] = lambda: CHECKED, **settings: Any
) -> TestClient:
    verifier = Verifier(office.store, Policy(), replay_cache=MemoryReplayCache())
    app = web.create_app(
        verifier,
        clock=now,
        settings=web.CounterSettings(**settings),
        allowed_hosts=("testserver",),
        monotonic=clock or Clock(),
    )
    return TestClient(app)


def png_of(text: str) -> bytes:
    return qr.render_png(text, ecc="L", module_px=6)


def assert_error_shape(document: dict[str, Any], code: str) -> None:
    assert set(document) >= {"ok", "code", "sentence", "sentence_zh", "detail"}
    assert document["ok"] is False and document["code"] == code
    assert document["sentence"] and document["sentence_zh"] and document["sentence"] != document["sentence_zh"]


# --- the JSON API --------------------------------------------------------------------------------------------------


def test_a_code_image_gets_the_verdict_scan_json_gives_with_both_sentences_and_labels(
    office: Office, capsys: pytest.CaptureFixture[str]
) -> None:
    text = office.code()
    answer = client_for(office).post("/verify", content=png_of(text), headers={"Content-Type": "image/png"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    document = answer.json()
    assert document["valid"] is True and document["ok"] is True and document["repeat"] is False
    assert document["claims"]["family_name"] == "张" and "birth_date" in document["withheld"]
    assert document["sentence_zh"] == card.result_json(Verifier(office.store).verify(text, now=CHECKED))["sentence_zh"]
    assert document["labels"]["claims"]["family_name"] == {"zh": "姓", "en": "Family name"}
    assert document["labels"]["type"] == {"zh": "机动车驾驶证", "en": "Driving licence"}
    assert document["checked_at"] == "2026-11-27T09:00:20Z"
    # The same fields as `econsent verify --json` (and `scan --json`, which prints through the same function).
    assert main(["verify", text, "--trust", str(office.trust), "--now", NOW_ISO, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {key: value for key, value in document.items() if key not in ("checked_at", "repeat", "labels")}


def test_a_tampered_code_is_rejected_with_its_reason_in_english_and_chinese(office: Office) -> None:
    answer = client_for(office).post(
        "/verify", content=png_of(tampered(office.code())), headers={"Content-Type": "image/png"}
    )
    assert answer.status_code == 200
    document = answer.json()
    assert_error_shape(document, "BAD_HOLDER_SIGNATURE")
    assert document["valid"] is False
    assert document["sentence_zh"] == ErrorCode.BAD_HOLDER_SIGNATURE.sentence_zh
    assert "labels" not in document and "claims" not in document


def test_an_image_without_a_code_is_not_read_rather_than_rejected(office: Office) -> None:
    blank = io.BytesIO()
    Image.new("L", (320, 240), 255).save(blank, format="PNG")
    answer = client_for(office).post("/verify", content=blank.getvalue(), headers={"Content-Type": "image/png"})
    assert answer.status_code == 200
    assert_error_shape(answer.json(), "NO_QR_CODE")
    garbage = client_for(office).post("/verify", content=b"\x89PNG not really", headers={"Content-Type": "image/png"})
    assert garbage.status_code == 200 and garbage.json()["code"] == "NO_QR_CODE"


def test_an_oversize_body_is_refused_before_it_is_read_whether_declared_or_streamed(office: Office) -> None:
    client = client_for(office, max_image_bytes=10_000)
    declared = client.post("/verify", content=b"\0" * 10_001, headers={"Content-Type": "image/png"})
    assert declared.status_code == 413
    assert_error_shape(declared.json(), "IMAGE_FILE_TOO_LARGE")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds while the body streams in
        for _ in range(100):
            yield b"\0" * 1000

    streamed = client.post("/verify", content=chunks(), headers={"Content-Type": "image/jpeg"})
    assert streamed.status_code == 413 and streamed.json()["code"] == "IMAGE_FILE_TOO_LARGE"
    text = client.post("/verify", content="9" * 100_000, headers={"Content-Type": "text/plain"})
    assert text.status_code == 413
    assert_error_shape(text.json(), "TOO_LARGE")
    lying = client.post("/verify", content=b"x", headers={"Content-Type": "image/png", "Content-Length": "1e9"})
    assert lying.status_code == 400 and lying.json()["code"] == "REQUEST"


def _asgi_request(app: Any, headers: list[tuple[bytes, bytes]], receive: Callable[[], Any]) -> Any:
    """One POST /verify straight to the ASGI app (no client in between to tidy the headers); its messages."""
    scope = {"type": "http", "method": "POST", "path": "/verify", "raw_path": b"/verify", "query_string": b"",
             "headers": [(b"host", b"testserver"), *headers], "http_version": "1.1", "scheme": "http",
             "server": ("testserver", 80), "client": ("127.0.0.1", 5000), "root_path": ""}  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> list[dict[str, Any]]:
        await app(scope, receive, send)
        return sent

    return run


def test_a_full_queue_refuses_an_image_before_reading_its_body_and_a_bad_length_is_typed(office: Office) -> None:
    """The queue bounds memory, not only work: with every place taken, the next image is answered 429 without a
    byte of its body read. A Content-Length of non-ASCII digits is a typed 400, not a foreign ValueError."""
    import anyio

    verifier = Verifier(office.store, Policy(), replay_cache=MemoryReplayCache())
    app = web.create_app(verifier, clock=lambda: CHECKED, settings=web.CounterSettings(scans_at_once=1, queue=0),
                         allowed_hosts=("testserver",), monotonic=Clock())  # fmt: skip
    png = [(b"content-type", b"image/png")]
    read_by_second: list[bool] = []

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        release = anyio.Event()

        async def slow_body() -> dict[str, Any]:  # the first image's body is still arriving
            await release.wait()
            return {"type": "http.request", "body": b"", "more_body": False}

        async def second_body() -> dict[str, Any]:
            read_by_second.append(True)
            return {"type": "http.request", "body": b"\0" * 1000, "more_body": False}

        async with anyio.create_task_group() as group:
            first: list[list[dict[str, Any]]] = []

            async def first_request() -> None:
                first.append(await _asgi_request(app, png, slow_body)())

            group.start_soon(first_request)
            await anyio.sleep(0.2)
            second = await _asgi_request(app, png, second_body)()
            release.set()
        bad_length = await _asgi_request(app, [*png, (b"content-length", "²".encode("latin-1"))], second_body)()
        return second, bad_length

    second, bad_length = anyio.run(scenario)
    assert second[0]["status"] == 429 and json.loads(second[1]["body"])["code"] == "REQUEST"
    assert read_by_second == []  # refused unread
    assert bad_length[0]["status"] == 400 and json.loads(bad_length[1]["body"])["code"] == "REQUEST"


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/pdf", 415),
        ("", 415),
        ("multipart/form-data; boundary=x", 415),
        ("text/plain; charset=latin-1", 415),
    ],
)
def test_a_wrong_content_type_is_refused_in_the_one_error_shape(office: Office, content_type: str, status: int) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = client_for(office).post("/verify", content=office.code().encode(), headers=headers)
    assert answer.status_code == status
    assert_error_shape(answer.json(), "REQUEST")
    assert "valid" not in answer.json()  # a refused request is no verdict on a code


def test_text_and_json_posts_verify_like_a_keyboard_wedge_scanner(office: Office) -> None:
    client = client_for(office)
    typed = client.post("/verify", content=office.code() + "\r\n", headers={"Content-Type": "text/plain"})
    assert typed.status_code == 200 and typed.json()["valid"] is True
    posted = client.post("/verify", json={"text": office.code()})
    assert posted.status_code == 200 and posted.json()["valid"] is True
    twice = json.dumps({"text": "EC1:1"})[:-1] + ", " + json.dumps({"text": office.code()})[1:]  # last key wins
    for body in ('{"text": 5}', '{"text": "EC1:1", "more": 1}', "[1]", "{", "[" * 100_00, twice, '{"text": NaN}'):
        answer = client.post("/verify", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code in (400, 413), body[:20]
        assert answer.json()["ok"] is False
    not_utf8 = client.post("/verify", content=b"EC1:\xff\xfe", headers={"Content-Type": "text/plain"})
    assert not_utf8.status_code == 400 and not_utf8.json()["code"] == "REQUEST"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("EC1:\x1b[2J\x1b[32mVALID", "MALFORMED"),
        ("EC1:" + "1" * 50, "MALFORMED"),
        ("hello <script>alert(1)</script>", "MALFORMED"),
        ("EC1:" + "1" * qr.MAX_TEXT_CHARS, "TOO_LARGE"),
        ("", "MALFORMED"),
    ],
)
def test_hostile_text_gets_a_typed_rejection_never_a_server_error(office: Office, text: str, code: str) -> None:
    answer = client_for(office).post("/verify", content=text.encode(), headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200
    assert_error_shape(answer.json(), code)
    assert answer.json()["valid"] is False


def test_a_hostile_claim_comes_back_as_data_and_json_escapes_what_a_terminal_would_obey(tmp_path: Path) -> None:
    hostile = Office(tmp_path, given_name=HOSTILE)
    answer = client_for(hostile).post("/verify", json={"text": hostile.code()})
    assert answer.json()["claims"]["given_name"] == HOSTILE
    assert "\u202e" not in answer.text  # escaped as \u202e in the JSON text; equal once parsed


def test_a_code_still_in_view_is_answered_again_and_one_shown_again_later_is_replayed(office: Office) -> None:
    clock = Clock()
    client = client_for(office, clock, hold=5.0)
    text = office.code()
    first = client.post("/verify", content=png_of(text), headers={"Content-Type": "image/png"}).json()
    clock.now += 4  # the next camera frames, the phone still held up
    again = client.post("/verify", content=text, headers={"Content-Type": "text/plain"}).json()
    assert first["valid"] is True and again["valid"] is True and again["repeat"] is True
    clock.now += 4  # still within 5 s of the last sighting
    assert client.post("/verify", json={"text": text}).json()["repeat"] is True
    clock.now += 6  # gone from view, then shown again: a replay
    replayed = client.post("/verify", json={"text": text}).json()
    assert replayed["code"] == "REPLAYED" and replayed["repeat"] is False
    other = client_for(office, Clock())  # a second server has its own replay cache: the code is new there
    assert other.post("/verify", json={"text": text}).json()["valid"] is True


def test_a_code_that_expires_while_in_view_is_no_longer_answered_valid(office: Office) -> None:
    moments = [CHECKED]
    client = client_for(office, Clock(), now=lambda: moments[0], hold=3600.0)
    text = office.code()  # made at 09:00:01, valid for 60 s
    assert client.post("/verify", json={"text": text}).json()["valid"] is True
    moments[0] = CHECKED + dt.timedelta(minutes=5)
    later = client.post("/verify", json={"text": text}).json()
    assert later["valid"] is False and later["repeat"] is False
    assert later["code"] in ("STALE_PRESENTATION", "REPLAYED")


def test_requests_for_another_host_or_from_another_page_are_refused(office: Office) -> None:
    client = client_for(office)
    rebound = client.post("/verify", json={"text": office.code()}, headers={"Host": "evil.example:8765"})
    assert rebound.status_code == 400 and rebound.json()["code"] == "REQUEST"
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
    foreign = client.post("/verify", json={"text": office.code()}, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403 and foreign.json()["code"] == "REQUEST"
    own = client.post("/verify", json={"text": office.code()}, headers={"Origin": "http://testserver"})
    assert own.status_code == 200


def test_the_page_is_offline_with_a_strict_policy_in_the_browsers_language(office: Office) -> None:
    client = client_for(office)
    english = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9,zh-CN;q=0.5"})
    assert english.status_code == 200 and '<html lang="en">' in english.text
    chinese = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert '<html lang="zh">' in chinese.text
    assert '<html lang="zh">' in client.get("/", headers={"Accept-Language": "fr-FR"}).text  # neither: --lang
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "zh;q=0.2, en;q=0.8"}).text
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "fr, en, zh"}).text  # order breaks ties
    assert '<html lang="zh">' in client.get("/", headers={"Accept-Language": "en;q=0, zh-TW;q=0.1"}).text
    policy = english.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "unsafe" not in policy
    assert english.headers["cache-control"] == "no-store" and english.headers["x-content-type-options"] == "nosniff"
    assets = [english.text] + [client.get(f"/static/{name}").text for name in ("counter.js", "counter.css")]
    assert all(not re.search(r"https?://", asset) for asset in assets)  # no CDN, no network: everything is here
    script = assets[1]
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script
    missing = client.get("/static/../../etc/passwd")
    assert missing.status_code == 404 and missing.json()["ok"] is False
    assert client.get("/verify").status_code == 405


def test_every_string_of_the_page_exists_in_chinese_and_english(office: Office) -> None:
    page = client_for(office).get("/").text
    block = re.search(r'<script id="strings" type="application/json">(.*?)</script>', page, re.S)
    assert block is not None
    tables = json.loads(block.group(1))
    assert set(tables) == {"en", "zh"} and set(tables["en"]) == set(tables["zh"]) and len(tables["en"]) > 20
    assert set(re.findall(r'data-text="(\w+)"', page)) <= set(tables["en"])
    for key, english in tables["en"].items():  # every word translated (the toggle names the other language)
        assert re.search(r"[\u4e00-\u9fff]", tables["zh"][key]) or key in ("otherLanguage", "listSeparator"), key
        assert re.findall(r"\{\w+\}", english) == re.findall(r"\{\w+\}", tables["zh"][key]), key
    assert "<" not in block.group(1)  # no claim or word can close the data block early


# --- the command line -------------------------------------------------------------------------------------------


def test_serve_refuses_a_network_address_without_allow_remote(
    office: Office, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--trust", str(office.trust), "--host", "0.0.0.0", "--port", "0"]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert "--allow-remote" in error and "Traceback" not in error


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--port", "0"], "--trust"),
        (["serve", "--port", "70000"], "70000"),
        (["serve", "--status-lists", "no-such-folder"], "no-such-folder"),
        (["serve", "--now", "2026-01-01"], "time zone"),
        (["serve", "--host", "no such host name..invalid", "--allow-remote"], "--host"),
    ],
)
def test_serve_usage_errors_exit_2_with_a_message(
    office: Office, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    trust = [] if argv[1:3] == ["--port", "0"] else ["--trust", str(office.trust)]
    assert main([*argv, *trust]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_serve_refuses_a_port_already_in_use(office: Office, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--trust", str(office.trust), "--port", str(port)]) == EXIT_USAGE
    assert f"port {port}" in capsys.readouterr().err


def test_only_the_serve_command_imports_the_web_app_and_econsent_does_not_import_starlette() -> None:
    import grimp

    graph = grimp.build_graph("econsent")
    assert graph.find_modules_that_directly_import("econsent.web") == {"econsent.cli.serve"}
    outside = {m for m in graph.modules if not m.startswith(("econsent.cli", "econsent.web", "econsent.__main__"))}
    assert not any(graph.chain_exists(importer=m, imported="econsent.web") for m in outside)
    probe = "import sys, econsent; print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


# --- a real browser ------------------------------------------------------------------------------------------------


def write_y4m(path: Path, text: str, *, frames: int = 10) -> None:
    """A 640x480 YUV 4:2:0 video (Y4M) whose every frame shows the QR code of ``text``, as a phone held up."""
    frame = Image.new("RGB", (640, 480), (235, 235, 235))
    code = qr.render_image(text, ecc=qr.SCREEN_ECC, module_px=6, border=qr.SCREEN_BORDER + 2).convert("RGB")
    frame.paste(code, ((640 - code.width) // 2, (480 - code.height) // 2))
    y, cb, cr = (np.asarray(plane, dtype=np.uint8) for plane in frame.convert("YCbCr").split())
    chroma = [plane.reshape(240, 2, 320, 2).mean(axis=(1, 3)).round().astype(np.uint8) for plane in (cb, cr)]
    body = b"FRAME\n" + y.tobytes() + chroma[0].tobytes() + chroma[1].tobytes()
    path.write_bytes(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n" + body * frames)


@pytest.fixture(scope="module")
def chromium() -> str:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install -y chromium)")
    return CHROMIUM


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ECONSENT_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Server:
    """``python -m econsent serve`` on 127.0.0.1, a free port it chose and printed."""

    def __init__(self, *argv: str) -> None:
        command = [sys.executable, "-m", "econsent", "serve", "--port", "0", "--now", NOW_ISO, *argv]
        self.process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        ready, _, _ = select.select([self.process.stderr], [], [], 60)
        line = self.process.stderr.readline() if ready else ""
        self.started_line = line
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if match is None:
            self.close()
            pytest.fail(f"econsent serve did not start: {line!r}")
        self.url = match.group(0)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
        if self.process.stderr is not None:
            self.process.stderr.close()


def test_the_start_line_is_in_the_clerks_language(office: Office) -> None:
    server = Server("--trust", str(office.trust), "--lang", "zh")
    try:
        assert "柜台页面" in server.started_line and server.url in server.started_line
    finally:
        server.close()


@pytest.fixture
def serve(office: Office) -> Iterator[Any]:
    servers: list[Server] = []

    def start(*argv: str) -> Server:
        servers.append(Server("--trust", str(office.trust), *argv))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def open_counter(chromium: str, url: str, video: Path | None, locale: str) -> tuple[Any, Any, Any]:

    playwright = sync_playwright().start()
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    if video is not None:
        args.append(f"--use-file-for-fake-video-capture={video}")
    browser = playwright.chromium.launch(executable_path=chromium, args=args)
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["camera"], origin=url.rstrip("/"))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(url)
    page.errors = errors  # type: ignore[attr-defined]
    return playwright, browser, page


def close_counter(playwright: Any, browser: Any) -> None:
    browser.close()
    playwright.stop()


def test_the_page_reads_the_camera_and_shows_valid_with_the_claims_in_both_languages(
    office: Office, serve: Any, chromium: str, screenshots: Path, tmp_path: Path
) -> None:
    video = tmp_path / "valid.y4m"
    write_y4m(video, office.code())
    server = serve()
    playwright, browser, page = open_counter(chromium, server.url, video, "en-US")
    try:
        expect(page.locator("#banner")).to_have_text("VALID", timeout=60_000)
        rows = page.inner_text("#rows")
        assert "Family name" in rows and "张" in rows and "伟" in rows and "C1, D" in rows
        assert "Shanghai Public Security Bureau" in rows and "expires in" in rows
        assert "Date of birth" in rows  # withheld, named
        assert page.get_attribute("#card", "class") == "card valid"
        page.screenshot(path=str(screenshots / "serve-valid-en.png"))
        page.click("#language")
        expect(page.locator("#banner")).to_have_text("有效", timeout=10_000)
        rows = page.inner_text("#rows")
        assert "姓" in rows and "张" in rows and "准驾车型" in rows and "上海市公安局交通警察总队" in rows
        assert "C1、D" in rows and "秒后失效" in rows and "出生日期" in rows
        page.screenshot(path=str(screenshots / "serve-valid-zh.png"))
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        close_counter(playwright, browser)


def test_a_tampered_code_on_the_camera_shows_the_red_card_with_the_reason(
    office: Office, serve: Any, chromium: str, screenshots: Path, tmp_path: Path
) -> None:
    video = tmp_path / "tampered.y4m"
    write_y4m(video, tampered(office.code()))
    server = serve()
    playwright, browser, page = open_counter(chromium, server.url, video, "zh-CN")
    try:
        expect(page.locator("#banner")).to_have_text("拒绝", timeout=60_000)
        assert page.inner_text("#reason") == ErrorCode.BAD_HOLDER_SIGNATURE.sentence_zh
        assert page.get_attribute("#card", "class") == "card rejected"
        assert page.inner_text("#rows").strip() == ""  # nothing of the code is shown as a claim
        page.screenshot(path=str(screenshots / "serve-rejected-zh.png"))
        page.click("#language")
        expect(page.locator("#banner")).to_have_text("REJECTED", timeout=10_000)
        assert page.inner_text("#reason") == ErrorCode.BAD_HOLDER_SIGNATURE.sentence
        page.screenshot(path=str(screenshots / "serve-rejected-en.png"))
    finally:
        close_counter(playwright, browser)


def test_photos_chosen_on_the_page_are_checked_and_a_photo_without_a_code_clears_the_card(
    office: Office, serve: Any, chromium: str, tmp_path: Path
) -> None:
    server = serve()
    playwright, browser, page = open_counter(chromium, server.url, None, "zh-CN")
    try:
        photo = tmp_path / "code.png"
        photo.write_bytes(png_of(office.code()))
        page.set_input_files("#photo", str(photo))
        expect(page.locator("#banner")).to_have_text("有效", timeout=30_000)
        blank = tmp_path / "blank.png"
        Image.new("L", (400, 300), 255).save(blank)
        page.set_input_files("#photo", str(blank))  # the next citizen's unreadable photo
        expect(page.locator("#banner")).to_have_text("无法识别", timeout=30_000)
        assert page.inner_text("#reason") == "无法识别，请将手机放平并靠近。"  # noqa: RUF001 - Chinese punctuation
        assert "张" not in page.inner_text("#card")  # the previous verdict is gone
        assert page.get_attribute("#card", "class") == "card unread"
    finally:
        close_counter(playwright, browser)


def test_an_expired_code_typed_by_a_scanner_shows_the_reason(office: Office, serve: Any, chromium: str) -> None:
    text = office.code()
    server = serve("--now", "2026-11-27T10:00:00Z")  # an hour after the code was made for 60 s
    playwright, browser, page = open_counter(chromium, server.url, None, "zh-CN")
    try:
        page.fill("#code", text)
        page.press("#code", "Enter")
        expect(page.locator("#banner")).to_have_text("拒绝", timeout=30_000)
        code = page.inner_text("#subtitle")
        assert code == "STALE_PRESENTATION"
        assert page.inner_text("#reason") == ErrorCode.STALE_PRESENTATION.sentence_zh
    finally:
        close_counter(playwright, browser)


def test_a_hostile_claim_typed_by_a_scanner_is_shown_as_text_and_a_second_showing_is_replayed(
    tmp_path: Path, chromium: str, screenshots: Path
) -> None:
    hostile = Office(tmp_path, given_name=HOSTILE)
    server = Server("--trust", str(hostile.trust), "--hold", "0")
    playwright, browser, page = open_counter(chromium, server.url, None, "en-US")
    try:
        text = hostile.code()
        page.fill("#code", text)
        page.press("#code", "Enter")
        expect(page.locator("#banner")).to_have_text("VALID", timeout=30_000)
        assert HOSTILE.replace("\u202e", "") in page.inner_text("#rows").replace("\u202e", "")
        assert page.locator("#card img, #card script").count() == 0
        assert page.evaluate("window.__pwned") is None  # neither the onerror nor the script ran
        time.sleep(0.1)  # --hold 0: the code has left the view
        page.fill("#code", text)
        page.press("#code", "Enter")
        expect(page.locator("#banner")).to_have_text("REJECTED", timeout=30_000)
        assert page.inner_text("#subtitle") == "REPLAYED"
        assert page.inner_text("#reason") == ErrorCode.REPLAYED.sentence
        page.screenshot(path=str(screenshots / "serve-replayed-en.png"))
        page.fill("#code", "not a code at all")
        page.press("#code", "Enter")
        expect(page.locator("#subtitle")).to_have_text("MALFORMED", timeout=30_000)
    finally:
        close_counter(playwright, browser)
        server.close()
