"""Ensemble weights learned from each member's recent record, point in time.

At each snapshot time t a member's weight is its precision@10 % at one hour (the share of
the realized liquidation notional of (e, e + 1 h] that fell in its top-10 % price buckets at
e, notional-weighted over the traded range, as in ``backtest``) over the evaluations e that
were over by t and began at most ``days`` before it, less the 10 % a random map scores; the
weights are those margins normalized. A member no better than random gets nothing; when no
member beats random, or nothing was liquidated, the fixed weights stand.

Frames: heatmap (time_bucket ms, price_bucket, side, volume); realized (time ms, price,
volume USDT).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .backtest import HORIZONS_MS
from .market import Bars
from .units import DAY_MS

HORIZON_MS = HORIZONS_MS["1h"]
RANDOM = 0.10  # what a random map scores


def hourly_precision(
    heatmap: pd.DataFrame, realized: pd.DataFrame, bars: Bars, step: float, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per snapshot time t: the realized notional of (t, t + 1 h] inside the map's top-10 %
    buckets at t, and all of it (over the buckets the price traded through). Vectorized:
    one flat array of (time, bucket) candidates, ranked within each time."""
    K = len(times)
    hits, totals = np.zeros(K), np.zeros(K)
    if K == 0 or len(bars) == 0 or len(realized) == 0 or len(heatmap) == 0:
        return hits, totals
    # the traded range of each window (t, t + 1 h]: the bars opening in it
    at = np.searchsorted(times, bars.open_time, side="right") - 1
    inside = (at >= 0) & (bars.open_time < times[np.maximum(at, 0)] + HORIZON_MS)
    low = np.full(K, np.inf)
    high = np.full(K, -np.inf)
    np.minimum.at(low, at[inside], bars.low[inside])
    np.maximum.at(high, at[inside], bars.high[inside])
    traded = np.isfinite(low)
    lo = np.where(traded, np.floor(np.where(traded, low, 0) / step), 0).astype(np.int64)
    hi = np.where(traded, np.floor(np.where(traded, high, 0) / step), -1).astype(np.int64)
    count = np.maximum(hi - lo + 1, 0)
    window = np.repeat(np.arange(K), count)
    offset = np.r_[0, np.cumsum(count)[:-1]]
    bucket = lo[window] + np.arange(len(window)) - offset[window]
    key = window * (1 << 32) + bucket  # buckets are prices / step: far below 2^31

    def lookup(times_of, buckets_of, values) -> np.ndarray:
        frame = pd.DataFrame({"k": times_of * (1 << 32) + buckets_of, "v": values})
        summed = frame.groupby("k")["v"].sum()
        keys, sums = summed.index.to_numpy(np.int64), summed.to_numpy(float)
        where = np.clip(np.searchsorted(keys, key), 0, max(len(keys) - 1, 0))
        return np.where((len(keys) > 0) & (keys[where] == key), sums[where], 0.0)

    h_at = np.searchsorted(times, heatmap["time_bucket"].to_numpy(np.int64))
    h_ok = (h_at < K) & (times[np.minimum(h_at, K - 1)] == heatmap["time_bucket"].to_numpy())
    predicted = lookup(
        h_at[h_ok],
        np.rint(heatmap["price_bucket"].to_numpy(float)[h_ok] / step).astype(np.int64),
        heatmap["volume"].to_numpy(float)[h_ok],
    )
    r_time = realized["time"].to_numpy(np.int64)
    r_at = np.searchsorted(times, r_time, side="left") - 1  # times[r_at] < time
    r_ok = (r_at >= 0) & (r_time <= times[np.maximum(r_at, 0)] + HORIZON_MS)
    actual = lookup(
        r_at[r_ok],
        np.floor(realized["price"].to_numpy(float)[r_ok] / step).astype(np.int64),
        realized["volume"].to_numpy(float)[r_ok],
    )
    # rank the candidates of each window by predicted density, highest first
    order = np.lexsort((-predicted, window))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - offset[window[order]]
    top = (rank < np.ceil(0.1 * count[window])) & (predicted > 0)
    hits = np.bincount(window[top], actual[top], minlength=K)
    totals = np.bincount(window, actual, minlength=K)
    return hits, totals


def learned_weights(
    scores: list[tuple[np.ndarray, np.ndarray]],
    times: np.ndarray,
    days: float,
    fixed: np.ndarray,
) -> np.ndarray:
    """(members, snapshot times) weights from each member's (hits, totals) per evaluation
    (``hourly_precision``), each time on the evaluations over by then and at most ``days``
    old; ``fixed`` where no member beat random over that span."""
    times = np.asarray(times, dtype=np.int64)
    ends = np.searchsorted(times + HORIZON_MS, times, side="right")  # evaluations over by t
    starts = np.searchsorted(times, times - int(days * DAY_MS), side="left")
    margins = []
    for hits, totals in scores:
        cum_hits, cum_totals = np.r_[0.0, np.cumsum(hits)], np.r_[0.0, np.cumsum(totals)]
        span_hits = cum_hits[ends] - cum_hits[starts]
        span_totals = cum_totals[ends] - cum_totals[starts]
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(span_totals > 0, span_hits / span_totals, np.nan)
        margins.append(np.nan_to_num(np.maximum(precision - RANDOM, 0.0)))
    margins = np.array(margins)
    total = margins.sum(axis=0)
    fixed = np.asarray(fixed, dtype=float)[:, None] / np.sum(fixed)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, margins / np.where(total > 0, total, 1.0), fixed)
