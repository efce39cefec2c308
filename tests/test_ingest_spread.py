"""An ingest spread over workers (a stage task per day hashes and unzips; the job itself
loads): the rows, the ledger and the rejections are those of a plain ingest; a worker that
dies while it holds a file never stalls the loader; a worker whose ingest has ended does
nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_q.conf import Conf
from django_q.models import Task

from heatmaps import tasks, warehouse
from heatmaps.binance import archive
from heatmaps.models import IngestRun
from heatmaps.tasks import ingest_days

from .conftest import REPO
from .test_ingest import BAD_FILES, JAN, METRICS_DIR

DAY2_METRICS = f"{METRICS_DIR}/BTCUSDT-metrics-2024-01-02.zip"

pytestmark = pytest.mark.django_db


def csv_bytes(path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(archive.namelist()[0])


@pytest.fixture
def workers_at_once(monkeypatch):
    """django-q2 runs each task as it is queued (as Q_SYNC=1 does): every stage task of a
    spread ingest has run before the loader reaches its first file."""
    monkeypatch.setattr(Conf, "SYNC", True)


def every_row(path) -> dict[str, list[tuple]]:
    """Every table of a warehouse file but the time each file was loaded."""
    with warehouse.connect("BTCUSDT", path=path) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {
            t: con.execute(
                f"SELECT * {'EXCLUDE (loaded_at)' if t == 'ingested_files' else ''} "
                f"FROM {t} ORDER BY ALL"
            ).fetchall()
            for t in tables
        }


def test_a_spread_ingest_leaves_the_rows_and_ledger_of_a_plain_one(
    sample_archive, warehouse_path, workers_at_once
):
    plain = tasks.ingest("BTCUSDT", *JAN, source=sample_archive)
    plain_rows = every_row(warehouse.path_of("BTCUSDT"))
    warehouse.path_of("BTCUSDT").rename(warehouse_path.parent / "plain.duckdb")

    spread = tasks.ingest("BTCUSDT", *JAN, source=sample_archive, spread=True)

    assert every_row(warehouse.path_of("BTCUSDT")) == plain_rows
    assert spread["datasets"] == plain["datasets"] and spread["tables"] == plain["tables"]
    # the workers hashed and unzipped every file, a task per day (and one for the month's
    # funding file), latest first
    assert spread["staged_by_workers"] == spread["files"] == plain["files"]
    stage_tasks = Task.objects.filter(func="heatmaps.tasks.stage_day").order_by("started")
    assert [t.result["period"] for t in stage_tasks] == [
        *(f"2024-01-{day:02d}" for day in range(10, 0, -1)),
        "2024-01",
    ]
    assert all(t.success and set(t.result) == {"symbol", "period", "unzipped"} for t in stage_tasks)
    assert sum(t.result["unzipped"] for t in stage_tasks) == spread["files"]
    assert not any(ingest_days.staging_root().iterdir())  # nothing staged is left behind

    again = tasks.ingest("BTCUSDT", *JAN, source=sample_archive, spread=True)

    assert every_row(warehouse.path_of("BTCUSDT")) == plain_rows
    assert all(set(c) == {"skipped", "rows"} for c in again["datasets"].values())
    assert sum(t.result.get("unchanged", 0) for t in Task.objects.all()) == again["files"]


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_spread_ingest_rejects_what_a_plain_one_rejects(
    case, sample_archive, warehouse_path, workers_at_once
):
    make_bad, line, reason = BAD_FILES[case]
    tasks.ingest("BTCUSDT", *JAN, source=sample_archive, datasets="metrics")
    before = every_row(warehouse.path_of("BTCUSDT"))
    make_bad(sample_archive)

    with pytest.raises(CommandError, match="1 file\\(s\\) rejected"):
        call_command(
            "ingest",
            *("--source", str(sample_archive), "--start", "2024-01-01", "--end", "2024-01-11"),
            *("--datasets", "metrics", "--spread"),
            verbosity=0,
        )

    assert every_row(warehouse.path_of("BTCUSDT")) == before
    (rejected,) = IngestRun.objects.first().summary["rejected"]
    assert rejected["path"].endswith("BTCUSDT-metrics-2024-01-11.zip")
    assert reason in rejected["reason"] and rejected["line"] == line


# a worker holding the claim of one file, until it is killed
HOLDER = """
import sys, time
from filelock import FileLock
held = FileLock(sys.argv[1])
held.acquire()
print("holding", flush=True)
time.sleep(600)
"""


def test_the_loader_waits_for_a_worker_on_a_file_and_goes_on_when_it_dies(
    sample_archive, warehouse_path
):
    files = archive.find_local_files(
        sample_archive, "BTCUSDT", *JAN, archive.parse_selections("metrics", need_interval=False)
    )
    relpath = str(files[3].relpath)
    shared = ingest_days.SharedIngest("BTCUSDT", sample_archive)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(ingest_days.claim_lock(shared.folder, relpath))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline() == "holding\n"
    threading.Timer(1.0, holder.kill).start()  # SIGKILL: it never lets go itself

    started = time.monotonic()
    with shared.claim(relpath) as staged:
        waited = time.monotonic() - started
        # a worker in the middle of this file: its own stage task finds it claimed
        worker = tasks.stage_day(
            str(shared.folder),
            "BTCUSDT",
            str(sample_archive),
            [
                (f.dataset.name, f.interval, f.period, str(f.relpath), None, False)
                for f in files[3:5]
            ],
        )
    holder.wait()

    assert waited >= 1.0 and staged is None  # it waited, then found nothing staged: its turn
    assert worker == {
        "symbol": "BTCUSDT",
        "period": files[3].period,
        "claimed_by_another": 1,
        "unzipped": 1,
    }
    with shared.claim(str(files[4].relpath)) as staged:
        assert staged is not None and staged.rejected is None
        assert staged.csv.read_bytes() == csv_bytes(sample_archive / files[4].relpath)
    shared.close()

    after = tasks.stage_day(
        str(shared.folder),
        "BTCUSDT",
        str(sample_archive),
        [(f.dataset.name, f.interval, f.period, str(f.relpath), None, False) for f in files[5:7]],
    )
    assert after == {"symbol": "BTCUSDT", "period": files[5].period, "not_needed": 2}
    assert not shared.folder.exists()


def test_a_dead_loaders_folder_is_swept_by_the_next_spread_ingest(sample_archive, warehouse_path):
    abandoned = ingest_days.staging_root() / "BTCUSDT-deadbeef"
    abandoned.mkdir(parents=True)
    (abandoned / "run.lock").touch()  # no process holds it
    (abandoned / "x.parquet").write_bytes(b"rows of a dead run")

    tasks.ingest("BTCUSDT", *JAN, source=sample_archive, datasets="metrics", spread=True)

    assert not abandoned.exists()
    assert not any(ingest_days.staging_root().iterdir())
    assert REPO.exists()


def test_a_spread_fetch_and_ingest_downloads_on_the_workers_what_a_plain_one_downloads(
    archive_server, settings, tmp_path, warehouse_path, sample_archive, workers_at_once
):
    served, settings.BINANCE_BASE_URL = archive_server
    shutil.copytree(sample_archive / "data", served / "data")
    (served / DAY2_METRICS).unlink()  # not published (yet): "missing", not a failure
    days = (date(2024, 1, 1), date(2024, 1, 3))
    settings.BINANCE_DATA_PATH = tmp_path / "plain-mirror"
    plain = tasks.fetch_and_ingest("BTCUSDT", *days)
    plain_rows = every_row(warehouse.path_of("BTCUSDT"))
    warehouse.path_of("BTCUSDT").rename(warehouse_path.parent / "plain.duckdb")
    settings.BINANCE_DATA_PATH = tmp_path / "spread-mirror"

    spread = tasks.fetch_and_ingest("BTCUSDT", *days, spread=True)

    assert every_row(warehouse.path_of("BTCUSDT")) == plain_rows
    for key in ("files", "downloaded", "present", "missing", "failed"):
        assert spread["fetch"][key] == plain["fetch"][key], key
    assert spread["fetch"]["missing"] == [DAY2_METRICS]
    assert spread["ingest"]["datasets"] == plain["ingest"]["datasets"]
    # every download was a worker's (one task per day, and one for the month)
    outcomes = Counter()
    for task in Task.objects.filter(func="heatmaps.tasks.stage_day"):
        outcomes.update({k: v for k, v in task.result.items() if k not in ("symbol", "period")})
    assert outcomes == {"unzipped": plain["fetch"]["downloaded"], "missing": 1}
    mirrored = sorted(
        p.relative_to(tmp_path / "spread-mirror")
        for p in (tmp_path / "spread-mirror").rglob("*.zip")
    )
    assert mirrored == sorted(
        p.relative_to(tmp_path / "plain-mirror") for p in (tmp_path / "plain-mirror").rglob("*.zip")
    )

    again = tasks.fetch_and_ingest("BTCUSDT", *days, spread=True)

    assert (
        again["fetch"]["downloaded"] == 0
        and again["fetch"]["present"] == plain["fetch"]["downloaded"]
    )
    assert all(set(c) == {"skipped", "rows"} for c in again["ingest"]["datasets"].values())


def test_a_spread_fetch_and_ingest_fails_on_a_bad_download_as_a_plain_one_does(
    archive_server, settings, tmp_path, warehouse_path, sample_archive, workers_at_once
):
    served, settings.BINANCE_BASE_URL = archive_server
    shutil.copytree(sample_archive / "data", served / "data")
    (served / DAY2_METRICS).write_bytes(b"not the file its CHECKSUM names")
    settings.FETCH_RETRIES = 0
    days = (date(2024, 1, 1), date(2024, 1, 3))
    failures = {}
    for spread in (False, True):
        settings.BINANCE_DATA_PATH = tmp_path / f"mirror-{spread}"
        settings.DUCKDB_PATH = tmp_path / f"warehouse-{spread}" / "liquidations.duckdb"
        with pytest.raises(tasks.JobFailed) as failed:
            tasks.fetch_and_ingest("BTCUSDT", *days, spread=spread)
        failures[spread] = str(failed.value).replace(str(tmp_path / f"mirror-{spread}"), "")

    assert failures[True] == failures[False]
    assert failures[True].startswith(
        f"1 of 13 downloads failed, the rest were loaded: {DAY2_METRICS}"
    )
    for spread in (False, True):
        settings.DUCKDB_PATH = tmp_path / f"warehouse-{spread}" / "liquidations.duckdb"
        rows = every_row(warehouse.path_of("BTCUSDT"))
        assert len(rows["metrics"]) == 2 * 288, spread


def test_the_ingest_command_downloads_and_spreads_a_backfill(
    archive_server, settings, tmp_path, warehouse_path, sample_archive, workers_at_once, capsys
):
    served, settings.BINANCE_BASE_URL = archive_server
    shutil.copytree(sample_archive / "data", served / "data")
    settings.BINANCE_DATA_PATH = tmp_path / "mirror"
    period = ("--start", "2024-01-01", "--end", "2024-01-02")

    call_command("ingest", "--fetch", "--spread", *period, "--datasets", "metrics,klines:5m")

    out = capsys.readouterr().out
    assert "downloads: 4 downloaded, 0 already present, 0 not on the server, 0 failed" in out
    assert "4 file(s) in" in out and "4 unzipped by the qcluster's workers" in out
    with warehouse.connect("BTCUSDT") as con:
        assert warehouse.table_counts(con)["metrics"] == 2 * 288

    with pytest.raises(CommandError, match="leave out --source"):
        call_command("ingest", "--fetch", "--source", str(sample_archive), *period)
