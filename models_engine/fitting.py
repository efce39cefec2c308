"""Fitting a calibration to what a market revealed before a time: its realized liquidations.

The objective is the Poisson log-likelihood of the realized liquidation notional per
(hour, price bucket, side) under the ledger's predicted consumption in that cell, notional
counted in units of the window's mean liquidation. Why this one:

- consumption is the one thing the ledger predicts that the market shows directly, and it
  shows both *where* (the level, so the leverage) and *when* (the age at which a level was
  still there to be hit, so the lifetime);
- it is linear in the opening rates, so for fixed lifetimes and closing the rates have an
  exact EM (multiplicative) solution that keeps them >= 0; a Gamma prior centred on the prior
  mix (``PRIOR_EVENTS`` pseudo-liquidations per rate) shrinks toward it where data is thin,
  which is also what happens to tiers the window never liquidated;
- a rank score would ignore how much was liquidated, and least squares on notional would let
  the few largest cascades decide everything.

The lifetimes (half-life at 10x and its slope in leverage) and the closing share and lean
enter non-linearly: a grid search (half-life and slope jointly, then the closing), each point
scored by the likelihood at the EM's rates (profile likelihood: the prior steadies the rates,
it does not choose the lifetimes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .brackets import liquidation_price
from .calibration import Parameters, log_uniform_mix, long_share, opening_features
from .ledger import Closing, expiry_age, first_crossing, side_keep_logs
from .market import Bars, auto_price_step, slice_bars
from .units import DAY_MS, HOUR_MS

PRIOR_EVENTS = 5.0  # pseudo-liquidations behind each prior rate: a weak prior
HALF_LIFE_GRID = tuple(2.0**k for k in range(-1, 10))  # hours at 10x: 30 min .. 21 days
SLOPE_GRID = (-1.0, -0.5, 0.0, 0.5)
SHARE_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
LEAN_GRID = (0.0, 0.5, 1.0)
MIN_LIQUIDATIONS = 10  # fewer than this in a window and there is nothing to fit


@dataclass(frozen=True)
class Fit:
    """A fitted calibration and what it rests on."""

    parameters: Parameters
    liquidations: int  # realized liquidations in the fit window
    log_likelihood: float  # per liquidation, at the fitted parameters
    prior_log_likelihood: float  # per liquidation, at the prior's lifetimes and closing
    fitted: bool  # False: too few liquidations, the prior was returned


@dataclass(frozen=True)
class _Problem:
    """Every cohort with unit rates that was consumed inside the window, and the realized
    liquidations per cell: what the likelihood needs, computed once per fit."""

    bar: np.ndarray  # opening bar
    age: np.ndarray  # bars from opening to consumption
    side: np.ndarray  # 0 long, 1 short
    tier: np.ndarray
    feature_notional: np.ndarray  # (cohorts, features): unit-rate opened notional, USDT
    cell: np.ndarray  # index into y, -1 where nothing was realized in the cell
    y: np.ndarray  # realized notional per cell, in mean liquidations
    unit: float  # USDT of a mean liquidation
    bars: Bars
    tiers: np.ndarray


def fit(
    bars: Bars,
    realized: pd.DataFrame,
    start_ms: int,
    end_ms: int,
    price_step: float,
    *,
    position_notional: float,
    brackets,
    prior: Parameters | None = None,
    warmup_days: float = 30.0,
) -> Fit:
    """Fit the parameters on the realized liquidations of [start_ms, end_ms).

    Uses bars before ``end_ms`` only (positions opened up to ``warmup_days`` before the window
    can be liquidated inside it). realized: time (ms), price, side, volume (USDT).
    """
    prior = prior or Parameters.prior()
    inside = (realized["time"] >= start_ms) & (realized["time"] < end_ms)
    realized = realized[inside]
    if len(realized) < MIN_LIQUIDATIONS:
        return Fit(prior, len(realized), np.nan, np.nan, fitted=False)
    problem = _problem(
        bars,
        realized,
        start_ms,
        end_ms,
        price_step,
        position_notional,
        brackets,
        prior,
        warmup_days,
    )
    theta0 = _prior_rates(problem, prior)
    search = _Search(problem, theta0)
    prior_score = search.score(prior)[0]
    # half-life and slope trade off along a ridge: search them jointly, then the closing
    best_score, current = -np.inf, prior
    for hours in HALF_LIFE_GRID:
        for slope in SLOPE_GRID:
            candidate = replace(current, half_life_hours=hours, half_life_slope=slope)
            score, _ = search.score(candidate)
            if score > best_score:
                best_score, best = score, candidate
    current = best
    for name, grid in (("closing_share", SHARE_GRID), ("closing_lean", LEAN_GRID)):
        for value in grid:
            candidate = replace(current, **{name: float(value)})
            score, _ = search.score(candidate)
            if score > best_score + 1e-9:
                best_score, current = score, candidate
    for factor in (2**-0.5, 2**0.5):  # between the grid's points
        candidate = replace(current, half_life_hours=current.half_life_hours * factor)
        score, _ = search.score(candidate)
        if score > best_score + 1e-9:
            best_score, current = score, candidate
    score, theta = search.score(current, iterations=400)
    rates = theta.reshape(prior.rates.shape)
    n_events = len(realized)
    # the open interest printed at end_ms closes the last bar: not known before end_ms
    in_window = (bars.open_time >= start_ms) & (bars.open_time + bars.bar_ms < end_ms)
    typical = tuple(float(x) for x in opening_features(bars)[in_window].mean(axis=0))
    return Fit(
        replace(current, rates=rates, typical_features=typical),
        n_events,
        score / n_events,
        prior_score / n_events,
        fitted=True,
    )


def _problem(
    bars, realized, start_ms, end_ms, step, position_notional, brackets, prior, warmup_days
) -> _Problem:
    first = int(np.searchsorted(bars.open_time, start_ms - warmup_days * DAY_MS))
    stop = int(np.searchsorted(bars.open_time, end_ms))
    bars = slice_bars(bars, first, stop)
    n = len(bars)
    window = int(np.searchsorted(bars.open_time, start_ms))
    tiers = np.asarray(prior.tiers)
    share = long_share(bars)
    features = opening_features(bars)
    bar = np.repeat(np.arange(n), 2 * len(tiers))
    side = np.tile(np.repeat([0, 1], len(tiers)), n)
    tier = np.tile(np.arange(len(tiers)), 2 * n)
    level = liquidation_price(
        bars.vwap[bar],
        tiers[tier],
        side == 0,
        np.full(len(bar), position_notional),
        brackets,
        at=bars.open_time[bar],
    )
    consumed = np.full(len(bar), n)
    longs = side == 0
    consumed[longs] = first_crossing(bars.low, bar[longs] + 1, level[longs])
    consumed[~longs] = first_crossing(-bars.high, bar[~longs] + 1, -level[~longs])
    keep = (consumed >= window) & (consumed < n)
    bar, side, tier, level, consumed = (
        bar[keep],
        side[keep],
        tier[keep],
        level[keep],
        consumed[keep],
    )
    side_share = np.where(side == 0, share[bar], 1 - share[bar])
    feature_notional = features[bar] * side_share[:, None]

    t0 = int(bars.open_time[0])
    hour_of = lambda ms: (np.asarray(ms, np.int64) - t0) // HOUR_MS  # noqa: E731
    r_side = (realized["side"].to_numpy() != "long").astype(np.int64)
    r_keys = _cell_key(hour_of(realized["time"]), np.floor(realized["price"] / step), r_side)
    cells, cell_of_event = np.unique(r_keys, return_inverse=True)
    unit = float(realized["volume"].mean())
    y = np.bincount(cell_of_event, realized["volume"].to_numpy(float), len(cells)) / unit
    keys = _cell_key(hour_of(bars.open_time[consumed]), np.floor(level / step), side)
    at = np.clip(np.searchsorted(cells, keys), 0, len(cells) - 1)
    cell = np.where(cells[at] == keys, at, -1)
    return _Problem(bar, consumed - bar, side, tier, feature_notional, cell, y, unit, bars, tiers)


def _cell_key(hour, bucket, side) -> np.ndarray:
    # buckets are prices / step: far below 2^31 for any traded price and step
    return (np.asarray(hour, np.int64) << 33) + (np.asarray(bucket, np.int64) << 1) + side


class _Search:
    """Scores candidate lifetimes and closing: the log-likelihood at the EM's rates."""

    def __init__(self, problem: _Problem, theta0: np.ndarray):
        self.p = problem
        self.theta0 = theta0
        self.theta = theta0.copy()  # warm start for the next candidate
        self.n_tiers = len(problem.tiers)

    def columns(self, params: Parameters) -> tuple[np.ndarray, np.ndarray]:
        """X (cells with a liquidation × rates) and T (each rate's total predicted
        consumption in the window), in mean liquidations per unit rate."""
        p = self.p
        keep_cum = np.cumsum(
            side_keep_logs(p.bars, Closing(params.closing_share, params.closing_lean)), axis=1
        )
        consumed = p.bar + p.age
        log_closed = keep_cum[p.side, consumed - 1] - keep_cum[p.side, p.bar]
        hazard = np.log(2) * p.bars.bar_ms / (params.half_lives() * HOUR_MS)
        lam = hazard[p.tier]
        survive = np.exp(log_closed - lam * p.age) * (p.age <= expiry_age(lam))
        n_f = p.feature_notional.shape[1]
        column = ((p.side * n_f)[:, None] + np.arange(n_f)[None, :]) * self.n_tiers
        column = column + p.tier[:, None]
        weight = p.feature_notional * survive[:, None] / p.unit
        n_cols = 2 * n_f * self.n_tiers
        total = np.bincount(column.ravel(), weight.ravel(), n_cols)
        seen = p.cell >= 0
        flat = (p.cell[seen][:, None] * n_cols + column[seen]).ravel()
        X = np.bincount(flat, weight[seen].ravel(), len(p.y) * n_cols).reshape(len(p.y), n_cols)
        return X, total

    def score(self, params: Parameters, iterations: int = 60) -> tuple[float, np.ndarray]:
        X, total = self.columns(params)
        theta, value = _em(X, total, self.p.y, self.theta0, self.theta, iterations)
        self.theta = theta
        return value, theta


