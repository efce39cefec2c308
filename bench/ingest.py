"""Benchmark: liqmap's aggTrades ingest against DuckDB's plain ``read_csv`` on the same files.

What it measures
    About ``--gb`` GB (10^9 bytes) of synthetic aggTrades in the archive's own layout and format
    (plain daily CSVs with a header, ~66 MB each) are written to a temporary folder. After one
    untimed pass that reads every byte (so all runs see a warm page cache), three loads are
    timed once each, every one into a fresh DuckDB file, counting connect + load + close:

    * liqmap      ``heatmaps.tasks.ingest("BTCUSDT", first_day, last_day, source=root,
                  datasets="aggTrades")``: sha256 per file, per-file read_csv INSERT in a
                  transaction, validation queries, IngestRun row in Django's database;
    * read_csv    ``CREATE TABLE t AS SELECT * FROM read_csv([all files], header=true)`` with
                  DuckDB's auto-detection, as a user would write it;
    * read_csv+types  the same with explicit column types.

    Targets: liqmap / read_csv (auto) <= 1.25 and liqmap < 5 s per GB.

How to run
    uv run python bench/ingest.py [--gb 1.0] [--keep DIR]

    ``--keep DIR`` generates into DIR and leaves it there (data, DuckDB files, Django's SQLite);
    otherwise everything lives in a temporary folder removed at the end.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import tempfile
from datetime import UTC, date, datetime, timedelta
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from harness import machine_line, setup_django, timed, verdict  # puts the repository on the path

from heatmaps.binance.writer import relpath, write_file
from models_engine.units import DAY_MS

SYMBOL = "BTCUSDT"
FIRST_DAY = date(2024, 1, 1)
ROWS_PER_DAY = 1_000_000  # ~66 MB of CSV per daily file
TYPED_COLUMNS = {
    "agg_trade_id": "BIGINT",
    "price": "DOUBLE",
    "quantity": "DOUBLE",
    "first_trade_id": "BIGINT",
    "last_trade_id": "BIGINT",
    "transact_time": "BIGINT",
    "is_buyer_maker": "BOOLEAN",
}
MAX_RATIO = 1.25
MAX_SECONDS_PER_GB = 5.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=1.0, help="data to generate, in GB (1e9 B)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each load (median kept)")
    parser.add_argument("--keep", type=Path, help="work in this folder and do not remove it")
    return parser.parse_args()


# --- data ------------------------------------------------------------------------------------


class TradeStream:
    """Consecutive days of aggTrades: ids and the price carry on from one day to the next."""

    def __init__(self, seed: int = 42):
        self.rng = np.random.default_rng(seed)
        self.next_agg_id = 2_000_000_000
        self.next_trade_id = 4_000_000_000
        self.price_tenths = 420_000  # 42000.0

    def day(self, day: date, rows: int) -> pa.Table:
        rng = self.rng
        agg_id = np.arange(self.next_agg_id, self.next_agg_id + rows, dtype=np.int64)
        trades_in = rng.geometric(0.6, rows).astype(np.int64)  # >= 1 fills per aggregate
        first_id = self.next_trade_id + np.concatenate(([0], np.cumsum(trades_in)[:-1]))
        last_id = first_id + trades_in - 1
        steps = rng.choice(np.array([-1, 0, 1], dtype=np.int64), rows, p=[0.3, 0.4, 0.3])
        price = np.maximum(self.price_tenths + np.cumsum(steps), 10)
        quantity = np.maximum(rng.lognormal(4.0, 1.5, rows).astype(np.int64), 1)  # thousandths
        start_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        start_ms *= 1000
        times = np.sort(rng.integers(start_ms, start_ms + DAY_MS, rows, dtype=np.int64))
        self.next_agg_id += rows
        self.next_trade_id = int(last_id[-1]) + 1
        self.price_tenths = int(price[-1])
        return pa.table(
            {
                "agg_trade_id": agg_id,
                "price": fixed_point(price, 1),
                "quantity": fixed_point(quantity, 3),
                "first_trade_id": first_id,
                "last_trade_id": last_id,
                "transact_time": times,
                "is_buyer_maker": rng.random(rows) < 0.5,
            }
        )


def fixed_point(units: np.ndarray, decimals: int) -> pa.Array:
    """Integers counting 10^-decimals, as text with exactly ``decimals`` digits after the dot."""
    scale = 10**decimals
    whole = pc.cast(pa.array(units // scale), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(units % scale), pa.string()), width=decimals, padding="0")
    return pc.binary_join_element_wise(whole, frac, ".")


def csv_bytes(table: pa.Table) -> bytes:
    """The archive's CSV: a header line, then the rows unquoted."""
    out = io.BytesIO()
    out.write((",".join(table.column_names) + "\n").encode())
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    pa_csv.write_csv(table, out, write_options=options)
    return out.getvalue()


