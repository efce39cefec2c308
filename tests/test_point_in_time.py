"""No look-ahead: what every model says about time t is the same whether its data ends at t or
days later (the snapshots the API answers ``at=`` from), on the bundled sample."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from models_engine.base import ModelConfig
from models_engine.registry import MODEL_NAMES, run_models
from models_engine.units import BAR_MS, DAY_MS, HOUR_MS

from .test_incremental import CELLS, assert_same, market, sample, two_fits  # noqa: F401

pytestmark = pytest.mark.django_db


def said_up_to(result, t: int) -> dict[str, pd.DataFrame]:
    return {
        "heatmap": result.heatmap[result.heatmap["time_bucket"] <= t],
        "tier_heatmap": result.tier_heatmap[result.tier_heatmap["time_bucket"] <= t],
        "predicted": result.predicted[result.predicted["time"] < t],
    }


# 10:00 on the second day of aggTrades (trade_clusters reads them) and 13:35 on the seventh,
# each under calibrations that change between them
@pytest.mark.parametrize("offset", [DAY_MS + 10 * HOUR_MS, 6 * DAY_MS + 13 * HOUR_MS + 7 * BAR_MS])
def test_every_model_says_the_same_of_t_whatever_came_after_it(sample, offset):  # noqa: F811
    t0 = int(sample["klines"]["open_time"].iloc[0])
    end = int(sample["klines"]["open_time"].iloc[-1]) + BAR_MS
    t = t0 + offset
    config = ModelConfig(schedule=two_fits(t0), price_step=100.0)
    then = run_models(market(sample, t), MODEL_NAMES, config=config)
    later = run_models(market(sample, end), MODEL_NAMES, config=config)
    for name in MODEL_NAMES:
        known, hindsight = said_up_to(then[name], t), said_up_to(later[name], t)
        assert_same(known["heatmap"], hindsight["heatmap"], CELLS)
        assert_same(known["tier_heatmap"], hindsight["tier_heatmap"], [*CELLS, "leverage"])
        assert_same(known["predicted"], hindsight["predicted"], [*CELLS[1:], "time"])
        known_quality = then[name].snapshot_quality
        later_quality = later[name].snapshot_quality
        later_quality = later_quality[later_quality["time_bucket"] <= t].reset_index(drop=True)
        assert len(known_quality) > 10
        pd.testing.assert_frame_equal(known_quality, later_quality)


def test_the_confidence_at_a_runs_end_is_the_runs_own(sample):  # noqa: F811
    t0 = int(sample["klines"]["open_time"].iloc[0])
    config = ModelConfig(schedule=two_fits(t0), price_step=100.0)
    for end in (t0 + 2 * DAY_MS, t0 + 6 * DAY_MS + 5 * HOUR_MS):
        results = run_models(market(sample, end), MODEL_NAMES, config=config)
        for name, result in results.items():
            last = result.snapshot_quality.iloc[-1]
            assert last["time_bucket"] == result.as_of == end
            assert last["price"] == result.current_price
            if name == "ensemble":  # its members' mean levels at their buckets' centres
                assert last["confidence"] == pytest.approx(result.confidence, abs=0.01)
            else:
                assert last["confidence"] == result.confidence
                assert last["warnings"] == result.warnings
            # a day in, with one calibration in force: less sure than at the end
            first = result.snapshot_quality.iloc[0]
            assert first["confidence"] < last["confidence"]


def test_learned_weights_say_the_same_of_t_whatever_came_after_it(sample, sample_served):  # noqa: F811
    """Learned weights score each member on liquidations realized before each snapshot only."""
    from heatmaps import warehouse

    t0 = int(sample["klines"]["open_time"].iloc[0])
    end = int(sample["klines"]["open_time"].iloc[-1]) + BAR_MS
    with warehouse.connect(sample_served[0]) as con:
        realized = warehouse.load_realized(con, "BTCUSDT", t0, end)
    t = t0 + 6 * DAY_MS + 13 * HOUR_MS
    config = ModelConfig(schedule=two_fits(t0), price_step=100.0)

    def ensemble_to(until: int):
        data = replace(market(sample, until), realized=realized[realized["time"] < until])
        return run_models(data, ["ensemble"], learning_days=2, config=config)["ensemble"]

    then, later = ensemble_to(t), ensemble_to(end)
    assert then.weights != {"binance_standard": 0.5, "funding_adjusted": 0.3, "trade_clusters": 0.2}
    known, hindsight = said_up_to(then, t), said_up_to(later, t)
    assert_same(known["heatmap"], hindsight["heatmap"], CELLS)
    assert_same(known["predicted"], hindsight["predicted"], [*CELLS[1:], "time"])
    later_quality = later.snapshot_quality
    later_quality = later_quality[later_quality["time_bucket"] <= t].reset_index(drop=True)
    pd.testing.assert_frame_equal(then.snapshot_quality, later_quality)
