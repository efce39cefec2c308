"""liqmap's signals endpoint over HTTP, the way a bot must call it.

Every failure ends in ``None`` (the caller treats no signal as WAIT), never in an exception:
a trading loop must keep its rules safe when the server is down, throttles it or refuses
its token. Network errors and 503 are retried with exponential back-off; 429 and 503 honour
``Retry-After``; a wait longer than ``max_wait`` is not slept through but kept as a
"not before" time, so the next polls answer None without calling the server.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

ACTIONS = ("AVOID", "WAIT", "CLEAR", "REVERSAL_OPPORTUNITY")
SIGNALS_PATH = "/api/v1/trading/signals"


class Log(Protocol):
    """What the client needs of a logger: Nautilus's ``Actor.log`` has these."""

    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def error(self, message: str) -> None: ...


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the second (what liqmap's ``at=`` reads)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Outcome:
    """A signal (the endpoint's JSON) or why there is none."""

    signal: dict[str, Any] | None
    error: str | None = None
    attempts: int = 0


@dataclass
class LiqmapClient:
    base_url: str
    token: str
    log: Log
    timeout: float = 5.0  # seconds per request: a slow answer is no answer
    retries: int = 3  # attempts after the first, for network errors, 429 and 503
    backoff: float = 1.0  # seconds before the first retry, doubled each time
    max_wait: float = 30.0  # longest single sleep; longer Retry-After → skip polls instead
    clock: Any = time.monotonic
    sleep: Any = time.sleep
    _not_before: float = field(default=0.0, init=False)

    def signal(self, symbol: str, at: datetime | None = None, model: str = "ensemble") -> Outcome:
        """The signal for ``symbol`` now, or as it was at ``at`` (backtests)."""
        if self.clock() < self._not_before:
            wait = self._not_before - self.clock()
            return Outcome(None, f"backing off for {wait:.0f} s more (server asked)")
        query = {"symbol": symbol, "model": model}
        if at is not None:
            query["at"] = iso_utc(at)
        url = f"{self.base_url.rstrip('/')}{SIGNALS_PATH}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(
            url, headers={"Authorization": f"Token {self.token}", "Accept": "application/json"}
        )
        delay, error = self.backoff, "no attempt"
        for attempt in range(1, self.retries + 2):
            status, body, retry_after, error = self._get(request)
            if status == 200:
                signal = self._parse(body)
                if signal is None:
                    self.log.error(
                        f"liqmap answered something that is not a signal: {body[:200]!r}"
                    )
                    return Outcome(None, "malformed answer", attempt)
                return Outcome(signal, None, attempt)
            if status in (401, 403):
                # a wrong token does not fix itself: say so loudly, do not hammer the server
                self.log.error(f"liqmap refused the token (HTTP {status}): check LIQMAP_TOKEN")
                return Outcome(None, f"HTTP {status}", attempt)
            if status is not None and status not in (429, 503) and status < 500:
                self.log.error(f"liqmap answered HTTP {status}: {body[:200]!r}")
                return Outcome(None, f"HTTP {status}", attempt)
            wait = retry_after if retry_after is not None else delay
            if attempt > self.retries:
                break
            if wait > self.max_wait:
                self._not_before = self.clock() + wait
                self.log.warning(f"liqmap: {error}; asked to wait {wait:.0f} s, polls skipped")
                return Outcome(None, error, attempt)
            self.log.warning(f"liqmap: {error}; retry {attempt}/{self.retries} in {wait:.1f} s")
            self.sleep(wait)
            delay *= 2
        self.log.error(f"liqmap: {error} after {self.retries + 1} attempts: no signal (WAIT)")
        return Outcome(None, error, self.retries + 1)

    def _get(self, request) -> tuple[int | None, bytes, float | None, str]:
        """(status or None on a network error, body, Retry-After seconds, description)."""
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read(), None, "ok"
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp is not None else b""
            return exc.code, body, _retry_after(exc.headers.get("Retry-After")), f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, DNS, timeout
            reason = getattr(exc, "reason", exc)
            return None, b"", None, f"network error ({reason})"

    @staticmethod
    def _parse(body: bytes) -> dict[str, Any] | None:
        try:
            signal = json.loads(body)
        except ValueError:
            return None
        if not isinstance(signal, dict) or signal.get("action") not in ACTIONS:
            return None
        return signal


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (liqmap sends seconds; an HTTP date is read too)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None
