"""The jobs. Plain functions taking a symbol and dates and returning a small summary dict:
the management commands, the django-q2 schedules (which name them ``heatmaps.tasks.<job>``)
and the tests all call these. One module per kind of job; every job is named here."""

from .archive_jobs import (
    DEFAULT_FETCH_DATASETS,
    RECENT_DAYS,
    JobFailed,
    fetch,
    fetch_and_ingest,
    files_to_fetch,
    ingest,
    stage_day,
)
from .calibration_jobs import calibrate, calibrate_recent, fetch_brackets
from .model_jobs import calculate, calculate_recent, calculate_update
from .scoring_jobs import backtest, paper_trade

__all__ = [
    "DEFAULT_FETCH_DATASETS",
    "RECENT_DAYS",
    "JobFailed",
    "backtest",
    "calculate",
    "calculate_recent",
    "calculate_update",
    "calibrate",
    "calibrate_recent",
    "fetch",
    "fetch_and_ingest",
    "fetch_brackets",
    "files_to_fetch",
    "ingest",
    "paper_trade",
    "stage_day",
]
