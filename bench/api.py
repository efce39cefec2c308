"""Benchmark: API latency under load, a cached 30-day heatmap against a trivial endpoint.

What it measures
    A real server: ``gunicorn liqsite.wsgi:application`` with 2 sync workers, bound to
    127.0.0.1 only, with the production settings (DEBUG off, token auth, UserRateThrottle, a
    file cache both workers share). Two endpoints, measured one after the other on the same
    server:

    * heatmap  ``GET /api/v1/liquidations/heatmap?symbol=BTCUSDT&model=ensemble&timeframe=30d``,
               served from the cache (the first request computes it; the body is then cached
               per snapshot in the shared file cache);
    * health   ``GET /api/v1/health``, an authenticated DRF view that does nothing: the floor
               of auth + throttle + DRF + Django on this server.

    The load generator is one separate process (multiprocessing, spawn) running ``--clients``
    threads, each with its own ``http.client`` connection (kept alive by gthread workers;
    sync workers close it after every response and the client reconnects, as any client of
    theirs must) and its own user's token, as that many bots would: with one user for all,
    the throttle's per-user history would grow to every request of the last minute, far past
    what the production rate (1200/min) allows (``--users 1`` shows it). A closed loop: each
    client sends its next request when the previous answer is read. Per endpoint at most
    ``--requests`` requests or ``--seconds`` seconds, whichever ends first, after a warm-up;
    every request is timed with ``time.perf_counter`` from send to the last byte read and
    must answer 200 (the heatmap with its full body) to count as a success. The threads wait
    in the socket most of the time, so the generator needs little CPU: the report gives the
    CPU seconds of the workers, of the generator and of every other process on the machine
    during each run, and warns when other processes were busy enough to skew the figures.

    Targets: heatmap p95 < 50 ms, and heatmap p95 <= 2x health p95.

    Sync workers are the default: on 2 cores they gave the lower p95 (the targets' measure) on
    both endpoints in every run. ``gthread`` (4 threads each) keeps connections open and can
    overlap one request's socket write or DuckDB query with another's Python, which sometimes
    gives it more heatmap requests/s, but the work is mostly CPU-bound Python and a worker's
    threads take turns on one GIL, so its tail is longer (``--worker-class sync,gthread``
    runs both on the same data).

The data
    35 days of the deterministic synthetic 5-minute market of bench/compute.py (built from the
    REAL BTCUSDT hourly candles), written as archive-format CSV files (5m klines, metrics, 5m
    mark price klines, monthly funding) into a temporary folder, then loaded with
    ``heatmaps.tasks.ingest`` and ``heatmaps.tasks.calculate`` (all models), which publishes
    the snapshot the API serves. Django's database (SQLite), the warehouse, the snapshots and
    the cache all live in the temporary folder: nothing of the checkout is touched.

How to run
    uv run python bench/api.py [--requests 2000] [--seconds 20] [--clients 16] [--users N]
                               [--worker-class sync|gthread|sync,gthread] [--threads 4] [--keep]

    ``--keep`` leaves the temporary folder (data, databases, gunicorn logs) and prints its path.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import itertools
import json
import multiprocessing
import os
import resource
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the load generator's process does without them
    import pandas as pd

from harness import (
    HOST,
    free_port,
    get,
    gunicorn_command,
    machine_line,
    scratch,
    setup_django,
    start_server,
    stop_server,
    verdict,
    wait_ready,
)

SYMBOL = "BTCUSDT"
DAYS = 35
HEATMAP = f"/api/v1/liquidations/heatmap?symbol={SYMBOL}&model=ensemble&timeframe=30d"
HEALTH = "/api/v1/health"
# the frames of archive_frames -> the archive dataset and interval their files belong to
ARCHIVE_DATASETS = {
    "klines": ("klines", "5m"),
    "mark": ("markPriceKlines", "5m"),
    "metrics": ("metrics", None),
    "funding": ("fundingRate", None),
}
MAX_P95_MS = 50.0
MAX_RATIO = 2.0
# other processes busier than this many cores during a run make its figures unrepresentative
BUSY_CORES = 0.25
WARMUP_REQUESTS = 64  # per endpoint, spread over every client (so over both workers)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per endpoint, at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="per endpoint, at most")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument(
        "--users", type=int, default=0, help="distinct users/tokens (default: one per client)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--worker-class",
        default="sync",
        type=lambda text: [w.strip() for w in text.split(",") if w.strip()],
        help="sync, gthread, or both one after the other: sync,gthread (targets: the first)",
    )
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--keep", action="store_true", help="do not remove the temporary folder")
    return parser.parse_args()


# --- the archive -----------------------------------------------------------------------------


def _day(ms: pd.Series) -> pd.Series:
    """The UTC dates of epoch-ms values."""
    import pandas as pd

    return pd.to_datetime(ms, unit="ms", utc=True).dt.date


def archive_frames(days: int) -> dict[str, tuple[pd.DataFrame, pd.Series]]:
    """bench/compute.py's synthetic market, first ``days`` days, in the archive's columns."""
    import compute  # bench/compute.py: the synthetic market built from the real hourly path
    import numpy as np
    import pandas as pd

    from models_engine.units import BAR_MS

    market = compute.window(compute.synthetic_market(compute.load_hourly()), days)
    k = market.klines
    klines = pd.DataFrame(
        {
            "open_time": k["open_time"],
            "open": k["open"],
            "high": k["high"],
            "low": k["low"],
            "close": k["close"],
            "volume": k["volume"].round(3),
            "close_time": k["open_time"] + BAR_MS - 1,
            "quote_volume": k["quote_volume"].round(4),
            "count": (k["volume"] * 10).round().astype(np.int64),
            "taker_buy_volume": k["taker_buy_volume"].round(3),
            "taker_buy_quote_volume": (
                k["quote_volume"] * k["taker_buy_volume"] / k["volume"]
            ).round(4),
            "ignore": 0,
        }
    )
    m = market.mark
    mark = klines.assign(
        high=m["high"],
        low=m["low"],
        open=k["open"].clip(m["low"], m["high"]),
        close=k["close"].clip(m["low"], m["high"]),
        volume=0.0,
        quote_volume=0.0,
        count=0,
        taker_buy_volume=0.0,
        taker_buy_quote_volume=0.0,
    )
    oi = market.metrics
    metrics = pd.DataFrame(
        {
            "create_time": pd.to_datetime(oi["create_time"], unit="ms").dt.strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "symbol": SYMBOL,
            "sum_open_interest": oi["sum_open_interest"],
            "sum_open_interest_value": oi["sum_open_interest_value"].round(4),
            "count_toptrader_long_short_ratio": 1.0,
            "sum_toptrader_long_short_ratio": 1.0,
            "count_long_short_ratio": 1.0,
            "sum_taker_long_short_vol_ratio": 1.0,
        }
    )
    f = market.funding
    funding = pd.DataFrame(
        {
            "calc_time": f["calc_time"],
            "funding_interval_hours": 8,
            "last_funding_rate": f["last_funding_rate"],
        }
    )
    return {
        "klines": (klines, _day(klines["open_time"])),
        "mark": (mark, _day(mark["open_time"])),
        "metrics": (metrics, _day(oi["create_time"])),
        "funding": (funding, _day(funding["calc_time"])),
    }


def write_archive(root: Path, days: int) -> tuple[date, date, dict[str, int]]:
    """Daily (monthly for funding) plain CSV files laid out like data.binance.vision under
    ``root``.

    Returns the first and the last day of the files and the number of files per dataset (the
    last day only has the open interest at its 00:00, the close of the last bar).
    """
    from heatmaps.binance.writer import relpath, write_file

    counts, all_days = {}, set()
    for name, (frame, day) in archive_frames(days).items():
        dataset, interval = ARCHIVE_DATASETS[name]
        period = day.map(lambda d: f"{d:%Y-%m}") if name == "funding" else day.astype(str)
        for key, rows in frame.groupby(period.to_numpy(), sort=True):
            path = relpath(dataset, SYMBOL, key, interval)
            write_file(root, path, rows.to_csv(index=False), as_zip=False)
        counts[name] = period.nunique()
        if name != "funding":
            all_days.update(day)
    return min(all_days), max(all_days), counts


# --- Django: settings, data, users -----------------------------------------------------------


def prepare_data(work: Path, users: int) -> tuple[dict, list[str]]:
    """Archive -> ingest -> calculate -> snapshot; then ``users`` users with a token each
    (Django is set up already)."""
    first, last, files = write_archive(work / "archive", DAYS)
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    from heatmaps import tasks

    started = time.perf_counter()
    ingested = tasks.ingest(SYMBOL, first, last, source=work / "archive")
    if ingested["rejected"]:
        raise RuntimeError(f"ingest rejected files: {ingested['rejected']}")
    tasks.calculate(SYMBOL)
    user_model = get_user_model()
    tokens = [
        AuthToken.objects.create(user_model.objects.create_user(f"bench{i}"))[1]
        for i in range(users)
    ]
    info = {
        "days": f"{first} .. {last}",
        "files": files,
        "tables": ingested["tables"],
        "seconds": time.perf_counter() - started,
    }
    return info, tokens


# --- gunicorn --------------------------------------------------------------------------------


def workers_cpu_seconds(master: int) -> float:
    """user + system CPU seconds of the gunicorn master's live children (its workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return float("nan")
    total = 0
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / tick


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all processes, all cores) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# --- the load generator (runs in its own process) --------------------------------------------


