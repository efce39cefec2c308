"""The position ledger against a plain loop that follows every cohort bar by bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models_engine.ledger import (
    Cohorts,
    closed_per_bar,
    consumed_log,
    first_crossing,
    pending_levels,
    pending_snapshots,
    run_ledger,
)
from models_engine.market import BAR_MS, build_bars

from .helpers import T0, market


def follow(cohorts: Cohorts, bars) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reference: (consumed_at, consumed notional, closed notional, held at the end) by loops."""
    n = len(bars)
    consumed_at = np.full(len(cohorts), n)
    consumed = np.zeros(len(cohorts))
    closed = np.zeros(len(cohorts))
    held_end = np.zeros(len(cohorts))
    for i in range(len(cohorts)):
        held = cohorts.notional[i]
        for m in range(cohorts.bar[i] + 1, n):
            long_hit = cohorts.is_long[i] and bars.low[m] <= cohorts.level[i]
            short_hit = not cohorts.is_long[i] and bars.high[m] >= cohorts.level[i]
            if long_hit or short_hit:
                consumed_at[i], consumed[i], held = m, held, 0.0
                break
            keep = np.exp(bars.keep_log[m])
            closed[i] += held * (1 - keep)
            held *= keep
        held_end[i] = held
    return consumed_at, consumed, closed, held_end


def random_case(seed: int, n: int, q: int):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = np.abs(rng.normal(0, 0.005, n)) * close
    oi = 1000 + np.cumsum(rng.normal(0, 20, n + 1))
    bars = build_bars(market(close, low=close - spread, high=close + spread, oi=np.abs(oi) + 1))
    is_long = rng.random(q) < 0.5
    entry = close[rng.integers(0, n, q)]
    level = np.where(is_long, entry * rng.uniform(0.9, 1.0, q), entry * rng.uniform(1.0, 1.1, q))
    cohorts = Cohorts(
        rng.integers(0, n, q), is_long, np.full(q, 10.0), entry, level, rng.uniform(1, 1000, q)
    )
    return bars, cohorts


def test_first_crossing_finds_the_first_index_at_or_after_start():
    values = np.array([5.0, 3.0, 1.0, 4.0, 0.5])
    found = first_crossing(values, np.array([0, 0, 2, 3, 4, 5]), np.array([3, 0.9, 2, 4, 0.1, 9]))
    assert list(found) == [1, 4, 2, 3, 5, 5]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 80), st.integers(1, 40))
def test_first_crossing_agrees_with_a_plain_scan(seed, n, q):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=n)
    start = rng.integers(0, n + 1, q)
    threshold = rng.normal(size=q) - 1
    expected = [
        next((i for i in range(s, n) if values[i] <= t), n)
        for s, t in zip(start, threshold, strict=True)
    ]
    assert list(first_crossing(values, start, threshold)) == expected


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 60), st.integers(1, 30))
def test_the_ledger_agrees_with_following_each_cohort_and_conserves_notional(seed, n, q):
    bars, cohorts = random_case(seed, n, q)
    run = run_ledger(cohorts, bars)
    consumed_at, consumed, closed, held_end = follow(cohorts, bars)

    assert list(run.consumed_at) == list(consumed_at)
    log = consumed_log(run, bars, step=1.0)
    levels = pending_levels(run, bars, step=1.0)
    assert log["volume"].sum() == pytest.approx(consumed.sum(), rel=1e-9, abs=1e-9)
    assert closed_per_bar(run, bars).sum() == pytest.approx(closed.sum(), rel=1e-9, abs=1e-9)
    assert levels["volume"].sum() == pytest.approx(held_end.sum(), rel=1e-9, abs=1e-9)
    # conservation: opened = closed + consumed + pending
    total = log["volume"].sum() + closed_per_bar(run, bars).sum() + levels["volume"].sum()
    assert total == pytest.approx(cohorts.notional.sum(), rel=1e-9)
    assert (log["volume"] >= 0).all() and (levels["volume"] >= 0).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 50), st.integers(1, 25))
def test_each_snapshot_holds_what_is_pending_at_that_moment(seed, n, q):
    bars, cohorts = random_case(seed, n, q)
    run = run_ledger(cohorts, bars)
    times = T0 + np.arange(0, n + 1, 3, dtype=np.int64) * BAR_MS
    heat = pending_snapshots(run, bars, times, step=1.0)

    assert (heat["volume"] > 0).all() and (heat["density"] > 0).all()
    for t in times:
        done = int((t - T0) // BAR_MS)  # bars finished before t
        alive = (cohorts.bar < done) & (run.consumed_at >= done)
        held = cohorts.notional * np.exp(
            run.log_keep_cum[max(done - 1, 0)] - run.log_keep_cum[cohorts.bar]
        )
        expected = held[alive].sum() if done > 0 else 0.0
        got = heat.loc[heat["time_bucket"] == t, "volume"].sum()
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_a_level_is_consumed_in_the_first_bar_that_reaches_it_and_never_again():
    close = [100, 100, 99, 95, 100, 94, 100]
    low = [100, 99.5, 98, 94.9, 99, 93, 99]
    bars = build_bars(market(close, low=low, high=close, oi=[1000] * 8))
    long_at_95 = Cohorts(
        np.array([0]),
        np.array([True]),
        np.array([10.0]),
        np.array([100.0]),
        np.array([95.0]),
        np.array([500.0]),
    )
    run = run_ledger(long_at_95, bars)
    log = consumed_log(run, bars, step=1.0)

    assert run.consumed_at[0] == 3  # low 94.9 first reaches 95 in bar 3, not bar 5 (93)
    assert list(log["time"]) == [T0 + 3 * BAR_MS]
    assert log["volume"].sum() == pytest.approx(500.0)
    assert pending_levels(run, bars, step=1.0).empty


def test_a_cohort_is_never_consumed_in_its_own_opening_bar():
    bars = build_bars(market([100, 100], low=[80, 100], oi=[1000, 1000, 1000]))
    cohort = Cohorts(
        np.array([0]),
        np.array([True]),
        np.array([10.0]),
        np.array([100.0]),
        np.array([90.0]),
        np.array([1.0]),
    )
    assert run_ledger(cohort, bars).consumed_at[0] == 2  # still pending


def test_falling_open_interest_closes_every_cohort_in_proportion():
    # OI 1000 -> 800 in bar 1: each position keeps 80 %
    bars = build_bars(market([100, 100, 100], oi=[1000, 1000, 800, 800]))
    cohorts = Cohorts(
        np.array([0, 0]),
        np.array([True, False]),
        np.array([10.0, 10.0]),
        np.array([100.0, 100.0]),
        np.array([90.0, 110.0]),
        np.array([300.0, 100.0]),
    )
    run = run_ledger(cohorts, bars)
    levels = pending_levels(run, bars, step=10.0)
    assert sorted(levels["volume"]) == pytest.approx([80.0, 240.0])
    assert closed_per_bar(run, bars) == pytest.approx([0.0, 80.0, 0.0])


def test_no_bars_or_no_cohorts_give_empty_frames_not_errors():
    bars = build_bars(market([100.0], oi=[1.0, 1.0]))
    none = Cohorts(*(np.zeros(0, dtype=t) for t in (int, bool, float, float, float, float)))
    run = run_ledger(none, bars)
    assert consumed_log(run, bars, 1.0).empty
    assert pending_levels(run, bars, 1.0).empty
    assert pending_snapshots(run, bars, np.array([T0 + BAR_MS]), 1.0).empty
    assert isinstance(pending_snapshots(run, bars, np.array([], dtype=np.int64), 1.0), pd.DataFrame)
