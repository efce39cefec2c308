"""Incremental calculate: a run continued from its state on the new bars says what a full
recompute says about them, bar for bar, on the bundled sample."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from heatmaps import warehouse
from models_engine.base import ModelConfig
from models_engine.binance_standard import BinanceStandardModel
from models_engine.calibration import Parameters, Schedule
from models_engine.funding_adjusted import FundingAdjustedModel
from models_engine.incremental import StaleState
from models_engine.market import MarketData, cut_market
from models_engine.trade_clusters import TradeClustersModel
from models_engine.units import BAR_MS, DAY_MS, HOUR_MS

# what a continuation is given before its checkpoint (funding and account ratios in force)
LOOKBACK_MS = DAY_MS
REL = 1e-9
# USDT: a difference array leaves a cell whose cohorts have all gone a residue of rounding
# (1e-13 on millions), which one run shows as a cell and the other clips to nothing
RESIDUE = 1e-6
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def sample(sample_served) -> dict[str, pd.DataFrame]:
    with warehouse.connect(sample_served[0]) as con:
        start, last = warehouse.data_range(con, "BTCUSDT")
        return warehouse.load_market(con, "BTCUSDT", start, last // BAR_MS * BAR_MS + BAR_MS)


def market(frames: dict, end: int, start: int | None = None) -> MarketData:
    return cut_market(MarketData(**frames), end, start)


def two_fits(t0: int) -> Schedule:
    """The prior, a fit in force from day 3 (short-lived high leverage, a third of the
    closes), another from day 6 at half past (twice the openings, closes leaning, 4 h
    half-lives): rows leave by age only once it is in force."""
    prior = Parameters.prior()
    later = replace(prior, half_life_hours=6.0, half_life_slope=-1.0, closing_share=0.3)
    latest = replace(prior, rates=prior.rates * 2.5, closing_lean=1.0, half_life_hours=4.0)
    valid_from = np.array([t0 + 3 * DAY_MS + HOUR_MS, t0 + 6 * DAY_MS + 30 * 60_000])
    return Schedule(valid_from, (later, latest), prior=prior)


def assert_same(expected: pd.DataFrame, got: pd.DataFrame, keys: list[str]) -> None:
    merged = expected.merge(got, on=keys, how="outer", suffixes=("_full", "_step"))
    assert len(expected) > 100 and len(got) > 100
    assert merged["volume_step"].fillna(0).to_numpy() == pytest.approx(
        merged["volume_full"].fillna(0).to_numpy(), rel=REL, abs=RESIDUE
    )
    both = merged["volume_full"].notna() & merged["volume_step"].notna()
    if "density_full" in merged:
        assert (merged["density_full"] == merged["density_step"])[both].all()


CELLS = ["time_bucket", "price_bucket", "side"]


@pytest.mark.parametrize("model", [BinanceStandardModel, FundingAdjustedModel])
def test_a_continued_run_equals_a_full_recompute_bar_for_bar(sample, model):
    t0 = int(sample["klines"]["open_time"].iloc[0])
    end = int(sample["klines"]["open_time"].iloc[-1]) + BAR_MS
    config = ModelConfig(schedule=two_fits(t0), price_step=100.0)
    full = model(config).run(market(sample, end))
    checkpoint = t0 + 5 * DAY_MS + 7 * BAR_MS  # not on the hour
    # six single bars, twelve hours one at a time, then the rest at once (the second fit
    # comes into force in the rest)
    ends = [checkpoint + k * BAR_MS for k in range(1, 7)]
    ends += [ends[-1] + k * HOUR_MS for k in range(1, 13)] + [end]
    state = model(config).run(market(sample, checkpoint), checkpoint=True).state
    steps = []
    for step_end in ends:
        step = model(config).run(market(sample, step_end, state.end - LOOKBACK_MS), state=state)
        state = step.state
        steps.append(step)

    heatmap = pd.concat([s.heatmap for s in steps])
    assert_same(full.heatmap[full.heatmap["time_bucket"] > checkpoint], heatmap, CELLS)
    tiers = pd.concat([s.tier_heatmap for s in steps])
    expected = full.tier_heatmap[full.tier_heatmap["time_bucket"] > checkpoint]
    assert_same(expected, tiers, [*CELLS, "leverage"])
    predicted = pd.concat([s.predicted for s in steps])
    assert predicted["time"].min() >= checkpoint
    assert_same(
        full.predicted[full.predicted["time"] >= checkpoint], predicted, CELLS[1:] + ["time"]
    )
    # levels, totals and confidence at the end of a single bar, of an hour and of the rest
    for k in (0, 17, len(ends) - 1):
        whole = model(config).run(market(sample, ends[k])) if k < len(ends) - 1 else full
        assert_same(whole.levels, steps[k].levels, ["side", "leverage", "price_bucket"])
        assert steps[k].totals == pytest.approx(whole.totals, rel=REL)
        assert steps[k].confidence == whole.confidence
        assert steps[k].as_of == whole.as_of == ends[k]
    # the whole run's own checkpoint holds what its steps add up to
    assert model(config).run(market(sample, end), checkpoint=True).totals == pytest.approx(
        full.totals, rel=REL
    )


def test_the_state_holds_pending_rows_only_and_forgets_the_rest(sample):
    t0 = int(sample["klines"]["open_time"].iloc[0])
    end = int(sample["klines"]["open_time"].iloc[-1]) + BAR_MS
    config = ModelConfig(schedule=two_fits(t0), price_step=100.0)
    result = BinanceStandardModel(config).run(market(sample, end), checkpoint=True)
    state = result.state
    # nothing consumed is kept; nothing older than the last fit's expiry age (+ slack)
    assert (state.book.consumed_at == len(state.bars)).all()
    assert len(state.bars) * BAR_MS <= 81 * HOUR_MS
    assert len(state.book) < len(result.ledger.cohorts)
    assert state.end == end and state.seen == (end - t0) // BAR_MS


def test_a_new_calibration_or_a_gap_asks_for_a_full_recompute(sample):
    t0 = int(sample["klines"]["open_time"].iloc[0])
    config = ModelConfig(schedule=two_fits(t0), price_step=100.0)
    cut = t0 + 4 * DAY_MS
    state = BinanceStandardModel(config).run(market(sample, cut), checkpoint=True).state
    refitted = replace(config, schedule=Schedule(prior=Parameters.prior()))
    with pytest.raises(StaleState, match="calibrations changed"):
        BinanceStandardModel(refitted).run(market(sample, cut + HOUR_MS), state=state)
    with pytest.raises(StaleState, match="price step"):
        BinanceStandardModel(replace(config, price_step=10.0)).run(market(sample, cut), state=state)
    with pytest.raises(StaleState, match="missing"):
        later = market(sample, cut + 2 * HOUR_MS, cut + HOUR_MS)
        BinanceStandardModel(config).run(later, state=state)
    with pytest.raises(ValueError, match="cannot be continued"):
        TradeClustersModel(config).run(market(sample, cut), checkpoint=True)
