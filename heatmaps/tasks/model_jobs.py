"""Jobs that run the models: calculate (a window, from the symbol's first data),
calculate_update (the live checkpoint continued) and the hourly calculate_recent."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import numpy as np
import structlog
from django_q.tasks import async_task

from heatmaps import warehouse
from heatmaps.models import Calibration, MarginBrackets, WeightConfig
from heatmaps.warehouse import checkpoints
from models_engine import registry
from models_engine.base import INVALID_BELOW, ModelConfig, ModelResult
from models_engine.incremental import StaleState
from models_engine.market import MarketData
from models_engine.units import BAR_MS, DAY_MS

from .common import day_ms, existing, loaded_span, naive_iso, utc

calc_log = structlog.get_logger("liqmap.calculate")


def calculate(
    symbol: str,
    model: str = "all",
    start: date | None = None,
    end: date | None = None,
) -> dict:
    """Run the models on the warehouse's data for ``start``..``end`` (all the symbol's data if
    not given) and replace their rows in liquidation_levels, heatmap_cache and
    predicted_liquidations for that window. Every model with fixed weights also leaves the
    members' checkpoint that ``calculate_update`` continues."""
    names = registry.check_names(registry.MODEL_NAMES if model == "all" else [model])
    checkpointing = model == "all" and not WeightConfig.active().learning
    weights = WeightConfig.active()
    brackets = MarginBrackets.history(symbol)
    with existing(symbol) as con:
        span = loaded_span(con, symbol)
        window_start = day_ms(start) if start else span[0]
        window_end = day_ms(end + timedelta(days=1)) if end else warehouse.bars_end(con, symbol)
        if window_start >= window_end:
            raise ValueError("the window is empty")
        # positions opened before the window still matter inside it: the models always start
        # from the first data and only the window's rows are replaced
        frames = warehouse.load_market(con, symbol, span[0], window_end)
        if weights.learning and registry.ENSEMBLE in names:  # only learned weights read them
            frames["realized"] = warehouse.load_realized(con, symbol, span[0], window_end)
        market = MarketData(**frames, symbol=symbol)
        schedule = Calibration.schedule(symbol, before=utc(window_end))
        started = time.perf_counter()
        results = _run_models(
            market, names, weights, schedule, window_start, brackets, checkpointing
        )
        compute_seconds = time.perf_counter() - started
        summary = {
            "symbol": symbol,
            "window": [naive_iso(window_start), naive_iso(window_end)],
            "compute_seconds": round(compute_seconds, 3),
            "models": {},
        }
        for name in names:
            result = results[name]
            written = _write(con, symbol, result, window_start, window_end)
            summary["models"][name] = written
            log_event = calc_log.warning if not result.is_valid else calc_log.info
            log_event(
                "liquidations_calculated",
                model=name,
                symbol=symbol,
                levels_count=written["levels"],
                avg_confidence=result.confidence,
                duration_seconds=round(compute_seconds, 3),
                is_valid=result.is_valid,
                warnings=list(result.warnings),
            )
        if checkpointing:
            _checkpoint(con, symbol, results, brackets)
        warehouse.publish(con, symbol, since=window_start)
    return summary


def _run_models(
    market: MarketData,
    names: list[str],
    weights: WeightConfig,
    schedule,
    output_from: int,
    brackets,
    checkpointing: bool = False,
) -> dict[str, ModelResult]:
    learning = weights.learning
    if learning and registry.ENSEMBLE in names:
        # learned weights score the members over the days before the window too
        output_from -= learning * DAY_MS
    config = ModelConfig(schedule=schedule, output_from=output_from, brackets=brackets)
    return registry.run_models(
        market,
        names,
        weights.weights,
        learning_days=learning,
        config=config,
        states={} if checkpointing else None,
    )


def calculate_update(symbol: str) -> dict:
    """The one-minute update: continue the models' checkpoint on the bars that arrived since
    and replace today's rows (the checkpoint is at today's 00:00 UTC: its snapshots after it,
    predictions from it, levels now), which is what a full calculate says of them. Without a
    checkpoint that still holds (none yet, a new calibration, a new archive file or bracket
    table) it recomputes in full, today's rows replaced, and checkpoints. Learned ensemble
    weights are left to the hourly calculate."""
    weights = WeightConfig.active()
    if weights.learning:
        # a full run of the whole history every minute would never keep up
        return {
            "symbol": symbol,
            "skipped": "learned ensemble weights score every member's whole history: "
            "the hourly calculate recomputes them",
        }
    brackets = MarginBrackets.history(symbol)
    with existing(symbol) as con:
        loaded_span(con, symbol)
        window_end = warehouse.bars_end(con, symbol)
        checkpoint, why = checkpoints.load(symbol, con, brackets)
        if checkpoint is not None and checkpoint.as_of == window_end:
            return {"symbol": symbol, "skipped": "no new bar since the last update"}
        if checkpoint is not None:
            try:
                return _continue_checkpoint(con, symbol, checkpoint, weights, brackets, window_end)
            except StaleState as exc:
                why = str(exc)
    calc_log.info("calculate_full_recompute", symbol=symbol, reason=why)
    summary = calculate(symbol, "all", start=utc(window_end - BAR_MS).date())
    return {**summary, "full_recompute": why, "alerts_task": async_task("alerts.tasks.evaluate")}


