"""Scoring a model's pending heatmap against what really happened.

For an evaluation time t and a horizon H the pending density at t is compared with the
liquidation notional realized in (t, t+H], bucket by bucket, over the price buckets actually
traded in (t, t+H] only (a bucket the price never reached could not have liquidated anything):

- precision@10 %: share of the realized notional in the model's top-10 % buckets (a random
  map scores 10 %); reported with its lift over 10 % and a 95 % bootstrap interval over the
  evaluation times (windows with fewer than MIN_EVENTS liquidations are dropped);
- recall ±1 %: share of the realized notional within ±1 % of the price of a top-10 % bucket;
- Spearman ρ between predicted and realized notional per bucket.

Frames: heatmap (time_bucket ms, price_bucket, side, volume); realized (time ms, price, side,
volume USDT); path (open_time ms, low, high) of the traded price.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .units import DAY_MS, HOUR_MS

HORIZONS_MS = {"1h": HOUR_MS, "24h": DAY_MS, "7d": 7 * DAY_MS}


# An evaluation window with fewer realized liquidations than this says nothing: dropped.
MIN_EVENTS = 10
BOOTSTRAP_SAMPLES = 1000


def bootstrap_ratio(
    hits: np.ndarray, totals: np.ndarray, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``Σ hits / Σ totals`` over resampled evaluation times.

    Evaluation times, not liquidations, are resampled: liquidations come in cascades, so those
    of one window are not independent, while windows are nearly so. The interval is widened to
    hold the estimate itself (a percentile interval of a ratio can, rarely, miss it).
    """
    hits, totals = np.asarray(hits, float), np.asarray(totals, float)
    if len(totals) == 0 or totals.sum() <= 0:
        return np.nan, np.nan
    estimate = hits.sum() / totals.sum()
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, len(totals), size=(BOOTSTRAP_SAMPLES, len(totals)))
    num, den = hits[draw].sum(axis=1), totals[draw].sum(axis=1)
    ratios = num[den > 0] / den[den > 0]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(min(low, estimate)), float(max(high, estimate))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return np.nan
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return np.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def evaluate(
    heatmap: pd.DataFrame,
    realized: pd.DataFrame,
    path: pd.DataFrame,
    step: float,
    horizon_ms: int,
    eval_times: np.ndarray | None = None,
    side: str | None = None,
) -> dict:
    """Score one model at one horizon (both sides together, or one side).

    Returns precision_at_10 with its 95 % interval p10_low..p10_high, lift, recall_1pct,
    spearman (mean over evaluation times), realized_notional, evaluations (windows scored) and
    events (realized liquidations counted).
    """
    if side is not None:
        heatmap = heatmap[heatmap["side"] == side]
        realized = realized[realized["side"] == side]
    density = heatmap.groupby(["time_bucket", "price_bucket"])["volume"].sum()
    if eval_times is None:
        eval_times = np.unique(heatmap["time_bucket"].to_numpy(np.int64))
    realized = realized.sort_values("time")
    r_time = realized["time"].to_numpy(np.int64)
    r_bucket = np.floor(realized["price"].to_numpy(float) / step) * step
    r_volume = realized["volume"].to_numpy(float)
    p_time = path["open_time"].to_numpy(np.int64)
    low, high = path["low"].to_numpy(float), path["high"].to_numpy(float)
    hits, nears, totals, events, rhos = [], [], [], [], []
    snapshot_times = set(density.index.get_level_values(0)) if len(density) else set()
    for t in eval_times:
        a, b = np.searchsorted(r_time, [t, t + horizon_ms], side="right")
        pa, pb = np.searchsorted(p_time, [t, t + horizon_ms], side="left")
        if b - a < MIN_EVENTS or pb <= pa or t not in snapshot_times:
            continue
        lo = np.floor(low[pa:pb].min() / step) * step
        hi = np.floor(high[pa:pb].max() / step) * step
        buckets = np.arange(lo, hi + step / 2, step)
        predicted = density.loc[t].reindex(buckets, fill_value=0.0).to_numpy()
        actual = pd.Series(r_volume[a:b]).groupby(r_bucket[a:b]).sum()
        actual = actual.reindex(buckets, fill_value=0.0).to_numpy()
        if actual.sum() <= 0:
            continue
        k = max(1, int(np.ceil(0.1 * len(buckets))))
        top = np.argsort(-predicted, kind="stable")[:k]
        in_top = np.zeros(len(buckets), bool)
        in_top[top] = predicted[top] > 0
        near = _within(buckets, buckets[in_top], 0.01, step)
        hits.append(actual[in_top].sum())
        nears.append(actual[near].sum())
        totals.append(actual.sum())
        events.append(b - a)
        rhos.append(_spearman(predicted, actual))
    realized_total = float(np.sum(totals))
    precision = float(np.sum(hits)) / realized_total if realized_total else np.nan
    low_bound, high_bound = bootstrap_ratio(np.array(hits), np.array(totals))
    return {
        "precision_at_10": precision,
        "p10_low": low_bound,
        "p10_high": high_bound,
        "lift": precision / 0.1 if realized_total else np.nan,
        "recall_1pct": float(np.sum(nears)) / realized_total if realized_total else np.nan,
        "spearman": float(np.nanmean(rhos)) if np.isfinite(rhos).any() else np.nan,
        "realized_notional": realized_total,
        "evaluations": len(totals),
        "events": int(np.sum(events)),
    }


