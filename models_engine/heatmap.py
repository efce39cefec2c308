"""Shaping a pending heatmap for display: the grid a view is drawn on (time buckets, price
rows, the range shown first), and the matrices from the stored cells."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .units import HOUR_MS

# Display time buckets, each a multiple of the hourly snapshots the cache holds.
TIME_BUCKETS_MS = tuple(h * HOUR_MS for h in (1, 2, 3, 4, 6, 12, 24, 48, 168))
MAX_COLUMNS = 500
MAX_ROWS = 400
# Cells per matrix: keeps a view's JSON well under 1 MB whatever its span.
MAX_CELLS = 50_000
_STEP_MULTIPLES = (1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)
# Default view: the traded range widened by a tenth of the price, where 10x positions are
# liquidated; lower leverage (out to 2x at half the price) is there when asked for by range.
DISPLAY_MARGIN = 0.10
# The range a page shows first: the candles' range in the window, widened by half of it on each
# side, and at least this share of the price, so that 12 h is not a thin band in $25k.
VIEW_MARGIN = 0.5
VIEW_MIN_SPAN = 0.01
# The finest and coarsest price step a caller may ask for, as multiples of the stored step.
MAX_STEP_MULTIPLE = 1000


class ImpossibleGrid(ValueError):
    """A requested grid this data cannot give (a step finer than stored, too many cells);
    ``parameter`` names the request's field at fault."""

    def __init__(self, parameter: str, message: str):
        self.parameter = parameter
        super().__init__(message)


@dataclass(frozen=True)
class Grid:
    """The cells a heatmap view is drawn on.

    times : bucket starts, epoch ms UTC, ``bucket_ms`` apart
    price_step : float, USDT; rows are ``price_low + k * price_step`` up to ``price_high``
    view_low, view_high : float, USDT; the price range a page shows first (inside the rows)
    covers_window : false when the data holds less than the window asked for
    """

    times: np.ndarray
    bucket_ms: int
    price_step: float
    price_low: float | None
    price_high: float | None
    view_low: float | None
    view_high: float | None
    covers_window: bool

    @property
    def prices(self) -> np.ndarray:
        """Lower edges of the price rows."""
        if self.price_low is None or self.price_high is None or len(self.times) == 0:
            return np.zeros(0)
        return np.arange(self.price_low, self.price_high - 1e-9 * self.price_step, self.price_step)


