from django.db import models


class IngestRun(models.Model):
    """One run of the ingest job: what it was asked, what it loaded, what it rejected."""

    class Status(models.TextChoices):
        RUNNING = "running"
        OK = "ok"
        REJECTED = "rejected", "finished with rejected files"
        FAILED = "failed"

    symbol = models.CharField(max_length=20)
    start = models.DateField()
    end = models.DateField()
    source = models.CharField(max_length=500)
    datasets = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    files_loaded = models.PositiveIntegerField(default=0)
    files_skipped = models.PositiveIntegerField(default=0)
    files_rejected = models.PositiveIntegerField(default=0)
    rows_loaded = models.PositiveBigIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"ingest {self.symbol} {self.start}..{self.end} ({self.status})"
