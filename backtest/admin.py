"""The backtest admin.

Operators (model-wide view and change permissions on runs and sweeps) see every
strategy, run, trade and sweep, cancel and re-run runs, and share single objects with
users or groups through guardian's "Object permissions" pages. Runs, their trades and
sweeps are results: read-only here, changed only through the actions, which call the
same services as the API and the CLI.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.sharing_admin import SharingAdmin
from backtest import paper, services
from backtest.models import (
    Backtest,
    EquityCurve,
    PaperSession,
    PaperStatus,
    PaperTrade,
    PerformanceSummary,
    Strategy,
    Sweep,
    Trade,
)
from central.admin_mixins import (
    ReadOnlyAdminMixin,
    TracebackAdminMixin,
    cancel_and_report,
    purge_and_report,
)

RULE_FIELDS = ("entry_rules", "exit_rules", "config")


def pretty_json(value: Any) -> SafeString:
    """JSON indented in a <pre>, readable where the admin would print one long line."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


class ResultsAdminMixin:
    """Runs and sweeps are results: never added, edited or deleted here, and their page
    is read-only. The model-wide change permission (no object) still counts, because the
    cancel and re-run actions and guardian's sharing pages ask for it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_purge_permission(self, request: HttpRequest) -> bool:
        """Purging deletes other users' results: it takes the model's delete permission
        (admins), which the pages themselves never use."""
        meta = self.model._meta
        return request.user.has_perm(f"{meta.app_label}.delete_{meta.model_name}")


class ReadOnlyInlineMixin(ReadOnlyAdminMixin):
    extra = 0
    can_delete = False


# --- Strategies ----------------------------------------------------------------------


class IndentedJSONField(forms.JSONField):
    """Rules are nested trees: shown indented so an operator can read and edit them."""

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


class StrategyForm(forms.ModelForm):
    class Meta:
        model = Strategy
        fields = (
            "owner",
            "name",
            "description",
            "entry_rules",
            "exit_rules",
            "config",
            "is_active",
            "is_public",
        )
        field_classes = dict.fromkeys(RULE_FIELDS, IndentedJSONField)

    def clean(self) -> dict[str, Any]:
        """The validators the API and the CLI use, so no bad rule set is saved from here
        either; each problem goes to its field, its JSON path in the message."""
        cleaned = super().clean()
        if any(name in self.errors for name in RULE_FIELDS):
            return cleaned  # not JSON: the field already says so, nothing to validate
        definition = {name: cleaned.get(name) for name in RULE_FIELDS}
        for problem in services.validate_strategy_definition(definition):
            self.add_error(_rule_field(problem.path), str(problem))
        return cleaned


def _rule_field(path: str) -> str | None:
    """The form field a problem's JSON path starts in (None: the form as a whole)."""
    head = path.replace("[", ".").split(".", 1)[0]
    return head if head in RULE_FIELDS else None


@admin.register(Strategy)
class StrategyAdmin(SharingAdmin):
    form = StrategyForm
    list_display = ("name", "owner", "is_active", "is_public", "updated_at")
    list_filter = ("is_active", "is_public", "updated_at")
    search_fields = ("name", "description", "owner__username")
    date_hierarchy = "created_at"
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")


# --- Backtests -----------------------------------------------------------------------


class PerformanceSummaryInline(ReadOnlyInlineMixin, admin.StackedInline):
    model = PerformanceSummary
    fields = (
        ("total_trades", "winning_trades", "losing_trades", "win_rate"),
        ("total_pnl", "total_pnl_percentage", "profit_factor"),
        ("max_drawdown", "max_drawdown_percentage"),
        ("sharpe_ratio", "sortino_ratio"),
        ("average_win", "average_loss", "largest_win", "largest_loss"),
        "all_metrics",
    )
    readonly_fields = ("all_metrics",)

    @admin.display(description="metrics")
    def all_metrics(self, summary: PerformanceSummary) -> SafeString:
        return pretty_json(summary.metrics)


