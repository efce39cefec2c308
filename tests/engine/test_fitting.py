"""Calibration: known traders are fitted back, every fit rests on its past only, and a book is
valued under the calibration in force at each snapshot."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models_engine.backtest import bootstrap_ratio
from models_engine.base import ModelConfig
from models_engine.binance_standard import BinanceStandardModel
from models_engine.book import Valuation
from models_engine.brackets import BTCUSDT_BRACKETS
from models_engine.calibration import LEVERAGE_TIERS, Parameters, Schedule
from models_engine.fitting import MIN_LIQUIDATIONS, WARMUP_DAYS, fit, walk_forward
from models_engine.ledger import Closing, Cohorts, consumed_log, run_ledger
from models_engine.market import build_bars, slice_bars
from models_engine.snapshots import pending_snapshots
from models_engine.units import BAR_MS, DAY_MS, HOUR_MS

from .helpers import T0
from .simulated import simulated_market

DAY = DAY_MS
TRUE_MIX = {10.0: 0.4, 25.0: 0.3, 50.0: 0.3}
TRUE_HALF_LIFE = {10.0: 24.0, 25.0: 24.0 * 2.5**-0.5, 50.0: 24.0 * 5**-0.5}  # slope −0.5
VOLUME_RATE = 0.05  # the simulated traders open 5 % of each bar's traded notional
FIT = {"position_notional": 10_000.0, "brackets": BTCUSDT_BRACKETS}


@pytest.fixture(scope="module")
def known_market():
    market, realized = simulated_market(21, TRUE_MIX, TRUE_HALF_LIFE, seed=3)
    return build_bars(market), realized


def test_a_market_of_known_traders_is_calibrated_back(known_market):
    bars, realized = known_market
    result = fit(bars, realized, T0 + 7 * DAY, T0 + 21 * DAY, 100.0, **FIT)
    p = result.parameters

    assert result.fitted and result.liquidations > 5_000
    assert result.log_likelihood > result.prior_log_likelihood
    # lifetimes: high leverage shorter, and the half-life where most liquidations are (50x)
    # within a factor 1.5 of the truth
    assert p.half_life_slope < 0
    half_lives = dict(zip(p.tiers, p.half_lives(), strict=True))
    assert TRUE_HALF_LIFE[50.0] / 1.5 < half_lives[50.0] < TRUE_HALF_LIFE[50.0] * 1.5
    # how much was opened at the tiers the window liquidated, within 35 % (both sides)
    volume_rates = p.rates[:, 0, :]
    for tier in (25.0, 50.0):
        fitted = volume_rates[:, LEVERAGE_TIERS.index(tier)]
        assert fitted == pytest.approx(VOLUME_RATE * TRUE_MIX[tier], rel=0.35)
    # tiers nobody used, which the window would have liquidated at once, get next to nothing
    unused = volume_rates[:, [LEVERAGE_TIERS.index(t) for t in (75.0, 100.0, 125.0)]].sum()
    assert unused < 0.1 * volume_rates[:, LEVERAGE_TIERS.index(50.0)].sum()
    # open interest was flat: nothing opened with it
    assert p.rates[:, 1, :].sum() < 1e-6


def test_a_fit_for_a_time_is_the_same_whatever_data_came_after_it(known_market):
    bars, realized = known_market
    end = T0 + 14 * DAY
    full = fit(bars, realized, T0 + 7 * DAY, end, 100.0, **FIT)
    cut_bars = slice_bars(bars, 0, int(np.searchsorted(bars.open_time, end)))
    cut = fit(cut_bars, realized[realized["time"] < end], T0 + 7 * DAY, end, 100.0, **FIT)
    assert full.parameters.to_dict() == cut.parameters.to_dict()
    assert full.log_likelihood == cut.log_likelihood


def test_too_few_liquidations_keep_the_prior(known_market):
    bars, realized = known_market
    few = realized.iloc[: MIN_LIQUIDATIONS - 1]
    start, end = int(few["time"].min()), int(few["time"].max()) + 1
    result = fit(bars, few, start, end, 100.0, **FIT)
    assert not result.fitted and result.liquidations == MIN_LIQUIDATIONS - 1
    assert result.parameters.to_dict() == Parameters.prior().to_dict()


def test_walk_forward_waits_out_the_warm_up_then_fits_each_day_on_its_past(known_market):
    bars, realized = known_market
    days = T0 + np.arange(1, 11) * DAY
    fits = walk_forward(bars, realized, days, **FIT)
    assert [valid_from for _, valid_from, _ in fits] == list(days[WARMUP_DAYS:])
    for window_start, valid_from, result in fits:
        assert window_start == T0 + WARMUP_DAYS * DAY
        inside = (realized["time"] >= window_start) & (realized["time"] < valid_from)
        assert result.liquidations == inside.sum()


def test_parameters_survive_a_round_trip_through_json(known_market):
    bars, realized = known_market
    fitted = fit(bars, realized, T0 + 7 * DAY, T0 + 10 * DAY, 100.0, **FIT).parameters
    again = Parameters.from_dict(fitted.to_dict())
    assert again.to_dict() == fitted.to_dict()
    with pytest.raises(ValueError, match="features"):
        Parameters.from_dict({**fitted.to_dict(), "features": ["volume"]})


def test_each_snapshot_and_bar_is_the_whole_book_under_the_calibration_in_force_then(known_market):
    bars, _ = known_market
    bars = slice_bars(bars, 0, 4 * DAY // BAR_MS)
    # the simulated open interest is flat: positions open with volume here
    opened = Parameters.prior().rates[:, ::-1, :] * VOLUME_RATE
    prior = replace(Parameters.prior(), rates=opened)
    later = replace(prior, half_life_hours=6.0, half_life_slope=-1.0, closing_share=0.3)
    latest = replace(prior, rates=prior.rates * 2.5, closing_lean=1.0, half_life_hours=60.0)
    schedule = Schedule(np.array([T0 + DAY + HOUR_MS, T0 + 3 * DAY]), (later, latest), prior=prior)
    config = ModelConfig(schedule=schedule, price_step=100.0)
    book = BinanceStandardModel(config).book(bars, None, config)
    times = T0 + np.arange(1, 4 * 24 + 1) * HOUR_MS
    valuation = Valuation(book, bars, schedule)
    heat, _ = valuation.heatmaps(times, 100.0, 5)
    consumed = valuation.consumed(100.0)

    for params in schedule.all():
        # the brute force: every row of the book in one plain ledger under these parameters
        side = (~book.is_long).astype(int)
        hazard = np.log(2) * bars.bar_ms / (params.half_lives() * HOUR_MS)
        cohorts = Cohorts(
            book.bar,
            book.is_long,
            np.asarray(book.tiers)[book.tier],
            book.entry,
            book.level,
            np.einsum("rf,rf->r", book.features, params.rates[side, :, book.tier]),
            hazard[book.tier],
        )
        run = run_ledger(cohorts, bars, Closing(params.closing_share, params.closing_lean))
        in_force = [t for t in times if schedule.at(int(t)) is params]
        expected = pending_snapshots(run, bars, np.array(in_force), 100.0)
        assert_same_cells(expected, heat[heat["time_bucket"].isin(in_force)], "time_bucket")
        # ... and what each bar consumed, under the calibration in force at the bar's open
        bars_in_force = [t for t in bars.open_time if schedule.at(int(t)) is params]
        expected = consumed_log(run, bars, 100.0)
        expected = expected[expected["time"].isin(bars_in_force)]
        assert_same_cells(expected, consumed[consumed["time"].isin(bars_in_force)], "time")


def assert_same_cells(expected: pd.DataFrame, got: pd.DataFrame, time: str) -> None:
    keys = [time, "price_bucket", "side"]
    merged = expected.merge(got, on=keys, how="outer", suffixes=("_expected", "_got"))
    assert (expected["volume"] > 0).sum() > 10
    assert len(merged) == len(expected) == len(got)
    assert merged["volume_got"].to_numpy() == pytest.approx(
        merged["volume_expected"].to_numpy(), rel=1e-9
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1e9), st.floats(0, 1)).map(lambda t: (t[0], t[0] * t[1])),
        min_size=1,
        max_size=40,
    )
)
def test_the_interval_of_precision_always_holds_its_estimate(windows):
    totals = np.array([w[0] for w in windows])
    hits = np.array([w[1] for w in windows])
    low, high = bootstrap_ratio(hits, totals)
    if totals.sum() <= 0:
        assert np.isnan(low) and np.isnan(high)
        return
    estimate = hits.sum() / totals.sum()
    assert 0 <= low <= estimate <= high <= 1 + 1e-12


def test_the_interval_narrows_as_evaluations_accumulate():
    rng = np.random.default_rng(0)
    totals = rng.lognormal(10, 1, 400)
    hits = totals * rng.beta(2, 8, 400)
    few = np.subtract(*reversed(bootstrap_ratio(hits[:20], totals[:20])))
    many = np.subtract(*reversed(bootstrap_ratio(hits, totals)))
    assert many < few / 2


def test_an_empty_realized_frame_fits_nothing():
    empty = pd.DataFrame({"time": [], "price": [], "side": [], "volume": []})
    market, _ = simulated_market(2, TRUE_MIX, TRUE_HALF_LIFE, seed=3)
    result = fit(build_bars(market), empty, T0, T0 + DAY, 100.0, **FIT)
    assert not result.fitted and result.liquidations == 0
