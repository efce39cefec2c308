"""The book: every position a model believes was opened, before a calibration says how much.

A model decides *where* positions were opened (bar, side, entry) and so where each leverage
tier would be liquidated (level, and the bar whose price first reaches it). How much each
opened, how long it is held and how closes fall on it is the calibration's. So a model builds
its book once, with one row per (opening, tier) holding the opening features behind it, and
the book is valued under a calibration: the rates turn features into notional, the tier's
half-life into a hazard, the closing into the keep factors.

The heatmap at time t is the book valued under the calibration in force at t, for every
position, however old: the map a trader sees at t rests on the best estimate available at t,
and on nothing after it. Calibrations are refitted daily, so the heatmap is computed one
calibration at a time over the snapshots it is in force for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .calibration import Parameters, Schedule
from .ledger import Closing, Cohorts, LedgerRun, expiry_age, first_crossing, side_keep_logs, sides
from .market import Bars
from .snapshots import empty_snapshots, snapshot_cells, snapshot_frame
from .units import HOUR_MS

# Snapshot columns valued together: bounds the dense (bucket × snapshot) grids of a long
# window valued under one calibration.
MAX_COLUMNS = 256


@dataclass(frozen=True)
class Book:
    """Rows (opening, tier), sorted by opening bar."""

    bar: np.ndarray  # int
    is_long: np.ndarray  # bool
    tier: np.ndarray  # int, index into tiers
    entry: np.ndarray  # USDT per coin
    level: np.ndarray  # liquidation price, USDT per coin
    features: np.ndarray  # (rows, FEATURES): USDT of each opening feature behind the row
    consumed_at: np.ndarray  # bar whose price first reaches the level; len(bars) if none
    tiers: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.bar)

    @classmethod
    def build(cls, bar, is_long, tier, entry, level, features, bars: Bars, tiers) -> Book:
        """A book, with each row's first crossing (never in its opening bar)."""
        order = np.argsort(bar, kind="stable")
        bar, is_long, tier = bar[order], is_long[order], tier[order]
        entry, level, features = entry[order], level[order], features[order]
        consumed = np.full(len(bar), len(bars), dtype=np.int64)
        if is_long.any():
            consumed[is_long] = first_crossing(bars.low, bar[is_long] + 1, level[is_long])
        if (~is_long).any():
            # a short is consumed when the high reaches its level: the same search on −high
            consumed[~is_long] = first_crossing(-bars.high, bar[~is_long] + 1, -level[~is_long])
        return cls(bar.astype(np.int64), is_long, tier, entry, level, features, consumed, tiers)


