"""Per-snapshot confidence: what a model would have reported had its data ended then."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from models_engine.ensemble import cut_by_disagreement
from models_engine.market import build_bars
from models_engine.point_in_time import ensemble_quality, snapshot_quality

from .helpers import market

T1, T2 = 3_600_000, 7_200_000


def member(name: str, confidence: list[float], long_levels: list[float]):
    """A member result with one long bucket per snapshot time ($100 buckets)."""
    times = np.array([T1, T2])
    heatmap = pd.DataFrame(
        {"time_bucket": times, "price_bucket": long_levels, "side": "long", "volume": 1e6}
    )
    quality = pd.DataFrame(
        {
            "time_bucket": times,
            "price": [100_000.0, 100_000.0],
            "confidence": confidence,
            "warnings": [(), (f"{name} warned",)],
        }
    )
    return SimpleNamespace(
        model=name,
        snapshot_times=times,
        heatmap=heatmap,
        price_step=100.0,
        snapshot_quality=quality,
    )


def test_the_ensemble_is_cut_only_when_its_members_disagree_then():
    members = [member("a", [0.9, 0.9], [90_000, 80_000]), member("b", [0.6, 0.6], [90_000, 90_000])]
    weights = np.array([[0.5, 0.5], [0.5, 0.5]])

    quality = ensemble_quality(members, weights, cut_by_disagreement, {"a": "A"})

    agreeing, disagreeing = quality.to_dict("records")
    assert agreeing["confidence"] == pytest.approx(0.75)
    assert agreeing["warnings"] == ()
    # the long means are 10 % of the price apart at T2: min(0.75, 0.69) · (5 % / 10 %) ** 0.5
    assert disagreeing["confidence"] == pytest.approx(round(0.69 * 0.5**0.5, 4))
    assert disagreeing["warnings"] == (
        "models disagree on the long side by 10.0% of price",
        "A: a warned",
        "b: b warned",
    )


def test_the_weights_in_force_at_each_time_weigh_the_confidences():
    members = [member("a", [0.9, 0.9], [90_000, 90_000]), member("b", [0.5, 0.5], [90_000, 90_000])]
    weights = np.array([[1.0, 0.0], [0.0, 2.0]])  # a alone, then b alone

    quality = ensemble_quality(members, weights, cut_by_disagreement, {})

    assert quality["confidence"].tolist() == [0.9, 0.5]


def test_each_snapshot_counts_only_the_bars_closed_by_then():
    data = market([100.0] * 24, oi=[1000.0] * 25)  # two hours of 5-minute bars
    bars_closed = []

    def confidence_at(end, counts):
        bars_closed.append(int(counts[0]))
        return counts[0] / 24, []

    bars = build_bars(data)
    times = bars.open_time[0] + np.array([1, 12, 24]) * bars.bar_ms
    quality = snapshot_quality(confidence_at, bars, data, times)

    assert bars_closed == [1, 12, 24]
    assert quality["confidence"].tolist() == [round(1 / 24, 4), 0.5, 1.0]
    assert quality["price"].tolist() == [100.0, 100.0, 100.0]


def test_no_snapshot_times_no_rows():
    data = market([100.0] * 3, oi=[1000.0] * 4)
    quality = snapshot_quality(lambda end, counts: (1.0, []), build_bars(data), data, [])
    assert quality.empty and list(quality.columns) == [
        "time_bucket",
        "price",
        "confidence",
        "warnings",
    ]
