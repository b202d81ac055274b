"""Query filters of the replays API (applied to the selectors' querysets)."""

import django_filters

from backtest.api.filters import _by_symbol
from backtest.models import RunStatus
from marketdata.timeframes import TIMEFRAME_CHOICES
from replay.models import ExecutionStatus, FillModel, ReplayExecution, ReplayRun


class ReplayRunFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=RunStatus.choices, help_text="Repeat for several: ?status=queued&status=running"
    )
    symbol = django_filters.CharFilter(method=_by_symbol, help_text="e.g. BTCUSDT or btc/usdt")
    timeframe = django_filters.ChoiceFilter(choices=TIMEFRAME_CHOICES)
    fill = django_filters.ChoiceFilter(field_name="fill_model", choices=FillModel.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ReplayRun
        fields = ("status", "symbol", "timeframe", "fill", "created_after", "created_before")


class ReplayExecutionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[(s, s) for s in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED)],
        help_text="completed: replayed; failed: no candle for the transaction's time.",
    )

    class Meta:
        model = ReplayExecution
        fields = ("status",)
