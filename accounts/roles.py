"""Roles are groups: viewer, analyst, operator and admin.

A migration creates the four groups; `sync_role_groups` (run by that migration and after
every `migrate`) gives each group exactly the model permissions listed here, so an app
added later only lists its permissions below. A user holds one role at a time, set by
`set_role` (the admin's user page, `manage.py set_role` and the demo data all use it).

- viewer: reads what is shared with them; no model permission.
- analyst: owns strategies, backtests, sweeps, imports and replays (object permissions on
  what they own come from `accounts.sharing`, not from the group).
- operator: admin access (`is_staff`), market-data syncs, and sees and manages every run;
  never another user's exchange secrets (the admin lists credentials by label and last
  four characters of the key; nothing shows a secret).
- admin: a superuser; the group carries no permission because a superuser has them all.
"""

from __future__ import annotations

from enum import StrEnum

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions


class Role(StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    OPERATOR = "operator"
    ADMIN = "admin"


ANALYST_PERMISSIONS = (
    "marketdata.import_candles",
    "accounts.add_exchangecredential",
    "backtest.add_strategy",
    "backtest.add_backtest",
    "backtest.add_sweep",
    "backtest.add_papersession",
    "replay.add_importbatch",
    "replay.add_replayrun",
)
OPERATOR_PERMISSIONS = (
    *ANALYST_PERMISSIONS,
    "marketdata.sync_market_data",
    "marketdata.view_symbol",
    "marketdata.change_symbol",
    "marketdata.view_candleseries",
    "marketdata.view_watchedsymbol",
    "marketdata.add_watchedsymbol",
    "marketdata.change_watchedsymbol",
    "marketdata.delete_watchedsymbol",
    "marketdata.view_syncrun",
    "marketdata.change_syncrun",
    "marketdata.view_candlerecord",
    "backtest.view_strategy",
    "backtest.change_strategy",
    "backtest.view_backtest",
    "backtest.change_backtest",
    "backtest.view_sweep",
    "backtest.change_sweep",
    "backtest.view_trade",
    "backtest.view_performancesummary",
    "backtest.view_papersession",
    "backtest.change_papersession",
    "backtest.kill_papersession",
    "backtest.view_papertrade",
    "replay.view_importbatch",
    "replay.change_importbatch",
    "replay.view_transactionhistory",
    "replay.view_replayrun",
    "replay.change_replayrun",
    "replay.view_replayexecution",
    "accounts.view_exchangecredential",
    "accounts.view_apitoken",
    "accounts.change_apitoken",
    "audit.view_securityevent",
    "auditlog.view_logentry",
)
ROLE_PERMISSIONS: dict[Role, tuple[str, ...]] = {
    Role.VIEWER: (),
    Role.ANALYST: ANALYST_PERMISSIONS,
    Role.OPERATOR: OPERATOR_PERMISSIONS,
    Role.ADMIN: (),
}
STAFF_ROLES = frozenset({Role.OPERATOR, Role.ADMIN})


class UnknownPermission(LookupError):
    pass


def _permission_ids(apps: Apps, names: tuple[str, ...], strict: bool) -> list[int]:
    permission_model = apps.get_model("auth", "Permission")
    wanted = {tuple(name.split(".", 1)) for name in names}
    found = {
        (app_label, codename): pk
        for pk, app_label, codename in permission_model.objects.filter(
            codename__in=[codename for _, codename in wanted]
        ).values_list("pk", "content_type__app_label", "codename")
        if (app_label, codename) in wanted
    }
    missing = sorted(".".join(key) for key in wanted - found.keys())
    if missing and strict:
        raise UnknownPermission(f"role permissions that do not exist: {', '.join(missing)}")
    return list(found.values())


def sync_role_groups(apps: Apps = global_apps) -> None:
    """Create the role groups and give each exactly its listed permissions. Runs in the
    accounts migration (with the historical `apps`, where apps migrated later have no
    permissions yet: those are skipped) and after every `migrate` (where a permission
    that does not exist is an error)."""
    strict = apps is global_apps
    for app_config in apps.get_app_configs():
        if apps is not global_apps:
            # A migration's app stubs lack models_module, which create_permissions needs.
            app_config.models_module = True
        # Permissions are normally created after all migrations; roles need them now.
        create_permissions(app_config, apps=apps, verbosity=0)
    group_model = apps.get_model("auth", "Group")
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role.value)
        group.permissions.set(_permission_ids(apps, names, strict))
