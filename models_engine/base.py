"""What every liquidation model is: the interface, its settings, its result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import pandas as pd

from .brackets import BTCUSDT_BRACKETS
from .calibration import LEVERAGE_TIERS, Parameters, Schedule, log_uniform_mix
from .market import MarketData, auto_price_step
from .units import HOUR_MS

# Share of newly opened notional at each leverage tier before any calibration. A prior, not a
# fact: Binance publishes no leverage distribution, so every leverage its order form offers a
# preset for gets the same weight per unit of log-leverage; calibration replaces it.
DEFAULT_LEVERAGE_PRIOR = MappingProxyType(
    {t: float(w) for t, w in zip(LEVERAGE_TIERS, log_uniform_mix(LEVERAGE_TIERS), strict=True)}
)
LEVEL_COLUMNS = ["price_level", "price_bucket", "volume", "side", "leverage", "confidence"]
INVALID_BELOW = 0.3  # a result less confident than this is stored flagged is_valid = false
# At or above: complete data and agreeing members (the ensemble stays below it when they differ).
CONFIDENT_FROM = 0.7


def confidence_band(confidence: float) -> str:
    """ "low" (flagged invalid), "medium" or "high": how far a trader may lean on a result."""
    if confidence < INVALID_BELOW:
        return "low"
    return "medium" if confidence < CONFIDENT_FROM else "high"


def low_confidence_warning(confidence: float) -> str:
    return f"confidence {confidence:.2f} is below {INVALID_BELOW}: result marked invalid"


@dataclass(frozen=True)
class ModelConfig:
    leverage_prior: Mapping[float, float] = field(default_factory=lambda: DEFAULT_LEVERAGE_PRIOR)
    position_notional: float = 10_000.0  # USDT, a typical single position: picks its bracket
    price_step: float | None = None  # USDT; None = auto_price_step of the median price
    time_bucket_ms: int = HOUR_MS  # heatmap snapshot spacing
    brackets: pd.DataFrame = field(default_factory=lambda: BTCUSDT_BRACKETS)
    funding_periods_held: float = 3.0  # model B: funding payments a position lives through
    trade_top_fraction: float = 0.1  # model C: share of trades (by notional) taken as openings
    # The per-tier heatmap (the page's leverage filter) uses buckets this many times wider:
    # split six ways at full resolution it would be most of a year's compute and storage.
    tier_step_multiple: int = 5
    # The calibrations in force over time (models_engine.fitting); None = the prior throughout,
    # built from leverage_prior.
    schedule: Schedule | None = None
    # ms: heatmap snapshots and predicted liquidations from this time on only (the positions
    # opened before it still count); None = the whole window. What a recalculation of the
    # last days needs, at the cost of those days.
    output_from: int | None = None

    def __post_init__(self):
        weights = np.array(list(self.leverage_prior.values()), dtype=float)
        if (
            len(weights) == 0
            or np.any(weights < 0)
            or not np.isclose(weights.sum(), 1.0, atol=1e-5)
        ):
            raise ValueError("leverage_prior weights must be >= 0 and sum to 1")
        if any(lev < 1 for lev in self.leverage_prior):
            raise ValueError("leverage tiers must be >= 1")
        if self.schedule is None:
            prior = Parameters.prior(self.leverage_prior)
            object.__setattr__(self, "schedule", Schedule(prior=prior))

    def resolved(self, market: MarketData) -> ModelConfig:
        """This config with the price step fixed from the market (so that models agree)."""
        if self.price_step is not None:
            return self
        close = market.klines["close"] if market.has("klines") else pd.Series(dtype=float)
        return replace(self, price_step=auto_price_step(float(close.median())))


@dataclass(frozen=True)
class ModelResult:
    """What a model says about one market window.

    levels: pending at the end, per price bucket, side and tier (LEVEL_COLUMNS);
    heatmap: pending at each snapshot time (time_bucket ms, price_bucket, side, volume USDT,
    density = cohorts) and tier_heatmap (the same per leverage tier, on tier_price_step buckets);
    predicted: consumed per bar (time ms, price_bucket, side, volume USDT).
    """

    model: str
    levels: pd.DataFrame
    heatmap: pd.DataFrame
    predicted: pd.DataFrame
    confidence: float
    warnings: tuple[str, ...]
    price_step: float
    current_price: float
    as_of: int  # ms: end of the last bar
    totals: Mapping[str, float] = field(default_factory=dict)  # opened/closed/consumed/pending
    tier_heatmap: pd.DataFrame | None = None  # the heatmap per leverage tier, wider buckets
    tier_price_step: float | None = None
    ledger: object | None = None  # the LedgerRun at the end, under the last calibration
    bars: object | None = None  # ... and its Bars
    snapshot_times: np.ndarray | None = None
    weights: Mapping[str, float] | None = None  # the ensemble's member weights at as_of
    state: object | None = None  # incremental.LedgerState to continue from (when asked for)
    # per snapshot time: what the model would have reported had its data ended then
    # (point_in_time.QUALITY_COLUMNS: time_bucket, price, confidence, warnings)
    snapshot_quality: pd.DataFrame | None = None

    @property
    def is_valid(self) -> bool:
        return self.confidence >= INVALID_BELOW


class AbstractLiquidationModel(ABC):
    """The interface every model implements (from the spec)."""

    model_name: ClassVar[str]
    label: ClassVar[str]  # the name people read
    required_inputs: ClassVar[tuple[str, ...]] = ("klines",)
    optional_inputs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ModelConfig | None = None):
        self.config = config or ModelConfig()
        self._result: ModelResult | None = None

    @abstractmethod
    def run(self, market: MarketData) -> ModelResult:
        """Everything the model says about the window: levels, heatmap, predicted log."""

    def calculate_liquidations(self, market: MarketData) -> pd.DataFrame:
        """Pending liquidation levels at the end of the window: price_level, price_bucket,
        volume (USDT), side, leverage, confidence."""
        self._result = self.run(market)
        return self._result.levels

    def confidence_score(self) -> float:
        """0..1, from the quality of the data of the last calculation."""
        if self._result is None:
            raise RuntimeError("calculate_liquidations() first")
        return self._result.confidence

    def missing_inputs(self, market: MarketData) -> list[str]:
        return [name for name in self.required_inputs if not market.has(name)]
