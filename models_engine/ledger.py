"""The position ledger: cohorts of positions opened, closed with open interest, expired with
their holding time, and consumed when the price path reaches their liquidation price.

A *cohort* is the notional opened in one bar, on one side, at one leverage tier. It leaves the
ledger three ways:

- **closed**: in every bar in which open interest falls, each open position of a side closes
  the same share (the side's ``keep`` factor, which can lean to the side that taker flow says
  was closing);
- **expired**: traders hold for hours to days, so a cohort also decays with its own hazard
  ``λ`` per bar (its tier's half-life); when the survival ``exp(−λ·age)`` falls below
  ``EXPIRY_FLOOR`` the rest expires at once, which bounds the ledger by the positions that
  are pending, not by the length of history;
- **consumed** (liquidated): in the first bar after its opening whose low (long) or high
  (short) reaches its level.

A cohort opened in bar j on side s holds ``notional · exp(G[m] − G[j])`` after bar m, with
``G[m] = K_s[m] − λ·m`` and ``K_s`` the running sum of the side's log keep factors. That shared
form is what lets everything below run without a loop over cohorts or bars: first crossings
by binary lifting over a sparse min table, sums over time by difference arrays.
Conservation: opened = closed + expired + consumed + pending.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from .market import Bars

# Survival below which a cohort's remainder expires at once and leaves the arrays (after 20
# half-lives): a numerical truncation of the exponential survival, not a parameter of the
# market. At most a millionth of what a cohort opened is cut; coarser floors visibly thin the
# oldest buckets far from the price (checked: 1e-3 → 1e-6 moved the rank correlation with the
# development markets' true maps by 0.02, 1e-6 → 1e-12 by under 0.005).
EXPIRY_FLOOR = 1e-6
# Largest exponent a block of the time axis may span: exp(±LOG_SPAN) stays far inside float64.
LOG_SPAN = 500.0


@dataclass(frozen=True)
class Cohorts:
    """Positions opened together, one entry per (bar, side, tier)."""

    bar: np.ndarray  # int, the bar they were opened in
    is_long: np.ndarray  # bool
    leverage: np.ndarray  # float, e.g. 10.0
    entry: np.ndarray  # USDT per coin
    level: np.ndarray  # liquidation price, USDT per coin
    notional: np.ndarray  # USDT at opening
    hazard: np.ndarray | None = None  # per bar: share lost to expiry is 1 − exp(−hazard)
    # optional: int codes of cohorts that share a leverage and a hazard (found if not given)
    group: np.ndarray | None = None

    def __post_init__(self):
        hazard = np.zeros(len(self.bar)) if self.hazard is None else self.hazard
        object.__setattr__(self, "hazard", np.asarray(hazard, dtype=float))

    def __len__(self) -> int:
        return len(self.bar)

    def select(self, mask: np.ndarray) -> Cohorts:
        return Cohorts(
            *(
                None if getattr(self, f.name) is None else getattr(self, f.name)[mask]
                for f in fields(self)
            )
        )


@dataclass(frozen=True)
class Closing:
    """How falling open interest closes the ledger's positions.

    share: the share of the market's closing fraction that the ledger's positions follow
    (1 = every position closes as much as open interest fell; 0 = open interest is someone
    else's, positions leave by expiry and liquidation only).
    lean: 0..1, how far closes lean to the side taker flow implies (longs close by selling):
    the long side closes ``1 + lean·(1 − 2·buy_share)`` times the mean fraction.
    """

    share: float | np.ndarray = 1.0  # a number, or one per bar
    lean: float | np.ndarray = 0.0

    def __post_init__(self):
        for value in (self.share, self.lean):
            if not np.all((np.asarray(value) >= 0) & (np.asarray(value) <= 1)):
                raise ValueError("closing share and lean must be within 0..1")


def side_keep_logs(bars: Bars, closing: Closing) -> np.ndarray:
    """Log of the share of open positions that survive each bar's closes, per side.

    Returns an array (2, n): row 0 longs, row 1 shorts.
    """
    fraction = closing.share * -np.expm1(bars.keep_log)
    tilt = closing.lean * (1 - 2 * bars.taker_buy_share)
    out = np.empty((2, len(bars)))
    for row, sign in ((0, 1.0), (1, -1.0)):
        closed = np.clip(fraction * (1 + sign * tilt), 0.0, 1 - 1e-12)
        out[row] = np.log1p(-closed)
    return out


def first_crossing(values: np.ndarray, start: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """For each query, the first index i >= start with ``values[i] <= threshold``
    (``len(values)`` if none).

    Binary lifting over a sparse table of running minima: O((n + q) log n), no Python loop
    over queries. Example: values [5, 3, 1], start [0, 2], threshold [3, 0] -> [1, 3].
    """
    n = len(values)
    start = np.asarray(start, dtype=np.int64)
    threshold = np.asarray(threshold, dtype=float)
    if n == 0:
        return np.zeros_like(start)
    table = [np.asarray(values, dtype=float)]
    while (1 << len(table)) <= n:
        half = 1 << (len(table) - 1)
        prev = table[-1]
        table.append(np.minimum(prev[:-half], prev[half:]))
    pos = np.minimum(start, n)
    for k in range(len(table) - 1, -1, -1):
        width = 1 << k
        fits = pos + width <= n
        block_min = table[k][np.where(fits, pos, 0)]
        pos = pos + np.where(fits & (block_min > threshold), width, 0)
    return pos


def expiry_age(hazard: np.ndarray) -> np.ndarray:
    """Bars after opening at which a cohort's survival falls below EXPIRY_FLOOR (a huge number
    where the hazard is 0)."""
    hazard = np.asarray(hazard, dtype=float)
    with np.errstate(divide="ignore"):
        age = np.ceil(-np.log(EXPIRY_FLOOR) / hazard)
    return np.where(hazard > 0, np.minimum(age, 2**40), 2**40).astype(np.int64)


@dataclass(frozen=True)
class LedgerRun:
    cohorts: Cohorts
    consumed_at: np.ndarray  # bar of consumption; len(bars) = not consumed (pending or expired)
    expired_at: np.ndarray  # bar in which the remainder expired; len(bars) = did not
    keep_cum: np.ndarray  # (2, n): running sums of the longs' and shorts' log keep factors

    @property
    def ended_at(self) -> np.ndarray:
        """The bar a cohort left the ledger in (len(bars) while pending)."""
        return np.minimum(self.consumed_at, self.expired_at)

    def log_held(self, index: np.ndarray, after_bar: np.ndarray) -> np.ndarray:
        """Log of the share of their opening notional cohorts ``index`` hold after a bar
        (before any consumption)."""
        c = self.cohorts
        side = (~c.is_long[index]).astype(np.int64)
        bar = c.bar[index]
        return (
            self.keep_cum[side, after_bar]
            - self.keep_cum[side, bar]
            - c.hazard[index] * (after_bar - bar)
        )


def run_ledger(cohorts: Cohorts, bars: Bars, closing: Closing | None = None) -> LedgerRun:
    """Find the bar in which each cohort is consumed (never in its own opening bar) or expires."""
    n = len(bars)
    closing = closing or Closing()
    start = cohorts.bar + 1
    consumed = np.full(len(cohorts), n, dtype=np.int64)
    longs = cohorts.is_long
    if longs.any():
        consumed[longs] = first_crossing(bars.low, start[longs], cohorts.level[longs])
    if (~longs).any():
        # a short is consumed when the high reaches its level: the same search on −high
        consumed[~longs] = first_crossing(-bars.high, start[~longs], -cohorts.level[~longs])
    expires = cohorts.bar + expiry_age(cohorts.hazard)
    # consumption comes first in a bar: a level reached in the expiry bar is a liquidation
    expired = np.where(expires < consumed, expires, n)
    consumed = np.where(expires < consumed, n, consumed)
    keep_cum = np.cumsum(side_keep_logs(bars, closing), axis=1) if n else np.zeros((2, 0))
    return LedgerRun(cohorts, consumed, np.minimum(expired, n), keep_cum)


def _held(run: LedgerRun, mask: np.ndarray, after_bar: np.ndarray) -> np.ndarray:
    """Notional the selected cohorts hold after bar ``after_bar`` (before any consumption)."""
    index = np.nonzero(mask)[0]
    return run.cohorts.notional[index] * np.exp(run.log_held(index, after_bar))


def sides(is_long: np.ndarray) -> pd.Categorical:
    """ "long"/"short" labels; categorical, since millions of strings cost more than the math."""
    return pd.Categorical.from_codes(
        (~np.asarray(is_long, bool)).astype(np.int8), ["long", "short"]
    )


def is_long(side: pd.Series) -> np.ndarray:
    """True where a side column says "long" (from the categorical's codes when it is one:
    comparing millions of strings costs more than the sums around it)."""
    if isinstance(side.dtype, pd.CategoricalDtype) and list(side.cat.categories) == [
        "long",
        "short",
    ]:
        return side.cat.codes.to_numpy() == 0
    return side.to_numpy() == "long"


def bucket_of(price: np.ndarray, step: float) -> np.ndarray:
    return np.floor(np.asarray(price) / step) * step


def consumed_log(run: LedgerRun, bars: Bars, step: float) -> pd.DataFrame:
    """The model's predicted liquidations: notional consumed per bar, price bucket and side.

    Columns: time (bar open, ms), price_bucket, side, volume (USDT).
    """
    n = len(bars)
    hit = run.consumed_at < n
    if not hit.any():
        return pd.DataFrame(
            {"time": pd.Series(dtype=np.int64), "price_bucket": [], "side": [], "volume": []}
        )
    at = run.consumed_at[hit]
    frame = pd.DataFrame(
        {
            "time": bars.open_time[at],
            "price_bucket": bucket_of(run.cohorts.level[hit], step),
            "side": sides(run.cohorts.is_long[hit]),
            "volume": _held(run, hit, at - 1),
        }
    )
    return frame.groupby(["time", "price_bucket", "side"], as_index=False)["volume"].sum()


def decayed_sums(
    row: np.ndarray,
    start: np.ndarray,
    stop: np.ndarray,
    notional: np.ndarray,
    base: np.ndarray,
    group: np.ndarray,
    curve: np.ndarray,
    row_group: np.ndarray,
) -> np.ndarray:
    """Sum per row and column of items that decay along a shared curve.

    Item i sits in ``row[i]`` over columns ``start[i] .. stop[i] − 1`` and there is worth
    ``notional[i] · exp(curve[group[i], t] − base[i])``. ``curve`` (groups × columns) must not
    increase along a row and ``base[i]`` must be at least the curve anywhere the item lives.
    Difference arrays over blocks of columns short enough that no exponent leaves
    ±LOG_SPAN: no loop over items or columns. Returns an array (rows, columns).
    """
    n_rows, n_cols = len(row_group), curve.shape[1]
    out = np.zeros((n_rows, n_cols))
    live = start < stop
    row, start, stop = row[live], start[live], stop[live]
    notional, base, group = notional[live], base[live], group[live]
    if n_cols == 0 or len(row) == 0:
        return out
    a = 0
    while a < n_cols:
        # the block ends before any curve falls more than LOG_SPAN below its value at a
        drop = curve[:, a : a + 1] - curve[:, a:]
        b = a + int(np.min(np.argmax(np.c_[drop, np.full(len(curve), np.inf)] > LOG_SPAN, 1)))
        b = max(b, a + 1)
        here = (start < b) & (stop > a)
        width = b - a + 1
        s = np.maximum(start[here], a) - a
        e = np.minimum(stop[here], b) - a
        w = notional[here] * np.exp(curve[group[here], a] - base[here])
        cell = row[here] * width
        acc = np.bincount(cell + s, w, minlength=n_rows * width)
        acc -= np.bincount(cell + e, w, minlength=n_rows * width)
        acc = np.cumsum(acc.reshape(n_rows, width), axis=1)[:, : b - a]
        scale = np.exp(curve[row_group, a:b] - curve[row_group, a : a + 1])
        out[:, a:b] = acc * scale
        a = b
    return np.maximum(out, 0.0)


def decay_curves(run: LedgerRun, hazard: float, at_bar: np.ndarray) -> np.ndarray:
    """G = K_side − λ·bar at the given bars, rows long and short (see the module docstring)."""
    return run.keep_cum[:, at_bar] - hazard * at_bar[None, :]


def outflows(run: LedgerRun, bars: Bars) -> tuple[np.ndarray, np.ndarray]:
    """Notional closed by falling open interest and notional expired, per bar (USDT)."""
    n = len(bars)
    closed, expired = np.zeros(n), np.zeros(n)
    c = run.cohorts
    if n == 0 or len(c) == 0:
        return closed, expired
    keep = np.exp(run.keep_cum - np.c_[np.zeros(2), run.keep_cum[:, :-1]])
    # alive through bar m (closes and decay act on it) for m in bar+1 .. ended−1; column m
    # holds its value after bar m−1
    end = run.ended_at
    previous = np.r_[0, np.arange(n - 1)]
    for hazard in np.unique(c.hazard):
        of = c.hazard == hazard
        side = (~c.is_long[of]).astype(np.int64)
        base = run.keep_cum[side, c.bar[of]] - hazard * c.bar[of]
        alive = decayed_sums(
            side,
            c.bar[of] + 1,
            end[of],
            c.notional[of],
            base,
            side,
            decay_curves(run, hazard, previous),
            np.array([0, 1]),
        )
        closed += (alive * (1 - keep)).sum(axis=0)
        expired += (alive * keep * -np.expm1(-hazard)).sum(axis=0)
    gone = run.expired_at < n
    expired += np.bincount(
        run.expired_at[gone], _held(run, gone, run.expired_at[gone] - 1), minlength=n
    )
    return closed, expired


def pending_levels(run: LedgerRun, bars: Bars, step: float) -> pd.DataFrame:
    """What is still pending after the last bar, per side, leverage tier and price bucket.

    Columns: price_level (notional-weighted mean level in the bucket), price_bucket, volume
    (USDT), side, leverage.
    """
    n = len(bars)
    alive = run.ended_at >= n
    if n == 0 or not alive.any():
        return pd.DataFrame(columns=["price_level", "price_bucket", "volume", "side", "leverage"])
    c = run.cohorts.select(alive)
    held = _held(run, alive, np.full(int(alive.sum()), n - 1))
    frame = pd.DataFrame(
        {
            "price_bucket": bucket_of(c.level, step),
            "side": sides(c.is_long),
            "leverage": c.leverage,
            "volume": held,
            "weighted": held * c.level,
        }
    )
    frame = frame.groupby(["side", "leverage", "price_bucket"], as_index=False, observed=True)[
        ["volume", "weighted"]
    ].sum()
    frame = frame[frame["volume"] > 0]
    frame["price_level"] = frame["weighted"] / frame["volume"]
    return frame.drop(columns="weighted")[
        ["price_level", "price_bucket", "volume", "side", "leverage"]
    ].reset_index(drop=True)