@admin.register(Backtest)
class BacktestAdmin(TracebackAdminMixin, ResultsAdminMixin, SharingAdmin):
    list_display = (
        "id",
        "symbol",
        "timeframe",
        "strategy_name",
        "owner",
        "status",
        "progress_percent",
        "final_balance",
        "created_at",
    )
    list_filter = ("status", "timeframe", "symbol")
    search_fields = ("symbol", "owner__username", "strategy_snapshot__name", "reproducibility_hash")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    inlines = (PerformanceSummaryInline,)
    actions = ("rerun", "cancel", "purge")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("strategy_name", "strategy", "owner"),
                    ("symbol", "timeframe", "source"),
                    ("start_time", "end_time"),
                    ("initial_balance", "final_balance"),
                    ("status", "progress_percent", "error"),
                    "traceback_listed",
                    ("trade_count", "trades_link"),
                    "sweep",
                )
            },
        ),
        (
            "Timing",
            {"fields": (("created_at", "queued_at", "started_at", "heartbeat_at", "finished_at"),)},
        ),
        (
            "Reproducibility",
            {
                "fields": (
                    "reproducibility_hash",
                    "snapshot",
                    "run_parameters",
                    "run_metadata",
                    "task_id",
                )
            },
        ),
    )
    readonly_fields = (
        "traceback_listed",
        "strategy_name",
        "progress_percent",
        "trade_count",
        "trades_link",
        "snapshot",
        "run_parameters",
        "run_metadata",
    )

    @admin.display(description="strategy name")
    def strategy_name(self, backtest: Backtest) -> str:
        """The name the run was made with: the strategy may since be renamed or gone."""
        return backtest.strategy_snapshot.get("name", "")

    @admin.display(description="progress", ordering="progress")
    def progress_percent(self, backtest: Backtest) -> str:
        return f"{backtest.progress:.0f} %"

    @admin.display(description="trades")
    def trade_count(self, backtest: Backtest) -> int:
        return backtest.trades.count()

    @admin.display(description="trade list")
    def trades_link(self, backtest: Backtest) -> SafeString:
        url = reverse("admin:backtest_trade_changelist")
        return format_html(
            '<a href="{}?backtest__id__exact={}">Trades of this run</a>', url, backtest.pk
        )

    @admin.display(description="strategy snapshot")
    def snapshot(self, backtest: Backtest) -> SafeString:
        return pretty_json(backtest.strategy_snapshot)

    @admin.display(description="parameters")
    def run_parameters(self, backtest: Backtest) -> SafeString:
        return pretty_json(backtest.parameters)

    @admin.display(description="metadata")
    def run_metadata(self, backtest: Backtest) -> SafeString:
        return pretty_json(backtest.metadata)

    @admin.action(description="Re-run (queue a copy for the same owner)", permissions=["change"])
    def rerun(self, request: HttpRequest, queryset: QuerySet[Backtest]) -> None:
        """Each copy keeps the original's owner, so it counts against their runs and
        appears among their results, not the operator's."""
        copies, refused = [], []
        for backtest in queryset.select_related("owner", "strategy"):
            try:
                copies.append(services.rerun_backtest(backtest, requested_by=request.user))
            except services.NotAllowed as exc:
                refused.append(f"#{backtest.pk}: {exc}")
        numbers = ", ".join(f"#{copy.pk}" for copy in copies)
        self.message_user(request, f"Queued {len(copies)} re-run(s): {numbers}.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not re-run: " + "; ".join(refused), messages.WARNING)

    @admin.action(description="Cancel", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Backtest]) -> None:
        cancel_and_report(self, request, queryset, services.cancel_backtest)

    @admin.action(
        description="Purge those finished over RUN_RETENTION_DAYS ago (not sweep cells)",
        permissions=["purge"],
    )
    def purge(self, request: HttpRequest, queryset: QuerySet[Backtest]) -> None:
        purge_and_report(self, request, "backtests", queryset)


# --- Trades --------------------------------------------------------------------------


