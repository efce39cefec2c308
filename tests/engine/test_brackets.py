"""Binance's bracket formula, checked against values computed by hand."""

import numpy as np
import pytest

from models_engine.brackets import (
    BTCUSDT_BRACKETS,
    UnknownBrackets,
    bracket_of,
    bracket_table,
    brackets_for,
    dated_brackets,
    liquidation_price,
    packaged_brackets,
    version_at,
)


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


# --- dated tables per symbol -----------------------------------------------------------------
DAY = 86_400_000
OLD = bracket_table([(0, 50_000, 125, 0.004), (50_000, 250_000, 100, 0.005)], effective_from=0)
NEW = bracket_table([(0, 10_000, 50, 0.01), (10_000, 250_000, 20, 0.02)], effective_from=10 * DAY)
TWO = dated_brackets([NEW, OLD])


def test_a_position_is_valued_under_the_table_in_force_when_it_was_opened():
    at = np.array([0, 10 * DAY - 1, 10 * DAY, 20 * DAY])
    levels = liquidation_price(np.full(4, 100.0), 10, "long", 5_000.0, TWO, at=at)
    under_old = 100 * (0.9 - 0) / (1 - 0.004)
    under_new = 100 * (0.9 - 0) / (1 - 0.01)
    np.testing.assert_allclose(levels, [under_old, under_old, under_new, under_new])


def test_a_time_before_the_first_table_gets_the_first_and_no_time_the_latest():
    assert list(version_at(TWO, [-DAY, 0, 15 * DAY])) == [0, 0, 1]
    # 100x is capped to the new table's 50x
    assert liquidation_price(100.0, 100, "long", 5_000.0, TWO) == pytest.approx(100 * 0.98 / 0.99)


def test_the_same_day_fetched_again_replaces_its_table():
    again = bracket_table([(0, 10_000, 75, 0.0065)], effective_from=10 * DAY)
    merged = dated_brackets([OLD, NEW, again])
    assert list(merged["effective_from"].unique()) == [0, 10 * DAY]
    assert merged["mmr"].iloc[-1] == 0.0065


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
def test_every_shipped_table_has_binances_continuous_maintenance_amounts(symbol):
    for table in packaged_brackets(symbol):
        derived = bracket_table(table[["floor", "cap", "max_leverage", "mmr"]].to_numpy())
        np.testing.assert_allclose(table["cum"], derived["cum"], atol=0.5)
        assert (table["cap"].iloc[:-1].to_numpy() == table["floor"].iloc[1:].to_numpy()).all()


def test_eth_in_january_2024_is_valued_under_the_december_table():
    eth = brackets_for("ETHUSDT")
    january = 1_704_067_200_000  # 2024-01-01
    # 2023-12-12's first bracket: 100x at most, 0.5 %; 2024-02-03's: 125x, 0.4 %
    assert liquidation_price(2_000.0, 125, "long", 10_000, eth, at=january) == pytest.approx(
        2_000 * 0.99 / 0.995
    )
    later = january + 60 * DAY
    assert liquidation_price(2_000.0, 125, "long", 10_000, eth, at=later) == pytest.approx(
        2_000 * (1 - 1 / 125) / 0.996
    )


def test_a_symbol_without_a_table_is_refused_by_name():
    with pytest.raises(UnknownBrackets, match="XRPUSDT.*BTCUSDT, ETHUSDT, SOLUSDT"):
        brackets_for("XRPUSDT")
    assert len(brackets_for("XRPUSDT", [OLD])) == 2