def _continue_checkpoint(con, symbol, checkpoint, weights, brackets, window_end: int) -> dict:
    start = checkpoint.end
    # a day before the checkpoint: the funding and account ratios in force at it
    market = MarketData(
        **warehouse.load_market(con, symbol, start - DAY_MS, window_end), symbol=symbol
    )
    schedule = Calibration.schedule(symbol, before=utc(window_end))
    config = ModelConfig(schedule=schedule, brackets=brackets)
    started = time.perf_counter()
    results = registry.run_models(
        market, registry.MODEL_NAMES, weights.weights, config=config, states=checkpoint.states
    )
    compute_seconds = time.perf_counter() - started
    summary = {
        "symbol": symbol,
        "window": [naive_iso(start), naive_iso(window_end)],
        "compute_seconds": round(compute_seconds, 3),
        "models": {
            name: _write(con, symbol, result, start, window_end, snapshots_from=start + 1)
            for name, result in results.items()
        },
    }
    _checkpoint(con, symbol, results, brackets)
    warehouse.publish(con, symbol, since=start)
    calc_log.info(
        "liquidations_updated", symbol=symbol, since=start, duration_seconds=compute_seconds
    )
    # the new snapshot may cross an alert's condition: evaluate now, not at the next minute
    summary["alerts_task"] = async_task("alerts.tasks.evaluate")
    return summary


def _checkpoint(con, symbol: str, results: dict[str, ModelResult], brackets) -> None:
    states = {name: results[name].state for name in registry.MEMBERS}
    if any(state is None for state in states.values()):  # a model without its inputs
        checkpoints.discard(symbol)
        return
    as_of = results[registry.ENSEMBLE].as_of
    checkpoints.save(symbol, states, con, brackets, as_of=as_of)


def _write(
    con, symbol: str, result: ModelResult, lo: int, hi: int, snapshots_from: int | None = None
) -> dict:
    first = lo if snapshots_from is None else snapshots_from
    heatmap = result.heatmap[
        (result.heatmap["time_bucket"] >= first) & (result.heatmap["time_bucket"] <= hi)
    ]
    predicted = result.predicted[
        (result.predicted["time"] >= lo) & (result.predicted["time"] <= hi)
    ]
    tiers = result.tier_heatmap
    tiers = tiers[(tiers["time_bucket"] >= first) & (tiers["time_bucket"] <= hi)]
    levels = result.levels.assign(timestamp=result.as_of, is_valid=result.is_valid)
    if not lo <= result.as_of <= hi:
        levels = levels.iloc[0:0]
    warehouse.replace_model_output(
        con,
        symbol=symbol,
        model=result.model,
        window_start_ms=lo,
        window_end_ms=hi,
        levels=levels,
        heatmap=heatmap,
        tier_heatmap=tiers,
        predicted=predicted,
        snapshots_from_ms=snapshots_from,
        run={
            "as_of": result.as_of or None,
            "price_step": result.price_step,
            "tier_price_step": result.tier_price_step or result.price_step,
            # a model with no bars has no price: NULL, never NaN (not valid JSON)
            "current_price": result.current_price if np.isfinite(result.current_price) else None,
            "confidence": result.confidence,
            "is_valid": result.is_valid,
            "warnings": list(result.warnings),
            "weights": None if result.weights is None else json.dumps(result.weights),
        },
    )
    if result.snapshot_quality is not None:  # the confidence of answers as of a time
        quality = result.snapshot_quality
        warehouse.replace_snapshot_quality(
            con,
            symbol=symbol,
            model=result.model,
            window_start_ms=first,
            window_end_ms=hi,
            quality=quality[quality["time_bucket"].between(first, hi)].assign(
                is_valid=lambda q: q["confidence"] >= INVALID_BELOW
            ),
        )
    return {
        "levels": len(levels),
        "heatmap_cells": len(heatmap),
        "predicted": len(predicted),
        "confidence": result.confidence,
        "is_valid": result.is_valid,
        "warnings": list(result.warnings),
    }


def calculate_recent(symbol: str, days: int = 2) -> dict:
    """Recalculate the last ``days`` days of the symbol's data (the hourly job)."""
    if not warehouse.path_of(symbol).exists():
        return {"symbol": symbol, "skipped": "no data"}
    with warehouse.connect(symbol) as con:
        span = warehouse.data_range(con, symbol)
    if span is None:
        return {"symbol": symbol, "skipped": "no data"}
    start = utc(span[1]).date() - timedelta(days=days - 1)
    summary = calculate(symbol, "all", start=start)
    # the new snapshot may cross an alert's condition: evaluate now, not at the next minute
    summary["alerts_task"] = async_task("alerts.tasks.evaluate")
    return summary
