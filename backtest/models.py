"""Strategies, backtest runs, their trades and metrics, and parameter sweeps.

Money users see (balances, trade prices, PnL) is Decimal; the engine computes in float64
and the persisting service rounds into these columns. A backtest keeps a snapshot of the
strategy it ran (rules and config), so editing or deleting the strategy never changes
what a finished run means, and its reproducibility hash covers that snapshot, the data
range and the engine parameters.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from marketdata.models import DEFAULT_SOURCE
from marketdata.timeframes import TIMEFRAME_CHOICES

PRICE = {"max_digits": 30, "decimal_places": 12}
# Up to 1e28 units: a 1e12 balance in a coin priced 1e-8 (cash is capped at 1e12).
QUANTITY = {"max_digits": 40, "decimal_places": 12}
MONEY = {"max_digits": 30, "decimal_places": 8}
RATIO = {"max_digits": 20, "decimal_places": 6}


class Strategy(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="strategies"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    config = models.JSONField(
        default=dict, blank=True, help_text="parameters, direction, sizing, risk, fees."
    )
    entry_rules = models.JSONField(help_text='{"long": condition, "short": condition}')
    exit_rules = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    is_public = models.BooleanField(default=False, help_text="Every signed-in user may see it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "strategies"
        ordering = ("name", "id")
        constraints = [
            models.UniqueConstraint(fields=("owner", "name"), name="unique_strategy_name")
        ]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    PENDING = "pending"  # created, not yet handed to the queue
    QUEUED = "queued"  # sent to Celery, waiting for a worker (or a free per-user slot)
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (RunStatus.PENDING, RunStatus.QUEUED, RunStatus.RUNNING)
FINAL_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class Sweep(models.Model):
    """A grid over strategy parameters; each cell is an ordinary backtest."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sweeps"
    )
    strategy = models.ForeignKey(
        Strategy, on_delete=models.SET_NULL, null=True, blank=True, related_name="sweeps"
    )
    name = models.CharField(max_length=200, blank=True)
    symbol = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=3, choices=TIMEFRAME_CHOICES)
    source = models.CharField(max_length=32, default=DEFAULT_SOURCE)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    grid = models.JSONField(help_text='Parameter name -> list of values, e.g. {"fast": [5, 10]}')
    options = models.JSONField(default=dict, blank=True, help_text="Engine options for every cell")
    rank_metric = models.CharField(max_length=40, default="sharpe_ratio")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    cell_count = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"sweep #{self.pk} {self.symbol} {self.timeframe} ({self.status})"


class Backtest(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtests"
    )
    strategy = models.ForeignKey(
        Strategy, on_delete=models.SET_NULL, null=True, blank=True, related_name="backtests"
    )
    sweep = models.ForeignKey(
        Sweep, on_delete=models.CASCADE, null=True, blank=True, related_name="backtests"
    )
    strategy_snapshot = models.JSONField(
        help_text="The strategy's name, rules and config as they were when the run was made."
    )
    symbol = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=3, choices=TIMEFRAME_CHOICES)
    source = models.CharField(max_length=32, default=DEFAULT_SOURCE)
    start_time = models.DateTimeField(null=True, blank=True, help_text="Empty: first stored.")
    end_time = models.DateTimeField(null=True, blank=True, help_text="Empty: last stored.")
    initial_balance = models.DecimalField(**MONEY)
    final_balance = models.DecimalField(**MONEY, null=True, blank=True)
    parameters = models.JSONField(
        help_text="Engine parameters used: strategy parameters, direction, fill, fee, "
        "slippage, sizing, risk."
    )
    reproducibility_hash = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    progress = models.FloatField(default=0.0, help_text="0 to 100.")
    error = models.TextField(blank=True)
    # Operators only (admin, queue page): an internal error's traceback, secrets masked.
    # Users see `error`, which never holds internals.
    traceback = models.TextField(blank=True, editable=False)
    metadata = models.JSONField(default=dict, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=("owner", "status")),
            models.Index(fields=("status", "heartbeat_at")),
        ]

    def __str__(self) -> str:
        return f"backtest #{self.pk} {self.symbol} {self.timeframe} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class Trade(models.Model):
    class Side(models.TextChoices):
        LONG = "long"
        SHORT = "short"

    backtest = models.ForeignKey(Backtest, on_delete=models.CASCADE, related_name="trades")
    entry_time = models.DateTimeField()
    entry_price = models.DecimalField(**PRICE)
    exit_time = models.DateTimeField(null=True, blank=True)
    exit_price = models.DecimalField(**PRICE, null=True, blank=True)
    quantity = models.DecimalField(**QUANTITY)
    side = models.CharField(max_length=5, choices=Side.choices)
    pnl = models.DecimalField(**MONEY, null=True, blank=True)
    pnl_percentage = models.DecimalField(**RATIO, null=True, blank=True)
    fees = models.DecimalField(**MONEY, default=0)
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    entry_reason = models.CharField(max_length=40, blank=True)
    exit_reason = models.CharField(max_length=40, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("backtest", "entry_time", "id")
        indexes = [models.Index(fields=("backtest", "entry_time"))]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} @ {self.entry_price}"


