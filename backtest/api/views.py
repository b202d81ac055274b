"""Backtest API: thin views over backtest.selectors (reads) and backtest.services (writes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.sharing import can_share
from backtest import equity_codec, reports, selectors, services, strategy_templates
from backtest.api import serializers as s
from backtest.api.filters import BacktestFilter, StrategyFilter, SweepFilter
from backtest.api.permissions import (
    CanEditStrategyOrReadOnly,
    CanManageBacktest,
    CanManageSweep,
    CanRunBacktestsOrReadOnly,
)
from backtest.engine.indicators import describe_catalogue
from backtest.models import Backtest, EquityCurve, RunStatus, Sweep
from central.api_errors import ERROR, Conflict, errors

READ_OR_RUN = (IsAuthenticated, CanRunBacktestsOrReadOnly)
BACKTEST_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The backtest's id.")
SWEEP_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The sweep's id.")
STRATEGY_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The strategy's id.")


@contextmanager
def _service_errors() -> Iterator[None]:
    """A service's refusals as HTTP answers: bad input 400 (every problem, nothing
    written), no permission 403, a strategy name taken meanwhile 400 on "name"."""
    try:
        with transaction.atomic():
            yield
    except services.InvalidBacktestInput as exc:
        raise ValidationError(s.problems_as_errors(exc.problems)) from None
    except services.NotAllowed as exc:
        raise PermissionDenied(str(exc)) from None
    except IntegrityError as exc:
        if "unique_strategy_name" not in str(exc):
            raise
        raise ValidationError({"name": ["you already have a strategy with this name"]}) from None


# --- Examples --------------------------------------------------------------------------

SMA_CROSS_RULES = {
    "entry_rules": {
        "long": {
            "left": {"indicator": "sma", "params": {"window": {"param": "fast"}}},
            "op": "crosses_above",
            "right": {"indicator": "sma", "params": {"window": {"param": "slow"}}},
        }
    },
    "exit_rules": {
        "long": {
            "left": {"indicator": "sma", "params": {"window": {"param": "fast"}}},
            "op": "crosses_below",
            "right": {"indicator": "sma", "params": {"window": {"param": "slow"}}},
        }
    },
    "config": {
        "parameters": {"fast": 10, "slow": 30},
        "direction": "long",
        "cash": 10000,
        "fee": 0.001,
        "sizing": {"mode": "fraction", "value": 1.0},
        "risk": {"stop_loss": 0.05},
    },
}
STRATEGY_EXAMPLE = OpenApiExample(
    "SMA cross (long only)",
    request_only=True,
    value={
        "name": "SMA 10/30 cross",
        "description": "Long while the 10-bar SMA is above the 30-bar SMA; 5 % stop.",
        **SMA_CROSS_RULES,
        "is_public": False,
    },
)
INVALID_STRATEGY_EXAMPLE = OpenApiExample(
    "Every problem at once",
    status_codes=["400"],
    response_only=True,
    value={
        "entry_rules.long.all[1].left.params.window": [
            "must be an integer ≥ 1 and ≤ 100000 (got 0)"
        ],
        "config.fee": ["must be a number ≥ 0 and < 1 (got 1.5)"],
    },
)
BACKTEST_REQUEST_EXAMPLE = OpenApiExample(
    "A saved strategy on 2024's hourly BTCUSDT",
    request_only=True,
    value={
        "strategy": 7,
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "start": "2024-01-01T00:00:00Z",
        "end": "2025-01-01T00:00:00Z",
        "parameters": {"fast": 12},
        "options": {"cash": 5000, "fee": 0.00075, "risk": {"take_profit": 0.1}},
    },
)
TEMPLATE_BACKTEST_EXAMPLE = OpenApiExample(
    "A template, no saved strategy",
    request_only=True,
    value={
        "template": "sma_cross",
        "params": {"fast": 10, "slow": 40},
        "symbol": "ETHUSDT",
        "timeframe": "4h",
    },
)
SWEEP_REQUEST_EXAMPLE = OpenApiExample(
    "Fast and slow windows, ranked by Sharpe ratio",
    request_only=True,
    value={
        "strategy": 7,
        "name": "SMA windows 2024",
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "start": "2024-01-01T00:00:00Z",
        "end": "2025-01-01T00:00:00Z",
        "grid": {"fast": [5, 10, 20], "slow": [50, 100]},
        "rank_metric": "sharpe_ratio",
        "options": {"fee": 0.001},
    },
)

# --- Strategies ------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(responses={200: s.StrategySerializer(many=True), **errors(400, 401)}),
    post=extend_schema(
        request=s.StrategySerializer,
        responses={201: s.StrategySerializer, **errors(400, 401, 403)},
        examples=[STRATEGY_EXAMPLE, INVALID_STRATEGY_EXAMPLE],
    ),
)
class StrategyListView(generics.ListCreateAPIView):
    """Strategies you own, were shared with, or that are public; create your own."""

    serializer_class = s.StrategySerializer
    permission_classes = READ_OR_RUN
    filterset_class = StrategyFilter

    def get_queryset(self):
        return selectors.visible_strategies(self.request.user)

    def perform_create(self, serializer: s.StrategySerializer) -> None:
        with _service_errors():
            serializer.instance = services.create_strategy(
                self.request.user, **serializer.validated_data
            )


@extend_schema_view(
    get=extend_schema(
        parameters=[STRATEGY_ID], responses={200: s.StrategySerializer, **errors(401, 404)}
    ),
    put=extend_schema(
        parameters=[STRATEGY_ID],
        responses={200: s.StrategySerializer, **errors(400, 401, 403, 404)},
        examples=[STRATEGY_EXAMPLE, INVALID_STRATEGY_EXAMPLE],
    ),
    patch=extend_schema(
        parameters=[STRATEGY_ID],
        responses={200: s.StrategySerializer, **errors(400, 401, 403, 404)},
    ),
    delete=extend_schema(parameters=[STRATEGY_ID], responses={204: None, **errors(401, 403, 404)}),
)
class StrategyDetailView(generics.RetrieveUpdateDestroyAPIView):
    """One strategy you can see; only its owner changes or deletes it (403 otherwise).

    Deleting a strategy keeps its backtests: each holds a snapshot of what it ran.
    """

    serializer_class = s.StrategySerializer
    permission_classes = (IsAuthenticated, CanEditStrategyOrReadOnly)

    def get_queryset(self):
        return selectors.visible_strategies(self.request.user)

    def perform_update(self, serializer: s.StrategySerializer) -> None:
        strategy, changes = serializer.instance, serializer.validated_data
        publishing = changes.get("is_public", strategy.is_public) != strategy.is_public
        if publishing and not can_share(self.request.user, strategy):
            # Making it public shares it with every analyst: the owner's decision.
            raise PermissionDenied("Only the strategy's owner may make it public or private.")
        with _service_errors():
            services.update_strategy(strategy, **changes)


class StrategyValidateView(APIView):
    """Check rules and config without saving. Always 200: the answer is the report."""

    @extend_schema(
        request=s.StrategyRulesSerializer,
        responses={200: s.ValidationReportSerializer, **errors(400, 401)},
        examples=[
            OpenApiExample("Rules to check", request_only=True, value=SMA_CROSS_RULES),
            OpenApiExample(
                "Two problems",
                response_only=True,
                value={
                    "valid": False,
                    "problems": [
                        {
                            "path": "entry_rules.long.left.params.window",
                            "message": "must be an integer ≥ 1 and ≤ 100000 (got 0)",
                        },
                        {
                            "path": "config.direction",
                            "message": 'must be one of long, short, both (got "up")',
                        },
                    ],
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        form = s.StrategyRulesSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        problems = services.validate_strategy_definition(form.validated_data)
        report = {
            "valid": not problems,
            "problems": [{"path": p.path, "message": p.message} for p in problems],
        }
        return Response(s.ValidationReportSerializer(report).data)


class StrategyTemplateListView(APIView):
    """Ready-made strategies: their parameters (with defaults) and the rules they make."""

    @extend_schema(responses={200: s.StrategyTemplateSerializer(many=True), **errors(401)})
    def get(self, request: Request) -> Response:
        templates = []
        for name, template in strategy_templates.TEMPLATES.items():
            definition = strategy_templates.template_strategy(name)
            templates.append(
                {
                    "name": name,
                    "title": template.title,
                    "description": template.description,
                    "parameters": definition["config"]["parameters"],
                    "entry_rules": definition["entry_rules"],
                    "exit_rules": definition["exit_rules"],
                    "config": definition["config"],
                }
            )
        return Response(s.StrategyTemplateSerializer(templates, many=True).data)


_INDICATORS = inline_serializer(
    "Indicator",
    {
        "name": serializers.CharField(),
        "description": serializers.CharField(),
        "inputs": serializers.ListField(child=serializers.CharField()),
        "params": serializers.ListField(child=serializers.DictField()),
        "default_lookback": serializers.IntegerField(),
    },
    many=True,
)


class IndicatorCatalogueView(APIView):
    """Every indicator a rule may use: its parameters (type, default, range), the
    price fields it reads and its warm-up at the defaults."""

    @extend_schema(responses={200: _INDICATORS, **errors(401)})
    def get(self, request: Request) -> Response:
        return Response(describe_catalogue())


class StrategyFromTemplateView(APIView):
    """A new strategy of yours, copied from a template with your parameter values."""

    permission_classes = READ_OR_RUN

    @extend_schema(
        request=s.FromTemplateSerializer,
        responses={201: s.StrategySerializer, **errors(400, 401, 403)},
        examples=[
            OpenApiExample(
                "SMA cross 5/20",
                request_only=True,
                value={
                    "template": "sma_cross",
                    "params": {"fast": 5, "slow": 20},
                    "name": "My SMA 5/20",
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        form = s.FromTemplateSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        with _service_errors():
            strategy = services.strategy_from_template(
                request.user, data["template"], data["params"], data.get("name")
            )
        return Response(
            s.StrategySerializer(strategy, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


# --- Backtests -------------------------------------------------------------------------


class PageSizePagination(PageNumberPagination):
    """Pages of 100 by default; `page_size` asks for up to 1000."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


