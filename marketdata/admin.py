"""The market-data admin.

Operators (the 'sync market data' permission) see all of it, add and edit symbols and
watched series, and queue and cancel syncs. Candles, their series and sync runs are
history that only imports and syncs write: read-only here.
"""

from collections.abc import Callable
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator

from central.admin_mixins import (
    ReadOnlyAdminMixin,
    TracebackAdminMixin,
    cancel_and_report,
    purge_and_report,
)
from marketdata.models import (
    DEFAULT_SOURCE,
    CandleRecord,
    CandleSeries,
    MarketStream,
    Symbol,
    SyncRun,
    WatchedSymbol,
)
from marketdata.selectors import can_sync_market_data
from marketdata.services import InvalidParameter, normalise_symbol, request_sync
from marketdata.sync import cancel_sync_run, has_active_run, queue_watched_sync

ERROR_PREVIEW_CHARS = 80


def _may_sync(request: HttpRequest) -> bool:
    return can_sync_market_data(request.user)


class OperatorsMayViewMixin:
    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _may_sync(request) or super().has_view_permission(request, obj)


class SymbolForm(forms.ModelForm):
    class Meta:
        model = Symbol
        fields = ("name", "base_asset", "quote_asset", "is_active")

    def clean_name(self) -> str:
        # The spelling syncs and imports use: 'btc/usdt' saved as typed would be a
        # second symbol beside the BTCUSDT a sync creates.
        try:
            return normalise_symbol(self.cleaned_data["name"])
        except InvalidParameter as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(Symbol)
class SymbolAdmin(OperatorsMayViewMixin, admin.ModelAdmin):
    """Operators add here the symbols they then watch. A saved symbol keeps its name:
    its series, candles and runs point at the row, so a rename would relabel them."""

    form = SymbolForm
    list_display = ("name", "base_asset", "quote_asset", "is_active", "created_at")
    list_filter = ("is_active", "quote_asset")
    search_fields = ("name", "base_asset", "quote_asset")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        return ("name",) if obj is not None else ()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _may_sync(request) or super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return _may_sync(request) or super().has_change_permission(request, obj)


