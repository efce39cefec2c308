"""The jobs. Plain functions taking a symbol and dates and returning a small summary dict:
the management commands, the django-q2 schedules and the tests all call these."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import structlog
from django.conf import settings
from django.utils import timezone
from django_q.tasks import async_task
from tqdm import tqdm

from heatmaps import ingest_days, warehouse
from heatmaps.binance import archive, download, signed
from heatmaps.binance.formats import RejectedFile, sniff_header
from heatmaps.binance.stream import STREAM_UNDERCOUNT
from heatmaps.binance.unpack import csv_inside, first_line
from heatmaps.models import BacktestRun, Calibration, IngestRun, MarginBrackets, WeightConfig
from heatmaps.warehouse import checkpoints
from models_engine import fitting, registry
from models_engine.backtest import HORIZONS_MS, evaluate
from models_engine.base import INVALID_BELOW, ModelConfig, ModelResult
from models_engine.incremental import StaleState
from models_engine.market import MarketData, build_bars
from models_engine.paper_trading import paper_trade as paper_trade_engine
from models_engine.paper_trading import signal_history
from models_engine.units import BAR_MS, DAY_MS, HOUR_MS

log = structlog.get_logger("liqmap.ingest")
calc_log = structlog.get_logger("liqmap.calculate")
fit_log = structlog.get_logger("liqmap.calibrate")


def ingest(
    symbol: str,
    start: date,
    end: date,
    *,
    source: Path | None = None,
    datasets: str | None = None,
    progress: bool = False,
    spread: bool = False,
    fetch: list[archive.ArchiveFile] | None = None,
) -> dict:
    """Load every archive file of ``symbol`` between ``start`` and ``end`` found under ``source``.

    A file already loaded with the same sha256 is skipped; a changed one replaces its own rows;
    a bad one is rejected whole. Returns counts per dataset and the rejected files. ``spread``:
    the qcluster's other workers hash and unzip the files, a day each, while this job loads
    them (``ingest_days``); the rows are the same. ``fetch``: files to download into
    ``source`` first, each by whoever loads or stages it (``fetch_and_ingest``).
    """
    source = Path(source or settings.BINANCE_DATA_PATH)
    selections = archive.parse_selections(datasets, need_interval=False)
    run = IngestRun.begin(
        symbol=symbol, start=start, end=end, source=str(source), datasets=datasets or ""
    )
    started = time.monotonic()
    files = archive.find_local_files(source, symbol, start, end, selections)
    to_fetch = {str(f.relpath) for f in fetch or []}
    if fetch:
        files = archive.with_expected(files, fetch)
    downloader, downloads = ingest_days.downloader(), ingest_days.Downloads()
    outcome: dict[str, Counter] = defaultdict(Counter)
    rejected: list[dict] = []
    try:
        with (
            ThreadPoolExecutor(max_workers=1) as hasher,
            warehouse.connect(symbol, all_cores=spread) as con,
            tqdm(
                total=len(files),
                unit="file",
                desc=f"ingest {symbol}",
                disable=not progress,
            ) as bar,
            _shared(spread, symbol, source, files, con, to_fetch) as shared,
        ):
            for item in files:
                path, relpath = source / item.relpath, str(item.relpath)
                try:
                    with shared.claim(relpath) if shared else nullcontext() as staged:
                        if relpath in to_fetch:
                            got = staged and staged.fetched  # a worker downloaded it, or not
                            got = got or ingest_days.fetch_one(downloader, item)
                            if not downloads.arrived(relpath, got):
                                bar.update()
                                continue
                        state, rows, superseded = _ingest_file(con, item, path, hasher, staged)
                except RejectedFile as exc:
                    state, rows, superseded = "rejected", 0, 0
                    rejected.append({"path": exc.path, "line": exc.line, "reason": exc.reason})
                    log.warning(
                        "ingest_file_rejected", path=exc.path, line=exc.line, reason=exc.reason
                    )
                outcome[item.dataset.name][state] += 1
                outcome[item.dataset.name]["rows"] += rows
                if superseded:  # REST or stream rows the archive's file replaced
                    outcome[item.dataset.name]["superseded"] += superseded
                bar.update()
            tables = warehouse.table_counts(con, symbol)
            if any(c["loaded"] or c["replaced"] for c in outcome.values()):
                warehouse.publish(con, symbol)
    except BaseException as exc:
        run.fail(exc)
        raise
    summary = {
        "files": len(files),
        "staged_by_workers": shared.by_workers if shared else 0,
        "datasets": {name: dict(counts) for name, counts in sorted(outcome.items())},
        "rejected": rejected,
        "tables": tables,
        **({"fetch": downloads.summary()} if fetch else {}),
        "seconds": round(time.monotonic() - started, 3),
    }
    totals = sum(outcome.values(), Counter())
    run.finish(summary, totals)
    log.info(
        "ingest_finished",
        symbol=symbol,
        files=len(files),
        rejected=len(rejected),
        rows=totals["rows"],
        duration_seconds=summary["seconds"],
    )
    return summary


@contextmanager
def _shared(spread: bool, symbol: str, source: Path, files, con, to_fetch: set[str]):
    """The workers' share of a spread ingest (None when not spread)."""
    if not spread or not files:
        yield None
        return
    shared = ingest_days.SharedIngest(symbol, source)
    try:
        known = warehouse.known_files(con, [str(f.relpath) for f in files])
        shared.queue(files, known, to_fetch)
        yield shared
    finally:
        shared.close()


