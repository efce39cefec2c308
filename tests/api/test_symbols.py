"""Any symbol: the sample's two (BTCUSDT and the ETH-scale ETHUSDT derived from it) answer on
every endpoint at their own price scale; a symbol not served is a 400 naming the served ones."""

import pytest

from heatmaps import warehouse

pytestmark = pytest.mark.django_db


def test_both_sample_symbols_are_served(served):
    assert warehouse.served_symbols() == ["BTCUSDT", "ETHUSDT"]


def test_an_eth_heatmap_has_eth_prices_and_ten_dollar_buckets(served, clients):
    eth = clients["bot"].get("/api/v1/liquidations/heatmap", {"symbol": "ethusdt"}).json()
    btc = clients["bot"].get("/api/v1/liquidations/heatmap", {"symbol": "BTCUSDT"}).json()
    assert eth["symbol"] == "ETHUSDT"
    assert 1_500 < eth["current_price"] < 3_000
    assert eth["metadata"]["price_step"] == 10 and btc["metadata"]["price_step"] == 100
    assert min(eth["prices"]) > 1_000 and max(eth["prices"]) < 4_000
    assert all(p % 10 == 0 for p in eth["prices"])
    assert sum(map(sum, eth["long"])) > 0 and sum(map(sum, eth["short"])) > 0


def test_eth_levels_lie_around_eths_price_on_their_sides(served, clients):
    body = clients["bot"].get("/api/v1/liquidations/levels", {"symbol": "ETHUSDT"}).json()
    price, levels = body["current_price"], body["levels"]
    assert levels and 1_500 < price < 3_000
    assert all(0.4 * price < lv["price"] < 1.6 * price for lv in levels)
    # the sample is January 2024: ETHUSDT's table then allowed 100x at most
    assert max(lv["leverage"] for lv in levels if lv["side"] == "long") <= 125


def test_eth_signals_name_an_eth_scale_cluster(served, clients):
    body = clients["bot"].get("/api/v1/trading/signals", {"symbol": "ETHUSDT"}).json()
    assert body["action"] in {"AVOID", "REVERSAL_OPPORTUNITY", "WAIT", "CLEAR"}
    assert 1_000 < body["cluster_price"] < 4_000


def test_a_symbol_not_served_is_refused_naming_the_served_ones(served, clients):
    response = clients["bot"].get("/api/v1/trading/signals", {"symbol": "SOLUSDT"})
    assert response.status_code == 400
    assert response.json()["symbol"] == ["unknown symbol 'SOLUSDT' (known: BTCUSDT, ETHUSDT)"]


def test_the_pages_offer_both_symbols(served, client, dashboard_user):
    client.force_login(dashboard_user)
    for page in ("/heatmap/", "/map/", "/compare/"):
        html = client.get(page).content.decode()
        assert "<option>BTCUSDT</option>" in html and "<option>ETHUSDT</option>" in html
