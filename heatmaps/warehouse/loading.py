"""Loading archive files into the raw tables: the CSV-to-table mapping, the row checks that
reject a bad file whole, the ledger of loaded files (path, sha256, time range), row counts, and
DuckDB's bare ``read_csv`` that the ingest bench compares against.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from heatmaps.binance.formats import Dataset, RejectedFile, explain_csv_error

from .live import supersede
from .schema import RAW_TABLES
from .transactions import transaction

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


def find_file(con: duckdb.DuckDBPyConnection, relpath: str) -> FileRecord | None:
    row = con.execute(
        "SELECT id, sha256, size FROM ingested_files WHERE path = ?", [relpath]
    ).fetchone()
    return FileRecord(*row) if row else None


def known_files(con: duckdb.DuckDBPyConnection, relpaths: list[str]) -> dict[str, tuple]:
    """relpath → (size, sha256) of those of ``relpaths`` already loaded."""
    rows = con.execute(
        "SELECT path, size, sha256 FROM ingested_files WHERE list_contains(?, path)", [relpaths]
    ).fetchall()
    return {path: (size, sha256) for path, size, sha256 in rows}


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
    superseded: int = 0  # REST or stream rows the file's rows replaced


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
    the same archive file left, and the REST or stream rows of its time span. Raises
    RejectedFile (and changes nothing) when any row is bad or the file's time range overlaps
    another file's.

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
    with transaction(con):
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
        superseded = supersede(con, table, symbol, interval, min_time, max_time)
    return LoadResult(rows=rows, replaced=old is not None, superseded=superseded)


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


def table_counts(con: duckdb.DuckDBPyConnection, symbol: str | None = None) -> dict[str, int]:
    """Rows per raw table (for one symbol, or all)."""
    where, params = ("WHERE symbol = ?", [symbol]) if symbol else ("", [])
    return {
        table: con.execute(f"SELECT count(*) FROM {table} {where}", params).fetchone()[0]
        for table in RAW_TABLES
    }


def bare_read_csv(
    files: list[Path], db_path: Path, columns: dict[str, str] | None = None
) -> tuple[float, int]:
    """DuckDB's own ``read_csv`` of ``files`` into a new table in a fresh ``db_path``, as a user
    would write it (auto-detected, or with ``columns``' types): the baseline bench/ingest.py
    holds liqmap's ingest to. Returns (seconds for connect + load + close, rows)."""
    listing = ", ".join(f"'{path}'" for path in files)
    options = "header = true"
    if columns:
        typed = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
        options += f", columns = {{{typed}}}"
    started = time.perf_counter()
    con = duckdb.connect(str(db_path))
    con.execute("SET enable_progress_bar = false")
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv([{listing}], {options})")
    con.close()
    seconds = time.perf_counter() - started
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
    return seconds, rows
