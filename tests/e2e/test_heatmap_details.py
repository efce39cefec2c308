"""The heatmap page's finer points in a real browser: a zoom comes back at a finer resolution,
no tier ticked is said, the tooltip splits longs and shorts, the sample is badged."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import SAMPLE

from .conftest import log_in, plotted, wait_for_plot

HEATMAP_API = "/api/v1/liquidations/heatmap"


def answer_of(page: Page, action) -> dict:
    """Do ``action`` and return the heatmap the page fetched for it, once drawn."""
    with page.expect_response(lambda r: HEATMAP_API in r.url) as answer:
        action()
    wait_for_plot(page)
    return answer.value.json()


def test_a_dragged_range_comes_back_in_finer_buckets(page, live_server, dashboard_user):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    wide = answer_of(page, lambda: page.click("label:has-text('90d')"))
    assert wide["metadata"]["time_bucket_seconds"] > 3600
    box = page.locator("#plot .nsewdrag").bounding_box()

    def drag():
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=4)
        page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.7, steps=4)
        page.mouse.up()

    zoomed = answer_of(page, drag)
    assert zoomed["metadata"]["time_bucket_seconds"] < wide["metadata"]["time_bucket_seconds"]
    assert zoomed["metadata"]["price_step"] <= wide["metadata"]["price_step"]
    assert zoomed["metadata"]["price_step"] >= zoomed["metadata"]["stored_price_step"]
    expect(page.locator("#stats")).to_contain_text(f"1 h × ${zoomed['metadata']['price_step']:g}")
    columns = plotted(page, "plot.data[0].x.length")
    assert columns == len(zoomed["times"])


def test_unticking_every_tier_says_no_tier_is_selected(page, live_server, dashboard_user):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    requests = []
    page.on("request", lambda r: HEATMAP_API in r.url and requests.append(r.url))
    boxes = page.locator("input[name=leverage]")
    for i in range(boxes.count()):
        page.locator("fieldset.chips label").nth(i).click()
    page.wait_for_selector("#plot[data-state=empty]", state="attached")
    expect(page.locator("#no-tier")).to_be_visible()
    expect(page.locator("#no-tier")).to_contain_text("No leverage tier selected")
    expect(page.locator("#plot")).to_be_hidden()
    expect(page.locator("#stats")).to_be_empty()
    # the last click asked for nothing: no tier is not every tier
    assert len(requests) == boxes.count() - 1
    assert all("leverage=" in url for url in requests)

    with page.expect_response(lambda r: r.url.endswith("leverage=10")):
        page.get_by_text("10x", exact=True).click()
    wait_for_plot(page)
    expect(page.locator("#no-tier")).to_be_hidden()


def test_the_tooltip_splits_longs_and_shorts_and_empty_cells_say_nothing(
    page, live_server, dashboard_user
):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    # empty cells are gaps (no colour, no label), never "$0 pending"
    assert plotted(page, "plot.data[0].z.flat().every((v) => v === null || v > 0)")
    assert plotted(page, "plot.data[0].hoverongaps") is False
    x, y = plotted(
        page,
        """(() => {
          const z = plot.data[0].z, j = z[0].length - 2, y = plot.data[0].y;
          const L = plot._fullLayout, box = plot.querySelector('.nsewdrag').getBoundingClientRect();
          // the densest cell of the column among those the view shows (clusters may lie beyond
          // it) and below its top fifth, where the mode bar shows over the plot's right end
          const [low, high] = L.yaxis.range, top = high - (high - low) / 5;
          const shown = (i) => y[i] >= low && y[i + 1] <= top;
          let best = z.findIndex((row, i) => shown(i));
          z.forEach((row, i) => { if (shown(i) && (row[j] || 0) > (z[best][j] || 0)) best = i; });
          const price = (plot.data[0].y[best] + plot.data[0].y[best + 1]) / 2;
          return [box.left + L.xaxis.d2p(plot.data[0].x[j]), box.top + L.yaxis.d2p(price)];
        })()""",
    )
    page.mouse.move(x, y)
    label = page.locator("#plot .hoverlayer .hovertext").first
    expect(label).to_contain_text("longs $")
    expect(label).to_contain_text(" · shorts $")
    expect(label).not_to_contain_text("pending")


def test_longs_and_shorts_change_the_figures_too(page, live_server, dashboard_user):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    both = page.locator("#stats").inner_text()
    page.click("label:has-text('Longs')")
    expect(page.locator("#stats")).to_contain_text("Pending longs")
    assert page.locator("#stats").inner_text() != both
    page.click("label:has-text('Shorts')")
    expect(page.locator("#stats")).to_contain_text("Densest level shorts")


@pytest.fixture
def sample_ingested(db):
    from heatmaps import sample_data
    from heatmaps.models import IngestRun

    IngestRun.objects.create(
        symbol="BTCUSDT",
        start=date(2024, 1, 1),
        end=date(2024, 1, 10),
        source=str(SAMPLE),
        status=IngestRun.Status.OK,
    )
    sample_data._answers.clear()
    yield
    sample_data._answers.clear()


def test_every_page_badges_the_bundled_sample(page, live_server, dashboard_user, sample_ingested):
    log_in(page, live_server, "/heatmap/")
    for path in ("/heatmap/", "/map/", "/compare/", "/backtests/"):
        page.goto(live_server.url + path)
        badge = page.locator("#sample-badge")
        expect(badge).to_be_visible()
        expect(badge).to_contain_text("Sample data · synthetic positions on real candles")


def test_no_badge_on_data_from_elsewhere(page, live_server, dashboard_user):
    from heatmaps import sample_data

    sample_data._answers.clear()
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    expect(page.locator("#sample-badge")).to_have_count(0)


def test_12h_is_drawn_around_its_candles(page, live_server, dashboard_user):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    body = answer_of(page, lambda: page.click("label:has-text('12h')"))
    meta = body["metadata"]
    shown = plotted(page, "plot._fullLayout.yaxis.range")
    assert shown == [meta["view_price_min"], meta["view_price_max"]]
    # the rows beyond are drawn too, for a zoom out
    assert plotted(page, "plot.data[0].y[0]") < shown[0]
