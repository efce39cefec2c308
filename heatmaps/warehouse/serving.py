"""Serving the web: the snapshots writers publish, and the read-only readers of the current one.

DuckDB allows one read-write process or many read-only ones, never both. Writers therefore
publish a snapshot of what the web reads after each job and swap a pointer to it atomically;
web workers open the snapshot the pointer names, read-only, and never wait for a writer.
A read is retried with backoff, then gives up with WarehouseUnavailable.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import structlog
from django.conf import settings

from .connection import IO_ERRORS, reported

_log = structlog.get_logger("liqmap.warehouse")

# what the API reads: a snapshot holds nothing else
SERVED_TABLES = (
    "klines",
    "liquidation_history",
    "liquidation_levels",
    "heatmap_cache",
    "heatmap_tiers",
    "predicted_liquidations",
    "model_runs",
    "snapshot_quality",
)
_POINTER = "current"


class WarehouseUnavailable(Exception):
    """The warehouse could not be read even after the retries."""


def publish(con: duckdb.DuckDBPyConnection, serving: Path | None = None) -> Path:
    """Copy the served tables into a new snapshot file and make it the current one.

    Raises WarehouseError when the serving folder cannot be written (the current snapshot
    stays as it was)."""
    serving = Path(serving or settings.SERVING_PATH)
    with reported(serving, (OSError, *IO_ERRORS)):
        return _publish(con, serving)


def _publish(con: duckdb.DuckDBPyConnection, serving: Path) -> Path:
    serving.mkdir(parents=True, exist_ok=True)
    name = f"snapshot-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.duckdb"
    for leftover in serving.glob("*.partial"):  # from a writer that died mid-publish
        leftover.unlink()
    partial = serving / (name + ".partial")
    quoted = str(partial).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS snapshot")
    try:
        for table in SERVED_TABLES:
            con.execute(f"CREATE TABLE snapshot.{table} AS SELECT * FROM {table}")
    finally:
        con.execute("DETACH snapshot")
    os.replace(partial, serving / name)
    pointer = serving / (_POINTER + ".partial")
    pointer.write_text(name)
    os.replace(pointer, serving / _POINTER)
    # readers that still hold an older snapshot keep reading it: unlinking an open file is safe
    for old in sorted(serving.glob("snapshot-*.duckdb"))[:-2]:
        old.unlink(missing_ok=True)
    return serving / name


def current_snapshot(serving: Path | None = None) -> Path | None:
    serving = Path(serving or settings.SERVING_PATH)
    try:
        return serving / (serving / _POINTER).read_text().strip()
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def snapshot_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection of its own to the current snapshot, for jobs that only read
    (scoring backtests, paper trading): they never take the writer's lock, so they never wait
    behind an hour-long calculate, and a calculate never waits behind them."""
    path = current_snapshot()
    if path is None:
        raise WarehouseUnavailable("nothing is published yet: run ingest and calculate first")
    with reported(path, IO_ERRORS):
        con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()


_readers: dict[Path, duckdb.DuckDBPyConnection] = {}
_readers_lock = threading.Lock()


def _reader(path: Path) -> duckdb.DuckDBPyConnection:
    """One read-only connection per snapshot and process; callers take a cursor each.

    A connection to an older snapshot is dropped, not closed: another thread may still be
    reading through it, and DuckDB closes it once its last cursor is gone.
    """
    with _readers_lock:
        con = _readers.get(path)
        if con is None:
            _readers.clear()
            con = duckdb.connect(str(path), read_only=True)
            _readers[path] = con
        return con


def read(sql: str, params: dict | list | None = None, *, retry: bool = True) -> pd.DataFrame:
    """Run a query on the current snapshot; retried with backoff (unless ``retry`` is off),
    then WarehouseUnavailable.

    An empty warehouse (nothing published yet) reads as empty frames, not as an error.
    """
    delays = list(settings.WAREHOUSE_RETRY_DELAYS) if retry else []
    for attempt in range(len(delays) + 1):
        try:
            path = current_snapshot()
            if path is None:
                return pd.DataFrame()
            cursor = _reader(path).cursor()
            try:
                return cursor.execute(sql, params or []).df()
            finally:
                cursor.close()
        except (duckdb.OperationalError, OSError) as exc:
            # the file could not be opened or read (a bug in a query is not retried: it is a 500)
            with _readers_lock:
                _readers.clear()
            if attempt == len(delays):
                _log.error("warehouse_read_failed", attempts=attempt + 1, exc_info=exc)
                raise WarehouseUnavailable(str(exc)) from exc
            _log.warning("warehouse_read_retry", attempt=attempt + 1, error=str(exc))
            time.sleep(delays[attempt])
    raise AssertionError("unreachable")


def snapshot_id() -> str:
    """Changes whenever new data is published: part of every cached response's key."""
    path = current_snapshot()
    return path.name if path else "empty"


def published_at() -> int | None:
    """Epoch ms at which the current snapshot was published (its name says it)."""
    path = current_snapshot()
    if path is None:
        return None
    stamp = datetime.strptime(path.stem.removeprefix("snapshot-"), "%Y%m%dT%H%M%S%f")
    return int(stamp.replace(tzinfo=UTC).timestamp() * 1000)


_symbols: dict[Path, list[str]] = {}


def served_symbols(*, retry: bool = True) -> list[str]:
    """Symbols with model output; remembered per snapshot (a published snapshot never changes),
    since every API request checks its symbol against them."""
    path = current_snapshot()
    if path is None:
        return []
    known = _symbols.get(path)
    if known is None:
        frame = read("SELECT DISTINCT symbol FROM model_runs ORDER BY symbol", retry=retry)
        known = frame["symbol"].tolist() if len(frame) else []
        _symbols.clear()
        _symbols[path] = known
    return list(known)
