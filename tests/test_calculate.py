"""calculate: the models read the warehouse and write levels, heatmaps and predicted logs."""

from __future__ import annotations

from datetime import date

import pytest
import structlog
from django.core.management import call_command
from django.core.management.base import CommandError

from heatmaps import tasks, warehouse
from heatmaps.models import WeightConfig
from models_engine.backtest import spearman_vs_truth
from models_engine.calibration import LEVERAGE_TIERS

from .conftest import SAMPLE

pytestmark = pytest.mark.django_db
MODELS = ["binance_standard", "ensemble", "funding_adjusted", "trade_clusters"]


@pytest.fixture
def loaded(warehouse_path):
    tasks.ingest("BTCUSDT", date(2024, 1, 1), date(2024, 1, 10), source=SAMPLE)
    return warehouse_path


def rows(path, sql: str, params=()) -> list[tuple]:
    with warehouse.connect(path) as con:
        return con.execute(sql, list(params)).fetchall()


def test_it_fills_every_computed_table_for_every_model(loaded):
    summary = tasks.calculate("BTCUSDT")

    assert sorted(summary["models"]) == MODELS
    for table in ("liquidation_levels", "heatmap_cache", "predicted_liquidations"):
        per_model = dict(rows(loaded, f"SELECT model, count(*) FROM {table} GROUP BY model"))
        assert sorted(per_model) == MODELS and min(per_model.values()) > 0
    # the heatmap is hourly, $100 buckets, pending notional in USDT, both sides
    (hours, minute, step, sides, negative) = rows(
        loaded,
        """
        SELECT count(DISTINCT time_bucket), max(minute(time_bucket)),
               min(price_bucket % 100), count(DISTINCT side), count(*) FILTER (volume <= 0)
        FROM heatmap_cache WHERE model = 'ensemble'""",
    )[0]
    assert hours == 240 and minute == 0 and step == 0 and sides == 2 and negative == 0
    # every tier of the prior, longs below the last price and shorts above it
    price = rows(loaded, "SELECT current_price FROM model_runs WHERE model = 'binance_standard'")
    levels = rows(
        loaded,
        """SELECT side, leverage_tier, price_level FROM liquidation_levels
                             WHERE model = 'binance_standard'""",
    )
    assert {tier for _, tier, _ in levels} == {f"{t:g}x" for t in LEVERAGE_TIERS}
    assert all((lvl < price[0][0]) == (side == "long") for side, _, lvl in levels)


def test_a_rerun_replaces_its_window_instead_of_adding(loaded):
    tasks.calculate("BTCUSDT")
    before = rows(
        loaded, "SELECT model, count(*), sum(volume) FROM heatmap_cache GROUP BY 1 ORDER BY 1"
    )

    tasks.calculate("BTCUSDT")

    after = rows(
        loaded, "SELECT model, count(*), sum(volume) FROM heatmap_cache GROUP BY 1 ORDER BY 1"
    )
    assert [(m, n) for m, n, _ in after] == [(m, n) for m, n, _ in before]
    assert [v for *_, v in after] == pytest.approx([v for *_, v in before])
    assert rows(loaded, "SELECT count(*) FROM model_runs")[0][0] == 4


def test_a_window_touches_only_its_own_days(loaded):
    tasks.calculate("BTCUSDT", "binance_standard")
    outside = """SELECT time_bucket, price_bucket, side, volume FROM heatmap_cache
                 WHERE time_bucket < '2024-01-08' OR time_bucket > '2024-01-10' ORDER BY ALL"""
    before = rows(loaded, outside)

    summary = tasks.calculate("BTCUSDT", "binance_standard", date(2024, 1, 8), date(2024, 1, 9))

    assert summary["window"] == ["2024-01-08T00:00:00", "2024-01-10T00:00:00"]
    assert rows(loaded, outside) == before
    windows = rows(loaded, "SELECT window_start, window_end FROM model_runs ORDER BY 1")
    assert [(str(a), str(b)) for a, b in windows] == [
        ("2024-01-01 00:00:00", "2024-01-11 00:00:00"),
        ("2024-01-08 00:00:00", "2024-01-10 00:00:00"),
    ]
    inside = rows(
        loaded,
        """SELECT count(DISTINCT time_bucket) FROM heatmap_cache
                             WHERE time_bucket BETWEEN '2024-01-08' AND '2024-01-10'""",
    )
    assert inside == [(49,)]


