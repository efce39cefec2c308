"""Lengths of time in epoch milliseconds, the unit of every time in the engine and the API."""

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
# the models' bar: finer candles are aggregated up to it, coarser ones are not used
BAR_MS = 5 * MINUTE_MS
