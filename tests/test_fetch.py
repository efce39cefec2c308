"""Fetch: archive files downloaded from a real loopback server, verified, retried, resumable."""

from __future__ import annotations

import functools
import http.server
import io
import shutil
import threading
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from heatmaps import tasks

from .conftest import SAMPLE

DATASETS = "metrics,klines:5m,fundingRate"
START, END = date(2024, 1, 1), date(2024, 1, 3)
METRICS_DIR = "data/futures/um/daily/metrics/BTCUSDT"
EXPECTED = [
    *(f"{METRICS_DIR}/BTCUSDT-metrics-2024-01-0{d}.zip" for d in (1, 2, 3)),
    *(f"data/futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-01-0{d}.zip" for d in (1, 2, 3)),
    "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip",
]
DAY2 = f"{METRICS_DIR}/BTCUSDT-metrics-2024-01-02.zip"


class _RecordingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and records every GET path; a path in ``fail_once`` is answered badly
    once: with a 500 (value "500") or with half its body and a closed connection ("cut")."""

    def do_GET(self):
        path, server = self.path.lstrip("/"), self.server
        with server.lock:
            server.requests.append(path)
            fail = server.fail_once.pop(path, None)
        if fail == "500":
            self.send_error(500, "try again")
        elif fail == "cut":
            data = Path(self.directory, path).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


class Archive:
    """The served folder, its URL and what the server saw."""

    def __init__(self, root: Path, server: http.server.ThreadingHTTPServer):
        self.root, self.server = root, server
        self.url = f"http://127.0.0.1:{server.server_address[1]}/"

    @property
    def requests(self) -> list[str]:
        return list(self.server.requests)

    def zip_requests(self) -> list[str]:
        return [p for p in self.requests if p.endswith(".zip")]


@pytest.fixture
def served(tmp_path, settings):
    """A recording HTTP server on 127.0.0.1 serving a copy of the sample archive tree."""
    root = tmp_path / "served"
    shutil.copytree(SAMPLE / "data", root / "data")
    handler = functools.partial(_RecordingHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests, server.fail_once, server.lock = [], {}, threading.Lock()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    archive = Archive(root, server)
    settings.BINANCE_BASE_URL = archive.url
    settings.BINANCE_DATA_PATH = tmp_path / "local"
    settings.FETCH_BACKOFF_SECONDS = 0.01
    try:
        yield archive
    finally:
        server.shutdown()
        server.server_close()


def local(settings, relpath: str) -> Path:
    return Path(settings.BINANCE_DATA_PATH) / relpath


def fetch(datasets: str = DATASETS, start: date = START, end: date = END) -> dict:
    return tasks.fetch("BTCUSDT", start, end, datasets=datasets)


def run_command(*extra: str, datasets: str = DATASETS) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "fetch_binance",
        "--start",
        str(START),
        "--end",
        str(END),
        "--datasets",
        datasets,
        *extra,
        verbosity=0,
        stdout=out,
        stderr=err,
    )
    return out.getvalue(), err.getvalue()


def test_it_downloads_and_verifies_every_file(served, settings):
    summary = fetch()

    assert summary | {"seconds": 0} == {
        "files": 7,
        "downloaded": 7,
        "present": 0,
        "missing": [],
        "failed": [],
        "seconds": 0,
    }
    for relpath in EXPECTED:
        for name in (relpath, relpath + ".CHECKSUM"):
            assert local(settings, name).read_bytes() == (served.root / name).read_bytes()
    downloaded = sorted(p for p in Path(settings.BINANCE_DATA_PATH).rglob("*") if p.is_file())
    assert len(downloaded) == 14  # no stray or temporary files


def test_a_second_run_downloads_nothing_and_asks_for_no_zip(served):
    fetch()
    before = len(served.requests)

    summary = fetch()

    assert (summary["present"], summary["downloaded"], summary["files"]) == (7, 0, 7)
    assert served.requests[before:] == []


def test_a_day_the_server_lacks_is_reported_missing_and_the_others_download(served, settings):
    (served.root / DAY2).unlink()
    (served.root / (DAY2 + ".CHECKSUM")).unlink()

    summary = fetch()

    assert summary["missing"] == [DAY2]
    assert (summary["downloaded"], summary["failed"]) == (6, [])
    assert not local(settings, DAY2).exists()
    out, _ = run_command()  # exits normally: a missing day is not an error
    assert f"missing on the server: {DAY2}" in out
    assert "6 already present, 1 not on the server, 0 failed" in out


def test_a_zip_that_does_not_match_its_checksum_fails_and_leaves_nothing(served, settings):
    (served.root / DAY2).write_bytes(b"PK\x03\x04 not the published bytes")

    summary = fetch()

    assert [f["path"] for f in summary["failed"]] == [DAY2]
    assert "hash" in summary["failed"][0]["reason"].lower()
    assert summary["downloaded"] == 6
    assert not local(settings, DAY2).exists()
    leftovers = [p.name for p in local(settings, DAY2).parent.iterdir() if "2024-01-02" in p.name]
    assert leftovers == ["BTCUSDT-metrics-2024-01-02.zip.CHECKSUM"]  # no partial or temp file
    assert served.zip_requests().count(DAY2) == 1 + settings.FETCH_RETRIES

    with pytest.raises(CommandError, match="1 file"):
        run_command()


def test_a_truncated_zip_on_the_server_is_a_checksum_failure(served, settings):
    data = (served.root / DAY2).read_bytes()
    (served.root / DAY2).write_bytes(data[: len(data) // 2])

    summary = fetch()

    assert [f["path"] for f in summary["failed"]] == [DAY2]
    assert "hash" in summary["failed"][0]["reason"].lower()
    assert not local(settings, DAY2).exists()


def test_a_server_error_is_retried_until_the_file_arrives(served, settings):
    served.server.fail_once[DAY2] = "500"
    served.server.fail_once[DAY2 + ".CHECKSUM"] = "500"

    summary = fetch()

    assert (summary["downloaded"], summary["failed"]) == (7, [])
    assert served.requests.count(DAY2) == 2
    assert served.requests.count(DAY2 + ".CHECKSUM") == 2
    assert local(settings, DAY2).read_bytes() == (served.root / DAY2).read_bytes()


def test_a_connection_cut_mid_file_is_retried_and_leaves_no_partial_file(served, settings):
    served.server.fail_once[DAY2] = "cut"

    summary = fetch()

    assert (summary["downloaded"], summary["failed"]) == (7, [])
    assert served.requests.count(DAY2) == 2
    assert local(settings, DAY2).read_bytes() == (served.root / DAY2).read_bytes()
    assert len([p for p in local(settings, DAY2).parent.iterdir() if "-01-02" in p.name]) == 2


def test_a_file_corrupted_locally_is_downloaded_again(served, settings):
    fetch()
    local(settings, DAY2).write_bytes(b"damaged on disk")
    before = len(served.requests)

    summary = fetch()

    assert (summary["downloaded"], summary["present"]) == (1, 6)
    assert served.requests[before:] == [DAY2 + ".CHECKSUM", DAY2]
    assert local(settings, DAY2).read_bytes() == (served.root / DAY2).read_bytes()


def test_start_after_end_is_refused_naming_start(served):
    with pytest.raises(CommandError, match="--start"):
        call_command(
            "fetch_binance",
            "--start",
            "2024-01-03",
            "--end",
            "2024-01-01",
            verbosity=0,
            stdout=io.StringIO(),
        )
    assert served.requests == []


def test_an_unknown_dataset_is_refused_by_name(served):
    with pytest.raises(CommandError, match="bogusData"):
        run_command(datasets="metrics,bogusData")
    assert served.requests == []


def test_klines_without_an_interval_fetches_five_minute_bars(served):
    summary = fetch("klines", START, START)

    assert summary["downloaded"] == 1
    assert served.zip_requests() == [
        "data/futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-01-01.zip"
    ]
