"""Marking strings for translation without translating them here (the edge translates)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Plural:
    """A message with a singular and a plural form, chosen by a count where it is shown
    (``ngettext``; Japanese and Chinese have one form, other languages their own rules)."""

    singular: str
    plural: str


def Nn_(singular: str, plural: str) -> Plural:
    """Mark a plural message for extraction by Babel (``-k Nn_:1,2``)."""
    return Plural(singular, plural)


def N_(message: str) -> str:
    """Mark ``message`` for extraction by Babel; it is translated where it is shown."""
    return message
