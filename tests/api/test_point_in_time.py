"""at=: signals, levels and the heatmap answer as they would have at that time, from the data
and calibrations available then: on the sample loaded up to a day and then to its end, the
answers as of a time before that day are the same."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from heatmaps import tasks, warehouse

from ..conftest import SAMPLE

pytestmark = pytest.mark.django_db

LOADED_UNTIL = date(2024, 1, 5)
# the day before the last one loaded, at noon and at a time between two hourly snapshots
AT_NOON, AT_BETWEEN = "2024-01-04T12:00:00Z", "2024-01-04T13:37:00Z"
ENDPOINTS = {
    "signals": ("/api/v1/trading/signals", {}),
    "levels": ("/api/v1/liquidations/levels", {}),
    "levels_10x": ("/api/v1/liquidations/levels", {"leverage": 10}),
    "heatmap": ("/api/v1/liquidations/heatmap", {"timeframe": "1d"}),
    "trade_clusters_heatmap": (
        "/api/v1/liquidations/heatmap",
        {"timeframe": "12h", "model": "trade_clusters"},
    ),
    "trade_clusters_signals": ("/api/v1/trading/signals", {"model": "trade_clusters"}),
}


def copy_archive(destination: Path, until: date | None = None) -> None:
    """The sample's BTCUSDT archive files, the daily ones only up to ``until``."""
    for source in (SAMPLE / "data").rglob("BTCUSDT-*"):
        day = re.search(r"(\d{4}-\d{2}-\d{2})\.zip", source.name)
        if until is not None and day and date.fromisoformat(day.group(1)) > until:
            continue
        target = destination / source.relative_to(SAMPLE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def load_and_calculate(archive: Path) -> None:
    tasks.ingest("BTCUSDT", date(2024, 1, 1), date(2024, 1, 10), source=archive)
    tasks.calibrate("BTCUSDT")
    tasks.calculate("BTCUSDT")


def ask(client, at: str) -> dict[str, dict]:
    answers = {}
    for name, (path, query) in ENDPOINTS.items():
        response = client.get(path, {**query, "at": at})
        assert response.status_code == 200, (name, response.content[:300])
        answers[name] = response.json()
    return answers


def without_the_servers_now(answer: dict) -> dict:
    """An answer without what describes the server rather than the time asked for: when its
    warehouse was published."""
    answer = {**answer}
    for part in ("freshness", "metadata"):
        if part in answer:
            answer[part] = {k: v for k, v in answer[part].items() if k != "published_at"}
    return answer


@pytest.fixture
def growing_warehouse(tmp_path, settings):
    settings.DUCKDB_PATH = tmp_path / "liquidations.duckdb"
    settings.SERVING_PATH = tmp_path / "serving"
    settings.WAREHOUSE_RETRY_DELAYS = [0.01]
    return tmp_path / "archive"


def test_answers_as_of_a_time_do_not_change_when_later_data_arrives(growing_warehouse, clients):
    bot = clients["bot"]
    copy_archive(growing_warehouse, until=LOADED_UNTIL)
    load_and_calculate(growing_warehouse)
    assert bot.get("/api/v1/trading/signals").json()["as_of"] == "2024-01-06T00:00:00Z"
    then = {at: ask(bot, at) for at in (AT_NOON, AT_BETWEEN)}

    copy_archive(growing_warehouse)  # the other five days arrive
    load_and_calculate(growing_warehouse)
    assert bot.get("/api/v1/trading/signals").json()["as_of"] == "2024-01-11T00:00:00Z"
    for at, answers in then.items():
        later = ask(bot, at)
        for name, answer in answers.items():
            assert without_the_servers_now(later[name]) == without_the_servers_now(answer), (
                at,
                name,
            )
    signal = then[AT_BETWEEN]["signals"]
    assert signal["as_of"] == "2024-01-04T13:37:00Z"
    assert signal["freshness"]["snapshot"] == "2024-01-04T13:00:00Z"
    assert signal["freshness"]["point_in_time"] is True
    # the last 5-minute candle closed by 13:37 closed at 13:35
    assert signal["freshness"]["data_end"] == "2024-01-04T13:35:00Z"
    assert signal["freshness"]["age_seconds"] == 120
    assert then[AT_NOON]["levels"]["levels"] and then[AT_NOON]["heatmap"]["times"]


def close_of_the_candle_closed_by(at_ms: int) -> float:
    with warehouse.snapshot_connection() as con:
        return con.execute(
            """SELECT close FROM klines WHERE symbol = 'BTCUSDT' AND interval = '5m'
               AND close_time < epoch_ms(?) ORDER BY open_time DESC LIMIT 1""",
            [at_ms],
        ).fetchone()[0]


def test_an_answer_as_of_a_time_differs_from_the_latest_where_it_should(served, clients):
    bot = clients["bot"]
    latest = bot.get("/api/v1/trading/signals").json()
    past = bot.get("/api/v1/trading/signals", {"at": AT_BETWEEN}).json()
    at_ms = 1704375420000  # 2024-01-04T13:37:00Z
    assert past["current_price"] == close_of_the_candle_closed_by(at_ms)
    assert past["current_price"] != latest["current_price"]
    assert past["as_of"] == AT_BETWEEN and latest["as_of"] == "2024-01-11T00:00:00Z"
    assert latest["freshness"]["point_in_time"] is False
    assert latest["freshness"]["snapshot"] == latest["as_of"]
    # a run ending on the fourth day had four days of data: less confident than on the tenth
    assert past["confidence"] < latest["confidence"]

    levels = bot.get("/api/v1/liquidations/levels", {"at": AT_BETWEEN}).json()
    assert levels["timestamp"] == "2024-01-04T13:00:00Z"
    assert levels["current_price"] == past["current_price"]
    assert levels["levels"] != bot.get("/api/v1/liquidations/levels").json()["levels"]
    # levels as of a time are the per-tier snapshot's $500 buckets, priced at their centre
    assert {round(level["price"]) % 500 for level in levels["levels"]} == {250}

    heatmap = bot.get("/api/v1/liquidations/heatmap", {"at": AT_BETWEEN, "timeframe": "1d"})
    body = heatmap.json()
    assert body["times"][-1] == "2024-01-04T13:00:00Z"
    assert body["metadata"]["as_of"] == AT_BETWEEN
    assert body["current_price"] == past["current_price"]
    # the last hour's candle holds only the candles closed by 13:37
    assert body["candles"]["close"][-1] == past["current_price"]


def test_at_without_a_zone_is_utc(served, clients):
    bot = clients["bot"]
    naive = bot.get("/api/v1/trading/signals", {"at": "2024-01-04T13:37:00"}).json()
    zoned = bot.get("/api/v1/trading/signals", {"at": "2024-01-04T14:37:00+01:00"}).json()
    assert {**naive, "freshness": None} == {**zoned, "freshness": None}
    assert naive["as_of"] == AT_BETWEEN


@pytest.mark.parametrize("path", ["trading/signals", "liquidations/levels", "liquidations/heatmap"])
@pytest.mark.parametrize(
    "at, message",
    [
        ("yesterday", "Datetime has wrong format"),
        (
            "2023-12-31T12:00:00Z",
            "at must be between 2024-01-01T01:00:00Z and 2024-01-11T00:00:00Z",
        ),
        (
            "2024-01-11T00:05:00Z",
            "at must be between 2024-01-01T01:00:00Z and 2024-01-11T00:00:00Z",
        ),
    ],
)
def test_an_at_outside_the_data_is_a_400_naming_it_and_the_range(
    served, clients, path, at, message
):
    response = clients["bot"].get(f"/api/v1/{path}", {"at": at})
    assert response.status_code == 400
    assert message in response.json()["at"][0]


def test_a_heatmap_cannot_end_after_its_at(served, clients):
    response = clients["bot"].get(
        "/api/v1/liquidations/heatmap",
        {"at": AT_NOON, "start": "2024-01-04T00:00:00Z", "end": "2024-01-05T00:00:00Z"},
    )
    assert response.status_code == 400
    assert response.json() == {"end": ["end must not be after at"]}


def test_at_the_latest_snapshot_the_answer_is_the_latest(served, clients):
    bot = clients["bot"]
    latest = bot.get("/api/v1/trading/signals").json()
    at = bot.get("/api/v1/trading/signals", {"at": latest["as_of"]}).json()
    same = ("action", "cluster_price", "cluster_notional", "distance_pct", "current_price")
    assert {k: at[k] for k in same} == {k: latest[k] for k in same}
    assert at["realized_last_hour"] == latest["realized_last_hour"]
    assert at["predicted_last_hour"] == pytest.approx(latest["predicted_last_hour"])
    # the ensemble's disagreement is measured on bucket centres at a snapshot, on levels at a run
    assert at["confidence"] == pytest.approx(latest["confidence"], abs=0.01)

    query = {"timeframe": "3d", "model": "binance_standard"}
    now = bot.get("/api/v1/liquidations/heatmap", query).json()
    then = bot.get("/api/v1/liquidations/heatmap", {**query, "at": latest["as_of"]}).json()
    for key in ("times", "prices", "long", "short", "candles", "current_price"):
        assert then[key] == now[key], key
    assert then["metadata"]["confidence"] == now["metadata"]["confidence"]
