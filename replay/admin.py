"""The replay admin: imports, the fills they brought, replay runs and their executions.

Operators (model-wide view permissions) see everyone's; imports and runs have guardian's
sharing pages. Fills, runs and executions are records of what happened: read-only here,
changed only through the actions, which call the services the API uses.
"""

from __future__ import annotations

from itertools import groupby

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from accounts.sharing_admin import SharingAdmin
from backtest.admin import ResultsAdminMixin, pretty_json
from backtest.services import InvalidBacktestInput, NotAllowed
from central.admin_mixins import (
    ReadOnlyAdminMixin,
    TracebackAdminMixin,
    cancel_and_report,
    purge_and_report,
)
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
    actions = ("replay_selected",)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        # Replays are started for the fills' owners: operators manage every replay run.
        return request.user.has_perm("replay.change_replayrun")

    @admin.action(
        description="Replay the selected transactions (one replay per owner and symbol)",
        permissions=["replay"],
    )
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[TransactionHistory]) -> None:
        """Queue, through the service the API uses, one replay per owner and symbol of
        exactly the selected fills (1m candles, fill at the candle close). Each run
        belongs to the fills' owner, who sees it among their replays; the change log
        names the operator who asked."""
        rows = queryset.order_by("owner_id", "symbol", "pk").values_list("owner_id", "symbol", "pk")
        owner_ids = queryset.order_by().values_list("owner_id", flat=True).distinct()
        owners = get_user_model().objects.in_bulk(list(owner_ids))
        queued, refused = [], []
        for (owner_id, symbol), group in groupby(rows, lambda row: row[:2]):
            owner, ids = owners[owner_id], [row[2] for row in group]
            request_ = runs.ReplayRequest(
                symbol=symbol,
                transaction_ids=ids,
                name=f"{len(ids)} transaction(s) selected by {request.user.get_username()}",
            )
            try:
                run = runs.submit_replay(owner, request_, http_request=request)
            except (NotAllowed, InvalidBacktestInput) as exc:
                refused.append(f"{owner} {symbol}: {exc}")
            else:
                queued.append(f"#{run.pk} ({owner} {symbol}, {len(ids)} fill(s))")
        if queued:
            self.message_user(
                request, f"Queued {len(queued)} replay(s): {', '.join(queued)}.", messages.SUCCESS
            )
        for problem in refused:
            self.message_user(request, f"Not replayed, {problem}", messages.ERROR)


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
class ReplayRunAdmin(TracebackAdminMixin, ResultsAdminMixin, SharingAdmin):
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
    readonly_fields = ("summary_listed", "traceback_listed")
    exclude = ("summary",)
    inlines = (ReplayExecutionInline,)
    actions = ("cancel", "purge")

    @admin.display(description="summary")
    def summary_listed(self, run: ReplayRun) -> SafeString:
        return pretty_json(run.summary)

    @admin.action(description="Cancel selected replays", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[ReplayRun]) -> None:
        cancel_and_report(self, request, queryset, runs.cancel_replay)

    @admin.action(
        description="Purge those finished over RUN_RETENTION_DAYS ago, with their executions",
        permissions=["purge"],
    )
    def purge(self, request: HttpRequest, queryset: QuerySet[ReplayRun]) -> None:
        purge_and_report(self, request, "replays", queryset)


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
