"""Benchmark: what trading bots polling the signal cost the server, now and with at=.

What it measures
    "A bot that polls every minute for a day costs the server little": 64 bots (``--clients``)
    ask ``GET /api/v1/trading/signals`` of a real server, each with its own user and token and
    its own connection, in two modes, one after the other, on the same server:

    * latest   ``?symbol=BTCUSDT``: the signal now (what a live bot asks every minute);
    * at       ``?symbol=BTCUSDT&at=<minute>``: the signal as of a past minute, each bot
               walking through a day of minutes from its own start (what a backtesting bot,
               e.g. a Nautilus Trader client on a simulated clock, asks: no two requests alike,
               so nothing is answered from a cache).

    And two loads per mode:

    * rounds   ``--rounds`` rounds in which every bot asks once at the same instant (a
               barrier), the next round starting when the last answer is in: the minute's
               polls of 64 bots that all poll on the minute (their worst case), without the
               minute between them;
    * closed   a closed loop (each bot asks again as soon as it has its answer) for
               ``--seconds`` seconds or ``--requests`` requests: the server saturated, which
               gives its capacity and its CPU per request.

    Per mode and load: requests, failures (anything but a 200 with a JSON body holding an
    ``action``: errors, 429s of the throttle, timeouts), p50 / p95 / max latency (from send to
    the last byte read, ``time.perf_counter``), requests/s, and the CPU milliseconds of the
    gunicorn workers per request. From the closed loop: what 64 bots polling once a minute for
    a day (92,160 requests) cost, in CPU seconds of the server and as a share of one core, and
    their 1.07 requests/s as a share of what the server answered.

    The server: ``gunicorn liqsite.wsgi:application``, 2 sync workers on 127.0.0.1, the
    production settings (DEBUG off, token auth, the per-user throttle at its default rate,
    a file cache both workers share). The load generator is one separate process
    (multiprocessing, spawn) with a thread and an ``http.client`` connection per bot.

The data
    The bundled sample (data/sample/sim-dev: 10 days of a synthetic BTCUSDT market in the
    archive's layout), ingested, calibrated walk-forward and calculated (every model) with
    liqmap's own jobs into a temporary folder, which also holds Django's database and the
    cache: nothing of the checkout is touched. The at= minutes are those of 2024-01-09.

How to run
    uv run python bench/bots.py [--clients 64] [--rounds 20] [--seconds 20] [--requests 5000]
                                [--keep]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import itertools
import json
import multiprocessing
import resource
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from harness import (
    HOST,
    REPO,
    free_port,
    get,
    gunicorn_command,
    machine_line,
    scratch,
    setup_django,
    start_server,
    stop_server,
    timed,
    wait_ready,
)

SYMBOL = "BTCUSDT"
SAMPLE = REPO / "data" / "sample" / "sim-dev"
SIGNALS = f"/api/v1/trading/signals?symbol={SYMBOL}"
REPLAYED_DAY = datetime(2024, 1, 9, tzinfo=UTC)
MINUTES_A_DAY = 24 * 60
WARMUP_REQUESTS = 128


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64, help="bots, each with its token")
    parser.add_argument("--seconds", type=float, default=20.0, help="per mode, at most")
    parser.add_argument("--requests", type=int, default=5000, help="per mode, at most")
    parser.add_argument("--rounds", type=int, default=20, help="rounds of one poll per bot")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--keep", action="store_true", help="do not remove the temporary folder")
    return parser.parse_args()


def prepare(work: Path, bots: int) -> tuple[dict, list[str]]:
    """The sample ingested, calibrated and calculated; a user and token per bot."""
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    from heatmaps import tasks

    seconds, _ = timed(
        lambda: (
            tasks.ingest(SYMBOL, date(2024, 1, 1), date(2024, 1, 10), source=SAMPLE),
            tasks.calibrate(SYMBOL),
            tasks.calculate(SYMBOL),
        ),
        1,
    )
    users = get_user_model()
    tokens = [
        AuthToken.objects.create(users.objects.create_user(f"bot{i}"))[1] for i in range(bots)
    ]
    return {"seconds": seconds}, tokens


def at_path(minute: int) -> str:
    moment = REPLAYED_DAY + timedelta(minutes=minute % MINUTES_A_DAY)
    return f"{SIGNALS}&at={moment:%Y-%m-%dT%H:%M:%SZ}"


def paths_for(mode: str, bot: int, bots: int):
    """The endless sequence of paths one bot asks: the same one, or a day of minutes from
    the bot's own start."""
    if mode == "latest":
        return itertools.repeat(SIGNALS)
    start = bot * MINUTES_A_DAY // bots
    return (at_path(start + k) for k in itertools.count())


def ask(conn: http.client.HTTPConnection, path: str, headers: dict) -> tuple[float, bool]:
    """(latency s, ok) of one request on ``conn``: ok is a 200 with a signal in its body. A
    connection that failed is closed (the next request opens a new one)."""
    started = time.perf_counter()
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        ok = response.status == 200 and "action" in json.loads(body)
    except (OSError, http.client.HTTPException, ValueError):
        ok = False
        conn.close()
    return time.perf_counter() - started, ok


