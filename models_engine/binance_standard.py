"""Model A: positions opened from open-interest increases, Binance's liquidation formula."""

from __future__ import annotations

import numpy as np

from .base import ModelConfig
from .ledger import Cohorts
from .ledger_model import LedgerModel, spread_over_tiers
from .market import Bars, MarketData


def oi_openings(bars: Bars) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bar, is_long, entry, notional) of the positions each bar's OI increase opened: at the
    bar's VWAP, split long/short by the bar's taker-buy share."""
    opened = np.where(bars.oi_change > 0, bars.oi_change * bars.vwap, 0.0)
    index = np.nonzero(opened > 0)[0]
    share = bars.taker_buy_share[index]
    bar = np.concatenate([index, index])
    is_long = np.concatenate([np.ones(len(index), bool), np.zeros(len(index), bool)])
    notional = np.concatenate([opened[index] * share, opened[index] * (1 - share)])
    return bar, is_long, bars.vwap[bar], notional


class BinanceStandardModel(LedgerModel):
    model_name = "binance_standard"
    required_inputs = ("klines", "metrics")
    optional_inputs = ("mark",)

    def cohorts(self, bars: Bars, market: MarketData, config: ModelConfig) -> Cohorts:
        return spread_over_tiers(*oi_openings(bars), config)
