"""What each endpoint answers, built from the warehouse's snapshot and the engine's helpers.

Views parse parameters and call these; nothing here knows about HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from heatmaps import warehouse
from heatmaps.models import WeightConfig
from models_engine import registry
from models_engine.ensemble import DISAGREEMENT_LIMIT, mean_levels
from models_engine.heatmap import (
    HOUR_MS,
    MAX_CELLS,
    MAX_ROWS,
    display_range,
    price_step_for,
    round_significant,
    time_bucket_for,
    to_matrices,
)
from models_engine.signals import trading_signal
from models_engine.units import DAY_MS

from .params import TIMEFRAMES_MS

# cells below this share of the view's largest cell do not show on a colour scale
INVISIBLE_SHARE = 1e-4


class BadParameter(ValueError):
    """A parameter that is well-formed but impossible for this data (becomes a 400)."""

    def __init__(self, parameter: str, message: str):
        self.parameter = parameter
        super().__init__(message)


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
) -> dict:
    run = _run_or_empty(symbol, model)
    # the per-tier heatmap is stored on wider buckets: a leverage filter cannot go finer
    base_step = float(run["tier_price_step"] if leverage else run["price_step"])
    end_ms = to_ms(end) or run["as_of"] or 0
    start_ms = to_ms(start) or end_ms - TIMEFRAMES_MS[timeframe]
    t0, t1, p0, p1 = warehouse.heatmap_extent(symbol, model, start_ms, end_ms)
    bucket = time_bucket_for(end_ms - start_ms)
    if t0 is None:
        times = np.zeros(0, dtype=np.int64)
    else:
        first = -(-t0 // bucket) * bucket
        times = np.arange(first, t1 + 1, bucket, dtype=np.int64)
    ohlc = (
        warehouse.candles(symbol, int(times[0]), int(times[-1]) + bucket, bucket)
        if len(times)
        else pd.DataFrame(columns=["time", "open", "high", "low", "close"])
    )
    if p0 is not None and len(ohlc):
        p0, p1 = display_range(ohlc["low"].min(), ohlc["high"].max(), p0, p1 + base_step)
        p1 -= base_step
    low = price_min if price_min is not None else p0
    high = price_max if price_max is not None else (p1 + base_step if p1 is not None else None)
    max_rows = min(MAX_ROWS, MAX_CELLS // max(len(times), 1))
    step = _price_step(price_step, base_step, low, high, max_rows)
    if low is not None and high is not None and price_step is not None:
        cells = (high - low) / step * len(times)
        if cells > MAX_CELLS:
            raise BadParameter(
                "price_step",
                f"${step:g} gives {cells:,.0f} cells, over {MAX_CELLS:,}: use a larger step, "
                "a narrower price range or a shorter period",
            )
    if low is not None and high is not None and (high - low) / step > 2 * MAX_ROWS:
        named = "price_min" if price_min is not None else "price_max"
        raise BadParameter(named, f"the price range {low:g}..{high:g} is too wide to show")
    if low is None or high is None or low >= high or len(times) == 0:
        prices = np.zeros(0)
        cells = pd.DataFrame(columns=["time_bucket", "price_bucket", "side", "volume"])
    else:
        prices = np.arange(np.floor(low / step) * step, high, step)
        cells = warehouse.heatmap_cells(
            symbol,
            model,
            int(times[0]),
            int(times[-1]),
            bucket,
            step,
            price_min,
            price_max,
            leverage,
        )
    long_m, short_m = to_matrices(cells, times, prices)
    total = long_m + short_m
    floor = total.max() * INVISIBLE_SHARE if total.size else 0.0
    long_m, short_m = (np.where(m >= floor, round_significant(m), 0.0) for m in (long_m, short_m))
    last = total[:, -1] if total.size else np.zeros(0)
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
            "total_volume": float(last.sum()),
            "highest_density_price": float(prices[int(np.argmax(last))])
            if last.size and last.max() > 0
            else None,
            "confidence": float(run["confidence"]),
            "is_valid": bool(run["is_valid"]),
            "warnings": run["warnings"],
            "time_bucket_seconds": bucket // 1000,
            "price_step": step,
            "as_of": iso(run["as_of"]),
        },
    }


def _price_step(
    asked: float | None, base: float, low: float | None, high: float | None, max_rows: int
) -> float:
    if asked is None:
        return price_step_for(low or 0.0, high or 0.0, base, max_rows) if low is not None else base
    multiple = asked / base
    if asked < base or abs(multiple - round(multiple)) > 1e-9:
        raise BadParameter("price_step", f"must be a multiple of the model's ${base:g} buckets")
    if low is not None and high is not None and (high - low) / asked > MAX_ROWS * 2:
        raise BadParameter(
            "price_step",
            f"${asked:g} gives more than {MAX_ROWS * 2} price rows "
            "for this range: use a larger step or a price range",
        )
    if asked > 1000 * base:
        raise BadParameter("price_step", f"at most ${1000 * base:g} for this symbol")
    return float(asked)


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


def levels(symbol: str, model: str, leverage: int | None = None) -> dict:
    run = _run_or_empty(symbol, model)
    frame = warehouse.levels(symbol, model, leverage)
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
        "timestamp": iso(frame["timestamp"].max()) if len(frame) else iso(run["as_of"]),
        "levels": _level_dicts(frame),
        "cumulative": cumulative,
        "confidence": float(run["confidence"]),
        "warnings": run["warnings"],
    }


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
                "levels": _level_dicts(frame),
                "mean_level": mean_levels(frame),
            }
        )
    zones = []
    for side in ("long", "short"):
        means = [m["mean_level"][side] for m in models if side in m["mean_level"]]
        if len(means) > 1 and price:
            gap = (max(means) - min(means)) / price
            if gap > DISAGREEMENT_LIMIT:
                zones.append(
                    {
                        "side": side,
                        "low": min(means),
                        "high": max(means),
                        "gap_pct": round(100 * gap, 2),
                    }
                )
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
        "weights": weights,
    }


def history(
    symbol: str, start: datetime | None = None, end: datetime | None = None, limit: int = 1000
) -> dict:
    # by default the day up to the latest realized liquidation, whatever was calculated
    end_ms = to_ms(end) or (warehouse.last_liquidation(symbol) or 0) + 1
    start_ms = to_ms(start) or end_ms - DAY_MS
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


def signal(symbol: str, model: str) -> dict:
    run = _run_or_empty(symbol, model)
    # WAIT follows the ensemble's confidence (DESIGN §6), whichever model places the clusters
    ensemble = run if model == "ensemble" else warehouse.latest_run(symbol, "ensemble") or run
    frame = warehouse.levels(symbol, model)
    as_of = run["as_of"] or 0
    realized = warehouse.realized_total(symbol, as_of - HOUR_MS, as_of)
    predicted = warehouse.predicted_total(symbol, model, as_of - HOUR_MS, as_of)
    day = warehouse.realized_total(symbol, as_of - 24 * HOUR_MS, as_of)
    price = run["current_price"] if run["current_price"] is not None else float("nan")
    result = trading_signal(
        frame,
        price,
        float(ensemble["confidence"]),
        realized,
        predicted,
        day,
        step=float(run["price_step"]),
    )
    return {
        **result,
        "symbol": symbol,
        "model": model,
        "current_price": run["current_price"],
        "as_of": iso(run["as_of"]),
    }
