"""Rebuild data/sample/ from the project's development data (../shared/data, not shipped).

Repacks the first days of the synthetic sim-dev market into the archive's exact layout
(one CSV per zip, a .CHECKSUM beside each), copies the real 1 h BTCUSDT candles, and cuts the
true pending heatmap to the same days. Zips are written with a fixed timestamp so that a
rebuild gives the same bytes. Run from the repository root: python data/sample/rebuild.py
"""

import hashlib
import shutil
import sys
import zipfile
from pathlib import Path

import pandas as pd

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
OUT = Path(__file__).resolve().parent
DAYS = [f"2024-01-{d:02d}" for d in range(1, 11)]


def pack(csv: Path, target_dir: Path) -> None:
    target_dir.mkdir(parents=True, exist_ok=True)
    zip_path = target_dir / (csv.stem + ".zip")
    info = zipfile.ZipInfo(csv.name, date_time=(2024, 4, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr(info, csv.read_bytes(), compresslevel=9)
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    (target_dir / (zip_path.name + ".CHECKSUM")).write_text(f"{digest}  {zip_path.name}\n")


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
            pack(csv, archive_root / rel.parent)
    real = SHARED / "binance/futures/um/nonvision/klines/BTCUSDT/1h/BTCUSDT_1h_Cleaned.csv"
    (OUT / "real").mkdir(exist_ok=True)
    shutil.copyfile(real, OUT / "real" / real.name)
    truth = OUT / "sim-dev" / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    end_ms = 1704067200000 + len(DAYS) * 86_400_000
    heatmap = pd.read_parquet(sim / "truth/pending_heatmap.parquet")
    heatmap = heatmap[heatmap["hour_open_time"] < end_ms].astype({"side": str})
    heatmap = heatmap.sort_values(list(heatmap.columns), ignore_index=True)
    heatmap.to_parquet(truth / "pending_heatmap.parquet", compression="zstd", index=False)
    print(f"sample rebuilt in {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
