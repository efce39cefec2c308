"""calibrate: walk-forward fits from the warehouse, stored as Calibration rows, used by
calculate."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from heatmaps import tasks, warehouse
from heatmaps.models import Calibration
from models_engine.units import DAY_MS

from .conftest import SAMPLE

pytestmark = pytest.mark.django_db
EVERY_DATASET_BUT_LIQUIDATIONS = "metrics,fundingRate,klines,markPriceKlines,aggTrades"
JAN_1_MS = 1_704_067_200_000


def ingest(last_day: int, datasets: str | None = None) -> None:
    tasks.ingest(
        "BTCUSDT", date(2024, 1, 1), date(2024, 1, last_day), source=SAMPLE, datasets=datasets
    )


def fits() -> dict[datetime, dict]:
    return {f.valid_from: f.parameters for f in Calibration.objects.order_by("valid_from")}


def test_it_fits_each_day_after_the_warm_up_and_says_what_it_found(warehouse_path, capsys):
    ingest(10)
    call_command("calibrate", "--symbol", "BTCUSDT")
    out = capsys.readouterr().out

    rows = list(Calibration.objects.order_by("valid_from"))
    assert [r.valid_from for r in rows] == [datetime(2024, 1, d, tzinfo=UTC) for d in (9, 10, 11)]
    # the first week is the ledger's warm-up: every fit counts liquidations from Jan 8 on
    assert {r.fit_start for r in rows} == {datetime(2024, 1, 8, tzinfo=UTC)}
    assert all(r.fitted and r.active and r.objective > r.prior_objective for r in rows)
    assert rows[0].liquidations < rows[1].liquidations < rows[2].liquidations
    assert "3 fitted" in out and "7 too early in the data" in out
    assert "half-life (h)" in out and "long leverage mix" in out


def test_a_second_run_keeps_what_is_there_and_a_forced_one_refits_the_same(warehouse_path):
    ingest(10)
    tasks.calibrate("BTCUSDT")
    first = fits()
    again = tasks.calibrate("BTCUSDT")
    assert again["kept"] == 3 and again["fitted"] == 0 and fits() == first
    forced = tasks.calibrate("BTCUSDT", force=True)
    assert forced["fitted"] == 3 and fits() == first and Calibration.objects.count() == 3


def test_a_calibration_is_unchanged_when_later_data_arrives(warehouse_path):
    ingest(9)
    tasks.calibrate("BTCUSDT")
    before = fits()
    assert list(before) == [datetime(2024, 1, d, tzinfo=UTC) for d in (9, 10)]
    ingest(10)  # Jan 10 arrives
    tasks.calibrate("BTCUSDT", force=True)
    after = fits()
    assert {k: after[k] for k in before} == before
    assert datetime(2024, 1, 11, tzinfo=UTC) in after


def test_an_empty_window_is_refused_with_a_clear_message(warehouse_path):
    with pytest.raises(CommandError, match="no candles for BTCUSDT.*run ingest first"):
        call_command("calibrate")
    ingest(3)
    with pytest.raises(CommandError, match=r"2030-01-01..2030-01-05 is empty.*2024-01-01"):
        call_command("calibrate", "--start", "2030-01-01", "--end", "2030-01-05")
    with pytest.raises(CommandError, match="start is after end"):
        call_command("calibrate", "--start", "2024-01-03", "--end", "2024-01-02")
    assert not Calibration.objects.exists()


def test_without_realized_liquidations_the_prior_stays_and_the_models_say_so(warehouse_path):
    ingest(10, datasets=EVERY_DATASET_BUT_LIQUIDATIONS)
    summary = tasks.calibrate("BTCUSDT")
    assert summary["fitted"] == 0 and summary["prior"] == 3
    assert not Calibration.objects.filter(fitted=True).exists()

    result = tasks.calculate("BTCUSDT", "binance_standard")["models"]["binance_standard"]
    assert any("no calibration fitted" in w for w in result["warnings"])
    assert result["confidence"] == pytest.approx(0.7, abs=0.01)


def test_calculate_uses_each_calibration_from_its_time_on_and_nothing_before(warehouse_path):
    ingest(10)
    tasks.calculate("BTCUSDT", "binance_standard")
    with warehouse.connect("BTCUSDT") as con:
        prior, _ = warehouse.heatmap_rows(
            con, "BTCUSDT", "binance_standard", JAN_1_MS, JAN_1_MS + 11 * DAY_MS
        )
    tasks.calibrate("BTCUSDT")
    tasks.calculate("BTCUSDT", "binance_standard")
    with warehouse.connect("BTCUSDT") as con:
        fitted, _ = warehouse.heatmap_rows(
            con, "BTCUSDT", "binance_standard", JAN_1_MS, JAN_1_MS + 11 * DAY_MS
        )
    first_fit = int(datetime(2024, 1, 9, tzinfo=UTC).timestamp() * 1000)
    keys = ["time_bucket", "price_bucket", "side"]
    merged = prior.merge(fitted, on=keys, how="outer", suffixes=("_prior", "_fit")).fillna(0.0)
    before = merged[merged["time_bucket"] < first_fit]
    after = merged[merged["time_bucket"] >= first_fit]
    assert len(before) and (before["volume_prior"] == before["volume_fit"]).all()
    changed = (after["volume_prior"] - after["volume_fit"]).abs() > 1e-6 * after["volume_prior"]
    assert changed.mean() > 0.5


def test_staff_read_the_fits_in_the_admin(warehouse_path, clients):
    ingest(10)
    tasks.calibrate("BTCUSDT")
    fit = Calibration.objects.latest("valid_from")
    listing = clients["staff"].get("/admin/heatmaps/calibration/").content.decode()
    detail = clients["staff"].get(f"/admin/heatmaps/calibration/{fit.pk}/change/").content.decode()
    assert "2024-01-11" in listing or "Jan. 11, 2024" in listing
    assert "half-life (h)" in detail and "long mix" in detail and "closing follows" in detail
    assert clients["trader"].get("/admin/heatmaps/calibration/").status_code == 302
