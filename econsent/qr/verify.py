"""Verify the code in an image: scan it within a deadline, then verify the text it holds.

:meth:`econsent.Verifier.verify` takes text only, so the verifier stays free of imaging; a counter
that receives a photo, a screenshot or a camera frame verifies it here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from econsent._wire import PREFIX
from econsent.errors import ErrorCode, ImageRefusedError, InputFileError, QRError, VerificationError

from .scanner import DEFAULT_DEADLINE, Scanner

if TYPE_CHECKING:
    from econsent.model import Instant, Verdict
    from econsent.verify import Verifier

    from .images import ImageSource

__all__ = ["read_code", "verify_image"]


def verify_image(
    verifier: Verifier,
    image: ImageSource,
    *,
    now: Instant,
    nonce: bytes | None = None,
    deadline: float = DEFAULT_DEADLINE,
) -> Verdict:
    """Scan ``image`` and verify the code it holds with ``verifier``, as :meth:`~econsent.Verifier.verify` would.

    ``image`` is a file path, encoded image bytes, a Pillow image or a uint8 numpy frame. It is scanned
    in a scan worker stopped after ``deadline`` seconds, so a hostile image costs bounded time and
    memory. Of several codes in the image, the first in our ``EC1:`` format is verified, else the first
    of any other (an ``HC1:`` or ``shc:/`` code goes to the verifier's other formats). Raises
    :class:`~econsent.errors.VerificationError`: ``NO_QR_CODE`` when no code is read or the image is
    refused (the detail says why, a refusal's reason first), otherwise whatever verifying the text
    raises. A missing decoder is a setup problem, not a rejection: it raises
    :class:`~econsent.errors.MissingDependencyError`; so is a path that does not exist or is not a
    regular file (a folder): :class:`~econsent.errors.InputFileError`, never a verdict.
    """
    text = read_code(image, deadline=deadline)  # a path that is no file is refused before the verifier is asked
    return verifier.verify(text, now=now, nonce=nonce)


def read_code(image: ImageSource, *, deadline: float = DEFAULT_DEADLINE) -> str:
    """The text :func:`verify_image` verifies in ``image``: the first ``EC1:`` code, else the first of any other.

    For a caller that needs the text before verifying it (``econsent serve`` answers a code still in
    view without verifying it twice). Raises as :func:`verify_image` does before it verifies.
    """
    scanner = Scanner(
        budget_ms=None, deadline=deadline
    )  # a bad deadline is the caller's mistake (QRError), not a verdict
    if isinstance(image, str | os.PathLike):
        path = Path(image)
        if not path.is_file():
            raise InputFileError(f"{path}: " + ("not a file" if os.path.lexists(path) else "no such file"))
    try:
        texts = list(scanner.scan(image).texts)
    except ImageRefusedError as exc:
        raise VerificationError(ErrorCode.NO_QR_CODE, f"{exc.code.value}: {exc.detail}") from exc
    except QRError as exc:
        raise VerificationError(ErrorCode.NO_QR_CODE, exc.detail) from exc
    if not texts:
        raise VerificationError(ErrorCode.NO_QR_CODE)
    ours = [text for text in texts if text.startswith(PREFIX)]
    return (ours or texts)[0]
