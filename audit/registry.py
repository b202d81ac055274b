"""Which models django-auditlog records, and how.

Every model of Central's apps (and the user and group models) is either registered here
or listed in NOT_AUDITED with the reason; a test walks the app registry to keep it so,
so a model added later must take a side.

- Secrets never reach the log: credentials' key and secret, token hashes and passwords
  are excluded fields.
- Runs (backtests, sweeps, sync runs) log their lifecycle fields only: their progress and
  counters change many times a second and are the run's own record.
"""

from __future__ import annotations

from auditlog.registry import auditlog
from django.apps import apps

PROJECT_APPS = ("accounts", "audit", "backtest", "marketdata", "replay")
LIFECYCLE_FIELDS = ["status", "error", "started_at", "finished_at"]

# model label -> auditlog.register keyword arguments
AUDITED_MODELS: dict[str, dict] = {
    "auth.User": {"exclude_fields": ["password", "last_login"]},
    "auth.Group": {},
    "accounts.ExchangeCredential": {
        "exclude_fields": ["api_key", "api_secret", "last_used_at", "checked_at"]
    },
    "accounts.ApiToken": {"exclude_fields": ["key_hash", "last_used_at"]},
    "marketdata.Symbol": {},
    "marketdata.CandleSeries": {},
    "marketdata.WatchedSymbol": {},
    "marketdata.SyncRun": {"include_fields": ["symbol", "timeframe", *LIFECYCLE_FIELDS]},
    "backtest.Strategy": {},
    "backtest.Backtest": {"include_fields": ["owner", "symbol", "timeframe", *LIFECYCLE_FIELDS]},
    "backtest.Sweep": {"include_fields": ["owner", "name", "status", "error", "finished_at"]},
    "backtest.PaperSession": {
        "include_fields": [
            "owner",
            "symbol",
            "timeframe",
            "status",
            "halted_reason",
            "killed_by",
            "error",
            "started_at",
            "stopped_at",
        ]
    },
    "replay.ImportBatch": {
        "include_fields": ["owner", "file_name", "format", "status", "error", "finished_at"]
    },
    "replay.ReplayRun": {"include_fields": ["owner", "symbol", "fill_model", *LIFECYCLE_FIELDS]},
}

# model label -> why its rows are not logged one by one
NOT_AUDITED: dict[str, str] = {
    "marketdata.Candle": "market data, written in bulk by imports and syncs (see SyncRun)",
    "marketdata.CandleRecord": "a read-only database view over candles",
    "marketdata.MarketStream": "a stream process's own state, rewritten every second",
    "backtest.Trade": "a run's results, written in one COPY by the engine",
    "backtest.PerformanceSummary": "a run's results, computed once by the engine",
    "backtest.EquityCurve": "a run's results, computed once by the engine",
    "backtest.PaperTrade": "a paper session's results, written by its stepping task",
    "audit.SecurityEvent": "the security trail itself",
    "replay.TransactionHistory": "a trader's fills, written in bulk by imports (see ImportBatch)",
    "replay.ReplayExecution": "a replay's results, written in bulk by the replay",
}


def register_audited_models() -> None:
    for label, options in AUDITED_MODELS.items():
        model = apps.get_model(label)
        if not auditlog.contains(model):
            auditlog.register(model, **options)
