"""Binance's bracket formula, checked against values computed by hand."""

import numpy as np
import pytest

from models_engine.brackets import BTCUSDT_BRACKETS, bracket_of, liquidation_price


@pytest.mark.parametrize(
    ("leverage", "side", "expected"),
    [
        (100, "long", 99_397.6),
        (100, "short", 100_597.6),
        (10, "long", 90_361.4),
        (10, "short", 109_561.8),
    ],
)
def test_it_gives_the_design_values_in_the_first_bracket(leverage, side, expected):
    assert liquidation_price(100_000, leverage, side, 10_000) == pytest.approx(expected, abs=0.1)


def test_a_higher_bracket_uses_its_own_mmr_and_maintenance_amount():
    # 5M USDT is in bracket 4: MMR 2.5 %, cum 46,300 -> long 1e5·(0.9 − 46300/5e6)/0.975
    assert liquidation_price(100_000, 10, "long", 5_000_000) == pytest.approx(91_357.9, abs=0.1)
    assert liquidation_price(100_000, 10, "short", 5_000_000) == pytest.approx(108_220.5, abs=0.1)


def test_leverage_above_the_brackets_maximum_is_capped_to_it():
    # bracket 4 allows 20x at most: 100x is liquidated where 20x would be
    capped = liquidation_price(100_000, 100, "long", 5_000_000)
    assert capped == pytest.approx(liquidation_price(100_000, 20, "long", 5_000_000))
    assert capped == pytest.approx(100_000 * (0.95 - 46_300 / 5e6) / 0.975)


def test_the_maintenance_amounts_make_the_margin_continuous_at_every_floor():
    b = BTCUSDT_BRACKETS
    for i in range(1, len(b)):
        floor = b.loc[i, "floor"]
        below = floor * b.loc[i - 1, "mmr"] - b.loc[i - 1, "cum"]
        above = floor * b.loc[i, "mmr"] - b.loc[i, "cum"]
        assert above == pytest.approx(below)
    assert list(b["cum"][:6]) == [0, 50, 1_300, 46_300, 546_300, 2_546_300]


def test_it_works_on_arrays_of_sides_and_sizes():
    levels = liquidation_price(
        np.array([100_000.0, 100_000.0]),
        np.array([100, 10]),
        np.array(["long", "short"]),
        np.array([10_000.0, 10_000.0]),
    )
    np.testing.assert_allclose(levels, [99_397.59, 109_561.75], atol=0.01)
    assert list(bracket_of([0, 49_999, 50_000, 6e8])) == [0, 0, 1, 9]


def test_it_refuses_an_unknown_side_and_a_non_positive_notional():
    with pytest.raises(ValueError, match="side"):
        liquidation_price(100_000, 10, "flat", 10_000)
    with pytest.raises(ValueError, match="notional"):
        liquidation_price(100_000, 10, "long", 0)
