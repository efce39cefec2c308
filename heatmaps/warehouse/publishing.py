"""Publishing what the web reads, per symbol: a base snapshot of the symbol's served tables,
and on top of it a small recent layer that the one-minute jobs replace.

A full publish copies every served table of the symbol's warehouse into a new base file (a
year of one symbol is hundreds of MB: fine after an ingest or a full calculate, not every
minute). A publish ``since`` (epoch ms) writes only a recent layer: the rows from the
earliest cut-off since the base on (so a layer always holds everything that changed since
it), which readers lay over the base (``serving``). When the cut-off reaches further back
than ``RECENT_SPAN_MS`` before the symbol's newest candle, or the base is of another schema,
the publish is full again: the layer stays a few days at most.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from django.conf import settings

from .connection import IO_ERRORS, reported
from .schema import MIGRATIONS
from .serving import SERVED_TABLES, SERVED_TIMES, Pointer, current_pointer, write_pointer

# how far back a recent layer may reach before the next publish is a full one
RECENT_SPAN_MS = 3 * 86_400_000
_KEEP = 2  # older files of each kind kept for readers that still hold them (unlinking is safe)


def publish(
    con: duckdb.DuckDBPyConnection,
    symbol: str,
    *,
    since: int | None = None,
    serving: Path | None = None,
) -> Path:
    """Publish ``symbol``'s served tables (all of them, or a recent layer of its rows from
    ``since`` on) and make them its current snapshot; return the file written.

    Raises WarehouseError when the serving folder cannot be written (the current snapshot
    stays as it was)."""
    folder = Path(serving or settings.SERVING_PATH) / symbol
    with reported(folder, (OSError, *IO_ERRORS)):
        folder.mkdir(parents=True, exist_ok=True)
        for leftover in folder.glob("*.partial"):  # from a writer that died mid-publish
            leftover.unlink()
        pointer = current_pointer(folder)
        cutoff = _cutoff(con, symbol, pointer, since)
        if cutoff is None:
            path = _write(con, folder, "snapshot", _copy_all)
            write_pointer(folder, Pointer(path.name, None, len(MIGRATIONS)))
        else:
            path = _write(con, folder, "recent", lambda c: _copy_recent(c, cutoff))
            write_pointer(folder, Pointer(pointer.base, path.name, pointer.schema, cutoff))
        _prune(folder)
        return path


def _cutoff(con, symbol: str, pointer: Pointer | None, since: int | None) -> int | None:
    """The new layer's cut-off, or None when the publish must be full."""
    if since is None or pointer is None or pointer.schema != len(MIGRATIONS):
        return None
    cutoff = since if pointer.since is None else min(since, pointer.since)
    newest = con.execute(
        "SELECT epoch_ms(max(open_time)) FROM klines WHERE symbol = ?", [symbol]
    ).fetchone()[0]
    if newest is None or cutoff < newest - RECENT_SPAN_MS:
        return None
    return cutoff


def _write(con: duckdb.DuckDBPyConnection, folder: Path, kind: str, fill) -> Path:
    name = f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.duckdb"
    partial = folder / (name + ".partial")
    quoted = str(partial).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS snapshot")
    try:
        fill(con)
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("DETACH snapshot")
    os.replace(partial, folder / name)
    return folder / name


def _copy_all(con: duckdb.DuckDBPyConnection) -> None:
    for table in SERVED_TABLES:
        con.execute(f"CREATE TABLE snapshot.{table} AS SELECT * FROM {table}")


def _copy_recent(con: duckdb.DuckDBPyConnection, cutoff: int) -> None:
    for table in SERVED_TABLES:
        column = SERVED_TIMES[table]
        after = f" WHERE {column} >= epoch_ms({int(cutoff)})" if column else ""
        con.execute(f"CREATE TABLE snapshot.{table} AS SELECT * FROM {table}{after}")


def _prune(folder: Path) -> None:
    pointer = current_pointer(folder)
    named = set(pointer.files) if pointer else set()
    for kind in ("snapshot", "recent"):
        for old in sorted(folder.glob(f"{kind}-*.duckdb"))[:-_KEEP]:
            if old.name not in named:
                old.unlink(missing_ok=True)
