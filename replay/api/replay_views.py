"""Replays API: thin views over replay.selectors (reads) and replay.runs (writes).

Reading is for every signed-in user, over what the selectors show them (someone else's
run answers 404, as if it did not exist). Starting a replay takes the analyst's
`replay.add_replayrun` (viewers get 403) and replays only the caller's own
transactions: a transaction they can see but do not own (an import shared with them,
or any transaction for an operator) answers 403, one they cannot see 404. Cancelling
takes the run's owner, a share for change, or an operator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backtest.api.serializers import problems_as_errors
from backtest.api.views import PageSizePagination
from backtest.selectors import visible_backtests
from backtest.services import NotAllowed
from central.api_errors import ERROR, Conflict, errors
from replay import runs, selectors
from replay.api import replay_serializers as s
from replay.api.replay_filters import ReplayExecutionFilter, ReplayRunFilter
from replay.models import ReplayExecution, ReplayRun

REPLAY_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The replay's id.")
TRANSACTION_ID = OpenApiParameter(
    "id", int, OpenApiParameter.PATH, description="The transaction's id."
)


class CanRunReplaysOrReadOnly(BasePermission):
    message = "You need the 'add replay run' permission (analysts) to replay transactions."

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or selectors.can_run_replays(request.user)


class CanManageReplay(BasePermission):
    message = "Only the replay's owner, those it is shared with for change, and operators may."

    def has_object_permission(self, request, view, obj) -> bool:
        return selectors.manageable_replay_runs(request.user).filter(pk=obj.pk).exists()


READ_OR_RUN = (IsAuthenticated, CanRunReplaysOrReadOnly)


@contextmanager
def _service_errors() -> Iterator[None]:
    """The service's refusals as HTTP answers: bad input 400 (every problem, each under
    its parameter; nothing written), no permission 403."""
    try:
        yield
    except runs.InvalidReplayInput as exc:
        raise ValidationError(problems_as_errors(exc.problems)) from None
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from None


def _visible_run(request: Request, pk: int) -> ReplayRun:
    return get_object_or_404(selectors.visible_replay_runs(request.user), pk=pk)


def _accepted(request: Request, run: ReplayRun) -> Response:
    run = selectors.visible_replay_runs(request.user).get(pk=run.pk)
    body = s.ReplayRunDetailSerializer(run, context={"request": request}).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


# --- Examples --------------------------------------------------------------------------

REPLAY_REQUEST_EXAMPLE = OpenApiExample(
    "January's BTCUSDT fills against minute candles, at the close",
    request_only=True,
    value={
        "symbol": "BTCUSDT",
        "timeframe": "1m",
        "fill": "close",
        "start": "2024-01-01T00:00:00Z",
        "end": "2024-02-01T00:00:00Z",
    },
)
REPLAY_IDS_EXAMPLE = OpenApiExample(
    "Three chosen fills, at the worst price of their candle",
    request_only=True,
    value={"transaction_ids": [41, 42, 57], "fill": "worst", "name": "worst case"},
)
INVALID_REPLAY_EXAMPLE = OpenApiExample(
    "Problems with the request",
    status_codes=["400"],
    response_only=True,
    value={
        "timeframe": ["unknown timeframe '7m'; use one of 1m, 3m, 5m, 15m, 30m, 1h, …"],
        "transaction_ids": ["not transactions of yours: #99"],
    },
)
EXECUTION_EXAMPLE = {
    "id": 9001,
    "transaction": 41,
    "transaction_id": "3387562114",
    "transaction_time": "2024-01-15T08:30:12Z",
    "symbol": "BTCUSDT",
    "side": "buy",
    "quantity": "0.0015",
    "price": "42912.5",
    "status": "completed",
    "candle_time": "2024-01-15T08:30:00Z",
    "candle": {"open": 42890.0, "high": 42930.1, "low": 42885.2, "close": 42900.0},
    "replay_price": "42900",
    "slippage": "12.5",
    "slippage_pct": 0.029137529137529136,
    "value_difference": "0.01875",
    "fee_in_quote": 0.0643,
    "error": None,
    "executed_at": "2024-03-01T10:00:04Z",
}
FAILED_EXECUTION_EXAMPLE = {
    **EXECUTION_EXAMPLE,
    "id": 9002,
    "transaction": 42,
    "transaction_time": "2024-01-15T08:31:40Z",
    "status": "failed",
    "candle_time": None,
    "candle": None,
    "replay_price": None,
    "slippage": None,
    "slippage_pct": None,
    "value_difference": None,
    "fee_in_quote": None,
    "error": "no candle for 2024-01-15T08:31:40Z",
}
_PNL = {"realised_pnl": 12.4, "unrealised_pnl": 3.1, "fees": 0.52, "net_pnl": 14.98}
_REPLAYED_PNL = {"realised_pnl": 13.0, "unrealised_pnl": 3.2, "fees": 0.52, "net_pnl": 15.68}
_DIFFERENCE = {"realised_pnl": 0.6, "unrealised_pnl": 0.1, "net_pnl": 0.7}
RUN_EXAMPLE = {
    "id": 12,
    "url": "https://central.example/api/replays/12/",
    "owner": "ana",
    "name": "",
    "symbol": "BTCUSDT",
    "timeframe": "1m",
    "fill": "close",
    "source": "binance",
    "start_time": "2024-01-01T00:00:00Z",
    "end_time": "2024-02-01T00:00:00Z",
    "status": "completed",
    "progress": 100.0,
    "error": "",
    "transaction_count": 2,
    "created_at": "2024-03-01T10:00:01Z",
    "started_at": "2024-03-01T10:00:02Z",
    "finished_at": "2024-03-01T10:00:04Z",
    "transaction_ids": None,
    "summary": {
        "transactions": 2,
        "completed": 1,
        "failed": 1,
        "fill_model": "close",
        "timeframe": "1m",
        "source": "binance",
        "marked_at": "2024-02-01T00:00:00Z",
        "symbols_without_candles": [],
        "symbols": {
            "BTCUSDT": {
                "quote_asset": "USDT",
                "transactions": 2,
                "completed": 1,
                "failed": 1,
                "value_difference": 0.7,
                "mean_slippage_pct": 0.0291,
                "real": _PNL,
                "replayed": _REPLAYED_PNL,
                "difference": _DIFFERENCE,
                "open_quantity": 0.0015,
                "mark": {"time": "2024-01-31T23:59:00Z", "price": 42580.0},
                "fees_unconverted": {},
            }
        },
        "total": {
            "USDT": {
                "transactions": 2,
                "completed": 1,
                "failed": 1,
                "value_difference": 0.7,
                "real": _PNL,
                "replayed": _REPLAYED_PNL,
                "difference": _DIFFERENCE,
                "fees_unconverted": {},
            }
        },
        "timings": {"load_transactions": 0.004, "match": 0.03, "write_executions": 0.002},
    },
    "links": {
        "executions": "https://central.example/api/replays/12/executions/",
        "cancel": "https://central.example/api/replays/12/cancel/",
        "shares": "https://central.example/api/replays/12/shares/",
        "ws": "/ws/replays/12/",
    },
    "executions": [EXECUTION_EXAMPLE, FAILED_EXECUTION_EXAMPLE],
    "executions_truncated": False,
}
RUN_RESPONSE_EXAMPLE = OpenApiExample(
    "A completed run", response_only=True, status_codes=["200"], value=RUN_EXAMPLE
)


# --- Views -----------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(responses={200: s.ReplayRunSerializer(many=True), **errors(400, 401)}),
)
class ReplayListView(generics.ListAPIView):
    """Replays you own or that were shared with you (operators: all), newest first;
    POST starts one over your transactions (202)."""

    serializer_class = s.ReplayRunSerializer
    permission_classes = READ_OR_RUN
    pagination_class = PageSizePagination
    filterset_class = ReplayRunFilter

    def get_queryset(self):
        return selectors.visible_replay_runs(self.request.user)

    @extend_schema(
        request=s.ReplayRequestSerializer,
        responses={202: s.ReplayRunDetailSerializer, **errors(400, 401, 403)},
        examples=[REPLAY_REQUEST_EXAMPLE, REPLAY_IDS_EXAMPLE, INVALID_REPLAY_EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        form = s.ReplayRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        with _service_errors():
            run = runs.submit_replay(request.user, form.replay_request(), request)
        return _accepted(request, run)


@extend_schema_view(
    get=extend_schema(
        parameters=[REPLAY_ID],
        responses={200: s.ReplayRunDetailSerializer, **errors(401, 404)},
        examples=[RUN_RESPONSE_EXAMPLE],
    )
)
class ReplayDetailView(generics.RetrieveAPIView):
    """One replay: its request, state, summary and first executions."""

    serializer_class = s.ReplayRunDetailSerializer

    def get_queryset(self):
        return selectors.visible_replay_runs(self.request.user)


@extend_schema_view(
    get=extend_schema(
        parameters=[REPLAY_ID],
        responses={200: s.ReplayExecutionSerializer(many=True), **errors(400, 401, 404)},
        examples=[
            OpenApiExample(
                "A replayed fill and one without a candle",
                response_only=True,
                value=[EXECUTION_EXAMPLE, FAILED_EXECUTION_EXAMPLE],
            )
        ],
    )
)
class ReplayExecutionListView(generics.ListAPIView):
    """A replay's executions in transaction time order; `page_size` up to 1000
    (default 100); `status=failed` lists the transactions without a candle."""

    serializer_class = s.ReplayExecutionSerializer
    pagination_class = PageSizePagination
    filterset_class = ReplayExecutionFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator's dry run
            return ReplayExecution.objects.none()
        return selectors.replay_executions(_visible_run(self.request, self.kwargs["pk"]))


class ReplayCancelView(APIView):
    """Cancel a pending, queued or running replay; it keeps nothing."""

    permission_classes = (IsAuthenticated, CanManageReplay)

    @extend_schema(
        parameters=[REPLAY_ID],
        request=None,
        responses={
            200: s.ReplayRunDetailSerializer,
            409: OpenApiResponse(ERROR, description="The replay had already finished."),
            **errors(401, 403, 404),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        run = _visible_run(request, pk)
        self.check_object_permissions(request, run)
        if not runs.cancel_replay(run, actor=request.user, request=request):
            raise Conflict(f"replay #{run.pk} has already finished ({run.status})")
        run = _visible_run(request, pk)
        return Response(s.ReplayRunDetailSerializer(run, context={"request": request}).data)


class TransactionReplayView(APIView):
    """Replay one of your transactions: a new run of that one transaction (202)."""

    permission_classes = (IsAuthenticated, CanRunReplaysOrReadOnly)

    @extend_schema(
        parameters=[TRANSACTION_ID],
        request=s.ReplayOptionsSerializer,
        responses={202: s.ReplayRunDetailSerializer, **errors(400, 401, 403, 404)},
        examples=[
            OpenApiExample(
                "At the open of its hourly candle",
                request_only=True,
                value={"timeframe": "1h", "fill": "open"},
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        transaction_row = get_object_or_404(selectors.visible_transactions(request.user), pk=pk)
        if not selectors.own_transactions(request.user).filter(pk=pk).exists():
            raise PermissionDenied("Only the transaction's owner may replay it.")
        form = s.ReplayOptionsSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        options = form.validated_data
        with _service_errors():
            run = runs.replay_transaction(
                request.user,
                transaction_row,
                timeframe=options["timeframe"],
                fill_model=options["fill"],
                source=options["source"],
                http_request=request,
            )
        return _accepted(request, run)


class BacktestReplayView(APIView):
    """Replay your fills of a backtest's symbol over its period (202): the run's summary
    gains a "comparison" with the backtest's signals (matched fills, missed signals,
    timing, PnL real versus strategy). Any backtest you can see; another's answers 404."""

    permission_classes = (IsAuthenticated, CanRunReplaysOrReadOnly)

    @extend_schema(
        parameters=[
            OpenApiParameter("id", int, OpenApiParameter.PATH, description="The backtest's id.")
        ],
        request=s.BacktestReplaySerializer,
        responses={202: s.ReplayRunDetailSerializer, **errors(400, 401, 403, 404)},
        examples=[
            OpenApiExample(
                "Within five minutes of a signal, at the candle's open",
                request_only=True,
                value={"fill": "open", "tolerance_seconds": 300},
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        backtest = get_object_or_404(visible_backtests(request.user), pk=pk)
        form = s.BacktestReplaySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        options = form.validated_data
        with _service_errors():
            run = runs.submit_backtest_replay(
                request.user,
                backtest,
                fill_model=options["fill"],
                timeframe=options.get("timeframe"),
                tolerance_seconds=options.get("tolerance_seconds"),
                http_request=request,
            )
        return _accepted(request, run)