def generate(
    root: Path, target_bytes: int, symbol: str = SYMBOL, as_zip: bool = False
) -> list[Path]:
    """Write plain daily CSV files until their total size reaches ``target_bytes``
    (bench/scale.py writes them as the archive's zips, for a symbol of their own)."""
    stream, files, total = TradeStream(), [], 0
    day = FIRST_DAY
    while total < target_bytes:
        data = csv_bytes(stream.day(day, ROWS_PER_DAY))
        path = relpath("aggTrades", symbol, day.isoformat())
        path = write_file(root, path, data, as_zip=as_zip)
        files.append(path)
        total += len(data)
        day += timedelta(days=1)
    return files


def warm_cache(files: list[Path]) -> None:
    for path in files:
        with open(path, "rb") as fh:
            while fh.read(16 << 20):
                pass


# --- the timed loads -------------------------------------------------------------------------


def time_liqmap(files: list[Path], root: Path) -> tuple[float, int]:
    from django.conf import settings

    from heatmaps import tasks

    assert not Path(settings.DUCKDB_PATH).exists(), "the liqmap warehouse must start empty"
    first, last = day_of(files[0]), day_of(files[-1])
    seconds, summary = timed(
        lambda: tasks.ingest(SYMBOL, first, last, source=root, datasets="aggTrades"), 1
    )
    assert not summary["rejected"], summary["rejected"]
    assert summary["datasets"]["aggTrades"]["loaded"] == len(files), summary
    return seconds, summary["tables"]["agg_trades"]


def time_read_csv(files: list[Path], db_path: Path, *, typed: bool) -> tuple[float, int]:
    from heatmaps import warehouse

    return warehouse.bare_read_csv(files, db_path, TYPED_COLUMNS if typed else None)


def day_of(path: Path) -> date:
    return date.fromisoformat(path.stem.rsplit("-aggTrades-", 1)[1])


# --- report ----------------------------------------------------------------------------------


def report(size: int, rows: int, liqmap: float, auto: float, typed: float) -> None:
    mb, gb = size / 1e6, size / 1e9
    ratio, ratio_typed = liqmap / auto, liqmap / typed
    per_gb = liqmap / gb
    lines = [
        ("data", f"{mb:,.1f} MB"),
        ("rows", f"{rows:,}"),
        ("liqmap ingest", f"{liqmap:.2f} s"),
        ("duckdb read_csv (auto)", f"{auto:.2f} s"),
        ("duckdb read_csv (typed)", f"{typed:.2f} s"),
        (
            "ratio liqmap/read_csv auto",
            f"{ratio:.2f}   target <= {MAX_RATIO}  {verdict(ratio <= MAX_RATIO)}",
        ),
        ("ratio liqmap/read_csv typed", f"{ratio_typed:.2f}"),
        ("liqmap throughput", f"{mb / liqmap:,.1f} MB/s"),
        (
            "liqmap s/GB",
            f"{per_gb:.2f} s/GB   target < {MAX_SECONDS_PER_GB:g}  "
            f"{verdict(per_gb < MAX_SECONDS_PER_GB)}",
        ),
    ]
    width = max(len(label) for label, _ in lines)
    print()
    for label, value in lines:
        print(f"  {label:<{width}}  {value}")


def main() -> None:
    args = parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="liqmap-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(work, args.gb, args.repeat)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, gb: float, repeat: int) -> None:
    root = work / "archive"
    for stale in ("liqmap.duckdb", "liqmap.duckdb.wal", "auto.duckdb", "typed.duckdb"):
        (work / stale).unlink(missing_ok=True)  # a re-run with --keep starts from empty files
    setup_django(work)
    print(f"{machine_line()}  duckdb={metadata.version('duckdb')}")
    print(f"work folder: {work}")

    seconds, files = timed(lambda: generate(root, int(gb * 1e9)), 1)
    size = sum(path.stat().st_size for path in files)
    print(f"generated {len(files)} daily files, {size / 1e6:,.1f} MB in {seconds:.1f} s")

    warm_cache(files)
    # This machine's timings swing by ±30 % from run to run: interleave the three loads and
    # report the median of each.
    times: dict[str, list[float]] = {"auto": [], "typed": [], "liqmap": []}
    for attempt in range(repeat):
        for name in times:
            for stale in (f"{name}.duckdb", f"{name}.duckdb.wal"):
                (work / stale).unlink(missing_ok=True)
        auto_s, auto_rows = time_read_csv(files, work / "auto.duckdb", typed=False)
        typed_s, typed_rows = time_read_csv(files, work / "typed.duckdb", typed=True)
        liqmap_s, liqmap_rows = time_liqmap(files, root)
        assert liqmap_rows == auto_rows == typed_rows == len(files) * ROWS_PER_DAY
        for name, seconds in (("auto", auto_s), ("typed", typed_s), ("liqmap", liqmap_s)):
            times[name].append(seconds)
        print(
            f"run {attempt + 1}/{repeat}: liqmap {liqmap_s:.2f} s, read_csv auto {auto_s:.2f} s, "
            f"typed {typed_s:.2f} s  ({liqmap_rows:,} rows each)"
        )
    median = {name: statistics.median(values) for name, values in times.items()}
    report(size, liqmap_rows, median["liqmap"], median["auto"], median["typed"])


if __name__ == "__main__":
    main()
