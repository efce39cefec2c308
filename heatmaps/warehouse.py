"""Every DuckDB statement liqmap runs. Nothing else in the project imports duckdb.

The warehouse file takes one writer at a time (DuckDB's rule): writers go through
``connect()``, which holds a file lock beside the database for as long as they write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import structlog
from django.conf import settings
from filelock import FileLock

from heatmaps.binance.formats import Dataset, RejectedFile, explain_csv_error
from models_engine.market import BAR_MS as MARKET_BAR_MS

_log = structlog.get_logger("liqmap.warehouse")

_KLINE_TABLE = """(
    file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, interval VARCHAR NOT NULL,
    open_time TIMESTAMP NOT NULL, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE,
    volume DOUBLE, close_time TIMESTAMP, quote_volume DOUBLE, count BIGINT,
    taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE)"""

# Each entry brings the schema from version i to i+1; never edit one that has shipped.
MIGRATIONS: list[str] = [
    f"""
    CREATE SEQUENCE file_ids START 1;
    CREATE TABLE ingested_files (
        id INTEGER PRIMARY KEY, path VARCHAR NOT NULL UNIQUE, dataset VARCHAR NOT NULL,
        symbol VARCHAR NOT NULL, interval VARCHAR, sha256 VARCHAR NOT NULL, size BIGINT NOT NULL,
        rows BIGINT NOT NULL, min_time TIMESTAMP, max_time TIMESTAMP, loaded_at TIMESTAMP NOT NULL);
    CREATE TABLE metrics (
        file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, create_time TIMESTAMP NOT NULL,
        sum_open_interest DOUBLE, sum_open_interest_value DOUBLE,
        count_toptrader_long_short_ratio DOUBLE, sum_toptrader_long_short_ratio DOUBLE,
        count_long_short_ratio DOUBLE, sum_taker_long_short_vol_ratio DOUBLE);
    CREATE TABLE funding_rate (
        file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, calc_time TIMESTAMP NOT NULL,
        funding_interval_hours INTEGER, last_funding_rate DOUBLE);
    CREATE TABLE klines {_KLINE_TABLE};
    CREATE TABLE mark_price_klines {_KLINE_TABLE};
    CREATE TABLE index_price_klines {_KLINE_TABLE};
    CREATE TABLE agg_trades (
        file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, agg_trade_id BIGINT, price DOUBLE,
        quantity DOUBLE, first_trade_id BIGINT, last_trade_id BIGINT,
        transact_time TIMESTAMP NOT NULL, is_buyer_maker BOOLEAN);
    CREATE TABLE trades (
        file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, id BIGINT, price DOUBLE, qty DOUBLE,
        quote_qty DOUBLE, time TIMESTAMP NOT NULL, is_buyer_maker BOOLEAN);
    CREATE TABLE book_depth (
        file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL,
        percentage DOUBLE, depth DOUBLE, notional DOUBLE);
    -- Realized liquidations. side = the liquidated position's side; price = average fill;
    -- leverage is never in the archive (NULL) but other sources may know it.
    CREATE TABLE liquidation_history (
        file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL,
        side VARCHAR NOT NULL, price DOUBLE, quantity DOUBLE, bankruptcy_price DOUBLE,
        original_quantity DOUBLE, order_type VARCHAR, time_in_force VARCHAR,
        order_status VARCHAR, leverage INTEGER);
    """,
    """
    -- What the models say. Every row belongs to one (symbol, model) and is replaced as a whole
    -- window when that window is calculated again.
    CREATE TABLE liquidation_levels (
        timestamp TIMESTAMP NOT NULL, symbol VARCHAR NOT NULL, model VARCHAR NOT NULL,
        price_level DOUBLE NOT NULL, price_bucket DOUBLE NOT NULL,
        liquidation_volume DOUBLE NOT NULL, leverage_tier VARCHAR NOT NULL,
        side VARCHAR NOT NULL, confidence DOUBLE NOT NULL, is_valid BOOLEAN NOT NULL);
    CREATE TABLE heatmap_cache (
        time_bucket TIMESTAMP NOT NULL, price_bucket DOUBLE NOT NULL, symbol VARCHAR NOT NULL,
        model VARCHAR NOT NULL, side VARCHAR NOT NULL, density BIGINT NOT NULL,
        volume DOUBLE NOT NULL);
    -- the same per leverage tier, on wider price buckets (model_runs.tier_price_step)
    CREATE TABLE heatmap_tiers (
        time_bucket TIMESTAMP NOT NULL, price_bucket DOUBLE NOT NULL, symbol VARCHAR NOT NULL,
        model VARCHAR NOT NULL, side VARCHAR NOT NULL, leverage DOUBLE NOT NULL,
        density BIGINT NOT NULL, volume DOUBLE NOT NULL);
    CREATE TABLE predicted_liquidations (
        time TIMESTAMP NOT NULL, symbol VARCHAR NOT NULL, model VARCHAR NOT NULL,
        price_bucket DOUBLE NOT NULL, side VARCHAR NOT NULL, volume DOUBLE NOT NULL);
    CREATE TABLE model_runs (
        symbol VARCHAR NOT NULL, model VARCHAR NOT NULL, window_start TIMESTAMP NOT NULL,
        window_end TIMESTAMP NOT NULL, as_of TIMESTAMP, price_step DOUBLE NOT NULL,
        tier_price_step DOUBLE NOT NULL,
        current_price DOUBLE, confidence DOUBLE NOT NULL, is_valid BOOLEAN NOT NULL,
        warnings VARCHAR[] NOT NULL, computed_at TIMESTAMP NOT NULL,
        PRIMARY KEY (symbol, model, window_start, window_end));
    """,
    # the ensemble's member weights at as_of (JSON text), so pages and bots can show them
    """ALTER TABLE model_runs ADD COLUMN weights VARCHAR;""",
]

# Per table: what a row must satisfy, said as the reason a file breaking it is rejected.
_CHECKS: dict[str, list[tuple[str, str]]] = {
    "metrics": [
        ("sum_open_interest >= 0 AND sum_open_interest_value >= 0", "negative open interest")
    ],
    "klines": [
        (
            "low <= least(open, close) AND high >= greatest(open, close) AND low > 0",
            "a candle with low > open/close, high < open/close or a price <= 0",
        )
    ],
    "agg_trades": [("price > 0 AND quantity > 0", "a trade with price or quantity <= 0")],
    "trades": [("price > 0 AND qty > 0", "a trade with price or qty <= 0")],
    "liquidation_history": [
        ("price > 0 AND quantity > 0", "a liquidation with price or quantity <= 0")
    ],
}
_CHECKS["mark_price_klines"] = _CHECKS["index_price_klines"] = _CHECKS["klines"]


def _column_sql(name: str, kind: str) -> str | None:
    col = f'"{name}"'
    if kind == "epoch":
        # Binance moved some files to µs timestamps: a value above 1e14 cannot be ms (year 5138).
        return (
            f"CASE WHEN {col} >= 100000000000000 THEN make_timestamp({col}) "
            f"ELSE epoch_ms({col}) END"
        )
    if kind == "side":
        return f"CASE {col} WHEN 'SELL' THEN 'long' WHEN 'BUY' THEN 'short' END"
    if kind == "skip":
        return None
    return col


_CSV_TYPES = {
    "float": "DOUBLE",
    "int": "BIGINT",
    "epoch": "BIGINT",
    "text_ts": "TIMESTAMP",
    "str": "VARCHAR",
    "bool": "BOOLEAN",
    "side": "VARCHAR",
    "skip": "VARCHAR",
}

# Target columns per table, in the order _select_sql produces them.
_RENAMES = {
    "liquidation_history": {
        "time": "timestamp",
        "average_price": "price",
        "price": "bankruptcy_price",
        "accumulated_fill_quantity": "quantity",
        "last_fill_quantity": None,
    }
}


def _select_sql(dataset: Dataset) -> tuple[list[str], list[str]]:
    """(target columns, select expressions) that move a CSV's columns into its table."""
    renames = _RENAMES.get(dataset.table, {})
    targets, exprs = [], []
    for name, kind in dataset.columns:
        target = renames.get(name, name)
        expr = _column_sql(name, kind)
        if expr is None or target is None:
            continue
        targets.append(target)
        exprs.append(expr)
    return targets, exprs


