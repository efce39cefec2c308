"""Who may call the API: tokens and sessions yes, everyone else 401; throttled per user."""

import pytest
from django.core.management import call_command
from rest_framework.throttling import UserRateThrottle

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    "/api/v1/liquidations/heatmap?timeframe=7d": {
        "times",
        "prices",
        "long",
        "short",
        "candles",
        "current_price",
        "metadata",
    },
    "/api/v1/liquidations/levels": {
        "symbol",
        "model",
        "current_price",
        "timestamp",
        "levels",
        "cumulative",
    },
    "/api/v1/liquidations/history": {"symbol", "start", "end", "count", "events"},
    "/api/v1/liquidations/compare-models": {
        "symbol",
        "current_price",
        "models",
        "zones",
        "weights",
    },
    "/api/v1/trading/signals": {"action", "reason", "confidence", "cluster_price", "distance_pct"},
    "/api/v1/health": {"status", "user"},
}


@pytest.mark.parametrize("persona", ["staff", "trader", "bot"])
@pytest.mark.parametrize("url", list(ENDPOINTS))
def test_every_persona_with_credentials_gets_the_right_shape(served, clients, persona, url):
    response = clients[persona].get(url)
    assert response.status_code == 200, response.content
    assert ENDPOINTS[url] <= set(response.json())


@pytest.mark.parametrize("url", [*ENDPOINTS, "/api/schema/"])
def test_outsider_gets_401(served, clients, url):
    response = clients["outsider"].get(url)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def test_a_wrong_token_gets_401(served, client):
    response = client.get("/api/v1/health", HTTP_AUTHORIZATION="Token not-a-real-token")
    assert response.status_code == 401


def test_create_token_makes_a_working_token(served, client, django_user_model, capsys):
    django_user_model.objects.create_user("newbot", password="x")
    call_command("create_token", "newbot")
    key = capsys.readouterr().out.strip()
    assert client.get("/api/v1/health", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_each_user_is_throttled_on_the_shared_cache(served, clients, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min"})
    codes = [clients["bot"].get("/api/v1/health").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    # another user has a budget of their own
    assert clients["trader"].get("/api/v1/health").status_code == 200
