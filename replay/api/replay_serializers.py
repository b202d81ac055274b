"""Replays API serializers: shapes only; replay.runs checks and writes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backtest.api.serializers import RunStatusField
from marketdata.models import DEFAULT_SOURCE
from replay import runs
from replay.api.transaction_serializers import DecimalTextField, NamedChoiceField, _absolute
from replay.models import ExecutionStatus, FillModel, ReplayExecution, ReplayRun, Side
from replay.selectors import replay_executions

MAX_TRANSACTION_IDS = 10_000
DETAIL_EXECUTIONS = 100  # executions shown in a run's detail; the rest are paged


def fill_field(**kwargs: Any) -> NamedChoiceField:
    return NamedChoiceField(
        enum_name="FillModelEnum",
        choices=FillModel.choices,
        help_text=(
            "The reference price taken from the candle containing each transaction: its "
            "open, close, typical price (high + low + close) / 3, or the worst of high "
            "and low for the side (a buy at the high, a sell at the low)."
        ),
        **kwargs,
    )


class ReplayOptionsSerializer(serializers.Serializer):
    """How to replay one transaction (POST /api/transactions/history/{id}/replay/)."""

    timeframe = serializers.CharField(
        required=False, default="1m", help_text="The candles to replay against (1m … 1M)."
    )
    fill = fill_field(required=False, default=FillModel.CLOSE)
    source = serializers.CharField(required=False, default=DEFAULT_SOURCE)


class ReplayRequestSerializer(ReplayOptionsSerializer):
    """Which of your transactions to replay (every filter optional, combined with AND)."""

    symbol = serializers.CharField(
        required=False, allow_blank=True, help_text="Only this symbol; default: every symbol."
    )
    start = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Transactions at or after this time."
    )
    end = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Transactions before this time (exclusive)."
    )
    transaction_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_empty=False,
        max_length=MAX_TRANSACTION_IDS,
        help_text=f"Only these transactions of yours (up to {MAX_TRANSACTION_IDS:,}).",
    )
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)

    def replay_request(self) -> runs.ReplayRequest:
        data = self.validated_data
        return runs.ReplayRequest(
            symbol=data.get("symbol") or None,
            timeframe=data["timeframe"],
            fill_model=data["fill"],
            start=data.get("start"),
            end=data.get("end"),
            transaction_ids=data.get("transaction_ids"),
            source=data["source"],
            name=data["name"],
        )


class ReplayLinksSerializer(serializers.Serializer):
    executions = serializers.URLField(help_text="Every execution, paged.")
    cancel = serializers.URLField()
    shares = serializers.URLField()
    ws = serializers.CharField(help_text="WebSocket path of the live progress.")


class ReplayRunSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    owner = serializers.CharField(source="owner.username", read_only=True)
    fill = fill_field(source="fill_model", read_only=True)
    source = serializers.SerializerMethodField()
    status = RunStatusField(read_only=True)

    class Meta:
        model = ReplayRun
        fields = (
            "id",
            "url",
            "owner",
            "name",
            "symbol",
            "timeframe",
            "fill",
            "source",
            "start_time",
            "end_time",
            "status",
            "progress",
            "error",
            "transaction_count",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, run: ReplayRun) -> str:
        return _absolute(self.context.get("request"), "replay-detail", run.pk)

    def get_source(self, run: ReplayRun) -> str:
        return run.parameters.get("source", DEFAULT_SOURCE)


class ReplayExecutionSerializer(serializers.ModelSerializer):
    """One transaction replayed: the real fill beside the candle's price under the run's
    fill model. Failed: no candle contains its time (`error` says which)."""

    transaction = serializers.IntegerField(source="transaction_history_id", read_only=True)
    transaction_id = serializers.CharField(
        source="transaction_history.transaction_id",
        read_only=True,
        help_text="The exchange's trade id.",
    )
    transaction_time = serializers.DateTimeField(
        source="transaction_history.transaction_time", read_only=True
    )
    symbol = serializers.CharField(source="transaction_history.symbol", read_only=True)
    side = NamedChoiceField(
        enum_name="TransactionSideEnum",
        choices=Side.choices,
        source="transaction_history.side",
        read_only=True,
    )
    quantity = DecimalTextField(source="transaction_history.quantity")
    price = DecimalTextField(source="transaction_history.price", help_text="The real price.")
    status = NamedChoiceField(
        enum_name="ReplayExecutionStatusEnum", choices=ExecutionStatus.choices, read_only=True
    )
    replay_price = DecimalTextField()
    slippage = DecimalTextField(
        help_text="Per unit; positive: the real fill was worse (a buy paid more, a sell "
        "received less)."
    )
    value_difference = DecimalTextField(
        help_text="Slippage times quantity, in the quote asset; positive: cost the trader."
    )
    candle = serializers.SerializerMethodField()
    fee_in_quote = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = ReplayExecution
        fields = (
            "id",
            "transaction",
            "transaction_id",
            "transaction_time",
            "symbol",
            "side",
            "quantity",
            "price",
            "status",
            "candle_time",
            "candle",
            "replay_price",
            "slippage",
            "slippage_pct",
            "value_difference",
            "fee_in_quote",
            "error",
            "executed_at",
        )
        read_only_fields = fields

    @extend_schema_field(
        serializers.DictField(
            child=serializers.FloatField(),
            allow_null=True,
            help_text="The candle's open, high, low and close.",
        )
    )
    def get_candle(self, execution: ReplayExecution) -> dict | None:
        return execution.result.get("candle")

    @extend_schema_field(
        serializers.FloatField(
            allow_null=True,
            help_text="The fee in the quote asset; null: none, or not convertible.",
        )
    )
    def get_fee_in_quote(self, execution: ReplayExecution) -> float | None:
        return execution.result.get("fee_in_quote")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error(self, execution: ReplayExecution) -> str | None:
        return execution.result.get("error")


class ReplayRunDetailSerializer(ReplayRunSerializer):
    """A run with its parameters, summary and first executions (all of them under
    `links.executions`)."""

    summary = serializers.JSONField(
        read_only=True,
        help_text="Counts, slippage and PnL per symbol, totals per quote asset "
        "(see docs/replay.md).",
    )
    transaction_ids = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()
    executions = serializers.SerializerMethodField()
    executions_truncated = serializers.SerializerMethodField()

    class Meta(ReplayRunSerializer.Meta):
        fields = (
            *ReplayRunSerializer.Meta.fields,
            "transaction_ids",
            "summary",
            "links",
            "executions",
            "executions_truncated",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField(), allow_null=True))
    def get_transaction_ids(self, run: ReplayRun) -> list[int] | None:
        return run.parameters.get("transaction_ids")

    @extend_schema_field(ReplayLinksSerializer)
    def get_links(self, run: ReplayRun) -> dict:
        request = self.context.get("request")
        return {
            "executions": _absolute(request, "replay-executions", run.pk),
            "cancel": _absolute(request, "replay-cancel", run.pk),
            "shares": _absolute(request, "replay-shares", run.pk),
            "ws": f"/ws/replays/{run.pk}/",
        }

    def _first_executions(self, run: ReplayRun) -> list[ReplayExecution]:
        if not hasattr(run, "_first_executions"):
            run._first_executions = list(replay_executions(run)[: DETAIL_EXECUTIONS + 1])
        return run._first_executions

    @extend_schema_field(ReplayExecutionSerializer(many=True))
    def get_executions(self, run: ReplayRun) -> list[dict]:
        first = self._first_executions(run)[:DETAIL_EXECUTIONS]
        return ReplayExecutionSerializer(first, many=True, context=self.context).data

    @extend_schema_field(
        serializers.BooleanField(
            help_text=f"More than {DETAIL_EXECUTIONS} executions: page through links.executions."
        )
    )
    def get_executions_truncated(self, run: ReplayRun) -> bool:
        return len(self._first_executions(run)) > DETAIL_EXECUTIONS


class BacktestReplaySerializer(serializers.Serializer):
    """Replay your fills of a backtest's symbol over its period, against its signals."""

    fill = fill_field(required=False, default=FillModel.CLOSE)
    timeframe = serializers.CharField(
        required=False, help_text="The candles to replay against; default: the backtest's."
    )
    tolerance_seconds = serializers.FloatField(
        required=False,
        help_text="How far a fill may be from a signal of its side and still follow it; "
        "default: one bar of the backtest's timeframe.",
    )
