"""Market-data API: thin views over marketdata.selectors and marketdata.services."""

import numpy as np
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from central.api_errors import ERROR, Conflict, errors
from marketdata import selectors, services, sync
from marketdata.api import serializers as s
from marketdata.api.filters import SyncRunFilter
from marketdata.api.permissions import CanImportCandles, CanSyncMarketData
from marketdata.importers.errors import ImportFileError, ImportRejected
from marketdata.timeframes import TIMEFRAMES


def _as_validation_error(exc: services.InvalidParameter) -> ValidationError:
    return ValidationError({exc.parameter: [str(exc).split(": ", 1)[1]]})


@extend_schema_view(
    get=extend_schema(responses={200: s.SymbolSerializer(many=True), **errors(401)})
)
class SymbolListView(generics.ListAPIView):
    """Symbols that have stored candles, with each series' range and size."""

    serializer_class = s.SymbolSerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.symbols_with_series()


class TimeframeListView(APIView):
    """The timeframes candles are stored in: Binance's kline intervals, 1m to 1M."""

    @extend_schema(
        responses={200: s.TimeframeSerializer(many=True), **errors(401)},
        examples=[
            OpenApiExample(
                "Two of them",
                response_only=True,
                value=[{"code": "1m", "seconds": 60}, {"code": "1M", "seconds": 2592000}],
            )
        ],
    )
    def get(self, request: Request) -> Response:
        return Response([{"code": tf.code, "seconds": tf.seconds} for tf in TIMEFRAMES.values()])


class CandleRangeView(APIView):
    """Candles of one series over [start, end), downsampled to at most max_points."""

    @extend_schema(
        parameters=[s.CandleQuerySerializer],
        responses={200: s.CandleRangeSerializer, **errors(400, 401, 404)},
        examples=[
            OpenApiExample(
                "One hour of 1m candles",
                response_only=True,
                value={
                    "symbol": "BTCUSDT",
                    "timeframe": "1m",
                    "source": "binance",
                    "bucket_seconds": 60,
                    "downsampled": False,
                    "count": 1,
                    "candles": [
                        {
                            "time": "2024-01-01T00:00:00Z",
                            "open": 42283.58,
                            "high": 42298.62,
                            "low": 42261.02,
                            "close": 42298.61,
                            "volume": 35.92724,
                        }
                    ],
                },
            )
        ],
    )
    def get(self, request: Request, symbol: str, timeframe: str) -> Response:
        query = s.CandleQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        try:
            name = services.normalise_symbol(symbol)
            timeframe = services.check_timeframe(timeframe)
        except services.InvalidParameter as exc:
            raise _as_validation_error(exc) from None
        series = selectors.find_series(name, timeframe, params["source"])
        if series is None:
            raise NotFound(f"no {timeframe} candles stored for {name} from {params['source']}")
        result = selectors.candle_range(
            series, params.get("start"), params.get("end"), params["max_points"]
        )
        arrays = result.arrays
        times = np.datetime_as_string(
            arrays["timestamp"].astype("datetime64[us]"), unit="s", timezone="UTC"
        )
        candles = [
            {"time": t, "open": o, "high": h, "low": lo, "close": c, "volume": v}
            for t, o, h, lo, c, v in zip(
                times.tolist(),
                arrays["open"].tolist(),
                arrays["high"].tolist(),
                arrays["low"].tolist(),
                arrays["close"].tolist(),
                arrays["volume"].tolist(),
                strict=True,
            )
        ]
        return Response(
            {
                "symbol": name,
                "timeframe": timeframe,
                "source": params["source"],
                "bucket_seconds": result.bucket_seconds,
                "downsampled": result.downsampled,
                "count": len(candles),
                "candles": candles,
            }
        )


