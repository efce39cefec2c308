"""Rows that follow the market: what Binance's REST API and WebSocket streams bring between the
archive's files, written without duplicates, and dropped when the archive's file arrives.

Every row carries its ``source`` (``schema.SOURCES``). A row is identified by a natural key
(a candle by symbol, interval and open time; a liquidation by symbol, trade time, side, price
and qty): an insert skips the rows whose key is already there, from any source, and repeats
inside the batch, so a replayed or overlapping answer adds nothing. Times are epoch ms UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd


@dataclass(frozen=True)
class LiveTable:
    time: str  # the column that orders rows
    key: tuple[str, ...]  # the natural key
    columns: tuple[str, ...]  # what the REST/stream rows fill, key included
    # events (not a series): an archive file is the whole record of its days, so it
    # supersedes its days' other rows, not only those between its first and last event
    whole_days: bool = False


_KLINE = LiveTable(
    "open_time",
    ("symbol", "interval", "open_time"),
    (
        "symbol",
        "interval",
        "open_time",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "close_time",
        "quote_volume",
        "count",
        "taker_buy_volume",
        "taker_buy_quote_volume",
    ),
)

LIVE_TABLES: dict[str, LiveTable] = {
    "klines": _KLINE,
    "mark_price_klines": _KLINE,
    "metrics": LiveTable(
        "create_time",
        ("symbol", "create_time"),
        (
            "symbol",
            "create_time",
            "sum_open_interest",
            "sum_open_interest_value",
            "count_long_short_ratio",
        ),
    ),
    "funding_rate": LiveTable(
        "calc_time",
        ("symbol", "calc_time"),
        ("symbol", "calc_time", "funding_interval_hours", "last_funding_rate"),
    ),
    "premium_index": LiveTable(
        "time",
        ("symbol", "time"),
        (
            "symbol",
            "time",
            "mark_price",
            "index_price",
            "estimated_settle_price",
            "last_funding_rate",
            "interest_rate",
            "next_funding_time",
        ),
    ),
    "liquidation_history": LiveTable(
        "timestamp",
        ("symbol", "timestamp", "side", "price", "quantity"),
        (
            "symbol",
            "timestamp",
            "side",
            "price",
            "quantity",
            "bankruptcy_price",
            "original_quantity",
            "order_type",
            "time_in_force",
            "order_status",
        ),
        whole_days=True,
    ),
}

# columns given as epoch ms that the tables hold as TIMESTAMP
_TIMES = {
    "open_time",
    "close_time",
    "create_time",
    "calc_time",
    "time",
    "next_funding_time",
    "timestamp",
}


def _spec(table: str) -> LiveTable:
    try:
        return LIVE_TABLES[table]
    except KeyError:
        raise ValueError(f"{table} is not filled from REST or a stream") from None


def newest_time(
    con: duckdb.DuckDBPyConnection,
    table: str,
    symbol: str,
    interval: str | None = None,
    source: str | None = None,
) -> int | None:
    """The newest row's time (epoch ms) of a symbol in ``table`` (of one kline ``interval``,
    and of one ``source`` if given; any source otherwise), or None."""
    spec = _spec(table)
    where, params = ["symbol = $symbol"], {"symbol": symbol}
    if "interval" in spec.key:
        where.append("interval = $interval")
        params["interval"] = interval
    if source is not None:
        where.append("source = $source")
        params["source"] = source
    row = con.execute(
        f"SELECT epoch_ms(max({spec.time})) FROM {table} WHERE {' AND '.join(where)}", params
    ).fetchone()
    return row[0]


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame, source: str) -> int:
    """Add ``rows`` (the table's live columns, times as epoch ms) with their ``source``; rows
    whose natural key is already in the table, or earlier in ``rows``, are skipped. Returns how
    many were added. One statement: all of them or none."""
    spec = _spec(table)
    if rows.empty:
        return 0
    missing = set(spec.columns) - set(rows.columns)
    if missing:
        raise ValueError(f"rows for {table} lack {sorted(missing)}")
    incoming_rows = rows[list(spec.columns)]  # read by name: DuckDB's replacement scan
    select = ", ".join(
        f"epoch_ms(CAST({c} AS BIGINT)) AS {c}" if c in _TIMES else c for c in spec.columns
    )
    key = ", ".join(spec.key)
    same_key = " AND ".join(f"t.{c} = n.{c}" for c in spec.key)
    added = con.execute(
        f"""INSERT INTO {table} ({", ".join(spec.columns)}, source)
            SELECT n.*, $source FROM (
                SELECT DISTINCT ON ({key}) {select} FROM incoming_rows ORDER BY {key}
            ) n
            WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {same_key})""",
        {"source": source},
    ).fetchone()[0]
    del incoming_rows
    return int(added)


def supersede(
    con: duckdb.DuckDBPyConnection,
    table: str,
    symbol: str,
    interval: str | None,
    min_time,
    max_time,
) -> int:
    """Drop the REST and stream rows of a symbol in [min_time, max_time] (the span of an
    archive file just loaded, TIMESTAMPs; for events, the whole UTC days of that span): the
    archive's rows replace them. Called inside the file's load transaction. Returns how many
    were dropped; 0 for tables nothing follows.

    A series keeps the REST rows outside its file's span: a candle the archive lacks stays
    known (no gap)."""
    if table not in LIVE_TABLES:
        return 0
    spec = LIVE_TABLES[table]
    span = (
        f"{spec.time} >= date_trunc('day', $lo) "
        f"AND {spec.time} < date_trunc('day', $hi) + INTERVAL 1 DAY"
        if spec.whole_days
        else f"{spec.time} BETWEEN $lo AND $hi"
    )
    where = f"symbol = $symbol AND source <> 'archive' AND {span}"
    params = {"symbol": symbol, "lo": min_time, "hi": max_time}
    if "interval" in spec.key:
        where += " AND interval = $interval"
        params["interval"] = interval
    return con.execute(f"DELETE FROM {table} WHERE {where}", params).fetchone()[0]


def source_counts(
    con: duckdb.DuckDBPyConnection,
    table: str,
    symbol: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> dict[str, int]:
    """Rows of a symbol in ``table`` per source (those in [start, end) when given)."""
    column = _spec(table).time
    rows = con.execute(
        f"""SELECT source, count(*) FROM {table} WHERE symbol = $symbol
              AND ($start IS NULL OR {column} >= epoch_ms($start))
              AND ($end IS NULL OR {column} < epoch_ms($end))
            GROUP BY 1 ORDER BY 1""",
        {"symbol": symbol, "start": start_ms, "end": end_ms},
    ).fetchall()
    return dict(rows)
