"""Incremental calculate: the ledger's state after a run, and its continuation on new bars only.

A full run values every row of the book however old. Most rows are gone for good: consumed
(a level the price reached is never pending again, whatever the calibration) or older than
their tier's expiry age under every calibration that can still be in force. A ``LedgerState``
keeps only the others, with the bars they were opened in (their keep factors under any
closing are sums over those bars), and the totals of the rows that left, under each
calibration that may still be the final one. ``advance`` continues a state on the bars that
follow it: the new rows join the kept ones, the kept rows' first crossing is searched in the
new bars, and the book of the retained window is valued exactly as a full run values it. So
a continuation gives what a full recompute gives, for the snapshots and bars after the
checkpoint, at a cost set by the pending positions, not by the length of history.

A model keeps the state at the start of the current UTC day (``LedgerModel.run``): an update
advances it over the days completed since and values today's bars from it. A model whose rows
depend on their whole day (trade clusters) is then continued as exactly as the others.

A state is tied to its schedule and price step: a new calibration (``calibrate``) or another
step needs a full recompute, which ``advance`` asks for by raising ``StaleState``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from .book import Book, Valuation
from .calibration import Schedule
from .ledger import expiry_age, first_crossing, outflows, pending_levels
from .market import Bars, slice_bars

# Bars kept beyond the longest expiry age: a row's survival is still evaluated in the bar
# after it, and a level may be reached in its expiry bar.
RETAIN_SLACK = 2
TOTALS = ("opened", "closed", "expired", "consumed")


class StaleState(ValueError):
    """The state cannot continue on these bars or this schedule: run a full recompute."""


@dataclass(frozen=True)
class LedgerState:
    """Everything the next bars need of the past.

    bars: the retained window, the bars the kept rows were opened in (their ``bar`` indexes it);
    book: the kept rows, none consumed yet (``consumed_at`` = len(bars)), with their features;
    departed: per index into ``schedule.all()``, the totals (``TOTALS``, USDT) of the rows that
    left, valued under that calibration (those that can still be in force at a later end);
    counts: bars seen, with open interest, traded, with mark price, with trades (for the
    confidence);
    end: ms, end of the last bar.
    """

    bars: Bars
    book: Book
    schedule: Schedule
    price_step: float
    tier_step_multiple: int
    time_bucket_ms: int
    departed: dict[int, np.ndarray]
    counts: np.ndarray  # int (5,)
    end: int

    @classmethod
    def empty(cls, bars: Bars, schedule: Schedule, step: float, multiple: int, bucket: int):
        """The state before any bar (``bars``: an empty grid of the bar length)."""
        return cls(
            bars,
            empty_book(schedule.tiers),
            schedule,
            step,
            multiple,
            bucket,
            {},
            np.zeros(5, np.int64),
            0,
        )

    @property
    def seen(self) -> int:
        """Bars processed since the first run."""
        return int(self.counts[0])

    def nbytes(self) -> int:
        """Memory held by the state's arrays (bytes)."""
        arrays = [getattr(self.bars, f.name) for f in fields(Bars) if f.name != "bar_ms"]
        arrays += [getattr(self.book, f.name) for f in fields(Book) if f.name != "tiers"]
        return int(sum(a.nbytes for a in arrays) + 32 * len(self.departed))


@dataclass(frozen=True)
class Advance:
    """What a continuation says about its new bars (see ``ModelResult``), and the next state."""

    window: Bars  # the retained bars and the new ones
    final: object  # LedgerRun of the window under the calibration in force at the end
    levels: pd.DataFrame
    heatmap: pd.DataFrame
    tier_heatmap: pd.DataFrame
    predicted: pd.DataFrame
    snapshot_times: np.ndarray
    totals: dict[str, float]
    state: LedgerState


def empty_book(tiers: tuple[float, ...]) -> Book:
    z, i = np.zeros(0), np.zeros(0, dtype=np.int64)
    return Book(i, z.astype(bool), i, z, z, np.zeros((0, 2)), i, tiers)


def concat_bars(a: Bars, b: Bars) -> Bars:
    """Bars ``a`` followed by ``b`` (of the same length)."""
    return Bars(
        *(
            a.bar_ms
            if f.name == "bar_ms"
            else np.concatenate([getattr(a, f.name), getattr(b, f.name)])
            for f in fields(Bars)
        )
    )


def new_bars(state: LedgerState, bars: Bars) -> Bars:
    """The bars of ``bars`` after the state's end, which must follow it without a gap."""
    if state.seen == 0:
        return bars
    first = int(np.searchsorted(bars.open_time, state.end))
    if len(bars) and bars.open_time[0] > state.end:
        raise StaleState("the market starts after the checkpoint: bars between are missing")
    return slice_bars(bars, first, len(bars))


