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
from .binance_standard import BinanceStandardModel
from .book import Book, Valuation
from .funding_adjusted import FundingAdjustedModel
from .ledger import empty_snapshots
from .market import MarketData
from .trade_clusters import TradeClustersModel

DEFAULT_WEIGHTS = {"binance_standard": 0.5, "funding_adjusted": 0.3, "trade_clusters": 0.2}
MEMBERS = {
    m.model_name: m for m in (BinanceStandardModel, FundingAdjustedModel, TradeClustersModel)
}
DISAGREEMENT_LIMIT = 0.05


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    unknown = set(weights) - set(MEMBERS)
    if unknown:
        raise ValueError(f"unknown model(s) in weights: {', '.join(sorted(unknown))}")
    values = np.array(list(weights.values()), dtype=float)
    if np.any(values < 0) or not np.isclose(values.sum(), 1.0, atol=1e-6):
        raise ValueError("ensemble weights must be >= 0 and sum to 1")
    return {name: float(w) for name, w in weights.items() if w > 0}


def mean_levels(levels: pd.DataFrame) -> dict[str, float]:
    """Notional-weighted mean level per side."""
    out = {}
    for side, group in levels.groupby("side"):
        total = group["volume"].sum()
        if total > 0:
            out[side] = float((group["price_level"] * group["volume"]).sum() / total)
    return out


def disagreement(members: list[ModelResult], price: float) -> tuple[float, str | None]:
    """Largest gap between members' mean levels on one side, as a share of price."""
    worst, worst_side = 0.0, None
    by_member = [mean_levels(m.levels) for m in members]
    for side in ("long", "short"):
        means = [m[side] for m in by_member if side in m]
        if len(means) > 1 and price > 0:
            gap = (max(means) - min(means)) / price
            if gap > worst:
                worst, worst_side = gap, side
    return worst, worst_side


def combined_confidence(members: list[ModelResult], weights: list[float], price: float):
    confidence = float(np.average([m.confidence for m in members], weights=weights))
    gap, side = disagreement(members, price)
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
    members: list[ModelResult], weights: list[float]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The weighted sum of the members' heatmaps.

    Ledger members share one bar grid and one schedule of calibrations, so their books, each
    row scaled by its member's weight, form one book whose valuation is that sum: far cheaper
    than adding up millions of heatmap rows. Other members are added up row by row.
    """
    keys = ["time_bucket", "price_bucket", "side", "leverage"]
    first = members[0]
    if all(m.book is not None for m in members) and all(
        len(m.bars) == len(first.bars) and m.schedule is first.schedule for m in members
    ):
        book = Book.combine([m.book for m in members], weights)
        valuation = Valuation(book, first.bars, first.schedule)
        multiple = int(round(first.tier_price_step / first.price_step))
        return valuation.heatmaps(first.snapshot_times, first.price_step, multiple)
    out = []
    for attribute in ("heatmap", "tier_heatmap"):
        pairs = [(getattr(m, attribute), wi) for m, wi in zip(members, weights, strict=True)]
        pairs = [(f.fillna({"leverage": -1.0}), wi) for f, wi in pairs if f is not None]
        if not pairs:
            out.append(empty_snapshots())
            continue
        # groupby drops NaN keys: the untiered heatmap's NaN leverage rides as -1
        summed = _weighted_sum(
            [f for f, _ in pairs], [wi for _, wi in pairs], keys, ["volume", "density"]
        )
        summed["leverage"] = summed["leverage"].replace(-1.0, np.nan)
        if len(summed):
            summed["density"] = np.rint(summed["density"]).astype(np.int64)
        out.append(summed)
    return out[0], out[1]


def combine(members: list[ModelResult], weights: list[float]) -> ModelResult:
    """Combine member results computed on the same window and price step."""
    w = np.asarray(weights, dtype=float) / np.sum(weights)
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
    heatmap, tier_heatmap = _combined_heatmaps(members, list(w))
    predicted = _weighted_sum(
        [m.predicted for m in members], list(w), ["time", "price_bucket", "side"], ["volume"]
    )
    totals = {
        k: float(sum(wi * m.totals.get(k, 0.0) for m, wi in zip(members, w, strict=True)))
        for k in ("opened", "closed", "expired", "consumed", "pending")
    }
    member_warnings = [f"{m.model}: {text}" for m in members for text in m.warnings]
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
    )


class EnsembleModel(AbstractLiquidationModel):
    model_name = "ensemble"
    required_inputs = ("klines", "metrics")
    optional_inputs = ("mark", "funding", "trades")

    def __init__(
        self, config: ModelConfig | None = None, weights: Mapping[str, float] | None = None
    ):
        super().__init__(config)
        self.weights = check_weights(weights or DEFAULT_WEIGHTS)

    def run_members(self, market: MarketData) -> list[ModelResult]:
        config = self.config.resolved(market)
        return [MEMBERS[name](config).run(market) for name in self.weights]

    def run(self, market: MarketData, members: list[ModelResult] | None = None) -> ModelResult:
        members = members or self.run_members(market)
        by_name = {m.model: m for m in members}
        chosen = [by_name[name] for name in self.weights]
        return combine(chosen, [self.weights[m.model] for m in chosen])


def all_models(
    config: ModelConfig | None = None, weights: Mapping[str, float] | None = None
) -> dict[str, AbstractLiquidationModel]:
    """A fresh instance of every model, by name."""
    models = {name: cls(config) for name, cls in MEMBERS.items()}
    models["ensemble"] = EnsembleModel(config, weights)
    return models
