"""Benchmark: the heatmap page's first draw in headless Chromium, served as in production.

What it measures
    gunicorn (2 sync workers) on 127.0.0.1 with DEBUG off, static files collected by
    ``collectstatic`` and served by WhiteNoise (hashed names, gzip/brotli, cached for good),
    the bundled sample ingested, calibrated and calculated. Debian's Chromium (headless,
    through playwright) opens ``/heatmap/`` logged in, and the time is taken from the start
    of navigation (``performance.now()`` is 0 there) to the moment the page marks its plot
    ready (``#plot[data-state=ready]``: the API answered and Plotly drew the heatmap):

    * cold: a new browser context each time (empty HTTP cache, no compiled code): a first
      visit;
    * warm: the same tab reloaded (plotly.js from the cache, as every later visit).

    Each is the median of ``--runs``; the report also gives what plotly.js weighed on the
    wire. Target: cold first draw < 1 s on loopback.

How to run
    uv run python bench/first_draw.py [--runs 5] [--keep]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from harness import (
    HOST,
    REPO,
    free_port,
    gunicorn_command,
    machine_line,
    scratch,
    setup_django,
    start_server,
    stop_server,
    verdict,
    wait_ready,
)

SAMPLE = REPO / "data" / "sample" / "sim-dev"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "first-draw-bench"
TARGET_S = 1.0
READY = "#plot[data-state=ready]"


def prepare(work: Path) -> dict[str, str]:
    """Collected static files, the sample calculated, one user; the server's environment."""
    from datetime import date

    env = setup_django(work, STATIC_ROOT=str(work / "static"), STATIC_COLLECTED="true")
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from heatmaps import tasks

    call_command("collectstatic", "--noinput", verbosity=0)
    tasks.ingest("BTCUSDT", date(2024, 1, 1), date(2024, 1, 10), source=SAMPLE)
    tasks.calibrate("BTCUSDT")
    tasks.calculate("BTCUSDT")
    get_user_model().objects.create_user("bench", password=PASSWORD)
    return env


def drawn_after(page, url: str) -> float:
    """Seconds from navigation start to the plot's ready mark."""
    page.goto(url)
    page.wait_for_selector(READY, timeout=30_000)
    return page.evaluate("performance.now()") / 1000


def plotly_on_the_wire(page) -> tuple[int, int]:
    """(bytes transferred, bytes once decoded) of plotly.js in the page's last load."""
    entry = page.evaluate(
        """performance.getEntriesByType('resource').filter((e) => e.name.includes('plotly'))
           .map((e) => [e.encodedBodySize, e.decodedBodySize])[0] || [0, 0]"""
    )
    return int(entry[0]), int(entry[1])


def measure(base: str, runs: int) -> dict:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        login = browser.new_context()
        page = login.new_page()
        page.goto(f"{base}/accounts/login/?next=/heatmap/")
        page.fill("input[name=username]", "bench")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(READY, timeout=60_000)  # the API's first answer is cached now
        state = login.storage_state()
        login.close()
        cold, warm, wire = [], [], (0, 0)
        for _ in range(runs):
            context = browser.new_context(
                storage_state=state, viewport={"width": 1440, "height": 900}
            )
            page = context.new_page()
            cold.append(drawn_after(page, f"{base}/heatmap/"))
            wire = plotly_on_the_wire(page)
            warm.append(drawn_after(page, f"{base}/heatmap/"))
            context.close()
        browser.close()
    return {"cold": cold, "warm": warm, "wire": wire}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="do not remove the temporary folder")
    args = parser.parse_args()
    print(machine_line())
    with scratch("liqmap-bench-draw-", args.keep) as work:
        started = time.perf_counter()
        env = prepare(work)
        setup = time.perf_counter() - started
        print(f"setup (collectstatic, ingest, calibrate, calculate): {setup:.1f} s")
        port = free_port()
        log = work / "gunicorn.log"
        server = start_server(gunicorn_command(port), env, log)
        try:
            wait_ready(server, port, log, "/accounts/login/")
            figures = measure(f"http://{HOST}:{port}", args.runs)
        finally:
            stop_server(server)
    sent, decoded = figures["wire"]
    cold, warm = statistics.median(figures["cold"]), statistics.median(figures["warm"])
    print(f"plotly.js on the wire: {sent / 1e6:.2f} MB ({decoded / 1e6:.2f} MB decoded)")
    for name, median in (("cold", cold), ("warm", warm)):
        runs = ", ".join(f"{x:.3f}" for x in figures[name])
        print(f"first draw, {name}: median {median:.3f} s  (runs: {runs})")
    print(f"target: cold < {TARGET_S:g} s  {verdict(cold < TARGET_S)}")


if __name__ == "__main__":
    main()
