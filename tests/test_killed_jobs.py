"""A worker killed (SIGKILL) in the middle of a calibration or a calculate: the rerun leaves
exactly what an installation that was never killed has, with nothing twice and nothing lost
(the ingest's own kill test is test_ingest_killed)."""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from .conftest import REPO, SAMPLE

pytestmark = pytest.mark.slow
MODEL_TABLES = (
    "liquidation_levels",
    "heatmap_cache",
    "heatmap_tiers",
    "predicted_liquidations",
    "snapshot_quality",
)


def installation(root: Path) -> dict:
    """A liqmap of its own (Django database, warehouse) with the sample's BTCUSDT loaded."""
    root.mkdir()
    env = {
        **os.environ,
        "DUCKDB_PATH": str(root / "liquidations.duckdb"),
        "SERVING_PATH": str(root / "serving"),
        "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "LOG_LEVEL": "INFO",
    }
    run(env, "migrate", "-v0")
    run(env, "ingest", "--source", str(SAMPLE), "--start", "2024-01-01", "--end", "2024-01-10")
    return env


def start(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(env: dict, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


def calibrations(root: Path) -> list[tuple]:
    with sqlite3.connect(root / "db.sqlite3") as db:
        return db.execute(
            "SELECT symbol, valid_from, fit_start, parameters, fitted FROM heatmaps_calibration "
            "ORDER BY symbol, valid_from"
        ).fetchall()


def model_rows(root: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(root / "liquidations-BTCUSDT.duckdb"), read_only=True) as con:
        rows = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in MODEL_TABLES}
        rows["model_runs"] = con.execute(
            "SELECT * EXCLUDE (computed_at) FROM model_runs ORDER BY ALL"
        ).fetchall()
    return rows


def test_a_calibration_and_a_calculate_killed_midway_are_completed_by_their_rerun(tmp_path):
    killed, clean = installation(tmp_path / "killed"), installation(tmp_path / "clean")

    # the fits are made first and stored at the end: kill it while it fits, or while it
    # stores them if that comes first
    calibrating = start(killed, "calibrate", "--symbol", "BTCUSDT")
    started = time.monotonic()
    while not calibrations(tmp_path / "killed") and time.monotonic() - started < 2.5:
        time.sleep(0.01)
    assert calibrating.poll() is None, "the calibration ended before it could be killed"
    calibrating.send_signal(signal.SIGKILL)
    assert calibrating.wait(timeout=30) == -signal.SIGKILL
    run(killed, "calibrate", "--symbol", "BTCUSDT")
    run(clean, "calibrate", "--symbol", "BTCUSDT")
    assert calibrations(tmp_path / "clean")
    assert calibrations(tmp_path / "killed") == calibrations(tmp_path / "clean")

    calculating = start(killed, "calculate", "--symbol", "BTCUSDT")
    for line in calculating.stderr:  # the first model's rows are written, the others not
        if "liquidations_calculated" in line:
            break
    calculating.send_signal(signal.SIGKILL)
    assert calculating.wait(timeout=30) == -signal.SIGKILL
    run(killed, "calculate", "--symbol", "BTCUSDT")
    run(clean, "calculate", "--symbol", "BTCUSDT")
    expected = model_rows(tmp_path / "clean")
    got = model_rows(tmp_path / "killed")
    for table, rows in expected.items():
        assert rows and got[table] == rows, table
