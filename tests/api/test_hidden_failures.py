"""Requests that used to be answered with something other than what they asked: epoch 0 taken
for "no start", an empty parameter taken for its default."""

import pytest

pytestmark = pytest.mark.django_db
EPOCH = "1970-01-01T00:00:00Z"


def test_a_heatmap_from_epoch_0_starts_at_epoch_0(served, clients):
    body = clients["bot"].get("/api/v1/liquidations/heatmap", {"start": EPOCH}).json()
    one_day = clients["bot"].get("/api/v1/liquidations/heatmap").json()
    # the whole history (from the first stored column), not the day before the end
    meta = body["metadata"]
    assert meta["data_start"] == "2024-01-01T01:00:00Z" < one_day["times"][0]
    assert meta["time_bucket_seconds"] > one_day["metadata"]["time_bucket_seconds"]
    assert body["times"][0] < one_day["times"][0]
    assert not body["metadata"]["covers_window"]


def test_history_from_epoch_0_starts_at_epoch_0(served, clients):
    url = "/api/v1/liquidations/history"
    body = clients["bot"].get(url, {"start": EPOCH, "limit": 10_000}).json()
    assert body["start"] == EPOCH
    default = clients["bot"].get(url, {"limit": 10_000}).json()
    assert body["count"] > default["count"]


def test_a_history_ending_at_epoch_0_is_empty_not_the_latest_day(served, clients):
    body = (
        clients["bot"]
        .get("/api/v1/liquidations/history", {"start": "1969-12-31T00:00:00Z", "end": EPOCH})
        .json()
    )
    assert body["end"] == EPOCH and body["count"] == 0


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/liquidations/heatmap", "symbol"),
        ("/api/v1/liquidations/heatmap", "timeframe"),
        ("/api/v1/liquidations/heatmap", "model"),
        ("/api/v1/liquidations/heatmap", "start"),
        ("/api/v1/liquidations/heatmap", "leverage"),
        ("/api/v1/liquidations/levels", "symbol"),
        ("/api/v1/liquidations/history", "limit"),
        ("/api/v1/liquidations/compare-models", "symbol"),
        ("/api/v1/trading/signals", "model"),
    ],
)
def test_an_empty_parameter_is_a_400_not_the_default(served, clients, url, parameter):
    response = clients["bot"].get(url, {parameter: ""})
    assert response.status_code == 400
    assert list(response.json()) == [parameter]
    assert f"must not be empty: leave {parameter} out" in response.json()[parameter][0]


def test_a_zero_price_step_is_refused_as_the_schema_says(served, clients):
    response = clients["bot"].get("/api/v1/liquidations/heatmap", {"price_step": "0"})
    assert response.status_code == 400 and "greater than" in response.json()["price_step"][0]


def test_start_equal_to_end_is_refused(served, clients):
    moment = "2024-01-05T00:00:00Z"
    response = clients["bot"].get("/api/v1/liquidations/heatmap", {"start": moment, "end": moment})
    assert response.status_code == 400 and "before end" in response.json()["start"][0]
