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
from models_engine.registry import MEMBERS, run_models
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


def assert_same(
    expected: pd.DataFrame, got: pd.DataFrame, keys: list[str], density: bool = True
) -> None:
    merged = expected.merge(got, on=keys, how="outer", suffixes=("_full", "_step"))
    assert len(expected) > 100 and len(got) > 100
    assert merged["volume_step"].fillna(0).to_numpy() == pytest.approx(
        merged["volume_full"].fillna(0).to_numpy(), rel=REL, abs=RESIDUE
    )
    both = merged["volume_full"].notna() & merged["volume_step"].notna()
    if density and "density_full" in merged:
        assert (merged["density_full"] == merged["density_step"])[both].all()


CELLS = ["time_bucket", "price_bucket", "side"]


def latest(steps: list, prior_ends: list[int], part: str, column: str) -> pd.DataFrame:
    """What the steps said last about each time: a step re-says its current day, from the
    state it continued (its snapshots after that state's end, its predictions from it on)."""
    said = []
    for step, since in zip(steps, prior_ends, strict=True):
        # a snapshot at the state's end is the earlier step's; a prediction there is this one's
        last = since if part != "predicted" else since - 1
        said = [frame[frame[column] <= last] for frame in said]
        said.append(getattr(step, part))
    return pd.concat([frame for frame in said if len(frame)], ignore_index=True)


def continue_and_compare(sample, model, config, start: int, ends: list[int], checks: list[int]):
    """Checkpoint a run to ``start``, continue it to each of ``ends`` and compare what the
    steps said last with a full recompute (levels, totals, confidence at ``checks``)."""
    full = model(config).run(market(sample, ends[-1]))
    # the state is kept at the start of the current day: a run to 00:35 checkpoints 00:00
    state = model(config).run(market(sample, start), checkpoint=True).state
    checkpoint = state.end
    assert checkpoint == start // DAY_MS * DAY_MS
    steps, prior_ends = [], []
    for step_end in ends:
        step = model(config).run(market(sample, step_end, state.end - LOOKBACK_MS), state=state)
        assert step.state.end == step_end // DAY_MS * DAY_MS
        prior_ends.append(state.end)
        state = step.state
        steps.append(step)

    heatmap = latest(steps, prior_ends, "heatmap", "time_bucket")
    assert_same(full.heatmap[full.heatmap["time_bucket"] > checkpoint], heatmap, CELLS)
    tiers = latest(steps, prior_ends, "tier_heatmap", "time_bucket")
    expected = full.tier_heatmap[full.tier_heatmap["time_bucket"] > checkpoint]
    assert_same(expected, tiers, [*CELLS, "leverage"])
    predicted = latest(steps, prior_ends, "predicted", "time")
    assert predicted["time"].min() >= checkpoint
    assert_same(
        full.predicted[full.predicted["time"] >= checkpoint], predicted, CELLS[1:] + ["time"]
    )
    # what the model would have reported at each snapshot (answers "as of t")
    quality = latest(steps, prior_ends, "snapshot_quality", "time_bucket")
    expected = full.snapshot_quality[full.snapshot_quality["time_bucket"] > checkpoint]
    pd.testing.assert_frame_equal(expected.reset_index(drop=True), quality, check_exact=False)
    for k in checks:
        whole = model(config).run(market(sample, ends[k])) if k < len(ends) - 1 else full
        assert_same(whole.levels, steps[k].levels, ["side", "leverage", "price_bucket"])
        assert steps[k].totals == pytest.approx(whole.totals, rel=REL)
        assert steps[k].confidence == whole.confidence
        assert steps[k].warnings == whole.warnings
        assert steps[k].as_of == whole.as_of == ends[k]
    # the whole run's own checkpoint holds what its steps add up to
    assert model(config).run(market(sample, ends[-1]), checkpoint=True).totals == pytest.approx(
        full.totals, rel=REL
    )


@pytest.mark.parametrize("model", [BinanceStandardModel, FundingAdjustedModel, TradeClustersModel])
def test_a_continued_run_equals_a_full_recompute_bar_for_bar(sample, model):
    t0 = int(sample["klines"]["open_time"].iloc[0])
    end = int(sample["klines"]["open_time"].iloc[-1]) + BAR_MS
    config = ModelConfig(schedule=two_fits(t0), price_step=100.0)
    start = t0 + 5 * DAY_MS + 7 * BAR_MS
    # six single bars, twelve hours one at a time, midnight, the bar after it, then the rest
    # at once (days complete inside it, and the second fit comes into force); levels, totals
    # and confidence after a bar, an hour, at midnight, after it and at the end
    ends = [start + k * BAR_MS for k in range(1, 7)]
    ends += [ends[-1] + k * HOUR_MS for k in range(1, 13)]
    ends += [t0 + 6 * DAY_MS, t0 + 6 * DAY_MS + BAR_MS, end]
    continue_and_compare(sample, model, config, start, ends, [0, 17, 18, 19, len(ends) - 1])