def _validate_side(dataset: Dataset) -> list[tuple[str, str]]:
    if dataset.table == "liquidation_history":
        return [("side IS NOT NULL", "a side other than BUY or SELL")]
    return []


@dataclass
class FileRecord:
    id: int
    sha256: str
    size: int


@contextlib.contextmanager
def connect(path: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse to write: hold the writer lock, bring the schema up to date."""
    path = Path(path or settings.DUCKDB_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        con = duckdb.connect(str(path))
        try:
            con.execute("SET enable_progress_bar = false")
            # Rows are always read back with ORDER BY: letting DuckDB insert in any order
            # makes loading a file about 8 % faster (measured in bench/ingest.py).
            con.execute("SET preserve_insertion_order = false")
            migrate(con)
            yield con
        finally:
            con.close()


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply the migrations this file has not had yet; return the schema version."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    version = row[0] or 0
    for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
        con.execute("BEGIN TRANSACTION")
        con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?)", [number])
        con.execute("COMMIT")
    return len(MIGRATIONS)


def find_file(con: duckdb.DuckDBPyConnection, relpath: str) -> FileRecord | None:
    row = con.execute(
        "SELECT id, sha256, size FROM ingested_files WHERE path = ?", [relpath]
    ).fetchone()
    return FileRecord(*row) if row else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(4 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class LoadResult:
    rows: int
    replaced: bool


def load_file(
    con: duckdb.DuckDBPyConnection,
    *,
    dataset: Dataset,
    csv_path: Path,
    header: bool,
    relpath: str,
    symbol: str,
    interval: str | None,
    sha256: Callable[[], str],
    size: int,
) -> LoadResult:
    """Load one CSV into its table in one transaction, replacing the rows an older version of
    the same archive file left. Raises RejectedFile (and changes nothing) when any row is bad
    or the file's time range overlaps another file's.

    ``sha256`` is called once the rows are in, so the caller can hash the file meanwhile; it
    may raise RejectedFile too (a CHECKSUM mismatch), which rolls everything back.
    """
    table = dataset.table
    targets, exprs = _select_sql(dataset)
    columns = ", ".join(f"'{name}': '{_CSV_TYPES[kind]}'" for name, kind in dataset.columns)
    not_null = ", ".join(f"'{name}'" for name, kind in dataset.columns if kind != "skip")
    extra_cols, extra_vals = ["file_id"], ["$file_id"]
    if "symbol" not in dataset.column_names:
        extra_cols.append("symbol")
        extra_vals.append("$symbol")
    if dataset.has_interval:
        extra_cols.append("interval")
        extra_vals.append("$interval")
    time_col = _time_target(dataset)
    con.execute("BEGIN TRANSACTION")
    try:
        old = find_file(con, relpath)
        if old is not None:
            con.execute(f"DELETE FROM {table} WHERE file_id = ?", [old.id])
            con.execute("DELETE FROM ingested_files WHERE id = ?", [old.id])
        file_id = con.execute("SELECT nextval('file_ids')").fetchone()[0]
        params = {"file_id": file_id, "csv": str(csv_path)}
        if "symbol" not in dataset.column_names:
            params["symbol"] = symbol
        if dataset.has_interval:
            params["interval"] = interval
        try:
            con.execute(
                f"""INSERT INTO {table} ({", ".join(extra_cols + targets)})
                SELECT {", ".join(extra_vals + exprs)}
                FROM read_csv($csv, header = {str(header).lower()}, auto_detect = false,
                              delim = ',', quote = '"', strict_mode = true,
                              columns = {{{columns}}}, force_not_null = [{not_null}])""",
                params,
            )
        except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
            raise explain_csv_error(relpath, str(exc)) from None
        rows, min_time, max_time = con.execute(
            f"SELECT count(*), min({time_col}), max({time_col}) FROM {table} WHERE file_id = ?",
            [file_id],
        ).fetchone()
        if rows == 0:
            raise RejectedFile(relpath, "the file has no data rows")
        _check_rows(con, dataset, relpath, file_id, symbol)
        clash = con.execute(
            """SELECT path, min_time, max_time FROM ingested_files
               WHERE dataset = ? AND symbol = ? AND interval IS NOT DISTINCT FROM ?
                 AND min_time <= ? AND max_time >= ? ORDER BY min_time LIMIT 1""",
            [dataset.name, symbol, interval, max_time, min_time],
        ).fetchone()
        if clash:
            raise RejectedFile(
                relpath,
                f"its rows ({min_time} .. {max_time}) overlap those already loaded from "
                f"{clash[0]} ({clash[1]} .. {clash[2]}); remove one of the two files",
            )
        con.execute(
            "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                file_id,
                relpath,
                dataset.name,
                symbol,
                interval,
                sha256(),
                size,
                rows,
                min_time,
                max_time,
                datetime.now(UTC).replace(tzinfo=None),
            ],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return LoadResult(rows=rows, replaced=old is not None)


def _time_target(dataset: Dataset) -> str:
    renames = _RENAMES.get(dataset.table, {})
    return renames.get(dataset.time_column, dataset.time_column)


def _check_rows(con, dataset: Dataset, relpath: str, file_id: int, symbol: str) -> None:
    checks = list(_CHECKS.get(dataset.table, [])) + _validate_side(dataset)
    if "symbol" in dataset.column_names:
        # Some files repeat the symbol in a column: it must be the one in the file's name.
        checks.append(("symbol = $symbol", f"a symbol other than {symbol}"))
    time_col = _time_target(dataset)
    for condition, reason in checks:
        params = {"file_id": file_id}
        if "$symbol" in condition:
            params["symbol"] = symbol
        bad = con.execute(
            f"SELECT count(*), min({time_col}) FROM {dataset.table} "
            f"WHERE file_id = $file_id AND NOT coalesce({condition}, false)",
            params,
        ).fetchone()
        if bad[0]:
            raise RejectedFile(relpath, f"{bad[0]} row(s) with {reason}, the first at {bad[1]}")


RAW_TABLES = (
    "metrics",
    "funding_rate",
    "klines",
    "mark_price_klines",
    "index_price_klines",
    "agg_trades",
    "trades",
    "book_depth",
    "liquidation_history",
)


def table_counts(con: duckdb.DuckDBPyConnection, symbol: str | None = None) -> dict[str, int]:
    """Rows per raw table (for one symbol, or all)."""
    where, params = ("WHERE symbol = ?", [symbol]) if symbol else ("", [])
    return {
        table: con.execute(f"SELECT count(*) FROM {table} {where}", params).fetchone()[0]
        for table in RAW_TABLES
    }


# --- reading the market for the models ------------------------------------------------------

BAR_MS = MARKET_BAR_MS
# The bar grid is 5 minutes; finer candles are aggregated up to it, coarser ones are not used.
_BAR_INTERVALS = ("5m", "1m", "3m")


def data_range(con: duckdb.DuckDBPyConnection, symbol: str) -> tuple[datetime, datetime] | None:
    """First and last candle time of a symbol (any kline interval), or None."""
    row = con.execute(
        "SELECT min(open_time), max(open_time) FROM klines WHERE symbol = ?", [symbol]
    ).fetchone()
    return None if row[0] is None else (row[0], row[1])


def _bar_interval(con, table: str, symbol: str, start: datetime, end: datetime) -> str | None:
    rows = con.execute(
        f"SELECT DISTINCT interval FROM {table} WHERE symbol = ? AND open_time >= ? "
        "AND open_time < ?",
        [symbol, start, end],
    ).fetchall()
    present = {r[0] for r in rows}
    return next((i for i in _BAR_INTERVALS if i in present), None)


def load_market(
    con: duckdb.DuckDBPyConnection, symbol: str, start: datetime, end: datetime
) -> dict[str, pd.DataFrame | None]:
    """The frames a MarketData needs for [start, end), timestamps as epoch ms.

    Candles are aggregated to 5-minute bars; open interest is read one bar past ``end`` (the
    last bar's closing OI); funding from a week before ``start`` (the rate in force at it).
    """
    frames: dict[str, pd.DataFrame | None] = {}
    params = {"symbol": symbol, "start": start, "end": end}
    for name, table in (("klines", "klines"), ("mark", "mark_price_klines")):
        interval = _bar_interval(con, table, symbol, start, end)
        if interval is None:
            frames[name] = None
            continue
        frames[name] = con.execute(
            f"""SELECT epoch_ms(open_time) // {BAR_MS} * {BAR_MS} AS open_time,
                       arg_min(open, open_time) AS open, max(high) AS high, min(low) AS low,
                       arg_max(close, open_time) AS close, sum(volume) AS volume,
                       sum(quote_volume) AS quote_volume, sum(taker_buy_volume) AS taker_buy_volume
                FROM {table}
                WHERE symbol = $symbol AND interval = $interval
                  AND open_time >= $start AND open_time < $end
                GROUP BY 1 ORDER BY 1""",
            {**params, "interval": interval},
        ).df()
    frames["metrics"] = con.execute(
        f"""SELECT epoch_ms(create_time) AS create_time, sum_open_interest, sum_open_interest_value,
                   count_long_short_ratio
            FROM metrics WHERE symbol = $symbol AND create_time >= $start
              AND create_time <= $end + INTERVAL {BAR_MS // 1000} SECOND
            ORDER BY create_time""",
        params,
    ).df()
    frames["funding"] = con.execute(
        """SELECT epoch_ms(calc_time) AS calc_time, last_funding_rate FROM funding_rate
           WHERE symbol = $symbol AND calc_time >= $start - INTERVAL 7 DAY AND calc_time < $end
           ORDER BY calc_time""",
        params,
    ).df()
    frames["trades"] = con.execute(
        """SELECT epoch_ms(transact_time) AS transact_time, price, quantity, is_buyer_maker
           FROM agg_trades WHERE symbol = $symbol AND transact_time >= $start
             AND transact_time < $end ORDER BY transact_time""",
        params,
    ).df()
    return frames


def load_realized(
    con: duckdb.DuckDBPyConnection, symbol: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """Realized liquidations in [start, end): time (ms), price, side, volume (USDT)."""
    return con.execute(
        """SELECT epoch_ms(timestamp) AS time, price, side, price * quantity AS volume
           FROM liquidation_history WHERE symbol = ? AND timestamp >= ? AND timestamp < ?
           ORDER BY timestamp""",
        [symbol, start, end],
    ).df()


# --- writing what the models say -----------------------------------------------------------


def replace_model_output(
    con: duckdb.DuckDBPyConnection,
    *,
    symbol: str,
    model: str,
    window_start: datetime,
    window_end: datetime,
    levels: pd.DataFrame,
    heatmap: pd.DataFrame,
    tier_heatmap: pd.DataFrame,
    predicted: pd.DataFrame,
    run: dict,
) -> None:
    """Replace one model's rows for [window_start, window_end] in one transaction.

    Frames carry epoch-ms times: levels (timestamp, price_level, price_bucket, volume, side,
    leverage, confidence, is_valid), heatmap (time_bucket, price_bucket, side, density,
    volume), predicted (time, price_bucket, side, volume).
    """
    window = {"symbol": symbol, "model": model, "start": window_start, "end": window_end}
    con.execute("BEGIN TRANSACTION")
    try:
        for table, column in (
            ("liquidation_levels", "timestamp"),
            ("heatmap_cache", "time_bucket"),
            ("heatmap_tiers", "time_bucket"),
            ("predicted_liquidations", "time"),
        ):
            con.execute(
                f"DELETE FROM {table} WHERE symbol = $symbol AND model = $model "
                f"AND {column} >= $start AND {column} <= $end",
                window,
            )
        con.execute(
            "DELETE FROM model_runs WHERE symbol = $symbol AND model = $model "
            "AND window_start = $start AND window_end = $end",
            window,
        )
        con.register("new_levels", levels)
        con.execute(
            """INSERT INTO liquidation_levels SELECT epoch_ms(timestamp::BIGINT), $symbol,
               $model, price_level, price_bucket, volume, CAST(leverage AS INTEGER) || 'x',
               side, confidence, is_valid FROM new_levels""",
            {"symbol": symbol, "model": model},
        )
        con.register("new_heatmap", heatmap)
        con.execute(
            """INSERT INTO heatmap_cache SELECT epoch_ms(time_bucket::BIGINT), price_bucket,
               $symbol, $model, side, density, volume FROM new_heatmap""",
            {"symbol": symbol, "model": model},
        )
        con.register("new_tiers", tier_heatmap)
        con.execute(
            """INSERT INTO heatmap_tiers SELECT epoch_ms(time_bucket::BIGINT), price_bucket,
               $symbol, $model, side, leverage, density, volume FROM new_tiers""",
            {"symbol": symbol, "model": model},
        )
        con.register("new_predicted", predicted)
        con.execute(
            """INSERT INTO predicted_liquidations SELECT epoch_ms(time::BIGINT), $symbol, $model,
               price_bucket, side, volume FROM new_predicted""",
            {"symbol": symbol, "model": model},
        )
        con.execute(
            "INSERT INTO model_runs VALUES ($symbol, $model, $start, $end, "
            "epoch_ms($as_of::BIGINT), $price_step, $tier_price_step, $current_price, "
            "$confidence, $is_valid, "
            "$warnings, now()::TIMESTAMP, $weights)",
            {"weights": None, **window, **run},
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in ("new_levels", "new_heatmap", "new_tiers", "new_predicted"):
            con.unregister(name)


# --- serving: read-only snapshots for the web ------------------------------------------------
# DuckDB allows one read-write process or many read-only ones, never both. Writers therefore
# publish a snapshot of what the web reads after each job and swap a pointer to it atomically;
# web workers open the snapshot the pointer names, read-only, and never wait for a writer.

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


class WarehouseUnavailable(Exception):
    """The warehouse could not be read even after the retries."""


def publish(con: duckdb.DuckDBPyConnection, serving: Path | None = None) -> Path:
    """Copy the served tables into a new snapshot file and make it the current one."""
    serving = Path(serving or settings.SERVING_PATH)
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


def latest_run(symbol: str, model: str) -> dict | None:
    frame = read(
        """SELECT epoch_ms(as_of) AS as_of, price_step, tier_price_step, current_price,
                  confidence, is_valid, warnings, weights
           FROM model_runs WHERE symbol = ? AND model = ?
           ORDER BY as_of DESC, computed_at DESC LIMIT 1""",
        [symbol, model],
    )
    if frame.empty:
        return None
    row = frame.iloc[0].to_dict()
    row["warnings"] = list(row["warnings"])
    # pandas reads SQL NULL as NaN: give callers None, which JSON can carry
    row["current_price"] = None if pd.isna(row["current_price"]) else float(row["current_price"])
    row["as_of"] = None if pd.isna(row["as_of"]) else int(row["as_of"])
    row["weights"] = None if pd.isna(row["weights"]) else json.loads(row["weights"])
    return row


def heatmap_cells(
    symbol: str,
    model: str,
    start_ms: int,
    end_ms: int,
    bucket_ms: int,
    price_step: float,
    price_min: float | None,
    price_max: float | None,
    leverages: list[float] | None,
) -> pd.DataFrame:
    """Pending notional per display cell: the hourly snapshot at each bucket's start, summed
    into price buckets of ``price_step`` (pending is a stock: it is sampled, not summed, in
    time); from the per-tier table when ``leverages`` are chosen. Columns: time_bucket (ms),
    price_bucket, side, volume."""
    table = "heatmap_tiers" if leverages else "heatmap_cache"
    tiers = "AND list_contains($tiers, leverage)" if leverages else ""
    params = {
        "symbol": symbol,
        "model": model,
        "start": start_ms,
        "end": end_ms,
        "bucket": bucket_ms,
        "step": price_step,
        "pmin": price_min,
        "pmax": price_max,
    }
    if leverages:
        params["tiers"] = [float(x) for x in leverages]
    return read(
        f"""SELECT epoch_ms(time_bucket) AS time_bucket,
                  floor(price_bucket / $step) * $step AS price_bucket, side,
                  sum(volume) AS volume
           FROM {table}
           WHERE symbol = $symbol AND model = $model
             AND time_bucket >= epoch_ms($start) AND time_bucket <= epoch_ms($end)
             AND epoch_ms(time_bucket) % $bucket = 0
             AND ($pmin IS NULL OR price_bucket >= $pmin)
             AND ($pmax IS NULL OR price_bucket < $pmax) {tiers}
           GROUP BY ALL""",
        params,
    )


def heatmap_extent(
    symbol: str, model: str, start_ms: int, end_ms: int
) -> tuple[int | None, int | None, float | None, float | None]:
    """(first time, last time, lowest bucket, highest bucket) of a model's cache in a range."""
    frame = read(
        """SELECT epoch_ms(min(time_bucket)) AS t0, epoch_ms(max(time_bucket)) AS t1,
                  min(price_bucket) AS p0, max(price_bucket) AS p1
           FROM heatmap_cache WHERE symbol = ? AND model = ?
             AND time_bucket >= epoch_ms(?) AND time_bucket <= epoch_ms(?)""",
        [symbol, model, start_ms, end_ms],
    )
    if frame.empty or pd.isna(frame.iloc[0]["t0"]):
        return None, None, None, None
    row = frame.iloc[0]
    return int(row["t0"]), int(row["t1"]), float(row["p0"]), float(row["p1"])


def candles(symbol: str, start_ms: int, end_ms: int, bucket_ms: int) -> pd.DataFrame:
    """OHLC of the 5-minute (or finer) candles aggregated into ``bucket_ms`` buckets."""
    return read(
        """WITH bars AS (
               SELECT * FROM klines WHERE symbol = $symbol
                 AND interval = (SELECT min_by(interval, CASE interval WHEN '5m' THEN 0
                                  WHEN '1m' THEN 1 ELSE 2 END) FROM klines
                                  WHERE symbol = $symbol)
                 AND open_time >= epoch_ms($start) AND open_time < epoch_ms($end))
           SELECT epoch_ms(open_time) // $bucket * $bucket AS time,
                  arg_min(open, open_time) AS open, max(high) AS high, min(low) AS low,
                  arg_max(close, open_time) AS close
           FROM bars GROUP BY 1 ORDER BY 1""",
        {"symbol": symbol, "start": start_ms, "end": end_ms, "bucket": bucket_ms},
    )


def levels(symbol: str, model: str, leverage: float | None = None) -> pd.DataFrame:
    """The latest pending levels of a model: price_level, price_bucket, volume, side, leverage,
    confidence, timestamp (ms)."""
    return read(
        """SELECT price_level, price_bucket, liquidation_volume AS volume, side,
                  CAST(rtrim(leverage_tier, 'x') AS DOUBLE) AS leverage, confidence,
                  epoch_ms(timestamp) AS timestamp
           FROM liquidation_levels
           WHERE symbol = $symbol AND model = $model
             AND timestamp = (SELECT max(timestamp) FROM liquidation_levels
                              WHERE symbol = $symbol AND model = $model)
             AND ($leverage IS NULL OR leverage_tier = CAST(CAST($leverage AS INTEGER) AS VARCHAR)
                  || 'x')
           ORDER BY price_level""",
        {"symbol": symbol, "model": model, "leverage": leverage},
    )


def realized_events(symbol: str, start_ms: int, end_ms: int, limit: int) -> pd.DataFrame:
    """The latest ``limit`` realized liquidations in [start, end), oldest first."""
    return read(
        """SELECT * FROM (
               SELECT epoch_ms(timestamp) AS time, price, quantity, side,
                      price * quantity AS volume
               FROM liquidation_history WHERE symbol = ?
                 AND timestamp >= epoch_ms(?) AND timestamp < epoch_ms(?)
               ORDER BY timestamp DESC LIMIT ?)
           ORDER BY time""",
        [symbol, start_ms, end_ms, limit],
    )


def last_liquidation(symbol: str) -> int | None:
    """Epoch ms of the symbol's latest realized liquidation."""
    frame = read(
        "SELECT epoch_ms(max(timestamp)) AS t FROM liquidation_history WHERE symbol = ?", [symbol]
    )
    return None if frame.empty or pd.isna(frame.iloc[0]["t"]) else int(frame.iloc[0]["t"])


def realized_total(symbol: str, start_ms: int, end_ms: int) -> float:
    frame = read(
        """SELECT coalesce(sum(price * quantity), 0) AS v FROM liquidation_history
           WHERE symbol = ? AND timestamp > epoch_ms(?) AND timestamp <= epoch_ms(?)""",
        [symbol, start_ms, end_ms],
    )
    return float(frame.iloc[0]["v"]) if len(frame) else 0.0


def predicted_total(symbol: str, model: str, start_ms: int, end_ms: int) -> float:
    frame = read(
        """SELECT coalesce(sum(volume), 0) AS v FROM predicted_liquidations
           WHERE symbol = ? AND model = ? AND time >= epoch_ms(?) AND time < epoch_ms(?)""",
        [symbol, model, start_ms, end_ms],
    )
    return float(frame.iloc[0]["v"]) if len(frame) else 0.0


def heatmap_rows(
    con: duckdb.DuckDBPyConnection, symbol: str, model: str, start: datetime, end: datetime
) -> tuple[pd.DataFrame, float | None]:
    """A model's stored heatmap in [start, end) (time_bucket ms, price_bucket, side, volume)
    and its price step, for scoring."""
    frame = con.execute(
        """SELECT epoch_ms(time_bucket) AS time_bucket, price_bucket, side, volume
           FROM heatmap_cache WHERE symbol = ? AND model = ?
             AND time_bucket >= ? AND time_bucket < ?""",
        [symbol, model, start, end],
    ).df()
    step = con.execute(
        "SELECT max(price_step) FROM model_runs WHERE symbol = ? AND model = ?", [symbol, model]
    ).fetchone()[0]
    return frame, step


def hourly_flows(
    con: duckdb.DuckDBPyConnection, symbol: str, model: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """Per hour ending at ``time`` (ms): the close, the realized liquidation notional and the
    model's predicted consumption. Hours without candles are left out."""
    return con.execute(
        """WITH closes AS (
               SELECT (epoch_ms(open_time) // 3600000 + 1) * 3600000 AS time,
                      arg_max(close, open_time) AS close
               FROM klines WHERE symbol = $symbol AND interval = '5m'
                 AND open_time >= $start AND open_time < $end GROUP BY 1),
           realized AS (
               SELECT (epoch_ms(timestamp) // 3600000 + 1) * 3600000 AS time,
                      sum(price * quantity) AS realized
               FROM liquidation_history WHERE symbol = $symbol
                 AND timestamp >= $start AND timestamp < $end GROUP BY 1),
           predicted AS (
               SELECT (epoch_ms(time) // 3600000 + 1) * 3600000 AS time,
                      sum(volume) AS predicted
               FROM predicted_liquidations WHERE symbol = $symbol AND model = $model
                 AND time >= $start AND time < $end GROUP BY 1)
           SELECT time, close, coalesce(realized, 0) AS realized,
                  coalesce(predicted, 0) AS predicted
           FROM closes LEFT JOIN realized USING (time) LEFT JOIN predicted USING (time)
           ORDER BY time""",
        {"symbol": symbol, "model": model, "start": start, "end": end},
    ).df()
