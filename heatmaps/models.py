from __future__ import annotations

import os
import socket
from datetime import datetime

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from models_engine.registry import DEFAULT_WEIGHTS, MEMBERS, MODEL_NAMES


class IngestRun(models.Model):
    """One run of the ingest job: what it was asked, what it loaded, what it rejected."""

    class Status(models.TextChoices):
        RUNNING = "running"
        OK = "ok"
        REJECTED = "rejected", "finished with rejected files"
        FAILED = "failed"
        INTERRUPTED = "interrupted", "interrupted: its process ended without finishing"

    symbol = models.CharField(max_length=20)
    start = models.DateField()
    end = models.DateField()
    source = models.CharField(max_length=500)
    datasets = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    host = models.CharField(max_length=255, blank=True, help_text="where the run's process ran")
    pid = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    files_loaded = models.PositiveIntegerField(default=0)
    files_skipped = models.PositiveIntegerField(default=0)
    files_rejected = models.PositiveIntegerField(default=0)
    rows_loaded = models.PositiveBigIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"ingest {self.symbol} {self.start}..{self.end} ({self.status})"

    @classmethod
    def begin(cls, **fields) -> IngestRun:
        """A new running run owned by this process; runs whose process died are closed first."""
        cls.close_dead()
        return cls.objects.create(host=socket.gethostname(), pid=os.getpid(), **fields)

    @classmethod
    def close_dead(cls) -> int:
        """Mark as interrupted the running runs of this host whose process is gone (killed,
        or the machine restarted): nothing else ever would."""
        dead = [
            run.pk
            for run in cls.objects.filter(status=cls.Status.RUNNING, host=socket.gethostname())
            if run.pid is not None and not _alive(run.pid)
        ]
        return cls.objects.filter(pk__in=dead, status=cls.Status.RUNNING).update(
            status=cls.Status.INTERRUPTED,
            finished_at=timezone.now(),
            error="its process ended without finishing (killed or crashed); run ingest again",
        )

    def finish(self, summary: dict, totals: dict) -> None:
        self.files_loaded = totals["loaded"] + totals["replaced"]
        self.files_skipped = totals["skipped"]
        self.files_rejected = totals["rejected"]
        self.rows_loaded = totals["rows"]
        self.summary = summary
        self.status = self.Status.REJECTED if totals["rejected"] else self.Status.OK
        self.finished_at = timezone.now()
        self.save()

    def fail(self, error: BaseException) -> None:
        self.status, self.finished_at = self.Status.FAILED, timezone.now()
        self.error = f"{type(error).__name__}: {error}"
        self.save()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class WeightConfig(models.Model):
    """Ensemble weights. Exactly one row is active; the first is made from MODEL_WEIGHTS.

    Fixed: these weights throughout. Learned: at each time, each member's precision@10 % at
    1 h over the trailing ``learning_days`` (point in time); these weights where no member
    beat random then."""

    MODELS = tuple(MEMBERS)

    class Mode(models.TextChoices):
        FIXED = "fixed", "fixed weights"
        LEARNED = "learned", "learned from each member's trailing precision"

    name = models.CharField(max_length=100, unique=True)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.FIXED)
    learning_days = models.PositiveSmallIntegerField(
        default=7, help_text="learned mode: the trailing days each member is scored on"
    )
    binance_standard = models.FloatField(default=DEFAULT_WEIGHTS["binance_standard"])
    funding_adjusted = models.FloatField(default=DEFAULT_WEIGHTS["funding_adjusted"])
    trade_clusters = models.FloatField(default=DEFAULT_WEIGHTS["trade_clusters"])
    is_active = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="one_active_weights"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}{' (active)' if self.is_active else ''}"

    def save(self, *args, **kwargs):
        self.full_clean()
        with transaction.atomic():
            if self.is_active:
                # one active row: activating this one retires the other in the same transaction
                WeightConfig.objects.filter(is_active=True).exclude(pk=self.pk).update(
                    is_active=False
                )
            super().save(*args, **kwargs)

    def clean(self) -> None:
        errors = {
            name: "must be between 0 and 1" for name, w in self.weights.items() if not 0 <= w <= 1
        }
        if errors:
            raise ValidationError(errors)
        total = sum(self.weights.values())
        if abs(total - 1) > 1e-6:
            raise ValidationError(f"the weights must sum to 1 (they sum to {total:.4f})")
        if self.mode == self.Mode.LEARNED and not 1 <= self.learning_days <= 90:
            raise ValidationError({"learning_days": "between 1 and 90 days"})

    def validate_constraints(self, exclude=None):
        # save() retires the previously active row, so "one active" is not a form error
        super().validate_constraints(exclude={*(exclude or ()), "is_active"})

    @property
    def weights(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.MODELS}

    @property
    def learning(self) -> int | None:
        """The trailing days learned weights are scored on; None for fixed weights."""
        return self.learning_days if self.mode == self.Mode.LEARNED else None

    @classmethod
    def active(cls) -> WeightConfig:
        """The active weights; made from the MODEL_WEIGHTS setting when there are none."""
        current = cls.objects.filter(is_active=True).first()
        if current is not None:
            return current
        chosen = settings.MODEL_WEIGHTS or DEFAULT_WEIGHTS
        initial = {name: float(chosen.get(name, 0.0)) for name in cls.MODELS}
        name = "initial (MODEL_WEIGHTS)"
        try:
            current, _ = cls.objects.get_or_create(
                name=name, defaults={**initial, "is_active": True}
            )
        except ValidationError:  # another worker made it between the two (full_clean says so)
            current = cls.objects.get(name=name)
        if not current.is_active:
            current.is_active = True
            current.save()
        return current


