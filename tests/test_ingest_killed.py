"""An ingest killed by SIGKILL mid-file leaves no trace of that file; a rerun completes it and
marks the dead run as interrupted. A spread one's rerun also clears what the dead one staged."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from heatmaps import warehouse
from heatmaps.binance.writer import write_file
from models_engine.units import DAY_MS

from .conftest import REPO

AGG_DIR = "data/futures/um/daily/aggTrades/BTCUSDT"


def big_agg_trades(rows: int) -> str:
    rng = np.random.default_rng(7)
    t0 = 1704067200000
    frame = pd.DataFrame(
        {
            "agg_trade_id": np.arange(rows, dtype=np.int64) + 1_000_000,
            "price": np.round(42000 + np.cumsum(rng.normal(0, 0.5, rows)), 1),
            "quantity": np.round(rng.exponential(0.2, rows) + 0.001, 3),
            "first_trade_id": np.arange(rows, dtype=np.int64) * 3,
            "last_trade_id": np.arange(rows, dtype=np.int64) * 3 + 2,
            "transact_time": t0 + np.arange(rows, dtype=np.int64) * DAY_MS // rows,
            "is_buyer_maker": np.where(rng.random(rows) < 0.5, "true", "false"),
        }
    )
    return frame.to_csv(index=False)


def manage(env: dict, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.mark.slow
@pytest.mark.parametrize("spread", [(), ("--spread",)], ids=["alone", "spread"])
def test_a_killed_ingest_leaves_nothing_partial_and_a_rerun_completes(tmp_path, spread):
    source = tmp_path / "archive"
    rows = 2_000_000
    write_file(
        source, f"{AGG_DIR}/BTCUSDT-aggTrades-2024-01-01.zip", big_agg_trades(rows), as_zip=False
    )
    env = {
        **os.environ,
        "DUCKDB_PATH": str(tmp_path / "wh.duckdb"),
        "LOG_LEVEL": "DEBUG",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    assert manage(env, "migrate", "-v0").wait(timeout=120) == 0
    args = (
        "ingest",
        "--source",
        str(source),
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-01",
        "-v0",
        *spread,  # no qcluster runs: its stage tasks wait in the queue, the command does it all
    )

    proc = manage(env, *args)
    for line in proc.stderr:  # wait until it is inside the file, then kill it without warning
        if "ingest_file_started" in line:
            break
    time.sleep(0.3)
    killed_while_running = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    assert killed_while_running and proc.returncode == -signal.SIGKILL
    staging = tmp_path / "staging"
    assert bool(spread) == (staging.exists() and any(staging.iterdir()))  # a dead run's folder
    with warehouse.connect("BTCUSDT", path=tmp_path / "wh-BTCUSDT.duckdb") as con:
        assert warehouse.table_counts(con)["agg_trades"] == 0
        assert con.execute("SELECT count(*) FROM ingested_files").fetchone()[0] == 0

    rerun = manage(env, *args)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    with warehouse.connect("BTCUSDT", path=tmp_path / "wh-BTCUSDT.duckdb") as con:
        count, distinct = con.execute(
            "SELECT count(*), count(DISTINCT agg_trade_id) FROM agg_trades"
        ).fetchone()
    assert count == distinct == rows
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        runs = db.execute("SELECT status, error FROM heatmaps_ingestrun ORDER BY id").fetchall()
    assert [status for status, _ in runs] == ["interrupted", "ok"]
    assert "ended without finishing" in runs[0][1]
    assert not (staging.exists() and any(staging.iterdir()))  # swept by the rerun
