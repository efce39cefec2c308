"""Trading signals for bots, from pending levels and the last hour's liquidations.

Precedence: WAIT (the ensemble is not confident enough to act on); REVERSAL_OPPORTUNITY
(liquidations realized in the last hour exceed what the model expected to be consumed by half
again and are at least three times the day's hourly average: a cascade is under way; the second
condition keeps a few stray liquidations in a quiet hour from counting); AVOID (the price is
within 2 % of a cluster: a bucket in the top decile of pending notional); otherwise CLEAR.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WAIT_BELOW_CONFIDENCE = 0.5
AVOID_WITHIN = 0.02
CLUSTER_QUANTILE = 0.9
CASCADE_MARGIN = 1.5  # realized must exceed predicted consumption by half again
CASCADE_SURGE = 3.0  # ... and the last 24 hours' hourly average this many times


def nearest_cluster(
    levels: pd.DataFrame, price: float, step: float, min_notional: float = 0.0
) -> tuple[float | None, float | None, float | None]:
    """(bucket price, distance of its centre as a share of price, notional : USDT) of the
    nearest top-decile bucket holding at least ``min_notional``.

    levels: price_bucket (lower edge, ``step`` wide), volume; sides and tiers are summed.
    """
    if len(levels) == 0 or not np.isfinite(price) or price <= 0:
        return None, None, None
    per_bucket = levels.groupby("price_bucket")["volume"].sum()
    per_bucket = per_bucket[per_bucket > 0]
    if per_bucket.empty:
        return None, None, None
    count = int(np.ceil((1 - CLUSTER_QUANTILE) * len(per_bucket)))
    clusters = per_bucket.nlargest(count).sort_index()
    # the decile is the whole book's: a floor picks among clusters, it never makes new ones
    clusters = clusters[clusters >= min_notional]
    if clusters.empty:
        return None, None, None
    centres = clusters.index.to_numpy(float) + step / 2
    distance = np.abs(centres - price) / price
    nearest = int(np.argmin(distance))
    return float(clusters.index[nearest]), float(distance[nearest]), float(clusters.iloc[nearest])


def compact_usd(value: float) -> str:
    """USDT as a trader reads it: $55.7M, $830k, $420."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"${value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"${value:,.0f}"


def trading_signal(
    levels: pd.DataFrame,
    price: float,
    confidence: float,
    realized_last_hour: float,
    predicted_last_hour: float,
    realized_last_day: float,
    step: float,
    min_cluster_notional: float = 0.0,
) -> dict:
    """The action a bot should take now, with the reason in words (volumes in USDT).

    ``cluster_ahead``: a cluster lies within AVOID_WITHIN of the price, whatever the action.
    ``min_cluster_notional``: only clusters holding at least this much count (alerts set it).
    """
    cluster, distance, notional = nearest_cluster(levels, price, step, min_cluster_notional)
    signal = {
        "confidence": round(float(confidence), 4),
        "cluster_price": cluster,
        "cluster_notional": notional,
        "distance_pct": None if distance is None else round(100 * distance, 3),
        "cluster_ahead": distance is not None and distance <= AVOID_WITHIN,
        "cluster_within_pct": round(100 * AVOID_WITHIN, 3),
        "realized_last_hour": float(realized_last_hour),
        "predicted_last_hour": float(predicted_last_hour),
    }
    if confidence < WAIT_BELOW_CONFIDENCE:
        return {
            **signal,
            "action": "WAIT",
            "reason": f"Low model confidence ({confidence:.2f} < {WAIT_BELOW_CONFIDENCE})",
        }
    surge = realized_last_hour >= CASCADE_SURGE * realized_last_day / 24
    if (
        realized_last_hour > 0
        and surge
        and realized_last_hour > CASCADE_MARGIN * predicted_last_hour
    ):
        return {
            **signal,
            "action": "REVERSAL_OPPORTUNITY",
            "reason": (
                f"Liquidation cascade: {compact_usd(realized_last_hour)} liquidated in the "
                f"last hour against {compact_usd(predicted_last_hour)} predicted"
            ),
        }
    if signal["cluster_ahead"]:
        return {
            **signal,
            "action": "AVOID",
            "reason": f"Liquidation cluster at ${cluster:,.0f} ({100 * distance:.2f}% away)",
        }
    reason = f"No liquidation cluster within {100 * AVOID_WITHIN:g}% of the price"
    return {**signal, "action": "CLEAR", "reason": reason}
