"""Mails from Jinja templates, each with a subject, a text part and an HTML part, in the user's language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

from vitalkey.domain.accounts import greeting_name
from vitalkey.i18n import translations
from vitalkey.ports import RenderedMail

TEMPLATES = Path(__file__).with_name("templates")


@pass_context
def _gettext(context: Context, message: str) -> str:
    return str(context["_translations"].gettext(message))


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return str(context["_translations"].ngettext(singular, plural, n))


class MailRenderer:
    def __init__(self, brand: str, sender: str, public_url: str) -> None:
        self.brand = brand
        self.sender = sender
        self.public_url = public_url
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            extensions=["jinja2.ext.i18n"],
            undefined=StrictUndefined,
            autoescape=False,  # noqa: S701 - the text parts are plain text; HTML blocks turn escaping on
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]

    def render(self, template: str, language: str, to: str, context: dict[str, Any], delivery_key: str) -> RenderedMail:
        """``delivery_key``: the same for every attempt of one message (the relay's
        ``delivery_key``); it becomes the Message-ID, so receivers can drop repeats."""
        tmpl = self.env.get_template(f"{template}.jinja")
        values = {
            **context,
            "brand": self.brand,
            "public_url": self.public_url,
            "to": to,
            "_translations": translations(language),
            "language": language,
            "greeting_name": greeting_name(context.get("first_name", ""), context.get("last_name", ""), language),
        }
        parts = {}
        for block in ("subject", "text", "html"):
            rendered = "".join(tmpl.blocks[block](tmpl.new_context(values)))
            parts[block] = rendered.strip()
        domain = self.sender.rpartition("@")[2].rstrip(">") or "vitalkey.localhost"
        return RenderedMail(
            to=to,
            sender=self.sender,
            subject=" ".join(parts["subject"].split()),
            text=parts["text"] + "\n",
            html=parts["html"],
            message_id=f"<{delivery_key}@{domain}>",
            idempotency_key=delivery_key,
        )