class EstimatedCountPaginator(Paginator):
    """Counting an unfiltered trades table on every page load scans it; past a size where
    that matters, PostgreSQL's planner estimate is good enough for page links. Filtered
    lists (one run's trades) are counted exactly through the (backtest, entry_time)
    index."""

    exact_count_below = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not queryset.query.where:
            with connections[queryset.db].cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] >= self.exact_count_below:
                return row[0]
        return super().count


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "backtest",
        "side",
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "quantity",
        "pnl",
        "pnl_percentage",
        "fees",
        "exit_reason",
    )
    list_filter = ("side", "exit_reason")
    list_select_related = ("backtest",)
    search_fields = ("=backtest__id",)
    # No date hierarchy: its drill-down reads the whole table's entry times on every
    # page; a run's trades are reached from the run (filtered by backtest).
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 200


# --- Sweeps --------------------------------------------------------------------------


class SweepCellInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Backtest
    verbose_name = "cell"
    verbose_name_plural = "cells"
    fields = ("status", "progress", "cell_values", "final_balance", "finished_at")
    readonly_fields = ("cell_values",)
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Backtest]:
        return super().get_queryset(request).select_related("sweep")

    @admin.display(description="grid values")
    def cell_values(self, backtest: Backtest) -> str:
        """The parameters this cell varies: the sweep grid's names, this run's values."""
        names = backtest.sweep.grid if backtest.sweep else {}
        values = backtest.parameters.get("parameters", {})
        return ", ".join(f"{name}={values.get(name)}" for name in sorted(names))


@admin.register(Sweep)
class SweepAdmin(ResultsAdminMixin, SharingAdmin):
    list_display = (
        "id",
        "name",
        "symbol",
        "timeframe",
        "rank_metric",
        "status",
        "cell_count",
        "created_at",
    )
    list_filter = ("status", "timeframe", "symbol")
    search_fields = ("name", "symbol", "owner__username")
    date_hierarchy = "created_at"
    inlines = (SweepCellInline,)
    actions = ("cancel", "purge")
    fields = (
        ("name", "owner", "strategy"),
        ("symbol", "timeframe", "source"),
        ("start_time", "end_time"),
        ("status", "cell_count", "rank_metric"),
        "error",
        "grid_json",
        "options_json",
        ("created_at", "finished_at"),
        "task_id",
    )
    readonly_fields = ("grid_json", "options_json")

    @admin.display(description="grid")
    def grid_json(self, sweep: Sweep) -> SafeString:
        return pretty_json(sweep.grid)

    @admin.display(description="options")
    def options_json(self, sweep: Sweep) -> SafeString:
        return pretty_json(sweep.options)

    @admin.action(description="Cancel (with every unfinished cell)", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Sweep]) -> None:
        cancel_and_report(self, request, queryset, services.cancel_sweep)

    @admin.action(
        description="Purge those finished over RUN_RETENTION_DAYS ago, with their cells",
        permissions=["purge"],
    )
    def purge(self, request: HttpRequest, queryset: QuerySet[Sweep]) -> None:
        purge_and_report(self, request, "sweeps", queryset)


# --- Results listed on their own ---------------------------------------------------------


class RunResultsViewMixin(ReadOnlyAdminMixin):
    """A run's computed results, read-only: whoever may view runs may view these (the
    roles grant view on runs; these rows are part of them)."""

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("backtest.view_backtest") or super().has_view_permission(
            request, obj
        )


@admin.register(PerformanceSummary)
class PerformanceSummaryAdmin(RunResultsViewMixin, admin.ModelAdmin):
    """Every run's headline metrics side by side, sortable: the one list where an
    operator compares runs across users."""

    list_display = (
        "backtest",
        "total_trades",
        "win_rate",
        "total_pnl",
        "total_pnl_percentage",
        "max_drawdown_percentage",
        "sharpe_ratio",
        "profit_factor",
        "created_at",
    )
    list_filter = ("backtest__timeframe", "backtest__status")
    search_fields = ("=backtest__id", "backtest__symbol", "backtest__owner__username")
    list_select_related = ("backtest",)
    date_hierarchy = "created_at"
    readonly_fields = ("all_metrics",)
    exclude = ("metrics",)

    @admin.display(description="metrics")
    def all_metrics(self, summary: PerformanceSummary) -> SafeString:
        return pretty_json(summary.metrics)


