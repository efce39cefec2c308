"""Every page works under the Content-Security-Policy: the `page` fixture fails a test on
anything the browser refuses; here the pages the other browser tests do not open."""

from __future__ import annotations

import pytest

from .conftest import log_in

PAGES = [
    "/alerts/",
    "/api/docs/",
    "/api/v1/health",  # the browsable API, for a person logged in
    "/admin/",
    "/admin/heatmaps/weightconfig/add/",
    "/admin/knox/authtoken/",
    "/admin/axes/accessattempt/",
    "/admin/django_q/schedule/",
]


@pytest.fixture
def staff_page(page, live_server, staff):
    log_in(page, live_server, "/alerts/", "staff")
    return page


@pytest.mark.parametrize("path", PAGES)
def test_the_page_needs_nothing_the_policy_refuses(staff_page, live_server, path):
    response = staff_page.goto(live_server.url + path)
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    staff_page.wait_for_load_state("networkidle")


def test_swagger_ui_draws_the_operations_without_inline_script(staff_page, live_server):
    staff_page.goto(live_server.url + "/api/docs/")
    staff_page.wait_for_selector(".opblock-summary-path")
    assert staff_page.locator(".opblock").count() >= 5
