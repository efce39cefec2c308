"""Serving the web: the read-only readers of the current snapshot (``publishing`` writes it).

DuckDB allows one read-write process or many read-only ones, never both. Writers therefore
publish a snapshot of what the web reads after each job and swap a pointer to it atomically;
web workers open the files the pointer names, read-only, and never wait for a writer. A
snapshot is a base file, maybe with a recent layer over it (see ``publishing``).
A read is retried with backoff, then gives up with WarehouseUnavailable.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
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
)
_POINTER = "current"
# each served table's time column: a recent layer holds a symbol's rows from its cut-off on
# (all of them for the runs: a few rows a model and day, some without a time)
SERVED_TIMES: dict[str, str | None] = {
    "klines": "open_time",
    "liquidation_history": "timestamp",
    "liquidation_levels": "timestamp",
    "heatmap_cache": "time_bucket",
    "heatmap_tiers": "time_bucket",
    "predicted_liquidations": "time",
    "model_runs": None,
}
_SYMBOL = re.compile(r"^[A-Z0-9]{1,20}$")


class WarehouseUnavailable(Exception):
    """The warehouse could not be read even after the retries."""


@dataclass(frozen=True)
class Pointer:
    """What the web reads (``publishing`` writes it): a base snapshot file, and maybe a recent
    layer whose rows replace the base's of each symbol from its cut-off (epoch ms) on."""

    base: str
    recent: str | None = None
    schema: int | None = None  # the warehouse schema version the base was copied from
    cutoffs: dict[str, int] = field(default_factory=dict)

    @property
    def files(self) -> tuple[str, ...]:
        return (self.base, self.recent) if self.recent else (self.base,)


def current_pointer(serving: Path | None = None) -> Pointer | None:
    serving = Path(serving or settings.SERVING_PATH)
    try:
        text = (serving / _POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    if not text.startswith("{"):  # a bare file name: a base alone
        return Pointer(text)
    fields = json.loads(text)
    cutoffs = {str(k): int(v) for k, v in fields.get("cutoffs", {}).items()}
    return Pointer(fields["base"], fields.get("recent"), fields.get("schema"), cutoffs)


def write_pointer(serving: Path, pointer: Pointer) -> None:
    """Swap the pointer atomically: readers see the old snapshot or the new one, whole."""
    partial = serving / (_POINTER + ".partial")
    partial.write_text(json.dumps(asdict(pointer)))
    os.replace(partial, serving / _POINTER)


def current_snapshot(serving: Path | None = None) -> Path | None:
    """The newest file of the current snapshot (its recent layer, else its base)."""
    serving = Path(serving or settings.SERVING_PATH)
    pointer = current_pointer(serving)
    return serving / pointer.files[-1] if pointer else None


def _open(serving: Path, pointer: Pointer) -> duckdb.DuckDBPyConnection:
    """A read-only view of the snapshot: its base file, or an in-memory database whose views
    lay the recent layer over the base (cursors of the connection share the views)."""
    if pointer.recent is None:
        return duckdb.connect(str(serving / pointer.base), read_only=True)
    con = duckdb.connect()
    for alias, name in (("base", pointer.base), ("recent", pointer.recent)):
        quoted = str(serving / name).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS {alias} (READ_ONLY)")
    for table in SERVED_TABLES:
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM base.{table} "
            f"WHERE NOT coalesce({_replaced(table, pointer.cutoffs)}, false) "
            f"UNION ALL SELECT * FROM recent.{table}"
        )
    return con


def _replaced(table: str, cutoffs: dict[str, int]) -> str:
    """SQL true for a base row the recent layer replaces (literals: the pointer is ours, and a
    plain filter is pushed into the base's scan)."""
    column = SERVED_TIMES[table]
    terms = []
    for symbol, since in cutoffs.items():
        if not _SYMBOL.match(symbol):
            raise ValueError(f"not a symbol: {symbol!r}")
        after = f" AND {column} >= epoch_ms({int(since)})" if column else ""
        terms.append(f"(symbol = '{symbol}'{after})")
    return " OR ".join(terms) or "false"


@contextlib.contextmanager
def snapshot_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection of its own to the current snapshot, for jobs that only read
    (scoring backtests, paper trading): they never take the writer's lock, so they never wait
    behind an hour-long calculate, and a calculate never waits behind them."""
    serving = Path(settings.SERVING_PATH)
    pointer = current_pointer(serving)
    if pointer is None:
        raise WarehouseUnavailable("nothing is published yet: run ingest and calculate first")
    with reported(serving / pointer.base, IO_ERRORS):
        con = _open(serving, pointer)
    try:
        yield con
    finally:
        con.close()


_readers: dict[tuple[str, ...], duckdb.DuckDBPyConnection] = {}
_readers_lock = threading.Lock()


def _reader(serving: Path, pointer: Pointer) -> duckdb.DuckDBPyConnection:
    """One read-only connection per snapshot and process; callers take a cursor each.

    A connection to an older snapshot is dropped, not closed: another thread may still be
    reading through it, and DuckDB closes it once its last cursor is gone.
    """
    with _readers_lock:
        con = _readers.get(pointer.files)
        if con is None:
            _readers.clear()
            con = _open(serving, pointer)
            _readers[pointer.files] = con
        return con


def read(sql: str, params: dict | list | None = None, *, retry: bool = True) -> pd.DataFrame:
    """Run a query on the current snapshot; retried with backoff (unless ``retry`` is off),
    then WarehouseUnavailable.

    An empty warehouse (nothing published yet) reads as empty frames, not as an error.
    """
    delays = list(settings.WAREHOUSE_RETRY_DELAYS) if retry else []
    for attempt in range(len(delays) + 1):
        try:
            serving = Path(settings.SERVING_PATH)
            pointer = current_pointer(serving)
            if pointer is None:
                return pd.DataFrame()
            cursor = _reader(serving, pointer).cursor()
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
    pointer = current_pointer()
    return "+".join(pointer.files) if pointer else "empty"


def published_at() -> int | None:
    """Epoch ms at which the current snapshot was published (its name says it)."""
    path = current_snapshot()
    if path is None:
        return None
    stamp = datetime.strptime(path.stem.split("-", 1)[1], "%Y%m%dT%H%M%S%f")
    return int(stamp.replace(tzinfo=UTC).timestamp() * 1000)


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
