"""Model A: positions opened where the bars traded, Binance's liquidation formula."""

from __future__ import annotations

from .base import ModelConfig
from .book import Book
from .ledger_model import LedgerModel, bar_openings, spread_over_tiers
from .market import Bars, MarketData


class BinanceStandardModel(LedgerModel):
    model_name = "binance_standard"
    label = "Binance standard"
    required_inputs = ("klines", "metrics")
    optional_inputs = ("mark",)

    def book(self, bars: Bars, market: MarketData, config: ModelConfig) -> Book:
        return spread_over_tiers(*bar_openings(bars), bars, config)