def _em(X, total, y, theta0, start, iterations) -> tuple[np.ndarray, float]:
    """MAP rates under Poisson counts y ~ X·θ and independent Gamma priors with mode θ0, and
    the log-likelihood (without the prior) at them."""
    beta = PRIOR_EVENTS / np.maximum(theta0, 1e-300)
    theta = np.maximum(start, 1e-12 * theta0.max())
    for _ in range(iterations):
        mu = X @ theta
        ratio = np.where(mu > 0, y / np.maximum(mu, 1e-300), 0.0)
        theta = (theta * (X.T @ ratio) + PRIOR_EVENTS) / (total + beta)
    mu = X @ theta
    # candidates are compared by the likelihood alone: the prior steadies the rates the
    # window cannot see, it must not pick the lifetimes
    return theta, float(np.sum(y * np.log(np.maximum(mu, 1e-300))) - theta @ total)


def _prior_rates(problem: _Problem, prior: Parameters) -> np.ndarray:
    """The prior's rates as EM modes: the prior mix, each feature scaled so that alone it
    would predict half of the realized notional under the prior's lifetimes."""
    search = _Search(problem, np.ones(prior.rates.size))
    _, total = search.columns(prior)
    n_f = prior.rates.shape[1]
    mix = log_uniform_mix(prior.tiers)
    theta0 = np.zeros(prior.rates.shape)
    for f in range(n_f):
        per_unit = (total.reshape(prior.rates.shape)[:, f, :] * mix).sum()
        scale = 0.5 * problem.y.sum() / per_unit if per_unit > 0 else 0.0
        theta0[:, f, :] = scale * mix
    theta0 = theta0.ravel()
    return np.where(theta0 > 0, theta0, 1e-12 * max(theta0.max(), 1e-300))


