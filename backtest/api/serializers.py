"""Backtest API serializers: shapes only; checks of rules and requests live in services."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from backtest import reports, services, validators
from backtest.models import Backtest, PerformanceSummary, RunStatus, Strategy, Sweep, Trade
from backtest.persistence import SUMMARY_COLUMNS
from backtest.selectors import visible_strategies
from backtest.sweep_ranking import RankedCell, sweep_ranking
from backtest.validators import Problem
from marketdata.models import DEFAULT_SOURCE


def problems_as_errors(problems: list[Problem]) -> dict[str, list[str]]:
    """Problems as a DRF error body: {"<json path>": ["message", ...], ...}."""
    body: dict[str, list[str]] = {}
    for problem in problems:
        body.setdefault(problem.path or api_settings.NON_FIELD_ERRORS_KEY, []).append(
            problem.message
        )
    return body


def _absolute(request, name: str, pk: int) -> str:
    path = reverse(name, args=[pk])
    return request.build_absolute_uri(path) if request is not None else path


class RunStatusField(serializers.ChoiceField):
    """A backtest's or a sweep's status (the RunStatusEnum schema component)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=RunStatus.choices, **kwargs)


class RunStatusFieldSchema(OpenApiSerializerFieldExtension):
    """One named enum component for every run status field.

    Left to drf-spectacular, the choice set would be named after the field, `status`,
    which the market-data sync runs already use for another set: a naming collision
    the schema generator warns about.
    """

    target_class = RunStatusField

    def map_serializer_field(self, auto_schema, direction) -> dict:
        component = ResolvedComponent(
            name="RunStatusEnum",
            type=ResolvedComponent.SCHEMA,
            object="RunStatusEnum",
            schema={"type": "string", "enum": list(RunStatus.values)},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


# --- Strategies ------------------------------------------------------------------------


class StrategySerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    config = serializers.JSONField(
        required=False,
        help_text="parameters, direction, fill, fee, slippage, cash, sizing, risk.",
    )
    entry_rules = serializers.JSONField(help_text='{"long": condition, "short": condition}')
    exit_rules = serializers.JSONField(required=False)

    class Meta:
        model = Strategy
        fields = (
            "id",
            "owner",
            "name",
            "description",
            "config",
            "entry_rules",
            "exit_rules",
            "is_active",
            "is_public",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "owner", "created_at", "updated_at")


class StrategyRulesSerializer(serializers.Serializer):
    """What POST /api/strategies/validate/ checks (a strategy's rules and config)."""

    entry_rules = serializers.JSONField(required=False, allow_null=True)
    exit_rules = serializers.JSONField(required=False, allow_null=True)
    config = serializers.JSONField(required=False, allow_null=True)


class ProblemSerializer(serializers.Serializer):
    path = serializers.CharField(help_text='e.g. "entry_rules.long.all[1].left.params.window"')
    message = serializers.CharField()


class ValidationReportSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    problems = ProblemSerializer(many=True)


class StrategyTemplateSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="What to pass as `template`.")
    title = serializers.CharField(help_text="The default name of a strategy made from it.")
    description = serializers.CharField()
    parameters = serializers.DictField(help_text="The template's parameters with their defaults.")
    entry_rules = serializers.JSONField()
    exit_rules = serializers.JSONField()
    config = serializers.JSONField()


class FromTemplateSerializer(serializers.Serializer):
    template = serializers.CharField(help_text="A name from GET /api/strategies/templates/.")
    params = serializers.DictField(
        required=False, default=dict, help_text="Values for the template's parameters."
    )
    name = serializers.CharField(
        required=False, max_length=200, help_text="Default: the template's title."
    )


# --- Backtests -------------------------------------------------------------------------


