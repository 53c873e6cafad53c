"""Languages and gettext catalogs (Babel). Catalogs are compiled in memory at start."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT_LANGUAGE = "en"
# Language tag → (catalog folder, name shown in the chooser, in its own language).
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("en", "English"),
    "de": ("de", "Deutsch"),
    "fr": ("fr", "Français"),
    "ja": ("ja", "日本語"),
    "zh-Hans": ("zh_Hans", "简体中文"),
}


@cache
def translations(language: str) -> NullTranslations:
    folder = LANGUAGES.get(language, (DEFAULT_LANGUAGE, ""))[0]
    po_file = LOCALE_DIR / folder / "LC_MESSAGES" / "messages.po"
    if not po_file.exists():
        return NullTranslations()
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=folder)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def supported(tag: str | None) -> str | None:
    """Our tag for ``tag`` (``zh-CN`` → ``zh-Hans``, ``de-AT`` → ``de``), or None."""
    if not tag:
        return None
    tag = tag.strip().replace("_", "-")
    if tag in LANGUAGES:
        return tag
    lowered = tag.lower()
    if lowered.startswith("zh"):
        return "zh-Hans"
    base = lowered.split("-", 1)[0]
    return base if base in LANGUAGES else None


def negotiate(accept_language: str | None) -> str:
    """The best of our languages for an Accept-Language header (RFC 9110 q-values)."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        found = supported(tag)
        if found and quality > 0:
            choices.append((-quality, index, found))
    return min(choices)[2] if choices else DEFAULT_LANGUAGE


def warm() -> None:
    for language in LANGUAGES:
        translations(language)
