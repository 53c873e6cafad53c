from playwright.sync_api import Browser, Page
from tests.conftest import Gateway, LiveServer, Mailbox
from tests.e2e.test_sign_in_methods_browser import audited, methods_server  # noqa: F401
from tests.e2e.test_two_factor_browser import sign_up_with_two_factor


def test_screens(browser: Browser, audited: Page, methods_server: LiveServer, mailbox: Mailbox, gateway: Gateway) -> None:
    page = audited
    sign_up_with_two_factor(page, methods_server, mailbox, gateway)
    state = page.context.storage_state()
    for name, viewport in (("phone", {"width": 390, "height": 844}), ("desktop", {"width": 1280, "height": 900})):
        ctx = browser.new_context(storage_state=state, locale="de-DE", viewport=viewport, extra_http_headers={"accept-language": "de"})
        p = ctx.new_page()
        p.goto(methods_server.url + "/account/two-factor")
        p.screenshot(path=f"/tmp/shot-methods-{name}.png", full_page=True)
        p.goto(methods_server.url + "/account/two-factor/authenticator-app")
        p.screenshot(path=f"/tmp/shot-totp-{name}.png", full_page=True)
        buttons = p.locator("button[type=submit]")
        print([buttons.nth(i).inner_text() for i in range(buttons.count())])
        ctx.close()
