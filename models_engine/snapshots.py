"""The pending heatmap: what the ledger's positions hold at each snapshot time, per price
bucket and side (and per leverage tier), as sums over time on dense (bucket × snapshot) grids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .ledger import LedgerRun, decay_curves, decayed_sums, sides
from .market import Bars


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
    if by_leverage:
        return snapshot_frame([snapshot_cells(run, bars, snapshot_times, step, 1)[1]])
    return snapshot_frame([snapshot_cells(run, bars, snapshot_times, step, None)[0]])


SNAPSHOT_COLUMNS = ["time_bucket", "price_bucket", "side", "leverage", "volume", "density"]


def empty_snapshots() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype=float) for name in SNAPSHOT_COLUMNS})
    return frame.astype({"time_bucket": np.int64, "side": object, "density": np.int64})


def snapshot_frame(parts: list[dict[str, np.ndarray] | None]) -> pd.DataFrame:
    """One snapshot frame from cell arrays (``snapshot_cells``' output, given in time order:
    the frame is sorted by time_bucket)."""
    parts = [p for p in parts if p is not None and len(p["volume"])]
    if not parts:
        return empty_snapshots()
    cells = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return pd.DataFrame(
        {
            "time_bucket": cells["time_bucket"],
            "price_bucket": cells["price_bucket"],
            "side": sides(cells["is_long"]),
            "leverage": cells["leverage"],
            "volume": cells["volume"],
            "density": cells["density"],
        }
    )


def snapshot_cells(
    run: LedgerRun, bars: Bars, snapshot_times: np.ndarray, step: float, tier_multiple: int | None
) -> tuple[dict | None, dict | None]:
    """The pending heatmap as arrays of non-empty cells: summed over tiers on ``step``
    buckets, and (if ``tier_multiple``) per tier on ``step · tier_multiple`` buckets.

    Both come from one dense (bucket × side × snapshot) grid per class of cohorts that decay
    alike (a tier and its hazard), each only as wide as its own levels, all summed in one pass.
    """
    n, K = len(bars), len(snapshot_times)
    if n == 0 or K == 0 or len(run.cohorts) == 0:
        return None, None
    times = np.asarray(snapshot_times, dtype=np.int64)
    # bars finished before each snapshot: those that opened at least one bar earlier
    done = np.searchsorted(bars.open_time + bars.bar_ms, times, side="right")
    c = run.cohorts
    birth = np.searchsorted(done, c.bar, side="right")  # first snapshot with done > bar
    death = np.searchsorted(done, run.ended_at, side="right")  # first with done > ended
    index = np.nonzero(birth < death)[0]
    if len(index) == 0:
        return None, None
    group = None if c.group is None else c.group[index]
    classes, cls = _classes(c.leverage[index], c.hazard[index], group)
    m = len(classes)
    bucket = np.floor(c.level[index] / step).astype(np.int64)
    low = np.full(m, np.iinfo(np.int64).max)
    high = np.full(m, np.iinfo(np.int64).min)
    np.minimum.at(low, cls, bucket)
    np.maximum.at(high, cls, bucket)
    width = high - low + 1
    offset = np.r_[0, np.cumsum(2 * width)[:-1]]
    side = (~c.is_long[index]).astype(np.int64)
    row = offset[cls] + (bucket - low[cls]) * 2 + side
    n_rows = int(2 * width.sum())
    row_group = np.repeat(np.arange(m), 2 * width) * 2 + np.tile([0, 1], int(width.sum()))
    at_bar = np.maximum(done - 1, 0)  # a snapshot's value is the one after its last bar
    curve = np.concatenate([decay_curves(run, hazard, at_bar) for hazard in classes[:, 1]])
    bars_of = c.bar[index]
    base = run.keep_cum[side, bars_of] - c.hazard[index] * bars_of
    volume = decayed_sums(
        row, birth[index], death[index], c.notional[index], base, cls * 2 + side, curve, row_group
    )
    size = n_rows * (K + 1)
    start, stop = row * (K + 1) + birth[index], row * (K + 1) + death[index]
    density = np.bincount(start, minlength=size) - np.bincount(stop, minlength=size)
    density = np.cumsum(density.reshape(n_rows, K + 1), axis=1)[:, :K]

    def block(grid: np.ndarray, k: int) -> np.ndarray:
        return grid[offset[k] : offset[k] + 2 * width[k]]

    summed = _sum_blocks([(low[k], block(volume, k), block(density, k)) for k in range(m)], K)
    summed_cells = _cells(*summed[1:], summed[0], times, step, np.nan)
    if tier_multiple is None:
        return summed_cells, None
    tiered = []
    for tier in np.unique(classes[:, 0]):
        of = np.nonzero(classes[:, 0] == tier)[0]
        lo, vol, dens = _sum_blocks([(low[k], block(volume, k), block(density, k)) for k in of], K)
        coarse_low, vol, dens = _coarsen(lo, vol, dens, tier_multiple)
        tiered.append(_cells(vol, dens, coarse_low, times, step * tier_multiple, tier))
    tiered = {k: np.concatenate([t[k] for t in tiered]) for k in tiered[0]}
    in_time = np.argsort(tiered["time_bucket"], kind="stable")
    return summed_cells, {k: v[in_time] for k, v in tiered.items()}


def _classes(leverage: np.ndarray, hazard: np.ndarray, group) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (leverage, hazard) pairs (rows of an array) and each cohort's pair: from
    the cohorts' group codes where given, else by hashing (sorting every cohort of every
    snapshot block would cost more than the sums)."""
    if group is not None:
        return _classes_of_groups(leverage, hazard, group)
    lev_code, levs = pd.factorize(leverage)
    haz_code, hazs = pd.factorize(hazard)
    code, pairs = pd.factorize(lev_code * len(hazs) + haz_code)
    pairs = np.asarray(pairs)
    return np.c_[np.asarray(levs)[pairs // len(hazs)], np.asarray(hazs)[pairs % len(hazs)]], code


def _classes_of_groups(leverage, hazard, group) -> tuple[np.ndarray, np.ndarray]:
    group = np.asarray(group, dtype=np.int64)
    first = np.full(int(group.max()) + 1, -1)
    first[group[::-1]] = np.arange(len(group))[::-1]  # the first cohort of each group
    present = first >= 0
    code = (np.cumsum(present) - 1)[group]
    rows = first[present]
    return np.c_[leverage[rows], hazard[rows]], code


def _sum_blocks(blocks: list[tuple[int, np.ndarray, np.ndarray]], K: int):
    """(lowest bucket, volume, density) of grids that each start at their own lowest bucket,
    added on one bucket range."""
    if len(blocks) == 1:
        return blocks[0]
    low = min(b[0] for b in blocks)
    width = max(b[0] + len(b[1]) // 2 for b in blocks) - low
    volume = np.zeros((2 * width, K))
    density = np.zeros((2 * width, K), dtype=np.int64)
    for lo, vol, dens in blocks:
        volume[2 * (lo - low) : 2 * (lo - low) + len(vol)] += vol
        density[2 * (lo - low) : 2 * (lo - low) + len(dens)] += dens
    return low, volume, density


def _coarsen(low: int, volume: np.ndarray, density: np.ndarray, multiple: int):
    """The grid on buckets ``multiple`` times wider (aligned to multiples of the wider step)."""
    coarse_low = low // multiple
    pad_before = low - coarse_low * multiple
    width = len(volume) // 2
    total = -(-(pad_before + width) // multiple) * multiple
    pad = ((2 * pad_before, 2 * (total - pad_before - width)), (0, 0))
    shape = (total // multiple, multiple, 2, volume.shape[1])
    volume = np.pad(volume, pad).reshape(shape).sum(axis=1).reshape(-1, volume.shape[1])
    density = np.pad(density, pad).reshape(shape).sum(axis=1).reshape(-1, density.shape[1])
    return coarse_low, volume, density


def _cells(volume, density, low_bucket, times, step, leverage) -> dict[str, np.ndarray]:
    """The non-empty cells of a grid, in time order (so a heatmap is sorted by time)."""
    at, cells = np.nonzero(((density > 0) & (volume > 0)).T)
    return {
        "time_bucket": times[at],
        "price_bucket": (cells // 2 + low_bucket) * step,
        "is_long": cells % 2 == 0,
        "leverage": np.full(len(cells), leverage, dtype=float),
        "volume": volume[cells, at],
        "density": density[cells, at].astype(np.int64),
    }
