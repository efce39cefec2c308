"""Model B: model A with every level moved by the funding the position will pay or receive.

Funding is paid out of (or into) the margin, so it moves the liquidation price: with a positive
rate longs pay and their level rises toward the price, shorts receive and theirs rises away
from it (the spec's "long liquidations closer, shorts farther"). The move is the rate known at
opening times the funding payments a position is assumed to live through.
"""

from __future__ import annotations

import numpy as np

from .base import ModelConfig
from .binance_standard import BinanceStandardModel
from .book import Book
from .ledger_model import bar_openings, spread_over_tiers
from .market import Bars, MarketData


class FundingAdjustedModel(BinanceStandardModel):
    model_name = "funding_adjusted"
    label = "Funding adjusted"
    optional_inputs = ("mark", "funding")

    def book(self, bars: Bars, market: MarketData, config: ModelConfig) -> Book:
        bar, is_long, entry, features = bar_openings(bars)
        # margin lost (or gained) as a share of notional moves the level by entry × that share
        paid = bars.funding_rate[bar] * config.funding_periods_held
        return spread_over_tiers(bar, is_long, entry, features, bars, config, shift=paid)

    def quality(
        self, bars: Bars, market: MarketData, counts: np.ndarray | None = None
    ) -> tuple[float, list[str]]:
        confidence, warnings = super().quality(bars, market, counts)
        if not market.has("funding"):
            warnings.append("no funding rates: levels not adjusted")
            confidence *= 0.7
        return confidence, warnings
