"""The models liqmap runs, by name: the one place that lists them, labels them for people,
knows the leverage tiers they report and runs a chosen set of them with the ensemble last."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

import numpy as np

from .base import AbstractLiquidationModel, ModelConfig, ModelResult
from .binance_standard import BinanceStandardModel
from .calibration import LEVERAGE_TIERS
from .ensemble import EnsembleModel
from .funding_adjusted import FundingAdjustedModel
from .incremental import LedgerState, StaleState
from .market import MarketData
from .trade_clusters import TradeClustersModel

MEMBERS: dict[str, type[AbstractLiquidationModel]] = {
    m.model_name: m for m in (BinanceStandardModel, FundingAdjustedModel, TradeClustersModel)
}
ENSEMBLE = EnsembleModel.model_name
MODEL_NAMES = (*MEMBERS, ENSEMBLE)
LABELS = {ENSEMBLE: EnsembleModel.label} | {name: m.label for name, m in MEMBERS.items()}
DEFAULT_WEIGHTS = {"binance_standard": 0.5, "funding_adjusted": 0.3, "trade_clusters": 0.2}
# whole numbers, as people and URLs write them ("25x", leverage=25)
TIERS = tuple(int(t) for t in LEVERAGE_TIERS)


def check_names(names: Iterable[str]) -> list[str]:
    names = list(names)
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODEL_NAMES)}")
    return names


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Member weights, >= 0 and summing to 1; members weighted 0 are left out."""
    unknown = set(weights) - set(MEMBERS)
    if unknown:
        raise ValueError(f"unknown model(s) in weights: {', '.join(sorted(unknown))}")
    values = np.array(list(weights.values()), dtype=float)
    if np.any(values < 0) or not np.isclose(values.sum(), 1.0, atol=1e-6):
        raise ValueError("ensemble weights must be >= 0 and sum to 1")
    return {name: float(w) for name, w in weights.items() if w > 0}


def ensemble(
    config: ModelConfig | None = None,
    weights: Mapping[str, float] | None = None,
    learning_days: float | None = None,
) -> EnsembleModel:
    """The ensemble over the registered members: fixed ``weights`` (default DEFAULT_WEIGHTS)
    or, with ``learning_days``, weights learned from each member's trailing precision."""
    return EnsembleModel(
        config, check_weights(weights or DEFAULT_WEIGHTS), learning_days, members=MEMBERS
    )


def all_models(
    config: ModelConfig | None = None, weights: Mapping[str, float] | None = None
) -> dict[str, AbstractLiquidationModel]:
    """A fresh instance of every model, by name."""
    models: dict[str, AbstractLiquidationModel] = {n: cls(config) for n, cls in MEMBERS.items()}
    models[ENSEMBLE] = ensemble(config, weights)
    return models


def run_models(
    market: MarketData,
    names: Iterable[str] = MODEL_NAMES,
    weights: Mapping[str, float] | None = None,
    *,
    learning_days: float | None = None,
    config: ModelConfig | None = None,
    states: Mapping[str, LedgerState] | None = None,
) -> dict[str, ModelResult]:
    """Run ``names`` on ``market``, each member once: the ensemble reuses the members' results
    (all members when its weights are learned, those it weights otherwise).

    With ``states`` (by member name; ``{}`` to start), each member continues its state on the
    bars of ``market`` after it (``LedgerModel.run``: the current day's snapshots and
    predictions, the levels and totals of the whole history, the next state in ``.state``)
    and a fixed-weight ensemble combines those, which is what a full run says of the same
    times. Learned weights score the members' whole history: then everything runs in full and
    no result carries a state.
    """
    names = check_names(names)
    config = config or ModelConfig()
    continuing = states is not None and not learning_days
    if continuing and config.price_step is None and states:
        # the states' grid, not the tail's median price: members continue on what they began
        config = replace(config, price_step=next(iter(states.values())).price_step)
    config = config.resolved(market)
    combined = ensemble(config, weights, learning_days) if ENSEMBLE in names else None
    needed = set(names) - {ENSEMBLE}
    if combined is not None:
        needed |= set(MEMBERS) if learning_days else set(combined.weights)
    if continuing and states and needed - set(states):
        # members continued from different points would not share their snapshot times
        raise StaleState(f"no state for {', '.join(sorted(needed - set(states)))}: start again")
    results = {
        name: (
            cls(config).run(market, state=states.get(name), checkpoint=True)
            if continuing
            else cls(config).run(market)
        )
        for name, cls in MEMBERS.items()
        if name in needed
    }
    if combined is not None:
        results[ENSEMBLE] = combined.run(market, members=list(results.values()))
    return {name: results[name] for name in names}
