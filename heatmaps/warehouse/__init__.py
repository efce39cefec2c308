"""Every DuckDB statement liqmap runs; nothing else in the project imports duckdb.

One module per concern: ``schema`` (tables and migrations), ``connection`` (the writer
lock, WarehouseError), ``transactions`` (the one transaction), ``loading`` (archive files into
raw tables), ``live`` (REST and stream rows between the archive's files), ``model_io`` (what
the jobs read and write), ``publishing`` (the snapshots the web reads), ``serving`` (their
readers), ``queries`` (what the API and the jobs ask), ``point_in_time`` (what the API reads
to answer as of a past time). Every public function takes and returns
times as epoch ms UTC. Callers write ``warehouse.load_market(...)``: the names are here.
"""

from .backup import backup
from .connection import (
    WarehouseBusy,
    WarehouseError,
    connect,
    path_of,
    stored_symbols,
    writer_lock,
)
from .live import LIVE_TABLES, insert_rows, newest_time, source_counts, supersede
from .loading import (
    FileRecord,
    LoadResult,
    bare_read_csv,
    find_file,
    known_files,
    load_file,
    sha256_of,
    table_counts,
)
from .model_io import (
    bar_interval,
    bars_end,
    data_range,
    load_bars,
    load_market,
    load_realized,
    replace_model_output,
    replace_snapshot_quality,
)
from .point_in_time import close_at, snapshot_at, snapshot_buckets, snapshot_levels, snapshot_span
from .publishing import publish
from .queries import (
    candles,
    data_end,
    heatmap_cells,
    heatmap_extent,
    heatmap_rows,
    hourly_flows,
    last_liquidation,
    latest_run,
    levels,
    predicted_total,
    realized_events,
    realized_total,
    snapshot_confidence,
)
from .schema import MIGRATIONS, RAW_TABLES, SOURCES, migrate
from .serving import (
    SERVED_TABLES,
    WarehouseUnavailable,
    current,
    published_at,
    read,
    served_symbols,
    snapshot_connection,
    snapshot_id,
)
from .transactions import transaction

__all__ = [
    "LIVE_TABLES",
    "SOURCES",
    "MIGRATIONS",
    "RAW_TABLES",
    "SERVED_TABLES",
    "FileRecord",
    "LoadResult",
    "WarehouseBusy",
    "WarehouseError",
    "WarehouseUnavailable",
    "backup",
    "bar_interval",
    "bars_end",
    "bare_read_csv",
    "candles",
    "close_at",
    "data_end",
    "connect",
    "path_of",
    "stored_symbols",
    "current",
    "data_range",
    "find_file",
    "known_files",
    "heatmap_cells",
    "heatmap_extent",
    "heatmap_rows",
    "hourly_flows",
    "insert_rows",
    "last_liquidation",
    "latest_run",
    "levels",
    "load_file",
    "load_bars",
    "load_market",
    "load_realized",
    "migrate",
    "newest_time",
    "predicted_total",
    "publish",
    "published_at",
    "read",
    "realized_events",
    "realized_total",
    "snapshot_confidence",
    "replace_model_output",
    "replace_snapshot_quality",
    "served_symbols",
    "sha256_of",
    "snapshot_connection",
    "snapshot_at",
    "snapshot_buckets",
    "snapshot_id",
    "snapshot_levels",
    "snapshot_span",
    "source_counts",
    "supersede",
    "table_counts",
    "transaction",
    "writer_lock",
]
