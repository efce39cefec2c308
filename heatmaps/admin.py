from django.contrib import admin

from .models import IngestRun


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