def test_trade_clusters_continue_exactly_over_the_days_with_trades(sample):
    """The sample's aggTrades cover its first two days: which trades are large, the flow's
    scale and the sharing of a day's openings all move with each new bar of the day."""
    t0 = int(sample["klines"]["open_time"].iloc[0])
    assert sample["trades"]["transact_time"].max() < t0 + 2 * DAY_MS
    config = ModelConfig(schedule=two_fits(t0), price_step=100.0)
    start = t0 + DAY_MS + 7 * HOUR_MS + 3 * BAR_MS
    ends = [start + k * BAR_MS for k in range(1, 4)]
    ends += [ends[-1] + k * 3 * HOUR_MS for k in range(1, 13)] + [t0 + 3 * DAY_MS + 5 * BAR_MS]
    continue_and_compare(sample, TradeClustersModel, config, start, ends, [0, 2, 7, 14])


def test_the_state_holds_pending_rows_only_and_forgets_the_rest(sample):
    t0 = int(sample["klines"]["open_time"].iloc[0])
    end = int(sample["klines"]["open_time"].iloc[-1]) + BAR_MS
    config = ModelConfig(schedule=two_fits(t0), price_step=100.0)
    result = BinanceStandardModel(config).run(market(sample, end), checkpoint=True)
    state = result.state
    # nothing consumed is kept; nothing older than the last fit's expiry age (+ slack); the
    # state is the one at the start of the last day
    assert (state.book.consumed_at == len(state.bars)).all()
    assert len(state.bars) * BAR_MS <= 81 * HOUR_MS
    assert len(state.book) < len(result.ledger.cohorts)
    day = end // DAY_MS * DAY_MS
    assert state.end == day and state.seen == (day - t0) // BAR_MS


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


def test_run_models_continues_the_members_and_combines_the_ensemble_like_a_full_run(sample):
    t0 = int(sample["klines"]["open_time"].iloc[0])
    end = int(sample["klines"]["open_time"].iloc[-1]) + BAR_MS
    config = ModelConfig(schedule=two_fits(t0), price_step=100.0)
    full = run_models(market(sample, end), config=config)
    first = run_models(market(sample, t0 + 5 * DAY_MS + 7 * BAR_MS), config=config, states={})
    states = {name: first[name].state for name in MEMBERS}
    checkpoint = states["binance_standard"].end
    steps, prior_ends = [], []
    for step_end in (checkpoint + 9 * BAR_MS, checkpoint + 5 * HOUR_MS, t0 + 7 * DAY_MS, end):
        tail = market(sample, step_end, checkpoint - LOOKBACK_MS)
        step = run_models(tail, config=config, states=states)
        prior_ends.append(checkpoint)
        states = {name: step[name].state for name in MEMBERS}
        checkpoint = states["binance_standard"].end
        steps.append(step)

    start = prior_ends[0]
    ensembles = [s["ensemble"] for s in steps]
    whole = full["ensemble"]
    heatmap = latest(ensembles, prior_ends, "heatmap", "time_bucket")
    # volumes only: a member's residue cell (RESIDUE) that one run keeps adds its cohorts to
    # the ensemble's cell there (the members' densities are compared in their own test)
    expected = whole.heatmap[whole.heatmap["time_bucket"] > start]
    assert_same(expected, heatmap, CELLS, density=False)
    predicted = latest(ensembles, prior_ends, "predicted", "time")
    assert_same(whole.predicted[whole.predicted["time"] >= start], predicted, CELLS[1:] + ["time"])
    last = ensembles[-1]
    assert_same(whole.levels, last.levels, ["side", "leverage", "price_bucket"])
    assert last.totals == pytest.approx(whole.totals, rel=REL)
    assert (last.confidence, last.warnings, last.weights) == (
        whole.confidence,
        whole.warnings,
        whole.weights,
    )
    with pytest.raises(StaleState, match="no state for funding_adjusted, trade_clusters"):
        run_models(tail, config=config, states={"binance_standard": states["binance_standard"]})
