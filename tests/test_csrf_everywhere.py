"""Every form of the site, found by walking its pages as a staff member and as a visitor,
refuses a POST without its CSRF token."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db
MOST_PAGES = 150  # the admin alone links hundreds of filtered lists: enough to meet each form
SKIPPED = ("/api/", "/static/", "/healthz")


class Page(HTMLParser):
    """The links and the POST forms' targets of one page."""

    def __init__(self, url: str):
        super().__init__()
        self.url, self.links, self.forms = url, set(), set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.add(urljoin(self.url, attrs["href"]))
        if tag == "form" and (attrs.get("method") or "get").lower() == "post":
            self.forms.add(urljoin(self.url, attrs.get("action") or self.url))


def walk(browser: Client, starts: list[str]) -> set[str]:
    """Every POST form's target on the pages reachable from ``starts`` (same site)."""
    todo, seen, forms = list(starts), set(), set()
    while todo and len(seen) < MOST_PAGES:
        url = todo.pop(0)
        path = urlsplit(url).path
        if (
            url in seen
            or path.startswith(SKIPPED)
            or urlsplit(url).netloc not in ("", "testserver")
        ):
            continue
        seen.add(url)
        response = browser.get(url)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        page = Page(url)
        page.feed(response.content.decode())
        forms |= {urlsplit(f)._replace(scheme="", netloc="").geturl() for f in page.forms}
        todo += sorted(link for link in page.links if link not in seen)
    return forms


def test_every_form_refuses_a_post_without_its_csrf_token(served, staff):
    staff_browser = Client(enforce_csrf_checks=True)
    staff_browser.force_login(staff)
    forms = walk(staff_browser, ["/", "/alerts/", "/admin/"])
    visitor_forms = walk(Client(enforce_csrf_checks=True), ["/accounts/login/"])

    assert "/accounts/login/" in visitor_forms
    assert "/alerts/" in forms and any(f.startswith("/admin/") for f in forms)
    assert len(forms) >= 5, forms
    for target in sorted(forms):
        assert staff_browser.post(target, {}).status_code == 403, target
    for target in sorted(visitor_forms):
        assert Client(enforce_csrf_checks=True).post(target, {}).status_code == 403, target
