"""What the jobs read and write: the market frames the models run on, realized liquidations,
and the models' output replacing a window as a whole. Times are epoch ms UTC throughout.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from models_engine.units import BAR_MS

from .transactions import transaction

# The bar grid is 5 minutes; finer candles are aggregated up to it, coarser ones are not used.
_BAR_INTERVALS = ("5m", "1m", "3m")


def bar_interval(table: str = "klines") -> str:
    """SQL for the kline interval the bars of $symbol in [$start, $end) (epoch ms) are built
    from: the first of 5m, 1m, 3m present there, else NULL (and then no row matches it).

    The one rule for every reader of candles: the models, the API's candles, paper trading.
    """
    preference = ", ".join(f"'{i}'" for i in _BAR_INTERVALS)
    return f"""(SELECT min_by(interval, list_position([{preference}], interval)) FROM {table}
                WHERE symbol = $symbol AND interval IN ({preference})
                  AND open_time >= epoch_ms($start) AND open_time < epoch_ms($end))"""


def loaded_symbols(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Symbols with candles in the warehouse, sorted."""
    return [
        row[0] for row in con.execute("SELECT DISTINCT symbol FROM klines ORDER BY 1").fetchall()
    ]


def data_range(con: duckdb.DuckDBPyConnection, symbol: str) -> tuple[int, int] | None:
    """First and last candle open time of a symbol (any kline interval), or None."""
    row = con.execute(
        "SELECT epoch_ms(min(open_time)), epoch_ms(max(open_time)) FROM klines WHERE symbol = ?",
        [symbol],
    ).fetchone()
    return None if row[0] is None else (row[0], row[1])


def load_bars(
    con: duckdb.DuckDBPyConnection, symbol: str, start_ms: int, end_ms: int, table: str = "klines"
) -> pd.DataFrame | None:
    """5-minute bars of [start, end) from ``table``'s candles (open_time ms, OHLC, volumes),
    or None when there are none. Reads the served snapshot too (it holds ``klines``)."""
    bars = con.execute(
        f"""SELECT epoch_ms(open_time) // {BAR_MS} * {BAR_MS} AS open_time,
                   arg_min(open, open_time) AS open, max(high) AS high, min(low) AS low,
                   arg_max(close, open_time) AS close, sum(volume) AS volume,
                   sum(quote_volume) AS quote_volume, sum(taker_buy_volume) AS taker_buy_volume
            FROM {table}
            WHERE symbol = $symbol AND interval = {bar_interval(table)}
              AND open_time >= epoch_ms($start) AND open_time < epoch_ms($end)
            GROUP BY 1 ORDER BY 1""",
        {"symbol": symbol, "start": start_ms, "end": end_ms},
    ).df()
    return bars if len(bars) else None


def load_market(
    con: duckdb.DuckDBPyConnection, symbol: str, start_ms: int, end_ms: int
) -> dict[str, pd.DataFrame | None]:
    """The frames a MarketData needs for [start, end), timestamps as epoch ms.

    Candles are aggregated to 5-minute bars; open interest is read one bar past ``end`` (the
    last bar's closing OI); funding from a week before ``start`` (the rate in force at it).
    """
    frames: dict[str, pd.DataFrame | None] = {
        "klines": load_bars(con, symbol, start_ms, end_ms),
        "mark": load_bars(con, symbol, start_ms, end_ms, "mark_price_klines"),
    }
    params = {"symbol": symbol, "start": start_ms, "end": end_ms}
    frames["metrics"] = con.execute(
        f"""SELECT epoch_ms(create_time) AS create_time, sum_open_interest, sum_open_interest_value,
                   count_long_short_ratio
            FROM metrics WHERE symbol = $symbol AND create_time >= epoch_ms($start)
              AND create_time <= epoch_ms($end + {BAR_MS})
            ORDER BY create_time""",
        params,
    ).df()
    frames["funding"] = con.execute(
        """SELECT epoch_ms(calc_time) AS calc_time, last_funding_rate FROM funding_rate
           WHERE symbol = $symbol AND calc_time >= epoch_ms($start) - INTERVAL 7 DAY
             AND calc_time < epoch_ms($end)
           ORDER BY calc_time""",
        params,
    ).df()
    frames["trades"] = con.execute(
        """SELECT epoch_ms(transact_time) AS transact_time, price, quantity, is_buyer_maker
           FROM agg_trades WHERE symbol = $symbol AND transact_time >= epoch_ms($start)
             AND transact_time < epoch_ms($end) ORDER BY transact_time""",
        params,
    ).df()
    return frames


