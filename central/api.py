"""Project-level API views (the apps' APIs live in each app's api/ package)."""

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from central.health import platform_health

_component = inline_serializer(
    "HealthComponent",
    {
        "name": serializers.CharField(),
        "ok": serializers.BooleanField(),
        "detail": serializers.CharField(),
    },
)


# The API's entry points: response key -> URL name.
ENTRY_POINTS = {
    "health": "health",
    "schema": "api-schema",
    "docs": "api-docs",
    "market_data_symbols": "marketdata-symbols",
    "market_data_timeframes": "marketdata-timeframes",
    "market_data_import": "marketdata-import",
    "market_data_sync": "marketdata-sync",
    "market_data_sync_runs": "marketdata-sync-runs",
    "strategies": "strategy-list",
    "strategy_templates": "strategy-templates",
    "indicators": "indicator-catalogue",
    "audit_events": "audit-event-list",
    "credentials": "credential-list",
    "tokens": "token-list",
    "strategy_validate": "strategy-validate",
    "backtests": "backtest-list",
    "sweeps": "sweep-list",
    "replays": "replay-list",
}


class ApiRootView(APIView):
    """The API's entry points, for integrators finding their way."""

    permission_classes = (AllowAny,)

    @extend_schema(
        responses={
            200: inline_serializer("ApiRoot", {key: serializers.URLField() for key in ENTRY_POINTS})
        }
    )
    def get(self, request: Request) -> Response:
        return Response({key: reverse(name, request=request) for key, name in ENTRY_POINTS.items()})


_health_report = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(choices=["ok", "down"]),
        "down": serializers.ListField(child=serializers.CharField()),
        "components": serializers.DictField(child=_component),
    },
)


class HealthView(APIView):
    """Database, Redis, Celery worker and disk: 200 when all are up, 503 naming what is down."""

    permission_classes = (AllowAny,)
    authentication_classes = ()
    throttle_classes = ()

    @extend_schema(
        responses={200: _health_report, 503: _health_report},
        examples=[
            OpenApiExample(
                "A worker is down",
                status_codes=["503"],
                response_only=True,
                value={
                    "status": "down",
                    "down": ["celery"],
                    "components": {
                        "celery": {
                            "name": "celery",
                            "ok": False,
                            "detail": "no worker answered the ping",
                        }
                    },
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        report = platform_health()
        code = status.HTTP_200_OK if not report["down"] else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(report, status=code)
