"""The one-minute update in the warehouse: following the sample's market minute by minute
(loopback archive and REST servers), ``calculate_update`` continues the models' checkpoint,
and what it leaves in the warehouse is what a full ``calculate`` of the same days leaves."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest
from django.core.management import call_command

from heatmaps import tasks, warehouse
from heatmaps.models import MarginBrackets
from heatmaps.warehouse import checkpoints
from live import follow
from models_engine.registry import ENSEMBLE, MODEL_NAMES
from models_engine.units import DAY_MS, HOUR_MS, MINUTE_MS

from .binance_fakes import DAYS, END
from .conftest import publish_days

pytestmark = pytest.mark.django_db

SINCE = date(2024, 1, 1)
DAY_9 = END - 2 * DAY_MS
REL, RESIDUE = 1e-9, 1e-6  # as in test_incremental: a gone cell's rounding residue
TABLES = {
    "heatmap_cache": ["time_bucket", "price_bucket", "side"],
    "heatmap_tiers": ["time_bucket", "price_bucket", "side", "leverage"],
    "predicted_liquidations": ["time", "price_bucket", "side"],
    "liquidation_levels": ["timestamp", "price_level", "side", "leverage_tier"],
}

VOLUME = {"liquidation_levels": ", liquidation_volume AS volume"}


def follow_to(fake, client, now_ms: int) -> None:
    fake.now_ms = now_ms
    follow.follow_pass(["BTCUSDT"], at_ms=now_ms, since=SINCE, client=client)


def rows_since(start_ms: int) -> dict[str, pd.DataFrame]:
    with warehouse.connect("BTCUSDT") as con:
        return {
            table: con.execute(
                f"SELECT * EXCLUDE (symbol){VOLUME.get(table, '')} FROM {table} "
                f"WHERE {keys[0]} >= epoch_ms(?)",
                [start_ms],
            ).df()
            for table, keys in TABLES.items()
        }


def quality_since(start_ms: int) -> pd.DataFrame:
    with warehouse.connect("BTCUSDT") as con:
        return con.execute(
            "SELECT model, epoch_ms(time_bucket) AS t, confidence, is_valid, warnings::VARCHAR "
            "AS warnings FROM snapshot_quality WHERE time_bucket >= epoch_ms(?) ORDER BY ALL",
            [start_ms],
        ).df()


def runs() -> pd.DataFrame:
    with warehouse.connect("BTCUSDT") as con:
        return con.execute(
            "SELECT model, epoch_ms(window_start) AS start, epoch_ms(as_of) AS as_of, "
            "confidence, is_valid, warnings FROM model_runs ORDER BY model, as_of"
        ).df()


def assert_same_rows(expected: dict, got: dict) -> None:
    for table, keys in TABLES.items():
        keys = ["model", *keys]
        a, b = expected[table], got[table]
        assert len(a) > 100 and set(a["model"]) == set(MODEL_NAMES), table
        merged = a.merge(b, on=keys, how="outer", suffixes=("_full", "_update"))
        assert merged["volume_update"].fillna(0).to_numpy() == pytest.approx(
            merged["volume_full"].fillna(0).to_numpy(), rel=REL, abs=RESIDUE
        ), table
        if "density_full" in merged:  # the ensemble's counts a residue cell's cohorts
            both = merged["volume_full"].notna() & merged["volume_update"].notna()
            members = both & (merged["model"] != ENSEMBLE)
            assert (merged["density_full"] == merged["density_update"])[members].all(), table


def test_updates_each_minute_leave_what_a_full_calculate_leaves(market, tmp_path):
    fake, _, client = market
    follow_to(fake, client, DAY_9 + 10 * HOUR_MS + 7 * MINUTE_MS)  # archive 8 days, REST after
    tasks.calibrate("BTCUSDT")
    first = tasks.calculate("BTCUSDT")
    assert first["window"][1] == "2024-01-09T10:05:00"
    with warehouse.connect("BTCUSDT") as con:
        checkpoint, _ = checkpoints.load("BTCUSDT", con, MarginBrackets.history("BTCUSDT"))
    assert checkpoint.end == DAY_9 and checkpoint.as_of == DAY_9 + 10 * HOUR_MS + 5 * MINUTE_MS

    follow_to(fake, client, DAY_9 + 17 * HOUR_MS + 33 * MINUTE_MS)
    update = tasks.calculate_update("BTCUSDT")
    assert "full_recompute" not in update
    assert update["window"] == ["2024-01-09T00:00:00", "2024-01-09T17:30:00"]
    assert tasks.calculate_update("BTCUSDT") == {
        "symbol": "BTCUSDT",
        "skipped": "no new bar since the last update",
    }
    # over midnight: the 9th is completed into the checkpoint, the 10th valued from it
    follow_to(fake, client, END - DAY_MS + 2 * HOUR_MS + 12 * MINUTE_MS)
    update = tasks.calculate_update("BTCUSDT")
    assert "full_recompute" not in update
    assert update["window"] == ["2024-01-09T00:00:00", "2024-01-10T02:10:00"]
    assert update["models"]["ensemble"]["heatmap_cells"] > 0
    updated, updated_runs = rows_since(DAY_9), runs()
    updated_quality = quality_since(DAY_9)
    # one run a day start and model: each update superseded the one before
    assert not updated_runs.duplicated(["model", "start"]).any()

    full = tasks.calculate("BTCUSDT", start=date(2024, 1, 9))
    assert full["window"] == ["2024-01-09T00:00:00", "2024-01-10T02:10:00"]
    assert_same_rows(rows_since(DAY_9), updated)
    latest = runs().groupby("model").last()
    updated_latest = updated_runs.groupby("model").last()
    assert (latest["as_of"] == updated_latest["as_of"]).all()
    assert latest["confidence"].tolist() == updated_latest["confidence"].tolist()
    assert latest["warnings"].map(list).tolist() == updated_latest["warnings"].map(list).tolist()
    # what answers as of a time say of their confidence (``at=``)
    full_quality = quality_since(DAY_9)
    assert len(full_quality) > 20
    assert updated_quality.drop(columns="confidence").equals(
        full_quality.drop(columns="confidence")
    )
    assert updated_quality["confidence"].to_numpy() == pytest.approx(
        full_quality["confidence"].to_numpy(), rel=1e-9
    )

    # the updates published recent layers over the first snapshot: the web reads what a copy
    # of everything holds
    assert dict(warehouse.current().pointers)["BTCUSDT"].recent is not None
    with warehouse.snapshot_connection() as con:
        layered = served(con)
    with warehouse.connect("BTCUSDT") as con:
        whole = warehouse.publish(con, "BTCUSDT", serving=tmp_path / "whole")
    with duckdb.connect(str(whole), read_only=True) as con:
        assert layered == served(con)


def served(con) -> dict[str, list[tuple]]:
    return {
        table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        for table in warehouse.SERVED_TABLES
    }


def test_a_new_calibration_or_archive_file_makes_the_update_recompute_in_full(market):
    fake, served_root, client = market
    follow_to(fake, client, DAY_9 + 10 * HOUR_MS)
    tasks.calibrate("BTCUSDT")
    tasks.calculate("BTCUSDT")

    follow_to(fake, client, END - DAY_MS + 30 * MINUTE_MS)
    tasks.calibrate("BTCUSDT")  # the 10th's calibration comes into force at its 00:00
    update = tasks.calculate_update("BTCUSDT")
    assert "calibrations changed" in update["full_recompute"]
    assert update["window"] == ["2024-01-10T00:00:00", "2024-01-10T00:30:00"]

    publish_days(served_root, [DAYS[8]])  # the 9th's files supersede its REST rows
    follow_to(fake, client, END - DAY_MS + HOUR_MS)
    update = tasks.calculate_update("BTCUSDT")
    assert update["full_recompute"] == (
        "the data, bracket tables or models changed since the checkpoint"
    )
    # the full recompute left a checkpoint the next update continues
    follow_to(fake, client, END - DAY_MS + 2 * HOUR_MS)
    assert "full_recompute" not in tasks.calculate_update("BTCUSDT")


def test_without_a_checkpoint_the_update_recomputes_today_and_leaves_one(market):
    fake, _, client = market
    follow_to(fake, client, DAY_9 + 10 * HOUR_MS)
    update = tasks.calculate_update("BTCUSDT")
    assert update["full_recompute"] == "no checkpoint yet"
    assert update["window"] == ["2024-01-09T00:00:00", "2024-01-09T10:00:00"]
    checkpoints.path_of("BTCUSDT").write_bytes(b"not a pickle")
    follow_to(fake, client, DAY_9 + 11 * HOUR_MS)
    assert "unreadable" in tasks.calculate_update("BTCUSDT")["full_recompute"]
    follow_to(fake, client, DAY_9 + 12 * HOUR_MS)
    assert "full_recompute" not in tasks.calculate_update("BTCUSDT")


def test_a_follow_pass_updates_the_models_and_the_api_answers_from_them(market, capsys, clients):
    fake, _, client = market
    follow_to(fake, client, DAY_9 + 10 * HOUR_MS)
    tasks.calculate("BTCUSDT")
    fake.now_ms = DAY_9 + 11 * HOUR_MS
    call_command("follow", "--once", "--rest-only", "--at", "2024-01-09T11:00")
    assert runs().groupby("model")["as_of"].max().eq(DAY_9 + 11 * HOUR_MS).all()
    # the web reads the recent layer over the base
    assert dict(warehouse.current().pointers)["BTCUSDT"].recent is not None
    levels = clients["bot"].get("/api/v1/liquidations/levels?symbol=BTCUSDT").json()
    assert levels["timestamp"] == "2024-01-09T11:00:00Z" and levels["levels"]
    heatmap = clients["bot"].get("/api/v1/liquidations/heatmap?timeframe=1d").json()
    assert heatmap["times"][-1] == "2024-01-09T11:00:00Z"

    call_command("calculate", "--update")
    assert capsys.readouterr().out.endswith("BTCUSDT: no new bar since the last update\n")


def test_learned_weights_leave_the_map_to_the_hourly_calculate(market):
    from heatmaps.models import WeightConfig

    fake, _, client = market
    follow_to(fake, client, DAY_9 + 10 * HOUR_MS)
    WeightConfig.objects.create(name="learned", mode="learned", learning_days=3, is_active=True)
    tasks.calculate("BTCUSDT")
    assert not checkpoints.path_of("BTCUSDT").exists()
    follow_to(fake, client, DAY_9 + 11 * HOUR_MS)
    assert "the hourly calculate recomputes" in tasks.calculate_update("BTCUSDT")["skipped"]
    assert runs()["as_of"].max() == DAY_9 + 10 * HOUR_MS


def test_a_corrupted_layer_is_never_served_and_the_next_publish_mends_it(market, clients, settings):
    fake, _, client = market
    settings.WAREHOUSE_RETRY_DELAYS = [0.01]
    follow_to(fake, client, DAY_9 + 10 * HOUR_MS)
    tasks.calculate("BTCUSDT")
    follow_to(fake, client, DAY_9 + 11 * HOUR_MS)
    tasks.calculate_update("BTCUSDT")
    snapshot = warehouse.current()
    layer = [p for p in snapshot.paths() if p.name.startswith("recent-")][0]
    layer.write_bytes(b"not a DuckDB file" * 1000)  # a disk that lost it

    answer = clients["bot"].get("/api/v1/liquidations/levels?symbol=BTCUSDT")
    assert answer.status_code == 503 and answer["Retry-After"] == "30"

    follow_to(fake, client, DAY_9 + 12 * HOUR_MS)
    tasks.calculate_update("BTCUSDT")  # a new layer over the same base
    levels = clients["bot"].get("/api/v1/liquidations/levels?symbol=BTCUSDT").json()
    assert levels["timestamp"] == "2024-01-09T12:00:00Z"
