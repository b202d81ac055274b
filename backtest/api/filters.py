"""Query filters of the backtest API (applied to the selectors' querysets)."""

import django_filters
from django.db.models import QuerySet

from backtest.models import Backtest, RunStatus, Strategy, Sweep
from marketdata.services import InvalidParameter, normalise_symbol
from marketdata.timeframes import TIMEFRAME_CHOICES


def _by_symbol(queryset: QuerySet, name: str, value: str) -> QuerySet:
    try:
        return queryset.filter(symbol=normalise_symbol(value))
    except InvalidParameter:
        return queryset.none()


class StrategyFilter(django_filters.FilterSet):
    is_public = django_filters.BooleanFilter()
    is_active = django_filters.BooleanFilter()
    owner = django_filters.CharFilter(
        method="filter_owner", help_text='"me" for your own strategies, or a username.'
    )
    search = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", help_text="Part of the name, any case."
    )

    class Meta:
        model = Strategy
        fields = ("is_public", "is_active", "owner", "search")

    def filter_owner(self, queryset: QuerySet[Strategy], name: str, value: str) -> QuerySet:
        if value == "me":
            return queryset.filter(owner=self.request.user)
        return queryset.filter(owner__username=value)


class BacktestFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=RunStatus.choices, help_text="Repeat for several: ?status=queued&status=running"
    )
    symbol = django_filters.CharFilter(method=_by_symbol, help_text="e.g. BTCUSDT or btc/usdt")
    timeframe = django_filters.ChoiceFilter(choices=TIMEFRAME_CHOICES)
    strategy = django_filters.NumberFilter(field_name="strategy_id")
    sweep = django_filters.NumberFilter(field_name="sweep_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ordering = django_filters.OrderingFilter(
        fields=("created_at", "finished_at", "symbol", "status", "id"),
        help_text="Default -created_at; prefix a field with - for descending.",
    )

    class Meta:
        model = Backtest
        fields = (
            "status",
            "symbol",
            "timeframe",
            "strategy",
            "sweep",
            "created_after",
            "created_before",
        )


class SweepFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices)
    symbol = django_filters.CharFilter(method=_by_symbol, help_text="e.g. BTCUSDT or btc/usdt")
    timeframe = django_filters.ChoiceFilter(choices=TIMEFRAME_CHOICES)
    strategy = django_filters.NumberFilter(field_name="strategy_id")
    ordering = django_filters.OrderingFilter(fields=("created_at", "finished_at", "id"))

    class Meta:
        model = Sweep
        fields = ("status", "symbol", "timeframe", "strategy")