def _ingest_file(
    con, item: archive.ArchiveFile, path: Path, hasher, staged: ingest_days.StagedFile | None
) -> tuple[str, int, int]:
    """Load one archive file; ``staged``: what a worker already did of it (hash, unzip)."""
    relpath = str(item.relpath)
    size = path.stat().st_size
    known = warehouse.find_file(con, relpath)
    if staged is not None:
        if staged.rejected is not None:
            raise staged.rejected
        if known is not None and (known.size, known.sha256) == (size, staged.sha256):
            return "skipped", 0, 0
        pending = hasher.submit(lambda: staged.sha256)
    elif known is not None and known.size == size:
        # maybe unchanged: the hash decides before any work is done
        digest = warehouse.sha256_of(path)
        if digest == known.sha256:
            return "skipped", 0, 0
        pending = hasher.submit(lambda: digest)
    else:
        # new or resized: hash on another thread while DuckDB parses (both release the GIL)
        pending = hasher.submit(warehouse.sha256_of, path)

    def verified_sha256() -> str:
        digest = pending.result()
        download.verify_checksum(path, relpath, digest)
        return digest

    log.debug("ingest_file_started", path=relpath, size=size)
    unzipped = staged.csv if staged is not None and staged.csv is not None else None
    with nullcontext(unzipped) if unzipped else csv_inside(path, relpath) as csv_path:
        header = sniff_header(relpath, first_line(csv_path), item.dataset)
        result = warehouse.load_file(
            con,
            dataset=item.dataset,
            csv_path=csv_path,
            header=header,
            relpath=relpath,
            symbol=item.symbol,
            interval=item.interval,
            sha256=verified_sha256,
            size=size,
        )
    return ("replaced" if result.replaced else "loaded"), result.rows, result.superseded


def stage_day(folder: str, symbol: str, source: str, files: list) -> dict:
    """A worker's share of a spread ingest: hash and unzip the files of one day that the
    loader has not reached yet. Does nothing once the ingest has ended."""
    counts = ingest_days.stage_files(Path(folder), symbol, Path(source), files)
    return {"symbol": symbol, "period": files[0][2] if files else None, **counts}


# What the models read; trades, bookDepth and index prices are large and optional.
DEFAULT_FETCH_DATASETS = "metrics,fundingRate,klines:5m,markPriceKlines:1m,liquidationSnapshot"


def files_to_fetch(
    symbol: str, start: date, end: date, datasets: str | None = None
) -> list[archive.ArchiveFile]:
    """The archive files ``fetch`` downloads (default: DEFAULT_FETCH_DATASETS)."""
    selections = archive.parse_selections(datasets or DEFAULT_FETCH_DATASETS, need_interval=True)
    return [f for s in selections for f in archive.expected_files(s, symbol, start, end)]


