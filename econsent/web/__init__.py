"""``econsent serve``: the counter in a browser, and a JSON API for other counter software.

:func:`create_app` makes a Starlette application around a configured
:class:`~econsent.verify.Verifier`. ``GET /`` is the counter page (packaged here, no network needed):
it reads codes from the camera, a photo or a keyboard-wedge scanner and shows the verdict card in
Chinese or English. ``POST /verify`` takes an image (``image/png``, ``image/jpeg``, ...), the code as
``text/plain``, or ``{"text": ...}`` as ``application/json``, and answers the JSON of
:func:`econsent.card.result_json` (the same fields as ``econsent scan --json``); a request it cannot
serve gets the one error shape of :func:`econsent.card.refusal_json` and a 4xx/5xx status.

Hostile input costs bounded work: bodies are capped while they are read (an image at the scanner's
:data:`~econsent.qr.MAX_IMAGE_BYTES`), images are decoded in the scan worker stopped at its deadline,
at most a few at once with a bounded queue. One replay cache serves the whole server; a code still in
view (the camera sends several frames a second) is answered with its first verdict, not verified again
and called REPLAYED. Nothing personal is logged. :func:`run` serves the application with uvicorn.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as _dt
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import card, qr
from .._json import loads_strict
from .._terminal import json_text
from .._wire import MAX_TEXT_CHARS
from ..errors import (
    EconsentError,
    ErrorCode,
    ImageRefusal,
    ImageRefusedError,
    MissingDependencyError,
    RequestError,
    VerificationError,
)
from ..i18n import LANGUAGES, N_, translate
from ..model import Verdict
from ..qr.verify import read_code
from ..schema import BUILTIN_TYPES, TypeRegistry
from ..verify import Verifier

__all__ = ["ANY_HOST", "DEFAULT_HOLD", "IMAGE_TYPES", "LOOPBACK_HOSTS", "CounterSettings", "create_app", "run"]

#: Seconds a code counts as still in view after it was last read (``econsent scan --hold`` likewise).
DEFAULT_HOLD = 5.0
#: The image types ``POST /verify`` takes; the scanner's decoder reads each of them.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp"})
#: Host names that reach only this machine; a counter page bound elsewhere needs an explicit option.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: Every host name is allowed (a server bound to a network address on purpose).
ANY_HOST = "*"
# A text body holds one code: the longest code a verifier accepts, as UTF-8, inside a small JSON object.
_MAX_TEXT_BODY = 4 * MAX_TEXT_CHARS + 1024
_CODES_IN_VIEW = 64  # a counter sees one citizen at a time; the oldest code beyond these is forgotten
_STATIC = {"counter.js": "text/javascript; charset=utf-8", "counter.css": "text/css; charset=utf-8"}
# The page runs only its own script and style, talks only to this server, and cannot be framed.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # verdicts carry personal data
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass(frozen=True, slots=True)
class CounterSettings:
    """How the server verifies: the challenge it gave holders, the image deadline, the in-view time, the load.

    ``scans_at_once`` images are decoded at a time and ``queue`` more wait; a request beyond that is
    refused (HTTP 429) rather than queued without bound.
    """

    nonce: bytes | None = None
    deadline: float = qr.DEFAULT_DEADLINE
    hold: float = DEFAULT_HOLD
    max_image_bytes: int = qr.MAX_IMAGE_BYTES
    scans_at_once: int = 2
    queue: int = 8
    types: TypeRegistry = BUILTIN_TYPES

    def __post_init__(self) -> None:
        if not 0 < self.deadline <= qr.MAX_DEADLINE:
            raise ValueError(f"deadline must be more than 0 and at most {qr.MAX_DEADLINE:g} seconds")
        if not 0 <= self.hold <= 86_400:
            raise ValueError("hold must be 0 to 86400 seconds")
        if not 0 < self.max_image_bytes <= qr.MAX_IMAGE_BYTES:
            raise ValueError(f"max_image_bytes must be 1 to {qr.MAX_IMAGE_BYTES}")
        if self.scans_at_once < 1 or self.queue < 0:
            raise ValueError("scans_at_once must be positive and queue zero or more")


class _CodesInView:
    """The answer given to each code read in the last ``hold`` seconds, so that a code still in view is
    answered again rather than verified again (which would call it REPLAYED)."""

    def __init__(self, hold: float, monotonic: Callable[[], float]) -> None:
        self._hold = hold
        self._monotonic = monotonic
        self._answers: collections.OrderedDict[str, tuple[Verdict | VerificationError, float]] = (
            collections.OrderedDict()
        )

    def answer(self, text: str) -> Verdict | VerificationError | None:
        """The answer ``text`` got while in view (it stays in view), or None for a code newly shown."""
        now = self._monotonic()
        for seen, (_, last) in list(self._answers.items()):
            if now - last > self._hold:
                del self._answers[seen]
        if text not in self._answers:
            return None
        result, _ = self._answers.pop(text)
        self._answers[text] = (result, now)
        return result

    def remember(self, text: str, result: Verdict | VerificationError) -> None:
        self._answers[text] = (result, self._monotonic())
        while len(self._answers) > _CODES_IN_VIEW:
            self._answers.popitem(last=False)


class _Counter:
    """One server's verifying state: the verifier with its replay cache, the codes in view, the scan slots."""

    def __init__(
        self,
        verifier: Verifier,
        clock: Callable[[], _dt.datetime],
        settings: CounterSettings,
        monotonic: Callable[[], float],
    ) -> None:
        self.verifier = verifier
        self.clock = clock
        self.settings = settings
        self.in_view = _CodesInView(settings.hold, monotonic)
        self.lock = threading.Lock()  # the verifier's replay cache and the codes in view are not thread-safe
        self.scans = anyio.CapacityLimiter(settings.scans_at_once)
        self.waiting = 0

    def verify_text(self, text: str) -> tuple[Verdict | VerificationError, bool, _dt.datetime]:
        """The verdict on ``text``, whether it was the answer of a code still in view, and the time checked."""
        now = self.clock()
        with self.lock:
            known = self.in_view.answer(text)
            # A valid code that expired while in view is verified again: the answer then says why it fails.
            lapsed = isinstance(known, Verdict) and known.expires_at is not None and known.expires_at < now
            if known is not None and not lapsed:
                return known, True, now
            try:
                result: Verdict | VerificationError = self.verifier.verify(text, now=now, nonce=self.settings.nonce)
            except VerificationError as exc:
                result = exc
            self.in_view.remember(text, result)
        return result, False, now

    @contextlib.contextmanager
    def image_slot(self) -> Iterator[None]:
        """A place among the images being read or waiting (429 when none is free), taken BEFORE the body is
        read: the queue then bounds memory (at most ``scans_at_once + queue`` bodies), not only work."""
        if self.waiting >= self.settings.scans_at_once + self.settings.queue:
            busy = f"more than {self.settings.scans_at_once + self.settings.queue} images at once"
            raise RequestError(busy, status=429)
        self.waiting += 1
        try:
            yield
        finally:
            self.waiting -= 1

    async def verify_image(self, data: bytes) -> tuple[Verdict | VerificationError, bool, _dt.datetime]:
        """Read and verify an image; call it within :meth:`image_slot`."""
        try:
            text = await anyio.to_thread.run_sync(self._read, data, limiter=self.scans)
        except VerificationError as exc:  # NO_QR_CODE: a verdict on the image, not an error of the request
            return exc, False, self.clock()
        return await anyio.to_thread.run_sync(self.verify_text, text)

    def _read(self, data: bytes) -> str:
        return read_code(data, deadline=self.settings.deadline)