def _within(buckets: np.ndarray, zones: np.ndarray, share: float, step: float) -> np.ndarray:
    if len(zones) == 0:
        return np.zeros(len(buckets), bool)
    centre = buckets + step / 2
    zone_centre = zones + step / 2
    distance = np.abs(centre[:, None] - zone_centre[None, :]).min(axis=1)
    return distance <= share * centre + step / 2


def naive_heatmap(
    path: pd.DataFrame, times: np.ndarray, step: float, width: float = 0.1
) -> pd.DataFrame:
    """The baseline: density falling linearly with distance from the price, to ±``width``."""
    open_time = path["open_time"].to_numpy(np.int64)
    close = path["close"].to_numpy(float)
    at = np.clip(np.searchsorted(open_time, times, side="left") - 1, 0, len(close) - 1)
    price = close[at]
    offsets = np.arange(-int(width * price.max() / step) - 1, int(width * price.max() / step) + 2)
    bucket = (np.floor(price / step)[:, None] + offsets[None, :]) * step
    distance = np.abs(bucket + step / 2 - price[:, None]) / price[:, None]
    volume = np.clip(1 - distance / width, 0, None)
    frame = pd.DataFrame(
        {
            "time_bucket": np.repeat(times, len(offsets)),
            "price_bucket": bucket.ravel(),
            "volume": volume.ravel(),
        }
    )
    frame["side"] = np.where(
        frame["price_bucket"] < np.repeat(price, len(offsets)), "long", "short"
    )
    return frame[frame["volume"] > 0]


def spearman_vs_truth(heatmap: pd.DataFrame, truth: pd.DataFrame) -> float:
    """Mean over snapshots and sides of Spearman ρ between a model's pending heatmap and the
    true one (truth: time_bucket, price_bucket, side, volume), over buckets either has."""
    merged = (
        heatmap[["time_bucket", "price_bucket", "side", "volume"]]
        .merge(
            truth[["time_bucket", "price_bucket", "side", "volume"]],
            on=["time_bucket", "price_bucket", "side"],
            how="outer",
            suffixes=("_model", "_true"),
        )
        .fillna({"volume_model": 0.0, "volume_true": 0.0})
    )
    times = set(heatmap["time_bucket"]) & set(truth["time_bucket"])
    merged = merged[merged["time_bucket"].isin(times)]
    keys = ["time_bucket", "side"]
    merged["rm"] = merged.groupby(keys)["volume_model"].rank()
    merged["rt"] = merged.groupby(keys)["volume_true"].rank()
    rho = merged.groupby(keys)[["rm", "rt"]].corr().unstack().iloc[:, 1]
    return float(rho.mean())