@admin.register(EquityCurve)
class EquityCurveAdmin(RunResultsViewMixin, admin.ModelAdmin):
    """Which runs have a stored curve and how long it is; the arrays themselves are
    binary (equity_codec) and drawn on the run's page, so they are never loaded here."""

    list_display = ("backtest", "bar_count", "symbol", "timeframe")
    list_filter = ("backtest__timeframe",)
    search_fields = ("=backtest__id", "backtest__symbol")
    list_select_related = ("backtest",)
    fields = ("backtest", "bar_count")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[EquityCurve]:
        return super().get_queryset(request).defer("timestamps", "equity", "exposure")

    @admin.display(description="symbol", ordering="backtest__symbol")
    def symbol(self, curve: EquityCurve) -> str:
        return curve.backtest.symbol

    @admin.display(description="timeframe", ordering="backtest__timeframe")
    def timeframe(self, curve: EquityCurve) -> str:
        return curve.backtest.timeframe


# --- Paper sessions ---------------------------------------------------------------------


class PaperTradeInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = PaperTrade
    extra = 0
    fields = (
        "entry_time",
        "exit_time",
        "side",
        "quantity",
        "entry_price",
        "exit_price",
        "pnl",
        "fees",
        "entry_reason",
        "exit_reason",
    )
    readonly_fields = fields


@admin.register(PaperSession)
class PaperSessionAdmin(ResultsAdminMixin, admin.ModelAdmin):
    """Read-only history of paper sessions; operators stop them or use the kill switch
    (the same services as the API, audited). A halted session shows why and by whom."""

    list_display = (
        "id",
        "symbol",
        "timeframe",
        "strategy_name",
        "owner",
        "status",
        "halted_reason",
        "killed_by",
        "equity",
        "bars_stepped",
        "last_timestamp",
    )
    list_filter = ("status", "halted_reason", "timeframe", "symbol")
    search_fields = ("symbol", "owner__username", "strategy_snapshot__name")
    list_select_related = ("owner", "killed_by")
    date_hierarchy = "created_at"
    inlines = (PaperTradeInline,)
    actions = ("stop", "kill")
    fields = (
        ("strategy_name", "strategy", "owner"),
        ("symbol", "timeframe", "source"),
        ("status", "halted_reason", "killed_by", "error"),
        ("initial_balance", "equity"),
        ("warm_up_bars", "bars_stepped", "last_timestamp"),
        ("created_at", "started_at", "stopped_at"),
        "snapshot",
        "run_parameters",
        "stepper_state",
    )
    readonly_fields = ("strategy_name", "snapshot", "run_parameters", "stepper_state")

    @admin.display(description="strategy name")
    def strategy_name(self, session: PaperSession) -> str:
        return session.strategy_snapshot.get("name", "")

    @admin.display(description="strategy snapshot")
    def snapshot(self, session: PaperSession) -> SafeString:
        return pretty_json(session.strategy_snapshot)

    @admin.display(description="parameters")
    def run_parameters(self, session: PaperSession) -> SafeString:
        return pretty_json(session.parameters)

    @admin.display(description="engine state")
    def stepper_state(self, session: PaperSession) -> SafeString:
        return pretty_json(session.state)

    def has_kill_permission(self, request: HttpRequest) -> bool:
        return paper.can_kill_sessions(request.user)

    @admin.action(description="Stop (leave any position open)", permissions=["change"])
    def stop(self, request: HttpRequest, queryset: QuerySet[PaperSession]) -> None:
        stopped = sum(paper.stop_session(session, actor=request.user) for session in queryset)
        self.message_user(request, f"{stopped} stopped.", messages.SUCCESS)

    @admin.action(description="Kill switch (close at the last close, halt)", permissions=["kill"])
    def kill(self, request: HttpRequest, queryset: QuerySet[PaperSession]) -> None:
        running = queryset.filter(status=PaperStatus.RUNNING)
        killed = sum(paper.kill_session(session, request.user, request) for session in running)
        self.message_user(request, f"{killed} killed.", messages.SUCCESS)


@admin.register(PaperTrade)
class PaperTradeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "session", "side", "entry_time", "exit_time", "pnl", "exit_reason")
    list_filter = ("side", "exit_reason")
    list_select_related = ("session",)
    date_hierarchy = "entry_time"
