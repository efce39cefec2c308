"""Benchmark: liqmap scaled out on a team's infrastructure, one worker against two.

What it measures
    Django on PostgreSQL, django-q2's queue and the cache on Redis (throwaway servers on
    loopback, bench/servers.py), the warehouse one DuckDB file per symbol. The same jobs run
    through the queue with one qcluster process, then with two (one worker each), each time
    into a fresh warehouse:
      * ingest: every symbol (one task per symbol);
      * spread: the first symbol's warehouse removed and ingested again, spread
        (``ingest(spread=True)``: the job loads, ``stage_day`` tasks hash and unzip a day each);
      * backfill: the same again, downloaded from a slow archive on loopback (``--latency-ms``
        before each answer, ``--mb-per-s`` per connection, as a CDN far away) by
        ``fetch_and_ingest(spread=True)``: the workers download, hash and unzip the days;
      * calculate: every symbol (one task per symbol, every model);
      * big: ``--big-gb`` of large zipped aggTrades days (bench/ingest.py's generator, ~66 MB
        of CSV a day) of a symbol of their own, ingested spread.
    Throughput: archive bytes ingested per second and 5-minute bars calculated per second
    (bars × models), the share of files the other workers staged, and the ratio of two
    workers to one. Target: close to 2 on this 2-core machine for the jobs of two symbols and
    for the backfill (a symbol's writer never waits for another's; downloads wait for the
    network, not for each other). A spread ingest of local files has little to gain on 2
    cores: DuckDB already spreads a file's parse over both, and the workers take only the
    unzipping and hashing off the job.

    Then, with the two-worker warehouse served by gunicorn (2 sync workers), 64 clients, each
    with its own token, poll ``trading/signals`` and a 30-day heatmap in a closed loop while a
    calculate of every symbol runs in the queue: p50/p95 latency and the number of failed
    requests (target 0: the web reads published snapshots and never waits for a writer).

The input
    ``--source`` (default the bundled sample: 10 days of BTCUSDT and of the ETHUSDT derived
    from it) in the Binance archive's layout; ``--market DIR`` instead repacks a whole
    synthetic market of the development data (e.g. ../shared/data/sim-dev, 91 days) into the
    archive's zips with its derived ETHUSDT, as data/sample/rebuild.py does for the sample's
    first days. ``--symbols`` the ones to use (the first is the spread one).

How to run
    uv run python bench/scale.py [--source DIR | --market DIR] [--symbols BTCUSDT,ETHUSDT]
    [--clients 64] [--latency-ms 50] [--mb-per-s 10] [--big-gb 0.5]
    (needs Debian's postgresql and redis-server packages)
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
from harness import (  # puts the repository on the path
    HOST,
    REPO,
    free_port,
    gunicorn_command,
    machine_line,
    run_queued,
    setup_django,
    start_server,
    stop_server,
    verdict,
    wait_ready,
)
from ingest import generate
from servers import Postgres, Redis, SlowArchive, postgres_binaries

SAMPLE = REPO / "data" / "sample" / "sim-dev"
FIRST, LAST = date(2000, 1, 1), date(2099, 12, 31)  # whatever the source holds
BIG = "BIGUSDT"  # the large files' own symbol


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--source", type=Path, default=SAMPLE)
    source.add_argument("--market", type=Path, help="a synthetic market's folder to repack")
    parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument(
        "--latency-ms", type=float, default=50, help="the slow archive's wait before answering"
    )
    parser.add_argument(
        "--mb-per-s", type=float, default=10, help="the slow archive's speed per connection"
    )
    parser.add_argument(
        "--big-gb", type=float, default=0.5, help="large aggTrades days for a spread ingest"
    )
    return parser.parse_args()


def cluster(workers: int, env: dict, log: Path) -> subprocess.Popen:
    """One qcluster with ``workers`` workers. Not several one-worker clusters: a django-q2
    cluster takes up to two queued tasks beyond those its workers run (its queue holds at
    least one, its pusher one more), so a second cluster on the same queue may wait idle
    while the first holds work."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=REPO,
            env={**env, "QCLUSTER_WORKERS": str(workers)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=60)


