"""Admin building blocks shared by the apps."""

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
