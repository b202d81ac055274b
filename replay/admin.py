"""The replay admin: imports, the fills they brought, replay runs and their executions.

Operators (model-wide view permissions) see everyone's; imports and runs have guardian's
sharing pages. Fills, runs and executions are records of what happened: read-only here,
changed only through the actions, which call the services the API uses.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from accounts.sharing_admin import SharingAdmin
from backtest.admin import ResultsAdminMixin, pretty_json
from central.admin_mixins import ReadOnlyAdminMixin, cancel_and_report
from replay import runs
from replay.models import ImportBatch, ReplayExecution, ReplayRun, TransactionHistory


@admin.register(ImportBatch)
class ImportBatchAdmin(ResultsAdminMixin, SharingAdmin):
    list_display = (
        "id",
        "owner",
        "file_name",
        "format",
        "status",
        "inserted",
        "skipped",
        "rejected",
        "created_at",
    )
    list_filter = ("format", "status", "exchange", "created_at")
    search_fields = ("owner__username", "file_name")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    readonly_fields = ("rejects_listed", "parameters_listed")
    exclude = ("rejects", "parameters")

    @admin.display(description="rejects")
    def rejects_listed(self, batch: ImportBatch) -> SafeString:
        return pretty_json(batch.rejects)

    @admin.display(description="parameters")
    def parameters_listed(self, batch: ImportBatch) -> SafeString:
        return pretty_json(batch.parameters)


@admin.register(TransactionHistory)
class TransactionHistoryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "transaction_time",
        "owner",
        "symbol",
        "side",
        "price",
        "quantity",
        "transaction_type",
        "exchange",
        "transaction_id",
        "is_replayed",
    )
    list_filter = ("side", "transaction_type", "exchange", "is_replayed", "symbol")
    search_fields = ("owner__username", "symbol", "transaction_id")
    list_select_related = ("owner",)
    date_hierarchy = "transaction_time"
    show_full_result_count = False  # millions of fills: no second COUNT(*) per page


class ReplayExecutionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReplayExecution
    fields = (
        "transaction_history",
        "status",
        "candle_time",
        "replay_price",
        "slippage",
        "slippage_pct",
        "value_difference",
    )
    readonly_fields = fields
    raw_id_fields = ("transaction_history",)
    show_change_link = True
    max_num = 0
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReplayExecution]:
        # The first executions only: a run can hold 100,000 (the list page has them all).
        ids = super().get_queryset(request).order_by("id").values("id")[:50]
        return super().get_queryset(request).filter(id__in=ids)


@admin.register(ReplayRun)
class ReplayRunAdmin(ResultsAdminMixin, SharingAdmin):
    list_display = (
        "id",
        "owner",
        "symbol",
        "timeframe",
        "fill_model",
        "status",
        "progress",
        "transaction_count",
        "backtest",
        "created_at",
    )
    list_filter = ("status", "fill_model", "timeframe")
    search_fields = ("owner__username", "symbol", "name")
    list_select_related = ("owner", "backtest")
    date_hierarchy = "created_at"
    readonly_fields = ("summary_listed",)
    exclude = ("summary",)
    inlines = (ReplayExecutionInline,)
    actions = ("cancel",)

    @admin.display(description="summary")
    def summary_listed(self, run: ReplayRun) -> SafeString:
        return pretty_json(run.summary)

    @admin.action(description="Cancel selected replays", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[ReplayRun]) -> None:
        cancel_and_report(self, request, queryset, runs.cancel_replay)


@admin.register(ReplayExecution)
class ReplayExecutionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "replay_run",
        "transaction_history",
        "status",
        "candle_time",
        "replay_price",
        "slippage",
        "slippage_pct",
        "value_difference",
    )
    list_filter = ("status",)
    search_fields = ("replay_run__id", "transaction_history__transaction_id")
    list_select_related = ("transaction_history",)
    raw_id_fields = ("replay_run", "transaction_history", "backtest")
    show_full_result_count = False