def _json(document: dict[str, Any], status: int = 200) -> Response:
    return Response(json_text(document), status_code=status, media_type="application/json", headers=_HEADERS)


def _media_type(request: Request) -> tuple[str, str]:
    """The request's media type, lower case, and its charset parameter ("" when none)."""
    kind, _, parameters = request.headers.get("content-type", "").partition(";")
    charset = ""
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return kind.strip().lower(), charset


async def _body(request: Request, limit: int, too_large: EconsentError) -> bytes:
    """The request body, read no further than ``limit`` bytes (a declared length beyond it is refused unread)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not (declared.isascii() and declared.isdigit()) or len(declared) > 12):
        raise RequestError(f"Content-Length is not a number of bytes: {declared[:40]!r}")
    if declared is not None and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _text_of(body: bytes, kind: str, charset: str) -> str:
    """The code in a ``text/plain`` or ``application/json`` body: UTF-8, one code, trailing line end dropped."""
    if charset not in ("", "utf-8", "utf8"):
        raise RequestError(f"send text as UTF-8, not {charset[:40]!r}", status=415)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"the text is not UTF-8 (byte {exc.start})") from exc
    if kind == "application/json":
        try:
            document = loads_strict(text)  # a key twice (the last would win) or NaN is refused
        except (ValueError, RecursionError) as exc:
            raise RequestError('send {"text": "EC1:..."} as JSON') from exc
        if not isinstance(document, dict) or set(document) != {"text"} or not isinstance(document["text"], str):
            raise RequestError('send exactly {"text": "EC1:..."}: one field, a string')
        text = document["text"]
    return text.removesuffix("\n").removesuffix("\r")


def _answer(
    result: Verdict | VerificationError, repeat: bool, checked: _dt.datetime, types: TypeRegistry
) -> dict[str, Any]:
    """``POST /verify``'s answer: the verdict's JSON, when it was checked, whether it was a code still in view,
    and (for a valid code) the Chinese and English names of its type and claims."""
    document = card.result_json(result)
    document["checked_at"] = checked.astimezone(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    document["repeat"] = repeat
    if isinstance(result, Verdict):
        document["labels"] = card.labels_json(result, types)
    return document


def _host_name(host: str) -> str:
    """The name in a Host header, without its port: ``127.0.0.1:8080`` -> ``127.0.0.1``, ``[::1]:80`` -> ``::1``."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _check_origin(request: Request, allowed_hosts: tuple[str, ...]) -> None:
    """Refuse a request for another host name (a DNS-rebinding page) or sent by another web page's script."""
    host = request.headers.get("host", "")
    if ANY_HOST not in allowed_hosts and _host_name(host).lower() not in allowed_hosts:
        raise RequestError(f"this counter does not answer to host {host[:80]!r}")
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{host}":
        raise RequestError("requests from other web pages are refused", status=403)


