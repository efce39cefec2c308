"""Models A, B, C and the ensemble on small hand-made markets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from models_engine.base import DEFAULT_LEVERAGE_PRIOR, ModelConfig, ModelResult
from models_engine.binance_standard import BinanceStandardModel
from models_engine.calibration import LEVERAGE_TIERS, Parameters, Schedule
from models_engine.ensemble import combine
from models_engine.funding_adjusted import FundingAdjustedModel
from models_engine.market import BAR_MS, MarketData, auto_price_step
from models_engine.registry import all_models, check_weights, ensemble
from models_engine.snapshots import empty_snapshots
from models_engine.trade_clusters import TradeClustersModel
from models_engine.units import DAY_MS, HOUR_MS

from .helpers import T0, market

SPEC_PRICE = 67_234.56


def no_expiry(mix) -> Schedule:
    """The prior with ``mix`` and positions that are never given up (hand-computable sums)."""
    return Schedule(prior=replace(Parameters.prior(mix), half_life_hours=np.inf))


def opening_at_spec_price() -> MarketData:
    """One bar at the spec's price in which open interest grows by 10 coins (one cohort)."""
    return market([SPEC_PRICE, SPEC_PRICE], oi=[1000, 1010, 1010], taker_buy_share=0.6)


def test_every_long_level_is_below_the_price_and_every_short_above_it():
    levels = BinanceStandardModel().calculate_liquidations(opening_at_spec_price())

    assert set(levels["leverage"]) == set(LEVERAGE_TIERS)
    assert (levels.loc[levels["side"] == "long", "price_level"] < SPEC_PRICE).all()
    assert (levels.loc[levels["side"] == "short", "price_level"] > SPEC_PRICE).all()
    # 10 coins opened at 67,234.56: 60 % long (taker buys), spread over tiers, nothing copied
    config = ModelConfig(schedule=no_expiry(DEFAULT_LEVERAGE_PRIOR))
    levels = BinanceStandardModel(config).calculate_liquidations(opening_at_spec_price())
    long_total = levels.loc[levels["side"] == "long", "volume"].sum()
    assert long_total == pytest.approx(10 * SPEC_PRICE * 0.6)
    assert levels["volume"].sum() == pytest.approx(10 * SPEC_PRICE)


def test_the_leverage_prior_decides_the_split_across_tiers():
    config = ModelConfig(leverage_prior={10.0: 0.75, 50.0: 0.25})
    levels = BinanceStandardModel(config).calculate_liquidations(opening_at_spec_price())
    by_tier = levels.groupby("leverage")["volume"].sum()
    assert by_tier[10.0] == pytest.approx(3 * by_tier[50.0])
    with pytest.raises(ValueError, match="sum to 1"):
        ModelConfig(leverage_prior={10.0: 0.5})


def test_positive_funding_moves_long_levels_closer_and_short_levels_farther():
    funding = pd.DataFrame({"calc_time": [T0 - 1], "last_funding_rate": [0.001]})
    base = market([SPEC_PRICE, SPEC_PRICE], oi=[1000, 1010, 1010])
    with_funding = MarketData(klines=base.klines, metrics=base.metrics, funding=funding)
    a = BinanceStandardModel().calculate_liquidations(with_funding).set_index(["side", "leverage"])
    b = FundingAdjustedModel().calculate_liquidations(with_funding).set_index(["side", "leverage"])

    shift = b["price_level"] - a["price_level"]
    assert (shift > 0).all()  # longs up (toward the price), shorts up (away from it)
    assert shift.loc["long"].iloc[0] == pytest.approx(SPEC_PRICE * 0.001 * 3)
    assert (b.loc["long", "price_level"] < SPEC_PRICE).all()


