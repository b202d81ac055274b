"""Permission-aware reads of strategies, backtests and sweeps.

A user sees what they own, what was shared with them (django-guardian's `view_*`
object permission) and, for strategies, what is public. Staff with the model-level
`view_*` permission (operators in the admin) see everything. Every queryset that
reaches a user comes from here.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from backtest.models import Backtest, Strategy, Sweep, Trade

User = AbstractBaseUser | AnonymousUser


def can_run_backtests(user: User) -> bool:
    return user.is_authenticated and user.has_perm("backtest.add_backtest")


def can_create_strategies(user: User) -> bool:
    return user.is_authenticated and user.has_perm("backtest.add_strategy")


def can_run_sweeps(user: User) -> bool:
    return user.is_authenticated and user.has_perm("backtest.add_sweep")


def _shared_with(user: User, model: type, perm: str) -> QuerySet:
    return get_objects_for_user(
        user, perm, klass=model, with_superuser=False, accept_global_perms=False
    )


def _visible(user: User, model: type, perm: str, extra: Q | None = None) -> QuerySet:
    if not user.is_authenticated:
        return model.objects.none()
    if user.has_perm(perm):  # model-wide view permission: operators, superusers
        return model.objects.all()
    condition = Q(owner=user) | Q(pk__in=_shared_with(user, model, perm).values("pk"))
    if extra is not None:
        condition |= extra
    return model.objects.filter(condition)


def visible_strategies(user: User) -> QuerySet[Strategy]:
    return _visible(user, Strategy, "backtest.view_strategy", Q(is_public=True)).select_related(
        "owner"
    )


def _owned_or_all(user: User, model: type, perm: str) -> QuerySet:
    """What the user owns; everything for holders of the model-wide permission."""
    if not user.is_authenticated:
        return model.objects.none()
    if user.has_perm(perm):
        return model.objects.all()
    return model.objects.filter(owner=user)


def editable_strategies(user: User) -> QuerySet[Strategy]:
    """Only owners change their strategies (and staff holding change_strategy)."""
    return _owned_or_all(user, Strategy, "backtest.change_strategy")


def visible_backtests(user: User) -> QuerySet[Backtest]:
    """Owned, shared, or a cell of a visible sweep."""
    in_shared_sweep = (
        Q(sweep__in=_shared_with(user, Sweep, "backtest.view_sweep").values("pk"))
        if user.is_authenticated
        else None
    )
    return _visible(user, Backtest, "backtest.view_backtest", in_shared_sweep).select_related(
        "owner", "strategy", "performance_summary"
    )


def manageable_backtests(user: User) -> QuerySet[Backtest]:
    """Backtests the user may cancel or re-run: their own (staff: any they may change)."""
    return _owned_or_all(user, Backtest, "backtest.change_backtest")


def can_watch_backtest(user: User, backtest_id: int) -> bool:
    return visible_backtests(user).filter(pk=backtest_id).exists()


def backtest_trades(backtest: Backtest) -> QuerySet[Trade]:
    """Trades of a backtest the caller already fetched through visible_backtests."""
    return backtest.trades.order_by("entry_time", "id")


def visible_sweeps(user: User) -> QuerySet[Sweep]:
    return _visible(user, Sweep, "backtest.view_sweep").select_related("owner", "strategy")


def manageable_sweeps(user: User) -> QuerySet[Sweep]:
    return _owned_or_all(user, Sweep, "backtest.change_sweep")
