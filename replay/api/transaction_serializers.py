"""Transactions API serializers: shapes only; replay.imports checks and writes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.binance_signed import MAX_TRADES_PER_REQUEST
from backtest.api.serializers import RunStatusField
from replay.importers.detect import FORMAT_CHOICES
from replay.imports import DEFAULT_EXCHANGE, MAX_FETCH_SYMBOLS
from replay.models import ImportBatch, ImportFormat, Side, TransactionHistory, TransactionType


def _absolute(request, name: str, pk: int) -> str:
    path = reverse(name, args=[pk])
    return request.build_absolute_uri(path) if request is not None else path


def decimal_text(value: Decimal | None) -> str | None:
    """Exact and without the column's trailing zeros: 97.350000000000000000 is "97.35"."""
    return None if value is None else format(value.normalize(), "f")


@extend_schema_field(OpenApiTypes.DECIMAL)
class DecimalTextField(serializers.Field):
    """A stored decimal as exact text (a JSON string), trailing zeros dropped."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Decimal) -> str | None:
        return decimal_text(value)


class NamedChoiceField(serializers.ChoiceField):
    """A choice field documented as its own named enum component (several fields are
    called `format` or `side` across the API, each with other choices: left to
    drf-spectacular, their enums would collide by name)."""

    def __init__(self, *, enum_name: str, **kwargs: Any) -> None:
        self.enum_name = enum_name
        super().__init__(**kwargs)


class NamedChoiceFieldSchema(OpenApiSerializerFieldExtension):
    target_class = NamedChoiceField

    def map_serializer_field(self, auto_schema, direction) -> dict:
        field = self.target
        component = ResolvedComponent(
            name=field.enum_name,
            type=ResolvedComponent.SCHEMA,
            object=field.enum_name,
            schema={"type": "string", "enum": list(field.choices)},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


def import_format_field(**kwargs: Any) -> NamedChoiceField:
    return NamedChoiceField(enum_name="ImportFormatEnum", choices=ImportFormat.choices, **kwargs)


# --- Transactions -------------------------------------------------------------------------


class TransactionSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    owner = serializers.CharField(source="owner.username", read_only=True)
    side = NamedChoiceField(enum_name="TransactionSideEnum", choices=Side.choices, read_only=True)
    transaction_type = NamedChoiceField(
        enum_name="TransactionTypeEnum", choices=TransactionType.choices, read_only=True
    )
    price = DecimalTextField()
    quantity = DecimalTextField()
    value = serializers.SerializerMethodField(help_text="price x quantity, exact.")
    fee = serializers.SerializerMethodField(help_text="The fee as the source gave it, exact.")
    fee_asset = serializers.SerializerMethodField()
    metadata = serializers.JSONField(
        read_only=True,
        help_text="fee, fee_asset, type_known (false: the source gave no order type), what "
        "the format adds (order_id, is_maker, quote_quantity, base/quote asset) and `raw`, "
        "the row or trade as imported.",
    )

    class Meta:
        model = TransactionHistory
        fields = (
            "id",
            "url",
            "owner",
            "import_batch",
            "transaction_time",
            "symbol",
            "side",
            "transaction_type",
            "price",
            "quantity",
            "value",
            "fee",
            "fee_asset",
            "transaction_id",
            "exchange",
            "metadata",
            "is_replayed",
            "created_at",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, transaction: TransactionHistory) -> str:
        return _absolute(self.context.get("request"), "transaction-detail", transaction.pk)

    @extend_schema_field(OpenApiTypes.DECIMAL)
    def get_value(self, transaction: TransactionHistory) -> str:
        return decimal_text(transaction.price * transaction.quantity)

    @extend_schema_field(OpenApiTypes.DECIMAL)
    def get_fee(self, transaction: TransactionHistory) -> str | None:
        fee = transaction.metadata.get("fee")
        return decimal_text(Decimal(fee)) if fee is not None else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_fee_asset(self, transaction: TransactionHistory) -> str | None:
        return transaction.metadata.get("fee_asset")


class SymbolSummarySerializer(serializers.Serializer):
    symbol = serializers.CharField()
    count = serializers.IntegerField(help_text="Fills.")
    buy_count = serializers.IntegerField()
    sell_count = serializers.IntegerField()
    buy_quantity = DecimalTextField(help_text="Base asset bought.")
    sell_quantity = DecimalTextField(help_text="Base asset sold.")
    buy_value = DecimalTextField(help_text="Quote asset spent: Σ price x quantity of buys.")
    sell_value = DecimalTextField(help_text="Quote asset received: Σ price x quantity of sells.")
    first_time = serializers.DateTimeField()
    last_time = serializers.DateTimeField()
    fees = serializers.DictField(
        child=serializers.CharField(),
        help_text='Fees paid, by asset, exact: {"BNB": "0.0123"}. Fills whose source gave '
        'no fee asset count under "".',
    )


# --- Imports ----------------------------------------------------------------------------


class RejectSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="Line in the file (1 is the header).")
    field = serializers.CharField(
        help_text="time, symbol, side, price, quantity, quote_quantity, fee, fee_asset, type, "
        "id; or row (the line as a whole)."
    )
    reason = serializers.CharField()


class ImportBatchSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    owner = serializers.CharField(source="owner.username", read_only=True)
    format = import_format_field(read_only=True)
    status = RunStatusField(read_only=True)
    rejects = RejectSerializer(many=True, read_only=True)
    parameters = serializers.JSONField(
        read_only=True,
        help_text="Files: skip_invalid and, for the generic format, the column read for each "
        "field. Fetches: credential, symbols, start_time, page_size.",
    )

    class Meta:
        model = ImportBatch
        fields = (
            "id",
            "url",
            "owner",
            "file_name",
            "format",
            "exchange",
            "status",
            "rows_total",
            "inserted",
            "skipped",
            "rejected",
            "rejects",
            "parameters",
            "error",
            "created_at",
            "finished_at",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, batch: ImportBatch) -> str:
        return _absolute(self.context.get("request"), "import-batch-detail", batch.pk)


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, or CSV in .gz or a one-file .zip.")
    format = NamedChoiceField(
        enum_name="TransactionFileFormatEnum", choices=FORMAT_CHOICES, default="auto"
    )
    mapping = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text='Generic format: the column of each field, as JSON {"time": "Executed At"} '
        "or time=Executed At,quantity=Filled. Fields: time, symbol, side, price, quantity, "
        "fee, fee_asset, type, id.",
    )
    exchange = serializers.CharField(
        default=DEFAULT_EXCHANGE, help_text="Generic format: the exchange the fills are from."
    )
    skip_invalid = serializers.BooleanField(
        default=False, help_text="Store the valid rows and list the rejected ones."
    )

    def validate_file(self, upload):
        limit = settings.MARKET_IMPORT_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise serializers.ValidationError(
                f"the file is {upload.size} bytes; uploads are limited to {limit} bytes"
            )
        return upload


class ImportRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    rows_total = serializers.IntegerField()
    inserted = serializers.IntegerField()
    skipped = serializers.IntegerField()
    rejected = serializers.IntegerField(help_text="Rows rejected.")
    rejects = RejectSerializer(many=True, help_text="Every problem (the first 1000).")


class FetchSerializer(serializers.Serializer):
    credential = serializers.IntegerField(help_text="Id of one of your exchange credentials.")
    symbols = serializers.ListField(
        child=serializers.CharField(),
        min_length=1,
        max_length=MAX_FETCH_SYMBOLS,
        help_text='e.g. ["BTCUSDT", "eth/usdt"]',
    )
    start_time = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Fills before this are not stored."
    )
    page_size = serializers.IntegerField(
        required=False,
        default=MAX_TRADES_PER_REQUEST,
        min_value=1,
        max_value=MAX_TRADES_PER_REQUEST,
        help_text="Trades per request to Binance (its limit parameter).",
    )
