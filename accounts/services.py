"""Account operations shared by the admin, the API and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Permission

# Analysts research: they create strategies, backtests and sweeps, and see what they own
# or what is shared with them. Operators also see and manage everyone's runs.
ANALYST_PERMISSIONS = (
    "marketdata.import_candles",
    "backtest.add_strategy",
    "backtest.add_backtest",
    "backtest.add_sweep",
)
OPERATOR_PERMISSIONS = (
    *ANALYST_PERMISSIONS,
    "marketdata.sync_market_data",
    "backtest.view_strategy",
    "backtest.change_strategy",
    "backtest.view_backtest",
    "backtest.change_backtest",
    "backtest.view_sweep",
    "backtest.change_sweep",
    "backtest.view_trade",
    "backtest.view_performancesummary",
    "audit.view_securityevent",
)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str


DEMO_ACCOUNTS = (
    DemoAccount("operator", "central-operator-demo", "operator"),
    DemoAccount("analyst", "central-analyst-demo", "analyst"),
)


def _permissions(names: tuple[str, ...]) -> list[Permission]:
    found = []
    for name in names:
        app_label, codename = name.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def grant_role_permissions(user: AbstractUser, role: str) -> None:
    """Operators run the admin and market-data syncs; analysts import and research."""
    names = OPERATOR_PERMISSIONS if role == "operator" else ANALYST_PERMISSIONS
    user.user_permissions.add(*_permissions(names))
    if role == "operator" and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])


def ensure_demo_users() -> list[tuple[DemoAccount, bool]]:
    """Create the demo operator and analyst if missing; (account, created) for each."""
    user_model = get_user_model()
    results = []
    for account in DEMO_ACCOUNTS:
        user, created = user_model.objects.get_or_create(
            username=account.username, defaults={"email": f"{account.username}@central.local"}
        )
        if created:
            user.set_password(account.password)
            user.save()
        grant_role_permissions(user, account.role)
        results.append((account, created))
    return results
