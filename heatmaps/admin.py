from django.contrib import admin

from .models import IngestRun, WeightConfig


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
    list_display = ("name", "is_active", *WeightConfig.MODELS, "updated_at")
    list_editable = ("is_active",)
    actions = ["activate"]

    @admin.action(description="Make the selected weights the active ones")
    def activate(self, request, queryset):
        chosen = queryset.first()
        if chosen is not None:
            chosen.is_active = True
            chosen.save()
