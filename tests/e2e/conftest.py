"""Debian's Chromium, driven by Playwright (it cannot download browsers here)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
AXE = Axe()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    yield page
    context.close()


@contextmanager
def another_site(port: int, page_for: Callable[[str], str | None]) -> Iterator[None]:
    """A real HTTP server for a site other than ours (the tests reach it as ``localhost``, ours
    as ``127.0.0.1``): a GET answers ``page_for(path)`` as HTML, or 404 for None."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            document = page_for(self.path)
            if document is None:
                self.send_error(404)
                return
            body = document.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def audited(browser: Browser) -> Iterator[Page]:
    """A tab whose CSP lets the audit's script in (the pages' own CSP forbids injected scripts)."""
    context = browser.new_context(locale="en-US", bypass_csp=True)
    yield context.new_page()
    context.close()


def assert_accessible(page: Page) -> None:
    """axe finds nothing on the page (each violation listed with its first elements)."""
    results = AXE.run(page)
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']} — " + ", ".join(" ".join(n["target"]) for n in v["nodes"][:5])
        for v in results.response["violations"]
    ]
    assert not violations, f"{page.url}:\n" + "\n".join(violations)