def fetch(
    symbol: str,
    start: date,
    end: date,
    *,
    datasets: str | None = None,
    progress: bool = False,
) -> dict:
    """Download the archive files of ``symbol`` for ``start``..``end`` into BINANCE_DATA_PATH.

    Files already present and matching their CHECKSUM are not downloaded again; days the
    server does not have (404) are reported as missing without failing the rest.
    """
    items = files_to_fetch(symbol, start, end, datasets)
    downloader = ingest_days.downloader()
    counts: Counter = Counter()
    missing, failed = [], []
    started = time.monotonic()
    for item in tqdm(items, unit="file", desc=f"fetch {symbol}", disable=not progress):
        try:
            counts[downloader.fetch(item)] += 1
        except download.NotPublished:
            counts["missing"] += 1
            missing.append(str(item.relpath))
        except Exception as exc:  # one bad file must not stop the others; each is reported
            counts["failed"] += 1
            failed.append({"path": str(item.relpath), "reason": str(exc)})
            log.warning("fetch_failed", path=str(item.relpath), reason=str(exc))
    summary = {
        "files": len(items),
        "downloaded": counts["downloaded"],
        "present": counts["present"],
        "missing": missing,
        "failed": failed,
        "seconds": round(time.monotonic() - started, 3),
    }
    log.info(
        "fetch_finished",
        symbol=symbol,
        files=len(items),
        downloaded=counts["downloaded"],
        missing=len(missing),
        failed=len(failed),
        duration_seconds=summary["seconds"],
    )
    return summary


def calculate(
    symbol: str,
    model: str = "all",
    start: date | None = None,
    end: date | None = None,
) -> dict:
    """Run the models on the warehouse's data for ``start``..``end`` (all the symbol's data if
    not given) and replace their rows in liquidation_levels, heatmap_cache and
    predicted_liquidations for that window. Every model with fixed weights also leaves the
    members' checkpoint that ``calculate_update`` continues."""
    names = registry.check_names(registry.MODEL_NAMES if model == "all" else [model])
    checkpointing = model == "all" and not WeightConfig.active().learning
    weights = WeightConfig.active()
    brackets = MarginBrackets.history(symbol)
    with _existing(symbol) as con:
        span = _loaded_span(con, symbol)
        window_start = _day_ms(start) if start else span[0]
        window_end = _day_ms(end + timedelta(days=1)) if end else warehouse.bars_end(con, symbol)
        if window_start >= window_end:
            raise ValueError("the window is empty")
        # positions opened before the window still matter inside it: the models always start
        # from the first data and only the window's rows are replaced
        frames = warehouse.load_market(con, symbol, span[0], window_end)
        if weights.learning and registry.ENSEMBLE in names:  # only learned weights read them
            frames["realized"] = warehouse.load_realized(con, symbol, span[0], window_end)
        market = MarketData(**frames, symbol=symbol)
        schedule = Calibration.schedule(symbol, before=_utc(window_end))
        started = time.perf_counter()
        results = _run_models(
            market, names, weights, schedule, window_start, brackets, checkpointing
        )
        compute_seconds = time.perf_counter() - started
        summary = {
            "symbol": symbol,
            "window": [_naive_iso(window_start), _naive_iso(window_end)],
            "compute_seconds": round(compute_seconds, 3),
            "models": {},
        }
        for name in names:
            result = results[name]
            written = _write(con, symbol, result, window_start, window_end)
            summary["models"][name] = written
            log_event = calc_log.warning if not result.is_valid else calc_log.info
            log_event(
                "liquidations_calculated",
                model=name,
                symbol=symbol,
                levels_count=written["levels"],
                avg_confidence=result.confidence,
                duration_seconds=round(compute_seconds, 3),
                is_valid=result.is_valid,
                warnings=list(result.warnings),
            )
        if checkpointing:
            _checkpoint(con, symbol, results, brackets)
        warehouse.publish(con, symbol, since=window_start)
    return summary


