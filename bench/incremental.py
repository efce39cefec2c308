"""Benchmark: a one-minute update of a ledger model with a year of history behind it.

What it measures
    The live feed fills the warehouse to the current minute, but the models' bar is 5 minutes
    (``models_engine.units.BAR_MS``: finer candles are aggregated up to it): a one-minute
    update finds at most one newly finished bar. So "a one-minute update" is
    ``model.run(market_tail, state=...)`` continuing a year's checkpoint to ONE new 5-minute
    bar (the tail market holds the day before the checkpoint too, as the lead's job would load
    it: funding and account ratios in force). The state is the one at the start of the current
    UTC day, so an update recomputes the day so far: the new bar is the day's last (23:55), the
    worst case, 288 bars. It is set against the full recompute of the same year plus one bar,
    ``model.run(market)``.

    For every ledger model, without a calibration ("prior") and with one per day
    ("calibrated", compute.daily_schedule). Times: median of ``--repeat`` runs after a warm-up
    (harness.timed). Memory: the update's peak of Python allocations (tracemalloc: numpy and
    pandas arrays included), and the state's own arrays (``LedgerState.nbytes``), next to the
    number of rows it keeps. Target: the update < 1 s.

The input
    bench/compute.py's synthetic year of 5-minute bars built from the real BTCUSDT 1 h candles
    (``compute.window(compute.synthetic_market(compute.load_hourly()), 365)``).

How to run
    uv run python bench/incremental.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import compute
import numpy as np
import pandas as pd
from harness import machine_line, timed, verdict  # before the engine: puts REPO on the path

from models_engine.base import ModelConfig
from models_engine.binance_standard import BinanceStandardModel
from models_engine.funding_adjusted import FundingAdjustedModel
from models_engine.market import cut_market as cut
from models_engine.trade_clusters import TradeClustersModel
from models_engine.units import BAR_MS, DAY_MS

TARGET_SECONDS = 1.0
DAYS = 365


def peak_mb(action) -> float:
    tracemalloc.start()
    action()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{machine_line()}  numpy={np.__version__}  pandas={pd.__version__}")
    year = compute.window(compute.synthetic_market(compute.load_hourly()), DAYS)
    # the year ends at the close of a UTC day: its last bar is a day's 288th
    end = (int(year.klines["open_time"].iloc[-1]) + BAR_MS) // DAY_MS * DAY_MS
    year = cut(year, end)
    history = cut(year, end - BAR_MS)
    day = (end - BAR_MS) // DAY_MS * DAY_MS
    tail = cut(year, end, day - DAY_MS)
    print(f"input: {len(year.klines):,} 5 m bars ({DAYS} days); the update adds the last one")
    lines = []
    for kind in compute.KINDS:
        schedule = compute.daily_schedule(year) if kind == "calibrated" else None
        config = ModelConfig(schedule=schedule).resolved(year)
        for model in (BinanceStandardModel, FundingAdjustedModel, TradeClustersModel):
            started = time.perf_counter()
            state = model(config).run(history, checkpoint=True).state
            checkpointing = time.perf_counter() - started

            def update(model=model, state=state, config=config):
                return model(config).run(tail, state=state)

            update()  # warm-up
            seconds, result = timed(update, args.repeat)
            full, _ = timed(lambda m=model, c=config: m(c).run(year), args.repeat)
            lines.append(
                [
                    f"{model.model_name} {kind}",
                    f"{seconds:.3f}",
                    f"{full:.2f}",
                    f"{full / seconds:.0f}x",
                    f"{peak_mb(update):.0f}",
                    f"{state.nbytes() / 1e6:.1f}",
                    f"{len(state.book):,}",
                    f"{len(state.bars):,}",
                    f"{checkpointing:.2f}",
                    f"< {TARGET_SECONDS:g} s  {verdict(seconds < TARGET_SECONDS)}",
                ]
            )
            assert result.as_of == end and len(result.levels)
            print(f"timed {lines[-1][0]}: update {seconds:.3f} s, full {full:.2f} s")
    header = [
        "model",
        "update s",
        "full s",
        "speed-up",
        "update peak MB",
        "state MB",
        "state rows",
        "state bars",
        "checkpoint s",
        "target",
    ]
    widths = [max(len(x) for x in column) for column in zip(header, *lines, strict=True)]
    print(
        "\none new 5-minute bar after a year (the day's last: 288 recomputed), median of the runs"
    )
    for line in [header, *lines]:
        print("  " + "  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
