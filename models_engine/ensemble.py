"""The ensemble: a weighted combination of models A, B and C, bucket by bucket.

Confidence is the weighted mean of the members' confidences, cut when they disagree: if the
notional-weighted mean level of one side differs between members by more than 5 % of the
price, confidence drops below 0.7 and keeps falling with the disagreement (below 0.3 the
result is flagged invalid).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .base import (
    INVALID_BELOW,
    LEVEL_COLUMNS,
    AbstractLiquidationModel,
    ModelConfig,
    ModelResult,
    low_confidence_warning,
)
from .learned_weights import hourly_precision, learned_weights
from .ledger import is_long
from .market import MarketData
from .point_in_time import ensemble_quality
from .snapshots import empty_snapshots, snapshot_frame

DISAGREEMENT_LIMIT = 0.05
GRID_CELLS = 2_000_000  # cells of the dense grid members' heatmaps are added on, per block


def mean_levels(levels: pd.DataFrame) -> dict[str, float]:
    """Notional-weighted mean level per side."""
    out = {}
    for side, group in levels.groupby("side"):
        total = group["volume"].sum()
        if total > 0:
            out[side] = float((group["price_level"] * group["volume"]).sum() / total)
    return out


def disagreement_zones(mean_levels_by_member: list[dict[str, float]], price: float) -> list[dict]:
    """Per side, the span of the members' mean levels and its width as a share of ``price``:
    ``[{"side", "low", "high", "gap"}]``, sides where fewer than two members have levels left
    out. A zone is a disagreement when ``gap > DISAGREEMENT_LIMIT``.

    mean_levels_by_member : one ``mean_levels`` answer per member, e.g. ``[{"long": 41_000.0}]``
    """
    zones = []
    if not (price and np.isfinite(price) and price > 0):
        return zones
    for side in ("long", "short"):
        means = [m[side] for m in mean_levels_by_member if side in m]
        if len(means) > 1:
            low, high = min(means), max(means)
            zones.append({"side": side, "low": low, "high": high, "gap": (high - low) / price})
    return zones


def disagreement(members: list[ModelResult], price: float) -> tuple[float, str | None]:
    """Largest gap between members' mean levels on one side, as a share of price."""
    zones = disagreement_zones([mean_levels(m.levels) for m in members], price)
    worst = max(zones, key=lambda z: z["gap"], default=None)
    if worst is None or worst["gap"] <= 0:
        return 0.0, None
    return worst["gap"], worst["side"]


def combined_confidence(members: list[ModelResult], weights: list[float], price: float):
    confidence = float(np.average([m.confidence for m in members], weights=weights))
    gap, side = disagreement(members, price)
    return cut_by_disagreement(confidence, gap, side)


def cut_by_disagreement(confidence: float, gap: float, side: str | None):
    """The members' mean confidence cut when their mean levels on ``side`` differ by ``gap``
    (a share of the price) beyond DISAGREEMENT_LIMIT; and the warnings that go with it."""
    warnings = []
    if gap > DISAGREEMENT_LIMIT:
        confidence = min(confidence, 0.69) * (DISAGREEMENT_LIMIT / gap) ** 0.5
        warnings.append(f"models disagree on the {side} side by {100 * gap:.1f}% of price")
    if confidence < INVALID_BELOW:
        warnings.append(low_confidence_warning(confidence))
    return confidence, warnings


def _weighted_sum(
    frames: list[pd.DataFrame], weights: list[float], keys: list[str], columns: list[str]
) -> pd.DataFrame:
    parts = [
        f.assign(**{c: f[c].astype(float) * w for c in columns})
        for f, w in zip(frames, weights, strict=True)
        if len(f)
    ]
    if not parts:
        return frames[0].iloc[0:0]
    return pd.concat(parts).groupby(keys, as_index=False)[columns].sum()


