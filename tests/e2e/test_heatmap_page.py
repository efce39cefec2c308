"""The heatmap page in a real browser: it draws, follows its selectors, zooms by refetching,
warns of a liquidation cluster ahead and explains the API's errors."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from models_engine.calibration import LEVERAGE_TIERS
from tests.conftest import PASSWORD, build_served_warehouse

from .conftest import log_in, plotted, query_of, wait_for_plot

HEATMAP_API = "/api/v1/liquidations/heatmap"
SIGNALS_API = "**/api/v1/trading/signals*"


def total_drawn(page: Page) -> float:
    return plotted(page, "plot.data[0].z.flat().reduce((sum, v) => sum + v, 0)")


def change_and_wait(page: Page, action, **expected_params) -> dict[str, str]:
    """Do ``action`` and return the query of the heatmap request it made, once drawn."""
    with page.expect_response(lambda r: HEATMAP_API in r.url) as answer:
        action()
    query = query_of(answer.value.url)
    for name, value in expected_params.items():
        assert query.get(name) == value, query
    wait_for_plot(page)
    return query


def test_the_heatmap_draws_pending_liquidations_with_candles_and_the_price_line(
    page, live_server, dashboard_user
):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    assert page.locator("#plot .main-svg").count() > 0
    assert page.locator("#plot .heatmaplayer image, #plot .hm image").count() == 1
    assert plotted(page, "plot.data.map((trace) => trace.type)") == ["heatmap", "candlestick"]
    assert total_drawn(page) > 0
    expect(page.locator("#title")).to_have_text("BTCUSDT · Ensemble · 7d")
    expect(page.locator("#stats")).to_contain_text("$46,662.9")
    price_lines = plotted(page, "plot.layout.shapes.filter((s) => s.y0 === s.y1).map((s) => s.y0)")
    assert 46662.9 in price_lines


def test_switching_timeframe_and_model_fetches_again_and_redraws(page, live_server, dashboard_user):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    columns_7d = plotted(page, "plot.data[0].x.length")

    change_and_wait(page, lambda: page.click("label:has-text('1d')"), timeframe="1d")
    expect(page.locator("#title")).to_have_text("BTCUSDT · Ensemble · 1d")
    assert plotted(page, "plot.data[0].x.length") < columns_7d

    before = total_drawn(page)
    change_and_wait(
        page,
        lambda: page.select_option("select[name=model]", "trade_clusters"),
        model="trade_clusters",
        timeframe="1d",
    )
    expect(page.locator("#title")).to_have_text("BTCUSDT · Trade clusters · 1d")
    assert total_drawn(page) != before
    assert query_of(page.url) == {"model": "trade_clusters", "timeframe": "1d"}


def test_the_leverage_filter_asks_for_the_chosen_tiers_only(page, live_server, dashboard_user):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    every_tier = total_drawn(page)
    for tier in [f"{t:g}x" for t in LEVERAGE_TIERS if t != 100]:
        query = change_and_wait(page, lambda tier=tier: page.get_by_text(tier, exact=True).click())
    assert query["leverage"] == "100"
    assert 0 < total_drawn(page) < every_tier


def test_side_and_colour_clipping_redraw_without_asking_the_server(
    page, live_server, dashboard_user
):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    heatmap_requests = []
    page.on("request", lambda r: HEATMAP_API in r.url and heatmap_requests.append(r.url))
    both, clipped = total_drawn(page), plotted(page, "plot.data[0].zmax")

    page.click("label:has-text('Longs')")
    assert 0 < total_drawn(page) < both
    page.select_option("select[name=clip]", "100")
    assert plotted(page, "plot.data[0].zmax") > clipped
    assert heatmap_requests == []


def test_zooming_refetches_the_visible_range_and_double_click_zooms_back_out(
    page, live_server, dashboard_user
):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    box = page.locator("#plot .nsewdrag").bounding_box()
    left, top = box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.35
    right, bottom = box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.6

    def drag():
        page.mouse.move(left, top)
        page.mouse.down()
        page.mouse.move((left + right) / 2, (top + bottom) / 2, steps=4)
        page.mouse.move(right, bottom, steps=4)
        page.mouse.up()

    columns, rows = plotted(page, "[plot.data[0].x.length, plot.data[0].y.length]")
    zoomed = change_and_wait(page, drag)
    start, end = (datetime.fromisoformat(zoomed[name]) for name in ("start", "end"))
    low, high = float(zoomed["price_min"]), float(zoomed["price_max"])
    assert start < end and low < 46662.9 < high
    expect(page.locator("#title")).to_contain_text("zoomed")
    times = [datetime.fromisoformat(t) for t in plotted(page, "plot.data[0].x")]
    prices = plotted(page, "plot.data[0].y")
    hour = timedelta(hours=1)
    assert start - hour <= times[0] and times[-1] <= end + hour and len(times) < columns
    assert low - 100 <= prices[0] and prices[-1] <= high + 200 and len(prices) < rows

    center = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    zoomed_out = change_and_wait(page, lambda: page.mouse.dblclick(*center))
    assert "start" not in zoomed_out and "price_min" not in zoomed_out
    expect(page.locator("#title")).to_have_text("BTCUSDT · Ensemble · 7d")


@pytest.fixture(scope="module")
def served_until_jan_5(tmp_path_factory, django_db_blocker):
    """The sample calculated up to 2024-01-06 00:00, when the price sits within 2 % of a
    cluster (the signal says AVOID)."""
    from datetime import date

    with django_db_blocker.unblock():
        return build_served_warehouse(
            tmp_path_factory.mktemp("jan5"), end=date(2024, 1, 5), symbols=("BTCUSDT",)
        )


def test_the_banner_warns_of_a_cluster_within_2_percent(
    page, live_server, dashboard_user, settings, served_until_jan_5
):
    settings.DUCKDB_PATH, settings.SERVING_PATH = served_until_jan_5
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    signal = page.request.get(live_server.url + "/api/v1/trading/signals").json()
    assert signal["action"] == "AVOID" and signal["distance_pct"] <= 2
    banner = page.locator("#banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Liquidation cluster ahead")
    expect(banner).to_contain_text(f"${signal['cluster_price']:,.0f}")
    expect(banner).to_contain_text(f"{signal['distance_pct']:.2f} %")
    assert signal["cluster_price"] in plotted(page, "plot.layout.shapes.map((s) => s.y0)")


def test_no_banner_when_the_nearest_cluster_is_farther_than_2_percent(
    page, live_server, dashboard_user
):
    # at the sample's end the nearest cluster is $48,100, 3.19 % above the price
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    expect(page.locator("#signal")).to_contain_text("No liquidation cluster within 2%")
    expect(page.locator("#banner")).to_be_hidden()


def test_an_unknown_symbol_is_explained_on_the_page(
    page, live_server, dashboard_user, settings, tmp_path
):
    settings.SERVING_PATH = tmp_path / "nothing-published"
    log_in(page, live_server, "/heatmap/")
    page.wait_for_selector("#plot[data-state=error]")
    expect(page.locator("#error")).to_contain_text(
        "The request was refused (symbol: unknown symbol"
    )


def test_a_broken_warehouse_is_explained_with_the_retry_delay(
    page, live_server, dashboard_user, settings, tmp_path
):
    broken = tmp_path / "serving"
    (broken / "BTCUSDT").mkdir(parents=True)
    (broken / "BTCUSDT" / "snapshot-broken.duckdb").write_text("not a database")
    (broken / "BTCUSDT" / "current").write_text("snapshot-broken.duckdb")
    settings.SERVING_PATH, settings.WAREHOUSE_RETRY_DELAYS = broken, []
    log_in(page, live_server, "/heatmap/")
    page.wait_for_selector("#plot[data-state=error]")
    expect(page.locator("#error")).to_contain_text("The data warehouse is unavailable right now")
    expect(page.locator("#error")).to_contain_text("retry in 30 s")


def test_an_ended_session_offers_to_log_in_again(page, live_server, dashboard_user):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    page.context.clear_cookies()
    page.click("label:has-text('3d')")
    page.wait_for_selector("#plot[data-state=error]")
    expect(page.locator("#error")).to_contain_text("Your session has ended.")
    page.click("#error a:has-text('Log in again')")
    page.fill("input[name=username]", "trader")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/heatmap/?model=ensemble&timeframe=3d")
    wait_for_plot(page)
    expect(page.locator("#title")).to_have_text("BTCUSDT · Ensemble · 3d")
