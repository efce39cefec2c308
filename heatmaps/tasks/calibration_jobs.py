"""Jobs that fit the models' parameters walk-forward (calibrate, the daily
calibrate_recent) and fetch a symbol's leverage brackets."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import structlog
from django.conf import settings
from django.utils import timezone
from tqdm import tqdm

from heatmaps import warehouse
from heatmaps.binance import signed
from heatmaps.models import Calibration, MarginBrackets
from models_engine import fitting
from models_engine.base import ModelConfig
from models_engine.market import MarketData, build_bars
from models_engine.units import BAR_MS

from .common import day_ms, existing, loaded_span, naive_iso, utc

fit_log = structlog.get_logger("liqmap.calibrate")


def calibrate(
    symbol: str,
    start: date | None = None,
    end: date | None = None,
    *,
    force: bool = False,
    progress: bool = False,
) -> dict:
    """Walk-forward calibrations of ``symbol``: one valid from each day's 00:00 UTC in
    ``start``..``end`` (default: every day the data allows), each fitted on the liquidations
    and bars before that moment only (models_engine.fitting). A day already calibrated is kept
    unless ``force``. Returns what was fitted, kept, and left to the prior."""
    brackets = MarginBrackets.history(symbol)
    with existing(symbol) as con:
        span = loaded_span(con, symbol)
        first_day = utc(span[0]).date() + timedelta(days=1)
        last_day = utc(span[1] + BAR_MS).date()
        start, end = start or first_day, end or last_day
        if start > end:
            raise ValueError(f"the window {start}..{end} is empty: start is after end")
        days = [d for d in _days(start, end) if first_day <= d <= last_day]
        if not days:
            raise ValueError(
                f"the window {start}..{end} is empty: {symbol}'s data covers "
                f"{utc(span[0]):%Y-%m-%d}..{utc(span[1]):%Y-%m-%d}"
            )
        known = set(
            Calibration.objects.filter(symbol=symbol, valid_from__date__in=days).values_list(
                "valid_from__date", flat=True
            )
        )
        todo = [d for d in days if force or d not in known]
        horizon = day_ms(max(todo)) if todo else span[0]
        frames = warehouse.load_market(con, symbol, span[0], horizon)
        realized = warehouse.load_realized(con, symbol, span[0], horizon)
    summary = {"symbol": symbol, "fitted": 0, "prior": 0, "kept": len(days) - len(todo)}
    if not todo:
        return summary
    market = MarketData(**frames, symbol=symbol)
    bars = build_bars(market)
    config = ModelConfig(brackets=brackets).resolved(market)
    moments = np.array([day_ms(d) for d in todo])
    fits = fitting.walk_forward(
        bars,
        realized,
        moments,
        position_notional=config.position_notional,
        brackets=config.brackets,
        progress=tqdm(total=len(moments), desc=f"calibrate {symbol}", disable=not progress),
    )
    for window_start, valid_from, result in fits:
        Calibration.objects.update_or_create(
            symbol=symbol,
            valid_from=utc(valid_from),
            defaults={
                "fit_start": utc(window_start),
                "parameters": result.parameters.to_dict(),
                "objective": _finite_or_none(result.log_likelihood),
                "prior_objective": _finite_or_none(result.prior_log_likelihood),
                "liquidations": result.liquidations,
                "fitted": result.fitted,
            },
        )
        summary["fitted" if result.fitted else "prior"] += 1
    summary["too_young"] = len(todo) - len(fits)
    if fits:
        summary["latest"] = _describe(fits[-1][2])
    fit_log.info("calibrated", **{k: v for k, v in summary.items() if k != "latest"})
    return summary


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _describe(result: fitting.Fit) -> dict:
    """What a trader or researcher reads of a fit."""
    p = result.parameters
    return {
        "liquidations": result.liquidations,
        "fitted": result.fitted,
        "half_life_hours": p.half_life_table(),
        "leverage_mix": p.leverage_mix(p.typical_features),
        "closing_share": p.closing_share,
        "closing_lean": p.closing_lean,
    }


def fetch_brackets(symbol: str) -> dict:
    """Ask Binance (signed GET /fapi/v1/leverageBracket) for ``symbol``'s maintenance-margin
    table and store it as a new version in force from now, unless it is the one already in
    force. Needs BINANCE_API_KEY and BINANCE_API_SECRET."""
    key, secret = settings.BINANCE_API_KEY, settings.BINANCE_API_SECRET
    if not key or not secret:
        raise ValueError(
            "fetch_brackets needs a Binance API key: set BINANCE_API_KEY and BINANCE_API_SECRET "
            "(read-only permission is enough) in the environment or .env"
        )
    rows = signed.leverage_brackets(symbol, settings.BINANCE_FAPI_URL, key, secret)
    fetched = MarginBrackets(symbol=symbol, effective_from=timezone.now(), rows=rows)
    summary = {"symbol": symbol, "brackets": len(rows), "first": rows[0]}
    try:
        history = MarginBrackets.history(symbol)
    except ValueError:
        history = None
    if history is not None and _same_table(history, fetched.table()):
        summary.update(stored=False, in_force_from=naive_iso(int(history["effective_from"].max())))
        return summary
    fetched.source = f"GET {settings.BINANCE_FAPI_URL.rstrip('/')}{signed.LEVERAGE_BRACKET}"
    fetched.full_clean()
    fetched.save()
    fit_log.info("brackets_fetched", symbol=symbol, brackets=len(rows))
    summary.update(
        stored=True, in_force_from=naive_iso(int(fetched.effective_from.timestamp() * 1000))
    )
    return summary


def _same_table(history, table) -> bool:
    latest = history[history["effective_from"] == history["effective_from"].max()]
    columns = ["floor", "cap", "max_leverage", "mmr", "cum"]
    return len(latest) == len(table) and np.allclose(latest[columns], table[columns])


def calibrate_recent(symbol: str) -> dict:
    """Fit the days not calibrated yet (the daily job): each on data before it only."""
    if not warehouse.path_of(symbol).exists():
        return {"symbol": symbol, "skipped": "no data"}
    with warehouse.connect(symbol) as con:
        if warehouse.data_range(con, symbol) is None:
            return {"symbol": symbol, "skipped": "no data"}
    return calibrate(symbol)