def _run_models(
    market: MarketData,
    names: list[str],
    weights: WeightConfig,
    schedule,
    output_from: int,
    brackets,
    checkpointing: bool = False,
) -> dict[str, ModelResult]:
    learning = weights.learning
    if learning and registry.ENSEMBLE in names:
        # learned weights score the members over the days before the window too
        output_from -= learning * DAY_MS
    config = ModelConfig(schedule=schedule, output_from=output_from, brackets=brackets)
    return registry.run_models(
        market,
        names,
        weights.weights,
        learning_days=learning,
        config=config,
        states={} if checkpointing else None,
    )


def calculate_update(symbol: str) -> dict:
    """The one-minute update: continue the models' checkpoint on the bars that arrived since
    and replace today's rows (the checkpoint is at today's 00:00 UTC: its snapshots after it,
    predictions from it, levels now), which is what a full calculate says of them. Without a
    checkpoint that still holds (none yet, a new calibration, a new archive file or bracket
    table) it recomputes in full, today's rows replaced, and checkpoints. Learned ensemble
    weights are left to the hourly calculate."""
    weights = WeightConfig.active()
    if weights.learning:
        # a full run of the whole history every minute would never keep up
        return {
            "symbol": symbol,
            "skipped": "learned ensemble weights score every member's whole history: "
            "the hourly calculate recomputes them",
        }
    brackets = MarginBrackets.history(symbol)
    with _existing(symbol) as con:
        _loaded_span(con, symbol)
        window_end = warehouse.bars_end(con, symbol)
        checkpoint, why = checkpoints.load(symbol, con, brackets)
        if checkpoint is not None and checkpoint.as_of == window_end:
            return {"symbol": symbol, "skipped": "no new bar since the last update"}
        if checkpoint is not None:
            try:
                return _continue_checkpoint(con, symbol, checkpoint, weights, brackets, window_end)
            except StaleState as exc:
                why = str(exc)
    calc_log.info("calculate_full_recompute", symbol=symbol, reason=why)
    summary = calculate(symbol, "all", start=_utc(window_end - BAR_MS).date())
    return {**summary, "full_recompute": why, "alerts_task": async_task("alerts.tasks.evaluate")}


def _continue_checkpoint(con, symbol, checkpoint, weights, brackets, window_end: int) -> dict:
    start = checkpoint.end
    # a day before the checkpoint: the funding and account ratios in force at it
    market = MarketData(
        **warehouse.load_market(con, symbol, start - DAY_MS, window_end), symbol=symbol
    )
    schedule = Calibration.schedule(symbol, before=_utc(window_end))
    config = ModelConfig(schedule=schedule, brackets=brackets)
    started = time.perf_counter()
    results = registry.run_models(
        market, registry.MODEL_NAMES, weights.weights, config=config, states=checkpoint.states
    )
    compute_seconds = time.perf_counter() - started
    summary = {
        "symbol": symbol,
        "window": [_naive_iso(start), _naive_iso(window_end)],
        "compute_seconds": round(compute_seconds, 3),
        "models": {
            name: _write(con, symbol, result, start, window_end, snapshots_from=start + 1)
            for name, result in results.items()
        },
    }
    _checkpoint(con, symbol, results, brackets)
    warehouse.publish(con, symbol, since=start)
    calc_log.info(
        "liquidations_updated", symbol=symbol, since=start, duration_seconds=compute_seconds
    )
    # the new snapshot may cross an alert's condition: evaluate now, not at the next minute
    summary["alerts_task"] = async_task("alerts.tasks.evaluate")
    return summary


def _existing(symbol: str):
    """The symbol's warehouse to write, if it has one (a typo must not leave an empty file);
    a folder that cannot hold it is for ``connect`` to name."""
    path = warehouse.path_of(symbol)
    if not path.exists() and (path.parent.is_dir() or not path.parent.exists()):
        _no_candles(symbol)
    return warehouse.connect(symbol)


def _loaded_span(con, symbol: str) -> tuple[int, int]:
    """First and last candle of ``symbol``; ValueError naming the loaded symbols if none."""
    span = warehouse.data_range(con, symbol)
    if span is None:
        _no_candles(symbol)
    return span


def _no_candles(symbol: str):
    loaded = ", ".join(s for s in warehouse.stored_symbols() if s != symbol) or "none"
    raise ValueError(
        f"no candles for {symbol} in the warehouse (loaded: {loaded}): run ingest first"
    )


