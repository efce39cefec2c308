"""The compare page in a real browser: every model's levels in its own row, its confidence,
and the zones where the models disagree shaded."""

from __future__ import annotations

import pytest
from django.test import override_settings
from playwright.sync_api import expect

from tests.conftest import build_served_warehouse

from .conftest import log_in, plotted, wait_for_plot

MODELS = ["Binance standard", "Funding adjusted", "Trade clusters", "Ensemble"]


def test_every_model_gets_a_row_and_a_card_with_its_average_confidence(
    page, live_server, dashboard_user
):
    log_in(page, live_server, "/compare/")
    wait_for_plot(page)
    cards = page.locator(".card")
    expect(cards).to_have_count(4)
    for name in MODELS:
        expect(cards.filter(has_text=name)).to_contain_text("Avg confidence")
    expect(cards.filter(has_text="Trade clusters")).to_contain_text("68.0 %")
    rows = plotted(page, "new Set(plot.data.map((t) => t.yaxis)).size")
    assert rows == 4
    # on the sample the models' mean levels agree: nothing to shade
    real = page.request.get(live_server.url + "/api/v1/liquidations/compare-models").json()
    assert real["zones"] == []
    assert plotted(page, "plot.layout.shapes.filter((s) => s.type === 'rect').length") == 0
    expect(page.locator("#zones")).to_contain_text("agree within 5 %")
    # the weights the ensemble combined its members with, as the API says
    stats = page.locator("#stats")
    expect(stats).to_contain_text("Ensemble weights")
    for name, weight in real["weights"]["in_force"].items():
        label = {
            "binance_standard": "Binance standard",
            "funding_adjusted": "Funding adjusted",
            "trade_clusters": "Trade clusters",
        }[name]
        expect(stats).to_contain_text(f"{label}{round(weight * 100)} %")


@pytest.fixture(scope="module")
def served_with_disagreement(tmp_path_factory, django_db_blocker):
    """The sample, with trade_clusters' long levels moved 10 % lower by a writer, as a model
    that disagrees would leave them."""
    from heatmaps import warehouse

    with django_db_blocker.unblock():
        duckdb_path, serving = build_served_warehouse(
            tmp_path_factory.mktemp("disagree"), symbols=("BTCUSDT",)
        )
    with override_settings(DUCKDB_PATH=duckdb_path), warehouse.connect("BTCUSDT") as con:
        con.execute(
            "UPDATE liquidation_levels SET price_level = price_level * 0.9 "
            "WHERE model = 'trade_clusters' AND side = 'long'"
        )
        warehouse.publish(con, "BTCUSDT", serving=serving)
    return duckdb_path, serving


def test_a_zone_where_the_models_differ_is_shaded_and_named(
    page, live_server, dashboard_user, settings, served_with_disagreement
):
    settings.DUCKDB_PATH, settings.SERVING_PATH = served_with_disagreement
    log_in(page, live_server, "/compare/")
    wait_for_plot(page)
    (zone,) = page.request.get(live_server.url + "/api/v1/liquidations/compare-models").json()[
        "zones"
    ]
    assert zone["side"] == "long" and zone["gap_pct"] > 5
    rects = plotted(page, "plot.layout.shapes.filter((s) => s.type === 'rect')")
    assert [(r["x0"], r["x1"], r["yref"]) for r in rects] == [(zone["low"], zone["high"], "paper")]
    assert page.locator("#plot .shapelayer path").count() > 0
    expect(page.locator("#zones")).to_contain_text(
        f"Models disagree on longs between ${zone['low']:,.0f} and ${zone['high']:,.0f}"
    )


def test_the_meters_take_their_bands_colour_and_a_legend_explains_the_marks(
    page, live_server, dashboard_user
):
    log_in(page, live_server, "/compare/")
    wait_for_plot(page)
    meter = page.locator(".card", has_text="Trade clusters").locator(".meter")
    expect(meter).to_have_attribute("data-band", "medium")  # 68 %: amber, not teal
    amber = meter.locator("b").evaluate("(b) => getComputedStyle(b).backgroundColor")
    assert amber == "rgb(255, 176, 32)"
    legend = plotted(page, "plot.data.filter((t) => t.showlegend !== false).map((t) => t.name)")
    assert {"longs", "shorts", "mean level (dotted)"} <= set(legend)
    assert plotted(page, "plot.layout.showlegend") is True
