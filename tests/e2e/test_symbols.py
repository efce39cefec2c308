"""Two symbols end to end: the selectors list what is served, and choosing ETHUSDT (the
sample's ETH-scale derivative, prices × 0.05) draws its heatmap, its map and its signal at
ETH's prices, in $10 buckets."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import log_in, plotted, query_of, wait_for_plot

ETH_PRICE = 2333.145  # the sample's last BTCUSDT price, 46,662.9, × 0.05


def choose_eth(page, api: str):
    """Pick ETHUSDT in the symbol selector; the JSON bodies of ``api`` and of the signal it
    fetched with it (if any), once drawn."""
    with page.expect_response(lambda r: api in r.url) as answer:
        page.select_option("select[name=symbol]", "ETHUSDT")
    assert query_of(answer.value.url)["symbol"] == "ETHUSDT"
    wait_for_plot(page)
    return answer.value.json()


def test_the_selectors_list_both_served_symbols(page, live_server, dashboard_user):
    log_in(page, live_server, "/heatmap/")
    for path in ("/heatmap/", "/map/", "/compare/"):
        page.goto(live_server.url + path)
        options = page.locator("select[name=symbol] option").all_inner_texts()
        assert options == ["BTCUSDT", "ETHUSDT"], path


def test_the_eth_heatmap_and_its_signal_are_drawn_at_eths_prices(page, live_server, dashboard_user):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    with page.expect_response(lambda r: "/api/v1/trading/signals" in r.url) as signal:
        body = choose_eth(page, "/api/v1/liquidations/heatmap")
    assert query_of(signal.value.url)["symbol"] == "ETHUSDT"
    expect(page.locator("#title")).to_have_text("ETHUSDT · Ensemble · 7d")
    assert body["metadata"]["price_step"] == 10 and body["current_price"] == ETH_PRICE
    rows = plotted(page, "plot.data[0].y")
    assert min(rows) > 1_000 and max(rows) < 4_000
    assert ETH_PRICE in plotted(
        page, "plot.layout.shapes.filter((s) => s.y0 === s.y1).map((s) => s.y0)"
    )
    cluster = signal.value.json()["cluster_price"]
    assert 1_000 < cluster < 4_000 and cluster % 10 == 0
    expect(page.locator("#stats")).to_contain_text("$2,333.1")
    # the choice is kept in the address, and a reload comes back to it
    assert query_of(page.url)["symbol"] == "ETHUSDT"
    with page.expect_response(lambda r: "/api/v1/liquidations/heatmap" in r.url) as again:
        page.reload()
    assert query_of(again.value.url)["symbol"] == "ETHUSDT"
    wait_for_plot(page)


def test_the_eth_map_puts_longs_below_and_shorts_above_eths_price(
    page, live_server, dashboard_user
):
    log_in(page, live_server, "/map/")
    wait_for_plot(page)
    body = choose_eth(page, "/api/v1/liquidations/levels")
    price = body["current_price"]
    assert price == ETH_PRICE
    expect(page.locator("#title")).to_contain_text("ETHUSDT")
    curves = {
        t["name"]: t["x"]
        for t in plotted(page, "plot.data.map((t) => ({name: t.name, x: t.x}))")
        if t["name"].startswith("Cumulative")
    }
    assert curves["Cumulative longs"] and all(x <= price for x in curves["Cumulative longs"])
    assert curves["Cumulative shorts"] and all(x >= price for x in curves["Cumulative shorts"])
    assert all(0.4 * price < x < 1.6 * price for xs in curves.values() for x in xs)