def _day_ms(day: date) -> int:
    """Epoch ms of a day's 00:00 UTC."""
    return (day - date(1970, 1, 1)).days * DAY_MS


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _naive_iso(ms: int) -> str:
    return _utc(ms).replace(tzinfo=None).isoformat()


def _checkpoint(con, symbol: str, results: dict[str, ModelResult], brackets) -> None:
    states = {name: results[name].state for name in registry.MEMBERS}
    if any(state is None for state in states.values()):  # a model without its inputs
        checkpoints.discard(symbol)
        return
    as_of = results[registry.ENSEMBLE].as_of
    checkpoints.save(symbol, states, con, brackets, as_of=as_of)


def _write(
    con, symbol: str, result: ModelResult, lo: int, hi: int, snapshots_from: int | None = None
) -> dict:
    first = lo if snapshots_from is None else snapshots_from
    heatmap = result.heatmap[
        (result.heatmap["time_bucket"] >= first) & (result.heatmap["time_bucket"] <= hi)
    ]
    predicted = result.predicted[
        (result.predicted["time"] >= lo) & (result.predicted["time"] <= hi)
    ]
    tiers = result.tier_heatmap
    tiers = tiers[(tiers["time_bucket"] >= first) & (tiers["time_bucket"] <= hi)]
    levels = result.levels.assign(timestamp=result.as_of, is_valid=result.is_valid)
    if not lo <= result.as_of <= hi:
        levels = levels.iloc[0:0]
    warehouse.replace_model_output(
        con,
        symbol=symbol,
        model=result.model,
        window_start_ms=lo,
        window_end_ms=hi,
        levels=levels,
        heatmap=heatmap,
        tier_heatmap=tiers,
        predicted=predicted,
        snapshots_from_ms=snapshots_from,
        run={
            "as_of": result.as_of or None,
            "price_step": result.price_step,
            "tier_price_step": result.tier_price_step or result.price_step,
            # a model with no bars has no price: NULL, never NaN (not valid JSON)
            "current_price": result.current_price if np.isfinite(result.current_price) else None,
            "confidence": result.confidence,
            "is_valid": result.is_valid,
            "warnings": list(result.warnings),
            "weights": None if result.weights is None else json.dumps(result.weights),
        },
    )
    if result.snapshot_quality is not None:  # the confidence of answers as of a time
        quality = result.snapshot_quality
        warehouse.replace_snapshot_quality(
            con,
            symbol=symbol,
            model=result.model,
            window_start_ms=first,
            window_end_ms=hi,
            quality=quality[quality["time_bucket"].between(first, hi)].assign(
                is_valid=lambda q: q["confidence"] >= INVALID_BELOW
            ),
        )
    return {
        "levels": len(levels),
        "heatmap_cells": len(heatmap),
        "predicted": len(predicted),
        "confidence": result.confidence,
        "is_valid": result.is_valid,
        "warnings": list(result.warnings),
    }