def run_bots(
    port: int, mode: str, tokens: list[str], requests: int, seconds: float, rounds: int = 0
) -> dict:
    """One thread and connection per token. With ``rounds``: that many rounds in which every
    bot asks once at the same instant (a barrier), a round starting when the last answer of
    the previous one is in: a minute's polls, without the minute. Without: a closed loop
    until ``requests`` are sent or ``seconds`` have passed. Returns (latency s, ok) of every
    request, the wall time and this process's CPU."""
    tickets = itertools.count()  # next() on it is atomic under the GIL: bounds the total
    deadline = time.perf_counter() + seconds
    together = threading.Barrier(len(tokens))
    results: list[list[tuple[float, bool]]] = [[] for _ in tokens]

    def bot(index: int) -> None:
        headers = {"Authorization": f"Token {tokens[index]}"}
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        paths = paths_for(mode, index, len(tokens))
        if rounds:
            for _ in range(rounds):
                together.wait()
                results[index].append(ask(conn, next(paths), headers))
        else:
            while next(tickets) < requests and time.perf_counter() < deadline:
                results[index].append(ask(conn, next(paths), headers))
        conn.close()

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    threads = [threading.Thread(target=bot, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "rows": [row for out in results for row in out],
        "wall": time.perf_counter() - started,
        "cpu": (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime),
    }


def report(label: str, raw: dict, server_cpu: float) -> dict:
    import numpy as np

    latency = np.array([r[0] for r in raw["rows"]]) * 1000
    failed = sum(not r[1] for r in raw["rows"])
    count = len(latency)
    p50, p95 = np.percentile(latency, [50, 95])
    print(
        f"  {label:<16} {count:>8,} {failed:>7,} {count / raw['wall']:>7.0f} {p50:>8.1f} "
        f"{p95:>8.1f} {latency.max():>8.1f} {1000 * server_cpu / count:>9.1f}"
    )
    return {"cpu_per_request": server_cpu / count, "rate": count / raw["wall"]}


def serve_and_measure(work: Path, env: dict, tokens: list[str], args) -> None:
    from api import workers_cpu_seconds  # bench/api.py: CPU of the gunicorn workers

    port = free_port()
    command = gunicorn_command(port, args.workers, "sync")
    log = work / "gunicorn.log"
    print(f"server: {' '.join(command[2:])}")
    server = start_server(command, env, log)
    bots = len(tokens)
    try:
        wait_ready(server, port, log, SIGNALS, tokens[0])
        for mode in ("latest", "at"):
            path = SIGNALS if mode == "latest" else at_path(0)
            status, body = get(port, path, tokens[0])
            print(f"{mode}: {status} {body[:160].decode()}...")
        context = multiprocessing.get_context("spawn")
        saturated = {}
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:

            def measure(label: str, mode: str, **load) -> dict:
                before = workers_cpu_seconds(server.pid)
                raw = pool.submit(run_bots, port, mode, tokens, **load).result(
                    timeout=args.seconds + 600
                )
                return report(label, raw, workers_cpu_seconds(server.pid) - before)

            print(
                f"\n{bots} bots: {args.rounds} rounds of one request each at the same instant "
                f"(a minute's polls), then a closed loop of at most {args.requests:,} requests "
                f"or {args.seconds:g} s"
            )
            print(
                "  load             requests  failed   req/s   p50 ms   p95 ms   max ms  CPU ms/req"
            )
            for mode in ("latest", "at"):
                pool.submit(run_bots, port, mode, tokens, WARMUP_REQUESTS, 10).result(timeout=70)
                measure(f"{mode}, rounds", mode, requests=0, seconds=0, rounds=args.rounds)
                saturated[mode] = measure(
                    f"{mode}, closed", mode, requests=args.requests, seconds=args.seconds
                )
        print(f"\n{bots} bots polling once a minute for a day ({bots * MINUTES_A_DAY:,} requests):")
        for mode, figures in saturated.items():
            day_cpu = bots * MINUTES_A_DAY * figures["cpu_per_request"]
            print(
                f"  {mode:<7} {day_cpu:.0f} CPU s of the server a day "
                f"({100 * day_cpu / 86400:.2f} % of one core); their {bots / 60:.2f} "
                f"requests/s are {100 * bots / 60 / figures['rate']:.1f} % of what it answered "
                "in the closed loop"
            )
    finally:
        stop_server(server)


def main() -> None:
    args = parse_args()
    print(f"{machine_line()}  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    with scratch("liqmap-bench-bots-", args.keep) as work:
        env = setup_django(work)
        info, tokens = prepare(work, args.clients)
        print(
            f"data: the bundled sample ({SYMBOL}, 2024-01-01 .. 2024-01-10) ingested, "
            f"calibrated and calculated in {info['seconds']:.1f} s; {len(tokens)} bots"
        )
        serve_and_measure(work, env, tokens, args)


if __name__ == "__main__":
    main()
