"""What the API reads to answer as of a past time (``at=``): the models' hourly snapshots at or
before it and the candles closed by it, never anything later. Times are epoch ms UTC.

``liquidation_levels`` holds only the latest run's levels; the levels as of a time are read
from the per-tier snapshot (``heatmap_tiers``), which ``calculate`` keeps for every hour.
"""

from __future__ import annotations

import pandas as pd

from models_engine.units import DAY_MS

from .model_io import bar_interval
from .serving import read


def snapshot_span(symbol: str, model: str) -> tuple[int, int] | None:
    """First and last snapshot time of a model with its confidence stored, or None."""
    frame = read(
        """SELECT epoch_ms(min(time_bucket)) AS t0, epoch_ms(max(time_bucket)) AS t1
           FROM snapshot_quality WHERE symbol = ? AND model = ?""",
        [symbol, model],
    )
    if frame.empty or pd.isna(frame.iloc[0]["t0"]):
        return None
    return int(frame.iloc[0]["t0"]), int(frame.iloc[0]["t1"])


def snapshot_at(symbol: str, model: str, at_ms: int) -> dict | None:
    """The model's last snapshot at or before ``at``: time (ms), confidence, is_valid and
    warnings as a run ending then would have reported them; None before its first."""
    frame = read(
        """SELECT epoch_ms(time_bucket) AS time, confidence, is_valid, warnings
           FROM snapshot_quality WHERE symbol = ? AND model = ? AND time_bucket <= epoch_ms(?)
           ORDER BY time_bucket DESC LIMIT 1""",
        [symbol, model, at_ms],
    )
    if frame.empty:
        return None
    row = frame.iloc[0]
    return {
        "time": int(row["time"]),
        "confidence": float(row["confidence"]),
        "is_valid": bool(row["is_valid"]),
        "warnings": list(row["warnings"]),
    }


def close_at(symbol: str, at_ms: int) -> tuple[float, int] | None:
    """(close, when that candle closed) of the last bar candle closed by ``at``: the price a
    bot saw then. Looks back a day at most."""
    frame = read(
        f"""SELECT arg_max(close, open_time) AS close, epoch_ms(max(close_time)) + 1 AS closed
           FROM klines WHERE symbol = $symbol AND interval = {bar_interval()}
             AND open_time >= epoch_ms($start) AND close_time < epoch_ms($end)""",
        {"symbol": symbol, "start": at_ms - DAY_MS, "end": at_ms},
    )
    if frame.empty or pd.isna(frame.iloc[0]["close"]):
        return None
    return float(frame.iloc[0]["close"]), int(frame.iloc[0]["closed"])


def snapshot_buckets(symbol: str, model: str, time_ms: int) -> pd.DataFrame:
    """Pending notional per price bucket and side in the snapshot at ``time``: price_bucket,
    side, volume (USDT)."""
    return read(
        """SELECT price_bucket, side, volume FROM heatmap_cache
           WHERE symbol = ? AND model = ? AND time_bucket = epoch_ms(?)
           ORDER BY price_bucket, side""",
        [symbol, model, time_ms],
    )


def snapshot_levels(
    symbol: str, model: str, time_ms: int, leverage: float | None = None
) -> pd.DataFrame:
    """Pending notional per tier bucket (model_runs.tier_price_step wide), side and leverage
    tier in the snapshot at ``time``: price_bucket, side, leverage, volume (USDT)."""
    return read(
        """SELECT price_bucket, side, leverage, volume FROM heatmap_tiers
           WHERE symbol = $symbol AND model = $model AND time_bucket = epoch_ms($time)
             AND ($leverage IS NULL OR leverage = $leverage)
           ORDER BY price_bucket, side, leverage""",
        {"symbol": symbol, "model": model, "time": time_ms, "leverage": leverage},
    )
