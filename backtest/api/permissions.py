"""Who may create, change, cancel and re-run; the querysets come from backtest.selectors."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from backtest.selectors import (
    can_run_backtests,
    deletable_strategies,
    editable_strategies,
    manageable_backtests,
    manageable_sweeps,
)


class CanRunBacktestsOrReadOnly(BasePermission):
    """Reading is for any signed-in user (combine with IsAuthenticated); creating
    strategies, backtests and sweeps needs the analyst's `backtest.add_backtest`."""

    message = "You need the 'add backtest' permission to create strategies, backtests or sweeps."

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or can_run_backtests(request.user)


class CanEditStrategyOrReadOnly(BasePermission):
    """Changing needs 'change' (owner, or shared for change); deleting is the owner's."""

    message = "Changing a strategy takes its owner or a share for change; deleting, its owner."

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        if request.method == "DELETE":
            return deletable_strategies(request.user).filter(pk=obj.pk).exists()
        return editable_strategies(request.user).filter(pk=obj.pk).exists()


class CanManageBacktest(BasePermission):
    message = (
        "Only the backtest's owner, or those it is shared with for change, may cancel or re-run it."
    )

    def has_object_permission(self, request, view, obj) -> bool:
        return manageable_backtests(request.user).filter(pk=obj.pk).exists()


class CanManageSweep(BasePermission):
    message = "Cancelling a sweep takes its owner or a share for change."

    def has_object_permission(self, request, view, obj) -> bool:
        return manageable_sweeps(request.user).filter(pk=obj.pk).exists()
