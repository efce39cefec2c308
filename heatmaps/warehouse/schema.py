"""The warehouse's tables: the migrations that build them, and which ones hold archive rows.

``connect()`` applies the missing migrations each time a writer opens the file.
"""

from __future__ import annotations

import duckdb

from .transactions import transaction

_KLINE_TABLE = """(
    file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, interval VARCHAR NOT NULL,
    open_time TIMESTAMP NOT NULL, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE,
    volume DOUBLE, close_time TIMESTAMP, quote_volume DOUBLE, count BIGINT,
    taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE)"""

# Each entry brings the schema from version i to i+1; never edit one that has shipped.
MIGRATIONS: list[str] = [
    f"""
    CREATE SEQUENCE file_ids START 1;
    CREATE TABLE ingested_files (
        id INTEGER PRIMARY KEY, path VARCHAR NOT NULL UNIQUE, dataset VARCHAR NOT NULL,
        symbol VARCHAR NOT NULL, interval VARCHAR, sha256 VARCHAR NOT NULL, size BIGINT NOT NULL,
        rows BIGINT NOT NULL, min_time TIMESTAMP, max_time TIMESTAMP, loaded_at TIMESTAMP NOT NULL);
    CREATE TABLE metrics (
        file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, create_time TIMESTAMP NOT NULL,
        sum_open_interest DOUBLE, sum_open_interest_value DOUBLE,
        count_toptrader_long_short_ratio DOUBLE, sum_toptrader_long_short_ratio DOUBLE,
        count_long_short_ratio DOUBLE, sum_taker_long_short_vol_ratio DOUBLE);
    CREATE TABLE funding_rate (
        file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, calc_time TIMESTAMP NOT NULL,
        funding_interval_hours INTEGER, last_funding_rate DOUBLE);
    CREATE TABLE klines {_KLINE_TABLE};
    CREATE TABLE mark_price_klines {_KLINE_TABLE};
    CREATE TABLE index_price_klines {_KLINE_TABLE};
    CREATE TABLE agg_trades (
        file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, agg_trade_id BIGINT, price DOUBLE,
        quantity DOUBLE, first_trade_id BIGINT, last_trade_id BIGINT,
        transact_time TIMESTAMP NOT NULL, is_buyer_maker BOOLEAN);
    CREATE TABLE trades (
        file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, id BIGINT, price DOUBLE, qty DOUBLE,
        quote_qty DOUBLE, time TIMESTAMP NOT NULL, is_buyer_maker BOOLEAN);
    CREATE TABLE book_depth (
        file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL,
        percentage DOUBLE, depth DOUBLE, notional DOUBLE);
    -- Realized liquidations. side = the liquidated position's side; price = average fill;
    -- leverage is never in the archive (NULL) but other sources may know it.
    CREATE TABLE liquidation_history (
        file_id INTEGER NOT NULL, symbol VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL,
        side VARCHAR NOT NULL, price DOUBLE, quantity DOUBLE, bankruptcy_price DOUBLE,
        original_quantity DOUBLE, order_type VARCHAR, time_in_force VARCHAR,
        order_status VARCHAR, leverage INTEGER);
    """,
    """
    -- What the models say. Every row belongs to one (symbol, model) and is replaced as a whole
    -- window when that window is calculated again.
    CREATE TABLE liquidation_levels (
        timestamp TIMESTAMP NOT NULL, symbol VARCHAR NOT NULL, model VARCHAR NOT NULL,
        price_level DOUBLE NOT NULL, price_bucket DOUBLE NOT NULL,
        liquidation_volume DOUBLE NOT NULL, leverage_tier VARCHAR NOT NULL,
        side VARCHAR NOT NULL, confidence DOUBLE NOT NULL, is_valid BOOLEAN NOT NULL);
    CREATE TABLE heatmap_cache (
        time_bucket TIMESTAMP NOT NULL, price_bucket DOUBLE NOT NULL, symbol VARCHAR NOT NULL,
        model VARCHAR NOT NULL, side VARCHAR NOT NULL, density BIGINT NOT NULL,
        volume DOUBLE NOT NULL);
    -- the same per leverage tier, on wider price buckets (model_runs.tier_price_step)
    CREATE TABLE heatmap_tiers (
        time_bucket TIMESTAMP NOT NULL, price_bucket DOUBLE NOT NULL, symbol VARCHAR NOT NULL,
        model VARCHAR NOT NULL, side VARCHAR NOT NULL, leverage DOUBLE NOT NULL,
        density BIGINT NOT NULL, volume DOUBLE NOT NULL);
    CREATE TABLE predicted_liquidations (
        time TIMESTAMP NOT NULL, symbol VARCHAR NOT NULL, model VARCHAR NOT NULL,
        price_bucket DOUBLE NOT NULL, side VARCHAR NOT NULL, volume DOUBLE NOT NULL);
    CREATE TABLE model_runs (
        symbol VARCHAR NOT NULL, model VARCHAR NOT NULL, window_start TIMESTAMP NOT NULL,
        window_end TIMESTAMP NOT NULL, as_of TIMESTAMP, price_step DOUBLE NOT NULL,
        tier_price_step DOUBLE NOT NULL,
        current_price DOUBLE, confidence DOUBLE NOT NULL, is_valid BOOLEAN NOT NULL,
        warnings VARCHAR[] NOT NULL, computed_at TIMESTAMP NOT NULL,
        PRIMARY KEY (symbol, model, window_start, window_end));
    """,
    # the ensemble's member weights at as_of (JSON text), so pages and bots can show them
    """ALTER TABLE model_runs ADD COLUMN weights VARCHAR;""",
    # Following the market: rows now come from the archive, Binance's REST API or its WebSocket
    # streams. Only archive rows have a file; the others have file_id NULL (a made-up file per
    # REST batch would fill the ledger of files with a row a minute and clash with the real
    # file's time range when it arrives).
    "\n".join(
        f"""ALTER TABLE {table} ALTER COLUMN file_id DROP NOT NULL;
        ALTER TABLE {table} ADD COLUMN source VARCHAR DEFAULT 'archive';"""
        for table in (
            "klines",
            "mark_price_klines",
            "metrics",
            "funding_rate",
            "liquidation_history",
        )
    )
    + """
    -- /fapi/v1/premiumIndex, one row per poll: the mark and index price and the funding rate
    -- Binance estimates for the next settlement (no archive publishes these)
    CREATE TABLE premium_index (
        symbol VARCHAR NOT NULL, time TIMESTAMP NOT NULL, mark_price DOUBLE, index_price DOUBLE,
        estimated_settle_price DOUBLE, last_funding_rate DOUBLE, interest_rate DOUBLE,
        next_funding_time TIMESTAMP, source VARCHAR NOT NULL DEFAULT 'rest');
    """,
    # What a model would have reported at each snapshot time had its data ended then
    # (models_engine.point_in_time): the confidence of the API's answers as of a time (at=).
    # model_runs keeps one confidence per run, the one at its end: later data raises it.
    """
    CREATE TABLE snapshot_quality (
        time_bucket TIMESTAMP NOT NULL, symbol VARCHAR NOT NULL, model VARCHAR NOT NULL,
        confidence DOUBLE NOT NULL, is_valid BOOLEAN NOT NULL, warnings VARCHAR[] NOT NULL);
    """,
]

# Where a row came from (the ``source`` column of the tables following the market fills).
SOURCES = ("archive", "rest", "stream")


RAW_TABLES = (
    "metrics",
    "funding_rate",
    "klines",
    "mark_price_klines",
    "index_price_klines",
    "agg_trades",
    "trades",
    "book_depth",
    "liquidation_history",
)


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply the migrations this file has not had yet, each in one transaction; return the
    schema version."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    version = row[0] or 0
    for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
        with transaction(con):
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?)", [number])
    return len(MIGRATIONS)
