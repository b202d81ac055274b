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


class ApiRootView(APIView):
    """The API's entry points, for integrators finding their way."""

    permission_classes = (AllowAny,)

    @extend_schema(
        responses={
            200: inline_serializer(
                "ApiRoot",
                {
                    "health": serializers.URLField(),
                    "schema": serializers.URLField(),
                    "docs": serializers.URLField(),
                    "market_data_symbols": serializers.URLField(),
                    "market_data_import": serializers.URLField(),
                    "market_data_sync": serializers.URLField(),
                    "market_data_sync_runs": serializers.URLField(),
                },
            )
        }
    )
    def get(self, request: Request) -> Response:
        names = {
            "health": "health",
            "schema": "api-schema",
            "docs": "api-docs",
            "market_data_symbols": "marketdata-symbols",
            "market_data_import": "marketdata-import",
            "market_data_sync": "marketdata-sync",
            "market_data_sync_runs": "marketdata-sync-runs",
        }
        return Response({key: reverse(name, request=request) for key, name in names.items()})


class HealthView(APIView):
    """Database, Redis, Celery worker and disk: 200 when all are up, 503 naming what is down."""

    permission_classes = (AllowAny,)
    authentication_classes = ()
    throttle_classes = ()

    @extend_schema(
        responses={
            200: inline_serializer(
                "Health",
                {
                    "status": serializers.ChoiceField(choices=["ok", "down"]),
                    "down": serializers.ListField(child=serializers.CharField()),
                    "components": serializers.DictField(child=_component),
                },
            ),
            503: None,
        },
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