def load_realized(
    con: duckdb.DuckDBPyConnection, symbol: str, start_ms: int, end_ms: int
) -> pd.DataFrame:
    """Realized liquidations in [start, end): time (ms), price, side, volume (USDT)."""
    return con.execute(
        """SELECT epoch_ms(timestamp) AS time, price, side, price * quantity AS volume
           FROM liquidation_history
           WHERE symbol = ? AND timestamp >= epoch_ms(?) AND timestamp < epoch_ms(?)
           ORDER BY timestamp""",
        [symbol, start_ms, end_ms],
    ).df()


def replace_model_output(
    con: duckdb.DuckDBPyConnection,
    *,
    symbol: str,
    model: str,
    window_start_ms: int,
    window_end_ms: int,
    levels: pd.DataFrame,
    heatmap: pd.DataFrame,
    tier_heatmap: pd.DataFrame,
    predicted: pd.DataFrame,
    run: dict,
) -> None:
    """Replace one model's rows for [window_start, window_end] in one transaction.

    Frames carry epoch-ms times: levels (timestamp, price_level, price_bucket, volume, side,
    leverage, confidence, is_valid), heatmap (time_bucket, price_bucket, side, density,
    volume), predicted (time, price_bucket, side, volume).
    """
    window = {"symbol": symbol, "model": model, "start": window_start_ms, "end": window_end_ms}
    try:
        with transaction(con):
            for table, column in (
                ("liquidation_levels", "timestamp"),
                ("heatmap_cache", "time_bucket"),
                ("heatmap_tiers", "time_bucket"),
                ("predicted_liquidations", "time"),
            ):
                con.execute(
                    f"DELETE FROM {table} WHERE symbol = $symbol AND model = $model "
                    f"AND {column} >= epoch_ms($start) AND {column} <= epoch_ms($end)",
                    window,
                )
            con.execute(
                "DELETE FROM model_runs WHERE symbol = $symbol AND model = $model "
                "AND window_start = epoch_ms($start) AND window_end = epoch_ms($end)",
                window,
            )
            con.register("new_levels", levels)
            con.execute(
                """INSERT INTO liquidation_levels SELECT epoch_ms(timestamp::BIGINT), $symbol,
                   $model, price_level, price_bucket, volume, CAST(leverage AS INTEGER) || 'x',
                   side, confidence, is_valid FROM new_levels""",
                {"symbol": symbol, "model": model},
            )
            con.register("new_heatmap", heatmap)
            con.execute(
                """INSERT INTO heatmap_cache SELECT epoch_ms(time_bucket::BIGINT), price_bucket,
                   $symbol, $model, side, density, volume FROM new_heatmap""",
                {"symbol": symbol, "model": model},
            )
            con.register("new_tiers", tier_heatmap)
            con.execute(
                """INSERT INTO heatmap_tiers SELECT epoch_ms(time_bucket::BIGINT), price_bucket,
                   $symbol, $model, side, leverage, density, volume FROM new_tiers""",
                {"symbol": symbol, "model": model},
            )
            con.register("new_predicted", predicted)
            con.execute(
                """INSERT INTO predicted_liquidations SELECT epoch_ms(time::BIGINT), $symbol,
                   $model, price_bucket, side, volume FROM new_predicted""",
                {"symbol": symbol, "model": model},
            )
            con.execute(
                "INSERT INTO model_runs VALUES ($symbol, $model, epoch_ms($start), epoch_ms($end), "
                "epoch_ms($as_of::BIGINT), $price_step, $tier_price_step, $current_price, "
                "$confidence, $is_valid, "
                "$warnings, now()::TIMESTAMP, $weights)",
                {"weights": None, **window, **run},
            )
    finally:
        for name in ("new_levels", "new_heatmap", "new_tiers", "new_predicted"):
            con.unregister(name)


def replace_snapshot_quality(
    con: duckdb.DuckDBPyConnection,
    *,
    symbol: str,
    model: str,
    window_start_ms: int,
    window_end_ms: int,
    quality: pd.DataFrame,
) -> None:
    """Replace one model's per-snapshot confidence and warnings for [window_start,
    window_end] in one transaction (quality: time_bucket ms, confidence, is_valid, warnings)."""
    window = {"symbol": symbol, "model": model, "start": window_start_ms, "end": window_end_ms}
    frame = quality[["time_bucket", "confidence", "is_valid"]].assign(
        warnings=[list(w) for w in quality["warnings"]]
    )
    try:
        with transaction(con):
            con.execute(
                "DELETE FROM snapshot_quality WHERE symbol = $symbol AND model = $model "
                "AND time_bucket >= epoch_ms($start) AND time_bucket <= epoch_ms($end)",
                window,
            )
            con.register("new_quality", frame)
            con.execute(
                """INSERT INTO snapshot_quality SELECT epoch_ms(time_bucket::BIGINT), $symbol,
                   $model, confidence, is_valid, warnings::VARCHAR[] FROM new_quality""",
                {"symbol": symbol, "model": model},
            )
    finally:
        con.unregister("new_quality")
