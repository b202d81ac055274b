"""Query filters of the transactions API (applied to the selectors' querysets)."""

import django_filters
from django.db.models import QuerySet

from backtest.models import RunStatus
from marketdata.services import InvalidParameter, normalise_symbol
from replay.models import ImportBatch, ImportFormat, Side, TransactionHistory, TransactionType


def _by_symbol(queryset: QuerySet, name: str, value: str) -> QuerySet:
    try:
        return queryset.filter(symbol=normalise_symbol(value))
    except InvalidParameter:
        return queryset.none()


def _by_owner(queryset: QuerySet, request, value: str) -> QuerySet:
    if value == "me":
        return queryset.filter(owner=request.user)
    return queryset.filter(owner__username=value)


class TransactionFilter(django_filters.FilterSet):
    symbol = django_filters.CharFilter(method=_by_symbol, help_text="e.g. BTCUSDT or btc/usdt")
    side = django_filters.ChoiceFilter(choices=Side.choices)
    transaction_type = django_filters.ChoiceFilter(choices=TransactionType.choices)
    start = django_filters.IsoDateTimeFilter(
        field_name="transaction_time", lookup_expr="gte", help_text="From this time (inclusive)."
    )
    end = django_filters.IsoDateTimeFilter(
        field_name="transaction_time", lookup_expr="lt", help_text="Before this time."
    )
    import_batch = django_filters.NumberFilter(
        field_name="import_batch_id", help_text="The import that brought them."
    )
    exchange = django_filters.CharFilter()
    owner = django_filters.CharFilter(
        method="filter_owner", help_text='"me" for your own fills, or a username.'
    )

    class Meta:
        model = TransactionHistory
        fields = (
            "symbol",
            "side",
            "transaction_type",
            "start",
            "end",
            "import_batch",
            "exchange",
            "owner",
        )

    def filter_owner(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _by_owner(queryset, self.request, value)


class TransactionListFilter(TransactionFilter):
    ordering = django_filters.OrderingFilter(
        fields=("transaction_time", "symbol", "price", "quantity", "id"),
        help_text="Default transaction_time; prefix a field with - for descending.",
    )


class ImportBatchFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=RunStatus.choices, help_text="Repeat for several: ?status=queued&status=running"
    )
    format = django_filters.ChoiceFilter(choices=ImportFormat.choices)
    owner = django_filters.CharFilter(
        method="filter_owner", help_text='"me" for your own imports, or a username.'
    )

    class Meta:
        model = ImportBatch
        fields = ("status", "format", "owner")

    def filter_owner(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _by_owner(queryset, self.request, value)
