"""The languages a clerk or citizen reads: English in the code, every other language in a gettext catalogue.

Every sentence a person reads (a refusal's reason, a warning on a verdict, a counter's message) is written
in English where the code makes it, wrapped in :func:`N_` so that Babel's extractor finds it, and
translated in ``econsent/locale/<language>/LC_MESSAGES/econsent.po``; the compiled ``.mo`` beside it is
what runs (the standard library's :mod:`gettext` reads it, so the library needs no translation package at
run time). Tests extract the marked messages with Babel and check that the catalogue translates each one,
holds no message the code no longer has, and that the ``.mo`` is the ``.po`` compiled. To update the
catalogues after changing a message, see ``docs/cli.md`` ("Languages").

The language is chosen by the caller (``--lang`` on the command line) or, failing that, by the usual
locale variables (``LC_ALL``, ``LC_MESSAGES``, ``LANG``, ``LANGUAGE``): any Chinese locale gives Chinese,
anything else English. This module imports only the standard library, like :mod:`econsent.errors`.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Literal, TypeAlias

__all__ = ["LANGUAGES", "N_", "Language", "language_from_environment", "parse_language", "translate"]

Language: TypeAlias = Literal["en", "zh"]
#: The languages every message exists in; English is the source language of the catalogues.
LANGUAGES: tuple[Language, ...] = ("en", "zh")

_DOMAIN = "econsent"
_LOCALE_DIR = Path(__file__).with_name("locale")
_LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")  # gettext's order


def N_(message: str) -> str:  # noqa: N802 - the name Babel and xgettext look for ("gettext_noop")
    """Mark an English message for the catalogue; the text itself is returned unchanged."""
    return message


def translate(message: str, language: Language) -> str:
    """``message`` (an English text marked with :func:`N_`) in ``language``; English if it has no translation."""
    if language == "en":
        return message
    return _catalogue(language).gettext(message)


def parse_language(text: str) -> Language:
    """A language from what a user typed: ``zh``, ``zh_CN``, ``zh-Hans``, ``zh_CN.UTF-8``, ``en``, ``en_GB`` ...

    Raises ValueError for anything else (a usage error on the command line)."""
    folded = text.strip().lower().replace("-", "_")
    base = folded.split(".", 1)[0].split("@", 1)[0].split("_", 1)[0]
    if base in LANGUAGES:
        return base
    raise ValueError(f"unsupported language {text!r} (use zh or en)")


def language_from_environment(environ: Mapping[str, str] | None = None) -> Language:
    """The language the locale variables ask for, as gettext reads them: the first one set decides.

    ``LANGUAGE`` may list several (``zh_CN:en``); its first entry counts. ``C`` and ``POSIX`` mean English.
    """
    variables = os.environ if environ is None else environ
    for name in _LOCALE_VARIABLES:
        value = variables.get(name, "").split(":", 1)[0]
        if value:
            try:
                return parse_language(value)
            except ValueError:
                return "en"
    return "en"


@cache
def _catalogue(language: Language) -> gettext.NullTranslations:
    """The compiled catalogue of ``language``; a missing one would leave English (a test proves each is there)."""
    return gettext.translation(_DOMAIN, localedir=_LOCALE_DIR, languages=[language], fallback=True)
