"""Shaping a pending heatmap for display: resolution from the view, matrices from cells."""

from __future__ import annotations

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
