from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django_q.tasks import async_task

from .feeds import Feed
from .models import BacktestRun, Calibration, IngestRun, MarginBrackets, WeightConfig


@admin.register(IngestRun)
class IngestRunAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "symbol",
        "start",
        "end",
        "status",
        "files_loaded",
        "files_skipped",
        "files_rejected",
        "rows_loaded",
    )
    list_filter = ("status", "symbol")
    readonly_fields = [f.name for f in IngestRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(WeightConfig)
class WeightConfigAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "is_active",
        "mode",
        "learning_days",
        *WeightConfig.MODELS,
        "updated_at",
    )
    list_editable = ("is_active",)
    actions = ["activate"]

    @admin.action(description="Make the selected weights the active ones")
    def activate(self, request, queryset):
        chosen = queryset.first()
        if chosen is not None:
            chosen.is_active = True
            chosen.save()


@admin.register(BacktestRun)
class BacktestRunAdmin(admin.ModelAdmin):
    list_display = ("created_at", "symbol", "start", "end", "status", "headline")
    list_filter = ("status", "symbol")
    readonly_fields = ("status", "created_at", "finished_at", "error", "figures")
    exclude = ("results",)
    actions = ["run_again"]

    @admin.display(description="ensemble p@10 % at 24 h")
    def headline(self, run: BacktestRun) -> str:
        row = next(
            (
                r
                for r in run.results
                if r["model"] == "ensemble" and r["horizon"] == "24h" and r["side"] == "both"
            ),
            None,
        )
        if not row or row["precision_at_10"] is None:
            return "—"
        return f"{row['precision_at_10']:.3f} (lift {row['lift']:.2f})"

    @admin.display(description="figures")
    def figures(self, run: BacktestRun) -> str:
        columns = (
            "model",
            "horizon",
            "side",
            "precision_at_10",
            "p10_low",
            "p10_high",
            "lift",
            "recall_1pct",
            "spearman",
            "evaluations",
        )
        head = format_html_join("", "<th>{}</th>", ((c,) for c in columns))
        rows = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (format_html_join("", "<td>{}</td>", ((r.get(c),) for c in columns)),)
                for r in run.results
            ),
        )
        return format_html("<table><tr>{}</tr>{}</table>", head, rows)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            self._enqueue(request, [obj.pk])

    @admin.action(description="Score the selected runs again")
    def run_again(self, request, queryset):
        ids = list(queryset.exclude(status=BacktestRun.Status.RUNNING).values_list("pk", flat=True))
        BacktestRun.objects.filter(pk__in=ids).update(
            status=BacktestRun.Status.QUEUED, error="", finished_at=None
        )
        self._enqueue(request, ids)

    def _enqueue(self, request, ids: list[int]) -> None:
        """Scoring waits for the warehouse and may take minutes: it runs on the qcluster
        worker, never in the request."""
        for pk in ids:
            async_task("heatmaps.tasks.backtest", pk, task_name=f"backtest run {pk}")
        self.message_user(
            request,
            f"{len(ids)} run(s) queued: the qcluster worker scores them "
            "(python manage.py qcluster); reload to see the figures",
            messages.INFO,
        )


@admin.register(Calibration)
class CalibrationAdmin(admin.ModelAdmin):
    """Fits are made by ``calibrate`` (and its daily job); here they are read and switched off."""

    list_display = (
        "valid_from",
        "symbol",
        "fit_start",
        "liquidations",
        "fitted",
        "active",
        "half_life_10x",
        "objective",
    )
    list_filter = ("symbol", "fitted", "active")
    list_editable = ("active",)
    readonly_fields = (
        "symbol",
        "fit_start",
        "valid_from",
        "liquidations",
        "fitted",
        "objective",
        "prior_objective",
        "created_at",
        "fitted_parameters",
    )
    exclude = ("parameters",)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="half-life at 10x (h)")
    def half_life_10x(self, fit: Calibration) -> str:
        return f"{fit.half_lives.get('10x', float('nan')):g}"

    @admin.display(description="parameters")
    def fitted_parameters(self, fit: Calibration) -> str:
        from models_engine.calibration import Parameters

        params = Parameters.from_dict(fit.parameters)
        mix = params.leverage_mix()
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (label, hours, f"{100 * mix['long'][t]:.1f} %", f"{100 * mix['short'][t]:.1f} %")
                for (label, hours), t in zip(fit.half_lives.items(), params.tiers, strict=True)
            ),
        )
        return format_html(
            "<table><tr><th>tier</th><th>half-life (h)</th><th>long mix</th>"
            "<th>short mix</th></tr>{}</table><p>closing follows {} % of open-interest falls, "
            "lean to taker flow {}</p>",
            rows,
            round(100 * params.closing_share),
            params.closing_lean,
        )


@admin.register(MarginBrackets)
class MarginBracketsAdmin(admin.ModelAdmin):
    """Fetched tables (`manage.py fetch_brackets`); the shipped ones live in
    models_engine/bracket_tables.py."""

    list_display = ("symbol", "effective_from", "source", "created_at")
    list_filter = ("symbol",)
    readonly_fields = [f.name for f in MarginBrackets._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Feed)
class FeedAdmin(admin.ModelAdmin):
    list_display = (
        "symbol",
        "stream",
        "source",
        "status",
        "last_row_at",
        "heartbeat_at",
        "stale",
        "rows",
        "host",
        "pid",
    )
    list_filter = ("source", "status", "symbol")
    readonly_fields = [f.name for f in Feed._meta.fields]

    @admin.display(boolean=True, description="stale")
    def stale(self, feed: Feed) -> bool:
        return feed.is_stale()

    def has_add_permission(self, request) -> bool:
        return False
