"""Backtests: the models' stored heatmaps scored against realized liquidations."""

from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from heatmaps import tasks
from heatmaps.models import BacktestRun

pytestmark = pytest.mark.django_db


def test_a_backtest_scores_every_model_horizon_and_side(served, capsys):
    call_command("backtest", "--start", "2024-01-04", "--end", "2024-01-09", "--horizons", "1h,24h")
    run = BacktestRun.objects.get()
    assert run.status == BacktestRun.Status.DONE and run.finished_at
    assert len(run.results) == 4 * 2 * 3
    ensemble = next(
        r
        for r in run.results
        if r["model"] == "ensemble" and r["horizon"] == "24h" and r["side"] == "both"
    )
    # better than a random map (0.10) on the sample, and never above 1
    assert 0.1 < ensemble["precision_at_10"] <= 1 and ensemble["evaluations"] == 6
    assert "ensemble" in capsys.readouterr().out


def test_a_run_is_scored_by_one_process_only(served):
    run = BacktestRun.objects.create(
        start="2024-01-05", end="2024-01-05", horizons="1h", model_names="ensemble"
    )
    assert run.claim()
    assert not BacktestRun.objects.get(pk=run.pk).claim()
    assert tasks.backtest(run.pk)["skipped"] == "already running"


def test_bad_input_fails_the_run_with_the_reason(served):
    run = BacktestRun.objects.create(start="2024-01-05", end="2024-01-06", horizons="2h")
    tasks.backtest(run.pk)
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.FAILED and "unknown horizon" in run.error
    with pytest.raises(CommandError, match="start must not be after end"):
        call_command("backtest", "--start", "2024-01-06", "--end", "2024-01-05")


def test_staff_see_the_figures_in_the_admin(served, clients):
    call_command("backtest", "--start", "2024-01-04", "--end", "2024-01-09", "--horizons", "24h")
    run = BacktestRun.objects.get()
    listing = clients["staff"].get("/admin/heatmaps/backtestrun/").content.decode()
    detail = clients["staff"].get(f"/admin/heatmaps/backtestrun/{run.pk}/change/").content.decode()
    assert "lift" in listing and "precision_at_10" in detail and "trade_clusters" in detail


def test_the_api_lists_runs_with_their_figures(served, clients):
    call_command("backtest", "--start", "2024-01-04", "--end", "2024-01-09", "--horizons", "24h")
    runs = clients["bot"].get("/api/v1/backtests").json()
    assert [r["status"] for r in runs] == ["done"]
    detail = clients["trader"].get(f"/api/v1/backtests/{runs[0]['id']}").json()
    assert {r["model"] for r in detail["results"]} == {
        "binance_standard",
        "funding_adjusted",
        "trade_clusters",
        "ensemble",
    }
    assert clients["outsider"].get("/api/v1/backtests").status_code == 401
    assert clients["bot"].get("/api/v1/backtests/999").status_code == 404


def test_paper_trading_reports_both_strategies_on_the_sample(served, capsys):
    result = tasks.paper_trade("BTCUSDT", date(2024, 1, 4), date(2024, 1, 10))
    assert result["hours"] == 7 * 24
    assert sum(result["signals"].values()) == 7 * 24
    assert set(result["signals"]) <= {"AVOID", "CLEAR", "REVERSAL_OPPORTUNITY", "WAIT"}
    assert result["hours_flat_by_filter"] > 0
    assert result["baseline"]["pnl"] != result["filtered"]["pnl"]
    call_command("paper_trade", "--start", "2024-01-04", "--end", "2024-01-10")
    out = capsys.readouterr().out
    assert "baseline" in out and "filtered" in out


def test_the_admin_queues_a_backtest_and_the_worker_scores_it(served, clients):
    """A click never scores in the request (it may wait behind a writer for an hour): it
    queues the run on django-q2, and the qcluster worker scores it."""
    from django_q.models import OrmQ

    from .conftest import run_queued_tasks

    response = clients["staff"].post(
        "/admin/heatmaps/backtestrun/add/",
        {
            "symbol": "BTCUSDT",
            "start": "2024-01-04",
            "end": "2024-01-09",
            "model_names": "ensemble",
            "horizons": "24h",
        },
        follow=True,
    )
    run = BacktestRun.objects.get()
    assert run.status == BacktestRun.Status.QUEUED and run.results == []
    assert OrmQ.objects.count() == 1 and "queued" in response.content.decode()

    assert run_queued_tasks() == 1
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE and len(run.results) == 3

    clients["staff"].post(
        "/admin/heatmaps/backtestrun/",
        {"action": "run_again", "_selected_action": [run.pk]},
    )
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.QUEUED and OrmQ.objects.count() == 1
    run_queued_tasks()
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE


def test_scoring_and_paper_trading_read_while_a_writer_holds_the_warehouse(served, settings):
    """They read the served snapshot read-only: a calculate holding the writer lock for an hour
    never makes them wait (here they would give up after 1 s if they asked for the lock)."""
    from heatmaps import warehouse

    settings.WAREHOUSE_LOCK_TIMEOUT = 1
    run = BacktestRun.objects.create(
        start="2024-01-04", end="2024-01-09", horizons="24h", model_names="ensemble"
    )
    with warehouse.connect("BTCUSDT"):
        tasks.backtest(run.pk)
        traded = tasks.paper_trade("BTCUSDT", date(2024, 1, 4), date(2024, 1, 10))
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE, run.error
    assert traded["signals"]


def test_a_window_resting_on_stream_liquidations_says_they_undercount(served, settings, tmp_path):
    """Liquidations recorded from the forceOrder stream (at most one a second per symbol) are
    named on the run, so nobody reads its figures as resting on the full record."""
    import shutil

    import pandas as pd

    from heatmaps import warehouse
    from heatmaps.binance.stream import STREAM_UNDERCOUNT

    btc = warehouse.path_of("BTCUSDT")  # the served sample's
    settings.DUCKDB_PATH, settings.SERVING_PATH = tmp_path / "liquidations.duckdb", tmp_path / "s"
    shutil.copy(btc, warehouse.path_of("BTCUSDT"))
    streamed = pd.DataFrame(
        {
            "symbol": "BTCUSDT",
            "timestamp": [1704412800000 + 1000 * i for i in range(3)],  # 2024-01-05 00:00
            "side": "long",
            "price": 43000.0,
            "quantity": 0.5,
            "bankruptcy_price": 42900.0,
            "original_quantity": 0.5,
            "order_type": "LIMIT",
            "time_in_force": "IOC",
            "order_status": "FILLED",
        }
    )
    with warehouse.connect("BTCUSDT") as con:
        columns = warehouse.LIVE_TABLES["liquidation_history"].columns
        added = warehouse.insert_rows(con, "liquidation_history", streamed[list(columns)], "stream")
        warehouse.publish(con, "BTCUSDT")
    assert added == 3

    call_command("backtest", "--start", "2024-01-04", "--end", "2024-01-09", "--horizons", "24h")
    run = BacktestRun.objects.get()
    assert len(run.notes) == 1 and run.notes[0].startswith("3 of ")
    assert STREAM_UNDERCOUNT in run.notes[0]
    call_command("backtest", "--start", "2024-01-07", "--end", "2024-01-07", "--horizons", "1h")
    assert BacktestRun.objects.order_by("-pk").first().notes == []
