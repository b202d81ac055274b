"""Transactions API: thin views over replay.selectors (reads) and replay.imports (writes).

Reading is for every signed-in user, over what the selectors show them (someone else's
fill or import answers 404); importing (upload, fetch) takes the analyst's
`replay.add_importbatch`; deleting a fill is its owner's.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backtest.api.views import PageSizePagination
from central.api_errors import errors
from replay import imports, selectors
from replay.api import transaction_serializers as s
from replay.api.transaction_filters import (
    ImportBatchFilter,
    TransactionFilter,
    TransactionListFilter,
)
from replay.models import TransactionHistory

TRANSACTION_ID = OpenApiParameter(
    "id", int, OpenApiParameter.PATH, description="The transaction's id."
)
IMPORT_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The import's id.")


class CanImportTransactions(BasePermission):
    message = "You need the 'add import batch' permission (analysts) to import transactions."

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or selectors.can_import_transactions(request.user)


IMPORTING = (IsAuthenticated, CanImportTransactions)


def _invalid(exc: imports.InvalidParameter) -> ValidationError:
    return ValidationError({exc.parameter: [str(exc).split(": ", 1)[1]]})


# --- Examples --------------------------------------------------------------------------

TRANSACTION_EXAMPLE = {
    "id": 41,
    "url": "https://central.example/api/transactions/history/41/",
    "owner": "ana",
    "import_batch": 3,
    "transaction_time": "2024-01-15T08:30:12Z",
    "symbol": "BTCUSDT",
    "side": "buy",
    "transaction_type": "market",
    "price": "64900",
    "quantity": "0.0015",
    "value": "97.35",
    "fee": "0.0000015",
    "fee_asset": "BNB",
    "transaction_id": "row:a85e12ed8eaac47a256e88587b691653:1",
    "exchange": "binance",
    "metadata": {
        "fee": "0.0000015",
        "fee_asset": "BNB",
        "type_known": False,
        "quote_quantity": "97.35",
        "base_asset": "BTC",
        "quote_asset": "USDT",
        "raw": {
            "Date(UTC)": "2024-01-15 08:30:12",
            "Pair": "BTCUSDT",
            "Side": "BUY",
            "Price": "64,900.00",
            "Executed": "0.00150000BTC",
            "Amount": "97.35USDT",
            "Fee": "0.00000150BNB",
        },
    },
    "is_replayed": False,
    "created_at": "2026-11-22T09:14:03.112Z",
}
BATCH_EXAMPLE = {
    "id": 3,
    "url": "https://central.example/api/transactions/imports/3/",
    "owner": "ana",
    "file_name": "Export Trade History.csv",
    "format": "binance_trades",
    "exchange": "binance",
    "status": "completed",
    "rows_total": 1250,
    "inserted": 1248,
    "skipped": 0,
    "rejected": 2,
    "rejects": [
        {"line": 7, "field": "price", "reason": "'abc' is not a number"},
        {"line": 912, "field": "side", "reason": "'HOLD' is not a side (buy or sell)"},
    ],
    "parameters": {"skip_invalid": True},
    "error": "",
    "created_at": "2026-11-22T09:14:02.871Z",
    "finished_at": "2026-11-22T09:14:03.112Z",
}
FETCH_BATCH_EXAMPLE = {
    **BATCH_EXAMPLE,
    "id": 4,
    "url": "https://central.example/api/transactions/imports/4/",
    "file_name": "",
    "format": "binance_api",
    "status": "queued",
    "rows_total": 0,
    "inserted": 0,
    "rejected": 0,
    "rejects": [],
    "parameters": {
        "credential": 2,
        "credential_label": "main",
        "symbols": ["BTCUSDT", "ETHUSDT"],
        "start_time": "2024-01-01T00:00:00+00:00",
        "page_size": 1000,
    },
    "finished_at": None,
}
REFUSED_EXAMPLE = OpenApiExample(
    "A bad row: nothing stored",
    status_codes=["400"],
    response_only=True,
    value={
        "detail": "1 of 3 rows are invalid, nothing was imported: line 4, field price: "
        "'abc' is not a number",
        "rows_total": 3,
        "inserted": 0,
        "skipped": 0,
        "rejected": 1,
        "rejects": [{"line": 4, "field": "price", "reason": "'abc' is not a number"}],
    },
)
SUMMARY_EXAMPLE = [
    {
        "symbol": "BTCUSDT",
        "count": 3,
        "buy_count": 2,
        "sell_count": 1,
        "buy_quantity": "0.003",
        "sell_quantity": "0.0015",
        "buy_value": "194.7",
        "sell_value": "98.1",
        "first_time": "2024-01-15T08:30:12Z",
        "last_time": "2024-01-17T14:02:55Z",
        "fees": {"BNB": "0.0000045"},
    }
]


# --- Transactions ------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        responses={200: s.TransactionSerializer(many=True), **errors(400, 401)},
        examples=[OpenApiExample("A fill", response_only=True, value=TRANSACTION_EXAMPLE)],
    )
)
class TransactionListView(generics.ListAPIView):
    """Fills you own, that came in an import shared with you, or (operators) everyone's;
    oldest first, filtered by symbol, side, type, time range, import or exchange."""

    serializer_class = s.TransactionSerializer
    pagination_class = PageSizePagination
    filterset_class = TransactionListFilter

    def get_queryset(self):
        return selectors.visible_transactions(self.request.user).select_related("owner")


@extend_schema_view(
    get=extend_schema(
        parameters=[TRANSACTION_ID],
        responses={200: s.TransactionSerializer, **errors(401, 404)},
        examples=[OpenApiExample("A fill", response_only=True, value=TRANSACTION_EXAMPLE)],
    ),
    delete=extend_schema(
        parameters=[TRANSACTION_ID], responses={204: None, **errors(401, 403, 404)}
    ),
)
class TransactionDetailView(generics.RetrieveDestroyAPIView):
    """One fill you can see; only its owner deletes it (403 for others who see it).
    Deleting it also deletes its replay results; importing it again brings it back."""

    serializer_class = s.TransactionSerializer

    def get_queryset(self):
        return selectors.visible_transactions(self.request.user).select_related("owner")

    def perform_destroy(self, instance: TransactionHistory) -> None:
        try:
            imports.delete_transaction(instance, actor=self.request.user)
        except imports.NotAllowed as exc:
            raise PermissionDenied(str(exc)) from None


class TransactionUploadView(APIView):
    """Import a file of fills: Binance's trade-history export or a generic CSV (format
    detected from the header unless given). All-or-nothing unless skip_invalid: a file
    with a bad row is refused with every bad line and field, and nothing is stored.
    Fills imported before are skipped (counted in `skipped`)."""

    permission_classes = IMPORTING
    parser_classes = (MultiPartParser, FormParser)

    @extend_schema(
        request=s.UploadSerializer,
        responses={
            201: s.ImportBatchSerializer,
            400: OpenApiResponse(
                s.ImportRefusedSerializer,
                description="A refused file (nothing stored: every bad row listed), or an "
                "invalid field (format, mapping, exchange, file).",
            ),
            **errors(401, 403),
        },
        examples=[
            OpenApiExample(
                "Binance export, detected",
                request_only=True,
                media_type="multipart/form-data",
                value={"file": "Export Trade History.csv", "skip_invalid": False},
            ),
            OpenApiExample(
                "A generic CSV with its own column names",
                request_only=True,
                media_type="multipart/form-data",
                value={
                    "file": "fills.csv",
                    "format": "generic",
                    "mapping": "time=Executed At,quantity=Filled,id=Fill",
                    "exchange": "kraken",
                },
            ),
            OpenApiExample(
                "Imported, two rows skipped as invalid",
                status_codes=["201"],
                response_only=True,
                value=BATCH_EXAMPLE,
            ),
            REFUSED_EXAMPLE,
        ],
    )
    def post(self, request: Request) -> Response:
        form = s.UploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            batch = imports.import_file(
                request.user,
                data["file"],
                file_name=data["file"].name,
                fmt=data["format"],
                mapping=data.get("mapping"),
                skip_invalid=data["skip_invalid"],
                exchange=data["exchange"],
            )
        except imports.InvalidParameter as exc:
            raise _invalid(exc) from None
        except imports.ImportFileError as exc:
            raise ValidationError({"file": [str(exc)]}) from None
        except imports.ImportRefused as exc:
            return Response(exc.as_dict(), status=status.HTTP_400_BAD_REQUEST)
        body = s.ImportBatchSerializer(batch, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class TransactionFetchView(APIView):
    """Import your fills from Binance with one of your stored credentials: answers at
    once (202) with the queued import; a worker fetches the symbols' trades page by page
    (fromId) and the import ends `completed` with its counts, or `failed` with why (a
    rejected key, an unknown symbol, Binance unavailable). Fills imported before are
    skipped. The key is decrypted in the worker only (a "credential used" event)."""

    permission_classes = IMPORTING

    @extend_schema(
        request=s.FetchSerializer,
        responses={202: s.ImportBatchSerializer, **errors(400, 401, 403)},
        examples=[
            OpenApiExample(
                "Two symbols since January",
                request_only=True,
                value={
                    "credential": 2,
                    "symbols": ["BTCUSDT", "eth/usdt"],
                    "start_time": "2024-01-01T00:00:00Z",
                },
            ),
            OpenApiExample(
                "Queued", status_codes=["202"], response_only=True, value=FETCH_BATCH_EXAMPLE
            ),
            OpenApiExample(
                "Not your credential",
                status_codes=["400"],
                response_only=True,
                value={"credential": ["you have no credential #9"]},
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        form = s.FetchSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            batch = imports.request_fetch(
                request.user,
                credential_id=data["credential"],
                symbols=data["symbols"],
                start_time=data.get("start_time"),
                page_size=data["page_size"],
            )
        except imports.InvalidParameter as exc:
            raise _invalid(exc) from None
        except imports.NotAllowed as exc:
            raise PermissionDenied(str(exc)) from None
        body = s.ImportBatchSerializer(batch, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class TransactionSummaryView(generics.GenericAPIView):
    """Per symbol, over the fills you can see (the list's filters apply): how many, buy
    and sell counts, quantities and values, first and last time, fees by asset."""

    serializer_class = s.SymbolSummarySerializer
    filterset_class = TransactionFilter
    pagination_class = None

    def get_queryset(self):
        return selectors.visible_transactions(self.request.user)

    @extend_schema(
        responses={200: s.SymbolSummarySerializer(many=True), **errors(400, 401)},
        examples=[OpenApiExample("One symbol", response_only=True, value=SUMMARY_EXAMPLE)],
    )
    def get(self, request: Request) -> Response:
        rows = selectors.transaction_summary(self.filter_queryset(self.get_queryset()))
        return Response(self.get_serializer(rows, many=True).data)


# --- Imports -----------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        responses={200: s.ImportBatchSerializer(many=True), **errors(400, 401)},
        examples=[OpenApiExample("A file import", response_only=True, value=BATCH_EXAMPLE)],
    )
)
class ImportBatchListView(generics.ListAPIView):
    """Imports you made, that were shared with you, or (operators) everyone's; newest
    first."""

    serializer_class = s.ImportBatchSerializer
    pagination_class = PageSizePagination
    filterset_class = ImportBatchFilter

    def get_queryset(self):
        return selectors.visible_import_batches(self.request.user)


@extend_schema_view(
    get=extend_schema(
        parameters=[IMPORT_ID],
        responses={200: s.ImportBatchSerializer, **errors(401, 404)},
        examples=[OpenApiExample("A fetch", response_only=True, value=FETCH_BATCH_EXAMPLE)],
    )
)
class ImportBatchDetailView(generics.RetrieveAPIView):
    """One import you can see: what it read, stored, skipped and rejected."""

    serializer_class = s.ImportBatchSerializer

    def get_queryset(self):
        return selectors.visible_import_batches(self.request.user)
