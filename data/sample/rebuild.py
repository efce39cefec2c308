"""Rebuild data/sample/ from the project's development data (../shared/data, not shipped).

Repacks the first days of the synthetic sim-dev market into the archive's exact layout
(one CSV per zip, a .CHECKSUM beside each, written by ``heatmaps.binance.writer`` with a fixed
timestamp so that a rebuild gives the same bytes), derives a second, equally synthetic symbol
from it (ETHUSDT: every price × 0.05, every coin quantity × 20, so that notionals in USDT are
the same), copies the real 1 h BTCUSDT candles, and cuts the true pending heatmap to the same
days. Run from the repository root:
python data/sample/rebuild.py
"""

import csv
import io
import shutil
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from heatmaps.binance.writer import write_file  # noqa: E402
from models_engine.units import DAY_MS  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
OUT = Path(__file__).resolve().parent
DAYS = [f"2024-01-{d:02d}" for d in range(1, 11)]
FIRST_DAY_MS = 1704067200000  # 2024-01-01 00:00 UTC
# The derived symbol: ETH-like prices (BTC's $42k -> $2.1k). Exact in decimal, so the files
# hold the same digits a scaled market would, and notional (qty × price) is unchanged.
DERIVED = "ETHUSDT"
PRICE_FACTOR = Decimal("0.05")
QTY_FACTOR = Decimal(20)  # 1 / PRICE_FACTOR, written without an exponent
_KLINE = (("open", "high", "low", "close"), ("volume", "taker_buy_volume"))
SCALED_COLUMNS = {  # dataset -> (price columns, coin quantity columns)
    "klines": _KLINE,
    "markPriceKlines": _KLINE,
    "metrics": ((), ("sum_open_interest",)),
    "aggTrades": (("price",), ("quantity",)),
    "liquidationSnapshot": (
        ("price", "average_price"),
        ("original_quantity", "last_fill_quantity", "accumulated_fill_quantity"),
    ),
    "fundingRate": ((), ()),
}


def scaled(data: bytes, dataset: str) -> bytes:
    """The CSV of a BTCUSDT file as the derived symbol's: prices × PRICE_FACTOR, coins ×
    QTY_FACTOR, USDT values as they were, the symbol column renamed."""
    prices, quantities = SCALED_COLUMNS[dataset]
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    for row in rows:
        for name in prices:
            row[name] = str(Decimal(row[name]) * PRICE_FACTOR)
        for name in quantities:
            row[name] = str(Decimal(row[name]) * QTY_FACTOR)
        if "symbol" in row:
            row["symbol"] = DERIVED
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def repack(sim: Path, archive_root: Path, keep=lambda path: True) -> None:
    """Write the BTCUSDT CSVs of the market ``sim`` that ``keep`` keeps as the archive's zips
    under ``archive_root``, each with the derived symbol's twin (bench/scale.py repacks a
    whole market this way)."""
    for path in sorted((sim / "data").rglob("BTCUSDT-*.csv")):
        if keep(path):
            rel = path.relative_to(sim)
            data = path.read_bytes()
            write_file(archive_root, rel.with_suffix(".zip"), data)
            derived = Path(str(rel).replace("BTCUSDT", DERIVED)).with_suffix(".zip")
            # data/futures/um/<daily|monthly>/<dataset>/<SYMBOL>/...
            write_file(archive_root, derived, scaled(data, rel.parts[4]))


def _first_days(path: Path) -> bool:
    if "monthly" in path.parts:
        return path.stem.endswith("2024-01")
    return any(path.stem.endswith(day) for day in DAYS)


def main() -> None:
    sim = SHARED / "sim-dev"
    archive_root = OUT / "sim-dev"
    if archive_root.exists():
        shutil.rmtree(archive_root)
    repack(sim, archive_root, _first_days)
    real = SHARED / "binance/futures/um/nonvision/klines/BTCUSDT/1h/BTCUSDT_1h_Cleaned.csv"
    (OUT / "real").mkdir(exist_ok=True)
    shutil.copyfile(real, OUT / "real" / real.name)
    truth = OUT / "sim-dev" / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    end_ms = FIRST_DAY_MS + len(DAYS) * DAY_MS
    heatmap = pd.read_parquet(sim / "truth/pending_heatmap.parquet")
    heatmap = heatmap[heatmap["hour_open_time"] < end_ms].astype({"side": str})
    heatmap = heatmap.sort_values(list(heatmap.columns), ignore_index=True)
    heatmap.to_parquet(truth / "pending_heatmap.parquet", compression="zstd", index=False)
    print(f"sample rebuilt in {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