def test_trade_clusters_split_a_large_trade_over_the_tiers_and_drop_swept_levels():
    trades = pd.DataFrame(
        {
            "transact_time": [T0 + 1000, T0 + BAR_MS + 1000, T0 + 2 * BAR_MS + 1000],
            "price": [SPEC_PRICE] * 3,
            "quantity": [0.5, 0.001, 0.001],  # one large taker buy, two small taker sells
            "is_buyer_maker": [False, True, True],
        }
    )
    low = [SPEC_PRICE, SPEC_PRICE * 0.98, SPEC_PRICE]  # bar 1 sweeps the 100x and 50x longs
    # open interest grows by the large trade's 0.5 coins: trades say where, OI how much
    base = market([SPEC_PRICE] * 3, low=low, oi=[1000, 1000.5, 1000.5, 1000.5])
    mix = {5.0: 0.10, 10.0: 0.30, 20.0: 0.20, 25.0: 0.15, 50.0: 0.15, 100.0: 0.10}
    model = TradeClustersModel(ModelConfig(trade_top_fraction=0.3, schedule=no_expiry(mix)))
    result = model.run(MarketData(klines=base.klines, metrics=base.metrics, trades=trades))

    longs = result.levels[result.levels["side"] == "long"]
    assert set(longs["leverage"]) == {5.0, 10.0, 20.0, 25.0}  # 50x and 100x were swept
    assert result.levels["side"].eq("long").all()  # the small taker sells were not large
    opened = 0.5 * SPEC_PRICE
    assert longs["volume"].sum() == pytest.approx(opened * (0.10 + 0.30 + 0.20 + 0.15))
    assert result.predicted["volume"].sum() == pytest.approx(opened * 0.25)
    assert result.predicted["time"].unique().tolist() == [T0 + BAR_MS]


def test_the_ensemble_uses_the_weights_it_is_given():
    data = opening_at_spec_price()
    only_a = ensemble(
        weights={"binance_standard": 1.0, "funding_adjusted": 0.0, "trade_clusters": 0.0}
    ).run(data)
    a = BinanceStandardModel().run(data)
    pd.testing.assert_series_equal(
        only_a.levels.sort_values(["side", "leverage"])["volume"].reset_index(drop=True),
        a.levels.sort_values(["side", "leverage"])["volume"].reset_index(drop=True),
    )
    with pytest.raises(ValueError, match="sum to 1"):
        check_weights({"binance_standard": 0.5, "funding_adjusted": 0.3, "trade_clusters": 0.3})
    with pytest.raises(ValueError, match="unknown"):
        check_weights({"py_liquidation_map": 1.0})


def member(name: str, long_level: float, short_level: float, confidence: float) -> ModelResult:
    levels = pd.DataFrame(
        {
            "price_level": [long_level, short_level],
            "price_bucket": [long_level, short_level],
            "volume": [1e6, 1e6],
            "side": ["long", "short"],
            "leverage": [10.0, 10.0],
            "confidence": [confidence] * 2,
        }
    )
    empty_heat = empty_snapshots()
    empty_log = pd.DataFrame(columns=["time", "price_bucket", "side", "volume"])
    return ModelResult(
        name, levels, empty_heat, empty_log, confidence, (), 100.0, 100_000.0, T0, {}
    )


def test_agreeing_members_keep_their_weighted_confidence():
    result = combine(
        [
            member("binance_standard", 90_000, 110_000, 0.9),
            member("funding_adjusted", 91_000, 111_000, 0.6),
        ],
        [0.5, 0.5],
    )
    assert result.confidence == pytest.approx(0.75)
    assert result.is_valid and not any("disagree" in w for w in result.warnings)


def test_members_more_than_5_percent_apart_bring_confidence_below_0_7():
    result = combine(
        [
            member("binance_standard", 90_000, 110_000, 0.9),
            member("funding_adjusted", 84_000, 110_000, 0.9),
        ],
        [0.5, 0.5],
    )
    assert result.confidence < 0.7
    assert any("disagree on the long side by 6.0%" in w for w in result.warnings)


def test_members_far_apart_make_the_result_invalid_with_a_warning():
    result = combine(
        [
            member("binance_standard", 90_000, 110_000, 0.9),
            member("trade_clusters", 60_000, 140_000, 0.9),
        ],
        [0.5, 0.5],
    )
    assert result.confidence < 0.3 and not result.is_valid
    assert any("below 0.3" in w for w in result.warnings)


def test_an_empty_market_gives_an_empty_result_with_zero_confidence():
    empty = MarketData(
        klines=pd.DataFrame(
            columns=[
                "open_time",
                "open",
                "high",
                "low",
                "close",
                "volume",
                "quote_volume",
                "taker_buy_volume",
            ]
        )
    )
    for model in all_models().values():
        result = model.run(empty)
        assert result.levels.empty and result.heatmap.empty and result.confidence == 0.0
        assert result.warnings and not result.is_valid


