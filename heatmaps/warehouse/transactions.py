"""The one transaction every multi-statement write of the warehouse runs in."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block's statements as one transaction: all of them or none.

    A failure inside the block rolls back and is raised as it is, even when the ROLLBACK fails
    too (a connection broken by a full disk cannot roll back). A failed COMMIT ends the
    transaction by itself: it is raised with nothing to roll back.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