def jobs(workers: int, env: dict, work: Path, args) -> dict:
    """Ingest then calculate every symbol with ``workers`` workers, into a fresh warehouse."""
    from django.conf import settings

    run = work / f"workers-{workers}"
    settings.DUCKDB_PATH, settings.SERVING_PATH = run / "liqmap.duckdb", run / "serving"
    env = {
        **env,
        "DUCKDB_PATH": str(settings.DUCKDB_PATH),
        "SERVING_PATH": str(run / "serving"),
        "BINANCE_DATA_PATH": str(run / "mirror"),
    }
    symbols = args.symbols.split(",")
    running = cluster(workers, env, work / "qcluster.log")
    try:
        ingest, _ = run_queued(
            "heatmaps.tasks.ingest", [(s, FIRST, LAST) for s in symbols], source=str(args.source)
        )
        drop_warehouse(symbols[0])  # and again, spread (the workers have started by now)
        spread, spread_share = spread_ingest(symbols[0], args.source)
        drop_warehouse(symbols[0])  # and again, downloaded from the slow archive, spread
        backfill, backfill_share = spread_backfill(symbols[0], args.source)
        calculate, _ = run_queued("heatmaps.tasks.calculate", [(s,) for s in symbols])
        big, big_share = spread_ingest(BIG, args.big) if args.big else (None, None)
        drop_warehouse(BIG)
    finally:
        stop(running)
    sizes = {
        s: sum(p.stat().st_size for p in (args.source / "data").rglob(f"{s}-*.zip"))
        for s in symbols
    }
    bars = sum(bar_count(s) for s in symbols) * 4  # three members and the ensemble
    return {
        "env": env,
        "ingest": ingest,
        "bytes": sum(sizes.values()),
        "spread": spread,
        "spread_bytes": sizes[symbols[0]],
        "spread_share": spread_share,
        "calculate": calculate,
        "bars": bars,
        "backfill": backfill,
        "backfill_share": backfill_share,
        "big": big,
        "big_share": big_share,
        "big_bytes": sum(p.stat().st_size for p in args.big.rglob("*.zip")) if args.big else 0,
    }


def spread_ingest(symbol: str, source: Path) -> tuple[float, float]:
    """Seconds of ``symbol``'s ingest spread over the workers, and the share of its files
    that they staged."""
    seconds, (task,) = run_queued(
        "heatmaps.tasks.ingest", [(symbol, FIRST, LAST)], source=str(source), spread=True
    )
    return seconds, task.result["staged_by_workers"] / task.result["files"]


def spread_backfill(symbol: str, source: Path) -> tuple[float, float]:
    """Seconds of ``fetch_and_ingest(spread=True)`` of ``symbol``'s days in ``source`` from
    the slow archive, and the share of its files the workers downloaded."""
    from heatmaps.binance import archive

    found = archive.find_local_files(
        source, symbol, FIRST, LAST, archive.parse_selections("metrics", need_interval=False)
    )
    first, last = found[0].first_day, found[-1].last_day
    seconds, (task,) = run_queued(
        "heatmaps.tasks.fetch_and_ingest", [(symbol, first, last)], spread=True
    )
    ingested = task.result["ingest"]
    return seconds, ingested["staged_by_workers"] / ingested["files"]


def drop_warehouse(symbol: str) -> None:
    """Remove what an ingest of ``symbol`` left, so that the next one starts afresh."""
    from django.conf import settings

    from heatmaps import warehouse

    path = warehouse.path_of(symbol)
    for leftover in path.parent.glob(f"{path.name}*"):
        leftover.unlink()
    shutil.rmtree(Path(settings.SERVING_PATH) / symbol, ignore_errors=True)


def bar_count(symbol: str) -> int:
    from heatmaps import warehouse

    with warehouse.connect(symbol) as con:
        start, end = warehouse.data_range(con, symbol)
        return len(warehouse.load_bars(con, symbol, start, end + 300_000))


def repacked(market: Path, root: Path) -> Path:
    """The market's BTCUSDT CSVs as the archive's zips, with the sample's derived ETHUSDT."""
    sys.path.insert(0, str(REPO / "data" / "sample"))
    from rebuild import repack

    started = time.perf_counter()
    repack(market, root)
    size = sum(p.stat().st_size for p in root.rglob("*.zip"))
    print(
        f"repacked {market} in {time.perf_counter() - started:.0f} s: {size / 1e6:.1f} MB of zips"
    )
    return root


def clients_under_load(env: dict, work: Path, args) -> dict:
    """64 clients polling while a calculate of every symbol runs in the queue."""
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    users = get_user_model()
    tokens = [
        AuthToken.objects.create(users.objects.create_user(f"scale{i}"))[1]
        for i in range(args.clients)
    ]
    port, log = free_port(), work / "gunicorn.log"
    server = start_server(gunicorn_command(port), env, log)
    running = cluster(2, env, work / "qcluster.log")
    results: list[tuple[float, bool]] = []
    done = threading.Event()
    try:
        wait_ready(server, port, log, "/api/v1/trading/signals", tokens[0])
        paths = ["/api/v1/trading/signals", "/api/v1/liquidations/heatmap?timeframe=30d"]

        def client(token: str) -> None:
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
            headers = {"Authorization": f"Token {token}"}
            k = 0
            while not done.is_set():
                started = time.perf_counter()
                try:
                    conn.request("GET", paths[k % 2], headers=headers)
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    conn.close()
                results.append((time.perf_counter() - started, ok))
                k += 1

        threads = [threading.Thread(target=client, args=(t,)) for t in tokens]
        for thread in threads:
            thread.start()
        seconds, _ = run_queued("heatmaps.tasks.calculate", [(s,) for s in args.symbols.split(",")])
        done.set()
        for thread in threads:
            thread.join()
    finally:
        done.set()
        stop(running)
        stop_server(server)
    latency = np.array([r[0] for r in results]) * 1000
    return {
        "seconds": seconds,
        "requests": len(results),
        "failed": sum(not r[1] for r in results),
        "p50": float(np.percentile(latency, 50)),
        "p95": float(np.percentile(latency, 95)),
    }