class BacktestRun(models.Model):
    """A scoring of the models' stored heatmaps against realized liquidations (DESIGN §6)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    symbol = models.CharField(max_length=20, default="BTCUSDT")
    start = models.DateField()
    end = models.DateField()
    model_names = models.CharField(max_length=200, default=",".join(MODEL_NAMES))
    horizons = models.CharField(max_length=50, default="1h,24h,7d")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    results = models.JSONField(default=list, blank=True)
    notes = models.JSONField(
        default=list, blank=True, help_text="what a reader of the figures must know"
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"backtest {self.symbol} {self.start}..{self.end} ({self.status})"

    def clean(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise ValidationError({"start": "start must not be after end"})

    def claim(self) -> bool:
        """Take a queued run for this process; False if another one already has it."""
        taken = BacktestRun.objects.filter(pk=self.pk, status=self.Status.QUEUED).update(
            status=self.Status.RUNNING
        )
        if taken:
            self.status = self.Status.RUNNING
        return taken == 1


class Calibration(models.Model):
    """One walk-forward fit of the models' parameters (models_engine.fitting): in force from
    ``valid_from`` on, fitted on data before it only."""

    symbol = models.CharField(max_length=20)
    fit_start = models.DateTimeField(help_text="first liquidation time the fit counted")
    valid_from = models.DateTimeField(help_text="end of the fit window: data before it only")
    parameters = models.JSONField()
    objective = models.FloatField(
        null=True, blank=True, help_text="Poisson log-likelihood per liquidation, fitted"
    )
    prior_objective = models.FloatField(
        null=True, blank=True, help_text="... with the prior's lifetimes and closing"
    )
    liquidations = models.PositiveIntegerField(help_text="realized liquidations in the window")
    fitted = models.BooleanField(help_text="False: too few liquidations, the prior was kept")
    active = models.BooleanField(default=True, help_text="calculate uses active fits only")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["symbol", "valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["symbol", "valid_from"], name="one_fit_per_time")
        ]

    def __str__(self) -> str:
        return f"calibration {self.symbol} from {self.valid_from:%Y-%m-%d %H:%M}"

    @property
    def half_lives(self) -> dict[str, float]:
        from models_engine.calibration import Parameters

        return Parameters.from_dict(self.parameters).half_life_table()

    @classmethod
    def schedule(cls, symbol: str, before: datetime | None = None):
        """The active fitted calibrations of a symbol as an engine Schedule (those in force
        before ``before`` only, if given)."""
        from models_engine.calibration import Parameters, Schedule

        rows = cls.objects.filter(symbol=symbol, fitted=True, active=True)
        if before is not None:
            rows = rows.filter(valid_from__lte=before)
        rows = list(rows.order_by("valid_from"))
        return Schedule(
            np.array([int(r.valid_from.timestamp() * 1000) for r in rows], dtype=np.int64),
            tuple(Parameters.from_dict(r.parameters) for r in rows),
        )


class MarginBrackets(models.Model):
    """A symbol's maintenance-margin table as Binance's API answered it (`manage.py
    fetch_brackets`), in force from ``effective_from`` (when it was fetched) on. Together with
    the tables shipped in models_engine.bracket_tables they are the dated versions a position
    is valued under, each by the version in force when it was opened."""

    symbol = models.CharField(max_length=20)
    effective_from = models.DateTimeField(help_text="in force from here on (when it was fetched)")
    source = models.CharField(max_length=200, help_text="where the table came from")
    rows = models.JSONField(
        help_text="[{floor, cap, max_leverage, mmr, cum}, ...] notional in USDT, ascending"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["symbol", "effective_from"]
        verbose_name_plural = "margin brackets"
        constraints = [
            models.UniqueConstraint(fields=["symbol", "effective_from"], name="one_table_per_time")
        ]

    def __str__(self) -> str:
        return f"{self.symbol} brackets from {self.effective_from:%Y-%m-%d %H:%M}"

    def table(self):
        from models_engine.brackets import bracket_table

        return bracket_table(
            [(r["floor"], r["cap"], r["max_leverage"], r["mmr"], r["cum"]) for r in self.rows],
            int(self.effective_from.timestamp() * 1000),
        )

    @classmethod
    def history(cls, symbol: str):
        """Every dated version of ``symbol``'s table, shipped and fetched (engine frame);
        ValueError naming the way out when there is none."""
        from models_engine.brackets import UnknownBrackets, brackets_for

        fetched = [row.table() for row in cls.objects.filter(symbol=symbol)]
        try:
            return brackets_for(symbol, fetched)
        except UnknownBrackets as exc:
            raise UnknownBrackets(
                f"{exc}: run `manage.py fetch_brackets --symbol {symbol}` with a Binance API key"
            ) from None


# the feeds' state is a model of this app (the API reads it; the live app writes it)
from .feeds import Feed  # noqa: E402, F401