def run_load(
    port: int, path: str, tokens: list[str], clients: int, requests: int, seconds: float
) -> dict:
    """``clients`` threads, each on its own connection, until ``requests`` are sent or
    ``seconds`` have passed. Returns latencies (s), statuses, body sizes and this process's
    CPU seconds."""
    tickets = itertools.count()  # next() on it is atomic under the GIL: bounds the total
    deadline = time.perf_counter() + seconds
    results: list[list[tuple[float, int, int]]] = [[] for _ in range(clients)]

    def client(index: int) -> None:
        headers = {"Authorization": f"Token {tokens[index % len(tokens)]}"}
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        out = results[index]
        while next(tickets) < requests and time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                out.append((time.perf_counter() - started, response.status, len(body)))
            except (OSError, http.client.HTTPException):
                out.append((time.perf_counter() - started, 0, 0))
                conn.close()  # the next request opens a new connection
        conn.close()

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    rows = [row for out in results for row in out]
    return {
        "latency": [r[0] for r in rows],
        "status": [r[1] for r in rows],
        "size": [r[2] for r in rows],
        "wall": wall,
        "cpu": (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime),
    }


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    wall: float
    p50: float
    p95: float
    p99: float
    server_cpu: float  # CPU seconds of the gunicorn workers during the run
    client_cpu: float  # of the load generator
    other_cpu: float  # of everything else on the machine

    @property
    def throughput(self) -> float:
        return self.requests / self.wall