def calibrate(
    symbol: str,
    start: date | None = None,
    end: date | None = None,
    *,
    force: bool = False,
    progress: bool = False,
) -> dict:
    """Walk-forward calibrations of ``symbol``: one valid from each day's 00:00 UTC in
    ``start``..``end`` (default: every day the data allows), each fitted on the liquidations
    and bars before that moment only (models_engine.fitting). A day already calibrated is kept
    unless ``force``. Returns what was fitted, kept, and left to the prior."""
    brackets = MarginBrackets.history(symbol)
    with _existing(symbol) as con:
        span = _loaded_span(con, symbol)
        first_day = _utc(span[0]).date() + timedelta(days=1)
        last_day = _utc(span[1] + BAR_MS).date()
        start, end = start or first_day, end or last_day
        if start > end:
            raise ValueError(f"the window {start}..{end} is empty: start is after end")
        days = [d for d in _days(start, end) if first_day <= d <= last_day]
        if not days:
            raise ValueError(
                f"the window {start}..{end} is empty: {symbol}'s data covers "
                f"{_utc(span[0]):%Y-%m-%d}..{_utc(span[1]):%Y-%m-%d}"
            )
        known = set(
            Calibration.objects.filter(symbol=symbol, valid_from__date__in=days).values_list(
                "valid_from__date", flat=True
            )
        )
        todo = [d for d in days if force or d not in known]
        horizon = _day_ms(max(todo)) if todo else span[0]
        frames = warehouse.load_market(con, symbol, span[0], horizon)
        realized = warehouse.load_realized(con, symbol, span[0], horizon)
    summary = {"symbol": symbol, "fitted": 0, "prior": 0, "kept": len(days) - len(todo)}
    if not todo:
        return summary
    market = MarketData(**frames, symbol=symbol)
    bars = build_bars(market)
    config = ModelConfig(brackets=brackets).resolved(market)
    moments = np.array([_day_ms(d) for d in todo])
    fits = fitting.walk_forward(
        bars,
        realized,
        moments,
        position_notional=config.position_notional,
        brackets=config.brackets,
        progress=tqdm(total=len(moments), desc=f"calibrate {symbol}", disable=not progress),
    )
    for window_start, valid_from, result in fits:
        Calibration.objects.update_or_create(
            symbol=symbol,
            valid_from=_utc(valid_from),
            defaults={
                "fit_start": _utc(window_start),
                "parameters": result.parameters.to_dict(),
                "objective": _finite_or_none(result.log_likelihood),
                "prior_objective": _finite_or_none(result.prior_log_likelihood),
                "liquidations": result.liquidations,
                "fitted": result.fitted,
            },
        )
        summary["fitted" if result.fitted else "prior"] += 1
    summary["too_young"] = len(todo) - len(fits)
    if fits:
        summary["latest"] = _describe(fits[-1][2])
    fit_log.info("calibrated", **{k: v for k, v in summary.items() if k != "latest"})
    return summary


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _describe(result: fitting.Fit) -> dict:
    """What a trader or researcher reads of a fit."""
    p = result.parameters
    return {
        "liquidations": result.liquidations,
        "fitted": result.fitted,
        "half_life_hours": p.half_life_table(),
        "leverage_mix": p.leverage_mix(p.typical_features),
        "closing_share": p.closing_share,
        "closing_lean": p.closing_lean,
    }


def fetch_brackets(symbol: str) -> dict:
    """Ask Binance (signed GET /fapi/v1/leverageBracket) for ``symbol``'s maintenance-margin
    table and store it as a new version in force from now, unless it is the one already in
    force. Needs BINANCE_API_KEY and BINANCE_API_SECRET."""
    key, secret = settings.BINANCE_API_KEY, settings.BINANCE_API_SECRET
    if not key or not secret:
        raise ValueError(
            "fetch_brackets needs a Binance API key: set BINANCE_API_KEY and BINANCE_API_SECRET "
            "(read-only permission is enough) in the environment or .env"
        )
    rows = signed.leverage_brackets(symbol, settings.BINANCE_FAPI_URL, key, secret)
    fetched = MarginBrackets(symbol=symbol, effective_from=timezone.now(), rows=rows)
    summary = {"symbol": symbol, "brackets": len(rows), "first": rows[0]}
    try:
        history = MarginBrackets.history(symbol)
    except ValueError:
        history = None
    if history is not None and _same_table(history, fetched.table()):
        summary.update(stored=False, in_force_from=_naive_iso(int(history["effective_from"].max())))
        return summary
    fetched.source = f"GET {settings.BINANCE_FAPI_URL.rstrip('/')}{signed.LEVERAGE_BRACKET}"
    fetched.full_clean()
    fetched.save()
    log.info("brackets_fetched", symbol=symbol, brackets=len(rows))
    summary.update(
        stored=True, in_force_from=_naive_iso(int(fetched.effective_from.timestamp() * 1000))
    )
    return summary


def _same_table(history, table) -> bool:
    latest = history[history["effective_from"] == history["effective_from"].max()]
    columns = ["floor", "cap", "max_leverage", "mmr", "cum"]
    return len(latest) == len(table) and np.allclose(latest[columns], table[columns])


# --- scheduled jobs (django-q2) ---------------------------------------------------------------
# The archive publishes a day's files the next morning (UTC): the daily job asks for the last
# few days, and fetch/ingest skip whatever they already have.
RECENT_DAYS = 3