class Valuation:
    """Values a book under calibrations, one per call, caching each closing's keep factors."""

    def __init__(self, book: Book, bars: Bars, schedule: Schedule):
        self.book, self.bars, self.schedule = book, bars, schedule
        self._keep: dict[tuple, np.ndarray] = {}
        # each tier's rows, in opening order: a tier's rows older than its own expiry age are
        # skipped without being looked at
        self._tier_rows = [np.nonzero(book.tier == k)[0] for k in range(len(book.tiers))]
        self._tier_bars = [book.bar[rows] for rows in self._tier_rows]
        self._side = (~book.is_long).astype(np.int64)
        self._leverage = np.asarray(book.tiers, dtype=float)[book.tier]

    def keep_cum(self, params: Parameters) -> np.ndarray:
        key = (params.closing_share, params.closing_lean)
        if key not in self._keep:
            closing = Closing(*key)
            self._keep[key] = np.cumsum(side_keep_logs(self.bars, closing), axis=1)
        return self._keep[key]

    def run(self, params: Parameters, index: np.ndarray | None = None) -> LedgerRun:
        """The ledger of the rows ``index`` (all if None) under ``params``."""
        b, n = self.book, len(self.bars)
        index = np.arange(len(b)) if index is None else index
        tier, side = b.tier[index], self._side[index]
        per_row = params.rates.transpose(0, 2, 1).reshape(-1, params.rates.shape[1])
        notional = np.einsum("rf,rf->r", b.features[index], per_row[side * len(b.tiers) + tier])
        per_tier = self.hazards(params)
        hazard = per_tier[tier]
        bar, consumed_at = b.bar[index], b.consumed_at[index]
        cohorts = Cohorts(
            bar,
            b.is_long[index],
            self._leverage[index],
            b.entry[index],
            b.level[index],
            notional,
            hazard,
            tier,  # one hazard per tier under one calibration: the tiers are the classes
        )
        expires = bar + expiry_age(per_tier)[tier]
        # consumption comes first in a bar: a level reached in the expiry bar is a liquidation
        expired = np.where(expires < consumed_at, np.minimum(expires, n), n)
        consumed = np.where(expires < consumed_at, n, consumed_at)
        return LedgerRun(cohorts, consumed, expired, self.keep_cum(params))

    def final(self) -> LedgerRun:
        """Every row under the calibration in force at the end of the last bar."""
        end = self.bars.open_time[-1] + self.bars.bar_ms if len(self.bars) else 0
        return self.run(self.schedule.at(int(end)))

    def heatmaps(
        self, times: np.ndarray, step: float, tier_multiple: int
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Pending notional at each snapshot time, each under the calibration in force then:
        summed over tiers on ``step`` buckets, and per tier on ``step · tier_multiple``."""
        bars, book = self.bars, self.book
        times = np.asarray(times, dtype=np.int64)
        if len(bars) == 0 or len(times) == 0 or len(book) == 0:
            return empty_snapshots(), empty_snapshots()
        done = np.searchsorted(bars.open_time + bars.bar_ms, times, side="right")
        which = self.schedule.in_force(times)
        # one pass per calibration and block of columns, never per bar or row
        starts = np.nonzero(np.r_[True, which[1:] != which[:-1]])[0]
        starts = np.unique(np.r_[starts, np.arange(0, len(times), MAX_COLUMNS)])
        summed, tiered = [], []
        for a, b in zip(starts, np.r_[starts[1:], len(times)], strict=True):
            params = self.schedule.all()[which[a]]
            index = self._candidates(params, done[a], done[b - 1])
            if len(index):
                run = self.run(params, index)
                cells = snapshot_cells(run, bars, times[a:b], step, tier_multiple)
                summed.append(cells[0])
                tiered.append(cells[1])
        return snapshot_frame(summed), snapshot_frame(tiered)

    def _candidates(self, params: Parameters, first: int, last: int) -> np.ndarray:
        """Rows that may be pending at a snapshot whose finished bars are ``first`` .. ``last``:
        opened before ``last``, not consumed before ``first``, not older than their tier's
        expiry age under ``params``."""
        ages = expiry_age(self.hazards(params))
        parts = []
        for k, rows in enumerate(self._tier_rows):
            opened = self._tier_bars[k]
            lo = np.searchsorted(opened, first - 1 - ages[k], side="left")
            hi = np.searchsorted(opened, last, side="left")
            parts.append(rows[lo:hi])
        index = np.concatenate(parts)
        return index[self.book.consumed_at[index] >= first]

    def hazards(self, params: Parameters) -> np.ndarray:
        """Per tier, per bar."""
        return np.log(2) * self.bars.bar_ms / (params.half_lives() * HOUR_MS)

    def consumed(self, step: float, since: int | None = None) -> pd.DataFrame:
        """Notional consumed per bar, bucket and side (from the bar opening at ``since`` on),
        each bar under the calibration in force at its open (time ms, price_bucket, side,
        volume USDT). Every consumed row at once: the calibrations' parameters are gathered
        per row, not looped over."""
        b, n = self.book, len(self.bars)
        first = 0 if since is None else int(np.searchsorted(self.bars.open_time, since))
        hit = np.nonzero((b.consumed_at < n) & (b.consumed_at >= first))[0]
        at = b.consumed_at[hit]
        which = self.schedule.in_force(self.bars.open_time[at])
        every = self.schedule.all()
        tiers, side = b.tier[hit], self._side[hit]
        rates = np.stack([p.rates.transpose(0, 2, 1).reshape(-1, p.rates.shape[1]) for p in every])
        notional = np.einsum("rf,rf->r", b.features[hit], rates[which, side * len(b.tiers) + tiers])
        hazard = np.stack([self.hazards(p) for p in every])[which, tiers]
        age = at - b.bar[hit]
        # a row that expired before its level was reached was not consumed
        alive = age <= expiry_age(hazard)
        # the closing in force at each row's bar: a few distinct ones, never a loop per row
        closing_of = [(p.closing_share, p.closing_lean) for p in every]
        distinct = sorted(set(closing_of))
        row_closing = np.array([distinct.index(c) for c in closing_of])[which]
        log_kept = np.zeros(len(hit))
        for k in range(len(distinct)):
            rows = np.nonzero(row_closing == k)[0]
            keep = self.keep_cum(every[which[rows[0]]]) if len(rows) else None
            if keep is not None:
                opened = b.bar[hit[rows]]
                log_kept[rows] = keep[side[rows], at[rows] - 1] - keep[side[rows], opened]
        held = notional * np.exp(log_kept - hazard * (age - 1)) * alive
        frame = pd.DataFrame(
            {
                "time": self.bars.open_time[at],
                "price_bucket": np.floor(b.level[hit] / step) * step,
                "side": sides(b.is_long[hit]),
                "volume": held,
            }
        )[alive]
        return frame.groupby(["time", "price_bucket", "side"], as_index=False, observed=True)[
            "volume"
        ].sum()
