"""Model C: large trades taken as opened positions (the py-liquidation-map method).

py-liquidation-map reads aggTrades, keeps the large ones, treats a taker buy as an opened long
and a taker sell as an opened short, and draws each one's liquidation price at every leverage.
Re-implemented here with its defects fixed: a trade's notional is split across the tiers by
the calibration instead of copied into each, the level comes from Binance's bracket formula
instead of ``1 ± 1/L``, a trade's own size picks its bracket, levels that the later price path
has already reached are consumed, and positions close and expire like every other row of the
ledger.

Trades say *where* positions were opened; how much was opened is the calibration's, as for
model A: each UTC day's openings (its opening features, per side) are shared out over that
day's large trades in proportion to their notional. Where aggTrades do not cover a bar (the
archive's trades are large, so few days are usually loaded) each bar's taker flow stands in:
taker-buy notional as longs, taker-sell as shorts, scaled to the share of volume the day's
large trades carry.

Everything here is decided within a UTC day (which trades are large, the flow's scale, the
sharing), never across days: a run continued from the start of the day (``incremental``)
recomputes that day alone and equals a full recompute.
"""

from __future__ import annotations

import numpy as np

from .base import ModelConfig
from .book import Book
from .calibration import opening_features
from .ledger_model import LedgerModel, bar_counts, spread_over_tiers
from .market import Bars, MarketData
from .units import DAY_MS


def large_trades(trades, top_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Which trades are large (their notional in the top ``top_fraction`` of their UTC day's
    trades), and every trade's notional (USDT)."""
    notional = trades["price"].to_numpy(float) * trades["quantity"].to_numpy(float)
    if len(notional) == 0:
        return np.zeros(0, dtype=bool), notional
    day = trades["transact_time"].to_numpy(np.int64) // DAY_MS
    days, day = np.unique(day, return_inverse=True)
    order = np.lexsort((notional, day))
    ranked = notional[order]
    count = np.bincount(day, minlength=len(days))
    first = np.r_[0, np.cumsum(count)[:-1]]
    # the day's quantile, interpolated linearly between order statistics (numpy's default)
    position = (count - 1) * (1 - top_fraction)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, count - 1)
    lower, upper = ranked[first + below], ranked[first + above]
    threshold = lower + (upper - lower) * (position - below)
    return notional >= threshold[day], notional


def daily_features(bars: Bars, bar: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Each opening's share of its day's openings by ``size`` (its side is the trade's own),
    times the opening features of that day: (openings, FEATURES), USDT."""
    utc_day = bars.open_time // DAY_MS
    day_of_bar = utc_day - (utc_day[0] if len(bars) else 0)
    days = int(day_of_bar[-1]) + 1 if len(bars) else 1
    features = opening_features(bars)
    totals = np.stack(
        [np.bincount(day_of_bar, features[:, f], minlength=days) for f in range(features.shape[1])],
        axis=1,
    )
    day = day_of_bar[bar]
    have = np.bincount(day, size, minlength=days)
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(have[day] > 0, size / have[day], 0.0)
    return weight[:, None] * totals[day]


class TradeClustersModel(LedgerModel):
    model_name = "trade_clusters"
    label = "Trade clusters"
    required_inputs = ("klines",)
    optional_inputs = ("trades", "metrics", "mark")

    def book(self, bars: Bars, market: MarketData, config: ModelConfig) -> Book:
        covered = np.zeros(len(bars), dtype=bool)
        parts = []
        utc_day = bars.open_time // DAY_MS
        # the share of notional the day's large trades carry (days without trades: the fraction)
        flow_scale = np.full(len(bars), config.trade_top_fraction)
        if market.has("trades"):
            t0, bar_ms = bars.open_time[0], bars.bar_ms
            trades = market.trades
            index = (trades["transact_time"].to_numpy(np.int64) - t0) // bar_ms
            inside = (index >= 0) & (index < len(bars))
            trades, index = trades[inside], index[inside]
            covered[np.unique(index)] = True
            large, all_notional = large_trades(trades, config.trade_top_fraction)
            day = utc_day[index] - utc_day[0]
            days = int(utc_day[-1] - utc_day[0]) + 1
            total = np.bincount(day, all_notional, minlength=days)
            carried = np.bincount(day[large], all_notional[large], minlength=days)
            known = total > 0
            share = np.full(days, config.trade_top_fraction)
            share[known] = carried[known] / total[known]
            flow_scale = share[utc_day - utc_day[0]]
            big, big_index = trades[large], index[large]
            notional = all_notional[large]
            parts.append(
                (
                    big_index,
                    ~big["is_buyer_maker"].to_numpy(bool),
                    big["price"].to_numpy(float),
                    notional,
                    notional,
                )
            )
        flow = np.nonzero(~covered & bars.traded)[0]
        if len(flow):
            bar = np.concatenate([flow, flow])
            is_long = np.concatenate([np.ones(len(flow), bool), np.zeros(len(flow), bool)])
            volume = bars.traded_notional[flow]
            share = bars.taker_buy_share[flow]
            notional = np.concatenate([volume * share, volume * (1 - share)]) * flow_scale[bar]
            parts.append(
                (
                    bar,
                    is_long,
                    bars.vwap[bar],
                    notional,
                    np.full(len(bar), config.position_notional),
                )
            )
        if not parts:
            empty = np.zeros(0)
            return spread_over_tiers(
                empty.astype(np.int64), empty.astype(bool), empty, np.zeros((0, 2)), bars, config
            )
        bar, is_long, entry, notional, size = (np.concatenate(p) for p in zip(*parts, strict=True))
        bar, is_long = bar.astype(np.int64), is_long.astype(bool)
        return spread_over_tiers(
            bar,
            is_long,
            entry,
            daily_features(bars, bar, notional),
            bars,
            config,
            position_notional=np.maximum(size, 1.0),
        )

    def quality(
        self, bars: Bars, market: MarketData, counts: np.ndarray | None = None
    ) -> tuple[float, list[str]]:
        counts = bar_counts(bars, market) if counts is None else counts
        confidence, warnings = super().quality(bars, market, counts)
        if counts[4] == 0:
            warnings.append(
                "no trade data for this period: the trade-cluster model estimates where "
                "positions opened from 5-minute candles only"
            )
            return confidence * 0.6, warnings
        covered = counts[4] / max(counts[0], 1)
        if covered < 0.99:
            warnings.append(
                f"trade data covers only {100 * covered:.0f} % of this period: the trade-cluster "
                "model sees part of it (5-minute candles stand in for the rest)"
            )
        return confidence * (0.6 + 0.4 * covered), warnings