class BacktestRequestSerializer(serializers.Serializer):
    """A run of a saved strategy, or of a template with parameters, on a data range."""

    strategy = serializers.PrimaryKeyRelatedField(
        queryset=Strategy.objects.none(),
        required=False,
        allow_null=True,
        help_text="Id of a strategy you can see. Give this or `template`.",
        error_messages={"does_not_exist": "no strategy #{pk_value} that you can see"},
    )
    template = serializers.CharField(required=False, allow_null=True)
    params = serializers.DictField(
        required=False, default=dict, help_text="The template's parameters (with `template`)."
    )
    symbol = serializers.CharField(help_text="e.g. BTCUSDT (btc/usdt is normalised)")
    timeframe = serializers.CharField(help_text="1m … 1M")
    source = serializers.CharField(required=False, default=DEFAULT_SOURCE)
    start = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Inclusive; default: first stored candle."
    )
    end = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Exclusive; default: last stored candle."
    )
    parameters = serializers.DictField(
        required=False, default=dict, help_text='Rule parameter overrides, e.g. {"fast": 8}.'
    )
    options = serializers.DictField(
        required=False,
        default=dict,
        help_text="Engine overrides: direction, cash, fee, slippage, fill, sizing, risk.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["strategy"].queryset = visible_strategies(request.user)

    def backtest_request(self) -> services.BacktestRequest:
        data = self.validated_data
        return services.BacktestRequest(
            symbol=data["symbol"],
            timeframe=data["timeframe"],
            strategy=data.get("strategy"),
            template=data.get("template"),
            # A template's parameters are rule parameters: the run's overrides win.
            parameters={**data["params"], **data["parameters"]},
            options=data["options"],
            source=data["source"],
            start=data.get("start"),
            end=data.get("end"),
        )


class PerformanceSummarySerializer(serializers.ModelSerializer):
    """The design's summary columns (Decimal, as strings) and every metric as computed."""

    metrics = serializers.JSONField(help_text="Every metric as computed, as JSON numbers.")

    class Meta:
        model = PerformanceSummary
        fields = (*SUMMARY_COLUMNS, "metrics")
        read_only_fields = fields


class BacktestLinksSerializer(serializers.Serializer):
    trades = serializers.URLField()
    equity = serializers.URLField()
    report_csv = serializers.URLField()
    report_json = serializers.URLField()
    ws = serializers.CharField(help_text="WebSocket path of the live progress.")


class BacktestListSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    owner = serializers.CharField(source="owner.username", read_only=True)
    status = RunStatusField(read_only=True)

    class Meta:
        model = Backtest
        fields = (
            "id",
            "url",
            "owner",
            "strategy",
            "sweep",
            "symbol",
            "timeframe",
            "source",
            "start_time",
            "end_time",
            "initial_balance",
            "final_balance",
            "status",
            "progress",
            "error",
            "created_at",
            "finished_at",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, backtest: Backtest) -> str:
        return _absolute(self.context.get("request"), "backtest-detail", backtest.pk)


class BacktestSerializer(BacktestListSerializer):
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    summary = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta(BacktestListSerializer.Meta):
        fields = (
            *BacktestListSerializer.Meta.fields,
            "strategy_snapshot",
            "parameters",
            "reproducibility_hash",
            "metadata",
            "queued_at",
            "started_at",
            "duration_seconds",
            "summary",
            "links",
        )
        read_only_fields = fields

    @extend_schema_field(PerformanceSummarySerializer(allow_null=True))
    def get_summary(self, backtest: Backtest) -> dict | None:
        if backtest.status != RunStatus.COMPLETED:
            return None
        try:
            summary = backtest.performance_summary
        except PerformanceSummary.DoesNotExist:
            return None
        return PerformanceSummarySerializer(summary).data

    @extend_schema_field(BacktestLinksSerializer)
    def get_links(self, backtest: Backtest) -> dict:
        request = self.context.get("request")
        return {
            "trades": _absolute(request, "backtest-trades", backtest.pk),
            "equity": _absolute(request, "backtest-equity", backtest.pk),
            "report_csv": _absolute(request, "backtest-report-csv", backtest.pk),
            "report_json": _absolute(request, "backtest-report-json", backtest.pk),
            "ws": f"/ws/backtests/{backtest.pk}/",
        }


class TradeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Trade
        fields = ("id", *reports.TRADE_CSV_COLUMNS, "metadata")
        read_only_fields = fields


class EquityQuerySerializer(serializers.Serializer):
    max_points = serializers.IntegerField(
        required=False,
        default=2000,
        min_value=10,
        max_value=20000,
        help_text="At most about this many points (10 to 20000); the curve is thinned above.",
    )


class EquityPointSerializer(serializers.Serializer):
    t = serializers.DateTimeField()
    equity = serializers.FloatField()
    drawdown = serializers.FloatField(help_text="Fraction below the running peak (0.1 = 10 %).")
    exposure = serializers.FloatField()


class EquitySerializer(serializers.Serializer):
    bar_count = serializers.IntegerField(help_text="Bars in the stored curve.")
    downsampled = serializers.BooleanField()
    points = EquityPointSerializer(many=True)


# --- Sweeps ----------------------------------------------------------------------------


class SweepRequestSerializer(BacktestRequestSerializer):
    grid = serializers.DictField(help_text='Parameter name -> values, e.g. {"fast": [5, 10]}.')
    rank_metric = serializers.CharField(required=False, default="sharpe_ratio")
    name = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)


