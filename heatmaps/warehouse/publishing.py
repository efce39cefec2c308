"""Publishing what the web reads: a base snapshot of the served tables, and on top of it a
small recent layer that the one-minute jobs replace.

A full publish copies every served table into a new base file (a year of one symbol is
hundreds of MB: fine after an ingest or a full calculate, not every minute). A publish
``since`` ({symbol: epoch ms}) writes only a recent layer: those symbols' rows from their
cut-off on (the earliest cut-off since the base, so a layer always holds everything that
changed since it), which readers lay over the base (``serving``). When a cut-off reaches
further back than ``RECENT_SPAN_MS`` before the symbol's newest candle, or the base is of
another schema, the publish is full again: the layer stays a few days at most.
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
    serving: Path | None = None,
    *,
    since: dict[str, int] | None = None,
) -> Path:
    """Publish the served tables (all of them, or a recent layer of ``since``'s symbols from
    their times on) and make them the current snapshot; return the file written.

    Raises WarehouseError when the serving folder cannot be written (the current snapshot
    stays as it was)."""
    serving = Path(serving or settings.SERVING_PATH)
    with reported(serving, (OSError, *IO_ERRORS)):
        serving.mkdir(parents=True, exist_ok=True)
        for leftover in serving.glob("*.partial"):  # from a writer that died mid-publish
            leftover.unlink()
        pointer = current_pointer(serving)
        cutoffs = _cutoffs(con, pointer, since) if since else None
        if cutoffs is None:
            path = _write(con, serving, "snapshot", _copy_all)
            write_pointer(serving, Pointer(path.name, None, len(MIGRATIONS)))
        else:
            path = _write(con, serving, "recent", lambda c: _copy_recent(c, cutoffs))
            write_pointer(serving, Pointer(pointer.base, path.name, pointer.schema, cutoffs))
        _prune(serving)
        return path


def _cutoffs(con, pointer: Pointer | None, since: dict[str, int]) -> dict[str, int] | None:
    """The new layer's cut-off per symbol, or None when the publish must be full."""
    if pointer is None or pointer.schema != len(MIGRATIONS):
        return None
    cutoffs = dict(pointer.cutoffs)
    for symbol, start in since.items():
        cutoffs[symbol] = min(start, cutoffs.get(symbol, start))
    for symbol, start in cutoffs.items():
        newest = con.execute(
            "SELECT epoch_ms(max(open_time)) FROM klines WHERE symbol = ?", [symbol]
        ).fetchone()[0]
        if newest is None or start < newest - RECENT_SPAN_MS:
            return None
    return cutoffs


def _write(con: duckdb.DuckDBPyConnection, serving: Path, kind: str, fill) -> Path:
    name = f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.duckdb"
    partial = serving / (name + ".partial")
    quoted = str(partial).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS snapshot")
    try:
        fill(con)
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("DETACH snapshot")
    os.replace(partial, serving / name)
    return serving / name


def _copy_all(con: duckdb.DuckDBPyConnection) -> None:
    for table in SERVED_TABLES:
        con.execute(f"CREATE TABLE snapshot.{table} AS SELECT * FROM {table}")


def _copy_recent(con: duckdb.DuckDBPyConnection, cutoffs: dict[str, int]) -> None:
    con.execute("CREATE TABLE snapshot.cutoffs (symbol VARCHAR, since BIGINT)")
    con.executemany("INSERT INTO snapshot.cutoffs VALUES (?, ?)", list(cutoffs.items()))
    for table in SERVED_TABLES:
        con.execute(
            f"CREATE TABLE snapshot.{table} AS SELECT t.* FROM {table} t "
            f"JOIN snapshot.cutoffs c ON t.symbol = c.symbol{_after(table)}"
        )


def _after(table: str) -> str:
    column = SERVED_TIMES[table]
    return f" AND t.{column} >= epoch_ms(c.since)" if column else ""


def _prune(serving: Path) -> None:
    pointer = current_pointer(serving)
    named = {pointer.base, pointer.recent} if pointer else set()
    for kind in ("snapshot", "recent"):
        for old in sorted(serving.glob(f"{kind}-*.duckdb"))[:-_KEEP]:
            if old.name not in named:
                old.unlink(missing_ok=True)
