"""Scoring a model's pending heatmap against what really happened.

For an evaluation time t and a horizon H the pending density at t is compared with the
liquidation notional realized in (t, t+H], bucket by bucket, over the price buckets actually
traded in (t, t+H] only (a bucket the price never reached could not have liquidated anything):

- precision@10 %: share of the realized notional in the model's top-10 % buckets (a random
  map scores 10 %); reported with its lift over 10 % and a Wilson 95 % lower bound;
- recall ±1 %: share of the realized notional within ±1 % of the price of a top-10 % bucket;
- Spearman ρ between predicted and realized notional per bucket.

Frames: heatmap (time_bucket ms, price_bucket, side, volume); realized (time ms, price, side,
volume USDT); path (open_time ms, low, high) of the traded price.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HORIZONS_MS = {"1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000}


def wilson_lower_bound(successes: float, trials: float, z: float = 1.96) -> float:
    """Lower end of the Wilson score interval for a proportion (95 % by default)."""
    if trials <= 0:
        return 0.0
    p = successes / trials
    centre = p + z * z / (2 * trials)
    margin = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return float(max(0.0, (centre - margin) / (1 + z * z / trials)))


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

    Returns precision_at_10, lift, wilson_low, recall_1pct, spearman (mean over evaluation
    times), realized_notional, evaluations, and trades = realized liquidations counted.
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
    hit_total = near_total = realized_total = 0.0
    count_hits = count_all = 0
    rhos = []
    snapshot_times = set(density.index.get_level_values(0)) if len(density) else set()
    for t in eval_times:
        a, b = np.searchsorted(r_time, [t, t + horizon_ms], side="right")
        pa, pb = np.searchsorted(p_time, [t, t + horizon_ms], side="left")
        if b <= a or pb <= pa or t not in snapshot_times:
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
        hit_total += actual[in_top].sum()
        near_total += actual[near].sum()
        realized_total += actual.sum()
        events = (r_bucket[a:b][:, None] == buckets[in_top][None, :]).any(axis=1)
        count_hits += int(events.sum())
        count_all += b - a
        rhos.append(_spearman(predicted, actual))
    precision = hit_total / realized_total if realized_total else np.nan
    return {
        "precision_at_10": precision,
        "lift": precision / 0.1 if realized_total else np.nan,
        # the bound counts liquidation events, the unit that is independent across a window
        "wilson_low": wilson_lower_bound(count_hits, count_all),
        "recall_1pct": near_total / realized_total if realized_total else np.nan,
        "spearman": float(np.nanmean(rhos)) if np.isfinite(rhos).any() else np.nan,
        "realized_notional": realized_total,
        "evaluations": len(rhos),
        "events": count_all,
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