def main() -> None:
    args = parse_args()
    pg_bin, redis_bin = postgres_binaries(), shutil.which("redis-server")
    if pg_bin is None or redis_bin is None:
        sys.exit(
            "bench/scale.py needs PostgreSQL and Redis: apt-get install postgresql redis-server"
        )
    print(machine_line())
    postgres, redis = Postgres(pg_bin), Redis(redis_bin)
    try:
        with tempfile.TemporaryDirectory(prefix="liqmap-scale-") as folder:
            work = Path(folder)
            if args.market:
                args.source = repacked(args.market, work / "archive")
            args.big = None
            if args.big_gb:
                args.big = work / "big"
                days = generate(args.big, int(args.big_gb * 1e9), BIG, as_zip=True)
                size = sum(p.stat().st_size for p in days)
                print(f"{len(days)} days of {BIG} aggTrades, {size / 1e6:.0f} MB of zips")
            slow = SlowArchive(args.source, args.latency_ms / 1000, args.mb_per_s * 1e6)
            print(
                f"slow archive: {args.latency_ms:g} ms before each answer, "
                f"{args.mb_per_s:g} MB/s per connection"
            )
            env = setup_django(
                work,
                DATABASE_URL=postgres.database("liqmap"),
                REDIS_URL=f"{redis.url}/0",
                CACHE_URL=f"{redis.url}/1",
                BINANCE_BASE_URL=slow.url,
                FETCH_BACKOFF_SECONDS="0.1",
            )
            print(
                f"source {args.source}, symbols {args.symbols}; "
                "Django on PostgreSQL, the queue on Redis"
            )
            runs = {workers: jobs(workers, env, work, args) for workers in (1, 2)}
            columns = [  # (heading, width, format, figure)
                ("workers", 7, "d", lambda w, r: w),
                ("ingest s", 10, ".2f", lambda w, r: r["ingest"]),
                ("MB/s", 7, ".2f", lambda w, r: r["bytes"] / 1e6 / r["ingest"]),
                ("spread s", 10, ".2f", lambda w, r: r["spread"]),
                ("MB/s", 7, ".2f", lambda w, r: r["spread_bytes"] / 1e6 / r["spread"]),
                ("staged", 8, ".0%", lambda w, r: r["spread_share"]),
                ("backfill s", 12, ".2f", lambda w, r: r["backfill"]),
                ("staged", 8, ".0%", lambda w, r: r["backfill_share"]),
                ("calculate s", 13, ".2f", lambda w, r: r["calculate"]),
                ("bars/s", 9, ",.0f", lambda w, r: r["bars"] / r["calculate"]),
            ]
            if args.big:
                columns += [
                    ("big s", 8, ".2f", lambda w, r: r["big"]),
                    ("MB/s", 7, ".1f", lambda w, r: r["big_bytes"] / 1e6 / r["big"]),
                    ("staged", 8, ".0%", lambda w, r: r["big_share"]),
                ]
            print("".join(f"{name:>{width}}" for name, width, _, _ in columns))
            for workers, run in runs.items():
                print("".join(f"{get(workers, run):>{w}{f}}" for _, w, f, get in columns))
            one, two = runs[1], runs[2]
            compared = ["ingest", "spread", "backfill", "calculate"] + (["big"] if args.big else [])
            print(
                "two workers against one: "
                + ", ".join(f"{job} ×{one[job] / two[job]:.2f}" for job in compared)
            )
            print(
                f"(ingest: a task per symbol, {args.symbols}; spread: {args.symbols.split(',')[0]} "
                "alone, a stage task per day; backfill: the same downloaded from the slow "
                f"archive, spread; big: {BIG}'s large days alone, spread)"
            )
            load = clients_under_load(runs[2]["env"], work, args)
            print(
                f"{args.clients} clients while a calculate ran ({load['seconds']:.1f} s): "
                f"{load['requests']:,} requests, p50 {load['p50']:.0f} ms, "
                f"p95 {load['p95']:.0f} ms, "
                f"failed {load['failed']} (target 0: {verdict(load['failed'] == 0)})"
            )
    finally:
        redis.close()
        postgres.close()


if __name__ == "__main__":
    main()
