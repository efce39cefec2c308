"""The machinery models A, B and C share: build cohorts, run the ledger, report."""

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
from .brackets import liquidation_price
from .ledger import (
    Cohorts,
    closed_per_bar,
    consumed_log,
    empty_snapshots,
    pending_levels,
    pending_snapshots,
    run_ledger,
)
from .market import Bars, MarketData, build_bars

DAY_MS = 86_400_000


def spread_over_tiers(
    bar: np.ndarray,
    is_long: np.ndarray,
    entry: np.ndarray,
    notional: np.ndarray,
    config: ModelConfig,
    position_notional: np.ndarray | float | None = None,
) -> Cohorts:
    """One cohort per opening and tier, the notional split by the leverage prior (not copied
    into every tier, py-liquidation-map's mistake)."""
    tiers = np.array(list(config.leverage_prior), dtype=float)
    weights = np.array(list(config.leverage_prior.values()), dtype=float)
    keep = notional > 0
    bar, is_long, entry, notional = bar[keep], is_long[keep], entry[keep], notional[keep]
    size = np.broadcast_to(
        np.asarray(
            config.position_notional if position_notional is None else position_notional,
            dtype=float,
        ),
        keep.shape,
    )[keep]
    t = len(tiers)
    leverage = np.tile(tiers, len(bar))
    rep = lambda a: np.repeat(a, t)  # noqa: E731
    level = liquidation_price(rep(entry), leverage, rep(is_long), rep(size), config.brackets)
    return Cohorts(
        rep(bar),
        rep(is_long),
        leverage,
        rep(entry),
        level,
        rep(notional) * np.tile(weights, len(bar)),
    )


class LedgerModel(AbstractLiquidationModel):
    @abstractmethod
    def cohorts(self, bars: Bars, market: MarketData, config: ModelConfig) -> Cohorts:
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
            warnings.append(f"open interest missing for {100 * (1 - oi_share):.0f}% of bars")
        if traded_share < 0.99:
            warnings.append(f"candles missing for {100 * (1 - traded_share):.0f}% of bars")
        if mark_share < 0.99:
            warnings.append(
                f"mark price missing for {100 * (1 - mark_share):.0f}% of bars: trade prices used"
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
        cohorts = self.cohorts(bars, market, config)
        run = run_ledger(cohorts, bars)
        end = int(bars.open_time[-1] + bars.bar_ms)
        first = int(bars.open_time[0] + bars.bar_ms)
        bucket = config.time_bucket_ms
        snapshots = np.arange(-(-first // bucket) * bucket, end + 1, bucket, dtype=np.int64)
        confidence, warnings = self.quality(bars, market)
        if confidence < INVALID_BELOW:
            warnings.append(low_confidence_warning(confidence))
        levels = pending_levels(run, bars, step).assign(confidence=confidence)[LEVEL_COLUMNS]
        predicted = consumed_log(run, bars, step)
        totals = {
            "opened": float(cohorts.notional.sum()),
            "closed": float(closed_per_bar(run, bars).sum()),
            "consumed": float(predicted["volume"].sum()),
            "pending": float(levels["volume"].sum()),
        }
        tier_step = step * config.tier_step_multiple
        return ModelResult(
            model=self.model_name,
            levels=levels,
            heatmap=pending_snapshots(run, bars, snapshots, step),
            tier_heatmap=pending_snapshots(run, bars, snapshots, tier_step, by_leverage=True),
            tier_price_step=tier_step,
            ledger=run,
            bars=bars,
            snapshot_times=snapshots,
            predicted=predicted,
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
        totals={"opened": 0.0, "closed": 0.0, "consumed": 0.0, "pending": 0.0},
    )
