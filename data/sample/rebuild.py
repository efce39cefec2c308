"""Rebuild data/sample/ from the project's development data (../shared/data, not shipped).

Repacks the first days of the synthetic sim-dev market into the archive's exact layout
(one CSV per zip, a .CHECKSUM beside each, written by ``heatmaps.binance.writer`` with a fixed
timestamp so that a rebuild gives the same bytes), copies the real 1 h BTCUSDT candles, and
cuts the true pending heatmap to the same days. Run from the repository root:
python data/sample/rebuild.py
"""

import shutil
import sys
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


def main() -> None:
    sim = SHARED / "sim-dev"
    archive_root = OUT / "sim-dev"
    if archive_root.exists():
        shutil.rmtree(archive_root)
    for csv in sorted((sim / "data").rglob("*.csv")):
        rel = csv.relative_to(sim)
        if "monthly" in rel.parts:
            keep = csv.stem.endswith("2024-01")
        else:
            keep = any(csv.stem.endswith(day) for day in DAYS)
        if keep:
            write_file(archive_root, rel.with_suffix(".zip"), csv.read_bytes())
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
