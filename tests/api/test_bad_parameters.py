"""Every bad parameter is a 400 that names it."""

import pytest

pytestmark = pytest.mark.django_db

CASES = [
    ("/api/v1/liquidations/heatmap", {"symbol": "SOLUSDT"}, "symbol", "unknown symbol"),
    ("/api/v1/liquidations/heatmap", {"model": "py_liquidation_map"}, "model", "not a valid"),
    ("/api/v1/liquidations/heatmap", {"timeframe": "2d"}, "timeframe", "not a valid"),
    (
        "/api/v1/liquidations/heatmap",
        {"start": "2024-01-09T00:00:00Z", "end": "2024-01-08T00:00:00Z"},
        "start",
        "before end",
    ),
    ("/api/v1/liquidations/heatmap", {"start": "yesterday"}, "start", "format"),
    ("/api/v1/liquidations/heatmap", {"price_step": "150"}, "price_step", "multiple"),
    ("/api/v1/liquidations/heatmap", {"price_step": "1"}, "price_step", "multiple"),
    ("/api/v1/liquidations/heatmap", {"price_step": "1e9"}, "price_step", "at most"),
    ("/api/v1/liquidations/heatmap", {"price_step": "-100"}, "price_step", "greater than"),
    (
        "/api/v1/liquidations/heatmap",
        {"price_min": "50000", "price_max": "40000"},
        "price_min",
        "below price_max",
    ),
    ("/api/v1/liquidations/heatmap", {"leverage": "7"}, "leverage", "unknown tier"),
    ("/api/v1/liquidations/heatmap", {"leverage": "ten"}, "leverage", "whole numbers"),
    ("/api/v1/liquidations/levels", {"leverage": "4"}, "leverage", "not a valid"),
    ("/api/v1/liquidations/levels", {"model": "nope"}, "model", "not a valid"),
    ("/api/v1/liquidations/history", {"limit": "0"}, "limit", "greater than"),
    # oversized: refused by the parameters, before any read
    ("/api/v1/liquidations/history", {"limit": str(10**9)}, "limit", "less than or equal"),
    (
        "/api/v1/liquidations/heatmap",
        {"start": "2015-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z", "price_step": "1"},
        "price_step",
        "multiple",
    ),
    (
        "/api/v1/liquidations/history",
        {"start": "2024-01-09T00:00:00Z", "end": "2024-01-01T00:00:00Z"},
        "start",
        "before end",
    ),
    ("/api/v1/liquidations/compare-models", {"symbol": "DOGE"}, "symbol", "unknown symbol"),
    ("/api/v1/trading/signals", {"model": "best"}, "model", "not a valid"),
]


@pytest.mark.parametrize(("url", "query", "parameter", "message"), CASES)
def test_a_bad_parameter_gets_400_naming_it(served, clients, url, query, parameter, message):
    response = clients["bot"].get(url, query)
    assert response.status_code == 400
    body = response.json()
    assert list(body) == [parameter]
    assert message in " ".join(body[parameter])
