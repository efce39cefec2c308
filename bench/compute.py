"""Benchmark: the models engine's compute time, from 30 days to 1 year of 5-minute bars.

What it measures
    The production calculation, ``models_engine.registry.run_models`` as ``calculate --model
    all`` calls it: every member model run once on the window's MarketData, then the ensemble
    combining their results, with the default weights (no Django, no warehouse). Loading the
    warehouse and writing the results are not timed.

    Each member's ``run(market)`` is also timed on its own, and so is the ensemble's combine
    step (``ensemble.run`` given the members' results). Every figure is the median of
    ``--repeat`` runs (``time.perf_counter``), after one untimed warm-up run. The load average
    at start is printed (timings on a busy machine swing), and the process's peak RSS at the end.

    Targets: 30 days all models + ensemble < 1 s, 1 year < 10 s, and time growing linearly
    with the window (1 year / 30 days close to the bar ratio 365 / 30).

    Production values each heatmap snapshot under the calibration in force then, and
    ``calibrate`` refits daily: the "calibrated" rows time the same path with one calibration
    per day (parameters drawn around a typical fit, seeded), the "prior" rows with none.

The input
    Synthetic 5-minute data built deterministically (fixed seed, vectorized numpy) from the REAL
    BTCUSDT 1 h candles in data/sample/real/BTCUSDT_1h_Cleaned.csv (2024-01-01 .. 2025-12-21):
    each hour becomes 12 bars along a Brownian bridge from its open to its close, clipped into
    the hour's [low, high], the high and the low placed at the bridge's extremes, so the bars
    aggregate back to the real hour exactly; the hour's volume is split over its bars. Open
    interest every 5 min is a random walk around 80,000 coins; mark candles are the bars with a
    little noise; funding every 8 h around 0.01 %; ~30,000 aggTrades a day over the first two
    days only (as a user loads a few days of trades). Windows start on 2024-01-01 and take the
    first 30, 90, 180 and 365 days (production also loads a 7-day warm-up before a window: a
    30-day ``calculate`` runs the models on 37 days).

How to run
    uv run python bench/compute.py [--repeat 3] [--profile]

    ``--profile`` adds a cProfile of the 1-year production path (top 15 by cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from harness import REPO, machine_line, timed, verdict  # before the engine: puts REPO on the path

from models_engine import registry
from models_engine.base import ModelConfig, ModelResult
from models_engine.calibration import Parameters, Schedule, log_uniform_mix
from models_engine.market import MarketData
from models_engine.registry import MEMBERS
from models_engine.units import BAR_MS, DAY_MS, HOUR_MS

HOURLY_CSV = REPO / "data/sample/real/BTCUSDT_1h_Cleaned.csv"
SEED = 20240101
BARS_PER_HOUR = HOUR_MS // BAR_MS  # 12
FUNDING_MS = 8 * HOUR_MS
TRADE_DAYS = 2
TRADES_PER_DAY = 30_000
OI_LEVEL = 80_000.0  # coins
OI_STEP = 30.0  # coins, standard deviation of a 5-minute change
WINDOWS = (30, 90, 180, 365)  # days
TARGETS = {30: 1.0, 365: 10.0}  # window days -> max seconds, all models + ensemble
SHORT, LONG = 30, 365
KINDS = ("prior", "calibrated")  # no calibration; one per day


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing (median kept)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the 1-year production path"
    )
    return parser.parse_args()


# --- the synthetic market --------------------------------------------------------------------


def load_hourly(path: Path = HOURLY_CSV) -> pd.DataFrame:
    """The real hourly candles: open_time (ms), open, high, low, close, volume."""
    raw = pd.read_csv(path)
    dates = pd.to_datetime(raw["Date"], format="%d-%m-%Y %H:%M", utc=True)
    open_time = (dates - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(milliseconds=1)
    return pd.DataFrame(
        {
            "open_time": open_time.to_numpy(np.int64),
            "open": raw["Open"].to_numpy(float),
            "high": raw["High"].to_numpy(float),
            "low": raw["Low"].to_numpy(float),
            "close": raw["Close"].to_numpy(float),
            "volume": raw["Volume"].to_numpy(float),
        }
    )


def bridge_path(hourly: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """(hours, 13) prices at the 5-minute boundaries: a Brownian bridge from each hour's open
    to its close, scaled to the hour's range, clipped into [low, high], on the $0.1 tick."""
    o, h, lo, c = (hourly[k].to_numpy(float)[:, None] for k in ("open", "high", "low", "close"))
    walk = np.cumsum(rng.standard_normal((len(hourly), BARS_PER_HOUR)), axis=1)
    k = np.arange(1, BARS_PER_HOUR + 1) / BARS_PER_HOUR
    bridge = np.concatenate([np.zeros((len(hourly), 1)), walk - k * walk[:, -1:]], axis=1)
    share = np.concatenate([[0.0], k])
    path = o + (c - o) * share + bridge * (h - lo) / 4  # a 12-step bridge spans about 4 steps
    path = np.clip(np.round(path, 1), lo, h)
    path[:, 0], path[:, -1] = o[:, 0], c[:, 0]
    return path


