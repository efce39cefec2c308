"""Serving the web: the read-only readers of the current snapshot (``publishing`` writes it).

DuckDB allows one read-write process or many read-only ones, never both. Writers therefore
publish a snapshot of what the web reads after each job and swap a pointer to it atomically;
web workers open the files the pointer names, read-only, and never wait for a writer. A
symbol's snapshot is a base file, maybe with a recent layer over it (see ``publishing``), in
``SERVING_PATH/<SYMBOL>/``; a reader unions every symbol's.
A read is retried with backoff, then gives up with WarehouseUnavailable.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import structlog
from django.conf import settings

from .connection import IO_ERRORS, SYMBOL, reported

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
# each served table's time column: a recent layer holds its symbol's rows from its cut-off on
# (all of them for the runs: a few rows a model and day, some without a time)
SERVED_TIMES: dict[str, str | None] = {
    "klines": "open_time",
    "liquidation_history": "timestamp",
    "liquidation_levels": "timestamp",
    "heatmap_cache": "time_bucket",
    "heatmap_tiers": "time_bucket",
    "predicted_liquidations": "time",
    "model_runs": None,
    "snapshot_quality": "time_bucket",
}


class WarehouseUnavailable(Exception):
    """The warehouse could not be read even after the retries."""


@dataclass(frozen=True)
class Pointer:
    """What the web reads of one symbol (``publishing`` writes it): a base snapshot file, and
    maybe a recent layer whose rows replace the base's from its cut-off (epoch ms) on."""

    base: str
    recent: str | None = None
    schema: int | None = None  # the warehouse schema version the base was copied from
    since: int | None = None  # the recent layer's cut-off

    @property
    def files(self) -> tuple[str, ...]:
        return (self.base, self.recent) if self.recent else (self.base,)


def current_pointer(folder: Path) -> Pointer | None:
    """The pointer in a symbol's serving folder, or None before its first publish."""
    try:
        text = (folder / _POINTER).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not text.startswith("{"):  # a bare file name: a base alone
        return Pointer(text)
    fields = json.loads(text)
    return Pointer(fields["base"], fields.get("recent"), fields.get("schema"), fields.get("since"))


def write_pointer(folder: Path, pointer: Pointer) -> None:
    """Swap the pointer atomically: readers see the old snapshot or the new one, whole."""
    partial = folder / (_POINTER + ".partial")
    partial.write_text(json.dumps(asdict(pointer)))
    os.replace(partial, folder / _POINTER)


@dataclass(frozen=True)
class Snapshot:
    """Every symbol's current pointer: what a reader opens, all of it or none."""

    serving: Path
    pointers: tuple[tuple[str, Pointer], ...]  # (symbol, pointer), by symbol

    @property
    def key(self) -> tuple:
        return tuple((symbol, pointer.files) for symbol, pointer in self.pointers)

    def paths(self) -> list[Path]:
        return [self.serving / s / name for s, pointer in self.pointers for name in pointer.files]


def current(serving: Path | None = None) -> Snapshot | None:
    """The snapshot readers see now, or None when nothing is published yet."""
    serving = Path(serving or settings.SERVING_PATH)
    try:
        folders = sorted(p for p in serving.iterdir() if SYMBOL.match(p.name))
    except (FileNotFoundError, NotADirectoryError):
        return None
    pointers = tuple(
        (folder.name, pointer)
        for folder in folders
        if (pointer := current_pointer(folder)) is not None
    )
    return Snapshot(serving, pointers) if pointers else None


