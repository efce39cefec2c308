"""Ensemble weights learned from each member's trailing precision, point in time."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest

from models_engine.backtest import evaluate
from models_engine.base import ModelConfig
from models_engine.binance_standard import BinanceStandardModel
from models_engine.calibration import LEVERAGE_TIERS, Parameters, Schedule
from models_engine.learned_weights import RANDOM, hourly_precision, learned_weights
from models_engine.market import MarketData
from models_engine.registry import MEMBERS, ensemble
from models_engine.units import HOUR_MS

from .helpers import T0
from .simulated import simulated_market

HOUR = HOUR_MS


MIX = {10.0: 0.5, 50.0: 0.5}


def config_of_the_traders() -> ModelConfig:
    """The simulated traders' own parameters: 5 % of volume opened, at 10x and 50x."""
    rates = np.zeros((2, 2, len(LEVERAGE_TIERS)))
    for tier, share in MIX.items():
        rates[:, 0, LEVERAGE_TIERS.index(tier)] = 0.05 * share
    prior = Parameters(rates=rates, half_life_hours=12.0, half_life_slope=-0.43)
    return ModelConfig(price_step=100.0, schedule=Schedule(prior=prior))


@pytest.fixture(scope="module")
def simulated():
    market, realized = simulated_market(6, MIX, {10.0: 12.0, 50.0: 6.0}, seed=7)
    market = MarketData(klines=market.klines, metrics=market.metrics, realized=realized)
    return market, realized, BinanceStandardModel(config_of_the_traders()).run(market)


def test_precision_per_hour_is_the_backtests_figure_window_by_window(simulated):
    market, realized, result = simulated
    times = result.snapshot_times
    hits, totals = hourly_precision(result.heatmap, realized, result.bars, 100.0, times)
    path = market.klines[["open_time", "low", "high", "close"]]
    scored = 0
    with patch("models_engine.backtest.MIN_EVENTS", 1):
        for i in np.nonzero(totals > 0)[0][::7]:
            one = evaluate(result.heatmap, realized, path, 100.0, HOUR, eval_times=times[i : i + 1])
            assert hits[i] / totals[i] == pytest.approx(one["precision_at_10"], rel=1e-9)
            scored += 1
    assert scored > 10


def test_the_better_member_weighs_more_and_one_no_better_than_random_weighs_nothing():
    times = T0 + np.arange(1, 49) * HOUR
    totals = np.full(48, 100.0)
    good, fair, poor = (totals * p for p in (0.40, 0.20, 0.05))
    weights = learned_weights(
        [(good, totals), (fair, totals), (poor, totals)], times, 1.0, np.array([0.2, 0.3, 0.5])
    )
    late = weights[:, -1]
    assert late == pytest.approx([0.30 / 0.40, 0.10 / 0.40, 0.0])
    assert weights.sum(axis=0) == pytest.approx(np.ones(48))
    # before any evaluation is over, and while none beats random: the fixed weights
    assert weights[:, 0] == pytest.approx([0.2, 0.3, 0.5])
    below = learned_weights([(totals * RANDOM, totals)] * 3, times, 1.0, np.array([0.2, 0.3, 0.5]))
    assert below[:, -1] == pytest.approx([0.2, 0.3, 0.5])


def test_weights_at_a_time_rest_only_on_evaluations_over_by_then():
    times = T0 + np.arange(1, 49) * HOUR
    totals = np.full(48, 100.0)
    a, b = totals * 0.3, totals * 0.2
    before = learned_weights([(a, totals), (b, totals)], times, 1.0, np.array([0.5, 0.5]))
    later = a.copy()
    later[30:] = 0.0  # member A fails after hour 30
    after = learned_weights([(later, totals), (b, totals)], times, 1.0, np.array([0.5, 0.5]))
    # the evaluation of hour 30 ends at hour 31: weights up to then cannot know
    assert after[:, :31] == pytest.approx(before[:, :31])
    assert after[0, -1] < before[0, -1]


def test_the_ensemble_learns_its_weights_from_the_realized_liquidations(simulated):
    market, _, _ = simulated
    config = config_of_the_traders()
    members = [cls(config).run(market) for cls in MEMBERS.values()]
    learned = ensemble(config, learning_days=2).run(market, members=members)
    fixed = ensemble(config).run(market, members=members)
    assert fixed.weights == {
        "binance_standard": 0.5,
        "funding_adjusted": 0.3,
        "trade_clusters": 0.2,
    }
    assert sum(learned.weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert learned.weights != fixed.weights and set(learned.weights) == set(MEMBERS)
    no_realized = MarketData(klines=market.klines, metrics=market.metrics)
    fallback = ensemble(config, learning_days=2).run(no_realized, members=members)
    assert fallback.weights == fixed.weights
    assert isinstance(learned.heatmap, pd.DataFrame) and len(learned.heatmap)