class CandleImportView(APIView):
    """Upload a candle file. All-or-nothing unless skip_invalid; errors name line and field."""

    permission_classes = (CanImportCandles,)
    parser_classes = (MultiPartParser, FormParser)

    @extend_schema(
        request=s.CandleImportSerializer,
        responses={
            201: s.ImportResultSerializer,
            400: OpenApiResponse(
                s.ImportRejectedSerializer,
                description="Rejected file (nothing stored), or invalid fields.",
            ),
            **errors(401, 403),
        },
        examples=[
            OpenApiExample(
                "Rejected file",
                status_codes=["400"],
                response_only=True,
                value={
                    "detail": "1 of 3 rows are invalid, nothing was imported",
                    "rejects": [
                        {"line": 2, "field": "high", "reason": "high is below max(open, close)"}
                    ],
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        form = s.CandleImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            result = services.import_candles(
                data["file"],
                symbol=data["symbol"],
                timeframe=data["timeframe"],
                fmt=data["format"],
                source_name=data["source"],
                skip_invalid=data["skip_invalid"],
                filename=data["file"].name,
            )
        except services.InvalidParameter as exc:
            raise _as_validation_error(exc) from None
        except ImportFileError as exc:
            raise ValidationError({"file": [str(exc)]}) from None
        except ImportRejected as exc:
            return Response(
                {"detail": str(exc), "rejects": [e.as_dict() for e in exc.errors]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


class SyncRequestView(APIView):
    """Queue a Binance download of one series (operators only); returns the sync run."""

    permission_classes = (CanSyncMarketData,)

    @extend_schema(
        request=s.SyncRequestSerializer,
        responses={202: s.SyncRunSerializer, **errors(400, 401, 403)},
    )
    def post(self, request: Request) -> Response:
        form = s.SyncRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            run = services.request_sync(
                data["symbol"],
                data["timeframe"],
                data["start"],
                data.get("end"),
                trigger="api",
                user=request.user,
            )
        except services.InvalidParameter as exc:
            raise _as_validation_error(exc) from None
        return Response(s.SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    get=extend_schema(responses={200: s.SyncRunSerializer(many=True), **errors(401, 403)})
)
class SyncRunListView(generics.ListAPIView):
    serializer_class = s.SyncRunSerializer
    permission_classes = (CanSyncMarketData,)
    filterset_class = SyncRunFilter

    def get_queryset(self):
        return selectors.sync_runs_for(self.request.user)


@extend_schema_view(
    get=extend_schema(responses={200: s.SyncRunSerializer, **errors(401, 403, 404)})
)
class SyncRunDetailView(generics.RetrieveAPIView):
    serializer_class = s.SyncRunSerializer
    permission_classes = (CanSyncMarketData,)

    def get_queryset(self):
        return selectors.sync_runs_for(self.request.user)


CANCELLED_RUN_EXAMPLE = {
    "id": 7,
    "symbol": "ETHUSDT",
    "timeframe": "1m",
    "source": "binance",
    "start": "2024-01-01T00:00:00Z",
    "end": None,
    "status": "cancelled",
    "trigger": "api",
    "requested_by": "operator",
    "rows_inserted": 3000,
    "rows_updated": 0,
    "requests_made": 3,
    "retries": 0,
    "max_weight_used": 6,
    "gaps_found": 0,
    "gaps_filled": 0,
    "unfilled_gaps": [],
    "error": "cancelled by operator",
    "created_at": "2026-11-21T22:10:02.114308Z",
    "started_at": "2026-11-21T22:10:02.180512Z",
    "finished_at": "2026-11-21T22:10:04.937205Z",
}


class SyncRunCancelView(generics.GenericAPIView):
    """Cancel a pending or running sync run (operators only); returns the run.

    A pending run never starts; a running one stops after the chunk it is downloading
    and keeps the candles it stored, its counters saying how many.
    """

    serializer_class = s.SyncRunSerializer
    permission_classes = (CanSyncMarketData,)

    def get_queryset(self):
        return selectors.sync_runs_for(self.request.user)

    @extend_schema(
        request=None,
        responses={
            200: s.SyncRunSerializer,
            409: OpenApiResponse(ERROR, description="The run had already finished."),
            **errors(401, 403, 404),
        },
        examples=[
            OpenApiExample(
                "Cancelled while running",
                status_codes=["200"],
                response_only=True,
                value=CANCELLED_RUN_EXAMPLE,
            ),
            OpenApiExample(
                "Already finished",
                status_codes=["409"],
                response_only=True,
                value={"detail": "sync run #7 has already finished (succeeded)"},
            ),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        run = self.get_object()
        if not sync.cancel_sync_run(run, actor=request.user, request=request):
            raise Conflict(f"sync run #{run.pk} has already finished ({run.status})")
        return Response(self.get_serializer(run).data)


CANDLE_PATH_PARAMETERS = [
    OpenApiParameter("symbol", str, OpenApiParameter.PATH, description="e.g. BTCUSDT"),
    OpenApiParameter("timeframe", str, OpenApiParameter.PATH, description="1m … 1M"),
]
CandleRangeView.get = extend_schema(parameters=CANDLE_PATH_PARAMETERS)(CandleRangeView.get)
