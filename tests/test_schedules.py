"""The django-q2 jobs: schedules made idempotently, jobs run through the real ORM broker."""

from datetime import date

import pytest
from django.core.management import call_command
from django_q.models import Schedule
from django_q.tasks import async_task, result

from heatmaps import warehouse

pytestmark = pytest.mark.django_db


def test_setting_up_the_schedules_twice_makes_them_once(capsys):
    call_command("setup_schedules")
    call_command("setup_schedules", "--symbols", "BTCUSDT,ETHUSDT")
    schedules = {s.name: s for s in Schedule.objects.all()}
    assert set(schedules) == {
        *(
            f"{job} {symbol}"
            for job in ("fetch and ingest", "calibrate", "calculate", "follow")
            for symbol in ("BTCUSDT", "ETHUSDT")
        ),
        "evaluate alerts",
    }
    assert schedules["follow ETHUSDT"].args == "'ETHUSDT'"
    assert schedules["follow BTCUSDT"].schedule_type == Schedule.MINUTES
    assert schedules["follow BTCUSDT"].minutes == 1
    assert schedules["follow BTCUSDT"].func == "live.follow.follow_rest"
    assert schedules["calibrate BTCUSDT"].schedule_type == Schedule.DAILY
    alerts = schedules["evaluate alerts"]
    assert (alerts.func, alerts.schedule_type, alerts.minutes) == (
        "alerts.tasks.evaluate",
        Schedule.MINUTES,
        1,
    )
    assert schedules["calculate BTCUSDT"].schedule_type == Schedule.HOURLY
    assert schedules["fetch and ingest BTCUSDT"].func == "heatmaps.tasks.fetch_and_ingest"
    assert "updated: calculate BTCUSDT (hourly)" in capsys.readouterr().out


def test_the_daily_jobs_download_load_and_calibrate_and_the_hourly_job_calculates(
    archive_server, settings, tmp_path, warehouse_path
):
    import shutil

    from .conftest import SAMPLE

    served_root, base_url = archive_server
    shutil.copytree(SAMPLE / "data", served_root / "data")
    settings.BINANCE_BASE_URL = base_url
    settings.BINANCE_DATA_PATH = tmp_path / "mirror"
    settings.SERVING_PATH = tmp_path / "serving"

    ingested = async_task(
        "heatmaps.tasks.fetch_and_ingest", "BTCUSDT", date(2024, 1, 2), date(2024, 1, 3), sync=True
    )
    calibrated = async_task("heatmaps.tasks.calibrate_recent", "BTCUSDT", sync=True)
    calculated = async_task("heatmaps.tasks.calculate_recent", "BTCUSDT", sync=True)

    summary = result(ingested)
    assert summary["fetch"]["downloaded"] > 0 and summary["fetch"]["failed"] == []
    assert summary["ingest"]["rejected"] == []
    # two days of data: too young for a fit (the first week is the ledger's warm-up)
    assert result(calibrated) == {
        "symbol": "BTCUSDT",
        "fitted": 0,
        "prior": 0,
        "kept": 0,
        "too_young": 2,
    }
    assert set(result(calculated)["models"]) == {
        "binance_standard",
        "funding_adjusted",
        "trade_clusters",
        "ensemble",
    }
    with warehouse.connect("BTCUSDT") as con:
        assert warehouse.table_counts(con)["metrics"] == 2 * 288
        models = con.execute("SELECT count(DISTINCT model) FROM heatmap_cache").fetchone()[0]
    assert models == 4


def test_a_fetch_job_whose_downloads_all_fail_is_a_failed_task_that_says_why(
    settings, tmp_path, warehouse_path
):
    from django_q.models import Task

    from heatmaps.models import IngestRun

    from .conftest import run_queued_tasks

    settings.BINANCE_BASE_URL = "http://127.0.0.1:9/"  # the discard port: nothing listens
    settings.BINANCE_DATA_PATH = tmp_path / "mirror"
    settings.FETCH_RETRIES, settings.FETCH_BACKOFF_SECONDS = 0, 0

    task_id = async_task(
        "heatmaps.tasks.fetch_and_ingest", "BTCUSDT", date(2024, 1, 2), date(2024, 1, 3)
    )
    run_queued_tasks()  # as the qcluster does: the failure is recorded, not raised

    task = Task.objects.get(id=task_id)
    assert task.success is False
    assert "every download failed" in task.result and "Connection refused" in task.result
    assert not IngestRun.objects.exists()  # nothing to load: no "ok" run of 0 files