class PerformanceSummary(models.Model):
    """The design's performance_summaries columns; every other metric is in `metrics`."""

    backtest = models.OneToOneField(
        Backtest, on_delete=models.CASCADE, related_name="performance_summary"
    )
    total_trades = models.IntegerField()
    winning_trades = models.IntegerField()
    losing_trades = models.IntegerField()
    win_rate = models.DecimalField(**RATIO, null=True, blank=True, help_text="Percent.")
    profit_factor = models.DecimalField(**RATIO, null=True, blank=True)
    max_drawdown = models.DecimalField(**MONEY, null=True, blank=True)
    max_drawdown_percentage = models.DecimalField(**RATIO, null=True, blank=True)
    sharpe_ratio = models.DecimalField(**RATIO, null=True, blank=True)
    sortino_ratio = models.DecimalField(**RATIO, null=True, blank=True)
    total_pnl = models.DecimalField(**MONEY, null=True, blank=True)
    total_pnl_percentage = models.DecimalField(**RATIO, null=True, blank=True)
    average_win = models.DecimalField(**MONEY, null=True, blank=True)
    average_loss = models.DecimalField(**MONEY, null=True, blank=True)
    largest_win = models.DecimalField(**MONEY, null=True, blank=True)
    largest_loss = models.DecimalField(**MONEY, null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "performance summaries"

    def __str__(self) -> str:
        return f"summary of backtest #{self.backtest_id}"


class EquityCurve(models.Model):
    """One backtest's per-bar equity and exposure, stored compactly (see equity_codec)."""

    backtest = models.OneToOneField(Backtest, on_delete=models.CASCADE, related_name="equity_curve")
    bar_count = models.IntegerField()
    timestamps = models.BinaryField(help_text="zlib(int64 µs deltas)")
    equity = models.BinaryField(help_text="float64 per bar")
    exposure = models.BinaryField(help_text="float32 per bar")

    def __str__(self) -> str:
        return f"equity of backtest #{self.backtest_id}"


class PaperStatus(models.TextChoices):
    RUNNING = "running"  # stepped on every newly closed candle of its series
    STOPPED = "stopped"  # stopped by its owner; an open position stays as it was
    HALTED = "halted"  # a risk limit (or an operator's kill switch) ended the trading
    FAILED = "failed"  # stepping raised; `error` says why


class PaperSession(models.Model):
    """A strategy run forward on closed live candles (see `backtest.paper`).

    The engine's whole state between two candles is `state` (`BarStepper.to_state`): the
    candles themselves stay in the candle store. Equity is one point per stepped bar,
    `[time µs, equity, drawdown, exposure]`, in a JSON list.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="paper_sessions"
    )
    strategy = models.ForeignKey(
        Strategy, on_delete=models.SET_NULL, null=True, blank=True, related_name="paper_sessions"
    )
    strategy_snapshot = models.JSONField(
        help_text="The strategy's name, rules and config as they were when the session started."
    )
    symbol = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=3, choices=TIMEFRAME_CHOICES)
    source = models.CharField(max_length=32, default=DEFAULT_SOURCE)
    parameters = models.JSONField(help_text="Engine parameters, as a backtest records them.")
    initial_balance = models.DecimalField(**MONEY)
    status = models.CharField(
        max_length=10, choices=PaperStatus.choices, default=PaperStatus.RUNNING
    )
    state = models.JSONField(default=dict, blank=True, help_text="The stepper's state.")
    warm_up_bars = models.PositiveIntegerField(default=0)
    bars_stepped = models.PositiveIntegerField(default=0)
    last_timestamp = models.DateTimeField(
        null=True, blank=True, help_text="Open time of the last candle read (warm-up included)."
    )
    equity = models.DecimalField(**MONEY, null=True, blank=True)
    equity_points = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(
        default=dict,
        blank=True,
        help_text="A backtest's summary metrics over the bars traded so far (after each step).",
    )
    halted_reason = models.CharField(max_length=40, blank=True)
    killed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=("symbol", "timeframe", "source", "status")),
            models.Index(fields=("owner", "status")),
        ]
        permissions = [("kill_papersession", "Can kill paper sessions (the kill switch)")]

    def __str__(self) -> str:
        return f"paper session #{self.pk} {self.symbol} {self.timeframe} ({self.status})"


class PaperTrade(models.Model):
    """A paper session's closed round trip, with a backtest Trade's columns."""

    session = models.ForeignKey(PaperSession, on_delete=models.CASCADE, related_name="trades")
    entry_time = models.DateTimeField()
    entry_price = models.DecimalField(**PRICE)
    exit_time = models.DateTimeField()
    exit_price = models.DecimalField(**PRICE)
    quantity = models.DecimalField(**QUANTITY)
    side = models.CharField(max_length=5, choices=Trade.Side.choices)
    pnl = models.DecimalField(**MONEY)
    pnl_percentage = models.DecimalField(**RATIO)
    fees = models.DecimalField(**MONEY, default=0)
    entry_reason = models.CharField(max_length=40, blank=True)
    exit_reason = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("session", "entry_time", "id")
        indexes = [models.Index(fields=("session", "entry_time"))]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} @ {self.entry_price}"
