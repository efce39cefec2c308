"""One rule picks the candles every reader builds bars from (5m, else 1m, else 3m): the models,
the API's candles and paper trading's hourly closes agree on a warehouse with 1m klines only."""

from __future__ import annotations

from datetime import date

import pytest

from heatmaps import tasks, warehouse
from heatmaps.binance.writer import write_file
from models_engine.units import HOUR_MS, MINUTE_MS

pytestmark = pytest.mark.django_db

JAN_1_MS = 1_704_067_200_000
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore"
)


def one_minute_day(tmp_path) -> None:
    """2024-01-01 in 1m candles only; minute i closes at 42000 + i."""
    rows = [
        f"{JAN_1_MS + i * MINUTE_MS},{42000 + i - 1},{42001 + i},{41999 + i - 1},{42000 + i},"
        f"1.0,{JAN_1_MS + (i + 1) * MINUTE_MS - 1},42000.0,10,0.5,21000.0,0"
        for i in range(1440)
    ]
    write_file(
        tmp_path / "archive",
        "data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
        "\n".join([KLINE_HEADER, *rows]),
    )
    summary = tasks.ingest(
        "BTCUSDT", date(2024, 1, 1), date(2024, 1, 1), source=tmp_path / "archive"
    )
    assert summary["tables"]["klines"] == 1440


@pytest.fixture
def one_minute_warehouse(tmp_path, warehouse_path, settings):
    settings.SERVING_PATH = tmp_path / "serving"
    one_minute_day(tmp_path)


def test_paper_trading_gets_hourly_closes_from_1m_candles(one_minute_warehouse):
    with warehouse.connect("BTCUSDT") as con:
        flows = warehouse.hourly_flows(
            con, "BTCUSDT", "ensemble", JAN_1_MS, JAN_1_MS + 24 * HOUR_MS
        )

    assert flows["time"].tolist() == [JAN_1_MS + (h + 1) * HOUR_MS for h in range(24)]
    assert flows["close"].tolist() == [42000.0 + 60 * h + 59 for h in range(24)]


def test_the_models_get_5_minute_bars_from_1m_candles(one_minute_warehouse):
    with warehouse.connect("BTCUSDT") as con:
        bars = warehouse.load_market(con, "BTCUSDT", JAN_1_MS, JAN_1_MS + 24 * HOUR_MS)["klines"]

    assert len(bars) == 288
    assert bars["close"].tolist()[:2] == [42004.0, 42009.0]
    assert bars["volume"].tolist()[0] == 5.0


def test_the_api_candles_come_from_1m_candles(one_minute_warehouse):
    frame = warehouse.candles("BTCUSDT", JAN_1_MS, JAN_1_MS + 2 * HOUR_MS, HOUR_MS)

    assert frame["time"].tolist() == [JAN_1_MS, JAN_1_MS + HOUR_MS]
    assert frame["close"].tolist() == [42059.0, 42119.0]
    assert frame["open"].tolist() == [41999.0, 42059.0]