class JobFailed(Exception):
    """A scheduled job that did not do its work: django-q2 records it as a failed task, with
    this message, in the admin's "Failed tasks"."""


def fetch_and_ingest(
    symbol: str, start: date | None = None, end: date | None = None, spread: bool = False
) -> dict:
    """Download and load the recent days (default: the last RECENT_DAYS full days). Fails when
    a download failed (after loading what did arrive): a day the archive has not published yet
    is "missing", not a failure. ``spread``: the qcluster's workers download, hash and unzip
    the days while this job loads them (a backfill of many days)."""
    end = end or date.today() - timedelta(days=1)
    start = start or end - timedelta(days=RECENT_DAYS - 1)
    if spread:
        return _fetch_and_ingest_spread(symbol, start, end)
    fetched = fetch(symbol, start, end)
    failed = fetched["failed"]
    if failed and len(failed) == fetched["files"]:
        raise JobFailed(f"every download failed ({len(failed)}): {_first_failure(failed)}")
    loaded = ingest(symbol, start, end)
    if failed:
        raise JobFailed(
            f"{len(failed)} of {fetched['files']} downloads failed, the rest were loaded: "
            f"{_first_failure(failed)}"
        )
    return {
        "fetch": fetched,
        "ingest": {k: loaded[k] for k in ("files", "datasets", "rejected", "seconds")},
    }


def _fetch_and_ingest_spread(symbol: str, start: date, end: date) -> dict:
    items = files_to_fetch(symbol, start, end)
    loaded = ingest(symbol, start, end, spread=True, fetch=items)
    fetched = loaded.pop("fetch")
    failed = fetched["failed"]
    if failed and len(failed) == len(items):
        raise JobFailed(f"every download failed ({len(failed)}): {_first_failure(failed)}")
    if failed:
        raise JobFailed(
            f"{len(failed)} of {len(items)} downloads failed, the rest were loaded: "
            f"{_first_failure(failed)}"
        )
    return {
        "fetch": {"files": len(items), **fetched},
        "ingest": {
            k: loaded[k] for k in ("files", "staged_by_workers", "datasets", "rejected", "seconds")
        },
    }


def _first_failure(failed: list[dict]) -> str:
    return f"{failed[0]['path']}: {failed[0]['reason']}" + (
        " (and more)" if len(failed) > 1 else ""
    )


def calibrate_recent(symbol: str) -> dict:
    """Fit the days not calibrated yet (the daily job): each on data before it only."""
    if not warehouse.path_of(symbol).exists():
        return {"symbol": symbol, "skipped": "no data"}
    with warehouse.connect(symbol) as con:
        if warehouse.data_range(con, symbol) is None:
            return {"symbol": symbol, "skipped": "no data"}
    return calibrate(symbol)


def calculate_recent(symbol: str, days: int = 2) -> dict:
    """Recalculate the last ``days`` days of the symbol's data (the hourly job)."""
    if not warehouse.path_of(symbol).exists():
        return {"symbol": symbol, "skipped": "no data"}
    with warehouse.connect(symbol) as con:
        span = warehouse.data_range(con, symbol)
    if span is None:
        return {"symbol": symbol, "skipped": "no data"}
    start = _utc(span[1]).date() - timedelta(days=days - 1)
    summary = calculate(symbol, "all", start=start)
    # the new snapshot may cross an alert's condition: evaluate now, not at the next minute
    summary["alerts_task"] = async_task("alerts.tasks.evaluate")
    return summary


# --- backtests --------------------------------------------------------------------------------


def backtest(run_id: int) -> dict:
    """Score the stored heatmaps of a BacktestRun's models against realized liquidations, per
    horizon and side; store the figures on the run. A run is scored by one process only."""
    run = BacktestRun.objects.get(pk=run_id)
    if not run.claim():
        return {"run": run_id, "skipped": f"already {run.status}"}
    try:
        run.results, run.notes = _score(run)
        run.status = BacktestRun.Status.DONE
    except Exception as exc:
        run.status, run.error = BacktestRun.Status.FAILED, f"{type(exc).__name__}: {exc}"
        log.exception("backtest_failed", run=run_id)
    run.finished_at = timezone.now()
    run.save()
    return {"run": run_id, "status": run.status, "rows": len(run.results)}


