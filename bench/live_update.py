"""Benchmark: the one-minute job (``tasks.calculate_update``) with a year in the warehouse.

What it measures
    bench/incremental.py times the engine alone; this times what the live loop runs after
    each pass of ``follow``: read the checkpoint and check its stamp, load the day before the
    checkpoint and today from DuckDB, continue every model and the ensemble, replace today's
    rows, write the checkpoint, publish a snapshot for the web. The warehouse holds a year of
    synthetic 5-minute candles, mark candles, open interest and funding (bench/compute.py's
    market on the real BTCUSDT 1 h path), written as REST rows like ``follow`` writes them,
    and the models' output of a full ``calculate`` of that year (the checkpoint's source).

    Then the last bars of the year's last day arrive one at a time (23:30 … 23:55: an update
    recomputes the day so far, so these are the worst case, ~288 bars) and each update is
    timed end to end, with its parts: the engine (``compute_seconds``), and the snapshot
    published for the web. Memory: the update's peak Python allocations (tracemalloc,
    numpy/pandas included), the process's peak RSS, and the checkpoint file's size.
    Target: the update < 1 s.

How to run
    uv run python bench/live_update.py [--days 365]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import compute
import numpy as np
import pandas as pd
from harness import machine_line, setup_django, verdict  # puts the repository on the path

from models_engine.units import BAR_MS, DAY_MS

SYMBOL = "BTCUSDT"
TARGET_SECONDS = 1.0
UPDATES = 6  # 23:30 … 23:55


def rest_rows(market, start: int, end: int) -> dict[str, pd.DataFrame]:
    """The market's rows in [start, end) as the warehouse's live tables take them."""

    def span(frame: pd.DataFrame, column: str) -> pd.DataFrame:
        times = frame[column].to_numpy(np.int64)
        return frame[(times >= start) & (times < end)].assign(symbol=SYMBOL)

    klines = span(market.klines, "open_time")
    candle = {
        "interval": "5m",
        "close_time": klines["open_time"] + BAR_MS - 1,
        "count": 100,
        "taker_buy_quote_volume": klines["taker_buy_volume"] * klines["close"],
    }
    mark = span(market.mark, "open_time")
    mark = mark.assign(
        interval="5m",
        open=mark["low"],
        close=mark["high"],
        volume=0.0,
        close_time=mark["open_time"] + BAR_MS - 1,
        quote_volume=0.0,
        count=0,
        taker_buy_volume=0.0,
        taker_buy_quote_volume=0.0,
    )
    metrics = span(market.metrics, "create_time").assign(count_long_short_ratio=1.0)
    funding = span(market.funding, "calc_time").assign(funding_interval_hours=8)
    return {
        "klines": klines.assign(**candle),
        "mark_price_klines": mark,
        "metrics": metrics,
        "funding_rate": funding,
    }


def insert(rows: dict[str, pd.DataFrame]) -> None:
    from heatmaps import warehouse

    with warehouse.connect(SYMBOL) as con, warehouse.transaction(con):
        for table, frame in rows.items():
            warehouse.insert_rows(con, table, frame, "rest")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="liqmap-live-update-") as work:
        run(Path(work), args.days)


def run(work: Path, days: int) -> None:
    setup_django(work)
    from heatmaps import tasks, warehouse
    from heatmaps.warehouse import checkpoints

    print(machine_line())
    full = compute.window(compute.synthetic_market(compute.load_hourly()), days + 1)
    first = int(full.klines["open_time"].iloc[0])
    end = first + days * DAY_MS  # the year ends at a day's close
    history_end = end - UPDATES * BAR_MS
    started = time.perf_counter()
    insert(rest_rows(full, first, history_end))
    print(f"warehouse: {days} days of 5 m rows in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    summary = tasks.calculate(SYMBOL)
    print(
        f"full calculate of the year: {time.perf_counter() - started:.2f} s "
        f"(engine {summary['compute_seconds']:.2f} s)"
    )
    seconds, engine, peaks = [], [], []
    for k in range(UPDATES):
        bar = history_end + k * BAR_MS
        insert(rest_rows(full, bar, bar + BAR_MS))
        tracemalloc.start()
        started = time.perf_counter()
        update = tasks.calculate_update(SYMBOL)
        seconds.append(time.perf_counter() - started)
        peaks.append(tracemalloc.get_traced_memory()[1] / 1e6)
        tracemalloc.stop()
        assert "full_recompute" not in update and "skipped" not in update, update
        engine.append(update["compute_seconds"])
    size = checkpoints.path_of(SYMBOL).stat().st_size / 1e6
    layers = warehouse.current().paths()
    worst = max(seconds)
    print(f"one-minute update, one new bar at 23:30 … 23:55 ({UPDATES} updates):")
    print(
        f"  whole job: median {statistics.median(seconds):.3f} s, worst {worst:.3f} s "
        f"(engine median {statistics.median(engine):.3f} s; the rest is DuckDB reads, "
        "writes and the published snapshot)"
    )
    print(
        f"  memory: update peak {max(peaks):.0f} MB (tracemalloc), process peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB, "
        f"checkpoint {size:.1f} MB"
    )
    print(
        "  published: base {:.0f} MB (written by the full calculate), recent layer {:.1f} MB "
        "(written by each update)".format(*(p.stat().st_size / 1e6 for p in layers))
    )
    print(f"  target < {TARGET_SECONDS:g} s: {verdict(worst < TARGET_SECONDS)}")


if __name__ == "__main__":
    main()