def advance(
    state: LedgerState, bars: Bars, rows: Book, counts: np.ndarray, since: int | None = None
) -> Advance:
    """Continue ``state`` on ``bars`` (the bars right after it) whose openings are ``rows``
    (a book over ``bars``: ``rows.bar`` indexes them) and whose ``counts`` (the model's
    ``bar_counts``) the confidence adds up.

    Snapshots are taken at the time buckets after the state's end (from ``since`` on when the
    state is empty); predicted liquidations for the new bars.
    """
    schedule, step = state.schedule, state.price_step
    n_old = len(state.bars)
    window = concat_bars(state.bars, bars)
    n = len(window)
    book = _joined(state.book, rows, n_old, window)
    valuation = Valuation(book, window, schedule)
    end = int(window.open_time[-1] + window.bar_ms) if n else state.end
    bucket = state.time_bucket_ms
    if state.seen == 0:
        first = int(window.open_time[0] + window.bar_ms) if n else 0
        times = np.arange(-(-first // bucket) * bucket, end + 1, bucket, dtype=np.int64)
        since = first - window.bar_ms if since is None else since
        times = times[times >= since]
    else:
        times = np.arange((state.end // bucket + 1) * bucket, end + 1, bucket, dtype=np.int64)
    heatmap, tier_heatmap = valuation.heatmaps(times, step, state.tier_step_multiple)
    if len(bars):
        predicted = valuation.consumed(step, max(int(bars.open_time[0]), since or 0))
    else:
        predicted = pd.DataFrame(columns=["time", "price_bucket", "side", "volume"])
    final = valuation.final()
    levels = pending_levels(final, window, step)
    final_index = int(schedule.in_force(np.array([end]))[0])
    totals = _totals(valuation, final_index, np.arange(len(book))) if n else np.zeros(4)
    totals = totals + state.departed.get(final_index, 0.0)
    summary = dict(zip(TOTALS, map(float, totals), strict=True))
    summary["pending"] = float(levels["volume"].sum())
    counts = state.counts + counts
    state = _next_state(state, valuation, final_index, end, counts)
    return Advance(window, final, levels, heatmap, tier_heatmap, predicted, times, summary, state)


def _joined(kept: Book, rows: Book, n_old: int, window: Bars) -> Book:
    """The kept rows and the new ones (moved onto the window), each with its first crossing
    after the checkpoint (a kept row's level was not reached before it)."""
    bar = np.r_[kept.bar, rows.bar + n_old].astype(np.int64)
    is_long = np.r_[kept.is_long, rows.is_long].astype(bool)
    level = np.r_[kept.level, rows.level]
    start = np.maximum(bar + 1, n_old)
    consumed = np.full(len(bar), len(window), dtype=np.int64)
    if is_long.any():
        consumed[is_long] = first_crossing(window.low, start[is_long], level[is_long])
    if (~is_long).any():
        # a short is consumed when the high reaches its level: the same search on −high
        consumed[~is_long] = first_crossing(-window.high, start[~is_long], -level[~is_long])
    return Book(
        bar,
        is_long,
        np.r_[kept.tier, rows.tier].astype(np.int64),
        np.r_[kept.entry, rows.entry],
        level,
        np.concatenate([kept.features, rows.features]),
        consumed,
        kept.tiers,
    )


def _totals(valuation: Valuation, which: int, index: np.ndarray) -> np.ndarray:
    """Opened, closed, expired and consumed notional (USDT) of rows ``index`` over the window,
    under calibration ``which``."""
    if len(index) == 0:
        return np.zeros(4)
    run = valuation.run(valuation.schedule.all()[which], index)
    closed, expired = outflows(run, valuation.bars)
    hit = np.nonzero(run.consumed_at < len(valuation.bars))[0]
    consumed = run.cohorts.notional[hit] * np.exp(run.log_held(hit, run.consumed_at[hit] - 1))
    return np.array([run.cohorts.notional.sum(), closed.sum(), expired.sum(), consumed.sum()])


def _next_state(
    state: LedgerState, valuation: Valuation, final_index: int, end: int, counts: np.ndarray
) -> LedgerState:
    """Drop the rows no later end can see (consumed, or past the expiry age of every
    calibration that may still be in force) and the bars before the oldest kept row; carry
    the dropped rows' totals under each of those calibrations."""
    book, window, schedule = valuation.book, valuation.bars, valuation.schedule
    n = len(window)
    candidates = range(final_index, len(schedule.all()))
    oldest = max(int(expiry_age(valuation.hazards(schedule.all()[k])).max()) for k in candidates)
    start = max(0, n - oldest - RETAIN_SLACK)
    keep = (book.consumed_at >= n) & (book.bar >= start)
    gone = np.nonzero(~keep)[0]
    departed = {
        k: state.departed.get(k, np.zeros(4)) + _totals(valuation, k, gone) for k in candidates
    }
    kept = np.nonzero(keep)[0]
    start = int(book.bar[kept].min()) if len(kept) else n
    rows = Book(
        book.bar[kept] - start,
        book.is_long[kept],
        book.tier[kept],
        book.entry[kept],
        book.level[kept],
        book.features[kept],
        np.full(len(kept), n - start, dtype=np.int64),
        book.tiers,
    )
    return LedgerState(
        slice_bars(window, start, n),
        rows,
        schedule,
        state.price_step,
        state.tier_step_multiple,
        state.time_bucket_ms,
        departed,
        counts,
        end,
    )
