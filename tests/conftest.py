"""Shared fixtures: a warehouse file per test, archive trees on disk and served on loopback."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
import zipfile
from pathlib import Path

import pytest

from heatmaps import warehouse

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample" / "sim-dev"


@pytest.fixture
def warehouse_path(tmp_path, settings) -> Path:
    settings.DUCKDB_PATH = tmp_path / "warehouse" / "liquidations.duckdb"
    return settings.DUCKDB_PATH


@pytest.fixture
def sample_archive(tmp_path) -> Path:
    """A writable copy of the bundled sample archive (zips with CHECKSUM files)."""
    root = tmp_path / "archive"
    shutil.copytree(SAMPLE / "data", root / "data")
    return root


def write_archive_file(
    root: Path, relpath: str, text: str | bytes, *, as_zip: bool = True, checksum: bool = True
) -> Path:
    """Write one archive file the way Binance publishes it (zip with one CSV + CHECKSUM)."""
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    if not as_zip:
        path = path.with_suffix(".csv")
        path.write_bytes(data)
        return path
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(path.with_suffix(".csv").name, data)
    if checksum:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
    return path


def snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every row of every warehouse table, in a stable order, to compare before and after."""
    with warehouse.connect(path) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output readable
        pass


@pytest.fixture
def archive_server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving a folder laid out like the archive."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
