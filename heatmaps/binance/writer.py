"""Writing archive files in Binance's own layout and formats: a zip holding one CSV, with a
``<name>.zip.CHECKSUM`` beside it (``<sha256>  <name>``), or a plain CSV.

The tests, the benchmarks and ``data/sample/rebuild.py`` all write archives with this, so
whatever they write is read by ingest the way a downloaded file is. Zips carry a fixed
timestamp: the same CSV always gives the same zip (the bundled sample rebuilds byte for byte).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path, PurePosixPath

from .archive import file_name, folder
from .formats import DATASETS

ZIP_DATE_TIME = (2024, 4, 1, 0, 0, 0)


def relpath(
    dataset_name: str, symbol: str, period: str, interval: str | None = None
) -> PurePosixPath:
    """Where a file sits below an archive root, e.g. ``relpath("klines", "BTCUSDT",
    "2024-01-01", "5m")``; a ``YYYY-MM`` period is a monthly file."""
    dataset = DATASETS[dataset_name]
    frequency = "monthly" if len(period) == 7 else "daily"
    return folder(dataset, symbol, frequency, interval) / file_name(
        dataset, symbol, period, interval
    )


def write_file(
    root: Path,
    relpath: str | PurePosixPath,
    data: bytes | str,
    *,
    as_zip: bool = True,
    checksum: bool = True,
) -> Path:
    """Write one archive file under ``root`` and return its path: ``relpath`` as a zip of one
    CSV (and its CHECKSUM unless ``checksum`` is off), or with ``as_zip`` off the CSV itself
    (``relpath`` with a ``.csv`` suffix; plain CSVs have no CHECKSUM)."""
    zip_path = root / PurePosixPath(relpath).with_suffix(".zip")
    csv_path = zip_path.with_suffix(".csv")
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    data = data.encode() if isinstance(data, str) else data
    if not as_zip:
        csv_path.write_bytes(data)
        return csv_path
    blob = zipped(csv_path.name, data)
    zip_path.write_bytes(blob)
    if checksum:
        digest = hashlib.sha256(blob).hexdigest()
        zip_path.with_name(zip_path.name + ".CHECKSUM").write_text(f"{digest}  {zip_path.name}\n")
    return zip_path


def zipped(name: str, data: bytes) -> bytes:
    """A zip holding ``data`` as ``name``, deflated, with a fixed timestamp."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(info, data, compresslevel=9)
    return out.getvalue()