def _error_status(error: EconsentError) -> int:
    """The HTTP status of an error answer: the request's fault (4xx) or the server's (5xx)."""
    if isinstance(error, RequestError):
        return error.status
    if isinstance(error, ImageRefusedError | VerificationError):  # a body beyond its cap, refused unread
        return 413
    if isinstance(error, MissingDependencyError):
        return 503  # the server was installed without a decoder: its operator's problem, not the request's
    return 500


def _language(accept: str, default: str) -> str:
    """``zh`` or ``en``, whichever the browser's Accept-Language ranks higher; ``default`` when it names neither."""
    best, best_q = default, -1.0
    for position, entry in enumerate(accept.split(",")[:32]):
        tag, _, parameters = entry.strip().partition(";")
        base = tag.strip().lower().split("-", 1)[0]
        if base not in ("zh", "en"):
            continue
        quality = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        score = quality - position * 1e-6  # of two equal qualities the earlier entry wins, as the header orders
        if 0 < quality <= 1 and score > best_q:
            best, best_q = base, score
    return best


# Every word of the page, in English, translated by the gettext catalogue (econsent.i18n); {name} is a value
# the page puts in. "otherLanguage" is the toggle's label: the other language's own name.
_PAGE_STRINGS = {
    "title": N_("Licence check counter"),
    "waiting": N_("Show the code to the camera"),
    "VALID": N_("VALID"),
    "REJECTED": N_("REJECTED"),
    "UNREAD": N_("NOT READ"),
    "ERROR": N_("NOT CHECKED"),
    "unreadHint": N_("Could not read the code: hold the phone flat and closer."),
    "issuer": N_("Issuer"),
    "serial": N_("Serial"),
    "freshness": N_("Code"),
    "validUntil": N_("Licence valid until"),
    "withheld": N_("Not shown"),
    "warning": N_("Warning"),
    "reasonCode": N_("Reason code"),
    "detail": N_("Detail"),
    "checkedAt": N_("Checked at"),
    "bearer": N_("bearer code: check the holder's identity by other means"),
    "expiresIn": N_("expires in {seconds} s"),
    "expiredAgo": N_("expired {seconds} s ago"),
    "yes": N_("yes"),
    "no": N_("no"),
    "listSeparator": N_(", "),
    "cameraStarting": N_("Starting the camera…"),
    "cameraOn": N_("Camera on: reading codes"),
    "cameraOff": N_("Camera unavailable ({reason}): type or scan the code, or choose a photo"),
    "codeLabel": N_("Code from a scanner"),
    "check": N_("Check"),
    "drop": N_("Drop a photo of the code here, or choose one"),
    "checking": N_("Checking…"),
    "noServer": N_("The counter's server does not answer."),
}
_LANGUAGE_NAMES = {"en": "English", "zh": "中文"}


