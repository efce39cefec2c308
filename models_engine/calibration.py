"""What a calibration fixes, and which calibration is in force when.

No archive states how much of each bar's trading opened leveraged positions, at which leverage,
for how long they are held, or which side closes when open interest falls. A calibration
(``models_engine.fitting``) estimates these from a market's own past; this module holds the
result and turns it into the ledger's cohorts:

- **rates**: USDT opened per USDT of each opening feature (``FEATURES``: the bar's traded
  notional and its open-interest increase), per side and leverage tier. The rates per tier
  are the leverage mix; their size is how much each bar opens.
- **side**: openings split long/short like the accounts that are net long (Binance's
  long/short account ratio), else like the bar's taker flow.
- **half-life** per tier: ``half_life_hours · (leverage / 10) ^ half_life_slope``.
- **closing**: the share of open interest's falls the ledger follows, and its lean.

A cohort opened in bar j takes the parameters of the calibration in force at j (fitted on
data before j only), so a heatmap at time t depends on nothing after t.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .ledger import Closing
from .market import Bars

# Every leverage Binance's BTCUSDT order form offers a preset for, 2x to 125x (1x longs are
# never liquidated). The calibration weighs them; the grid only has to cover the range.
LEVERAGE_TIERS = (2.0, 3.0, 5.0, 10.0, 20.0, 25.0, 50.0, 75.0, 100.0, 125.0)
FEATURES = ("volume", "oi_increase")
SIDES = ("long", "short")
# Without evidence: a day's half-life ("hours to days"), the same for every tier.
PRIOR_HALF_LIFE_HOURS = 24.0


def log_uniform_mix(tiers: tuple[float, ...]) -> np.ndarray:
    """Prior shares of the tiers: uniform in log-leverage, each tier owning the log-interval
    between the geometric midpoints to its neighbours."""
    logs = np.log(np.asarray(tiers, dtype=float))
    if len(logs) == 1:
        return np.ones(1)
    mids = (logs[1:] + logs[:-1]) / 2
    edges = np.r_[2 * logs[0] - mids[0], mids, 2 * logs[-1] - mids[-1]]
    widths = np.diff(edges)
    return widths / widths.sum()


def opening_features(bars: Bars) -> np.ndarray:
    """(bars, FEATURES): traded notional and open-interest increase of each bar, USDT."""
    return np.c_[bars.traded_notional, np.where(bars.oi_change > 0, bars.oi_change, 0) * bars.vwap]


def long_share(bars: Bars) -> np.ndarray:
    """Share of a bar's openings that are longs: the accounts' long share where Binance
    published it, else the bar's taker-buy share."""
    return np.where(
        np.isfinite(bars.account_long_share), bars.account_long_share, bars.taker_buy_share
    )


