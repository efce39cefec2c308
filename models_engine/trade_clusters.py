"""Model C: large trades taken as opened positions (the py-liquidation-map method).

py-liquidation-map reads aggTrades, keeps the large ones, treats a taker buy as an opened long
and a taker sell as an opened short, and draws each one's liquidation price at every leverage.
Re-implemented here with its defects fixed: a trade's notional is split across the tiers by
the calibration instead of copied into each, the level comes from Binance's bracket formula
instead of ``1 ± 1/L``, a trade's own size picks its bracket, levels that the later price path
has already reached are consumed, and positions close and expire like every other row of the
ledger.

Trades say *where* positions were opened; how much was opened is the calibration's, as for
model A: each bar's openings (its opening features) are shared out over that bar's large trades
in proportion to their notional. Where aggTrades do not cover a bar (the archive's trades are
large, so few days are usually loaded) the bar's taker flow stands in: taker-buy notional as
longs, taker-sell as shorts, scaled to the share of notional the large trades of that UTC day
so far carried.

Point in time: everything a bar's rows depend on is known when the bar closes (which of its
trades are large is decided among the bar's own trades, the flow's scale from the day's trades
up to it), so the snapshot at t never depends on a trade after t, and a run continued from the
start of the day (``incremental``) equals a full recompute. (Deciding per UTC day, as this
model once did, let a 10:00 snapshot depend on the trades of that afternoon.)
"""

from __future__ import annotations

import numpy as np

from .base import ModelConfig
from .book import Book
from .calibration import opening_features
from .ledger_model import LedgerModel, bar_counts, spread_over_tiers
from .market import Bars, MarketData
from .units import DAY_MS


def large_trades(notional: np.ndarray, bar: np.ndarray, top_fraction: float) -> np.ndarray:
    """Which trades are large: their notional (USDT) in the top ``top_fraction`` of the trades
    of their own bar (``bar``: each trade's bar index), so known when the bar closes."""
    if len(notional) == 0:
        return np.zeros(0, dtype=bool)
    bars, group = np.unique(bar, return_inverse=True)
    order = np.lexsort((notional, group))
    ranked = notional[order]
    count = np.bincount(group, minlength=len(bars))
    first = np.r_[0, np.cumsum(count)[:-1]]
    # the bar's quantile, interpolated linearly between order statistics (numpy's default)
    position = (count - 1) * (1 - top_fraction)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, count - 1)
    lower, upper = ranked[first + below], ranked[first + above]
    threshold = lower + (upper - lower) * (position - below)
    return notional >= threshold[group]


def day_so_far(values: np.ndarray, utc_day: np.ndarray) -> np.ndarray:
    """Per bar, the sum of ``values`` over its UTC day's bars up to and including it."""
    running = np.r_[0.0, np.cumsum(values)]
    day_start = np.searchsorted(utc_day, utc_day, side="left")
    return running[1:] - running[day_start]


def shared_in_bar(features: np.ndarray, bar: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Each opening's share of its bar's openings by ``size`` (its side is the trade's own),
    times the bar's opening features: (openings, FEATURES), USDT.

    features : (bars, FEATURES), ``calibration.opening_features``; bar : each opening's bar.
    """
    have = np.bincount(bar, size, minlength=len(features))
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(have[bar] > 0, size / have[bar], 0.0)
    return weight[:, None] * features[bar]


class TradeClustersModel(LedgerModel):
    model_name = "trade_clusters"
    label = "Trade clusters"
    required_inputs = ("klines",)
    optional_inputs = ("trades", "metrics", "mark")

    def book(self, bars: Bars, market: MarketData, config: ModelConfig) -> Book:
        covered = np.zeros(len(bars), dtype=bool)
        parts = []
        utc_day = bars.open_time // DAY_MS
        # the share of notional large trades carry (days without trades: the fraction)
        flow_scale = np.full(len(bars), config.trade_top_fraction)
        if market.has("trades"):
            t0, bar_ms = bars.open_time[0], bars.bar_ms
            trades = market.trades
            index = (trades["transact_time"].to_numpy(np.int64) - t0) // bar_ms
            inside = (index >= 0) & (index < len(bars))
            trades, index = trades[inside], index[inside]
            covered[np.unique(index)] = True
            all_notional = trades["price"].to_numpy(float) * trades["quantity"].to_numpy(float)
            large = large_trades(all_notional, index, config.trade_top_fraction)
            total = day_so_far(np.bincount(index, all_notional, minlength=len(bars)), utc_day)
            carried = day_so_far(
                np.bincount(index[large], all_notional[large], minlength=len(bars)), utc_day
            )
            known = total > 0
            flow_scale[known] = carried[known] / total[known]
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
            shared_in_bar(opening_features(bars), bar, notional),
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
