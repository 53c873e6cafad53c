"""What every page handler reaches: the services, the signed-in user, and the template renderer."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from vitalkey_portal.accounts import Accounts, BrowserSession
from vitalkey_portal.ports import Dashboard, Linking, Notifications
from vitalkey_portal.providers import Provider
from vitalkey_portal.settings import PortalSettings
from vitalkey_portal.web.security import Cookies, origin_of, public_url

TEMPLATES = Path(__file__).parent / "templates"

# Security headers of every page. Charts are inline SVG with their own <style>, hence
# style-src 'unsafe-inline'; no script anywhere. form-action names the providers because a
# "Link Device" form is answered with a redirect to the provider's sign-in page.
BASE_CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


@dataclass
class Services:
    settings: PortalSettings
    accounts: Accounts
    linking: Linking
    notifications: Notifications
    dashboard: Dashboard
    run_worker: Callable[[anyio.Event], Coroutine[Any, Any, None]] | None = None  # runs until the event is set
    on_close: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cookies = Cookies(self.settings)
        self.own_origin = origin_of(public_url(self.settings))
        self.providers: dict[str, Provider] = {p.slug: p for p in self.settings.providers}
        provider_origins = sorted({o for p in self.settings.providers if (o := origin_of(p.authorize_url))})
        self.csp = f"{BASE_CSP}; form-action 'self' {' '.join(provider_origins)}".rstrip()
        self.jinja = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True), auto_reload=False
        )
        self.jinja.globals["brand"] = self.settings.brand


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def session_of(request: Request) -> BrowserSession | None:
    found: BrowserSession | None = request.scope.get("portal_session")
    return found


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    svc = services(request)
    session = session_of(request)
    html = svc.jinja.get_template(template).render(
        request_path=request.url.path,
        user=session.user if session else None,
        csrf_token=session.csrf_token if session else "",
        **values,
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["cache-control"] = "no-store"
    return response
