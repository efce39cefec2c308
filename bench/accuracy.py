"""How well each model predicts: its pending heatmap against realized liquidations (and against
the true pending heatmap where a synthetic set ships one).

Ingests an archive folder into a temporary warehouse, runs every model over all of it the way
``manage.py calculate`` does, and prints per model and horizon: precision@10 % (share of the
realized notional in the model's top-10 % price buckets; random = 10 %), its lift, the Wilson
95 % lower bound, recall ±1 %, Spearman ρ per bucket, and Spearman ρ against ``truth/``.

    uv run python bench/accuracy.py ../shared/data/sim-dev        # the developers' 91 days
    uv run python bench/accuracy.py data/sample/sim-dev           # the bundled 10 days
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def setup_django(work: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liqsite.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'db.sqlite3'}"
    os.environ["DUCKDB_PATH"] = str(work / "accuracy.duckdb")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def load_truth(root: Path) -> pd.DataFrame | None:
    path = root / "truth" / "pending_heatmap.parquet"
    if not path.exists():
        return None
    frame = pd.read_parquet(path)
    return frame.rename(columns={"hour_open_time": "time_bucket", "notional_usdt": "volume"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="archive root (holds data/futures/um/...)")
    parser.add_argument("--symbol", default="BTCUSDT")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="liqmap-accuracy-") as tmp:
        setup_django(Path(tmp))
        run(args.root.resolve(), args.symbol)


def run(root: Path, symbol: str) -> None:
    from datetime import date

    from heatmaps import tasks, warehouse
    from models_engine.backtest import HORIZONS_MS, evaluate, naive_heatmap, spearman_vs_truth

    started = time.perf_counter()
    summary = tasks.ingest(symbol, date(2000, 1, 1), date(2100, 1, 1), source=root)
    print(f"ingested {summary['files']} files in {time.perf_counter() - started:.1f} s")
    calc = tasks.calculate(symbol)
    print(f"models computed in {calc['compute_seconds']:.2f} s over {' .. '.join(calc['window'])}")
    with warehouse.connect() as con:
        heatmaps = {
            model: con.execute(
                "SELECT epoch_ms(time_bucket) AS time_bucket, price_bucket, side, volume "
                "FROM heatmap_cache WHERE symbol = ? AND model = ?",
                [symbol, model],
            ).df()
            for model in tasks.MODEL_NAMES
        }
        step = con.execute("SELECT max(price_step) FROM model_runs").fetchone()[0]
        start, end = warehouse.data_range(con, symbol)
        realized = warehouse.load_realized(con, symbol, start, end + pd.Timedelta(days=1))
        path = warehouse.load_market(con, symbol, start, end + pd.Timedelta(days=1))["klines"]
    times = np.unique(heatmaps["ensemble"]["time_bucket"])
    heatmaps["naive baseline"] = naive_heatmap(path, times, step)
    truth = load_truth(root)
    if truth is not None:
        heatmaps["TRUTH (ceiling)"] = truth[truth["time_bucket"].isin(times)]
    print(
        f"{len(realized):,} realized liquidations, {realized['volume'].sum() / 1e9:.2f} bn "
        f"USDT; {len(times):,} hourly snapshots; ${step:g} buckets\n"
    )
    header = (
        f"{'model':<18}{'horizon':>8}{'side':>7}{'p@10%':>8}{'lift':>6}{'wilson':>8}"
        f"{'rec±1%':>8}{'rho':>7}{'evals':>7}"
    )
    if truth is not None:
        header += f"{'rho vs truth':>14}"
    print(header)
    for model, heat in heatmaps.items():
        rho_truth = spearman_vs_truth(heat, truth) if truth is not None else None
        for horizon, ms in HORIZONS_MS.items():
            # hourly evaluations for 1 h, daily for the longer horizons (they overlap anyway)
            every = 1 if ms <= 3_600_000 else 24
            for side in (None, "long", "short"):
                s = evaluate(heat, realized, path, step, ms, eval_times=times[::every], side=side)
                line = (
                    f"{model:<18}{horizon:>8}{side or 'both':>7}{s['precision_at_10']:>8.3f}"
                    f"{s['lift']:>6.2f}{s['wilson_low']:>8.3f}{s['recall_1pct']:>8.2f}"
                    f"{s['spearman']:>7.3f}{s['evaluations']:>7}"
                )
                if rho_truth is not None and side is None:
                    line += f"{rho_truth:>14.3f}"
                print(line)


if __name__ == "__main__":
    main()