def _page_strings() -> str:
    """The page's words in both languages as a JSON data block's text, safe inside ``<script>``."""
    tables = {
        language: {
            **{key: translate(message, language) for key, message in _PAGE_STRINGS.items()},
            "otherLanguage": _LANGUAGE_NAMES["zh" if language == "en" else "en"],
        }
        for language in LANGUAGES
    }
    return json.dumps(tables, ensure_ascii=False).replace("<", "\\u003c")


def create_app(
    verifier: Verifier,
    *,
    clock: Callable[[], _dt.datetime] | None = None,
    settings: CounterSettings | None = None,
    default_language: str = "zh",
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS,
    monotonic: Callable[[], float] = time.monotonic,
) -> Starlette:
    """The counter application around ``verifier`` (its replay cache is the server's, shared by every request).

    ``clock`` is the verifier's time (default: the system clock); ``default_language`` the page's language
    when the browser asks for neither Chinese nor English. Requests naming a host not in ``allowed_hosts``
    (lower case; :data:`ANY_HOST` allows all) or sent from another web page's origin are refused.
    """
    if default_language not in ("zh", "en"):
        raise ValueError("default_language is zh or en")
    counter = _Counter(verifier, clock or (lambda: _dt.datetime.now(_dt.UTC)), settings or CounterSettings(), monotonic)
    page = resources.files(__package__).joinpath("static", "index.html").read_text(encoding="utf-8")
    page = page.replace("<!--strings-->", _page_strings(), 1)
    assets = {name: resources.files(__package__).joinpath("static", name).read_bytes() for name in _STATIC}

    async def index(request: Request) -> Response:
        try:
            _check_origin(request, allowed_hosts)
        except RequestError as exc:
            return _json(card.refusal_json(exc), exc.status)
        language = _language(request.headers.get("accept-language", ""), default_language)
        body = page.replace('lang="en"', f'lang="{language}"', 1)
        return Response(body, media_type="text/html; charset=utf-8", headers=_HEADERS)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return _json(card.refusal_json(RequestError(f"no such page: /static/{name[:60]}")), 404)
        return Response(assets[name], media_type=_STATIC[name], headers=_HEADERS)

    async def verify(request: Request) -> Response:
        try:
            _check_origin(request, allowed_hosts)
            kind, charset = _media_type(request)
            if kind in IMAGE_TYPES:
                limit = counter.settings.max_image_bytes
                refusal = ImageRefusedError(ImageRefusal.FILE_TOO_LARGE, f"more than {limit} bytes")
                with counter.image_slot():
                    data = await _body(request, limit, refusal)
                    if not data:
                        raise RequestError("the image is empty")
                    result, repeat, checked = await counter.verify_image(data)
            elif kind in ("text/plain", "application/json"):
                too_long = VerificationError(ErrorCode.TOO_LARGE, f"a request of more than {_MAX_TEXT_BODY} bytes")
                text = _text_of(await _body(request, _MAX_TEXT_BODY, too_long), kind, charset)
                result, repeat, checked = await anyio.to_thread.run_sync(counter.verify_text, text)
            else:
                shown = kind[:60] or "none"
                accepted = ", ".join(sorted(IMAGE_TYPES))
                detail = f"Content-Type {shown!r}: send an image ({accepted}), text/plain or application/json"
                raise RequestError(detail, status=415)
        except EconsentError as exc:
            return _json(card.refusal_json(exc), _error_status(exc))
        return _json(_answer(result, repeat, checked, counter.settings.types))

    async def refused(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        return _json(card.refusal_json(RequestError(f"{request.method} {request.url.path[:80]}")), status)

    return Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/static/{name}", asset, methods=["GET"]),
            Route("/verify", verify, methods=["POST"]),
            Route("/favicon.ico", lambda request: Response(status_code=204, headers=_HEADERS), methods=["GET"]),
        ],
        exception_handlers={404: refused, 405: refused},
    )


def run(app: Starlette, listener: socket.socket) -> None:
    """Serve ``app`` on the bound ``listener`` until Ctrl-C (uvicorn; no access log: nothing personal is logged)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        limit_concurrency=64,  # beyond this many connections uvicorn answers 503 at once
        timeout_keep_alive=5,
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[listener])
