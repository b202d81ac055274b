"""A trader's real fills, the imports that brought them, and their replays.

- `ImportBatch`: one import (a file, or a fetch from the exchange's API): who, what,
  how many rows went in, were already there, or were rejected and why.
- `TransactionHistory` (the design's `transaction_histories`): one real fill, in exact
  decimals, unique per (owner, exchange, transaction id) so importing the same trades
  again adds nothing. Files without ids get a deterministic one derived from the row.
- `ReplayRun`: one replay of a set of transactions against market data (status,
  progress, parameters, summary), optionally in the context of a backtest.
- `ReplayExecution` (the design's `replay_executions`): the outcome for one transaction
  in one run: the candle that contained it, the replayed price under the run's fill
  model, slippage and value difference, or why it could not be replayed.
"""

from django.conf import settings
from django.db import models
from django.db.models import JSONField, Value
from django.db.models.functions import Now

from backtest.models import RunStatus
from marketdata.timeframes import TIMEFRAME_CHOICES

# Exact decimals as exchanges report them (Binance: 8 decimals; room for more).
PRICE = {"max_digits": 38, "decimal_places": 18}
QUANTITY = {"max_digits": 38, "decimal_places": 18}


class ImportFormat(models.TextChoices):
    BINANCE_TRADES = "binance_trades", "Binance spot trade-history export"
    GENERIC = "generic", "generic CSV"
    BINANCE_API = "binance_api", "Binance account trade list (API)"


class ImportBatch(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_batches"
    )
    file_name = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=16, choices=ImportFormat.choices)
    exchange = models.CharField(max_length=32, default="binance")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    rows_total = models.PositiveIntegerField(default=0)
    inserted = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(
        default=0, help_text="Rows already imported before (same exchange transaction id)."
    )
    rejected = models.PositiveIntegerField(default=0)
    rejects = models.JSONField(
        default=list, blank=True, help_text='[{"line": 7, "field": "price", "message": "…"}]'
    )
    parameters = models.JSONField(
        default=dict, blank=True, help_text="Column mapping, symbols fetched, options."
    )
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "import batches"
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"import #{self.pk} {self.file_name or self.format} ({self.status})"


class Side(models.TextChoices):
    BUY = "buy"
    SELL = "sell"


class TransactionType(models.TextChoices):
    MARKET = "market"
    LIMIT = "limit"
    STOP_LIMIT = "stop_limit"
    TAKE_PROFIT = "take_profit"


class TransactionHistory(models.Model):
    # No database foreign keys (db_constraint=False): their per-row referential checks
    # cost more than a third of storing a 100,000-fill import. Fills are only written by
    # replay.storage with an owner and a batch that exist; Django's deletion cascades
    # (CASCADE, SET_NULL) do not depend on the constraints.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="transactions",
        db_constraint=False,
    )
    import_batch = models.ForeignKey(
        ImportBatch,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="transactions",
        db_constraint=False,
    )
    transaction_time = models.DateTimeField()
    symbol = models.CharField(max_length=20, help_text="Normalised: BTCUSDT.")
    price = models.DecimalField(**PRICE)
    quantity = models.DecimalField(**QUANTITY)
    side = models.CharField(max_length=4, choices=Side.choices)
    transaction_type = models.CharField(
        max_length=12, choices=TransactionType.choices, default=TransactionType.MARKET
    )
    transaction_id = models.CharField(
        max_length=64, help_text="The exchange's trade id, or one derived from the row."
    )
    exchange = models.CharField(max_length=32, default="binance")
    metadata = models.JSONField(
        default=dict, blank=True, help_text="fee, fee_asset, the raw row, order id, maker."
    )
    is_replayed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "transaction"
        ordering = ("transaction_time", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("owner", "exchange", "transaction_id"), name="unique_owner_transaction"
            )
        ]
        indexes = [models.Index(fields=("owner", "symbol", "transaction_time"))]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol} @ {self.price}"


class FillModel(models.TextChoices):
    OPEN = "open", "candle open"
    CLOSE = "close", "candle close"
    TYPICAL = "typical", "typical price (high + low + close) / 3"
    WORST = "worst", "worst of high/low for the side"


class ReplayRun(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="replay_runs"
    )
    backtest = models.ForeignKey(
        "backtest.Backtest",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="replay_runs",
        help_text="Set when the replay compares the trades with this backtest.",
    )
    name = models.CharField(max_length=200, blank=True)
    symbol = models.CharField(max_length=20, blank=True, help_text="Empty: every symbol.")
    timeframe = models.CharField(max_length=3, choices=TIMEFRAME_CHOICES, default="1m")
    fill_model = models.CharField(max_length=8, choices=FillModel.choices, default="close")
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    progress = models.FloatField(default=0.0, help_text="0 to 100.")
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    # Operators only (admin, queue page): an internal error's traceback, secrets masked.
    # Users see `error`, which never holds internals.
    traceback = models.TextField(blank=True, editable=False)
    task_id = models.CharField(max_length=64, blank=True)
    transaction_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("owner", "status"))]

    def __str__(self) -> str:
        return f"replay #{self.pk} {self.symbol or 'all symbols'} {self.timeframe} ({self.status})"


class ExecutionStatus(models.TextChoices):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"  # no market data for the transaction: reported, not guessed


class ReplayExecution(models.Model):
    # No database foreign keys to the run and the transaction: their per-row checks
    # doubled the time to store a large run's executions, which only the replay writes
    # (by COPY, inside the run's transaction, for rows it has just read). Deletes still
    # cascade through the ORM. The run's own index is the (replay_run, status) one.
    replay_run = models.ForeignKey(
        ReplayRun,
        on_delete=models.CASCADE,
        related_name="executions",
        db_constraint=False,
        db_index=False,
    )
    transaction_history = models.ForeignKey(
        TransactionHistory,
        on_delete=models.CASCADE,
        related_name="replay_executions",
        db_constraint=False,
    )
    backtest = models.ForeignKey(
        "backtest.Backtest",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="replay_executions",
    )
    # Database defaults: a replay's COPY leaves both out, and PostgreSQL fills them in
    # (now() is the writing transaction's start, the same for the whole run).
    executed_at = models.DateTimeField(db_default=Now())
    status = models.CharField(max_length=10, choices=ExecutionStatus.choices)
    candle_time = models.DateTimeField(null=True, blank=True)
    replay_price = models.DecimalField(**PRICE, null=True, blank=True)
    slippage = models.DecimalField(
        **PRICE,
        null=True,
        blank=True,
        help_text=(
            "Per unit, positive when the real fill was worse: a buy's real minus replayed "
            "price, a sell's replayed minus real price."
        ),
    )
    slippage_pct = models.FloatField(null=True, blank=True)
    value_difference = models.DecimalField(
        **PRICE,
        null=True,
        blank=True,
        help_text="Slippage times quantity: what the real fill cost the trader against the "
        "replayed one (negative: it did better).",
    )
    result = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, db_default=Value({}, JSONField()), blank=True)

    class Meta:
        ordering = ("replay_run", "id")
        indexes = [models.Index(fields=("replay_run", "status"))]

    def __str__(self) -> str:
        return f"execution #{self.pk} of replay #{self.replay_run_id} ({self.status})"
