"""The machinery models A, B and C share: build a book, value it under the calibrations, report."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import replace

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
from .incremental import Advance, LedgerState, StaleState, advance, empty_book, new_bars
from .ledger import outflows, pending_levels
from .market import Bars, MarketData, build_bars, slice_bars
from .point_in_time import bar_flags, snapshot_quality
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

    def quality(
        self, bars: Bars, market: MarketData, counts: np.ndarray | None = None
    ) -> tuple[float, list[str]]:
        """Confidence from data quality, and what lowered it. ``counts``: ``bar_counts`` of all
        the bars the result is about, when ``bars`` are not all of them (a continued state's)."""
        counts = bar_counts(bars, market) if counts is None else counts
        n = int(counts[0])
        warnings = []
        oi_share, traded_share, mark_share = (float(c / n) for c in counts[1:4])
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

    def run(
        self, market: MarketData, state: LedgerState | None = None, checkpoint: bool = False
    ) -> ModelResult:
        """Everything the model says about the window. With ``state`` (a previous result's),
        only the bars of ``market`` after it are processed: the result holds the snapshots and
        predicted liquidations after the checkpoint, the levels and totals of the whole history
        and the next state; ``checkpoint`` asks a full run for its state."""
        if state is not None or checkpoint:
            return self._continue(market, state)
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
        confidence, warnings = self._confidence(bars, market, config.schedule, end)
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
            snapshot_quality=snapshot_quality(
                self._confidence_at(bars, market, config.schedule), bars, market, snapshots
            ),
        )

    def _confidence_at(self, bars: Bars, market: MarketData, schedule):
        """``_confidence`` as a function of (end, counts): a run's ending at that time."""
        return lambda end, counts: self._confidence(bars, market, schedule, end, counts)

    def _confidence(
        self, bars: Bars, market: MarketData, schedule, end: int, counts=None
    ) -> tuple[float, list[str]]:
        confidence, warnings = self.quality(bars, market, counts)
        if schedule.in_force(np.array([end]))[0] == 0:
            confidence *= UNCALIBRATED_FACTOR
            warnings.append(
                "no calibration fitted before this time: the prior leverage mix and "
                f"{schedule.prior.half_life_hours:g} h half-life are used "
                "(run calibrate; it needs realized liquidations)"
            )
        if confidence < INVALID_BELOW:
            warnings.append(low_confidence_warning(confidence))
        return confidence, warnings

    def _advance(self, state: LedgerState, bars: Bars, market: MarketData, config) -> Advance:
        rows = self.book(bars, market, config) if len(bars) else empty_book(state.schedule.tiers)
        return advance(state, bars, rows, bar_counts(bars, market), config.output_from)

    def _continue(self, market: MarketData, state: LedgerState | None) -> ModelResult:
        """``run`` from ``state`` (None: from the first bar): the days that completed since it
        advance the state, the current UTC day is valued from its start. The next state is the
        one at the start of the current day, so an update recomputes today's bars (at most a
        day of them, and the pending rows)."""
        missing = self.missing_inputs(market)
        every = build_bars(market)
        if state is None:
            config = self.config.resolved(market)
            if missing or len(every) == 0:
                return empty_result(
                    self.model_name,
                    float(config.price_step),
                    [f"no {', '.join(missing) or 'bars'}"],
                )
            state = LedgerState.empty(
                slice_bars(every, 0, 0),
                config.schedule,
                float(config.price_step),
                config.tier_step_multiple,
                config.time_bucket_ms,
            )
        else:
            config = replace(self.config, price_step=state.price_step)
            check_continuable(state, self.config, missing)
        bars = new_bars(state, every)
        today = day_start(bars)
        done, current = slice_bars(bars, 0, today), slice_bars(bars, today, len(bars))
        parts = ([done] if len(done) or not len(current) else []) + (
            [current] if len(current) else []
        )
        steps, qualities = [], []
        for part in parts:
            before = state
            steps.append(self._advance(before, part, market, config))
            confidence_at = self._confidence_at(part, market, config.schedule)
            times = steps[-1].snapshot_times
            qualities.append(snapshot_quality(confidence_at, part, market, times, before.counts))
            if part is done:
                state = steps[-1].state
        adv = steps[-1]
        step = state.price_step
        end = adv.state.end
        confidence, warnings = self._confidence(
            adv.window, market, config.schedule, end, adv.state.counts
        )
        return ModelResult(
            model=self.model_name,
            levels=adv.levels.assign(confidence=confidence)[LEVEL_COLUMNS],
            heatmap=pd.concat([s.heatmap for s in steps], ignore_index=True),
            tier_heatmap=pd.concat([s.tier_heatmap for s in steps], ignore_index=True),
            tier_price_step=step * state.tier_step_multiple,
            ledger=adv.final,
            bars=adv.window,
            snapshot_times=np.concatenate([s.snapshot_times for s in steps]),
            predicted=pd.concat([s.predicted for s in steps], ignore_index=True),
            confidence=round(float(confidence), 4),
            warnings=tuple(warnings),
            price_step=step,
            current_price=float(adv.window.close[-1]) if len(adv.window) else float("nan"),
            as_of=end,
            totals=adv.totals,
            state=state,
            snapshot_quality=pd.concat(qualities, ignore_index=True),
        )


def bar_counts(bars: Bars, market: MarketData) -> np.ndarray:
    """Bars, with open interest, traded, with mark price, with aggTrades in ``market``."""
    return bar_flags(bars, market).sum(axis=0)


def day_start(bars: Bars) -> int:
    """Index of the first bar of the UTC day the bars end in (``len(bars)``: they end at 00:00)."""
    if len(bars) == 0:
        return 0
    end = int(bars.open_time[-1] + bars.bar_ms)
    return int(np.searchsorted(bars.open_time, end // DAY_MS * DAY_MS))


def check_continuable(state: LedgerState, config: ModelConfig, missing: list[str]) -> None:
    """A state continues only under its own schedule and price step, on complete inputs."""
    if missing:
        raise StaleState(f"no {', '.join(missing)} after the checkpoint")
    if config.price_step is not None and float(config.price_step) != state.price_step:
        raise StaleState(
            f"the state's price step is {state.price_step:g}, not {config.price_step:g}"
        )
    if not same_schedule(state.schedule, config.schedule):
        raise StaleState("the calibrations changed since the checkpoint: run a full recompute")


def same_schedule(a, b) -> bool:
    if a is b:
        return True
    return np.array_equal(a.valid_from, b.valid_from) and all(
        p.to_dict() == q.to_dict() for p, q in zip(a.all(), b.all(), strict=True)
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
