"""Model C: large trades taken as opened positions (the py-liquidation-map method).

py-liquidation-map reads aggTrades, keeps the large ones, treats a taker buy as an opened long
and a taker sell as an opened short, and draws each one's liquidation price at every leverage.
Re-implemented here with its defects fixed: a trade's notional is split across the tiers by
the calibration instead of copied into each, the level comes from Binance's bracket formula
instead of ``1 ± 1/L``, a trade's own size picks its bracket, levels that the later price path
has already reached are consumed, and positions close and expire like every other row of the
ledger.

Trades say *where* positions were opened; how much was opened is the calibration's, as for
model A: each day's openings (its opening features, per side) are shared out over that day's
large trades in proportion to their notional. Where aggTrades do not cover a bar (the
archive's trades are large, so few days are usually loaded) each bar's taker flow stands in:
taker-buy notional as longs, taker-sell as shorts, scaled to the share of volume the large
trades carry where both are known.
"""

from __future__ import annotations

import numpy as np

from .base import ModelConfig
from .book import Book
from .calibration import opening_features
from .ledger_model import LedgerModel, spread_over_tiers
from .market import Bars, MarketData
from .units import DAY_MS


def large_trades(trades, top_fraction: float):
    """The trades whose notional is in the top ``top_fraction`` of all trades."""
    notional = trades["price"].to_numpy(float) * trades["quantity"].to_numpy(float)
    threshold = np.quantile(notional, 1 - top_fraction) if len(notional) else 0.0
    return trades[notional >= threshold], notional


def daily_features(bars: Bars, bar: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Each opening's share of its day's openings by ``size`` (its side is the trade's own),
    times the opening features of that day: (openings, FEATURES), USDT."""
    per_day = DAY_MS // bars.bar_ms
    day_of_bar = np.arange(len(bars)) // per_day
    days = int(day_of_bar[-1]) + 1 if len(bars) else 1
    features = opening_features(bars)
    totals = np.stack(
        [np.bincount(day_of_bar, features[:, f], minlength=days) for f in range(features.shape[1])],
        axis=1,
    )
    day = bar // per_day
    have = np.bincount(day, size, minlength=days)
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(have[day] > 0, size / have[day], 0.0)
    return weight[:, None] * totals[day]


class TradeClustersModel(LedgerModel):
    model_name = "trade_clusters"
    label = "Trade clusters"
    required_inputs = ("klines",)
    optional_inputs = ("trades", "metrics", "mark")
    # a day's openings are shared over the day's large trades: a new bar moves its day's rows
    incremental = False

    def book(self, bars: Bars, market: MarketData, config: ModelConfig) -> Book:
        covered = np.zeros(len(bars), dtype=bool)
        parts = []
        flow_scale = config.trade_top_fraction
        if market.has("trades"):
            t0, bar_ms = bars.open_time[0], bars.bar_ms
            trades = market.trades
            index = (trades["transact_time"].to_numpy(np.int64) - t0) // bar_ms
            inside = (index >= 0) & (index < len(bars))
            trades, index = trades[inside], index[inside]
            covered[np.unique(index)] = True
            big, all_notional = large_trades(trades, config.trade_top_fraction)
            if all_notional.sum() > 0:
                flow_scale = float((big["price"] * big["quantity"]).sum() / all_notional.sum())
            big_index = (big["transact_time"].to_numpy(np.int64) - t0) // bar_ms
            notional = big["price"].to_numpy(float) * big["quantity"].to_numpy(float)
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
            notional = np.concatenate([volume * share, volume * (1 - share)]) * flow_scale
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
        confidence, warnings = super().quality(bars, market, counts)
        if not market.has("trades"):
            warnings.append(
                "no trade data for this period: the trade-cluster model estimates where "
                "positions opened from 5-minute candles only"
            )
            return confidence * 0.6, warnings
        index = (market.trades["transact_time"].to_numpy(np.int64) - bars.open_time[0]) // (
            bars.bar_ms
        )
        covered = len(np.unique(index[(index >= 0) & (index < len(bars))])) / max(len(bars), 1)
        if covered < 0.99:
            warnings.append(
                f"trade data covers only {100 * covered:.0f} % of this period: the trade-cluster "
                "model sees part of it (5-minute candles stand in for the rest)"
            )
        return confidence * (0.6 + 0.4 * covered), warnings