@dataclass(frozen=True)
class Parameters:
    """One calibration's parameters (see the module docstring)."""

    rates: np.ndarray  # (sides, FEATURES, tiers), USDT opened per USDT of feature
    half_life_hours: float = PRIOR_HALF_LIFE_HOURS  # at 10x
    half_life_slope: float = 0.0  # d log(half-life) / d log(leverage)
    closing_share: float = 1.0
    closing_lean: float = 0.0
    tiers: tuple[float, ...] = LEVERAGE_TIERS
    # mean opening features of a bar in the fit window (USDT): weighs the rates into a mix
    typical_features: tuple[float, ...] | None = None

    def __post_init__(self):
        rates = np.asarray(self.rates, dtype=float)
        if rates.shape != (2, len(FEATURES), len(self.tiers)) or np.any(rates < 0):
            raise ValueError("rates must be >= 0 with shape (sides, features, tiers)")
        if not self.half_life_hours > 0:
            raise ValueError("half_life_hours must be positive")
        Closing(self.closing_share, self.closing_lean)  # validates both
        object.__setattr__(self, "rates", rates)

    @classmethod
    def prior(cls, mix: Mapping[float, float] | None = None) -> Parameters:
        """Before any fit: open interest's increases opened positions, spread over the tiers
        by ``mix`` (default: log-uniform over LEVERAGE_TIERS)."""
        if mix is None:
            mix = dict(zip(LEVERAGE_TIERS, log_uniform_mix(LEVERAGE_TIERS), strict=True))
        tiers = tuple(float(t) for t in mix)
        rates = np.zeros((2, len(FEATURES), len(tiers)))
        rates[:, FEATURES.index("oi_increase"), :] = np.array(list(mix.values()), dtype=float)
        return cls(rates=rates, tiers=tiers)

    def half_lives(self) -> np.ndarray:
        """Hours, per tier."""
        return self.half_life_hours * (np.asarray(self.tiers) / 10.0) ** self.half_life_slope

    def half_life_table(self) -> dict[str, float]:
        """Hours per tier, labelled "10x"."""
        return {
            f"{t:g}x": round(float(h), 1)
            for t, h in zip(self.tiers, self.half_lives(), strict=True)
        }

    def leverage_mix(self, features: np.ndarray | None = None) -> dict[str, dict[float, float]]:
        """Share of each tier in a side's openings, for a typical bar (mean ``features``)."""
        features = self.typical_features if features is None else features
        weight = np.ones(len(FEATURES)) if features is None else np.asarray(features, float)
        per_tier = np.einsum("sfk,f->sk", self.rates, weight)
        out = {}
        for s, side in enumerate(SIDES):
            total = per_tier[s].sum()
            shares = per_tier[s] / total if total > 0 else np.zeros(len(self.tiers))
            out[side] = {
                float(t): round(float(x), 4) for t, x in zip(self.tiers, shares, strict=True)
            }
        return out

    def to_dict(self) -> dict:
        return {
            "tiers": list(self.tiers),
            "features": list(FEATURES),
            "rates": self.rates.round(12).tolist(),
            "half_life_hours": self.half_life_hours,
            "half_life_slope": self.half_life_slope,
            "closing_share": self.closing_share,
            "closing_lean": self.closing_lean,
            "typical_features": None
            if self.typical_features is None
            else [float(x) for x in self.typical_features],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Parameters:
        if list(data.get("features", FEATURES)) != list(FEATURES):
            raise ValueError(f"calibration features {data['features']} are not {FEATURES}")
        return cls(
            rates=np.asarray(data["rates"], dtype=float),
            half_life_hours=float(data["half_life_hours"]),
            half_life_slope=float(data["half_life_slope"]),
            closing_share=float(data["closing_share"]),
            closing_lean=float(data["closing_lean"]),
            tiers=tuple(float(t) for t in data["tiers"]),
            typical_features=None
            if data.get("typical_features") is None
            else tuple(float(x) for x in data["typical_features"]),
        )


@dataclass(frozen=True)
class Schedule:
    """Calibrations in force from their ``valid_from`` (ms) on; before the first, ``prior``."""

    valid_from: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    parameters: tuple[Parameters, ...] = ()
    prior: Parameters = field(default_factory=Parameters.prior)

    def __post_init__(self):
        valid_from = np.asarray(self.valid_from, dtype=np.int64)
        if len(valid_from) != len(self.parameters) or np.any(np.diff(valid_from) < 0):
            raise ValueError("one sorted valid_from per calibration")
        if any(p.tiers != self.prior.tiers for p in self.parameters):
            raise ValueError("every calibration of a schedule uses the same tiers")
        object.__setattr__(self, "valid_from", valid_from)

    @property
    def tiers(self) -> tuple[float, ...]:
        return self.prior.tiers

    def in_force(self, times: np.ndarray) -> np.ndarray:
        """Index into ``(prior, *parameters)`` of the calibration in force at each time."""
        return np.searchsorted(self.valid_from, np.asarray(times, np.int64), side="right")

    def all(self) -> tuple[Parameters, ...]:
        """``(prior, *parameters)``: what ``in_force`` indexes."""
        return (self.prior, *self.parameters)

    def at(self, time_ms: int) -> Parameters:
        """The parameters in force at ``time_ms``."""
        return self.all()[int(self.in_force(np.array([time_ms]))[0])]