class RankedCellSerializer(serializers.Serializer):
    rank = serializers.IntegerField(allow_null=True, help_text="1 = best; null: no value.")
    backtest = serializers.IntegerField(source="backtest.pk")
    url = serializers.SerializerMethodField()
    parameters = serializers.DictField(help_text="The cell's grid values.")
    status = RunStatusField(source="backtest.status", read_only=True)
    value = serializers.FloatField(allow_null=True, help_text="The rank metric's value.")
    total_pnl_percentage = serializers.FloatField(
        source="headline.total_pnl_percentage", allow_null=True
    )
    sharpe_ratio = serializers.FloatField(source="headline.sharpe_ratio", allow_null=True)
    max_drawdown_percentage = serializers.FloatField(
        source="headline.max_drawdown_percentage", allow_null=True
    )
    total_trades = serializers.IntegerField(source="headline.total_trades", allow_null=True)

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, cell: RankedCell) -> str:
        return _absolute(self.context.get("request"), "backtest-detail", cell.backtest.pk)


class SweepSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    owner = serializers.CharField(source="owner.username", read_only=True)
    status = RunStatusField(read_only=True)
    progress = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()

    class Meta:
        model = Sweep
        fields = (
            "id",
            "url",
            "owner",
            "strategy",
            "name",
            "symbol",
            "timeframe",
            "source",
            "start_time",
            "end_time",
            "grid",
            "options",
            "rank_metric",
            "status",
            "cell_count",
            "progress",
            "counts",
            "error",
            "created_at",
            "finished_at",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, sweep: Sweep) -> str:
        return _absolute(self.context.get("request"), "sweep-detail", sweep.pk)

    @extend_schema_field(
        serializers.DictField(
            child=serializers.IntegerField(), help_text="Cells per status, every status listed."
        )
    )
    def get_counts(self, sweep: Sweep) -> dict[str, int]:
        return {status: getattr(sweep, f"{status}_cells") for status in RunStatus.values}

    @extend_schema_field(
        serializers.FloatField(help_text="Finished cells (any outcome) in percent, 0 to 100.")
    )
    def get_progress(self, sweep: Sweep) -> float:
        if not sweep.cell_count:
            return 0.0
        counts = self.get_counts(sweep)
        done = counts["completed"] + counts["failed"] + counts["cancelled"]
        return round(done / sweep.cell_count * 100, 2)


class SweepDetailSerializer(SweepSerializer):
    """A sweep with its cells ranked: the list leaves the ranking out (a page of large
    sweeps would load every cell)."""

    ranking = serializers.SerializerMethodField()

    class Meta(SweepSerializer.Meta):
        fields = (*SweepSerializer.Meta.fields, "ranking")
        read_only_fields = fields

    @extend_schema_field(RankedCellSerializer(many=True))
    def get_ranking(self, sweep: Sweep) -> list[dict]:
        metric = self.context.get("rank_metric") or sweep.rank_metric
        return RankedCellSerializer(
            sweep_ranking(sweep, metric), many=True, context=self.context
        ).data


class SweepQuerySerializer(serializers.Serializer):
    rank_metric = serializers.CharField(
        required=False, help_text="Rank the cells by this metric instead of the sweep's own."
    )

    def validate_rank_metric(self, metric: str) -> str:
        if metric not in validators.RANKABLE_METRICS:
            known = ", ".join(validators.RANKABLE_METRICS)
            raise serializers.ValidationError(f"unknown metric {metric!r}; use one of {known}")
        return metric
