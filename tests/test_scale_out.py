"""liqmap on a team's infrastructure: Django on PostgreSQL, django-q2's queue and the cache on
Redis, two qcluster processes sharing the queue, one symbol's ingest spread over both. The jobs
they run leave the warehouse a single process leaves (the sample, built in this process on
SQLite)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import duckdb
import pytest
from django.test import override_settings

from heatmaps import warehouse

from .conftest import REPO, SAMPLE, SAMPLE_SYMBOLS, build_served_warehouse

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
# what two processes may reasonably take for ingest, calibrate and calculate of the sample
JOBS_TIMEOUT = 300

# run in a process of its own on the team's settings: queue each stage for every symbol, wait
# for the clusters to run it, print what the tasks say
DRIVER = """
import json, sys
from datetime import date
sys.path.insert(0, "bench")
from harness import run_queued
import django
django.setup()
symbols, source, timeout = sys.argv[1].split(","), sys.argv[2], float(sys.argv[3])
from django_q.models import Task
done = {}
# one symbol spread over both clusters (its job loads, the other cluster's worker unzips days)
_, done["spread"] = run_queued(
    "heatmaps.tasks.ingest", [(symbols[0], date(2024, 1, 1), date(2024, 1, 10))], timeout,
    source=source, spread=True,
)
_, done["ingest"] = run_queued(
    "heatmaps.tasks.ingest",
    [(s, date(2024, 1, 1), date(2024, 1, 10)) for s in symbols[1:]],
    timeout,
    source=source,
)
_, done["calculate"] = run_queued("heatmaps.tasks.calculate", [(s,) for s in symbols], timeout)
done["stage"] = list(Task.objects.filter(func="heatmaps.tasks.stage_day"))
print(json.dumps({
    stage: [{"success": t.success, "started": t.started.timestamp(),
             "stopped": t.stopped.timestamp(), "result": t.result} for t in tasks]
    for stage, tasks in done.items()
}, default=str))
"""


def run_jobs(env: dict) -> dict[str, list[dict]]:
    """Ingest, then calculate, every sample symbol through the queue."""
    args = [",".join(SAMPLE_SYMBOLS), str(SAMPLE), str(JOBS_TIMEOUT)]
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=2 * JOBS_TIMEOUT + 60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def raw_rows(path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            table: con.execute(
                f"SELECT * {'EXCLUDE (loaded_at)' if table == 'ingested_files' else ''} "
                f"FROM {table} ORDER BY ALL"
            ).fetchall()
            for table in (*warehouse.RAW_TABLES, "ingested_files")
        }


def model_rows(path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            table: con.execute(
                f"SELECT * EXCLUDE (computed_at) FROM {table} ORDER BY ALL"
                if table == "model_runs"
                else f"SELECT * FROM {table} ORDER BY ALL"
            ).fetchall()
            for table in ("liquidation_levels", "heatmap_cache", "predicted_liquidations")
            + ("model_runs",)
        }


def test_two_clusters_on_redis_with_django_on_postgres_leave_what_one_process_leaves(
    postgres, redis_url, tmp_path
):
    alone = build_served_warehouse(tmp_path / "alone", calibrate=False)[0]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "liqsite.settings",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": postgres.database("scale_out"),
        "REDIS_URL": f"{redis_url}/0",
        "CACHE_URL": f"{redis_url}/1",
        "DUCKDB_PATH": str(tmp_path / "liqmap.duckdb"),
        "SERVING_PATH": str(tmp_path / "serving"),
        "PYTHONPATH": str(REPO),
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True
    )
    clusters = [
        subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / f"qcluster-{k}.log", "wb"),  # noqa: SIM115
        )
        for k in range(2)
    ]
    try:
        done = run_jobs(env)
    finally:
        for cluster in clusters:
            cluster.terminate()
        for cluster in clusters:
            cluster.wait(timeout=60)

    assert all(task["success"] for stage in done.values() for task in stage), done
    # the spread ingest's job loaded while the other cluster's worker unzipped days of its files
    (spread,) = done["spread"]
    staged = sum(task["result"].get("unzipped", 0) for task in done["stage"])
    assert 0 < staged == spread["result"]["staged_by_workers"] < spread["result"]["files"], done
    assert any(spread["started"] < t["started"] < spread["stopped"] for t in done["stage"])
    # both clusters took a symbol's calculate at once (each symbol has its own warehouse file)
    first, second = sorted(done["calculate"], key=lambda t: t["started"])
    assert second["started"] < first["stopped"], done
    for symbol in SAMPLE_SYMBOLS:
        with override_settings(DUCKDB_PATH=alone):
            expected = raw_rows(warehouse.path_of(symbol)) | model_rows(warehouse.path_of(symbol))
        with override_settings(DUCKDB_PATH=tmp_path / "liqmap.duckdb"):
            got = raw_rows(warehouse.path_of(symbol)) | model_rows(warehouse.path_of(symbol))
        for table, rows in expected.items():
            assert got[table] == rows, (symbol, table)
            assert rows or table in ("trades", "book_depth", "index_price_klines"), table
    snapshot = warehouse.current(tmp_path / "serving")
    assert [symbol for symbol, _ in snapshot.pointers] == list(SAMPLE_SYMBOLS)
