"""Long-running commands stop cleanly on SIGTERM or Ctrl-C: the loop finishes what it holds
(the recorder writes its buffer) instead of dying with it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


def stop_on_signals() -> Callable[[], bool]:
    """Install SIGTERM/SIGINT handlers; return the ``stop()`` the loops poll."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    return stopping.is_set