# Walk-forward defaults. Fits use every liquidation since the data began (the most evidence
# there is), up to FIT_WINDOW_DAYS back: a fit stays under a second and slow drift is followed.
FIT_WINDOW_DAYS = 90
# Liquidations in the first days of data are not fitted: positions opened before the data
# began cannot be seen, so early liquidations would be blamed on the wrong parameters.
WARMUP_DAYS = 7


def fit_window(data_start_ms: int, valid_from_ms: int) -> tuple[int, int] | None:
    """[start, end) of the liquidations a calibration valid from ``valid_from_ms`` is fitted
    on, or None when the data is too young."""
    start = max(data_start_ms + WARMUP_DAYS * DAY_MS, valid_from_ms - FIT_WINDOW_DAYS * DAY_MS)
    return (start, valid_from_ms) if start < valid_from_ms else None


def walk_forward(
    bars: Bars,
    realized: pd.DataFrame,
    valid_from: np.ndarray,
    *,
    position_notional: float,
    brackets,
    prior: Parameters | None = None,
    progress=None,
) -> list[tuple[int, int, Fit]]:
    """One fit per time in ``valid_from`` (ms), each on liquidations and bars before it only:
    [(window start, valid_from, Fit)] for the times whose window is not empty.

    progress: anything with ``update(n)`` (a tqdm bar), told of every time done.
    """
    out = []
    if len(bars) == 0:
        return out
    for end in np.asarray(valid_from, dtype=np.int64):
        window = fit_window(int(bars.open_time[0]), int(end))
        if progress is not None:
            progress.update(1)
        if window is None:
            continue
        before = bars.open_time < end
        step = auto_price_step(float(np.median(bars.close[before]))) if before.any() else 1.0
        result = fit(
            bars,
            realized,
            *window,
            step,
            position_notional=position_notional,
            brackets=brackets,
            prior=prior,
            warmup_days=FIT_WINDOW_DAYS + WARMUP_DAYS,
        )
        out.append((window[0], int(end), result))
    return out
