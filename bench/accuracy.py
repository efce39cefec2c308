"""How well each model predicts: its pending heatmap against realized liquidations (and against
the true pending heatmap where a synthetic set ships one), on one or several markets.

For each archive folder: ingests it into a temporary warehouse, calibrates walk-forward (one
fit per day, each on data before that day only: ``manage.py calibrate``), runs every model
over all of it (``manage.py calculate``), and prints per model and horizon: precision@10 %
(share of the realized notional in the model's top-10 % price buckets; random = 10 %) with
its 95 % bootstrap interval over evaluation times, its lift, recall ±1 %, Spearman ρ per
bucket, Spearman ρ against ``truth/``, and the fitted parameters. The same code and constants
run on every folder.

    uv run python bench/accuracy.py ../shared/data/sim-dev ../shared/data/sim-dev2
    uv run python bench/accuracy.py data/sample/sim-dev           # the bundled 10 days
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from harness import setup_django, timed


def load_truth(root: Path) -> pd.DataFrame | None:
    path = root / "truth" / "pending_heatmap.parquet"
    if not path.exists():
        return None
    frame = pd.read_parquet(path)
    frame["side"] = frame["side"].astype(str)
    return frame.rename(columns={"hour_open_time": "time_bucket", "notional_usdt": "volume"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", type=Path, nargs="+", help="archive roots (hold data/futures/um)")
    parser.add_argument("--symbol", default="BTCUSDT")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="liqmap-accuracy-") as tmp:
        setup_django(Path(tmp))
        from django.test import override_settings

        for number, root in enumerate(args.roots):
            work = Path(tmp) / str(number)
            with override_settings(
                DUCKDB_PATH=work / "accuracy.duckdb", SERVING_PATH=work / "serving"
            ):
                run(root.resolve(), args.symbol)


def run(root: Path, symbol: str) -> None:
    from datetime import date

    from heatmaps import tasks, warehouse
    from heatmaps.models import Calibration
    from models_engine import registry
    from models_engine.backtest import HORIZONS_MS, evaluate, naive_heatmap, spearman_vs_truth
    from models_engine.units import DAY_MS, HOUR_MS

    print(f"\n=== {root} ===")
    Calibration.objects.filter(symbol=symbol).delete()
    seconds, summary = timed(
        lambda: tasks.ingest(symbol, date(2000, 1, 1), date(2100, 1, 1), source=root), 1
    )
    print(f"ingested {summary['files']} files in {seconds:.1f} s")
    seconds, fitted = timed(lambda: tasks.calibrate(symbol), 1)
    print(
        f"calibrated walk-forward in {seconds:.1f} s: "
        f"{fitted['fitted']} daily fits, {fitted['prior']} left to the prior, "
        f"{fitted.get('too_young', 0)} days too early in the data"
    )
    calc = tasks.calculate(symbol)
    print(f"models computed in {calc['compute_seconds']:.2f} s over {' .. '.join(calc['window'])}")
    with warehouse.connect(symbol) as con:
        start, end = warehouse.data_range(con, symbol)
        end += DAY_MS
        rows = {m: warehouse.heatmap_rows(con, symbol, m, start, end) for m in registry.MODEL_NAMES}
        realized = warehouse.load_realized(con, symbol, start, end)
        path = warehouse.load_market(con, symbol, start, end)["klines"]
    heatmaps = {model: frame for model, (frame, _) in rows.items()}
    step = max(s for _, s in rows.values())
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
        f"{'model':<18}{'horizon':>8}{'side':>7}{'p@10%':>8}{'95% interval':>15}{'lift':>6}"
        f"{'rec±1%':>8}{'rho':>7}{'evals':>7}"
    )
    warm = times[0] + 7 * DAY_MS
    if truth is not None:
        header += f"{'rho vs truth':>14}{'(after 7 d)':>12}"
    print(header)
    for model, heat in heatmaps.items():
        rho_truth = rho_later = None
        if truth is not None:
            rho_truth = spearman_vs_truth(heat, truth)
            later = truth[truth["time_bucket"] >= warm]
            rho_later = spearman_vs_truth(heat[heat["time_bucket"] >= warm], later)
        for horizon, ms in HORIZONS_MS.items():
            # hourly evaluations for 1 h, daily for the longer horizons (they overlap anyway)
            every = 1 if ms <= HOUR_MS else DAY_MS // HOUR_MS
            for side in (None, "long", "short"):
                s = evaluate(heat, realized, path, step, ms, eval_times=times[::every], side=side)
                interval = f"{s['p10_low']:.3f}..{s['p10_high']:.3f}"
                line = (
                    f"{model:<18}{horizon:>8}{side or 'both':>7}{s['precision_at_10']:>8.3f}"
                    f"{interval:>15}{s['lift']:>6.2f}{s['recall_1pct']:>8.2f}"
                    f"{s['spearman']:>7.3f}{s['evaluations']:>7}"
                )
                if rho_truth is not None and side is None:
                    line += f"{rho_truth:>14.3f}{rho_later:>12.3f}"
                print(line)
    print_parameters(symbol)


def print_parameters(symbol: str) -> None:
    """The fitted parameters: the latest fit, and how they moved over the walk-forward."""
    from heatmaps.models import Calibration
    from models_engine.calibration import Parameters

    fits = list(Calibration.objects.filter(symbol=symbol, fitted=True).order_by("valid_from"))
    if not fits:
        print("\nno calibration was fitted (no realized liquidations): the prior was used")
        return
    params = [Parameters.from_dict(f.parameters) for f in fits]
    latest = params[-1]
    print(
        f"\nfitted parameters ({len(fits)} daily walk-forward fits; latest on "
        f"{fits[-1].liquidations:,} liquidations, valid from {fits[-1].valid_from:%Y-%m-%d})"
    )
    print(f"  half-life at 10x (h), over the fits: {_spread([p.half_life_hours for p in params])}")
    print(f"  half-life slope in leverage:         {_spread([p.half_life_slope for p in params])}")
    print(f"  closing share of OI falls:           {_spread([p.closing_share for p in params])}")
    print(f"  closing lean to taker flow:          {_spread([p.closing_lean for p in params])}")
    print(f"  latest half-lives (h): {latest.half_life_table()}")
    for side, mix in latest.leverage_mix(latest.typical_features).items():
        shown = ", ".join(f"{t:g}x {100 * w:.0f}%" for t, w in mix.items())
        print(f"  latest {side} leverage mix: {shown}")
    rates = latest.rates.sum(axis=2)
    print(
        "  latest opening rates (USDT opened per USDT of volume / of OI increase): "
        f"long {rates[0, 0]:.4f} / {rates[0, 1]:.3f}, short {rates[1, 0]:.4f} / {rates[1, 1]:.3f}"
    )


def _spread(values: list[float]) -> str:
    q = np.quantile(values, [0, 0.5, 1])
    return f"median {q[1]:g} (min {q[0]:g}, max {q[2]:g})"


if __name__ == "__main__":
    main()
