"""Whether the pages show the bundled sample (synthetic positions on real candles), so that a
trader never reads it as real positioning.

Derived from the data, not from a flag someone must remember: the sample is served when a
finished ingest of a served symbol read its files from ``settings.SAMPLE_DATA_PATH`` (every
``IngestRun`` records its ``source``). Ingested data stays in the warehouse, so one such run is
enough. ``SAMPLE_DATA=true/false`` in the environment overrides this (e.g. a warehouse rebuilt
from real files while the old ingest history is kept). Answered once per published snapshot:
new data always comes with a new snapshot.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from heatmaps import warehouse
from heatmaps.models import IngestRun

_answers: dict[str, bool] = {}


def is_sample() -> bool:
    if settings.SAMPLE_DATA is not None:
        return settings.SAMPLE_DATA
    try:
        snapshot, symbols = warehouse.snapshot_id(), warehouse.served_symbols(retry=False)
    except warehouse.WarehouseUnavailable:
        return False
    answer = _answers.get(snapshot)
    if answer is None:
        answer = any(_from_sample(run.source) for run in _finished_ingests(symbols))
        _answers.clear()
        _answers[snapshot] = answer
    return answer


def _finished_ingests(symbols: list[str]):
    return IngestRun.objects.filter(
        symbol__in=symbols, status__in=[IngestRun.Status.OK, IngestRun.Status.REJECTED]
    ).only("source")


def _from_sample(source: str) -> bool:
    # `make demo` passes a path relative to the project folder
    path = Path(source)
    path = path if path.is_absolute() else settings.BASE_DIR / path
    return path.resolve().is_relative_to(Path(settings.SAMPLE_DATA_PATH).resolve())


def context(request) -> dict:
    """Template context: ``sample_data``, evaluated only where a template asks for it."""
    return {"sample_data": is_sample}
