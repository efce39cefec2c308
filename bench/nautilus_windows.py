"""The Nautilus client's backtest next to ``manage.py paper_trade`` on 30-day windows.

Ingests an archive folder into a private warehouse, calibrates walk-forward and calculates
every model (skipped when ``--work`` already holds them), serves it with gunicorn on loopback,
then for each window runs clients/nautilus's backtest (1-minute bars, the actor asking the
signal ``at=`` each simulated hour, with and without the filter) and ``paper_trade`` (hourly
closes, the stored heatmaps), and prints both side by side.

    uv run python bench/nautilus_windows.py ../shared/data/sim-dev --work /tmp/nw
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import (
    HOST,
    REPO,
    django_env,
    free_port,
    gunicorn_command,
    start_server,
    stop_server,
    wait_ready,
)

WINDOWS = [("2024-01-01", "2024-01-30"), ("2024-01-31", "2024-02-29"), ("2024-03-01", "2024-03-30")]
PAPER = re.compile(r"^\s+(baseline|filtered)\s+P&L ([+-]\d+\.\d+) % of capital, (\d+) trades", re.M)


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def prepare(env: dict, archive: Path, symbol: str) -> None:
    manage(env, "migrate", "--noinput", "-v0")
    warehouse = Path(env["DUCKDB_PATH"])
    if warehouse.with_name(f"{warehouse.stem}-{symbol}{warehouse.suffix}").exists():
        return  # the symbol's warehouse of an earlier run: models calculated already
    manage(
        env,
        "ingest",
        "--source",
        str(archive),
        "--symbol",
        symbol,
        "--start",
        "2000-01-01",
        "--end",
        "2100-01-01",
    )
    manage(env, "calibrate", "--symbol", symbol)
    manage(env, "calculate", "--symbol", symbol, "--model", "all")


def paper_trade(env: dict, symbol: str, start: str, end: str) -> dict:
    out = manage(env, "paper_trade", "--symbol", symbol, "--start", start, "--end", end)
    runs = {name: {"pnl_pct": float(p), "trades": int(t)} for name, p, t in PAPER.findall(out)}
    runs["signals"] = re.search(r"signals from \w+: (\{.*\})", out).group(1)
    return runs


def nautilus(client: Path, archive: Path, url: str, token: str, symbol, start, end, out: Path):
    done = subprocess.run(
        [
            str(client / ".venv" / "bin" / "python"),
            "-m",
            "liqmap_nautilus.backtest",
            "--archive",
            str(archive),
            "--symbol",
            symbol,
            "--start",
            start,
            "--end",
            end,
            "--server",
            url,
            "--token",
            token,
            "--json",
            str(out),
        ],
        cwd=client,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(
            f"the Nautilus backtest failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path, help="an archive root (holds data/futures/um)")
    parser.add_argument("--symbol", default="BTCUSDT")
    parser.add_argument("--work", type=Path, help="keep the warehouse here (reused next time)")
    parser.add_argument("--client", type=Path, default=REPO / "clients" / "nautilus")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="liqmap-nautilus-"))
    work.mkdir(parents=True, exist_ok=True)
    env = django_env(work, API_THROTTLE_RATE="1000000/min")
    env["SECRET_KEY"] = "bench-only"  # stable: the tokens stay valid across reruns
    prepare(env, args.archive.resolve(), args.symbol)
    token = re.search(r"API token\s+(\w+)", manage(env, "demo_user", "--username", "bot"))[1]
    port, log = free_port(), work / "gunicorn.log"
    server = start_server(gunicorn_command(port), env, log)
    results = []
    try:
        wait_ready(server, port, log, "/api/v1/health", token)
        for start, end in WINDOWS:
            naut = nautilus(
                args.client,
                args.archive.resolve(),
                f"http://{HOST}:{port}",
                token,
                args.symbol,
                start,
                end,
                work / f"nautilus-{start}.json",
            )
            paper = paper_trade(env, args.symbol, start, end)
            results.append({"start": start, "end": end, "nautilus": naut, "paper_trade": paper})
            report(results[-1])
    finally:
        stop_server(server)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def report(r: dict) -> None:
    naut, paper = r["nautilus"], r["paper_trade"]
    print(f"\n{r['start']}..{r['end']}")
    b, f = paper["baseline"], paper["filtered"]
    print(
        f"  paper_trade  baseline {b['pnl_pct']:+7.2f} %  {b['trades']:3d} trades | filtered "
        f"{f['pnl_pct']:+7.2f} %  {f['trades']:3d} trades | signals {paper['signals']}"
    )
    u, f = naut["unfiltered"], naut["filtered"]
    print(
        f"  Nautilus     baseline {u['pnl_pct']:+7.2f} %  {u['trades']:3d} trades "
        f"(max DD {u['max_drawdown_pct']:.2f} %) | filtered {f['pnl_pct']:+7.2f} %  "
        f"{f['trades']:3d} trades (max DD {f['max_drawdown_pct']:.2f} %) | signals "
        f"{f['signals_by_action']}, {f['signals_from_server']}/{f['signals_received']} "
        f"answered, {f['acted']}"
    )


if __name__ == "__main__":
    main()
