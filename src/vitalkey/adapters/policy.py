"""The operator's privacy policy: one plain-text file per language (``en.txt``, ``fr.txt``,
``zh-Hans.txt``…) in ``privacy_policy_dir``, read once at start. Paragraphs are separated by a
blank line; the pages escape the text, so it can hold no markup."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vitalkey.i18n import DEFAULT_LANGUAGE, LANGUAGES
from vitalkey.settings import SettingsError

Paragraph = tuple[str, ...]  # its lines


@dataclass(frozen=True, slots=True)
class PrivacyPolicy:
    version: str
    texts: dict[str, tuple[Paragraph, ...]] = field(default_factory=dict)  # empty: the built-in policy

    def paragraphs(self, language: str) -> tuple[Paragraph, ...]:
        """The operator's text in ``language``, else in English; empty when none is configured."""
        return self.texts.get(language) or self.texts.get(DEFAULT_LANGUAGE, ())


def _paragraphs(text: str) -> tuple[Paragraph, ...]:
    blocks = text.replace("\r\n", "\n").split("\n\n")
    paragraphs = (tuple(line.strip() for line in block.strip().splitlines()) for block in blocks)
    return tuple(p for p in paragraphs if any(p))


def load_privacy_policy(directory: str, version: str) -> PrivacyPolicy:
    if not directory:
        return PrivacyPolicy(version)
    texts = {}
    for language in LANGUAGES:
        path = Path(directory) / f"{language}.txt"
        if not path.is_file():
            continue
        try:
            paragraphs = _paragraphs(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"privacy_policy_dir: cannot read {path} as UTF-8 text: {exc}") from exc
        if not paragraphs:
            raise SettingsError(f"privacy_policy_dir: {path} is empty")
        texts[language] = paragraphs
    if DEFAULT_LANGUAGE not in texts:
        raise SettingsError(
            f"privacy_policy_dir: {Path(directory) / 'en.txt'} is missing (the English text is required)"
        )
    return PrivacyPolicy(version, texts)
