"""What each endpoint answers, built from the warehouse's snapshot and the engine's helpers.

Views parse parameters and call these; nothing here knows about HTTP.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from django.conf import settings

from heatmaps import feeds, sample_data, warehouse
from heatmaps.models import WeightConfig
from models_engine import registry
from models_engine.base import confidence_band
from models_engine.ensemble import DISAGREEMENT_LIMIT, disagreement_zones, mean_levels
from models_engine.heatmap import (
    ImpossibleGrid,
    plan_grid,
    round_significant,
    to_matrices,
)
from models_engine.signals import trading_signal
from models_engine.units import BAR_MS, DAY_MS, HOUR_MS

from .params import TIMEFRAMES_MS

# cells below this share of the view's largest cell do not show on a colour scale
INVISIBLE_SHARE = 1e-4


# an impossible grid (a step finer than stored, too many cells) is a 400 naming its parameter
BadParameter = ImpossibleGrid


def iso(ms: int | float | None) -> str | None:
    if ms is None or (isinstance(ms, float) and np.isnan(ms)):
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _run_or_empty(symbol: str, model: str) -> dict:
    run = warehouse.latest_run(symbol, model)
    if run is None:
        return {
            "as_of": None,
            "price_step": 1.0,
            "tier_price_step": 1.0,
            "current_price": None,
            "confidence": 0.0,
            "is_valid": False,
            "warnings": [f"{model} has not been calculated for {symbol}"],
        }
    return run


def _run_at(symbol: str, model: str, at: datetime | None) -> dict | None:
    """The run an answer reads: the latest, or with ``at`` what the model would have
    answered then (the params made sure it has a snapshot at or before ``at``).

    As of a time: the pending map is the last hourly snapshot at or before it (computed by
    causal models under the calibration in force then, which was fitted on earlier data
    only), its confidence and warnings those a run ending at that snapshot would have
    reported (``snapshot_quality``: ``model_runs`` keeps only the latest run's, raised by the
    data after it), the price the close of the last candle closed by ``at``. The price grid
    is the latest run's (see README, *Point in time*).
    """
    latest = _run_or_empty(symbol, model)
    if at is None:
        return {**latest, "snapshot": latest["as_of"], "at": None}
    at_ms = to_ms(at)
    snapshot = warehouse.snapshot_at(symbol, model, at_ms)
    if snapshot is None:
        return None
    close = warehouse.close_at(symbol, at_ms)
    return {
        **latest,
        "as_of": at_ms,
        "snapshot": snapshot["time"],
        "at": at_ms,
        "data_end": close[1] if close else None,
        "current_price": close[0] if close else None,
        "confidence": snapshot["confidence"],
        "is_valid": snapshot["is_valid"],
        "warnings": snapshot["warnings"],
        "weights": None,
    }


def heatmap(
    symbol: str,
    model: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
    price_step: float | None = None,
    price_min: float | None = None,
    price_max: float | None = None,
    leverage: list[float] | None = None,
    since: datetime | None = None,
    at: datetime | None = None,
) -> dict:
    """The pending heatmap on the planned grid; with ``since``, only the grid's columns after
    it (a live page appends them to what it shows); with ``at``, as it was then (``_run_at``):
    the window ends at ``at`` and the candles are those closed by it."""
    run = _run_at(symbol, model, at)
    closed_by = run["at"]
    # the per-tier heatmap is stored on wider buckets: a leverage filter cannot go finer
    base_step = float(run["tier_price_step"] if leverage else run["price_step"])
    end_ms = to_ms(end) if end is not None else (run["as_of"] or 0)
    start_ms = to_ms(start) if start is not None else end_ms - TIMEFRAMES_MS[timeframe]
    extent = warehouse.heatmap_extent(symbol, model, start_ms, end_ms)
    # one bucket over the whole window: the candles' low and high
    window = warehouse.candles(
        symbol, start_ms, end_ms + 1, max(end_ms + 1 - start_ms, 1), closed_by
    )
    traded = (window["low"].min(), window["high"].max()) if len(window) else None
    grid = plan_grid(
        start_ms,
        end_ms,
        extent,
        traded,
        base_step,
        price_min=price_min,
        price_max=price_max,
        price_step=price_step,
    )
    times, prices, bucket, step = grid.times, grid.prices, grid.bucket_ms, grid.price_step
    if since is not None:
        times = times[times > to_ms(since)]
    ohlc = (
        warehouse.candles(symbol, int(times[0]), int(times[-1]) + bucket, bucket, closed_by)
        if len(times)
        else pd.DataFrame(columns=["time", "open", "high", "low", "close"])
    )
    if len(prices) == 0 or len(times) == 0:
        cells = pd.DataFrame(columns=["time_bucket", "price_bucket", "side", "volume"])
    else:
        cells = warehouse.heatmap_cells(
            symbol,
            model,
            int(times[0]),
            int(times[-1]),
            bucket,
            step,
            grid.price_low,
            grid.price_high,
            leverage,
        )
    long_m, short_m = to_matrices(cells, times, prices)
    total = long_m + short_m
    floor = total.max() * INVISIBLE_SHARE if total.size else 0.0
    long_m, short_m = (np.where(m >= floor, round_significant(m), 0.0) for m in (long_m, short_m))
    return {
        "symbol": symbol,
        "model": model,
        "timeframe": timeframe,
        "times": [iso(t) for t in times],
        "prices": [float(p) for p in prices],
        "long": long_m.astype(np.int64).tolist(),
        "short": short_m.astype(np.int64).tolist(),
        "candles": {
            "time": [iso(t) for t in ohlc["time"]],
            **{k: [float(v) for v in ohlc[k]] for k in ("open", "high", "low", "close")},
        },
        "current_price": run["current_price"],
        "metadata": {
            **_last_column(total, prices, grid),
            "by_side": {
                "long": _last_column(long_m, prices, grid),
                "short": _last_column(short_m, prices, grid),
            },
            "confidence": float(run["confidence"]),
            "confidence_band": confidence_band(float(run["confidence"])),
            "is_valid": bool(run["is_valid"]),
            "warnings": run["warnings"],
            "time_bucket_seconds": bucket // 1000,
            "price_step": step,
            "stored_price_step": base_step,
            "view_price_min": grid.view_low,
            "view_price_max": grid.view_high,
            "as_of": iso(run["as_of"]),
            "data_start": iso(extent[0]),
            "data_end": iso(extent[1]),
            "covers_window": grid.covers_window,
            "window_start": iso(grid.times[0]) if len(grid.times) else None,
            "data_reaches": iso(warehouse.data_end(symbol) if at is None else run["data_end"]),
            "published_at": iso(warehouse.published_at()),
        },
    }


def freshness(symbol: str, run: dict) -> dict:
    """How fresh an answer is: how far the symbol's data reaches, when the model last ran and
    the warehouse was last published, and whether the data is older than a live feed allows
    (FEED_STALE_SECONDS; never for the bundled sample, which is history by design).

    As of a time (``run["at"]``) it describes that time: the data reached the last candle
    closed by then, the age is counted to it, and the feeds' state (now's) does not make it
    stale; published_at and the feed fields still describe the server now."""
    at = run.get("at")
    end = warehouse.data_end(symbol) if at is None else run["data_end"]
    now = time.time_ns() // 1_000_000 if at is None else at
    age = None if end is None else max(0, (now - end) // 1000)
    live = not sample_data.is_sample()
    fed = feeds.freshness(symbol)
    lagging = bool(fed["lagging"]) and at is None
    return {
        "data_end": iso(end),
        "as_of": iso(run["as_of"]),
        "point_in_time": at is not None,
        "snapshot": iso(run["snapshot"]),
        "published_at": iso(warehouse.published_at()),
        "age_seconds": age,
        "stale_after_seconds": settings.FEED_STALE_SECONDS,
        "stale": bool(live and (age is not None and age > settings.FEED_STALE_SECONDS or lagging)),
        "live": live,
        "lagging_feeds": fed["lagging"],
        "recorder_down": fed["recorder_down"],
        "stream_note": fed["stream_note"],
    }


def _last_column(matrix: np.ndarray, prices: np.ndarray, grid) -> dict:
    """Pending notional now (the last column) and its densest price bucket in the view: a
    level the chart first shows, never one beyond its price axis."""
    last = matrix[:, -1] if matrix.size else np.zeros(len(prices))
    shown = last.copy()
    if grid.view_low is not None and grid.view_high is not None:
        shown[(prices < grid.view_low - grid.price_step) | (prices > grid.view_high)] = 0
    densest = float(prices[int(np.argmax(shown))]) if shown.size and shown.max() > 0 else None
    return {"total_volume": float(last.sum()), "highest_density_price": densest}


def _level_dicts(frame: pd.DataFrame) -> list[dict]:
    return [
        {
            "price": round(float(r.price_level), 2),
            "volume": float(r.volume),
            "side": r.side,
            "leverage": int(r.leverage),
            "confidence": float(r.confidence),
        }
        for r in frame.itertuples()
    ]


def levels(
    symbol: str, model: str, leverage: int | None = None, at: datetime | None = None
) -> dict:
    """The pending levels: the latest run's, or with ``at`` those of the hourly per-tier
    snapshot at or before it (``_run_at``)."""
    run = _run_at(symbol, model, at)
    frame = (
        warehouse.levels(symbol, model, leverage)
        if at is None
        else _snapshot_levels(symbol, model, run, leverage)
    )
    price = run["current_price"]
    cumulative = {}
    for side, descending in (("long", True), ("short", False)):
        side_frame = frame[frame["side"] == side].sort_values(
            "price_level", ascending=not descending
        )
        running = side_frame["volume"].cumsum()
        cumulative[side] = [
            {"price": round(float(p), 2), "volume": float(v)}
            for p, v in zip(side_frame["price_level"], running, strict=True)
        ]
    return {
        "symbol": symbol,
        "model": model,
        "current_price": price,
        "timestamp": iso(frame["timestamp"].max()) if len(frame) else iso(run["snapshot"]),
        "levels": _level_dicts(frame),
        "cumulative": cumulative,
        "confidence": float(run["confidence"]),
        "warnings": run["warnings"],
        "freshness": freshness(symbol, run),
    }


def _snapshot_levels(symbol: str, model: str, run: dict, leverage: int | None) -> pd.DataFrame:
    """Levels as of a time, from the per-tier snapshot: ``liquidation_levels`` keeps only the
    latest run's (a copy per hourly snapshot would multiply the largest table by the hours of
    history), while ``heatmap_tiers`` already holds every hour's pending notional per side and
    tier, on buckets ``tier_price_step`` wide (5 stored steps: $500 for BTC). So a level as of
    a time is a tier bucket, priced at its centre, coarser than the latest levels."""
    step = float(run["tier_price_step"])
    tiers = warehouse.snapshot_levels(
        symbol, model, run["snapshot"], None if leverage is None else float(leverage)
    )
    return tiers.assign(
        price_level=tiers["price_bucket"] + step / 2,
        confidence=float(run["confidence"]),
        timestamp=run["snapshot"],
    )


def compare_models(symbol: str) -> dict:
    models, price = [], None
    for name in registry.MODEL_NAMES:
        run = _run_or_empty(symbol, name)
        frame = warehouse.levels(symbol, name)
        price = price or run["current_price"]
        models.append(
            {
                "name": name,
                "avg_confidence": float(run["confidence"]),
                "confidence_band": confidence_band(float(run["confidence"])),
                "levels": _level_dicts(frame),
                "mean_level": mean_levels(frame),
            }
        )
    zones = [
        {"side": z["side"], "low": z["low"], "high": z["high"], "gap_pct": round(100 * z["gap"], 2)}
        for z in disagreement_zones([m["mean_level"] for m in models], price or 0.0)
        if z["gap"] > DISAGREEMENT_LIMIT
    ]
    config = WeightConfig.active()
    ensemble = warehouse.latest_run(symbol, "ensemble")
    weights = {
        "mode": config.mode,
        "learning_days": config.learning,
        "configured": config.weights,
        "in_force": (ensemble or {}).get("weights"),
    }
    return {
        "symbol": symbol,
        "current_price": price,
        "models": models,
        "zones": zones,
        "disagreement_limit_pct": round(100 * DISAGREEMENT_LIMIT, 3),
        "weights": weights,
    }


def history(
    symbol: str, start: datetime | None = None, end: datetime | None = None, limit: int = 1000
) -> dict:
    # by default the day up to the latest realized liquidation, whatever was calculated
    last = warehouse.last_liquidation(symbol) if end is None else None
    end_ms = to_ms(end) if end is not None else (last or 0) + 1
    start_ms = to_ms(start) if start is not None else end_ms - DAY_MS
    frame = warehouse.realized_events(symbol, start_ms, end_ms, limit)
    events = [
        {
            "time": iso(r.time),
            "price": float(r.price),
            "quantity": float(r.quantity),
            "side": r.side,
            "volume": float(r.volume),
        }
        for r in frame.itertuples()
    ]
    return {
        "symbol": symbol,
        "start": iso(start_ms),
        "end": iso(end_ms),
        "count": len(events),
        "truncated": len(events) == limit,  # then these are the latest ``limit`` events
        "events": events,
    }


def signal(
    symbol: str, model: str, min_cluster_notional: float = 0.0, at: datetime | None = None
) -> dict:
    """The signal now, or with ``at`` as it would have been then: the clusters of the
    snapshot at or before ``at``, the close of the last candle closed by it, the liquidations
    realized in the hour to it, the model's consumption predicted for the bars closed by it,
    and the ensemble's confidence at that snapshot."""
    run = _run_at(symbol, model, at)
    # WAIT follows the ensemble's confidence (DESIGN §6), whichever model places the clusters
    if at is None:
        ensemble = run if model == "ensemble" else warehouse.latest_run(symbol, "ensemble") or run
        frame = warehouse.levels(symbol, model)
    else:
        ensemble = run if model == "ensemble" else _run_at(symbol, "ensemble", at) or run
        frame = warehouse.snapshot_buckets(symbol, model, run["snapshot"])
    now = run["as_of"] or 0
    closed = now // BAR_MS * BAR_MS  # predictions are per bar: those of the bars closed by now
    realized = warehouse.realized_total(symbol, now - HOUR_MS, now)
    predicted = warehouse.predicted_total(symbol, model, closed - HOUR_MS, closed)
    day = warehouse.realized_total(symbol, now - DAY_MS, now)
    price = run["current_price"] if run["current_price"] is not None else float("nan")
    result = trading_signal(
        frame,
        price,
        float(ensemble["confidence"]),
        realized,
        predicted,
        day,
        step=float(run["price_step"]),
        min_cluster_notional=min_cluster_notional,
    )
    return {
        **result,
        "symbol": symbol,
        "model": model,
        "current_price": run["current_price"],
        "as_of": iso(run["as_of"]),
        "freshness": freshness(symbol, run),
    }
