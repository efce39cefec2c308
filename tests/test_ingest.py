"""Ingest: archive files (zip or csv) into the DuckDB warehouse, idempotent and all-or-nothing."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from heatmaps import tasks, warehouse
from heatmaps.binance.formats import DATASETS
from heatmaps.binance.writer import write_file
from heatmaps.models import IngestRun
from models_engine.units import BAR_MS

from .conftest import snapshot

pytestmark = pytest.mark.django_db

METRICS_DIR = "data/futures/um/daily/metrics/BTCUSDT"
KLINES_DIR = "data/futures/um/daily/klines/BTCUSDT/5m"
JAN = (date(2024, 1, 1), date(2024, 1, 10))


def csv_rows(path: Path) -> list[list[str]]:
    """The data rows of an archive file, read with the csv module (independently of DuckDB)."""
    with zipfile.ZipFile(path) as archive:
        text = archive.read(archive.namelist()[0]).decode()
    rows = list(csv.reader(io.StringIO(text)))
    return rows[1:] if rows and not rows[0][0][:1].isdigit() else rows


def metrics_csv(day: str, rows: int = 12, oi: str = "80000.0") -> str:
    lines = [
        "create_time,symbol,sum_open_interest,sum_open_interest_value,"
        "count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,"
        "count_long_short_ratio,sum_taker_long_short_vol_ratio"
    ]
    for i in range(rows):
        lines.append(f"{day} {i // 12:02d}:{i % 12 * 5:02d}:00,BTCUSDT,{oi},3.4e9,1.1,1.2,1.3,0.9")
    return "\n".join(lines) + "\n"


def ingest(root: Path, start=JAN[0], end=JAN[1], datasets=None) -> dict:
    return tasks.ingest("BTCUSDT", start, end, source=root, datasets=datasets)


def test_it_loads_every_row_of_every_file(sample_archive, warehouse_path):
    summary = ingest(sample_archive)

    expected: dict[str, int] = {}
    for path in sample_archive.rglob("*.zip"):
        table = DATASETS[path.parts[path.parts.index("um") + 2]].table
        expected[table] = expected.get(table, 0) + len(csv_rows(path))
    assert summary["rejected"] == []
    assert {t: n for t, n in summary["tables"].items() if n} == expected
    run = IngestRun.objects.get()
    assert run.status == IngestRun.Status.OK
    assert run.rows_loaded == sum(expected.values())
    assert run.files_loaded == len(list(sample_archive.rglob("*.zip")))


def test_a_second_ingest_adds_nothing(sample_archive, warehouse_path):
    ingest(sample_archive)
    before = snapshot()

    summary = ingest(sample_archive)

    assert snapshot() == before
    assert all(set(c) <= {"skipped", "rows"} for c in summary["datasets"].values())
    assert sum(c["rows"] for c in summary["datasets"].values()) == 0


def test_a_changed_file_replaces_only_its_own_rows(sample_archive, warehouse_path):
    ingest(sample_archive, datasets="metrics")
    before = snapshot()["metrics"]
    write_file(
        sample_archive,
        f"{METRICS_DIR}/BTCUSDT-metrics-2024-01-03.zip",
        metrics_csv("2024-01-03", rows=24, oi="12345.0"),
    )

    summary = ingest(sample_archive, datasets="metrics")

    assert summary["datasets"]["metrics"] == {"replaced": 1, "skipped": 9, "rows": 24}
    after = snapshot()["metrics"]
    day3 = [r for r in after if r[2].date() == date(2024, 1, 3)]
    assert len(day3) == 24 and {r[3] for r in day3} == {12345.0}
    others = sorted(r[1:] for r in after if r[2].date() != date(2024, 1, 3))
    assert others == sorted(r[1:] for r in before if r[2].date() != date(2024, 1, 3))


def test_it_reads_plain_csv_files_too(tmp_path, warehouse_path):
    write_file(
        tmp_path,
        f"{METRICS_DIR}/BTCUSDT-metrics-2024-01-05.zip",
        metrics_csv("2024-01-05", rows=7),
        as_zip=False,
    )

    summary = ingest(tmp_path)

    assert summary["tables"]["metrics"] == 7


def _bad(root: Path, text: str | bytes, *, checksum=True) -> Path:
    return write_file(
        root, f"{METRICS_DIR}/BTCUSDT-metrics-2024-01-11.zip", text, checksum=checksum
    )


def _truncated(root: Path) -> None:
    path = _bad(root, metrics_csv("2024-01-11", rows=200), checksum=False)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _wrong_checksum(root: Path) -> None:
    path = _bad(root, metrics_csv("2024-01-11"))
    path.with_name(path.name + ".CHECKSUM").write_text("0" * 64 + f"  {path.name}\n")


def _text_in_number(root: Path) -> None:
    lines = metrics_csv("2024-01-11").splitlines()
    lines[4] = lines[4].replace("80000.0", "eighty")
    _bad(root, "\n".join(lines) + "\n")


def _overlapping(root: Path) -> None:
    # a file named for the 11th that repeats rows of the 10th (already loaded)
    _bad(root, metrics_csv("2024-01-10"))


BAD_FILES = {
    "truncated zip": (_truncated, None, "not a readable zip"),
    "wrong checksum": (_wrong_checksum, None, "does not match its CHECKSUM"),
    "wrong header": (lambda r: _bad(r, "time,symbol,oi\n1,BTCUSDT,2\n"), 1, "expected 8 columns"),
    "renamed columns": (
        lambda r: _bad(r, metrics_csv("2024-01-11").replace("sum_open_interest,", "oi,", 1)),
        1,
        "does not match the metrics columns",
    ),
    "text in open interest": (
        _text_in_number,
        5,
        'column sum_open_interest: "eighty" is not a number',
    ),
    "empty file": (lambda r: _bad(r, ""), 1, "empty"),
    "header only": (lambda r: _bad(r, metrics_csv("2024-01-11", rows=0)), None, "no data rows"),
    "negative open interest": (
        lambda r: _bad(r, metrics_csv("2024-01-11", oi="-1.0")),
        None,
        "negative open interest",
    ),
    "another symbol inside": (
        lambda r: _bad(r, metrics_csv("2024-01-11").replace(",BTCUSDT,", ",ETHUSDT,")),
        None,
        "a symbol other than BTCUSDT",
    ),
    "overlapping days": (_overlapping, None, "overlap those already loaded from"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_it_rejects_a_bad_file_whole_and_changes_nothing(case, sample_archive, warehouse_path):
    make_bad, line, reason = BAD_FILES[case]
    ingest(sample_archive, datasets="metrics")
    before = snapshot()
    make_bad(sample_archive)

    with pytest.raises(CommandError, match="1 file\\(s\\) rejected"):
        call_command(
            "ingest",
            "--source",
            str(sample_archive),
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-11",
            "--datasets",
            "metrics",
            verbosity=0,
        )

    assert snapshot() == before
    run = IngestRun.objects.first()
    assert run.status == IngestRun.Status.REJECTED and run.files_rejected == 1
    (rejected,) = run.summary["rejected"]
    assert rejected["path"].endswith("BTCUSDT-metrics-2024-01-11.zip")
    assert reason in rejected["reason"]
    assert rejected["line"] == line


def test_a_bad_new_version_of_a_loaded_file_keeps_the_old_rows(sample_archive, warehouse_path):
    ingest(sample_archive, datasets="metrics")
    before = snapshot()
    lines = metrics_csv("2024-01-04").splitlines()
    lines[3] += ",extra"
    write_file(sample_archive, f"{METRICS_DIR}/BTCUSDT-metrics-2024-01-04.zip", "\n".join(lines))

    summary = ingest(sample_archive, datasets="metrics")

    assert summary["rejected"][0]["line"] == 4
    assert "Expected Number of Columns: 8 Found: 9" in summary["rejected"][0]["reason"]
    assert snapshot() == before


KLINE = "{t},42000.0,42100.0,41900.0,42050.0,10.5,{c},441000.0,120,5.25,220500.0,0"
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)


def test_it_accepts_microsecond_timestamps(tmp_path, warehouse_path):
    t0 = 1704844800000  # 2024-01-10 00:00 UTC in ms
    rows = [
        KLINE.format(t=(t0 + i * BAR_MS) * 1000, c=(t0 + (i + 1) * BAR_MS - 1) * 1000)
        for i in range(3)
    ]
    write_file(
        tmp_path, f"{KLINES_DIR}/BTCUSDT-5m-2024-01-10.zip", "\n".join([KLINE_HEADER, *rows])
    )

    ingest(tmp_path)

    with warehouse.connect("BTCUSDT") as con:
        times = con.execute(
            "SELECT epoch_ms(open_time), epoch_ms(close_time) FROM klines ORDER BY 1"
        ).fetchall()
    assert times[0] == (t0, t0 + BAR_MS - 1)
    assert times[2][0] == t0 + 2 * BAR_MS


def test_it_accepts_the_old_format_without_header(tmp_path, warehouse_path):
    t0 = 1577836800000  # 2020-01-01
    rows = [KLINE.format(t=t0 + i * BAR_MS, c=t0 + (i + 1) * BAR_MS - 1) for i in range(4)]
    write_file(tmp_path, f"{KLINES_DIR}/BTCUSDT-5m-2020-01-01.zip", "\n".join(rows))

    summary = tasks.ingest("BTCUSDT", date(2020, 1, 1), date(2020, 1, 1), source=tmp_path)

    assert summary["rejected"] == [] and summary["tables"]["klines"] == 4


def test_a_bad_row_in_a_headerless_file_is_reported_at_its_line(tmp_path, warehouse_path):
    t0 = 1577836800000
    rows = [KLINE.format(t=t0 + i * BAR_MS, c=t0 + (i + 1) * BAR_MS - 1) for i in range(4)]
    rows[2] = rows[2].replace("42100.0", "n/a")
    write_file(tmp_path, f"{KLINES_DIR}/BTCUSDT-5m-2020-01-01.zip", "\n".join(rows))

    summary = tasks.ingest("BTCUSDT", date(2020, 1, 1), date(2020, 1, 1), source=tmp_path)

    assert summary["rejected"][0]["line"] == 3
    assert 'column high: "n/a" is not a number' in summary["rejected"][0]["reason"]


def test_it_reads_every_archive_dataset(tmp_path, warehouse_path):
    d = "data/futures/um/daily"
    write_file(
        tmp_path,
        f"{d}/trades/BTCUSDT/BTCUSDT-trades-2024-02-01.zip",
        "id,price,qty,quote_qty,time,is_buyer_maker\n"
        "1,43000.5,0.010,430.005,1706745600123,true\n"
        "2,43001.0,0.500,21500.5,1706745600456,false\n",
    )
    write_file(
        tmp_path,
        f"{d}/bookDepth/BTCUSDT/BTCUSDT-bookDepth-2024-02-01.zip",
        "timestamp,percentage,depth,notional\n"
        "2024-02-01 00:00:08,-5,4440.548,190000000.0\n"
        "2024-02-01 00:00:08,5,3900.1,172000000.0\n",
    )
    write_file(
        tmp_path,
        f"{d}/indexPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-02-01.zip",
        KLINE_HEADER + "\n" + KLINE.format(t=1706745600000, c=1706745659999),
    )
    write_file(
        tmp_path,
        f"{d}/liquidationSnapshot/BTCUSDT/BTCUSDT-liquidationSnapshot-2024-02-01.zip",
        "time,side,order_type,time_in_force,original_quantity,price,average_price,order_status,"
        "last_fill_quantity,accumulated_fill_quantity\n"
        "1706745600100,SELL,LIMIT,IOC,0.5,42000.0,42100.0,FILLED,0.2,0.5\n"
        "1706745600200,BUY,LIMIT,IOC,1.0,44000.0,43900.0,FILLED,1.0,1.0\n",
    )

    summary = tasks.ingest("BTCUSDT", date(2024, 2, 1), date(2024, 2, 1), source=tmp_path)

    assert summary["rejected"] == []
    assert {t: n for t, n in summary["tables"].items() if n} == {
        "trades": 2,
        "book_depth": 2,
        "index_price_klines": 1,
        "liquidation_history": 2,
    }
    with warehouse.connect("BTCUSDT") as con:
        liquidations = con.execute(
            "SELECT side, price, bankruptcy_price, quantity, leverage "
            "FROM liquidation_history ORDER BY timestamp"
        ).fetchall()
        trades = con.execute("SELECT is_buyer_maker FROM trades ORDER BY id").fetchall()
    # SELL liquidates a long; the fill (average_price) is where it happened
    assert liquidations == [
        ("long", 42100.0, 42000.0, 0.5, None),
        ("short", 43900.0, 44000.0, 1.0, None),
    ]
    assert trades == [(True,), (False,)]


def test_the_command_refuses_a_period_that_ends_before_it_starts(sample_archive):
    with pytest.raises(CommandError, match="after --end"):
        call_command(
            "ingest",
            "--source",
            str(sample_archive),
            "--start",
            "2024-01-05",
            "--end",
            "2024-01-01",
        )


def test_the_command_refuses_an_unknown_dataset(sample_archive, warehouse_path):
    with pytest.raises(CommandError, match="unknown dataset 'oi'"):
        call_command(
            "ingest",
            "--source",
            str(sample_archive),
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-01",
            "--datasets",
            "metrics,oi",
            verbosity=0,
        )
