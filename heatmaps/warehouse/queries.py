"""The questions the API and the jobs ask of the warehouse, each one function.

The API's readers run on the current snapshot (``serving.read``); the jobs' (scoring, paper
trading) take the writer's connection. Times are epoch ms UTC, in and out.
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from models_engine.units import HOUR_MS

from .model_io import bar_interval
from .serving import read


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


def candles(
    symbol: str, start_ms: int, end_ms: int, bucket_ms: int, closed_by: int | None = None
) -> pd.DataFrame:
    """OHLC of the bar candles (5-minute or finer: ``bar_interval``) aggregated into
    ``bucket_ms`` buckets; with ``closed_by``, only the candles closed by then (an answer as
    of that time must not show a candle still open at it)."""
    return read(
        f"""SELECT epoch_ms(open_time) // $bucket * $bucket AS time,
                  arg_min(open, open_time) AS open, max(high) AS high, min(low) AS low,
                  arg_max(close, open_time) AS close
           FROM klines WHERE symbol = $symbol AND interval = {bar_interval()}
             AND open_time >= epoch_ms($start) AND open_time < epoch_ms($end)
             AND ($closed_by IS NULL OR close_time < epoch_ms($closed_by))
           GROUP BY 1 ORDER BY 1""",
        {
            "symbol": symbol,
            "start": start_ms,
            "end": end_ms,
            "bucket": bucket_ms,
            "closed_by": closed_by,
        },
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


def data_end(symbol: str) -> int | None:
    """Epoch ms at which the symbol's newest candle closes: how far its data reaches."""
    frame = read("SELECT epoch_ms(max(close_time)) + 1 AS t FROM klines WHERE symbol = ?", [symbol])
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
    con: duckdb.DuckDBPyConnection, symbol: str, model: str, start_ms: int, end_ms: int
) -> tuple[pd.DataFrame, float | None]:
    """A model's stored heatmap in [start, end) (time_bucket ms, price_bucket, side, volume)
    and its price step, for scoring."""
    frame = con.execute(
        """SELECT epoch_ms(time_bucket) AS time_bucket, price_bucket, side, volume
           FROM heatmap_cache WHERE symbol = ? AND model = ?
             AND time_bucket >= epoch_ms(?) AND time_bucket < epoch_ms(?)""",
        [symbol, model, start_ms, end_ms],
    ).df()
    step = con.execute(
        "SELECT max(price_step) FROM model_runs WHERE symbol = ? AND model = ?", [symbol, model]
    ).fetchone()[0]
    return frame, step


def snapshot_confidence(
    con: duckdb.DuckDBPyConnection, symbol: str, model: str, start_ms: int, end_ms: int
) -> pd.Series:
    """A model's confidence at each snapshot in [start, end), as a run ending then reported
    it (snapshot_quality), indexed by time ms."""
    frame = con.execute(
        """SELECT epoch_ms(time_bucket) AS time, confidence FROM snapshot_quality
           WHERE symbol = ? AND model = ? AND time_bucket >= epoch_ms(?)
             AND time_bucket < epoch_ms(?) ORDER BY time_bucket""",
        [symbol, model, start_ms, end_ms],
    ).df()
    return frame.set_index("time")["confidence"]


def hourly_flows(
    con: duckdb.DuckDBPyConnection, symbol: str, model: str, start_ms: int, end_ms: int
) -> pd.DataFrame:
    """Per hour ending at ``time`` (ms): the close, the realized liquidation notional and the
    model's predicted consumption. Hours without candles are left out."""
    return con.execute(
        f"""WITH closes AS (
               SELECT (epoch_ms(open_time) // {HOUR_MS} + 1) * {HOUR_MS} AS time,
                      arg_max(close, open_time) AS close
               FROM klines WHERE symbol = $symbol AND interval = {bar_interval()}
                 AND open_time >= epoch_ms($start) AND open_time < epoch_ms($end) GROUP BY 1),
           realized AS (
               SELECT (epoch_ms(timestamp) // {HOUR_MS} + 1) * {HOUR_MS} AS time,
                      sum(price * quantity) AS realized
               FROM liquidation_history WHERE symbol = $symbol
                 AND timestamp >= epoch_ms($start) AND timestamp < epoch_ms($end) GROUP BY 1),
           predicted AS (
               SELECT (epoch_ms(time) // {HOUR_MS} + 1) * {HOUR_MS} AS time,
                      sum(volume) AS predicted
               FROM predicted_liquidations WHERE symbol = $symbol AND model = $model
                 AND time >= epoch_ms($start) AND time < epoch_ms($end) GROUP BY 1)
           SELECT time, close, coalesce(realized, 0) AS realized,
                  coalesce(predicted, 0) AS predicted
           FROM closes LEFT JOIN realized USING (time) LEFT JOIN predicted USING (time)
           ORDER BY time""",
        {"symbol": symbol, "model": model, "start": start_ms, "end": end_ms},
    ).df()
