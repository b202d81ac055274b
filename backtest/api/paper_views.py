"""Paper session API: thin views over backtest.paper (reads through its selectors)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backtest import paper
from backtest.api import paper_serializers as ps
from backtest.api.views import PageSizePagination, _service_errors
from backtest.models import PaperSession
from central.api_errors import ERROR, Conflict, errors

SESSION_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The session's id.")

START_EXAMPLE = OpenApiExample(
    "A template on live hourly BTCUSDT",
    request_only=True,
    value={
        "template": "sma_cross",
        "params": {"fast": 10, "slow": 40},
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "options": {"cash": 5000, "risk": {"max_drawdown": 0.2, "daily_loss_limit": 0.05}},
    },
)
SESSION_EXAMPLE = OpenApiExample(
    "A running session",
    response_only=True,
    status_codes=["200", "201"],
    value={
        "id": 3,
        "url": "https://central.example/api/paper-sessions/3/",
        "owner": "ana",
        "strategy": None,
        "strategy_name": "SMA cross",
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "source": "binance",
        "status": "running",
        "halted_reason": "",
        "killed_by": None,
        "error": "",
        "initial_balance": "5000.00000000",
        "equity": "5123.40000000",
        "parameters": {"parameters": {"fast": 10, "slow": 40}, "cash": 5000.0, "fee": 0.001},
        "warm_up_bars": 41,
        "bars_stepped": 120,
        "last_timestamp": "2024-06-05T23:00:00Z",
        "created_at": "2024-06-01T00:12:03Z",
        "started_at": "2024-06-01T00:12:03Z",
        "stopped_at": None,
        "position": {
            "open_trade": None,
            "pending_order": None,
            "breakers": {"max_drawdown": False, "daily_loss_limit": False, "kill_switch": False},
            "cash": 5123.4,
        },
        "metrics": {
            "final_balance": 5123.4,
            "total_pnl": 123.4,
            "total_pnl_percentage": 2.468,
            "max_drawdown": 61.2,
            "max_drawdown_percentage": 1.19,
            "sharpe_ratio": 1.84,
            "total_trades": 4,
            "winning_trades": 3,
            "losing_trades": 1,
            "win_rate": 75.0,
            "profit_factor": 3.1,
            "fees_paid": 20.5,
        },
        "trades": [],
        "equity_curve": [
            {"t": "2024-06-05T23:00:00Z", "equity": 5123.4, "drawdown": 0.0, "exposure": 0.0}
        ],
    },
)


class CanStartSessionsOrReadOnly(BasePermission):
    message = "You need the 'add paper session' permission to start paper sessions."

    def has_permission(self, request, view) -> bool:
        return request.method == "GET" or paper.can_start_sessions(request.user)


class CanKillSessions(BasePermission):
    message = "Only operators may use the kill switch."

    def has_permission(self, request, view) -> bool:
        return paper.can_kill_sessions(request.user)


def _visible(request: Request, pk: int) -> PaperSession:
    return get_object_or_404(paper.visible_sessions(request.user), pk=pk)


def _body(request: Request, session: PaperSession, detail: bool = True) -> dict:
    session = paper.visible_sessions(request.user).prefetch_related("trades").get(pk=session.pk)
    serializer = ps.PaperSessionDetailSerializer if detail else ps.PaperSessionSerializer
    return serializer(session, context={"request": request}).data


class PaperSessionListView(generics.ListAPIView):
    """Paper sessions you own (operators: all), newest first; POST starts one (201),
    warmed up on the series' stored candles, then stepped on each closed live candle."""

    serializer_class = ps.PaperSessionSerializer
    permission_classes = (IsAuthenticated, CanStartSessionsOrReadOnly)
    pagination_class = PageSizePagination
    filter_backends = ()

    def get_queryset(self):
        return paper.visible_sessions(self.request.user)

    @extend_schema(responses={200: ps.PaperSessionSerializer(many=True), **errors(401)})
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ps.PaperSessionRequestSerializer,
        responses={201: ps.PaperSessionDetailSerializer, **errors(400, 401, 403)},
        examples=[
            START_EXAMPLE,
            SESSION_EXAMPLE,
            OpenApiExample(
                "Problems with the request",
                status_codes=["400"],
                response_only=True,
                value={
                    "symbol": ["no DOGEUSDT 1h candles are stored (source binance)"],
                    "strategy": [
                        "indicator obv is a running total over the whole history, so no "
                        "bounded window of recent bars reproduces it: paper trading cannot "
                        "run this strategy"
                    ],
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        form = ps.PaperSessionRequestSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        with _service_errors():
            session = paper.start_session(request.user, form.backtest_request())
        body = _body(request, session)
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class PaperSessionDetailView(APIView):
    """One session: its state, position and breakers, closed trades and equity per bar."""

    @extend_schema(
        parameters=[SESSION_ID],
        responses={200: ps.PaperSessionDetailSerializer, **errors(401, 404)},
        examples=[SESSION_EXAMPLE],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_body(request, _visible(request, pk)))


class PaperSessionStopView(APIView):
    """Stop a running session of yours (an open position stays as it is)."""

    @extend_schema(
        parameters=[SESSION_ID],
        request=None,
        responses={
            200: ps.PaperSessionDetailSerializer,
            409: OpenApiResponse(ERROR, description="The session is not running."),
            **errors(401, 404),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        session = get_object_or_404(paper.manageable_sessions(request.user), pk=pk)
        if not paper.stop_session(session, actor=request.user):
            raise Conflict(f"paper session #{session.pk} is not running ({session.status})")
        return Response(_body(request, session))


class PaperSessionKillView(APIView):
    """The kill switch (operators): close the position at the last close and halt."""

    @extend_schema(
        parameters=[SESSION_ID],
        request=None,
        responses={
            200: ps.PaperSessionDetailSerializer,
            409: OpenApiResponse(ERROR, description="The session is not running."),
            **errors(401, 403, 404),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        session = _visible(request, pk)
        if not paper.can_kill_sessions(request.user):
            raise PermissionDenied(CanKillSessions.message)
        with _service_errors():
            killed = paper.kill_session(session, request.user, request)
        if not killed:
            raise Conflict(f"paper session #{session.pk} is not running ({session.status})")
        return Response(_body(request, session))


class PaperSessionKillAllView(APIView):
    """The kill switch on every running session (operators)."""

    permission_classes = (IsAuthenticated, CanKillSessions)

    @extend_schema(
        request=None,
        responses={200: ps.KillAllResultSerializer, **errors(401, 403)},
        examples=[OpenApiExample("Two sessions killed", value={"killed": [3, 8]})],
    )
    def post(self, request: Request) -> Response:
        with _service_errors():
            killed = paper.kill_all(request.user, request)
        return Response({"killed": killed})