@admin.register(CandleSeries)
class CandleSeriesAdmin(OperatorsMayViewMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: deleting a series would orphan its candles (they have no database
    foreign key to it), and editing its symbol, timeframe or source would relabel them."""

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
    list_select_related = ("symbol",)
    date_hierarchy = "last_timestamp"
    actions = ("sync_now",)

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return _may_sync(request)

    @admin.action(
        description="Sync now (from the last stored candle up to now)", permissions=["sync"]
    )
    def sync_now(self, request: HttpRequest, queryset: QuerySet[CandleSeries]) -> None:
        """Bring each Binance series up to date, watched or not: a sync from its last
        stored candle on. Series of other sources (file imports) have nothing to sync
        from; a series with a sync already pending or running is skipped."""
        wanted = []
        for series in queryset.select_related("symbol"):
            label = str(series)
            if series.source != DEFAULT_SOURCE or series.last_timestamp is None:
                wanted.append((label, partial(_not_syncable, series)))
            elif has_active_run(series):  # reads only symbol_id and timeframe
                wanted.append((label, lambda: None))
            else:
                wanted.append(
                    (
                        label,
                        partial(
                            request_sync,
                            series.symbol.name,
                            series.timeframe,
                            series.last_timestamp,
                            trigger=SyncRun.Trigger.ADMIN,
                            user=request.user,
                        ),
                    )
                )
        _queue_syncs(self, request, wanted)


@admin.register(CandleRecord)
class CandleAdmin(OperatorsMayViewMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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


@admin.register(WatchedSymbol)
class WatchedSymbolAdmin(OperatorsMayViewMixin, admin.ModelAdmin):
    """Operators choose here which series the beat schedule keeps in sync."""

    list_display = ("symbol", "timeframe", "history_start", "is_enabled", "last_synced_at")
    list_filter = ("is_enabled", "timeframe")
    search_fields = ("symbol__name",)
    date_hierarchy = "created_at"
    readonly_fields = ("last_synced_at", "created_at")
    actions = ("sync_now",)

    # Scheduling syncs is what the 'sync market data' permission grants (operators).
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
        """Queue each series from where it stands, as the schedule would; a series with
        a run already pending or running is skipped, as the schedule skips it."""
        _queue_syncs(
            self,
            request,
            [
                (
                    str(watched),
                    partial(
                        queue_watched_sync,
                        watched,
                        trigger=SyncRun.Trigger.ADMIN,
                        user=request.user,
                    ),
                )
                for watched in queryset.select_related("symbol")
            ],
        )


@admin.register(SyncRun)
class SyncRunAdmin(
    TracebackAdminMixin, OperatorsMayViewMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    """The record of every sync; read-only, with actions that queue a new run with the
    same range and cancel pending or running ones."""

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
        "short_error",
        "requested_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "trigger", "timeframe", "source", "created_at")
    search_fields = ("symbol__name", "error", "task_id")
    list_select_related = ("symbol", "requested_by")
    date_hierarchy = "created_at"
    actions = ("rerun", "cancel", "purge")
    readonly_fields = ("traceback_listed",)

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return _may_sync(request)

    @admin.display(description="error")
    def short_error(self, run: SyncRun) -> str:
        """The start of the error; the run's page shows all of it."""
        return Truncator(run.error).chars(ERROR_PREVIEW_CHARS)

    @admin.action(description="Re-run (queue a new sync with the same range)", permissions=["sync"])
    def rerun(self, request: HttpRequest, queryset: QuerySet[SyncRun]) -> None:
        _queue_syncs(
            self,
            request,
            [
                (
                    f"run #{run.pk}",
                    partial(
                        request_sync,
                        run.symbol.name,
                        run.timeframe,
                        run.start,
                        run.end,
                        trigger=SyncRun.Trigger.ADMIN,
                        user=request.user,
                    ),
                )
                for run in queryset.select_related("symbol")
            ],
        )

    @admin.action(description="Cancel selected %(verbose_name_plural)s", permissions=["sync"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[SyncRun]) -> None:
        """Cancel each run through the service the API uses (audited, with the
        operator's address); say how many were cancelled and how many had finished."""
        cancel_and_report(self, request, queryset, cancel_sync_run)

    def has_purge_permission(self, request: HttpRequest) -> bool:
        # Deleting history is an admin's decision (the model's delete permission).
        return request.user.has_perm("marketdata.delete_syncrun")

    @admin.action(
        description="Purge those finished over RUN_RETENTION_DAYS ago", permissions=["purge"]
    )
    def purge(self, request: HttpRequest, queryset: QuerySet[SyncRun]) -> None:
        purge_and_report(self, request, "sync runs", queryset)


@admin.register(MarketStream)
class MarketStreamAdmin(OperatorsMayViewMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """What each `stream_market` process last reported; read-only: only the process
    writes its row (a "connected" stream whose last message is old has hung)."""

    list_display = (
        "name",
        "state",
        "symbols",
        "timeframes",
        "connected_at",
        "last_message_at",
        "reconnects",
        "messages",
        "malformed",
        "short_error",
        "updated_at",
    )
    list_filter = ("state",)
    search_fields = ("name", "last_error")
    date_hierarchy = "updated_at"

    @admin.display(description="last error")
    def short_error(self, stream: MarketStream) -> str:
        return Truncator(stream.last_error).chars(ERROR_PREVIEW_CHARS)


def _not_syncable(series: CandleSeries) -> None:
    if series.source != DEFAULT_SOURCE:
        raise InvalidParameter("source", f"{series.source} series are imported, not synced")
    raise InvalidParameter("start", "the series has no candles yet; watch its symbol instead")


def _queue_syncs(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    wanted: list[tuple[str, Callable[[], SyncRun | None]]],
) -> None:
    """Queue each (label, queue) and tell the operator what was queued, what was skipped
    (queue returned None: a run is already pending or running) and what was refused."""
    queued, skipped, refused = [], [], []
    for label, queue in wanted:
        try:
            run = queue()
        except InvalidParameter as exc:
            refused.append(f"{label}: {exc}")
        else:
            if run is None:
                skipped.append(label)
            else:
                queued.append(f"#{run.pk}")
    if queued:
        model_admin.message_user(
            request, f"Queued {len(queued)} sync run(s): {', '.join(queued)}.", messages.SUCCESS
        )
    if skipped:
        model_admin.message_user(
            request,
            f"Not queued, a sync is already pending or running for: {', '.join(skipped)}.",
            messages.WARNING,
        )
    for problem in refused:
        model_admin.message_user(request, f"Not queued, {problem}", messages.ERROR)
