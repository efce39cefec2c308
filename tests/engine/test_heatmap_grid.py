"""The heatmap grid planner: the finest grid the stored data and the display limits allow."""

import numpy as np
import pytest

from models_engine.base import confidence_band
from models_engine.ensemble import DISAGREEMENT_LIMIT, disagreement_zones
from models_engine.heatmap import MAX_CELLS, ImpossibleGrid, plan_grid

HOUR = 3_600_000
DAY = 24 * HOUR
# ten days of hourly snapshots, $100 buckets from $30k to $60k, candles between $42k and $48k
EXTENT = (0, 10 * DAY, 30_000.0, 59_900.0)
TRADED = (42_000.0, 48_000.0)


def plan(start=0, end=10 * DAY, extent=EXTENT, traded=TRADED, base=100.0, **asked):
    return plan_grid(start, end, extent, traded, base, **asked)


def test_a_short_window_is_hourly_at_the_stored_price_step():
    grid = plan(start=9 * DAY, end=10 * DAY, extent=(9 * DAY, 10 * DAY, 30_000.0, 59_900.0))
    assert grid.bucket_ms == HOUR and len(grid.times) == 25
    assert grid.price_step == 100 and grid.covers_window


def test_the_view_fits_the_candles_with_a_margin_and_the_rows_reach_further():
    grid = plan(start=9 * DAY, end=10 * DAY, traded=(44_000.0, 44_800.0))
    # half the candles' range on each side
    assert (grid.view_low, grid.view_high) == (43_600.0, 45_200.0)
    # the rows go on to where 10x positions are liquidated, for a zoom out
    assert grid.price_low == 39_600 and grid.price_high == pytest.approx(49_280)
    assert grid.prices[0] == 39_600 and np.allclose(np.diff(grid.prices), 100)


def test_a_flat_market_still_shows_one_percent_of_the_price():
    grid = plan(traded=(45_000.0, 45_000.0))
    assert grid.view_high - grid.view_low == pytest.approx(450)


def test_a_zoom_is_finer_than_the_view_it_came_from_down_to_the_stored_resolution():
    wide = plan(start=-80 * DAY, end=10 * DAY, base=500.0)
    assert wide.bucket_ms > HOUR
    zoomed = plan(start=2 * DAY, end=3 * DAY, base=500.0, price_min=44_000, price_max=46_000)
    assert zoomed.bucket_ms == HOUR and zoomed.price_step == 500
    assert (zoomed.view_low, zoomed.view_high) == (44_000, 46_000)
    assert zoomed.prices.tolist() == [44_000, 44_500, 45_000, 45_500]


def test_a_long_window_stays_within_the_columns_rows_and_cells():
    grid = plan(
        start=-355 * DAY,
        end=10 * DAY,
        extent=(-355 * DAY, 10 * DAY, 1_000.0, 99_900.0),
        traded=(1_000.0, 99_000.0),
    )
    assert len(grid.times) <= 500 and len(grid.prices) <= 400
    assert len(grid.times) * len(grid.prices) <= MAX_CELLS


def test_asking_more_than_the_data_holds_says_so():
    grid = plan(start=-20 * DAY, end=10 * DAY)
    assert not grid.covers_window and grid.times[0] == 0


def test_no_data_is_an_empty_grid():
    grid = plan(extent=(None, None, None, None), traded=None)
    assert len(grid.times) == 0 and len(grid.prices) == 0 and grid.view_low is None


@pytest.mark.parametrize(
    ("asked", "words"),
    [(150.0, "multiple"), (50.0, "multiple"), (1e6, "at most"), (100.0, "cells")],
)
def test_an_impossible_step_names_price_step(asked, words):
    with pytest.raises(ImpossibleGrid, match=words) as refused:
        plan(start=-20 * DAY, price_step=asked, price_min=1_000, price_max=80_000)
    assert refused.value.parameter == "price_step"


def test_zones_are_the_span_of_the_mean_levels_per_side():
    means = [{"long": 40_000.0, "short": 50_000.0}, {"long": 43_000.0}, {"short": 50_500.0}]
    zones = disagreement_zones(means, 50_000.0)
    assert zones == [
        {"side": "long", "low": 40_000.0, "high": 43_000.0, "gap": 0.06},
        {"side": "short", "low": 50_000.0, "high": 50_500.0, "gap": 0.01},
    ]
    assert [z["side"] for z in zones if z["gap"] > DISAGREEMENT_LIMIT] == ["long"]
    assert disagreement_zones(means, float("nan")) == []


@pytest.mark.parametrize(
    ("confidence", "band"), [(0.1, "low"), (0.3, "medium"), (0.68, "medium"), (0.7, "high")]
)
def test_confidence_bands(confidence, band):
    assert confidence_band(confidence) == band
