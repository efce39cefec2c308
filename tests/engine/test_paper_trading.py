"""Paper trading on hand-made prices and signals."""

import pandas as pd
import pytest

from models_engine.paper_trading import paper_trade, signal_history
from models_engine.units import HOUR_MS

HOUR = HOUR_MS


def hours(values):
    return pd.Series(values, index=[i * HOUR for i in range(len(values))], dtype=float)


def test_a_rising_market_pays_the_trend_and_the_filter_stays_out_when_told():
    closes = hours([100.0] * 24 + [100.0 + i for i in range(1, 25)])
    actions = pd.Series({t: "CLEAR" for t in closes.index})
    actions.iloc[30:40] = "AVOID"

    result = paper_trade(closes, actions, fee=0.0)

    # long from hour 24 on (close above its 24-hour mean), earning each next hour's return
    assert result["baseline"]["pnl"] == pytest.approx(sum(1 / (100 + i) for i in range(1, 24)))
    assert result["hours_flat_by_filter"] == 10
    assert result["filtered"]["pnl"] < result["baseline"]["pnl"]
    assert result["filtered"]["trades"] == result["baseline"]["trades"] + 2


def test_fees_are_paid_on_every_change_of_position():
    closes = hours([100.0] * 24 + [101.0] * 5)
    clear = pd.Series({t: "CLEAR" for t in closes.index})
    assert paper_trade(closes, clear, fee=0.001)["baseline"]["pnl"] == pytest.approx(
        paper_trade(closes, clear, fee=0.0)["baseline"]["pnl"] - 0.001
    )


def test_the_history_says_avoid_only_where_a_cluster_is_within_2_percent():
    heatmap = pd.DataFrame(
        {
            "time_bucket": [0] * 12 + [HOUR] * 12,
            "price_bucket": [90_000 + 1_000 * i for i in range(12)] * 2,
            "volume": [1.0] * 11 + [50.0] + [1.0] * 12,
        }
    )
    heatmap.loc[heatmap["time_bucket"] == HOUR, "volume"] = [50.0] + [1.0] * 11
    closes = hours([101_000.0, 101_000.0])
    nothing = hours([0.0, 0.0])
    actions = signal_history(heatmap, closes, nothing, nothing, 0.9, step=1_000)
    assert list(actions) == ["AVOID", "CLEAR"]  # 101k is on the cluster, then 11k away


def test_each_hour_is_judged_by_the_confidence_known_then():
    heatmap = pd.DataFrame(
        {
            "time_bucket": [0] * 12 + [HOUR] * 12 + [2 * HOUR] * 12,
            "price_bucket": [90_000 + 1_000 * i for i in range(12)] * 3,
            "volume": [1.0] * 36,
        }
    )
    closes = hours([50_000.0] * 3)  # far from every bucket: only the confidence decides
    nothing = hours([0.0] * 3)
    confidence = pd.Series([0.2, 0.9], index=[0, HOUR])  # nothing known of the third hour
    actions = signal_history(heatmap, closes, nothing, nothing, confidence, step=1_000)
    assert list(actions) == ["WAIT", "CLEAR", "WAIT"]
