"""The archive writer: files in Binance's layout, zipped the same way every time."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import date

from heatmaps.binance.archive import Selection, expected_files
from heatmaps.binance.formats import DATASETS
from heatmaps.binance.writer import relpath, write_file


def test_it_puts_files_where_the_archive_does():
    for name, interval, period in (
        ("klines", "5m", "2024-01-02"),
        ("metrics", None, "2024-01-02"),
        ("fundingRate", None, "2024-01"),
    ):
        day = date(2024, 1, 2)
        (expected,) = expected_files(Selection(DATASETS[name], interval), "BTCUSDT", day, day)

        assert relpath(name, "BTCUSDT", period, interval) == expected.relpath


def test_the_same_csv_gives_the_same_zip_and_a_checksum_of_it(tmp_path):
    path = relpath("metrics", "BTCUSDT", "2024-01-02")
    first = write_file(tmp_path / "a", path, "create_time,symbol\n").read_bytes()
    second = write_file(tmp_path / "b", path, b"create_time,symbol\n")

    assert second.read_bytes() == first
    with zipfile.ZipFile(second) as archive:
        assert archive.namelist() == ["BTCUSDT-metrics-2024-01-02.csv"]
    checksum = second.with_name(second.name + ".CHECKSUM").read_text()
    assert checksum == f"{hashlib.sha256(first).hexdigest()}  BTCUSDT-metrics-2024-01-02.zip\n"


def test_a_plain_csv_has_no_checksum(tmp_path):
    path = write_file(tmp_path, relpath("metrics", "BTCUSDT", "2024-01-02"), "x\n", as_zip=False)

    assert path.name == "BTCUSDT-metrics-2024-01-02.csv" and path.read_text() == "x\n"
    assert [p.name for p in path.parent.iterdir()] == [path.name]