def plan_grid(
    start_ms: int,
    end_ms: int,
    extent: tuple[int | None, int | None, float | None, float | None],
    traded: tuple[float, float] | None,
    base_step: float,
    *,
    price_min: float | None = None,
    price_max: float | None = None,
    price_step: float | None = None,
    max_columns: int = MAX_COLUMNS,
    max_rows: int = MAX_ROWS,
    max_cells: int = MAX_CELLS,
) -> Grid:
    """The finest grid, down to the stored resolution (hourly snapshots, ``base_step``), that
    shows the window ``start_ms``..``end_ms`` within the display limits.

    extent : (first time ms, last time ms, lowest bucket, highest bucket) of the stored cells in
        the window, or Nones when there are none
    traded : (low, high) of the candles in the window, USDT, or None without candles
    base_step : float, USDT; the stored price buckets
    price_min, price_max : float, USDT; the rows asked for (a zoom), else a range around the
        candles where 10x positions are liquidated, within the data
    price_step : float, USDT; a multiple of ``base_step``, else the finest that fits

    Raises ImpossibleGrid when an explicit step or range cannot be shown.

    A day of hourly snapshots of $100 buckets, candles between $44k and $45k:
    ``plan_grid(0, 86_400_000, (0, 86_400_000, 40_000.0, 50_000.0), (44_000, 45_000), 100.0)``
    gives 25 hourly columns, $100 rows from $39,600 to $49,500, shown first $43,500..$45,500.
    """
    t0, t1, p0, p1 = extent
    bucket = time_bucket_for(end_ms - start_ms, max_columns)
    if t0 is None or t1 is None:
        times = np.zeros(0, dtype=np.int64)
        covers = False
    else:
        times = np.arange(-(-t0 // bucket) * bucket, t1 + 1, bucket, dtype=np.int64)
        covers = t0 - start_ms <= bucket and end_ms - t1 <= bucket
    rows = max(1, min(max_rows, max_cells // max(len(times), 1)))
    if p0 is None or p1 is None:
        low, high = price_min, price_max
    else:
        data_high = p1 + base_step
        if traded is not None and all(np.isfinite(traded)):
            low, high = display_range(traded[0], traded[1], p0, data_high)
        else:
            low, high = p0, data_high
        low = price_min if price_min is not None else low
        high = price_max if price_max is not None else high
    zoomed = price_min is not None or price_max is not None
    if low is None or high is None or low >= high:
        step = base_step if price_step is None else _checked_step(price_step, base_step, 0)
        return Grid(times, bucket, step, None, None, None, None, covers)
    if zoomed or traded is None or not all(np.isfinite(traded)):
        view_low, view_high = low, high
    else:
        view_low, view_high = _fit(traded[0], traded[1], low, high)
    if price_step is None:
        step = price_step_for(view_low, view_high, base_step, rows)
    else:
        step = _checked_step(price_step, base_step, (high - low) / price_step * len(times))
    if (high - low) / step > 2 * MAX_ROWS:
        named = (
            "price_step"
            if price_step is not None
            else ("price_min" if price_min is not None else "price_max")
        )
        raise ImpossibleGrid(
            named,
            f"${step:g} gives more than {2 * MAX_ROWS} price rows for {low:g}..{high:g}: "
            "use a larger step or a narrower price range",
        )
    first = np.floor(low / step) * step
    if price_step is None and (high - first) / step > rows:
        # more rows than the budget: keep the ones around the view
        centre = (view_low + view_high) / 2
        first = max(first, np.floor((centre - rows * step / 2) / step) * step)
        high = min(high, first + rows * step)
    return Grid(
        times,
        bucket,
        float(step),
        float(first),
        float(high),
        float(max(view_low, first)),
        float(min(view_high, high)),
        covers,
    )


def _fit(traded_low: float, traded_high: float, low: float, high: float) -> tuple[float, float]:
    mid = (traded_low + traded_high) / 2
    margin = max(VIEW_MARGIN * (traded_high - traded_low), VIEW_MIN_SPAN * mid / 2)
    view = (max(low, traded_low - margin), min(high, traded_high + margin))
    return view if view[0] < view[1] else (low, high)


def _checked_step(asked: float, base: float, cells: float) -> float:
    multiple = asked / base
    if asked < base or abs(multiple - round(multiple)) > 1e-9:
        raise ImpossibleGrid("price_step", f"must be a multiple of the model's ${base:g} buckets")
    if asked > MAX_STEP_MULTIPLE * base:
        raise ImpossibleGrid("price_step", f"at most ${MAX_STEP_MULTIPLE * base:g} for this symbol")
    if cells > MAX_CELLS:
        raise ImpossibleGrid(
            "price_step",
            f"${asked:g} gives {cells:,.0f} cells, over {MAX_CELLS:,}: use a larger step, "
            "a narrower price range or a shorter period",
        )
    return float(asked)


def display_range(
    traded_low: float, traded_high: float, data_low: float, data_high: float
) -> tuple[float, float]:
    """Price range a view shows by default: the traded range ± DISPLAY_MARGIN of it, within
    the data's own range."""
    if not (np.isfinite(traded_low) and np.isfinite(traded_high)):
        return data_low, data_high
    low = max(data_low, traded_low * (1 - DISPLAY_MARGIN))
    high = min(data_high, traded_high * (1 + DISPLAY_MARGIN))
    return (low, high) if low < high else (data_low, data_high)


def time_bucket_for(span_ms: int, max_columns: int = MAX_COLUMNS) -> int:
    """The finest display bucket that shows ``span_ms`` in at most ``max_columns`` columns."""
    for bucket in TIME_BUCKETS_MS:
        if span_ms / bucket <= max_columns:
            return bucket
    return TIME_BUCKETS_MS[-1]


def price_step_for(low: float, high: float, base_step: float, max_rows: int) -> float:
    """The finest multiple of ``base_step`` that covers low..high in at most ``max_rows``."""
    span = max(high - low, base_step)
    for multiple in _STEP_MULTIPLES:
        if span / (base_step * multiple) <= max_rows:
            return base_step * multiple
    return base_step * _STEP_MULTIPLES[-1]


def to_matrices(
    cells: pd.DataFrame, times: np.ndarray, prices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(long, short) matrices, rows = ``prices`` (bucket lower edges), columns = ``times``.

    cells: time_bucket (ms), price_bucket, side, volume; cells outside the grid are dropped.
    """
    long_m = np.zeros((len(prices), len(times)))
    short_m = np.zeros((len(prices), len(times)))
    if len(cells) == 0 or len(prices) == 0 or len(times) == 0:
        return long_m, short_m
    col = np.searchsorted(times, cells["time_bucket"].to_numpy(np.int64))
    row = np.searchsorted(prices, cells["price_bucket"].to_numpy(float))
    ok = (col < len(times)) & (row < len(prices))
    ok[ok] &= (times[col[ok]] == cells["time_bucket"].to_numpy(np.int64)[ok]) & np.isclose(
        prices[row[ok]], cells["price_bucket"].to_numpy(float)[ok]
    )
    is_long = cells["side"].to_numpy() == "long"
    volume = cells["volume"].to_numpy(float)
    np.add.at(long_m, (row[ok & is_long], col[ok & is_long]), volume[ok & is_long])
    np.add.at(short_m, (row[ok & ~is_long], col[ok & ~is_long]), volume[ok & ~is_long])
    return long_m, short_m


def round_significant(values: np.ndarray, digits: int = 3) -> np.ndarray:
    """Round to ``digits`` significant digits: what a colour scale can show, in less JSON."""
    values = np.asarray(values, dtype=float)
    out = np.zeros_like(values)
    nonzero = values != 0
    magnitude = np.floor(np.log10(np.abs(values[nonzero])))
    factor = 10.0 ** (digits - 1 - magnitude)
    out[nonzero] = np.round(values[nonzero] * factor) / factor
    return out
