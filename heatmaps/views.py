"""The dashboard pages. Each renders the choices its form offers; the page's script then fetches
the same API the bots use, with the session cookie, so the pages never compute anything."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

MODELS = {
    "ensemble": "Ensemble",
    "binance_standard": "Binance standard",
    "funding_adjusted": "Funding adjusted",
    "trade_clusters": "Trade clusters",
}
TIMEFRAMES = ["12h", "1d", "3d", "7d", "30d", "90d", "1y"]
DEFAULT_TIMEFRAME = "7d"
LEVERAGE_TIERS = [5, 10, 20, 25, 50, 100]


def symbols() -> list[str]:
    """The symbols the pages offer. A fixed list on purpose: asking the warehouse would put a
    DuckDB read on every page load, and the API already names the symbols it knows in its 400."""
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
    return render(request, "heatmap.html", _choices())


@login_required
def liquidation_map(request: HttpRequest) -> HttpResponse:
    return render(request, "map.html", _choices())


@login_required
def compare(request: HttpRequest) -> HttpResponse:
    return render(request, "compare.html", _choices())
