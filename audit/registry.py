"""Which models the audit trail covers. Candles and sync runs are left out on purpose:
candles change in bulk through imports and syncs, and a sync run is itself the record of
a sync (its counters change with every chunk)."""

from auditlog.registry import auditlog
from django.apps import apps

AUDITED_MODELS = (
    "marketdata.Symbol",
    "marketdata.CandleSeries",
    "marketdata.WatchedSymbol",
    "auth.User",
    "auth.Group",
)


def register_audited_models() -> None:
    for label in AUDITED_MODELS:
        model = apps.get_model(label)
        if not auditlog.contains(model):
            auditlog.register(model, exclude_fields=["password", "last_login"])
