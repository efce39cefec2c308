"""Staging an archive file: its CSV parsed, typed and checked into a Parquet file outside the
warehouse, so that any worker can do the costly part of loading a file while the symbol's one
writer only copies the staged rows in (``load_file(staged=...)``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
from django.conf import settings

from heatmaps.binance.formats import Dataset, RejectedFile, explain_csv_error

from .loading import _check_rows, _read_csv_sql, _select_sql, _time_target


@dataclass(frozen=True)
class Staged:
    rows: int
    min_time: str
    max_time: str


def stage_file(
    *,
    dataset: Dataset,
    csv_path: Path,
    header: bool,
    relpath: str,
    symbol: str,
    target: Path,
) -> Staged:
    """Parse ``csv_path`` as ``load_file`` would and write its rows, in its table's columns,
    to ``target`` (Parquet, written whole or not at all). Raises RejectedFile for exactly the
    files ``load_file`` rejects for their rows."""
    targets, exprs = _select_sql(dataset)
    select = ", ".join(f'{expr} AS "{name}"' for expr, name in zip(exprs, targets, strict=True))
    time_col = _time_target(dataset)
    partial = target.with_name(target.name + ".partial")
    with duckdb.connect() as con:  # in memory: nothing shared, no lock
        if settings.DUCKDB_THREADS:
            con.execute(f"SET threads = {int(settings.DUCKDB_THREADS)}")
        try:
            con.execute(
                f"CREATE TEMP TABLE staged AS SELECT {select} "
                f"FROM {_read_csv_sql(dataset, header)}",
                {"csv": str(csv_path)},
            )
        except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
            raise explain_csv_error(relpath, str(exc)) from None
        rows, min_time, max_time = con.execute(
            f"SELECT count(*), min({time_col})::VARCHAR, max({time_col})::VARCHAR FROM staged"
        ).fetchone()
        if rows == 0:
            raise RejectedFile(relpath, "the file has no data rows")
        _check_rows(con, dataset, relpath, symbol, "staged")
        con.execute("COPY staged TO $target (FORMAT parquet)", {"target": str(partial)})
    os.replace(partial, target)
    return Staged(rows, min_time, max_time)