def test_it_logs_the_specs_event_for_each_model(loaded):
    with structlog.testing.capture_logs() as logs:
        tasks.calculate("BTCUSDT", "ensemble")
    (event,) = [e for e in logs if e["event"] == "liquidations_calculated"]
    assert event["model"] == "ensemble" and event["symbol"] == "BTCUSDT"
    assert event["levels_count"] > 0 and 0 < event["avg_confidence"] <= 1
    assert event["duration_seconds"] > 0


def test_the_ensemble_follows_the_active_weights(loaded):
    WeightConfig.objects.create(
        name="A only",
        binance_standard=1.0,
        funding_adjusted=0.0,
        trade_clusters=0.0,
        is_active=True,
    )
    tasks.calculate("BTCUSDT")
    same = rows(
        loaded,
        """
        SELECT count(*), max(abs(e.volume - a.volume) / a.volume) FROM heatmap_cache e
        JOIN heatmap_cache a USING (time_bucket, price_bucket, side)
        WHERE e.model = 'ensemble' AND a.model = 'binance_standard'""",
    )[0]
    only_a = rows(loaded, "SELECT count(*) FROM heatmap_cache WHERE model = 'binance_standard'")
    assert same[0] == only_a[0][0] and same[1] < 1e-9


def test_the_models_track_the_true_pending_heatmap_of_the_sample(loaded):
    """On the synthetic sample the truth is known: every model must rank buckets like it."""
    import duckdb  # noqa: PLC0415  (reading the sample's truth file, not the warehouse)

    tasks.calculate("BTCUSDT")
    truth = duckdb.sql(f"""SELECT hour_open_time AS time_bucket, price_bucket::DOUBLE AS
                           price_bucket, side, notional_usdt AS volume
                           FROM '{SAMPLE / "truth/pending_heatmap.parquet"}'
                           WHERE hour_open_time >= 1704326400000""").df()  # from Jan 4
    with warehouse.connect(loaded) as con:
        for model in MODELS:
            heat = con.execute(
                """SELECT epoch_ms(time_bucket) AS time_bucket, price_bucket, side,
                                  volume FROM heatmap_cache WHERE model = ?""",
                [model],
            ).df()
            assert spearman_vs_truth(heat, truth) > 0.4, model


def test_the_command_prints_a_summary_and_refuses_bad_input(loaded, capsys):
    call_command("calculate", "--model", "ensemble", "--start", "2024-01-09")
    out = capsys.readouterr().out
    assert "ensemble" in out and "confidence" in out
    with pytest.raises(CommandError, match="after --end"):
        call_command("calculate", "--start", "2024-01-09", "--end", "2024-01-01")
    with pytest.raises(CommandError, match="no candles for ETHUSDT"):
        call_command("calculate", "--symbol", "ETHUSDT")


def test_recalculating_recent_days_keeps_positions_opened_long_before(loaded):
    tasks.calculate("BTCUSDT", "ensemble")
    last_day = """SELECT time_bucket, price_bucket, side, volume FROM heatmap_cache
                  WHERE model = 'ensemble' AND time_bucket >= '2024-01-10' ORDER BY ALL"""
    full = rows(loaded, last_day)

    tasks.calculate_recent("BTCUSDT", days=1)  # what the hourly job does

    again = rows(loaded, last_day)
    # cell by cell; a cell whose cohorts have all gone may keep a residue of rounding (1e-10
    # USDT on millions) in one run and none in the other: a missing cell counts as 0
    before, after = ({r[:3]: r[3] for r in table} for table in (full, again))
    cells = sorted(before.keys() | after.keys())
    assert len(cells) > 1000
    assert [after.get(c, 0.0) for c in cells] == pytest.approx(
        [before.get(c, 0.0) for c in cells], rel=1e-9, abs=1e-6
    )
