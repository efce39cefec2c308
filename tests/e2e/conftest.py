"""Browser tests: the real pages on pytest-django's live server, driven in Debian's chromium
through playwright's sync API, on the bundled sample (ingested and calculated once per session
by the `served` fixture of tests/conftest.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
# Everything that would make chromium talk to Google on its own: the test asserts that no
# request leaves the machine, so the browser must not add any either.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 900}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="package")
def browser() -> Browser:
    # Playwright's sync API keeps an event loop on this thread, so Django would refuse the
    # test's own ORM calls as "async unsafe"; they are synchronous, and only for this package.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def plain_static_urls(settings):
    # Production's manifest storage needs `collectstatic` first; the live server serves the
    # files straight from the finders, under their plain names.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(scope="package")
def shared_page(browser) -> Page:
    # One tab for the package: chromium compiles plotly.js again in every new tab, and not in
    # a tab that already ran it.
    context = browser.new_context(viewport=VIEWPORT, reduced_motion="reduce", locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def page(shared_page, served, live_server) -> Page:
    """The tab, logged out, with every request of the test recorded: none may leave the
    machine. Routes a test adds are removed after it."""
    shared_page.context.clear_cookies()
    requested, blocked = [], []
    record = lambda request: requested.append(request.url)  # noqa: E731
    shared_page.on("request", record)

    # Chromium reports what the Content-Security-Policy blocked on the console: a page that
    # needs an inline script or style, or another origin, fails here rather than in production
    def csp(message) -> None:
        if "Content Security Policy" in message.text:
            blocked.append(f"{shared_page.url}: {message.text}")

    shared_page.on("console", csp)
    yield shared_page
    # a test may end while its page still fetches: let those requests finish, then leave the
    # page (its timers too) before the test's database goes away under the live server
    shared_page.wait_for_load_state("networkidle")
    shared_page.goto("about:blank")
    shared_page.remove_listener("request", record)
    shared_page.remove_listener("console", csp)
    shared_page.unroute_all(behavior="ignoreErrors")
    outside = [url for url in requested if not is_local(url)]
    assert outside == [], f"requests left the machine: {outside}"
    assert blocked == [], "the Content-Security-Policy blocked:\n" + "\n".join(blocked)


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"data", "blob", "about"} or parts.hostname in LOCAL_HOSTS


def log_in(page: Page, live_server, path: str, username: str = "trader") -> None:
    """Open ``path``, get sent to the login form, log in through it and land back on ``path``."""
    page.goto(live_server.url + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + path)


def wait_for_plot(page: Page) -> None:
    page.wait_for_selector("#plot[data-state=ready]")


def plotted(page: Page, expression: str):
    """Evaluate ``expression`` with ``plot`` bound to the page's plotly figure (data, layout)."""
    return page.evaluate(f"(plot) => {expression}", page.locator("#plot").element_handle())


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
