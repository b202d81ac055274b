"""Query filters of the market-data API."""

import django_filters
from django.db.models import QuerySet

from marketdata.models import SyncRun
from marketdata.services import InvalidParameter, normalise_symbol
from marketdata.timeframes import TIMEFRAME_CHOICES


class SyncRunFilter(django_filters.FilterSet):
    symbol = django_filters.CharFilter(method="filter_symbol", help_text="e.g. BTCUSDT or btc/usdt")
    status = django_filters.ChoiceFilter(choices=SyncRun.Status.choices)
    trigger = django_filters.ChoiceFilter(choices=SyncRun.Trigger.choices)
    timeframe = django_filters.ChoiceFilter(choices=TIMEFRAME_CHOICES)

    class Meta:
        model = SyncRun
        fields = ("symbol", "status", "trigger", "timeframe")

    def filter_symbol(self, queryset: QuerySet[SyncRun], name: str, value: str) -> QuerySet:
        try:
            return queryset.filter(symbol__name=normalise_symbol(value))
        except InvalidParameter:
            return queryset.none()
