"""``econsent serve``: the counter in a browser (see :mod:`econsent.web`), on this machine only by default.

The verification options are those of ``econsent verify`` and ``scan``, built into one verifier the
same way; its replay cache serves every request while the server runs.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from typing import Any

from .. import qr
from ..errors import EXIT_VALID, MissingDependencyError
from ..i18n import N_, translate
from ._common import UsageError, float_range, int_range, parse_hex, parse_time, say
from .verify import add_verification_options, policy_from_args, verifier_from_args

__all__ = ["register"]

DEFAULT_PORT = 8765


def register(sub: Any) -> None:
    """Add the ``serve`` command to the top-level sub-parsers."""
    serve = sub.add_parser(
        "serve",
        help="the counter as a web page: camera, photo or scanner input, verdict cards in Chinese and English",
        description=(
            "Serve the counter page and a JSON API (POST /verify with an image or the code as text) on this "
            "machine. The page reads codes from the camera, a photo or a keyboard-wedge scanner and shows each "
            "verdict card in Chinese or English."
        ),
    )
    add_verification_options(serve)  # the same options as `econsent verify` and `scan`
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    serve.add_argument(
        "--port", type=int_range(0, 65535), default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)"
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="listen on a non-loopback address: other machines can then read verdicts (personal data)",
    )
    serve.add_argument(
        "--hold",
        type=float_range(0, 86_400),
        default=5.0,
        help="seconds a code counts as still in view after it was last read (default 5)",
    )
    serve.add_argument(
        "--deadline",
        type=float_range(0, qr.MAX_DEADLINE, exclude_low=True),
        default=qr.DEFAULT_DEADLINE,
        help=f"seconds an image may take to decode and scan before it is refused (default {qr.DEFAULT_DEADLINE:g})",
    )
    serve.set_defaults(handler=_cmd_serve)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def _listener(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port``; an address that cannot be used is a usage error (exit 2)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"--host {host}: {exc}") from exc
    family, kind, protocol, _, address = infos[0]
    listener = socket.socket(family, kind, protocol)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(64)
    except OSError as exc:
        listener.close()
        raise UsageError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from exc
    return listener


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from .. import web
    except ImportError as exc:  # starlette or uvicorn missing
        missing = f"econsent serve needs the serve extra: pip install 'econsent[serve]' ({exc})"
        raise MissingDependencyError(missing) from exc
    if not _is_loopback(args.host) and not args.allow_remote:
        raise UsageError(
            f"--host {args.host} is not this machine only: verdicts carry personal data; add --allow-remote "
            "to serve other machines (browsers open the camera only on 127.0.0.1, localhost or HTTPS)"
        )
    nonce = parse_hex(args.nonce, "--nonce")
    parse_time(args.now)  # a bad --now is a usage error before the server starts
    verifier = verifier_from_args(args, policy_from_args(args))
    now_option = args.now
    app = web.create_app(
        verifier,
        clock=lambda: parse_time(now_option),
        settings=web.CounterSettings(nonce=nonce, deadline=args.deadline, hold=args.hold),
        default_language=args.language if args.language_given else "zh",  # the page's, when the browser names neither
        allowed_hosts=(web.ANY_HOST,) if args.allow_remote else (*web.LOOPBACK_HOSTS, args.host.lower()),
    )
    listener = _listener(args.host, args.port)
    with listener:
        host, port = listener.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        started = translate(N_("econsent: counter page at {url} (Ctrl-C to stop)"), args.language)
        say(started.format(url=f"http://{shown}:{port}/"), file=sys.stderr)
        sys.stderr.flush()
        web.run(app, listener)
    return EXIT_VALID
