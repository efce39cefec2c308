"""What a model would have reported at each snapshot time: its confidence and warnings had its
data ended there (for answers "as of t", which must not lean on data after t).

A run's own confidence is its data's quality up to its end (the share of bars with open
interest, candles, mark price, trades; the window's length; a calibration in force at the end);
the same quality counted over the bars closed by each snapshot time is what a run ending then
would have said. For the ensemble, the members' per-snapshot confidences are averaged with the
weights in force at that time and cut where the members' mean levels disagree then.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from .market import Bars, MarketData

QUALITY_COLUMNS = ["time_bucket", "price", "confidence", "warnings"]


def empty_quality() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype=object if c == "warnings" else float) for c in QUALITY_COLUMNS}
    ).astype({"time_bucket": np.int64})


def bar_flags(bars: Bars, market: MarketData) -> np.ndarray:
    """(bars, 5) 0/1: every bar, with open interest, traded, with mark price, with aggTrades."""
    with_trades = np.zeros(len(bars), dtype=np.int64)
    if market.has("trades") and len(bars):
        times = market.trades["transact_time"].to_numpy(np.int64)
        index = (times - bars.open_time[0]) // bars.bar_ms
        with_trades[np.unique(index[(index >= 0) & (index < len(bars))])] = 1
    return np.c_[
        np.ones(len(bars), dtype=np.int64),
        bars.has_oi.astype(np.int64),
        bars.traded.astype(np.int64),
        bars.has_mark.astype(np.int64),
        with_trades,
    ]


def snapshot_quality(
    confidence_at: Callable[[int, np.ndarray], tuple[float, list[str]]],
    bars: Bars,
    market: MarketData,
    times: np.ndarray,
    counts_before: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per snapshot time (ms): the close of the last bar closed by then (USDT), and the
    confidence and warnings ``confidence_at(time, counts)`` gives for the bars closed by then
    (``counts_before``: those of bars before ``bars``, for a continued run).

    One call per snapshot (hourly: 8,760 a year), each a few scalar operations.
    """
    times = np.asarray(times, dtype=np.int64)
    if len(times) == 0:
        return empty_quality()
    flags = bar_flags(bars, market)
    running = np.vstack([np.zeros((1, 5), dtype=np.int64), np.cumsum(flags, axis=0)])
    before = np.zeros(5, dtype=np.int64) if counts_before is None else counts_before
    closed = np.searchsorted(bars.open_time + bars.bar_ms, times, side="right")
    confidence, warnings, price = [], [], []
    for time, k in zip(times, closed, strict=True):
        counts = before + running[k]
        if counts[0] == 0:
            said = (0.0, ["no bars before this time"])
        else:
            said = confidence_at(int(time), counts)
        confidence.append(round(float(said[0]), 4))
        warnings.append(tuple(said[1]))
        price.append(float(bars.close[k - 1]) if k > 0 else np.nan)
    return pd.DataFrame(
        {"time_bucket": times, "price": price, "confidence": confidence, "warnings": warnings}
    )


def mean_levels_per_time(heatmap: pd.DataFrame, step: float) -> pd.DataFrame:
    """Notional-weighted mean level per snapshot time and side, levels taken at their bucket's
    centre: columns time_bucket, side, level."""
    if len(heatmap) == 0:
        return pd.DataFrame(columns=["time_bucket", "side", "level"])
    frame = heatmap.assign(
        weighted=(heatmap["price_bucket"].astype(float) + step / 2) * heatmap["volume"]
    )
    sums = frame.groupby(["time_bucket", "side"], as_index=False)[["weighted", "volume"]].sum()
    sums = sums[sums["volume"] > 0]
    return sums.assign(level=sums["weighted"] / sums["volume"])[["time_bucket", "side", "level"]]


def ensemble_quality(
    members: list,
    weights: np.ndarray,
    penalize: Callable[[float, float, str | None], tuple[float, list[str]]],
    labels: Mapping[str, str],
) -> pd.DataFrame:
    """The ensemble's per-snapshot quality from its members' (``ModelResult``s with
    ``snapshot_quality``): the weighted mean of their confidences with the weights in force at
    each time (``weights``: members × the first member's snapshot times), cut by ``penalize``
    with the widest gap between their mean levels then (as a share of the price)."""
    times = members[0].snapshot_times
    if times is None or len(times) == 0 or any(m.snapshot_quality is None for m in members):
        return empty_quality()
    times = np.asarray(times, dtype=np.int64)
    price = _by_time(members[0], "price", times).to_numpy(float)
    confidence = np.stack([_by_time(m, "confidence", times).to_numpy(float) for m in members])
    share = np.asarray(weights, float)
    share = share / np.where(share.sum(axis=0) > 0, share.sum(axis=0), 1.0)
    mean = (confidence * share).sum(axis=0)
    gap, widest = _widest_gaps(members, times, price)
    prefixed = [
        [
            tuple(f"{labels.get(m.model, m.model)}: {text}" for text in said)
            if isinstance(said, tuple)
            else ()
            for said in _by_time(m, "warnings", times)
        ]
        for m in members
    ]
    out_confidence, out_warnings = [], []
    for i in range(len(times)):
        value, warnings = penalize(float(mean[i]), float(gap[i]), widest[i])
        out_confidence.append(round(value, 4))
        out_warnings.append(tuple(warnings) + sum((said[i] for said in prefixed), ()))
    return pd.DataFrame(
        {
            "time_bucket": times,
            "price": price,
            "confidence": out_confidence,
            "warnings": out_warnings,
        }
    )


def _by_time(member, column: str, times: np.ndarray) -> pd.Series:
    return member.snapshot_quality.set_index("time_bucket")[column].reindex(times)


def _widest_gaps(
    members: list, times: np.ndarray, price: np.ndarray
) -> tuple[np.ndarray, list[str | None]]:
    """Per time, the widest span of the members' mean levels on one side, as a share of the
    price, and that side (None where fewer than two members have levels on either side)."""
    means = pd.concat(
        [mean_levels_per_time(m.heatmap, m.price_step) for m in members], ignore_index=True
    )
    gap, side = np.zeros(len(times)), [None] * len(times)
    if means.empty:
        return gap, side
    spans = means.groupby(["time_bucket", "side"])["level"].agg(["min", "max", "count"])
    spans = spans[spans["count"] > 1].reset_index()
    stamp = spans["time_bucket"].to_numpy(np.int64)
    at = np.minimum(np.searchsorted(times, stamp), len(times) - 1)
    spans = spans[times[at] == stamp]
    at = at[times[at] == stamp]
    with np.errstate(invalid="ignore", divide="ignore"):
        width = (spans["max"] - spans["min"]).to_numpy(float) / price[at]
    spans = spans.assign(at=at, width=width)
    spans = spans[np.isfinite(spans["width"]) & (spans["width"] > 0)]
    widest = spans.sort_values("width", kind="stable").groupby("at").tail(1)
    gap[widest["at"].to_numpy()] = widest["width"].to_numpy()
    side = np.full(len(times), None, dtype=object)
    side[widest["at"].to_numpy()] = widest["side"].to_numpy()
    return gap, list(side)