def _combined_heatmaps(
    members: list[ModelResult], weights: list[np.ndarray]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The members' heatmaps summed cell by cell, each scaled by its weight at each snapshot
    time (``weights[m]`` aligned with the first member's snapshot times)."""
    times = members[0].snapshot_times
    out = []
    for attribute, step in (("heatmap", "price_step"), ("tier_heatmap", "tier_price_step")):
        frames = [getattr(m, attribute) for m in members]
        if times is None or any(f is None for f in frames):
            out.append(empty_snapshots())
            continue
        out.append(sum_snapshots(frames, weights, times, getattr(members[0], step)))
    return out[0], out[1]


def sum_snapshots(
    frames: list[pd.DataFrame], weights: list[np.ndarray], times: np.ndarray, step: float
) -> pd.DataFrame:
    """Σ weights[m][time] · frames[m], cell by cell (time, bucket, side, tier).

    Frames are sorted by time_bucket (as ``Valuation.heatmaps`` makes them): they are added a
    block of snapshot times at a time on a dense grid, never all at once.
    """
    cells = [f for f in frames if len(f)]
    if not cells:
        return empty_snapshots()
    times = np.asarray(times, dtype=np.int64)
    tiers = np.unique(
        np.nan_to_num(np.concatenate([f["leverage"].to_numpy(float) for f in cells]), nan=-1.0)
    )
    low = int(round(min(f["price_bucket"].min() for f in cells) / step))
    high = int(round(max(f["price_bucket"].max() for f in cells) / step))
    width = high - low + 1
    per_time = len(tiers) * width * 2
    # each frame once as arrays: its cell's place in one time's grid, and its time
    members = []
    for frame, weight in zip(frames, weights, strict=True):
        if not len(frame):
            continue
        stamp = frame["time_bucket"].to_numpy(np.int64)
        leverage = frame["leverage"].to_numpy(float)
        tier = np.searchsorted(tiers, np.where(np.isnan(leverage), -1.0, leverage))
        bucket = np.rint(frame["price_bucket"].to_numpy(float) / step).astype(np.int64) - low
        side = (~is_long(frame["side"])).astype(np.int64)
        at = np.searchsorted(times, stamp)
        place = (tier * width + bucket) * 2 + side
        volume = frame["volume"].to_numpy(float) * np.asarray(weight, float)[at]
        members.append((stamp, at, place, volume, frame["density"].to_numpy(np.int64)))
    chunk = max(1, GRID_CELLS // per_time)
    parts = []
    for a in range(0, len(times), chunk):
        block = times[a : a + chunk]
        volume = np.zeros(len(block) * per_time)
        density = np.zeros(len(block) * per_time, dtype=np.int64)
        for stamp, at, place, vol, dens in members:
            lo = np.searchsorted(stamp, block[0], side="left")
            hi = np.searchsorted(stamp, block[-1], side="right")
            key = (at[lo:hi] - a) * per_time + place[lo:hi]
            volume += np.bincount(key, vol[lo:hi], len(volume))
            density += np.bincount(key, dens[lo:hi], len(density)).astype(np.int64)
        key = np.nonzero(volume > 0)[0]
        side, rest = key % 2, key // 2
        bucket, rest = rest % width, rest // width
        tier, at = rest % len(tiers), rest // len(tiers)
        parts.append(
            {
                "time_bucket": block[at],
                "price_bucket": (bucket + low) * step,
                "is_long": side == 0,
                "leverage": np.where(tiers[tier] < 0, np.nan, tiers[tier]),
                "volume": volume[key],
                "density": density[key],
            }
        )
    return snapshot_frame(parts)


def combine(
    members: list[ModelResult],
    weights: list[float],
    per_time: np.ndarray | None = None,
    labels: Mapping[str, str] | None = None,
) -> ModelResult:
    """Combine member results computed on the same window and price step, with fixed
    ``weights`` or, if given, ``per_time`` weights (members × the members' snapshot times).
    A member's warnings are kept, prefixed with its label (its name when none is given)."""
    times = members[0].snapshot_times
    if per_time is None or times is None or len(times) == 0:
        per_time = np.tile(
            np.asarray(weights, float)[:, None], (1, 0 if times is None else len(times))
        )
        w = np.asarray(weights, dtype=float) / np.sum(weights)
    else:
        w = per_time[:, -1] / per_time[:, -1].sum()
    reference = max(members, key=lambda m: m.as_of)
    confidence, warnings = combined_confidence(members, list(w), reference.current_price)
    levels = _weighted_sum(
        [
            m.levels.assign(weighted=m.levels["price_level"].astype(float) * m.levels["volume"])
            for m in members
        ],
        list(w),
        ["side", "leverage", "price_bucket"],
        ["volume", "weighted"],
    )
    if len(levels):
        levels["price_level"] = levels["weighted"] / levels["volume"]
    levels = levels.assign(confidence=confidence).reindex(columns=LEVEL_COLUMNS)
    heatmap, tier_heatmap = _combined_heatmaps(members, list(per_time))
    predicted = _weighted_sum(
        [
            m.predicted.assign(volume=m.predicted["volume"] * _at_times(row, times, m.predicted))
            for m, row in zip(members, per_time, strict=True)
        ],
        [1.0] * len(members),
        ["time", "price_bucket", "side"],
        ["volume"],
    )
    totals = {
        k: float(sum(wi * m.totals.get(k, 0.0) for m, wi in zip(members, w, strict=True)))
        for k in ("opened", "closed", "expired", "consumed", "pending")
    }
    labels = labels or {}
    quality = ensemble_quality(members, per_time, cut_by_disagreement, labels)
    member_warnings = [
        f"{labels.get(m.model, m.model)}: {text}" for m in members for text in m.warnings
    ]
    return ModelResult(
        model="ensemble",
        levels=levels,
        heatmap=heatmap,
        tier_heatmap=tier_heatmap,
        tier_price_step=reference.tier_price_step,
        predicted=predicted,
        confidence=round(confidence, 4),
        warnings=tuple(warnings + member_warnings),
        price_step=reference.price_step,
        current_price=reference.current_price,
        as_of=reference.as_of,
        totals=totals,
        weights={m.model: round(float(wi), 4) for m, wi in zip(members, w, strict=True)},
        snapshot_quality=quality,
    )


def _at_times(row: np.ndarray, times: np.ndarray | None, frame: pd.DataFrame) -> np.ndarray:
    """A weight per row of ``frame`` (time ms): the one of the last snapshot time before it."""
    if times is None or len(times) == 0 or len(row) == 0:
        return np.ones(len(frame))
    at = np.searchsorted(times, frame["time"].to_numpy(np.int64), side="right") - 1
    return np.asarray(row, float)[np.clip(at, 0, len(row) - 1)]


class EnsembleModel(AbstractLiquidationModel):
    model_name = "ensemble"
    label = "Ensemble"
    required_inputs = ("klines", "metrics")
    optional_inputs = ("mark", "funding", "trades")

    def __init__(
        self,
        config: ModelConfig | None,
        weights: Mapping[str, float],
        learning_days: float | None = None,
        members: Mapping[str, type[AbstractLiquidationModel]] | None = None,
    ):
        """``weights`` are fixed, or (with ``learning_days``) the fallback of weights learned
        from each member's precision over the trailing days (models_engine.learned_weights).
        ``members`` are the member models by name, to run when no results are given (the
        registry, models_engine.registry.ensemble, passes its own)."""
        super().__init__(config)
        self.weights = dict(weights)
        self.learning_days = learning_days
        self.members = dict(members or {})

    def run_members(self, market: MarketData) -> list[ModelResult]:
        config = self.config.resolved(market)
        names = list(self.members) if self.learning_days is not None else list(self.weights)
        missing = [n for n in names if n not in self.members]
        if missing:
            raise ValueError(f"no member model named {', '.join(missing)}: pass their results")
        return [self.members[name](config).run(market) for name in names]

    def run(self, market: MarketData, members: list[ModelResult] | None = None) -> ModelResult:
        """Combine the members' results (run here if not given): all of them when weights are
        learned, those weighted otherwise."""
        members = members or self.run_members(market)
        learning = self.learning_days is not None
        chosen = members if learning else [m for m in members if m.model in self.weights]
        fixed = np.array([self.weights.get(m.model, 0.0) for m in chosen])
        labels = {name: model.label for name, model in self.members.items()}
        if not learning or not market.has("realized") or chosen[0].snapshot_times is None:
            return combine(chosen, list(fixed), labels=labels)
        times = chosen[0].snapshot_times
        scores = [
            hourly_precision(m.heatmap, market.realized, m.bars, m.price_step, times)
            for m in chosen
        ]
        per_time = learned_weights(scores, times, self.learning_days, fixed)
        return combine(chosen, list(fixed), per_time, labels)
