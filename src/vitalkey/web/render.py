"""Server-rendered pages (Jinja2) in the visitor's language, with security headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel import Locale
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from vitalkey.domain.accounts import family_name_first
from vitalkey.domain.apps import origin_of
from vitalkey.domain.errors import DomainError
from vitalkey.domain.totp import secret_for_typing
from vitalkey.i18n import LANGUAGES, translations
from vitalkey.settings import UpstreamConfig
from vitalkey.web.context import csrf_token, language, services, set_csrf_cookie
from vitalkey.web.errors import retry_after
from vitalkey.web.menu import PROFILE_MENU, identity
from vitalkey.web.middleware import content_security_policy
from vitalkey.web.qr import qr_svg

TEMPLATES = Path(__file__).with_name("templates")
# The pages with the "Continue with …" buttons (_upstream.html) and Account & Security's "Link your
# … account": each button's form ends in the redirect to its provider, and browsers check a
# form's whole redirect chain against form-action.
UPSTREAM_BUTTON_PAGES = frozenset({"login_email.html", "signup_email.html", "account.html"})


@pass_context
def _gettext(context: Context, message: str) -> str:
    return str(context["_translations"].gettext(message))


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return str(context["_translations"].ngettext(singular, plural, n))


def nowrap(text: str) -> Markup:
    """Text kept on one line (a date and time a narrow screen must not split)."""
    return Markup('<span class="nowrap">%s</span>') % text


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["family_name_first"] = family_name_first  # 姓 before 名 in the name fields
    env.filters["nowrap"] = nowrap
    env.globals["qr_svg"] = qr_svg  # an authenticator app's set-up (_totp.html)
    env.filters["secret_for_typing"] = secret_for_typing
    return env


def translate(lang: str, error: DomainError) -> str:
    """The error's message in ``lang``: the plural form its count asks for, and a ``territory``
    parameter (an ISO 3166 code) named in that language."""
    params = dict(error.params)
    counted = error.counted()
    if counted is not None:
        forms, params["num"] = counted
        text = translations(lang).ngettext(forms.singular, forms.plural, params["num"])
    else:
        text = translations(lang).gettext(error.message_id)
    if "territory" in params:
        territory = str(params["territory"])
        params["territory"] = Locale.parse(lang.replace("-", "_")).territories.get(territory, territory)
    return text % params if params and "%(" in text else text


def templates(request: Request) -> Environment:
    """The app's Jinja2 environment (``create_app`` keeps it in ``app.state``), typed."""
    environment: Environment = request.app.state.templates
    return environment


def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    container = services(request)
    lang = language(request)
    error = values.pop("error", None)
    account = getattr(request.state, "account", None)  # set by pages.current_user for a signed-in page
    context = {
        "request": request,
        "brand": container.settings.brand,
        "lang": lang,
        "languages": LANGUAGES,
        "csrf_token": csrf_token(request),
        "account": account,
        # The Profile menu of base.html's header, on the pages of a signed-in user.
        "me": identity(account, lang) if account is not None else None,
        "profile_menu": PROFILE_MENU,
        "dev_mode": container.settings.dev_mode,
        "support_href": container.settings.support_href,
        "_translations": translations(lang),
        "error": translate(lang, error) if error else None,
        "error_field": error.field_name if error else None,
        # Every wrong field with its message, shown beside it and linked from the summary.
        "field_errors": {p.field_name: translate(lang, p) for p in error.problems if p.field_name} if error else {},
        "error_code": error.code if error else None,
        "path": request.url.path,
        "password_min": container.settings.password_min_length,
        # The sign-in and sign-up pages' "Continue with …" buttons (_upstream.html), one per provider.
        "upstream_providers": container.settings.federation_providers,
        **values,
    }
    html = templates(request).get_template(template).render(context)
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    if error is not None and (wait := retry_after(error)) is not None:
        response.headers["Retry-After"] = wait
    form_targets = (
        *getattr(request.state, "form_targets", ()),
        *upstream_form_targets(template, container.settings.federation_providers),
    )
    images = (
        *getattr(request.state, "images", ()),
        *upstream_logo_origins(template, container.settings.federation_providers),
    )
    if form_targets or images:
        response.headers["Content-Security-Policy"] = content_security_policy(form_targets, images)
    set_csrf_cookie(request, response)
    return response


def upstream_form_targets(template: str, providers: tuple[UpstreamConfig, ...]) -> tuple[str, ...]:
    """The origins a page's buttons send the browser to: the providers' issuers' (where their
    authorization endpoints are, for Google, Apple and the usual OpenID providers)."""
    if template not in UPSTREAM_BUTTON_PAGES:
        return ()
    return tuple(dict.fromkeys(origin_of(provider.issuer) for provider in providers))


def upstream_logo_origins(template: str, providers: tuple[UpstreamConfig, ...]) -> tuple[str, ...]:
    """Where the buttons' logos come from (an operator's ``logo_url``), on the pages with buttons."""
    if template not in UPSTREAM_BUTTON_PAGES:
        return ()
    return tuple(dict.fromkeys(origin_of(provider.logo_url) for provider in providers if provider.logo_url))
