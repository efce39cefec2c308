"""The archive's datasets: their CSV columns, how each column is read, and where rows go.

Column kinds (the warehouse turns each into SQL):
``float``, ``int``, ``bool`` as written; ``epoch`` an integer timestamp in ms or µs (decided
by magnitude, per value); ``text_ts`` a ``YYYY-MM-DD HH:MM:SS`` UTC timestamp; ``str`` text;
``side`` BUY/SELL turned into the side of the *liquidated position* (SELL = a long).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    name: str  # the archive's folder name, e.g. "aggTrades"
    table: str  # the warehouse table its rows go to
    columns: tuple[tuple[str, str], ...]  # (csv column, kind), in file order
    time_column: str  # the column that orders rows and decides overlaps
    monthly_only: bool = False  # published as monthly files only (fundingRate)
    has_interval: bool = False  # klines-like: files sit in an <interval>/ folder

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


_KLINE_COLUMNS = (
    ("open_time", "epoch"),
    ("open", "float"),
    ("high", "float"),
    ("low", "float"),
    ("close", "float"),
    ("volume", "float"),
    ("close_time", "epoch"),
    ("quote_volume", "float"),
    ("count", "int"),
    ("taker_buy_volume", "float"),
    ("taker_buy_quote_volume", "float"),
    ("ignore", "skip"),
)

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "metrics",
            "metrics",
            (
                ("create_time", "text_ts"),
                ("symbol", "str"),
                ("sum_open_interest", "float"),
                ("sum_open_interest_value", "float"),
                ("count_toptrader_long_short_ratio", "float"),
                ("sum_toptrader_long_short_ratio", "float"),
                ("count_long_short_ratio", "float"),
                ("sum_taker_long_short_vol_ratio", "float"),
            ),
            "create_time",
        ),
        Dataset(
            "fundingRate",
            "funding_rate",
            (
                ("calc_time", "epoch"),
                ("funding_interval_hours", "int"),
                ("last_funding_rate", "float"),
            ),
            "calc_time",
            monthly_only=True,
        ),
        Dataset("klines", "klines", _KLINE_COLUMNS, "open_time", has_interval=True),
        Dataset(
            "markPriceKlines", "mark_price_klines", _KLINE_COLUMNS, "open_time", has_interval=True
        ),
        Dataset(
            "indexPriceKlines", "index_price_klines", _KLINE_COLUMNS, "open_time", has_interval=True
        ),
        Dataset(
            "aggTrades",
            "agg_trades",
            (
                ("agg_trade_id", "int"),
                ("price", "float"),
                ("quantity", "float"),
                ("first_trade_id", "int"),
                ("last_trade_id", "int"),
                ("transact_time", "epoch"),
                ("is_buyer_maker", "bool"),
            ),
            "transact_time",
        ),
        Dataset(
            "trades",
            "trades",
            (
                ("id", "int"),
                ("price", "float"),
                ("qty", "float"),
                ("quote_qty", "float"),
                ("time", "epoch"),
                ("is_buyer_maker", "bool"),
            ),
            "time",
        ),
        Dataset(
            "bookDepth",
            "book_depth",
            (
                ("timestamp", "text_ts"),
                ("percentage", "float"),
                ("depth", "float"),
                ("notional", "float"),
            ),
            "timestamp",
        ),
        Dataset(
            "liquidationSnapshot",
            "liquidation_history",
            (
                ("time", "epoch"),
                ("side", "side"),
                ("order_type", "str"),
                ("time_in_force", "str"),
                ("original_quantity", "float"),
                ("price", "float"),
                ("average_price", "float"),
                ("order_status", "str"),
                ("last_fill_quantity", "float"),
                ("accumulated_fill_quantity", "float"),
            ),
            "time",
        ),
    )
}

INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")


class RejectedFile(Exception):
    """A file that cannot be loaded; nothing of it reaches the warehouse."""

    def __init__(self, path: object, reason: str, line: int | None = None):
        self.path = str(path)
        self.reason = reason
        self.line = line
        where = f"{self.path}, line {line}" if line else self.path
        super().__init__(f"{where}: {reason}")


def sniff_header(path: object, first_line: str, dataset: Dataset) -> bool:
    """Tell whether a CSV starts with a header (True) or with data (False, the pre-2022 format).

    Raises RejectedFile when the first line is neither the dataset's header nor a data row.
    """
    fields = [f.strip() for f in first_line.rstrip("\r\n").split(",")]
    if not first_line.strip():
        raise RejectedFile(path, "the file is empty", line=1)
    expected = dataset.column_names
    if tuple(fields) == expected:
        return True
    if len(fields) != len(expected):
        raise RejectedFile(
            path,
            f"expected {len(expected)} columns ({','.join(expected)}), found {len(fields)}: "
            f"{first_line.strip()[:200]!r}",
            line=1,
        )
    if _NUMBER.fullmatch(fields[0]) or _TEXT_TS.fullmatch(fields[0]):
        return False
    raise RejectedFile(
        path,
        f"header {first_line.strip()[:200]!r} does not match the {dataset.name} columns "
        f"({','.join(expected)})",
        line=1,
    )


_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_TEXT_TS = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?")

_CSV_ERROR = re.compile(r"CSV Error on Line: (\d+)")
_CONVERSION = re.compile(
    r'Error when converting column "(?P<column>[^"]+)"\. Could not convert string "(?P<value>.*?)" '
    r"to '(?P<type>\w+)'"
)
_TYPE_WORDS = {
    "DOUBLE": "a number",
    "BIGINT": "an integer",
    "BOOLEAN": "true/false",
    "TIMESTAMP": "a YYYY-MM-DD HH:MM:SS time",
}


def explain_csv_error(path: object, message: str) -> RejectedFile:
    """Turn a DuckDB CSV error into a RejectedFile with the line number and the reason.

    DuckDB counts lines from 1 including any header, as an editor does.
    """
    line = _CSV_ERROR.search(message)
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    conversion = _CONVERSION.search(message)
    if conversion:
        value, kind = conversion["value"], conversion["type"]
        reason = f'column {conversion["column"]}: "{value}" is not {_TYPE_WORDS.get(kind, kind)}'
        if not value:
            reason = f"column {conversion['column']} is empty"
    else:
        reason = next(
            (ln for ln in lines if ln.startswith("Expected Number of Columns")),
            lines[0] if lines else message,
        )
    original = next((ln for ln in lines if ln.startswith("Original Line:")), "")
    if original:
        reason = (
            f"{reason.rstrip('. ')} in {original.removeprefix('Original Line:').strip()[:200]!r}"
        )
    return RejectedFile(path, reason, line=int(line.group(1)) if line else None)
