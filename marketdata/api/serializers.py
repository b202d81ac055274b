from django.conf import settings
from rest_framework import serializers

from marketdata.importers.formats import FORMATS
from marketdata.models import DEFAULT_SOURCE, CandleSeries, Symbol, SyncRun
from marketdata.timeframes import TIMEFRAME_CHOICES


class SeriesSerializer(serializers.ModelSerializer):
    class Meta:
        model = CandleSeries
        fields = ("source", "timeframe", "first_timestamp", "last_timestamp", "candle_count")


class SymbolSerializer(serializers.ModelSerializer):
    series = SeriesSerializer(many=True, source="stored_series")

    class Meta:
        model = Symbol
        fields = ("name", "base_asset", "quote_asset", "is_active", "series")


class TimeframeSerializer(serializers.Serializer):
    code = serializers.CharField()
    seconds = serializers.IntegerField(help_text="Nominal length; 1M is a calendar month.")


class CandleQuerySerializer(serializers.Serializer):
    start = serializers.DateTimeField(required=False, help_text="Inclusive, ISO 8601.")
    end = serializers.DateTimeField(required=False, help_text="Exclusive, ISO 8601.")
    max_points = serializers.IntegerField(
        required=False, default=1000, min_value=1, max_value=10000
    )
    source = serializers.CharField(required=False, default=DEFAULT_SOURCE)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("start") and attrs.get("end") and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": "must be after start"})
        return attrs


class CandleSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    open = serializers.FloatField()
    high = serializers.FloatField()
    low = serializers.FloatField()
    close = serializers.FloatField()
    volume = serializers.FloatField()


class CandleRangeSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    source = serializers.CharField()
    bucket_seconds = serializers.IntegerField()
    downsampled = serializers.BooleanField()
    count = serializers.IntegerField()
    candles = CandleSerializer(many=True)


class CandleImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    symbol = serializers.CharField()
    timeframe = serializers.ChoiceField(choices=TIMEFRAME_CHOICES)
    format = serializers.ChoiceField(choices=FORMATS, default="auto")
    source = serializers.CharField(default=DEFAULT_SOURCE)
    skip_invalid = serializers.BooleanField(default=False)

    def validate_file(self, upload):
        limit = settings.MARKET_IMPORT_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise serializers.ValidationError(
                f"the file is {upload.size} bytes; uploads are limited to {limit} bytes"
            )
        return upload


class RowErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    field = serializers.CharField()
    reason = serializers.CharField()


class ImportResultSerializer(serializers.Serializer):
    inserted = serializers.IntegerField()
    updated = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Rows already stored with the same values.")
    rejected = serializers.IntegerField(help_text="Number of rows rejected.")
    rejects = RowErrorSerializer(many=True)


class ImportRejectedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    rejects = RowErrorSerializer(many=True)


class SyncRequestSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    timeframe = serializers.ChoiceField(choices=TIMEFRAME_CHOICES)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("end") and attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "must be after start"})
        return attrs


class SyncRunSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(source="symbol.name")
    requested_by = serializers.CharField(source="requested_by.username", default=None)

    class Meta:
        model = SyncRun
        fields = (
            "id",
            "symbol",
            "timeframe",
            "source",
            "start",
            "end",
            "status",
            "trigger",
            "requested_by",
            *SyncRun.COUNTER_FIELDS,
            "error",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields
