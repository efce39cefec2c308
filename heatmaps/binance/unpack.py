"""Get at the one CSV inside an archive file, whatever form it came in."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from .formats import RejectedFile


@contextlib.contextmanager
def csv_inside(path: Path, label: str) -> Iterator[Path]:
    """Yield a plain CSV path for ``path`` (a .csv, or a .zip holding exactly one CSV).

    A zip is extracted to a temporary folder removed on exit; ``label`` names the file in errors.
    """
    if path.suffix.lower() != ".zip":
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="liqmap-unzip-") as tmp:
        target = Path(tmp) / "data.csv"
        extract_csv(path, label, target)
        yield target


def extract_csv(path: Path, label: str, target: Path) -> None:
    """Write the one CSV inside the zip ``path`` to ``target``; RejectedFile if it holds
    anything else or cannot be read (``target`` may then hold part of it)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1 or not members[0].filename.lower().endswith(".csv"):
                names = ", ".join(m.filename for m in members) or "nothing"
                raise RejectedFile(label, f"a zip must hold exactly one CSV; it holds {names}")
            with archive.open(members[0]) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 4 << 20)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise RejectedFile(label, f"not a readable zip (truncated or corrupt?): {exc}") from None


def first_line(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        return fh.readline()
