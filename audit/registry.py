"""Which models the audit trail covers. Candles, sync runs and backtest runs are left out
on purpose: candles change in bulk through imports and syncs, and a run is itself the
record of what was run (its progress changes many times a second)."""

from auditlog.registry import auditlog
from django.apps import apps

AUDITED_MODELS = (
    "marketdata.Symbol",
    "marketdata.CandleSeries",
    "marketdata.WatchedSymbol",
    "backtest.Strategy",
    "auth.User",
    "auth.Group",
)


def register_audited_models() -> None:
    for label in AUDITED_MODELS:
        model = apps.get_model(label)
        if not auditlog.contains(model):
            auditlog.register(model, exclude_fields=["password", "last_login"])
