"""Permission-aware reads of strategies, backtests and sweeps, built on accounts.access.

A user sees what they own, what was shared with them (guardian object permissions, to
them or to one of their groups) and, for analysts, public strategies. Holders of the
model-wide `view_*` permission (operators, superusers) see everything. Every queryset
that reaches a user comes from here.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.access import User, accessible, granted_ids, owned
from backtest.models import Backtest, RunStatus, Strategy, Sweep, Trade


def can_run_backtests(user: User) -> bool:
    return user.is_authenticated and user.has_perm("backtest.add_backtest")


def can_create_strategies(user: User) -> bool:
    return user.is_authenticated and user.has_perm("backtest.add_strategy")


def can_run_sweeps(user: User) -> bool:
    return user.is_authenticated and user.has_perm("backtest.add_sweep")


def visible_strategies(user: User) -> QuerySet[Strategy]:
    """Owned, shared, and (for analysts) public strategies."""
    public = Q(is_public=True) if can_create_strategies(user) else None
    return accessible(user, Strategy, "view", also=public).select_related("owner")


def editable_strategies(user: User) -> QuerySet[Strategy]:
    """Owners, users it was shared with for 'change', and staff holding change_strategy."""
    return accessible(user, Strategy, "change")


def deletable_strategies(user: User) -> QuerySet[Strategy]:
    return owned(user, Strategy, "delete")


def visible_backtests(user: User) -> QuerySet[Backtest]:
    """Owned, shared, or a cell of a sweep shared with the user."""
    in_shared_sweep = Q(sweep__in=granted_ids(user, Sweep, "view"))
    return accessible(user, Backtest, "view", also=in_shared_sweep).select_related(
        "owner", "strategy", "performance_summary"
    )


def manageable_backtests(user: User) -> QuerySet[Backtest]:
    """Backtests the user may cancel or re-run: owned, shared for 'change' or a cell of a
    sweep shared for 'change' (staff: all they may change)."""
    in_changeable_sweep = Q(sweep__in=granted_ids(user, Sweep, "change"))
    return accessible(user, Backtest, "change", also=in_changeable_sweep)


def can_watch_backtest(user: User, backtest_id: int) -> bool:
    return visible_backtests(user).filter(pk=backtest_id).exists()


def queue_positions(backtests: list[Backtest]) -> dict[int, int]:
    """Place in the queue of each waiting run among `backtests` (1 = next): its rank
    among every user's queued runs, by the time they were queued.

    Counts only; whose runs are ahead is not revealed. One indexed count per waiting
    run, so callers pass a page of runs, not a whole history.
    """
    positions: dict[int, int] = {}
    for backtest in backtests:
        if backtest.status != RunStatus.QUEUED or backtest.queued_at is None:
            continue
        earlier = Q(queued_at__lt=backtest.queued_at)
        tied = Q(queued_at=backtest.queued_at, pk__lt=backtest.pk)
        ahead = Backtest.objects.filter(earlier | tied, status=RunStatus.QUEUED)
        positions[backtest.pk] = ahead.count() + 1
    return positions


def backtest_trades(backtest: Backtest) -> QuerySet[Trade]:
    """Trades of a backtest the caller already fetched through visible_backtests."""
    return backtest.trades.order_by("entry_time", "id")


def visible_sweeps(user: User) -> QuerySet[Sweep]:
    return accessible(user, Sweep, "view").select_related("owner", "strategy")


def manageable_sweeps(user: User) -> QuerySet[Sweep]:
    return accessible(user, Sweep, "change")
