"""The dashboard pages. Each renders the choices its form offers; the page's script then fetches
the same API the bots use, with the session cookie, so the pages never compute anything."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from heatmaps import warehouse
from heatmaps.api import params
from models_engine import registry

MODELS = registry.LABELS
TIMEFRAMES = list(params.TIMEFRAMES_MS)
DEFAULT_TIMEFRAME = "7d"
LEVERAGE_TIERS = list(params.LEVERAGE_TIERS)


def symbols() -> list[str]:
    """The symbols with model output (remembered per published snapshot, so a page load costs
    no warehouse read after the first); BTCUSDT before anything is published. An unreadable
    warehouse must not take the page down: its script shows the API's 503 instead."""
    try:
        return warehouse.served_symbols(retry=False) or ["BTCUSDT"]
    except warehouse.WarehouseUnavailable:
        return ["BTCUSDT"]


def _choices() -> dict:
    return {
        "symbols": symbols(),
        "models": MODELS,
        "timeframes": TIMEFRAMES,
        "default_timeframe": DEFAULT_TIMEFRAME,
        "leverage_tiers": LEVERAGE_TIERS,
    }


@login_required
def heatmap(request: HttpRequest) -> HttpResponse:
    return render(request, "heatmap.html", {**_choices(), "page_script": "js/heatmap.js"})


@login_required
def liquidation_map(request: HttpRequest) -> HttpResponse:
    return render(request, "map.html", {**_choices(), "page_script": "js/map.js"})


@login_required
def compare(request: HttpRequest) -> HttpResponse:
    return render(request, "compare.html", {**_choices(), "page_script": "js/compare.js"})


@login_required
def backtests(request: HttpRequest) -> HttpResponse:
    return render(request, "backtests.html", {"page_script": "js/backtests.js"})
