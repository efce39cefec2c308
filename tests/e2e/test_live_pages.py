"""Live pages: every minute they ask for what is new, and they say when the market data has
stopped coming (the bundled sample is history: no such warning there)."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import log_in, wait_for_plot
from .test_heatmap_details import sample_ingested  # noqa: F401  (a fixture)

STALE = "No new market data for"


def test_old_live_data_is_named_on_the_heatmap_and_the_map(page, live_server, dashboard_user):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    expect(page.locator("#warnings")).to_contain_text(STALE)
    expect(page.locator("#stats")).to_contain_text(" d old)")
    page.goto(live_server.url + "/map/")
    wait_for_plot(page)
    expect(page.locator("#warnings")).to_contain_text(STALE)


def test_the_sample_is_history_not_a_stopped_feed(
    page,
    live_server,
    dashboard_user,
    sample_ingested,  # noqa: F811
):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    expect(page.locator("#stats")).to_contain_text("2024-01-11 00:00 UTC")
    expect(page.locator("#warnings")).not_to_contain_text(STALE)
    expect(page.locator("#stats")).not_to_contain_text("old)")


def test_every_minute_the_heatmap_asks_only_for_the_columns_after_the_last(
    page, live_server, dashboard_user
):
    page.clock.install()
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    shown = page.evaluate("document.getElementById('plot').data[0].x.length")
    with page.expect_request(lambda r: "liquidations/heatmap" in r.url and "since=" in r.url):
        page.clock.run_for(61_000)
    page.wait_for_timeout(300)
    assert page.locator("#plot").get_attribute("data-state") == "ready"
    # nothing new in the sample: the same columns, none lost or doubled
    assert page.evaluate("document.getElementById('plot').data[0].x.length") == shown
