"""Permission-aware reads of imports, transactions and replays, built on accounts.access.

Imports and replay runs are shareable like backtests (owner, guardian grants to users
and groups, model-wide permission for operators). A transaction is visible to its
owner, to whoever sees the import it came in, and to operators.
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    TextField,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce

from accounts.access import User, accessible, granted_ids
from replay.models import ImportBatch, ReplayExecution, ReplayRun, TransactionHistory


def can_import_transactions(user: User) -> bool:
    return user.is_authenticated and user.has_perm("replay.add_importbatch")


def can_run_replays(user: User) -> bool:
    return user.is_authenticated and user.has_perm("replay.add_replayrun")


def visible_import_batches(user: User) -> QuerySet[ImportBatch]:
    return accessible(user, ImportBatch, "view").select_related("owner")


def manageable_import_batches(user: User) -> QuerySet[ImportBatch]:
    return accessible(user, ImportBatch, "change")


def visible_transactions(user: User) -> QuerySet[TransactionHistory]:
    """Owned, in an import shared with the user, or all of them for operators."""
    if not user.is_authenticated or not user.is_active:
        return TransactionHistory.objects.none()
    if user.has_perm("replay.view_transactionhistory"):
        return TransactionHistory.objects.all()
    return TransactionHistory.objects.filter(
        Q(owner=user) | Q(import_batch__in=granted_ids(user, ImportBatch, "view"))
    )


def own_transactions(user: User) -> QuerySet[TransactionHistory]:
    """What the user may delete or replay as theirs: their own fills only."""
    if not user.is_authenticated:
        return TransactionHistory.objects.none()
    return TransactionHistory.objects.filter(owner=user)


def visible_replay_runs(user: User) -> QuerySet[ReplayRun]:
    return accessible(user, ReplayRun, "view").select_related("owner", "backtest")


def manageable_replay_runs(user: User) -> QuerySet[ReplayRun]:
    return accessible(user, ReplayRun, "change")


def replay_executions(run: ReplayRun) -> QuerySet[ReplayExecution]:
    """Executions of a run the caller already fetched through visible_replay_runs."""
    return run.executions.select_related("transaction_history").order_by("id")


def transaction_summary(transactions: QuerySet[TransactionHistory]) -> list[dict]:
    """Per symbol of these transactions: fills, buy and sell counts, quantities and values
    (Σ price x quantity), first and last time, and fees by asset; exact decimals, two
    queries whatever the number of fills."""
    zero = Value(Decimal(0), output_field=DecimalField())
    value = F("price") * F("quantity")
    buys, sells = Q(side="buy"), Q(side="sell")
    rows = list(
        transactions.order_by()
        .values("symbol")
        .annotate(
            count=Count("id"),
            buy_count=Count("id", filter=buys),
            sell_count=Count("id", filter=sells),
            buy_quantity=Coalesce(Sum("quantity", filter=buys), zero),
            sell_quantity=Coalesce(Sum("quantity", filter=sells), zero),
            buy_value=Coalesce(Sum(value, filter=buys, output_field=DecimalField()), zero),
            sell_value=Coalesce(Sum(value, filter=sells, output_field=DecimalField()), zero),
            first_time=Min("transaction_time"),
            last_time=Max("transaction_time"),
        )
        .order_by("symbol")
    )
    fees = (
        transactions.order_by()
        .annotate(fee_text=KT("metadata__fee"))
        .annotate(asset=Coalesce(KT("metadata__fee_asset"), Value(""), output_field=TextField()))
        .filter(fee_text__isnull=False)
        .values("symbol", "asset")
        .annotate(total=Sum(Cast("fee_text", DecimalField(max_digits=38, decimal_places=18))))
        .order_by("symbol", "asset")
    )
    by_symbol: dict[str, dict[str, Decimal]] = {}
    for fee in fees:
        by_symbol.setdefault(fee["symbol"], {})[fee["asset"]] = fee["total"]
    for row in rows:
        row["fees"] = {
            asset: format(total.normalize(), "f")
            for asset, total in by_symbol.get(row["symbol"], {}).items()
        }
    return rows
