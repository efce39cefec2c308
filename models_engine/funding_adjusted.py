"""Model B: model A with every level moved by the funding the position will pay or receive.

Funding is paid out of (or into) the margin, so it moves the liquidation price: with a positive
rate longs pay and their level rises toward the price, shorts receive and theirs rises away
from it (the spec's "long liquidations closer, shorts farther"). The move is the rate known at
opening times the funding payments a position is assumed to live through.
"""

from __future__ import annotations

from .base import ModelConfig
from .binance_standard import BinanceStandardModel
from .ledger import Cohorts
from .market import Bars, MarketData


class FundingAdjustedModel(BinanceStandardModel):
    model_name = "funding_adjusted"
    optional_inputs = ("mark", "funding")

    def cohorts(self, bars: Bars, market: MarketData, config: ModelConfig) -> Cohorts:
        base = super().cohorts(bars, market, config)
        paid = bars.funding_rate[base.bar] * config.funding_periods_held
        # margin lost (or gained) as a share of notional moves the level by entry × that share
        return base.with_level(base.level + base.entry * paid)

    def quality(self, bars: Bars, market: MarketData) -> tuple[float, list[str]]:
        confidence, warnings = super().quality(bars, market)
        if not market.has("funding"):
            warnings.append("no funding rates: levels not adjusted")
            confidence *= 0.7
        return confidence, warnings