def test_gaps_in_candles_and_open_interest_lower_confidence_and_are_named():
    rng = np.random.default_rng(3)
    n = 2016  # a week of bars
    close = 42_000 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    full = market(close, oi=1000 + np.cumsum(rng.normal(0, 5, n + 1)))
    holes = full.klines.drop(index=range(100, 400))  # 25 hours without candles
    sparse_oi = full.metrics.iloc[::2]  # every other open interest print missing
    gappy = MarketData(klines=holes, metrics=sparse_oi)

    complete, partial = BinanceStandardModel().run(full), BinanceStandardModel().run(gappy)
    assert partial.confidence < complete.confidence
    assert any("open interest missing" in w for w in partial.warnings)
    assert any("candles missing" in w for w in partial.warnings)
    assert (partial.heatmap["volume"] > 0).all()


def test_the_price_step_is_100_dollars_for_btc_and_scaled_for_others():
    assert auto_price_step(42_000) == 100
    assert auto_price_step(108_000) == 100
    assert auto_price_step(2_500) == 10
    assert auto_price_step(150) == 1
    assert auto_price_step(30) == 0.1


def test_snapshots_start_on_the_hour_and_use_only_finished_bars():
    rng = np.random.default_rng(1)
    n = 60
    close = 42_000 + np.cumsum(rng.normal(0, 20, n))
    result = BinanceStandardModel().run(market(close, oi=1000 + np.arange(n + 1) * 2.0))
    times = np.unique(result.heatmap["time_bucket"])
    assert list(times) == [T0 + h * HOUR_MS for h in range(1, 6)]  # 60 bars = 5 hours
    assert result.as_of == T0 + n * BAR_MS
    assert result.heatmap["leverage"].isna().all()
    assert set(result.tier_heatmap["leverage"]) == set(LEVERAGE_TIERS)
    assert (result.tier_heatmap["price_bucket"] % 500 == 0).all()
    # the tiers add up to the whole, snapshot by snapshot
    whole = result.heatmap.groupby("time_bucket")["volume"].sum()
    tiers = result.tier_heatmap.groupby("time_bucket")["volume"].sum()
    pd.testing.assert_series_equal(whole, tiers, rtol=1e-9)


def test_the_ensemble_heatmap_is_the_weighted_sum_of_its_members():
    rng = np.random.default_rng(5)
    n = 600
    close = 42_000 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    data = market(
        close, low=close * 0.998, high=close * 1.002, oi=1000 + np.cumsum(rng.normal(0, 3, n + 1))
    )
    weights = {"binance_standard": 0.5, "funding_adjusted": 0.3, "trade_clusters": 0.2}
    members = [
        cls().run(data) for cls in (BinanceStandardModel, FundingAdjustedModel, TradeClustersModel)
    ]
    combined = ensemble(weights=weights).run(data, members=members)

    keys = ["time_bucket", "price_bucket", "side"]
    expected = (
        pd.concat(
            [m.heatmap.assign(volume=m.heatmap["volume"] * weights[m.model]) for m in members]
        )
        .groupby(keys)["volume"]
        .sum()
    )
    got = combined.heatmap.set_index(keys)["volume"].sort_index()
    pd.testing.assert_series_equal(got, expected.sort_index(), rtol=1e-9, check_names=False)


def test_a_result_below_0_3_confidence_is_invalid_and_says_so():
    rng = np.random.default_rng(9)
    n = DAY_MS // BAR_MS  # one day, with open interest known for a third of the bars
    close = 42_000 + np.cumsum(rng.normal(0, 10, n))
    full = market(close, oi=1000 + np.cumsum(rng.normal(0, 2, n + 1)))
    sparse = MarketData(klines=full.klines, metrics=full.metrics.iloc[::3])

    result = BinanceStandardModel().run(sparse)

    assert result.confidence < 0.3 and not result.is_valid
    assert any("below 0.3: result marked invalid" in w for w in result.warnings)


@pytest.mark.parametrize(("price", "step"), [(42_000, 100), (2_300, 10), (100, 0.1), (0.6, 0.001)])
def test_the_price_step_follows_the_symbols_price(price, step):
    # about 0.1 % .. 0.5 % of the price: BTC $100, ETH $10, SOL $0.10, XRP-like $0.001
    closes = np.full(12, float(price))
    klines = pd.DataFrame(
        {
            "open_time": np.arange(12) * BAR_MS,
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
            "volume": 1.0,
            "quote_volume": closes,
            "taker_buy_volume": 0.5,
        }
    )
    config = ModelConfig().resolved(MarketData(klines=klines, symbol="ANYUSDT"))
    assert config.price_step == pytest.approx(step)
    assert auto_price_step(price) == pytest.approx(step)