def _open(snapshot: Snapshot) -> duckdb.DuckDBPyConnection:
    """A read-only view of every symbol's snapshot: an in-memory database attaching their
    files, whose views union the symbols and lay each recent layer over its base (cursors
    of the connection share the views)."""
    con = duckdb.connect()
    selects: dict[str, list[str]] = {table: [] for table in SERVED_TABLES}
    for k, (symbol, pointer) in enumerate(snapshot.pointers):
        for alias, name in ((f"base{k}", pointer.base), (f"recent{k}", pointer.recent)):
            if name:
                quoted = str(snapshot.serving / symbol / name).replace("'", "''")
                con.execute(f"ATTACH '{quoted}' AS {alias} (READ_ONLY)")
        for table in SERVED_TABLES:
            if pointer.recent is None:
                selects[table].append(f"SELECT * FROM base{k}.{table}")
                continue
            column = SERVED_TIMES[table]
            # the base's rows the layer does not replace (a plain filter: pushed into the scan)
            kept = f"{column} < epoch_ms({int(pointer.since)})" if column else "false"
            selects[table].append(f"SELECT * FROM base{k}.{table} WHERE {kept}")
            selects[table].append(f"SELECT * FROM recent{k}.{table}")
    for table, parts in selects.items():
        con.execute(f"CREATE VIEW {table} AS {' UNION ALL '.join(parts)}")
    return con


@contextlib.contextmanager
def snapshot_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection of its own to the current snapshot, for jobs that only read
    (scoring backtests, paper trading): they never take the writer's lock, so they never wait
    behind an hour-long calculate, and a calculate never waits behind them."""
    snapshot = current()
    if snapshot is None:
        raise WarehouseUnavailable("nothing is published yet: run ingest and calculate first")
    with reported(snapshot.serving, IO_ERRORS):
        con = _open(snapshot)
    try:
        yield con
    finally:
        con.close()


_readers: dict[tuple, duckdb.DuckDBPyConnection] = {}
_readers_lock = threading.Lock()


def _reader(snapshot: Snapshot) -> duckdb.DuckDBPyConnection:
    """One read-only connection per snapshot and process; callers take a cursor each.

    A connection to an older snapshot is dropped, not closed: another thread may still be
    reading through it, and DuckDB closes it once its last cursor is gone.
    """
    with _readers_lock:
        con = _readers.get(snapshot.key)
        if con is None:
            _readers.clear()
            con = _open(snapshot)
            _readers[snapshot.key] = con
        return con


def read(sql: str, params: dict | list | None = None, *, retry: bool = True) -> pd.DataFrame:
    """Run a query on the current snapshot; retried with backoff (unless ``retry`` is off),
    then WarehouseUnavailable.

    An empty warehouse (nothing published yet) reads as empty frames, not as an error.
    """
    delays = list(settings.WAREHOUSE_RETRY_DELAYS) if retry else []
    for attempt in range(len(delays) + 1):
        try:
            snapshot = current()
            if snapshot is None:
                return pd.DataFrame()
            cursor = _reader(snapshot).cursor()
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
    snapshot = current()
    if snapshot is None:
        return "empty"
    return "|".join(f"{symbol}:{'+'.join(files)}" for symbol, files in snapshot.key)


def published_at() -> int | None:
    """Epoch ms at which the newest file of the current snapshot was published (its name
    says it)."""
    snapshot = current()
    if snapshot is None:
        return None
    stamps = [stamp for path in snapshot.paths() if (stamp := _written_at(path)) is not None]
    return max(stamps) if stamps else None


def _written_at(path: Path) -> int | None:
    try:
        moment = datetime.strptime(path.stem.split("-", 1)[-1], "%Y%m%dT%H%M%S%f")
    except ValueError:  # not a name publishing gave
        return None
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


_symbols: dict[str, list[str]] = {}


def served_symbols(*, retry: bool = True) -> list[str]:
    """Symbols with model output; remembered per snapshot (a published snapshot never changes),
    since every API request checks its symbol against them."""
    snapshot = snapshot_id()
    if snapshot == "empty":
        return []
    known = _symbols.get(snapshot)
    if known is None:
        frame = read("SELECT DISTINCT symbol FROM model_runs ORDER BY symbol", retry=retry)
        known = frame["symbol"].tolist() if len(frame) else []
        _symbols.clear()
        _symbols[snapshot] = known
    return list(known)
