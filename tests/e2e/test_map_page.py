"""The liquidation map in a real browser: bars per leverage tier around the price, cumulative
curves on their own axis, one fetch per model."""

from __future__ import annotations

from playwright.sync_api import expect

from models_engine.calibration import LEVERAGE_TIERS

from .conftest import log_in, plotted, query_of, wait_for_plot

LEVELS_API = "/api/v1/liquidations/levels"


def test_the_map_stacks_levels_by_tier_with_longs_below_and_shorts_above_the_price(
    page, live_server, dashboard_user
):
    log_in(page, live_server, "/map/")
    wait_for_plot(page)
    assert page.locator("#plot .main-svg").count() > 0
    assert page.locator("#plot .barlayer .point").count() > 20
    traces = plotted(
        page, "plot.data.map((t) => ({type: t.type, name: t.name, x: t.x, yaxis: t.yaxis}))"
    )
    bars = [t["name"] for t in traces if t["type"] == "bar"]
    assert len(bars) >= 4 and set(bars) <= {f"{t:g}x" for t in LEVERAGE_TIERS}
    assert plotted(page, "plot.layout.barmode") == "stack"
    curves = {t["name"]: t for t in traces if t["type"] == "scatter"}
    price = 46662.9
    assert all(x <= price for x in curves["Cumulative longs"]["x"])
    assert all(x >= price for x in curves["Cumulative shorts"]["x"])
    assert {t["yaxis"] for t in curves.values()} == {"y2"}
    assert price in plotted(page, "plot.layout.shapes.map((s) => s.x0)")
    expect(page.locator("#stats")).to_contain_text("Longs below")


def test_choosing_a_model_fetches_its_levels_and_the_range_only_rescales(
    page, live_server, dashboard_user
):
    log_in(page, live_server, "/map/")
    wait_for_plot(page)
    with page.expect_response(lambda r: LEVELS_API in r.url) as answer:
        page.select_option("select[name=model]", "funding_adjusted")
    assert query_of(answer.value.url)["model"] == "funding_adjusted"
    expect(page.locator("#title")).to_contain_text("Funding adjusted")

    requests = []
    page.on("request", lambda r: LEVELS_API in r.url and requests.append(r.url))
    narrow = plotted(page, "plot.layout.xaxis.range")
    page.click("label:has-text('All')")
    wide = plotted(page, "plot.layout.xaxis.range")
    assert wide[0] < narrow[0] and wide[1] > narrow[1]
    assert requests == []


def test_the_largest_level_is_one_in_view_and_the_bars_say_their_side(
    page, live_server, dashboard_user
):
    log_in(page, live_server, "/map/")
    wait_for_plot(page)
    for choice in ("±5 %", "All"):
        page.click(f"label:has-text('{choice}')")
        low, high = plotted(page, "plot.layout.xaxis.range")
        largest = page.locator("#stats div", has_text="Largest level in view").inner_text()
        price = float(largest.split("$")[1].split(" ")[0].replace(",", ""))
        assert low <= price <= high, (choice, largest)
    sides = plotted(page, "plot.data.filter((t) => t.type === 'bar').flatMap((t) => t.customdata)")
    assert set(sides) <= {"longs", "shorts", "longs and shorts"} and "longs" in sides
    colours = plotted(page, "plot.data.map((t) => t.marker?.color || t.line?.color)")
    names = plotted(page, "plot.data.map((t) => t.name)")
    by_name = dict(zip(names, colours, strict=True))
    tiers = [by_name[n] for n in names if n.endswith("x")]
    assert len(set(tiers)) == len(tiers) and by_name["Cumulative longs"] not in tiers
