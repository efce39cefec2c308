"""Jobs that score the stored heatmaps: backtest (a BacktestRun) and paper_trade."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import structlog
from django.utils import timezone

from heatmaps import warehouse
from heatmaps.binance.stream import STREAM_UNDERCOUNT
from heatmaps.models import BacktestRun
from models_engine.backtest import HORIZONS_MS, evaluate
from models_engine.paper_trading import paper_trade as paper_trade_engine
from models_engine.paper_trading import signal_history
from models_engine.units import DAY_MS, HOUR_MS

from .common import day_ms

log = structlog.get_logger("liqmap.backtest")


def backtest(run_id: int) -> dict:
    """Score the stored heatmaps of a BacktestRun's models against realized liquidations, per
    horizon and side; store the figures on the run. A run is scored by one process only."""
    run = BacktestRun.objects.get(pk=run_id)
    if not run.claim():
        return {"run": run_id, "skipped": f"already {run.status}"}
    try:
        run.results, run.notes = _score(run)
        run.status = BacktestRun.Status.DONE
    except Exception as exc:
        run.status, run.error = BacktestRun.Status.FAILED, f"{type(exc).__name__}: {exc}"
        log.exception("backtest_failed", run=run_id)
    run.finished_at = timezone.now()
    run.save()
    return {"run": run_id, "status": run.status, "rows": len(run.results)}


def _score(run: BacktestRun) -> tuple[list[dict], list[str]]:
    """The figures per model, horizon and side, and what their reader must know."""
    horizons = [h.strip() for h in run.horizons.split(",") if h.strip()]
    unknown = [h for h in horizons if h not in HORIZONS_MS]
    if unknown:
        raise ValueError(f"unknown horizon(s) {unknown}; known: {', '.join(HORIZONS_MS)}")
    start, end = day_ms(run.start), day_ms(run.end + timedelta(days=1))
    longest = max(HORIZONS_MS[h] for h in horizons)
    results = []
    with warehouse.snapshot_connection() as con:  # what the web serves, read-only
        realized = warehouse.load_realized(con, run.symbol, start, end + longest)
        sources = warehouse.source_counts(
            con, "liquidation_history", run.symbol, start, end + longest
        )
        path = warehouse.load_bars(con, run.symbol, start, end + longest)
        for model in [m.strip() for m in run.model_names.split(",") if m.strip()]:
            heatmap, step = warehouse.heatmap_rows(con, run.symbol, model, start, end)
            if heatmap.empty or path is None:
                raise ValueError(f"{model} has no heatmap for {run.symbol} in that period")
            times = np.unique(heatmap["time_bucket"].to_numpy(np.int64))
            for horizon in horizons:
                every = 1 if HORIZONS_MS[horizon] <= HOUR_MS else 24  # hourly, else daily
                for side in (None, "long", "short"):
                    figures = evaluate(
                        heatmap,
                        realized,
                        path,
                        step,
                        HORIZONS_MS[horizon],
                        eval_times=times[::every],
                        side=side,
                    )
                    results.append(
                        {
                            "model": model,
                            "horizon": horizon,
                            "side": side or "both",
                            **_finite(figures),
                        }
                    )
    return results, _realized_notes(sources)


def _realized_notes(sources: dict[str, int]) -> list[str]:
    streamed = sources.get("stream", 0)
    if not streamed:
        return []
    return [
        f"{streamed:,} of {sum(sources.values()):,} realized liquidations in this window come "
        f"from the forceOrder stream, not the archive. {STREAM_UNDERCOUNT} The figures rest on "
        "what was recorded."
    ]


def _finite(figures: dict) -> dict:
    """Plain rounded numbers for JSON: NaN (nothing to score) as None, numpy ints as ints."""
    out = {}
    for key, value in figures.items():
        value = value.item() if isinstance(value, np.generic) else value
        if isinstance(value, float):
            value = round(value, 4) if np.isfinite(value) else None
        out[key] = value
    return out


def paper_trade(symbol: str, start: date, end: date, model: str = "ensemble") -> dict:
    """Trend following with and without the signal filter over ``start``..``end``, on the
    stored heatmaps and realized liquidations (DESIGN §6)."""
    lo, hi = day_ms(start), day_ms(end + timedelta(days=1))
    with warehouse.snapshot_connection() as con:  # what the web serves, read-only
        heatmap, step = warehouse.heatmap_rows(con, symbol, model, lo, hi)
        flows = warehouse.hourly_flows(con, symbol, model, lo - DAY_MS, hi)
        # each hour's own confidence: the latest run's would look ahead
        confidence = warehouse.snapshot_confidence(con, symbol, model, lo, hi)
    if heatmap.empty or flows.empty:
        raise ValueError(f"no {model} heatmap for {symbol} in {start}..{end}: calculate first")
    flows = flows.set_index("time")
    actions = signal_history(
        heatmap.groupby(["time_bucket", "price_bucket"], as_index=False)["volume"].sum(),
        flows["close"],
        flows["realized"],
        flows["predicted"],
        confidence,
        step,
    )
    closes = flows["close"][(flows.index >= lo) & (flows.index < hi)]
    result = paper_trade_engine(closes, actions)
    result["signals"] = {k: int(v) for k, v in actions.value_counts().items()}
    return {"symbol": symbol, "model": model, "start": str(start), "end": str(end), **result}
