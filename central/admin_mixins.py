"""Admin building blocks shared by the apps."""

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest


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
