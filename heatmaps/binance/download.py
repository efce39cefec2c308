"""Download archive files with their CHECKSUM, verified, retried, resumable by file.

pooch does the HTTP streaming, the hash check and the atomic move into place (a download
that fails or does not match leaves nothing behind); this module adds the archive's CHECKSUM
files, retries with exponential backoff, and the 404 = "not published" rule.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pooch
import requests

from .archive import ArchiveFile
from .formats import RejectedFile

pooch.get_logger().setLevel(logging.WARNING)


class NotPublished(Exception):
    """The server has no such file (HTTP 404): a day the archive does not hold."""


def read_checksum(path: Path) -> str:
    """The sha256 in a ``<sha256>  <name>`` CHECKSUM file."""
    text = path.read_text(encoding="ascii", errors="replace").split()
    if not text or len(text[0]) != 64:
        raise ValueError(f"{path}: not a CHECKSUM file (expected '<sha256>  <name>')")
    return text[0].lower()


def verify_checksum(path: Path, relpath: str, sha256: str) -> None:
    """Reject ``path`` when a CHECKSUM file beside it names another sha256 (none: nothing to
    check)."""
    checksum_file = path.with_name(path.name + ".CHECKSUM")
    if not checksum_file.exists():
        return
    expected = read_checksum(checksum_file)
    if expected != sha256:
        raise RejectedFile(
            relpath, f"sha256 {sha256[:12]}… does not match its CHECKSUM file ({expected[:12]}…)"
        )


@dataclass
class Downloader:
    base_url: str
    root: Path
    retries: int = 3
    backoff_seconds: float = 1.0  # waits 1, 3, 9 ... times this between attempts
    timeout: float = 60.0

    def fetch(self, item: ArchiveFile) -> str:
        """Make ``item`` present and verified under ``root``.

        Returns "present" (already there and matching its CHECKSUM) or "downloaded".
        Raises NotPublished on 404 and the last error once the retries are spent.
        """
        target = self.root / item.relpath
        checksum = target.with_name(target.name + ".CHECKSUM")
        if target.exists() and checksum.exists():
            try:
                if pooch.file_hash(str(target)) == read_checksum(checksum):
                    return "present"
            except ValueError:
                pass  # an unreadable CHECKSUM is fetched again below
        url = self.base_url.rstrip("/") + "/" + str(item.relpath)
        self._attempt(lambda: self._retrieve(url + ".CHECKSUM", checksum, None))
        sha256 = read_checksum(checksum)
        self._attempt(lambda: self._retrieve(url, target, f"sha256:{sha256}"))
        return "downloaded"

    def _retrieve(self, url: str, target: Path, known_hash: str | None) -> None:
        if known_hash is None and target.exists():
            target.unlink()  # a CHECKSUM is small and may have changed on the server
        pooch.retrieve(
            url,
            known_hash=known_hash,
            fname=target.name,
            path=target.parent,
            downloader=pooch.HTTPDownloader(timeout=self.timeout),
        )

    def _attempt(self, action) -> None:
        for attempt in range(self.retries + 1):
            try:
                return action()
            except requests.HTTPError as exc:
                if exc.response is not None and exc.response.status_code == 404:
                    raise NotPublished(str(exc.request.url if exc.request else exc)) from None
                error = exc
            except (requests.RequestException, ValueError) as exc:  # network, or hash mismatch
                error = exc
            if attempt == self.retries:
                raise error
            time.sleep(self.backoff_seconds * 3**attempt)
