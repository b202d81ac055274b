"""Admin building blocks shared by the apps."""

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html


class TracebackAdminMixin:
    """Shows a run's stored traceback (internal errors only, secrets masked) on its admin
    page: list `traceback_listed` in the admin's readonly fields."""

    @admin.display(description="traceback (operators only)")
    def traceback_listed(self, run: Any) -> str:
        return format_html("<pre>{}</pre>", run.traceback) if run.traceback else "none"


class ReadOnlyAdminMixin:
    """For history that an edit would corrupt (candles, sync runs, later trades and audit
    entries): listed and filtered, never added, changed or deleted from the admin.
    Works for inlines too (their add check also gets the parent object)."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def cancel_and_report(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    objects: Iterable[Any],
    cancel: Callable[..., bool],
) -> None:
    """Cancel each object through its service (`cancel(obj, actor=, request=)`, False
    when it had already finished) and tell the operator how many were cancelled and how
    many had already finished."""
    outcomes = [cancel(obj, actor=request.user, request=request) for obj in objects]
    cancelled, finished = outcomes.count(True), outcomes.count(False)
    parts = [f"{cancelled} cancelled"]
    if finished:
        parts.append(f"{finished} already finished")
    level = messages.SUCCESS if cancelled else messages.WARNING
    model_admin.message_user(request, ", ".join(parts) + ".", level)


# Models of Central's apps that have no admin of their own, and why. Every other model
# of those apps is registered: tests/central/test_admin_operations.py walks the app
# registry (like audit.registry does for the change log), so a model added later must
# take a side.
NOT_IN_ADMIN: dict[str, str] = {
    "marketdata.Candle": (
        "Django's admin refuses composite primary keys; candles are listed, read-only, "
        "through marketdata.CandleRecord (a view with a derived integer key)"
    ),
}


def purge_and_report(
    model_admin: admin.ModelAdmin, request: HttpRequest, kind: str, queryset: Any
) -> None:
    """Purge the selected runs of `kind` that finished over RUN_RETENTION_DAYS ago
    (central.run_retention, as `manage.py purge_runs` does) and say what went and how
    many selected runs were kept (unfinished, or too recent)."""
    from django.conf import settings

    from central.run_retention import purge_old_runs

    selected = queryset.count()
    report = purge_old_runs(among={kind: queryset})
    purged = report.deleted[kind]
    model_admin.message_user(request, str(report), messages.SUCCESS if purged else messages.WARNING)
    if selected > purged:
        model_admin.message_user(
            request,
            f"Kept {selected - purged} of the selected {kind}: unfinished, or finished "
            f"within the last {settings.RUN_RETENTION_DAYS} days (RUN_RETENTION_DAYS).",
            messages.INFO,
        )
