"""Paper session API shapes: the start request is a backtest request without a range."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backtest.api.serializers import BacktestRequestSerializer
from backtest.models import PaperSession, PaperTrade
from backtest.paper import _to_datetime, session_summary


class PaperSessionRequestSerializer(BacktestRequestSerializer):
    """A saved strategy, or a template with parameters, to run forward on a series'
    closed candles (POST /api/backtests/'s body, without `start` and `end`)."""

    start = None
    end = None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        ranged = sorted({"start", "end"} & set(self.initial_data))
        if ranged:
            raise serializers.ValidationError(
                {
                    name: ["a paper session has no data range: it trades candles as they close"]
                    for name in ranged
                }
            )
        return super().validate(attrs)


class PaperTradeSerializer(serializers.ModelSerializer):
    class Meta:
        model = PaperTrade
        fields = (
            "id",
            "entry_time",
            "exit_time",
            "side",
            "quantity",
            "entry_price",
            "exit_price",
            "pnl",
            "pnl_percentage",
            "fees",
            "entry_reason",
            "exit_reason",
        )
        read_only_fields = fields


class PaperSessionSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    owner = serializers.CharField(source="owner.username", read_only=True)
    strategy_name = serializers.SerializerMethodField()
    killed_by = serializers.SerializerMethodField()
    # A plain string: another "status" enum would collide in the schema's components.
    status = serializers.CharField(
        read_only=True, help_text="running, stopped, halted (see halted_reason) or failed"
    )

    class Meta:
        model = PaperSession
        fields = (
            "id",
            "url",
            "owner",
            "strategy",
            "strategy_name",
            "symbol",
            "timeframe",
            "source",
            "status",
            "halted_reason",
            "killed_by",
            "error",
            "initial_balance",
            "equity",
            "parameters",
            "warm_up_bars",
            "bars_stepped",
            "last_timestamp",
            "created_at",
            "started_at",
            "stopped_at",
        )
        read_only_fields = fields

    def get_url(self, session: PaperSession) -> str:
        path = reverse("paper-session-detail", args=[session.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_strategy_name(self, session: PaperSession) -> str:
        return session.strategy_snapshot.get("name", "")

    def get_killed_by(self, session: PaperSession) -> str | None:
        return session.killed_by.username if session.killed_by else None


class PaperEquityPointSerializer(serializers.Serializer):
    t = serializers.DateTimeField()
    equity = serializers.FloatField()
    drawdown = serializers.FloatField(help_text="Fraction below the running peak.")
    exposure = serializers.FloatField()


class PaperSessionDetailSerializer(PaperSessionSerializer):
    """A session with its position, breakers, closed trades and equity per bar."""

    position = serializers.SerializerMethodField()
    metrics = serializers.DictField(
        read_only=True,
        help_text=(
            "A backtest's summary metrics (the same names and formulas) over the bars "
            "traded so far and the closed trades; updated after each step."
        ),
    )
    trades = PaperTradeSerializer(many=True, read_only=True)
    equity_curve = serializers.SerializerMethodField()

    class Meta(PaperSessionSerializer.Meta):
        fields = (
            *PaperSessionSerializer.Meta.fields,
            "position",
            "metrics",
            "trades",
            "equity_curve",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.DictField())
    def get_position(self, session: PaperSession) -> dict[str, Any]:
        return session_summary(session)

    @extend_schema_field(PaperEquityPointSerializer(many=True))
    def get_equity_curve(self, session: PaperSession) -> list[dict[str, Any]]:
        return [
            {
                "t": _to_datetime(t).isoformat().replace("+00:00", "Z"),
                "equity": equity,
                "drawdown": drawdown,
                "exposure": exposure,
            }
            for t, equity, drawdown, exposure in session.equity_points
        ]


class KillAllResultSerializer(serializers.Serializer):
    killed = serializers.ListField(child=serializers.IntegerField(), help_text="Session ids.")