def _score(run: BacktestRun) -> tuple[list[dict], list[str]]:
    """The figures per model, horizon and side, and what their reader must know."""
    horizons = [h.strip() for h in run.horizons.split(",") if h.strip()]
    unknown = [h for h in horizons if h not in HORIZONS_MS]
    if unknown:
        raise ValueError(f"unknown horizon(s) {unknown}; known: {', '.join(HORIZONS_MS)}")
    start, end = _day_ms(run.start), _day_ms(run.end + timedelta(days=1))
    longest = max(HORIZONS_MS[h] for h in horizons)
    results = []
    with warehouse.snapshot_connection() as con:  # what the web serves, read-only
        realized = warehouse.load_realized(con, run.symbol, start, end + longest)
        sources = warehouse.source_counts(
            con, "liquidation_history", run.symbol, start, end + longest
        )
        path = warehouse.load_bars(con, run.symbol, start, end + longest)
        for model in [m.strip() for m in run.model_names.split(",") if m.strip()]:
            heatmap, step = warehouse.heatmap_rows(con, run.symbol, model, start, end)
            if heatmap.empty or path is None:
                raise ValueError(f"{model} has no heatmap for {run.symbol} in that period")
            times = np.unique(heatmap["time_bucket"].to_numpy(np.int64))
            for horizon in horizons:
                every = 1 if HORIZONS_MS[horizon] <= HOUR_MS else 24  # hourly, else daily
                for side in (None, "long", "short"):
                    figures = evaluate(
                        heatmap,
                        realized,
                        path,
                        step,
                        HORIZONS_MS[horizon],
                        eval_times=times[::every],
                        side=side,
                    )
                    results.append(
                        {
                            "model": model,
                            "horizon": horizon,
                            "side": side or "both",
                            **_finite(figures),
                        }
                    )
    return results, _realized_notes(sources)


def _realized_notes(sources: dict[str, int]) -> list[str]:
    streamed = sources.get("stream", 0)
    if not streamed:
        return []
    return [
        f"{streamed:,} of {sum(sources.values()):,} realized liquidations in this window come "
        f"from the forceOrder stream, not the archive. {STREAM_UNDERCOUNT} The figures rest on "
        "what was recorded."
    ]


def _finite(figures: dict) -> dict:
    """Plain rounded numbers for JSON: NaN (nothing to score) as None, numpy ints as ints."""
    out = {}
    for key, value in figures.items():
        value = value.item() if isinstance(value, np.generic) else value
        if isinstance(value, float):
            value = round(value, 4) if np.isfinite(value) else None
        out[key] = value
    return out


def paper_trade(symbol: str, start: date, end: date, model: str = "ensemble") -> dict:
    """Trend following with and without the signal filter over ``start``..``end``, on the
    stored heatmaps and realized liquidations (DESIGN §6)."""
    lo, hi = _day_ms(start), _day_ms(end + timedelta(days=1))
    with warehouse.snapshot_connection() as con:  # what the web serves, read-only
        heatmap, step = warehouse.heatmap_rows(con, symbol, model, lo, hi)
        flows = warehouse.hourly_flows(con, symbol, model, lo - DAY_MS, hi)
        # each hour's own confidence: the latest run's would look ahead
        confidence = warehouse.snapshot_confidence(con, symbol, model, lo, hi)
    if heatmap.empty or flows.empty:
        raise ValueError(f"no {model} heatmap for {symbol} in {start}..{end}: calculate first")
    flows = flows.set_index("time")
    actions = signal_history(
        heatmap.groupby(["time_bucket", "price_bucket"], as_index=False)["volume"].sum(),
        flows["close"],
        flows["realized"],
        flows["predicted"],
        confidence,
        step,
    )
    closes = flows["close"][(flows.index >= lo) & (flows.index < hi)]
    result = paper_trade_engine(closes, actions)
    result["signals"] = {k: int(v) for k, v in actions.value_counts().items()}
    return {"symbol": symbol, "model": model, "start": str(start), "end": str(end), **result}