def measure(pool, name, port, path, tokens, args, master, expected_size=None) -> Result:
    """Run the load generator once in its process and summarize what it saw."""
    server_before, busy_before = workers_cpu_seconds(master), machine_busy_seconds()
    future = pool.submit(run_load, port, path, tokens, args.clients, args.requests, args.seconds)
    raw = future.result(timeout=args.seconds + 60)  # the loop stops itself; this is a backstop
    server_cpu = workers_cpu_seconds(master) - server_before
    busy = machine_busy_seconds() - busy_before
    bad = sum(
        status != 200 or (expected_size is not None and size != expected_size)
        for status, size in zip(raw["status"], raw["size"], strict=True)
    )
    cuts = statistics.quantiles(raw["latency"], n=100, method="inclusive")
    return Result(
        name=name,
        requests=len(raw["latency"]),
        errors=bad,
        wall=raw["wall"],
        p50=cuts[49] * 1000,
        p95=cuts[94] * 1000,
        p99=cuts[98] * 1000,
        server_cpu=server_cpu,
        client_cpu=raw["cpu"],
        other_cpu=max(busy - server_cpu - raw["cpu"], 0.0),
    )


# --- report ----------------------------------------------------------------------------------


def print_results(setup: str, results: list[Result]) -> None:
    header = ("endpoint", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms")
    print(f"\n{setup}")
    print("  " + "  ".join(f"{h:>8}" for h in header) + "  CPU s: workers / client / other")
    for r in results:
        cells = (
            r.name,
            f"{r.requests:,}",
            f"{r.errors:,}",
            f"{r.throughput:.0f}",
            f"{r.p50:.1f}",
            f"{r.p95:.1f}",
            f"{r.p99:.1f}",
        )
        cpu = f"{r.server_cpu:.1f} / {r.client_cpu:.1f} / {r.other_cpu:.1f} in {r.wall:.1f} s"
        print("  " + "  ".join(f"{c:>8}" for c in cells) + f"  {cpu}")
    heatmap, health = results
    print(f"  ratio heatmap p95 / health p95: {heatmap.p95 / health.p95:.2f}")
    busy = max(r.other_cpu / r.wall for r in results)
    if busy > BUSY_CORES:
        print(
            f"  WARNING: other processes kept {busy:.1f} of {os.cpu_count()} cores busy during "
            "a run: these latencies are pessimistic, run again on a quiet machine"
        )


def print_targets(setup: str, heatmap: Result, health: Result) -> None:
    ratio = heatmap.p95 / health.p95
    absolute = f"heatmap p95 {heatmap.p95:.1f} ms < {MAX_P95_MS:g} ms"
    relative = f"heatmap p95 <= {MAX_RATIO:g}x health p95 ({ratio:.2f}x)"
    width = max(len(absolute), len(relative))
    print(f"\ntargets ({setup}):")
    print(f"  {absolute:<{width}}  {verdict(heatmap.p95 < MAX_P95_MS)}")
    print(f"  {relative:<{width}}  {verdict(ratio <= MAX_RATIO)}")
    if heatmap.errors or health.errors:
        print(f"  {'every response 200 with the expected body':<{width}}  MISS")


# --- main ------------------------------------------------------------------------------------


def describe(worker_class: str, args: argparse.Namespace) -> str:
    threads = f" x {args.threads} threads" if worker_class == "gthread" else ""
    return f"{args.workers} {worker_class} workers{threads}"


def serve_and_measure(
    work: Path, env: dict[str, str], tokens: list[str], worker_class: str, args
) -> tuple[Result, Result]:
    """Start gunicorn, warm it up, measure both endpoints, stop it (whatever happens)."""
    port = free_port()
    command = gunicorn_command(port, args.workers, worker_class, args.threads)
    log = work / f"gunicorn-{worker_class}.log"
    print(f"\nserver: {' '.join(command[2:])}")
    server = start_server(command, env, log)
    try:
        wait_ready(server, port, log, HEALTH, tokens[0])
        status, body = get(port, HEATMAP, tokens[0], timeout=60)  # computed once, then cached
        if status != 200:
            raise RuntimeError(f"heatmap answered {status}: {body[:500]!r}")
        payload = json.loads(body)
        meta = payload["metadata"]
        print(
            f"heatmap: {len(body):,} bytes of JSON, {len(payload['times'])} times x "
            f"{len(payload['prices'])} prices (bucket {meta['time_bucket_seconds']} s, step "
            f"${meta['price_step']:g}): a long and a short matrix, "
            f"{len(payload['candles']['time'])} candles"
        )
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            for path in (HEATMAP, HEALTH):  # warm-up: both workers, every code path
                warm = pool.submit(run_load, port, path, tokens, args.clients, WARMUP_REQUESTS, 10)
                warm.result(timeout=70)
            heatmap = measure(pool, "heatmap", port, HEATMAP, tokens, args, server.pid, len(body))
            health = measure(pool, "health", port, HEALTH, tokens, args, server.pid)
        return heatmap, health
    finally:
        stop_server(server)


def bench(work: Path, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    env = setup_django(work, API_THROTTLE_RATE="1000000/min")  # this process ingests too
    info, tokens = prepare_data(work, args.users or args.clients)
    tables = info["tables"]
    print(
        f"data: {DAYS} days of 5-minute bars, files {info['days']}: {info['files']}, rows "
        f"klines={tables.get('klines', 0):,} metrics={tables.get('metrics', 0):,} "
        f"mark={tables.get('mark_price_klines', 0):,}; ingest + calculate {info['seconds']:.1f} s"
        f" (setup {time.perf_counter() - started:.1f} s in all)"
    )
    print(
        f"load: 1 generator process (spawn), {args.clients} threads, each with its own "
        "http.client connection (reopened when the server closes it) and token "
        f"({len(tokens)} users); per endpoint at most "
        f"{args.requests:,} requests or {args.seconds:g} s, after {WARMUP_REQUESTS} warm-up "
        "requests"
    )
    measured = {}
    for worker_class in args.worker_class:
        heatmap, health = serve_and_measure(work, env, tokens, worker_class, args)
        measured[worker_class] = (heatmap, health)
        print_results(describe(worker_class, args), [heatmap, health])
    first = args.worker_class[0]
    print_targets(describe(first, args), *measured[first])


def main() -> None:
    args = parse_args()
    unknown = set(args.worker_class) - {"sync", "gthread"}
    if unknown or not args.worker_class:
        raise SystemExit(f"--worker-class: sync, gthread or sync,gthread (got {unknown or ''})")
    print(f"{machine_line()}  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    with scratch("liqmap-bench-api-", args.keep) as work:
        bench(work, args)


if __name__ == "__main__":
    main()
