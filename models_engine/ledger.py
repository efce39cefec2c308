"""The position ledger: cohorts of positions opened, closed with open interest, and consumed
when the price path reaches their liquidation price.

A *cohort* is the notional opened in one bar, on one side, at one leverage tier. It is
consumed (liquidated) in the first bar after its opening whose low (long) or high (short)
reaches its level. Between opening and consumption it shrinks with every bar in which open
interest falls: each open position closes the same share, so a cohort opened in bar j holds
``notional · exp(L[m] − L[j])`` after bar m, where ``L`` is the running sum of the bars'
``keep_log``. That shared factor is what lets everything below run without a loop over
cohorts or bars: first crossings by binary lifting over a sparse min table, snapshots by
difference arrays over time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .market import Bars


@dataclass(frozen=True)
class Cohorts:
    """Positions opened together, one entry per (bar, side, tier)."""

    bar: np.ndarray  # int, the bar they were opened in
    is_long: np.ndarray  # bool
    leverage: np.ndarray  # float, e.g. 10.0
    entry: np.ndarray  # USDT per coin
    level: np.ndarray  # liquidation price, USDT per coin
    notional: np.ndarray  # USDT at opening

    def __len__(self) -> int:
        return len(self.bar)

    def select(self, mask: np.ndarray) -> Cohorts:
        return Cohorts(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))

    def with_level(self, level: np.ndarray) -> Cohorts:
        return Cohorts(self.bar, self.is_long, self.leverage, self.entry, level, self.notional)


def first_crossing(values: np.ndarray, start: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """For each query, the first index i >= start with ``values[i] <= threshold``
    (``len(values)`` if none).

    Binary lifting over a sparse table of running minima: O((n + q) log n), no Python loop
    over queries. Example: values [5, 3, 1], start [0, 2], threshold [3, 0] -> [1, 3].
    """
    n = len(values)
    start = np.asarray(start, dtype=np.int64)
    threshold = np.asarray(threshold, dtype=float)
    if n == 0:
        return np.zeros_like(start)
    table = [np.asarray(values, dtype=float)]
    while (1 << len(table)) <= n:
        half = 1 << (len(table) - 1)
        prev = table[-1]
        table.append(np.minimum(prev[:-half], prev[half:]))
    pos = np.minimum(start, n)
    for k in range(len(table) - 1, -1, -1):
        width = 1 << k
        fits = pos + width <= n
        block_min = table[k][np.where(fits, pos, 0)]
        pos = pos + np.where(fits & (block_min > threshold), width, 0)
    return pos


@dataclass(frozen=True)
class LedgerRun:
    cohorts: Cohorts
    consumed_at: np.ndarray  # bar index of consumption; len(bars) = still pending at the end
    log_keep_cum: np.ndarray  # L[m]: running sum of keep_log through bar m


def run_ledger(cohorts: Cohorts, bars: Bars) -> LedgerRun:
    """Find the bar in which each cohort is consumed (never in its own opening bar)."""
    n = len(bars)
    start = cohorts.bar + 1
    consumed = np.full(len(cohorts), n, dtype=np.int64)
    longs = cohorts.is_long
    if longs.any():
        consumed[longs] = first_crossing(bars.low, start[longs], cohorts.level[longs])
    if (~longs).any():
        # a short is consumed when the high reaches its level: the same search on −high
        consumed[~longs] = first_crossing(-bars.high, start[~longs], -cohorts.level[~longs])
    return LedgerRun(cohorts, consumed, np.cumsum(bars.keep_log))


def _held(run: LedgerRun, mask: np.ndarray, after_bar: np.ndarray) -> np.ndarray:
    """Notional the selected cohorts hold after bar ``after_bar`` (before any consumption)."""
    L = run.log_keep_cum
    return run.cohorts.notional[mask] * np.exp(L[after_bar] - L[run.cohorts.bar[mask]])


def sides(is_long: np.ndarray) -> pd.Categorical:
    """ "long"/"short" labels; categorical, since millions of strings cost more than the math."""
    return pd.Categorical.from_codes(
        (~np.asarray(is_long, bool)).astype(np.int8), ["long", "short"]
    )


def bucket_of(price: np.ndarray, step: float) -> np.ndarray:
    return np.floor(np.asarray(price) / step) * step


def consumed_log(run: LedgerRun, bars: Bars, step: float) -> pd.DataFrame:
    """The model's predicted liquidations: notional consumed per bar, price bucket and side.

    Columns: time (bar open, ms), price_bucket, side, volume (USDT).
    """
    n = len(bars)
    hit = run.consumed_at < n
    if not hit.any():
        return pd.DataFrame(
            {"time": pd.Series(dtype=np.int64), "price_bucket": [], "side": [], "volume": []}
        )
    at = run.consumed_at[hit]
    frame = pd.DataFrame(
        {
            "time": bars.open_time[at],
            "price_bucket": bucket_of(run.cohorts.level[hit], step),
            "side": sides(run.cohorts.is_long[hit]),
            "volume": _held(run, hit, at - 1),
        }
    )
    return frame.groupby(["time", "price_bucket", "side"], as_index=False)["volume"].sum()


def closed_per_bar(run: LedgerRun, bars: Bars) -> np.ndarray:
    """Notional closed by falling open interest in each bar (USDT)."""
    n = len(bars)
    if n == 0 or len(run.cohorts) == 0:
        return np.zeros(n)
    L = run.log_keep_cum
    weight = run.cohorts.notional * np.exp(-L[run.cohorts.bar])
    # alive for closing in bars j+1 .. c-1: a cohort consumed in bar c is gone before it closes
    alive = np.bincount(run.cohorts.bar + 1, weight, minlength=n + 1)[: n + 1]
    alive -= np.bincount(np.maximum(run.consumed_at, run.cohorts.bar + 1), weight, minlength=n + 1)[
        : n + 1
    ]
    alive = np.cumsum(alive)[:n]
    prev_L = np.concatenate([[0.0], L[:-1]])
    return np.maximum(alive * np.exp(prev_L), 0) * (1 - np.exp(bars.keep_log))


def pending_levels(run: LedgerRun, bars: Bars, step: float) -> pd.DataFrame:
    """What is still pending after the last bar, per side, leverage tier and price bucket.

    Columns: price_level (notional-weighted mean level in the bucket), price_bucket, volume
    (USDT), side, leverage.
    """
    n = len(bars)
    alive = run.consumed_at >= n
    if n == 0 or not alive.any():
        return pd.DataFrame(columns=["price_level", "price_bucket", "volume", "side", "leverage"])
    c = run.cohorts.select(alive)
    held = _held(run, alive, n - 1)
    frame = pd.DataFrame(
        {
            "price_bucket": bucket_of(c.level, step),
            "side": sides(c.is_long),
            "leverage": c.leverage,
            "volume": held,
            "weighted": held * c.level,
        }
    )
    frame = frame.groupby(["side", "leverage", "price_bucket"], as_index=False)[
        ["volume", "weighted"]
    ].sum()
    frame = frame[frame["volume"] > 0]
    frame["price_level"] = frame["weighted"] / frame["volume"]
    return frame.drop(columns="weighted")[
        ["price_level", "price_bucket", "volume", "side", "leverage"]
    ].reset_index(drop=True)


def pending_snapshots(
    run: LedgerRun,
    bars: Bars,
    snapshot_times: np.ndarray,
    step: float,
    by_leverage: bool = False,
) -> pd.DataFrame:
    """The pending heatmap: notional still pending at each snapshot time, per price bucket and
    side (and leverage tier if ``by_leverage``), from bars that closed before the snapshot only.

    Columns: time_bucket (ms), price_bucket, side, leverage (NaN unless by tier), volume
    (USDT), density (cohorts pending).
    """
    n, K = len(bars), len(snapshot_times)
    if n == 0 or K == 0 or len(run.cohorts) == 0:
        return empty_snapshots()
    # bars finished before each snapshot: those that opened at least one bar earlier
    done = np.searchsorted(bars.open_time + bars.bar_ms, snapshot_times, side="right")
    c = run.cohorts
    birth = np.searchsorted(done, c.bar, side="right")  # first snapshot with done > bar
    death = np.searchsorted(done, run.consumed_at, side="right")  # first with done > consumed
    L = run.log_keep_cum
    scale = np.where(done > 0, np.exp(L[np.maximum(done - 1, 0)]), 0.0)
    times = np.asarray(snapshot_times, dtype=np.int64)
    frames = []
    alive = birth < death
    # one tier at a time keeps the dense (bucket × snapshot) arrays a tier's price span wide
    for tier in np.unique(c.leverage) if by_leverage else [np.nan]:
        live = alive & (c.leverage == tier) if by_leverage else alive
        if live.any():
            frame = _tier_snapshots(c, live, birth, death, L, scale, times, step)
            frames.append(frame.assign(leverage=float(tier)))
    if not frames:
        return empty_snapshots()
    return pd.concat(frames, ignore_index=True)[SNAPSHOT_COLUMNS]


SNAPSHOT_COLUMNS = ["time_bucket", "price_bucket", "side", "leverage", "volume", "density"]


def empty_snapshots() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype=float) for name in SNAPSHOT_COLUMNS})
    return frame.astype({"time_bucket": np.int64, "side": object, "density": np.int64})


def _tier_snapshots(c, live, birth, death, L, scale, times, step) -> pd.DataFrame:
    K = len(times)
    bucket = np.floor(c.level[live] / step).astype(np.int64)
    low_bucket = bucket.min()
    width = int(bucket.max() - low_bucket + 1)
    cell = (bucket - low_bucket) * 2 + (~c.is_long[live]).astype(np.int64)
    weight = c.notional[live] * np.exp(-L[c.bar[live]])
    size = width * 2 * (K + 1)
    start, stop = cell * (K + 1) + birth[live], cell * (K + 1) + death[live]
    volume = np.bincount(start, weight, minlength=size) - np.bincount(stop, weight, minlength=size)
    density = np.bincount(start, minlength=size) - np.bincount(stop, minlength=size)
    volume = np.cumsum(volume.reshape(width * 2, K + 1), axis=1)[:, :K] * scale[None, :]
    density = np.cumsum(density.reshape(width * 2, K + 1), axis=1)[:, :K]
    cells, at = np.nonzero(density > 0)
    vol = volume[cells, at]
    keep = vol > 0
    cells, at, vol = cells[keep], at[keep], vol[keep]
    return pd.DataFrame(
        {
            "time_bucket": times[at],
            "price_bucket": (cells // 2 + low_bucket) * step,
            "side": sides(cells % 2 == 0),
            "volume": vol,
            "density": density[cells, at].astype(np.int64),
        }
    )
