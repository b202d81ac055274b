from datetime import datetime

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from central.admin_mixins import ReadOnlyAdminMixin
from marketdata.models import CandleRecord, CandleSeries, Symbol, SyncRun, WatchedSymbol
from marketdata.selectors import can_sync_market_data
from marketdata.services import InvalidParameter, request_sync
from marketdata.sync import watched_sync_start


@admin.register(Symbol)
class SymbolAdmin(admin.ModelAdmin):
    list_display = ("name", "base_asset", "quote_asset", "is_active", "created_at")
    list_filter = ("is_active", "quote_asset")
    search_fields = ("name", "base_asset", "quote_asset")


@admin.register(CandleSeries)
class CandleSeriesAdmin(admin.ModelAdmin):
    list_display = (
        "symbol",
        "timeframe",
        "source",
        "first_timestamp",
        "last_timestamp",
        "candle_count",
        "updated_at",
    )
    list_filter = ("timeframe", "source")
    search_fields = ("symbol__name",)
    readonly_fields = ("first_timestamp", "last_timestamp", "candle_count", "updated_at")


@admin.register(CandleRecord)
class CandleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: candles change only through imports and syncs, which keep series exact.

    A list without detail pages: looking one candle up by the view's derived key would
    scan the table, and the list already shows every field.
    """

    list_display = (
        "series",
        "timestamp",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "trade_count",
    )
    list_filter = ("series__timeframe", "series__source", "series__symbol")
    list_select_related = ("series__symbol",)
    list_display_links = None
    show_full_result_count = False
    list_per_page = 200
    actions = None


def _may_sync(request: HttpRequest) -> bool:
    return can_sync_market_data(request.user)


@admin.register(WatchedSymbol)
class WatchedSymbolAdmin(admin.ModelAdmin):
    """Operators choose here which series the beat schedule keeps in sync."""

    list_display = ("symbol", "timeframe", "history_start", "is_enabled", "last_synced_at")
    list_filter = ("is_enabled", "timeframe")
    search_fields = ("symbol__name",)
    readonly_fields = ("last_synced_at", "created_at")
    actions = ("sync_now",)

    # Scheduling syncs is what the 'sync market data' permission grants (operators).
    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _may_sync(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _may_sync(request) or super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return _may_sync(request) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return _may_sync(request) or super().has_delete_permission(request, obj)

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return _may_sync(request)

    @admin.action(description="Sync now", permissions=["sync"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[WatchedSymbol]) -> None:
        _queue_syncs(
            self,
            request,
            [
                (
                    str(watched),
                    watched.symbol.name,
                    watched.timeframe,
                    watched_sync_start(watched),
                    None,
                )
                for watched in queryset.select_related("symbol")
            ],
        )


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The record of every sync; read-only, with a re-run action that queues a new run."""

    list_display = (
        "id",
        "symbol",
        "timeframe",
        "status",
        "trigger",
        "start",
        "end",
        "rows_inserted",
        "rows_updated",
        "gaps_found",
        "gaps_filled",
        "retries",
        "requested_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "trigger", "timeframe", "source", "created_at")
    search_fields = ("symbol__name", "error", "task_id")
    list_select_related = ("symbol", "requested_by")
    date_hierarchy = "created_at"
    actions = ("rerun",)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _may_sync(request) or super().has_view_permission(request, obj)

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return _may_sync(request)

    @admin.action(description="Re-run (queue a new sync with the same range)", permissions=["sync"])
    def rerun(self, request: HttpRequest, queryset: QuerySet[SyncRun]) -> None:
        _queue_syncs(
            self,
            request,
            [
                (f"run #{run.pk}", run.symbol.name, run.timeframe, run.start, run.end)
                for run in queryset.select_related("symbol")
            ],
        )


def _queue_syncs(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    wanted: list[tuple[str, str, str, datetime, datetime | None]],
) -> None:
    """Queue (label, symbol, timeframe, start, end) syncs through the one service."""
    queued, refused = [], []
    for label, symbol, timeframe, start, end in wanted:
        try:
            run = request_sync(
                symbol, timeframe, start, end, trigger=SyncRun.Trigger.ADMIN, user=request.user
            )
        except InvalidParameter as exc:
            refused.append(f"{label}: {exc}")
        else:
            queued.append(f"#{run.pk}")
    if queued:
        model_admin.message_user(
            request, f"Queued {len(queued)} sync run(s): {', '.join(queued)}.", messages.SUCCESS
        )
    for problem in refused:
        model_admin.message_user(request, f"Not queued, {problem}", messages.ERROR)
