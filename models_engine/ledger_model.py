"""The machinery models A, B and C share: build a book, value it under the calibrations, report."""

from __future__ import annotations

from abc import abstractmethod

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
from .book import Book, Valuation
from .brackets import liquidation_price
from .calibration import long_share, opening_features
from .ledger import outflows, pending_levels
from .market import Bars, MarketData, build_bars
from .snapshots import empty_snapshots
from .units import DAY_MS

# Without a calibration the leverage mix and lifetimes are a prior's, not the market's.
UNCALIBRATED_FACTOR = 0.7


def spread_over_tiers(
    bar: np.ndarray,
    is_long: np.ndarray,
    entry: np.ndarray,
    features: np.ndarray,
    bars: Bars,
    config: ModelConfig,
    position_notional: np.ndarray | float | None = None,
    shift: np.ndarray | None = None,
) -> Book:
    """One book row per opening and tier (the calibration's rates per tier split the notional,
    nothing is copied into every tier: py-liquidation-map's mistake).

    features: (openings, FEATURES), USDT of each opening feature behind an opening;
    shift: moves each opening's levels by ``entry · shift`` (model B's funding).
    """
    tiers = np.asarray(config.schedule.tiers, dtype=float)
    keep = features.sum(axis=1) > 0
    bar, is_long, entry, features = bar[keep], is_long[keep], entry[keep], features[keep]
    shift = np.zeros(len(bar)) if shift is None else np.asarray(shift, dtype=float)[keep]
    size = np.broadcast_to(
        np.asarray(
            config.position_notional if position_notional is None else position_notional,
            dtype=float,
        ),
        keep.shape,
    )[keep]
    t = len(tiers)
    tier = np.tile(np.arange(t), len(bar))
    rep = lambda a: np.repeat(a, t, axis=0)  # noqa: E731
    # each position under the bracket table in force when it was opened
    opened = rep(bars.open_time[bar])
    level = liquidation_price(
        rep(entry), tiers[tier], rep(is_long), rep(size), config.brackets, at=opened
    )
    level = level + rep(entry * shift)
    return Book.build(
        rep(bar).astype(np.int64),
        rep(is_long).astype(bool),
        tier,
        rep(entry),
        level,
        rep(features),
        bars,
        config.schedule.tiers,
    )


def bar_openings(bars: Bars) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bar, is_long, entry, features) of the positions each bar opened, at the bar's VWAP,
    split long/short by ``calibration.long_share``."""
    features = opening_features(bars)
    index = np.nonzero(features.sum(axis=1) > 0)[0]
    share = long_share(bars)[index]
    bar = np.concatenate([index, index])
    is_long = np.concatenate([np.ones(len(index), bool), np.zeros(len(index), bool)])
    split = np.concatenate([share, 1 - share])[:, None]
    return bar, is_long, bars.vwap[bar], features[bar] * split


class LedgerModel(AbstractLiquidationModel):
    @abstractmethod
    def book(self, bars: Bars, market: MarketData, config: ModelConfig) -> Book:
        """The positions this model believes were opened, with their levels."""

    def quality(self, bars: Bars, market: MarketData) -> tuple[float, list[str]]:
        """Confidence from data quality, and what lowered it."""
        n = len(bars)
        warnings = []
        oi_share = float(bars.has_oi.mean())
        traded_share = float(bars.traded.mean())
        mark_share = float(bars.has_mark.mean())
        days = n * bars.bar_ms / DAY_MS
        if oi_share < 0.99:
            warnings.append(
                f"open interest missing for {100 * (1 - oi_share):.0f} % of this period"
            )
        if traded_share < 0.99:
            warnings.append(f"candles missing for {100 * (1 - traded_share):.0f} % of this period")
        if mark_share < 0.99:
            warnings.append(
                f"mark price missing for {100 * (1 - mark_share):.0f} % of this period: "
                "levels are placed on trade prices there"
            )
        if days < 7:
            warnings.append(f"a window of {days:.1f} days: positions opened before it are unknown")
        confidence = (
            oi_share * traded_share * (0.85 + 0.15 * mark_share) * min(1.0, days / 7) ** 0.5
        )
        return confidence, warnings

    def run(self, market: MarketData) -> ModelResult:
        missing = self.missing_inputs(market)
        config = self.config.resolved(market)
        bars = build_bars(market)
        step = float(config.price_step)
        if missing or len(bars) == 0:
            return empty_result(self.model_name, step, [f"no {', '.join(missing) or 'bars'}"])
        book = self.book(bars, market, config)
        valuation = Valuation(book, bars, config.schedule)
        final = valuation.final()
        end = int(bars.open_time[-1] + bars.bar_ms)
        first = int(bars.open_time[0] + bars.bar_ms)
        bucket = config.time_bucket_ms
        snapshots = np.arange(-(-first // bucket) * bucket, end + 1, bucket, dtype=np.int64)
        since = config.output_from if config.output_from is not None else first - bars.bar_ms
        snapshots = snapshots[snapshots >= since]
        confidence, warnings = self.quality(bars, market)
        if config.schedule.in_force(np.array([end]))[0] == 0:
            confidence *= UNCALIBRATED_FACTOR
            warnings.append(
                "no calibration fitted before this time: the prior leverage mix and "
                f"{config.schedule.prior.half_life_hours:g} h half-life are used "
                "(run calibrate; it needs realized liquidations)"
            )
        if confidence < INVALID_BELOW:
            warnings.append(low_confidence_warning(confidence))
        levels = pending_levels(final, bars, step).assign(confidence=confidence)[LEVEL_COLUMNS]
        closed, expired = outflows(final, bars)
        hit = final.consumed_at < len(bars)
        totals = {
            "opened": float(final.cohorts.notional.sum()),
            "closed": float(closed.sum()),
            "expired": float(expired.sum()),
            "consumed": float(
                (
                    final.cohorts.notional[hit]
                    * np.exp(final.log_held(np.nonzero(hit)[0], final.consumed_at[hit] - 1))
                ).sum()
            ),
            "pending": float(levels["volume"].sum()),
        }
        tier_step = step * config.tier_step_multiple
        heatmap, tier_heatmap = valuation.heatmaps(snapshots, step, config.tier_step_multiple)
        return ModelResult(
            model=self.model_name,
            levels=levels,
            heatmap=heatmap,
            tier_heatmap=tier_heatmap,
            tier_price_step=tier_step,
            ledger=final,
            bars=bars,
            snapshot_times=snapshots,
            predicted=valuation.consumed(step, since),
            confidence=round(float(confidence), 4),
            warnings=tuple(warnings),
            price_step=step,
            current_price=float(bars.close[-1]),
            as_of=end,
            totals=totals,
        )


def empty_result(model: str, step: float, warnings: list[str]) -> ModelResult:
    return ModelResult(
        model=model,
        levels=pd.DataFrame(columns=LEVEL_COLUMNS),
        heatmap=empty_snapshots(),
        tier_heatmap=empty_snapshots(),
        tier_price_step=step,
        predicted=pd.DataFrame(columns=["time", "price_bucket", "side", "volume"]),
        confidence=0.0,
        warnings=tuple(warnings),
        price_step=step,
        current_price=float("nan"),
        as_of=0,
        totals={"opened": 0.0, "closed": 0.0, "expired": 0.0, "consumed": 0.0, "pending": 0.0},
    )
