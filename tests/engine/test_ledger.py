"""The position ledger against a plain loop that follows every cohort bar by bar."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models_engine.ledger import (
    EXPIRY_FLOOR,
    Closing,
    Cohorts,
    consumed_log,
    first_crossing,
    outflows,
    pending_levels,
    run_ledger,
)
from models_engine.market import BAR_MS, build_bars
from models_engine.snapshots import pending_snapshots

from .helpers import T0, market


def follow(cohorts: Cohorts, bars, closing: Closing) -> dict[str, np.ndarray]:
    """Reference: every cohort followed bar by bar in a plain loop.

    Returns consumed_at, expired_at, per-cohort consumed and expired notional, per-bar closed
    and expired notional, and held[i, m] = what cohort i holds after bar m.
    """
    n, q = len(bars), len(cohorts)
    out = {
        "consumed_at": np.full(q, n),
        "expired_at": np.full(q, n),
        "consumed": np.zeros(q),
        "expired": np.zeros(q),
        "closed_per_bar": np.zeros(n),
        "expired_per_bar": np.zeros(n),
        "held": np.zeros((q, n)),
    }
    for i in range(q):
        held, lam, is_long = cohorts.notional[i], cohorts.hazard[i], cohorts.is_long[i]
        out["held"][i, cohorts.bar[i]] = held
        for m in range(cohorts.bar[i] + 1, n):
            if (is_long and bars.low[m] <= cohorts.level[i]) or (
                not is_long and bars.high[m] >= cohorts.level[i]
            ):
                out["consumed_at"][i], out["consumed"][i], held = m, held, 0.0
                break
            if lam > 0 and lam * (m - cohorts.bar[i]) >= -np.log(EXPIRY_FLOOR):
                out["expired_at"][i] = m
                out["expired"][i] += held
                out["expired_per_bar"][m] += held
                held = 0.0
                break
            share = closing.share * (1 - np.exp(bars.keep_log[m]))
            buy = bars.taker_buy_share[m]
            tilt = closing.lean * ((1 - 2 * buy) if is_long else (2 * buy - 1))
            keep = 1 - min(max(share * (1 + tilt), 0.0), 1 - 1e-12)
            survive = np.exp(-lam)
            out["closed_per_bar"][m] += held * (1 - keep)
            out["expired_per_bar"][m] += held * keep * (1 - survive)
            out["expired"][i] += held * keep * (1 - survive)
            held *= keep * survive
            out["held"][i, m] = held
    return out


def random_case(seed: int, n: int, q: int):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = np.abs(rng.normal(0, 0.005, n)) * close
    oi = 1000 + np.cumsum(rng.normal(0, 20, n + 1))
    bars = build_bars(
        market(
            close,
            low=close - spread,
            high=close + spread,
            oi=np.abs(oi) + 1,
            taker_buy_share=rng.uniform(0, 1, n),
        )
    )
    is_long = rng.random(q) < 0.5
    entry = close[rng.integers(0, n, q)]
    level = np.where(is_long, entry * rng.uniform(0.9, 1.0, q), entry * rng.uniform(1.0, 1.1, q))
    # no expiry, slow, and fast enough to expire inside the window
    hazard = rng.choice([0.0, 0.02, 0.4, 1.5], q)
    cohorts = Cohorts(
        rng.integers(0, n, q),
        is_long,
        np.full(q, 10.0),
        entry,
        level,
        rng.uniform(1, 1000, q),
        hazard,
    )
    closing = Closing(share=float(rng.choice([1.0, 0.5, 0.0])), lean=float(rng.choice([0, 0.7])))
    return bars, cohorts, closing


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


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 60), st.integers(1, 30))
def test_the_ledger_agrees_with_following_each_cohort_and_conserves_notional(seed, n, q):
    bars, cohorts, closing = random_case(seed, n, q)
    run = run_ledger(cohorts, bars, closing)
    ref = follow(cohorts, bars, closing)

    assert list(run.consumed_at) == list(ref["consumed_at"])
    assert list(run.expired_at) == list(ref["expired_at"])
    log = consumed_log(run, bars, step=1.0)
    levels = pending_levels(run, bars, step=1.0)
    closed, expired = outflows(run, bars)
    assert log["volume"].sum() == pytest.approx(ref["consumed"].sum(), rel=1e-9, abs=1e-9)
    assert closed == pytest.approx(ref["closed_per_bar"], rel=1e-9, abs=1e-9)
    assert expired == pytest.approx(ref["expired_per_bar"], rel=1e-9, abs=1e-9)
    assert levels["volume"].sum() == pytest.approx(ref["held"][:, -1].sum(), rel=1e-9, abs=1e-9)
    # conservation: opened = closed + expired + consumed + pending
    total = log["volume"].sum() + closed.sum() + expired.sum() + levels["volume"].sum()
    assert total == pytest.approx(cohorts.notional.sum(), rel=1e-9)
    assert (log["volume"] >= 0).all() and (levels["volume"] >= 0).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 50), st.integers(1, 25), st.sampled_from([2.0, 500]))
def test_each_snapshot_holds_what_is_pending_at_that_moment(seed, n, q, log_span):
    bars, cohorts, closing = random_case(seed, n, q)
    run = run_ledger(cohorts, bars, closing)
    ref = follow(cohorts, bars, closing)
    times = T0 + np.arange(0, n + 1, 3, dtype=np.int64) * BAR_MS
    # a short span forces many blocks of columns: the rebasing between blocks is exact
    with patch("models_engine.ledger.LOG_SPAN", log_span):
        heat = pending_snapshots(run, bars, times, step=1.0)

    assert (heat["volume"] > 0).all() and (heat["density"] > 0).all()
    for t in times:
        done = int((t - T0) // BAR_MS)  # bars finished before t
        expected = ref["held"][:, done - 1].sum() if done > 0 else 0.0
        got = heat.loc[heat["time_bucket"] == t, "volume"].sum()
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_a_cohort_decays_with_its_half_life_and_the_rest_expires_at_the_floor():
    bars = build_bars(market([100.0] * 40, oi=[1000] * 41))
    half_life = 4  # bars
    cohort = Cohorts(
        np.array([0]),
        np.array([True]),
        np.array([10.0]),
        np.array([100.0]),
        np.array([90.0]),
        np.array([1000.0]),
        np.array([np.log(2) / half_life]),
    )
    run = run_ledger(cohort, bars)
    closed, expired = outflows(run, bars)
    # ln(1e6) / ln2 * 4 = 79.7 bars to the floor: past the last bar (39), so still pending
    assert run.expired_at[0] == 40
    assert pending_levels(run, bars, 1.0)["volume"].sum() == pytest.approx(1000 * 0.5**9.75)
    assert expired.sum() == pytest.approx(1000 * (1 - 0.5**9.75))
    assert closed.sum() == 0
    short_lived = Cohorts(
        *(getattr(cohort, f) for f in ("bar", "is_long", "leverage", "entry")),
        cohort.level,
        cohort.notional,
        np.array([1.0]),
    )
    run = run_ledger(short_lived, bars)
    assert run.expired_at[0] == 14  # exp(-14) < 1e-6 <= exp(-13)
    assert pending_levels(run, bars, 1.0).empty


def test_closes_lean_to_the_side_taker_flow_says_was_closing():
    # OI falls 10 % in bar 1 while takers only sell: longs were closing
    bars = build_bars(
        market([100, 100, 100], oi=[1000, 1000, 900, 900], taker_buy_share=[0.5, 0.0, 0.5])
    )
    cohorts = Cohorts(
        np.array([0, 0]),
        np.array([True, False]),
        np.array([10.0, 10.0]),
        np.array([100.0, 100.0]),
        np.array([90.0, 110.0]),
        np.array([100.0, 100.0]),
    )
    held = pending_levels(run_ledger(cohorts, bars, Closing(lean=1.0)), bars, 10.0)
    by_side = held.set_index("side")["volume"]
    assert by_side["long"] == pytest.approx(80.0)  # twice the mean fraction
    assert by_side["short"] == pytest.approx(100.0)
    ignored = pending_levels(run_ledger(cohorts, bars, Closing(share=0.0)), bars, 10.0)
    assert ignored["volume"].sum() == pytest.approx(200.0)


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
    assert outflows(run, bars)[0] == pytest.approx([0.0, 80.0, 0.0])


def test_no_bars_or_no_cohorts_give_empty_frames_not_errors():
    bars = build_bars(market([100.0], oi=[1.0, 1.0]))
    none = Cohorts(*(np.zeros(0, dtype=t) for t in (int, bool, float, float, float, float)))
    run = run_ledger(none, bars)
    assert consumed_log(run, bars, 1.0).empty
    assert pending_levels(run, bars, 1.0).empty
    assert pending_snapshots(run, bars, np.array([T0 + BAR_MS]), 1.0).empty
    assert isinstance(pending_snapshots(run, bars, np.array([], dtype=np.int64), 1.0), pd.DataFrame)