def _visible_backtest(request: Request, pk: int) -> Backtest:
    return get_object_or_404(selectors.visible_backtests(request.user), pk=pk)


@extend_schema_view(
    get=extend_schema(responses={200: s.BacktestListSerializer(many=True), **errors(400, 401)}),
)
class BacktestListView(generics.ListAPIView):
    """Backtests you own or that were shared with you (sweep cells included), newest
    first; POST queues a new one (202)."""

    serializer_class = s.BacktestListSerializer
    permission_classes = READ_OR_RUN
    pagination_class = PageSizePagination
    filterset_class = BacktestFilter

    def get_queryset(self):
        return selectors.visible_backtests(self.request.user)

    @extend_schema(
        request=s.BacktestRequestSerializer,
        responses={202: s.BacktestSerializer, **errors(400, 401, 403)},
        examples=[
            BACKTEST_REQUEST_EXAMPLE,
            TEMPLATE_BACKTEST_EXAMPLE,
            OpenApiExample(
                "Problems with the request",
                status_codes=["400"],
                response_only=True,
                value={
                    "symbol": ["no DOGEUSDT 1h candles are stored (source binance)"],
                    "options.fee": ["must be a number ≥ 0 and < 1 (got 2)"],
                    "parameters.fsat": ["is not used by any rule (used: fast, slow)"],
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        form = s.BacktestRequestSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        with _service_errors():
            backtest = services.submit_backtest(request.user, form.backtest_request())
        return _accepted_run(request, backtest)


def _accepted_run(request: Request, backtest: Backtest) -> Response:
    backtest = selectors.visible_backtests(request.user).get(pk=backtest.pk)
    body = s.BacktestSerializer(backtest, context={"request": request}).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


@extend_schema_view(
    get=extend_schema(
        parameters=[BACKTEST_ID], responses={200: s.BacktestSerializer, **errors(401, 404)}
    )
)
class BacktestDetailView(generics.RetrieveAPIView):
    """One backtest: its request, state, performance summary and links to its results."""

    serializer_class = s.BacktestSerializer

    def get_queryset(self):
        return selectors.visible_backtests(self.request.user)


@extend_schema_view(
    get=extend_schema(
        parameters=[BACKTEST_ID], responses={200: s.TradeSerializer(many=True), **errors(401, 404)}
    )
)
class BacktestTradeListView(generics.ListAPIView):
    """A backtest's trades in entry order; `page_size` up to 1000 (default 100)."""

    serializer_class = s.TradeSerializer
    pagination_class = PageSizePagination
    filter_backends = ()

    def get_queryset(self):
        return selectors.backtest_trades(_visible_backtest(self.request, self.kwargs["pk"]))


class BacktestEquityView(APIView):
    """The equity curve with drawdown and exposure, thinned to at most ~max_points
    (each bucket keeps its first, lowest and highest bar, so peaks and troughs stay)."""

    @extend_schema(
        parameters=[BACKTEST_ID, s.EquityQuerySerializer],
        responses={
            200: s.EquitySerializer,
            409: OpenApiResponse(ERROR, description="The backtest has not completed."),
            **errors(400, 401, 404),
        },
        examples=[
            OpenApiExample(
                "Three points",
                response_only=True,
                value={
                    "bar_count": 8784,
                    "downsampled": True,
                    "points": [
                        {
                            "t": "2024-01-01T00:00:00Z",
                            "equity": 10000.0,
                            "drawdown": 0.0,
                            "exposure": 0.0,
                        },
                        {
                            "t": "2024-03-11T05:00:00Z",
                            "equity": 9412.5,
                            "drawdown": 0.0731,
                            "exposure": 1.0,
                        },
                        {
                            "t": "2024-12-31T23:00:00Z",
                            "equity": 11873.2,
                            "drawdown": 0.0125,
                            "exposure": 0.0,
                        },
                    ],
                },
            )
        ],
    )
    def get(self, request: Request, pk: int) -> Response:
        query = s.EquityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        backtest = _visible_backtest(request, pk)
        try:
            stored = backtest.equity_curve
        except EquityCurve.DoesNotExist:
            raise Conflict(
                f"backtest #{backtest.pk} is {backtest.status}: "
                "only a completed backtest has an equity curve"
            ) from None
        curve = equity_codec.decode(stored.timestamps, stored.equity, stored.exposure)
        picks = equity_codec.downsample(curve, query.validated_data["max_points"])
        times = np.datetime_as_string(
            curve.timestamp[picks].astype("datetime64[us]"), unit="s", timezone="UTC"
        )
        points = [
            {"t": t, "equity": e, "drawdown": d, "exposure": x}
            for t, e, d, x in zip(
                times.tolist(),
                curve.equity[picks].tolist(),
                equity_codec.drawdown(curve.equity, float(backtest.initial_balance))[
                    picks
                ].tolist(),
                curve.exposure[picks].astype(np.float64).tolist(),
                strict=True,
            )
        ]
        return Response(
            {
                "bar_count": stored.bar_count,
                "downsampled": len(picks) < len(curve),
                "points": points,
            }
        )


class BacktestCancelView(APIView):
    """Cancel a pending, queued or running backtest of yours."""

    permission_classes = (IsAuthenticated, CanManageBacktest)

    @extend_schema(
        parameters=[BACKTEST_ID],
        request=None,
        responses={
            200: s.BacktestSerializer,
            409: OpenApiResponse(ERROR, description="The backtest had already finished."),
            **errors(401, 403, 404),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        backtest = _visible_backtest(request, pk)
        self.check_object_permissions(request, backtest)
        if not services.cancel_backtest(backtest, actor=request.user, request=request):
            raise Conflict(f"backtest #{backtest.pk} has already finished ({backtest.status})")
        backtest = _visible_backtest(request, pk)
        return Response(s.BacktestSerializer(backtest, context={"request": request}).data)


class BacktestRerunView(APIView):
    """Queue a new run with the same strategy snapshot, data range and parameters."""

    permission_classes = (IsAuthenticated, CanRunBacktestsOrReadOnly, CanManageBacktest)

    @extend_schema(
        parameters=[BACKTEST_ID],
        request=None,
        responses={202: s.BacktestSerializer, **errors(401, 403, 404)},
    )
    def post(self, request: Request, pk: int) -> Response:
        backtest = _visible_backtest(request, pk)
        self.check_object_permissions(request, backtest)
        with _service_errors():
            copy = services.rerun_backtest(backtest, requested_by=request.user)
        return _accepted_run(request, copy)


class _ReportView(APIView):
    def perform_content_negotiation(self, request: Request, force: bool = False):
        # A report is not rendered by DRF; errors fall back to JSON whatever is accepted.
        return super().perform_content_negotiation(request, force=True)


class BacktestReportCsvView(_ReportView):
    """The trades as CSV (one row per trade, entry order), streamed."""

    @extend_schema(
        parameters=[BACKTEST_ID],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="Header: " + ",".join(reports.TRADE_CSV_COLUMNS),
            ),
            **errors(401, 404),
        },
    )
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        backtest = _visible_backtest(request, pk)
        response = StreamingHttpResponse(
            reports.csv_report_lines(backtest), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="backtest-{backtest.pk}-trades.csv"'
        )
        return response


class BacktestReportJsonView(_ReportView):
    """The run's summary (every metric, flat) and all its trades, as one JSON document."""

    @extend_schema(
        parameters=[BACKTEST_ID], responses={200: OpenApiTypes.OBJECT, **errors(401, 404)}
    )
    def get(self, request: Request, pk: int) -> Response:
        backtest = _visible_backtest(request, pk)
        return Response(
            reports.json_report(backtest),
            headers={
                "Content-Disposition": f'attachment; filename="backtest-{backtest.pk}-report.json"'
            },
        )


# --- Sweeps ----------------------------------------------------------------------------


def _sweeps_with_counts(request: Request) -> QuerySet[Sweep]:
    """Visible sweeps, each with its cells counted per status (`<status>_cells`)."""
    counts = {
        f"{status}_cells": Count("backtests", filter=Q(backtests__status=status))
        for status in RunStatus.values
    }
    return selectors.visible_sweeps(request.user).annotate(**counts).order_by("-created_at", "-id")


def _sweeps_with_cells(request: Request) -> QuerySet[Sweep]:
    cells = selectors.visible_backtests(request.user).order_by("id")
    return _sweeps_with_counts(request).prefetch_related(Prefetch("backtests", queryset=cells))


@extend_schema_view(
    get=extend_schema(responses={200: s.SweepSerializer(many=True), **errors(400, 401)}),
)
class SweepListView(generics.ListAPIView):
    """Parameter sweeps you own or that were shared with you; POST starts one (202)."""

    serializer_class = s.SweepSerializer
    permission_classes = READ_OR_RUN
    pagination_class = PageSizePagination
    filterset_class = SweepFilter

    def get_queryset(self):
        return _sweeps_with_counts(self.request)

    @extend_schema(
        request=s.SweepRequestSerializer,
        responses={202: s.SweepDetailSerializer, **errors(400, 401, 403)},
        examples=[SWEEP_REQUEST_EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        form = s.SweepRequestSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        with _service_errors():
            sweep = services.submit_sweep(
                request.user,
                form.backtest_request(),
                data["grid"],
                rank_metric=data["rank_metric"],
                name=data["name"],
            )
        sweep = _sweeps_with_cells(request).get(pk=sweep.pk)
        body = s.SweepDetailSerializer(sweep, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class SweepDetailView(generics.RetrieveAPIView):
    """One sweep with its cells ranked best first (`rank_metric` re-ranks)."""

    serializer_class = s.SweepDetailSerializer

    def get_queryset(self):
        return _sweeps_with_cells(self.request)

    def get_serializer_context(self) -> dict:
        query = s.SweepQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return {**super().get_serializer_context(), **query.validated_data}

    @extend_schema(
        parameters=[SWEEP_ID, s.SweepQuerySerializer],
        responses={200: s.SweepDetailSerializer, **errors(400, 401, 404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class SweepCancelView(APIView):
    """Cancel every unfinished cell of a sweep of yours."""

    permission_classes = (IsAuthenticated, CanManageSweep)

    @extend_schema(
        parameters=[SWEEP_ID],
        request=None,
        responses={
            200: s.SweepDetailSerializer,
            409: OpenApiResponse(ERROR, description="The sweep had already finished."),
            **errors(401, 403, 404),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        sweep = get_object_or_404(_sweeps_with_cells(request), pk=pk)
        self.check_object_permissions(request, sweep)
        if not services.cancel_sweep(sweep, actor=request.user, request=request):
            raise Conflict(f"sweep #{sweep.pk} has already finished ({sweep.status})")
        sweep = _sweeps_with_cells(request).get(pk=pk)
        return Response(s.SweepDetailSerializer(sweep, context={"request": request}).data)
