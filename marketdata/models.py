"""Candles and the catalogue around them.

A candle belongs to a series: one (source, symbol, timeframe). Candles are unique on
(series, timestamp), which is the same rule as unique on (source, symbol, timeframe,
timestamp) with a narrow index, and that composite key is also the primary key so the
table can become a TimescaleDB hypertable (whose unique indexes must hold the time
column). Prices are double precision: candles are analytics data read in bulk into
numpy; money a user sees (trades, balances, transactions) is Decimal elsewhere.
"""

from django.conf import settings
from django.db import models

from marketdata.timeframes import TIMEFRAME_CHOICES

DEFAULT_SOURCE = "binance"


class Symbol(models.Model):
    """A tradable pair in the catalogue, such as BTCUSDT."""

    name = models.CharField(max_length=20, unique=True)
    base_asset = models.CharField(max_length=10, blank=True)
    quote_asset = models.CharField(max_length=10, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class CandleSeries(models.Model):
    """One stream of candles; first/last/count are kept current by every write."""

    source = models.CharField(max_length=32, default=DEFAULT_SOURCE)
    symbol = models.ForeignKey(Symbol, on_delete=models.PROTECT, related_name="series")
    timeframe = models.CharField(max_length=3, choices=TIMEFRAME_CHOICES)
    first_timestamp = models.DateTimeField(null=True, blank=True)
    last_timestamp = models.DateTimeField(null=True, blank=True)
    candle_count = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "candle series"
        ordering = ("symbol__name", "timeframe", "source")
        constraints = [
            models.UniqueConstraint(
                fields=("source", "symbol", "timeframe"), name="unique_candle_series"
            )
        ]

    def __str__(self) -> str:
        return f"{self.symbol.name} {self.timeframe} ({self.source})"


class Candle(models.Model):
    pk = models.CompositePrimaryKey("series_id", "timestamp")
    # No database-level FK: a per-row RI trigger would halve bulk-load speed; every
    # writer goes through storage.upsert_candles with a series that exists.
    series = models.ForeignKey(
        CandleSeries, on_delete=models.DO_NOTHING, related_name="candles", db_constraint=False
    )
    timestamp = models.DateTimeField(help_text="Open time of the candle, UTC.")
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()
    volume = models.FloatField()
    quote_volume = models.FloatField(null=True, blank=True)
    trade_count = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("series", "timestamp")
        permissions = [
            ("import_candles", "Can import candle files"),
            ("sync_market_data", "Can run and schedule market-data syncs"),
        ]

    def __str__(self) -> str:
        return f"{self.series_id}@{self.timestamp:%Y-%m-%d %H:%M}"


class CandleRecord(models.Model):
    """Candles as the admin reads them: a database view with one integer key per candle.

    Django 5.2's admin refuses models with a composite primary key, so the read-only
    candle pages use this view; the key is (series_id << 34) + epoch seconds, unique
    because candles open on whole seconds.
    """

    id = models.BigIntegerField(primary_key=True)
    series = models.ForeignKey(
        CandleSeries, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    timestamp = models.DateTimeField()
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()
    volume = models.FloatField()
    quote_volume = models.FloatField(null=True)
    trade_count = models.BigIntegerField(null=True)

    class Meta:
        managed = False
        db_table = "marketdata_candle_record"
        verbose_name = "candle"
        ordering = ("-timestamp",)

    def __str__(self) -> str:
        return f"{self.series_id}@{self.timestamp:%Y-%m-%d %H:%M}"


class WatchedSymbol(models.Model):
    """A series the beat schedule keeps in sync from Binance; chosen by operators."""

    symbol = models.ForeignKey(Symbol, on_delete=models.PROTECT, related_name="watches")
    timeframe = models.CharField(max_length=3, choices=TIMEFRAME_CHOICES)
    history_start = models.DateTimeField(
        help_text="Download history from this moment when the series is empty."
    )
    is_enabled = models.BooleanField(default=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("symbol__name", "timeframe")
        constraints = [
            models.UniqueConstraint(fields=("symbol", "timeframe"), name="unique_watched_symbol")
        ]

    def __str__(self) -> str:
        return f"{self.symbol.name} {self.timeframe}"


class SyncRun(models.Model):
    """One download of a series from Binance: what was asked, what happened."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Trigger(models.TextChoices):
        MANUAL = "manual"
        SCHEDULE = "schedule"
        API = "api"
        ADMIN = "admin"
        STREAM = "stream"  # a live stream's backfill after it (re)connected

    # The counters a running sync updates chunk by chunk (saved and published together).
    COUNTER_FIELDS = (
        "rows_inserted",
        "rows_updated",
        "requests_made",
        "retries",
        "max_weight_used",
        "gaps_found",
        "gaps_filled",
        "unfilled_gaps",
    )

    symbol = models.ForeignKey(Symbol, on_delete=models.PROTECT, related_name="sync_runs")
    timeframe = models.CharField(max_length=3, choices=TIMEFRAME_CHOICES)
    source = models.CharField(max_length=32, default=DEFAULT_SOURCE)
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True, help_text="Empty: up to now.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    task_id = models.CharField(max_length=64, blank=True)
    rows_inserted = models.BigIntegerField(default=0)
    rows_updated = models.BigIntegerField(default=0)
    requests_made = models.IntegerField(default=0)
    retries = models.IntegerField(default=0)
    max_weight_used = models.IntegerField(default=0)
    gaps_found = models.IntegerField(default=0)
    gaps_filled = models.IntegerField(default=0)
    unfilled_gaps = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    # Operators only (admin, queue page): an internal error's traceback, secrets masked.
    # Users see `error`, which never holds internals.
    traceback = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("status", "created_at"))]

    def __str__(self) -> str:
        return f"sync {self.symbol.name} {self.timeframe} #{self.pk} ({self.status})"


class MarketStream(models.Model):
    """The state of one `stream_market` process, written by it for operators.

    The process updates its row on every change of state and, while candles flow, about
    once a second: the admin and /metrics read it, nothing else writes it. Counters
    start again from zero when the process starts (see `started_at`).
    """

    class State(models.TextChoices):
        CONNECTING = "connecting"
        BACKFILLING = "backfilling"
        CONNECTED = "connected"
        RECONNECTING = "reconnecting"
        STOPPED = "stopped"
        FAILED = "failed"

    name = models.CharField(max_length=200, unique=True)
    symbols = models.JSONField(default=list)
    timeframes = models.JSONField(default=list)
    state = models.CharField(max_length=12, choices=State.choices, default=State.CONNECTING)
    started_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(
        null=True, blank=True, help_text="When the current (or last) connection opened."
    )
    last_message_at = models.DateTimeField(null=True, blank=True)
    reconnects = models.IntegerField(default=0)
    messages = models.BigIntegerField(default=0, help_text="Kline messages received.")
    malformed = models.BigIntegerField(
        default=0, help_text="Frames ignored: not JSON, not a kline, or of a stream not asked for."
    )
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return f"stream {self.name} ({self.state})"