def five_minute_klines(hourly: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """12 bars per real hour whose open, high, low, close and volume aggregate to the hour's."""
    n = len(hourly)
    path = bridge_path(hourly, rng)
    h, lo = hourly["high"].to_numpy(float)[:, None], hourly["low"].to_numpy(float)[:, None]
    bar_open, bar_close = path[:, :-1], path[:, 1:]
    wick = np.abs(rng.standard_normal((n, 2, BARS_PER_HOUR))) * (h - lo)[:, None] * 0.05
    high = np.minimum(np.round(np.maximum(bar_open, bar_close) + wick[:, 0], 1), h)
    low = np.maximum(np.round(np.minimum(bar_open, bar_close) - wick[:, 1], 1), lo)
    rows = np.arange(n)
    high[rows, high.argmax(axis=1)] = h[:, 0]  # the hour's extremes where the path peaks
    low[rows, low.argmin(axis=1)] = lo[:, 0]
    split = rng.gamma(2.0, size=(n, BARS_PER_HOUR))
    volume = hourly["volume"].to_numpy(float)[:, None] * split / split.sum(axis=1, keepdims=True)
    vwap = (bar_open + high + low + bar_close) / 4
    offsets = np.arange(BARS_PER_HOUR, dtype=np.int64) * BAR_MS
    open_time = hourly["open_time"].to_numpy(np.int64)[:, None] + offsets
    return pd.DataFrame(
        {
            "open_time": open_time.ravel(),
            "open": bar_open.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": bar_close.ravel(),
            "volume": volume.ravel(),
            "quote_volume": (volume * vwap).ravel(),
            "taker_buy_volume": (volume * rng.uniform(0.3, 0.7, (n, BARS_PER_HOUR))).ravel(),
        }
    )


def open_interest(klines: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Open interest at every bar boundary (one past the last bar): a positive random walk."""
    times = np.append(klines["open_time"].to_numpy(np.int64), klines["open_time"].iloc[-1])
    times[-1] += BAR_MS
    steps = rng.normal(0.0, OI_STEP, len(times))
    steps[0] = 0.0
    coins = np.maximum(OI_LEVEL + np.cumsum(steps), 1_000.0)
    price = np.append(klines["open"].iloc[0], klines["close"].to_numpy(float))
    return pd.DataFrame(
        {
            "create_time": times,
            "sum_open_interest": np.round(coins, 3),
            "sum_open_interest_value": coins * price,
        }
    )


def mark_klines(klines: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The trade bars' high and low moved by about 0.01 %."""
    noise = rng.normal(0.0, 1e-4, (2, len(klines)))
    high = klines["high"].to_numpy(float) * (1 + noise[0])
    low = klines["low"].to_numpy(float) * (1 + noise[1])
    return pd.DataFrame(
        {
            "open_time": klines["open_time"].to_numpy(np.int64),
            "high": np.round(np.maximum(high, low), 1),
            "low": np.round(np.minimum(high, low), 1),
        }
    )


def funding_rates(start: int, end: int, rng: np.random.Generator) -> pd.DataFrame:
    """A rate every 8 hours, around 0.01 % per interval."""
    times = np.arange(start - start % FUNDING_MS, end, FUNDING_MS, dtype=np.int64)
    rate = np.clip(rng.normal(1e-4, 5e-5, len(times)), -7.5e-4, 7.5e-4)
    return pd.DataFrame({"calc_time": times, "last_funding_rate": np.round(rate, 8)})


def agg_trades(klines: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """~TRADES_PER_DAY aggTrades a day over the first TRADE_DAYS days, inside each bar's range,
    the taker side drawn from the bar's taker-buy share."""
    start = int(klines["open_time"].iloc[0])
    count = TRADE_DAYS * TRADES_PER_DAY
    times = np.sort(rng.integers(start, start + TRADE_DAYS * DAY_MS, count, dtype=np.int64))
    bar = (times - start) // BAR_MS
    low, high = klines["low"].to_numpy(float)[bar], klines["high"].to_numpy(float)[bar]
    share = (klines["taker_buy_volume"] / klines["volume"]).fillna(0.5).to_numpy(float)[bar]
    quantity = np.maximum(np.round(rng.lognormal(np.log(0.02), 1.6, count), 3), 0.001)
    return pd.DataFrame(
        {
            "transact_time": times,
            "price": np.round(low + rng.random(count) * (high - low), 1),
            "quantity": quantity,
            "is_buyer_maker": rng.random(count) >= share,
        }
    )


def synthetic_market(hourly: pd.DataFrame, seed: int = SEED) -> MarketData:
    """Every frame over the whole real path; ``window`` cuts the first days out of it."""
    rng = np.random.default_rng(seed)
    klines = five_minute_klines(hourly, rng)
    end = int(klines["open_time"].iloc[-1]) + BAR_MS
    return MarketData(
        klines=klines,
        metrics=open_interest(klines, rng),
        mark=mark_klines(klines, rng),
        funding=funding_rates(int(klines["open_time"].iloc[0]), end, rng),
        trades=agg_trades(klines, rng),
    )


def window(full: MarketData, days: int) -> MarketData:
    """The first ``days`` days: bars in [start, end), open interest through end."""
    start = int(full.klines["open_time"].iloc[0])
    end = start + days * DAY_MS

    def cut(frame: pd.DataFrame, column: str, *, closed: bool = False) -> pd.DataFrame:
        side = "right" if closed else "left"
        stop = np.searchsorted(frame[column].to_numpy(np.int64), end, side=side)
        return frame.iloc[:stop].reset_index(drop=True)

    return MarketData(
        klines=cut(full.klines, "open_time"),
        metrics=cut(full.metrics, "create_time", closed=True),
        mark=cut(full.mark, "open_time"),
        funding=cut(full.funding, "calc_time"),
        trades=cut(full.trades, "transact_time"),
        symbol=full.symbol,
    )


# --- what is timed ---------------------------------------------------------------------------


def daily_schedule(market: MarketData, seed: int = SEED) -> Schedule:
    """One calibration a day from the second day on, as ``calibrate`` leaves them: parameters
    drawn around a typical fit of the development markets."""
    rng = np.random.default_rng(seed)
    start = int(market.klines["open_time"].iloc[0])
    end = int(market.klines["open_time"].iloc[-1])
    days = np.arange(start + DAY_MS, end, DAY_MS, dtype=np.int64)
    prior = Parameters.prior()
    mix = log_uniform_mix(prior.tiers)
    fits = []
    for _ in days:
        rates = np.zeros_like(prior.rates)
        rates[:, 0, :] = 0.03 * mix * rng.uniform(0.7, 1.3, (2, len(mix)))
        rates[:, 1, :] = mix * rng.uniform(0.7, 1.3, (2, len(mix)))
        fits.append(
            replace(
                prior,
                rates=rates,
                half_life_hours=float(rng.choice([16.0, 22.6, 32.0, 45.3, 64.0])),
                half_life_slope=float(rng.choice([-1.0, -0.5, 0.0])),
                closing_share=float(rng.choice([0.0, 0.25, 0.5])),
                closing_lean=float(rng.choice([0.5, 1.0])),
            )
        )
    return Schedule(days, tuple(fits))


def production_path(market: MarketData, schedule: Schedule | None = None) -> dict[str, ModelResult]:
    """What ``calculate --model all`` runs, with the default weights."""
    return registry.run_models(market, config=ModelConfig(schedule=schedule))


def time_members(market: MarketData, config: ModelConfig, repeat: int) -> dict[str, float]:
    """Median seconds of each member alone, then of the ensemble combining their results."""
    row, members = {}, []
    for name, cls in MEMBERS.items():
        row[name], result = timed(lambda cls=cls: cls(config).run(market), repeat)
        members.append(result)
    ensemble = registry.ensemble(config)
    row["combine"], _ = timed(lambda: ensemble.run(market, members=members), repeat)
    return row


def time_window(
    market: MarketData, repeat: int, schedule: Schedule | None = None
) -> dict[str, float | int]:
    """Each member, the combine step, and the whole production path (members' results freed)."""
    config = ModelConfig(schedule=schedule).resolved(market)
    row: dict[str, float | int] = dict(time_members(market, config, repeat))
    row["total"], results = timed(lambda: production_path(market, schedule), repeat)
    row["heatmap_rows"] = len(results["ensemble"].heatmap)
    return row


def profile(market: MarketData, top: int = 15) -> str:
    profiler = cProfile.Profile()
    profiler.runcall(production_path, market, daily_schedule(market))
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def peak_rss_gb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB on Linux
    return peak / 1e9 if sys.platform == "darwin" else peak * 1024 / 1e9


# --- report ----------------------------------------------------------------------------------


def target_text(days: int, seconds: float) -> str:
    if days not in TARGETS:
        return ""
    limit = TARGETS[days]
    return f"< {limit:g} s  {verdict(seconds < limit)}"


def print_table(rows: dict[tuple, dict[str, float | int]], bars: dict[int, int]) -> None:
    names = list(MEMBERS)
    header = ["window", "bars", *names, "combine", "total", "us/bar", "heatmap rows", "target"]
    lines = [header]
    for (days, kind), row in rows.items():
        total = float(row["total"])
        lines.append(
            [
                f"{days} d {kind}",
                f"{bars[days]:,}",
                *(f"{row[name]:.3f}" for name in names),
                f"{row['combine']:.3f}",
                f"{total:.3f}",
                f"{1e6 * total / bars[days]:.1f}",
                f"{row['heatmap_rows']:,}",
                target_text(days, total),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print("\nseconds, median of the runs (total = all members once + ensemble, as production)")
    for line in lines:
        cells = [cell.rjust(width) for cell, width in zip(line[:-1], widths, strict=False)]
        print("  " + "  ".join([*cells, line[-1]]).rstrip())


def print_growth(rows: dict[tuple, dict[str, float | int]], bars: dict[int, int]) -> None:
    for kind in KINDS:
        seconds = float(rows[LONG, kind]["total"]) / float(rows[SHORT, kind]["total"])
        size = bars[LONG] / bars[SHORT]
        per_bar = seconds / size
        if per_bar > 1.5:
            shape = "growing faster than linearly"
        elif per_bar < 2 / 3:
            shape = "growing slower than linearly (fixed costs weigh on the short window)"
        else:
            shape = "growing linearly"
        print(
            f"growth {LONG} d / {SHORT} d, {kind}: {seconds:.1f}x the seconds for {size:.1f}x "
            f"the bars (cost per bar x{per_bar:.2f}): {shape}"
        )


def main() -> None:
    args = parse_args()
    print(f"{machine_line()}  numpy={np.__version__}  pandas={pd.__version__}")
    started = time.perf_counter()
    hourly = load_hourly()
    full = synthetic_market(hourly)
    print(
        f"input: {len(hourly):,} real 1 h candles -> {len(full.klines):,} synthetic 5 m bars, "
        f"{len(full.metrics):,} OI points, {len(full.funding):,} funding rates, "
        f"{len(full.trades):,} aggTrades ({TRADE_DAYS} days), built in "
        f"{time.perf_counter() - started:.1f} s (seed {SEED})"
    )
    markets = {days: window(full, days) for days in WINDOWS}
    bars = {days: len(market.klines) for days, market in markets.items()}
    production_path(markets[SHORT])  # warm-up: first-call costs are not the engine's
    rows = {}
    for days, market in markets.items():
        for kind in KINDS:
            schedule = daily_schedule(market) if kind == "calibrated" else None
            rows[days, kind] = row = time_window(market, args.repeat, schedule)
            print(f"timed {days} d {kind} ({bars[days]:,} bars): total {row['total']:.3f} s")
    print_table(rows, bars)
    print()
    print_growth(rows, bars)
    print(f"peak memory (max RSS of this process, the {LONG}-day window's): {peak_rss_gb():.1f} GB")
    if args.profile:
        print(f"\ncProfile of the {LONG}-day production path, top 15 by cumulative time:")
        print(profile(markets[LONG]))


if __name__ == "__main__":
    main()
