"""Benchmark: liqmap scaled out on a team's infrastructure, one worker against two.

What it measures
    Django on PostgreSQL, django-q2's queue and the cache on Redis (throwaway servers on
    loopback, bench/servers.py), the warehouse one DuckDB file per symbol. The same jobs run
    through the queue with one qcluster process, then with two (one worker each), each time
    into a fresh warehouse: ingest of every symbol of ``--source`` (one task per symbol), then
    calculate of every symbol (one task per symbol, every model). Throughput: archive bytes
    ingested per second and 5-minute bars calculated per second (bars × models), and the
    ratio of two workers to one. Target: close to 2 on this 2-core machine (a symbol's writer
    never waits for another's).

    Then, with the two-worker warehouse served by gunicorn (2 sync workers), 64 clients, each
    with its own token, poll ``trading/signals`` and a 30-day heatmap in a closed loop while a
    calculate of every symbol runs in the queue: p50/p95 latency and the number of failed
    requests (target 0: the web reads published snapshots and never waits for a writer).

The input
    ``--source`` (default the bundled sample: 10 days of BTCUSDT and of the ETHUSDT derived
    from it) in the Binance archive's layout; ``--symbols`` the ones to use.

How to run
    uv run python bench/scale.py [--source DIR] [--symbols BTCUSDT,ETHUSDT] [--clients 64]
    (needs Debian's postgresql and redis-server packages)
"""

from __future__ import annotations

import argparse
import http.client
import os
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
from servers import Postgres, Redis, postgres_binaries

SAMPLE = REPO / "data" / "sample" / "sim-dev"
FIRST, LAST = date(2024, 1, 1), date(2024, 1, 10)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=SAMPLE)
    parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT")
    parser.add_argument("--clients", type=int, default=64)
    return parser.parse_args()


def clusters(count: int, env: dict, log: Path) -> list[subprocess.Popen]:
    with open(log, "ab") as out:
        return [
            subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=REPO,
                env={**env, "QCLUSTER_WORKERS": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            for _ in range(count)
        ]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)


def jobs(workers: int, env: dict, work: Path, args) -> dict:
    """Ingest then calculate every symbol with ``workers`` clusters, into a fresh warehouse."""
    from django.conf import settings

    run = work / f"workers-{workers}"
    settings.DUCKDB_PATH, settings.SERVING_PATH = run / "liqmap.duckdb", run / "serving"
    env = {
        **env,
        "DUCKDB_PATH": str(settings.DUCKDB_PATH),
        "SERVING_PATH": str(run / "serving"),
        # the cores shared between the workers, not each taking them all
        "DUCKDB_THREADS": str(max(1, (os.cpu_count() or 1) // workers)),
    }
    symbols = args.symbols.split(",")
    running = clusters(workers, env, work / "qcluster.log")
    try:
        ingest, _ = run_queued(
            "heatmaps.tasks.ingest", [(s, FIRST, LAST) for s in symbols], source=str(args.source)
        )
        calculate, _ = run_queued("heatmaps.tasks.calculate", [(s,) for s in symbols])
    finally:
        stop(running)
    size = sum(
        p.stat().st_size for s in symbols for p in (args.source / "data").rglob(f"{s}-*.zip")
    )
    bars = sum(bar_count(s) for s in symbols) * 4  # three members and the ensemble
    return {"env": env, "ingest": ingest, "calculate": calculate, "bytes": size, "bars": bars}


def bar_count(symbol: str) -> int:
    from heatmaps import warehouse

    with warehouse.connect(symbol) as con:
        start, end = warehouse.data_range(con, symbol)
        return len(warehouse.load_bars(con, symbol, start, end + 300_000))


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
    running = clusters(1, env, work / "qcluster.log")
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
            env = setup_django(
                work,
                DATABASE_URL=postgres.database("liqmap"),
                REDIS_URL=f"{redis.url}/0",
                CACHE_URL=f"{redis.url}/1",
            )
            print(
                f"source {args.source}, symbols {args.symbols}; "
                "Django on PostgreSQL, the queue on Redis"
            )
            runs = {workers: jobs(workers, env, work, args) for workers in (1, 2)}
            print(f"{'qclusters':<10}{'ingest s':>10}{'MB/s':>8}{'calculate s':>13}{'bars/s':>10}")
            for workers, run in runs.items():
                print(
                    f"{workers:<10}{run['ingest']:>10.2f}{run['bytes'] / 1e6 / run['ingest']:>8.2f}"
                    f"{run['calculate']:>13.2f}{run['bars'] / run['calculate']:>10,.0f}"
                )
            one, two = runs[1], runs[2]
            ingest_ratio, calc_ratio = (
                one["ingest"] / two["ingest"],
                one["calculate"] / two["calculate"],
            )
            print(
                f"two workers against one: ingest ×{ingest_ratio:.2f}, calculate ×{calc_ratio:.2f}"
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
