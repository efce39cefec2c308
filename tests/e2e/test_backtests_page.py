"""The backtests page in a real browser: the runs, and a run's precision@10 % per model and
horizon against a random pick, with every figure in a table."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from .conftest import log_in, plotted, wait_for_plot

MODELS = ["Binance standard", "Funding adjusted", "Trade clusters", "Ensemble"]


@pytest.fixture
def run_id(served) -> int:
    """A real run on the sample (the live server's tests use a transactional database)."""
    from heatmaps.models import BacktestRun

    call_command("backtest", "--start", "2024-01-04", "--end", "2024-01-09", "--horizons", "1h,24h")
    return BacktestRun.objects.get().pk


def test_a_run_shows_its_precision_per_model_and_horizon_and_every_figure(
    page, live_server, dashboard_user, run_id
):
    log_in(page, live_server, "/backtests/")
    run = page.locator(f"#runs button[data-id='{run_id}']")
    expect(run).to_contain_text("2024-01-04 → 2024-01-09")
    run.click()
    expect(run).to_have_attribute("aria-pressed", "true")
    wait_for_plot(page)
    bars = plotted(page, "plot.data.map((t) => [t.type, t.name, t.x])")
    assert bars == [["bar", "1h", MODELS], ["bar", "24h", MODELS]]
    lines = plotted(page, "plot.layout.shapes.map((s) => [s.y0, s.y1, s.line.dash])")
    assert lines == [[0.1, 0.1, "dash"]]
    assert plotted(page, "plot.layout.annotations.map((a) => a.text)") == ["random"]

    api = page.request.get(f"{live_server.url}/api/v1/backtests/{run_id}").json()
    (figure,) = [
        r
        for r in api["results"]
        if (r["model"], r["horizon"], r["side"]) == ("ensemble", "24h", "both")
    ]
    assert figure["precision_at_10"] is not None
    shown = f"{figure['precision_at_10'] * 100:.1f} %"
    row = page.locator("#figures tbody tr").filter(has_text="Ensemble").filter(has_text="24h")
    expect(row.filter(has_text="both").locator("td").nth(3)).to_have_text(shown)
    expect(run.locator("strong")).to_have_text(shown)
    expect(page.locator("#figures tbody tr")).to_have_count(len(api["results"]))
    expect(page.locator("#empty")).to_be_hidden()


def test_with_no_runs_the_page_says_how_to_make_one(page, live_server, dashboard_user):
    log_in(page, live_server, "/backtests/")
    page.wait_for_selector("#plot[data-state=empty]", state="attached")
    empty = page.locator("#empty")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("python manage.py backtest --symbol BTCUSDT")
    expect(page.locator("#runs button")).to_have_count(0)


def test_a_failed_run_shows_its_error(page, live_server, dashboard_user, served):
    from heatmaps.models import BacktestRun

    failed = BacktestRun.objects.create(
        start="2024-01-04", end="2024-01-09", status="failed", error="ValueError: no heatmap"
    )
    log_in(page, live_server, "/backtests/")
    page.wait_for_selector("#plot[data-state=ready]", state="attached")
    expect(page.locator(f"#runs button[data-id='{failed.pk}']")).to_contain_text("failed")
    expect(page.locator("#run-error")).to_have_text("ValueError: no heatmap")
    expect(page.locator("#plot")).to_be_hidden()
    expect(page.locator("#figures")).to_be_hidden()
