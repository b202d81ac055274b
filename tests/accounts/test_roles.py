"""Roles as groups: the four role groups and their permissions, `set_role` (service, CLI,
admin) with its security events, and what each role may and may not do."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from rest_framework.test import APIClient

from accounts import credentials
from accounts.roles import ROLE_PERMISSIONS, Role, sync_role_groups
from accounts.services import DEMO_ACCOUNTS, role_of, set_role
from audit.models import SecurityAction, SecurityEvent
from backtest.strategy_templates import template_strategy

pytestmark = pytest.mark.django_db

ROLE_NAMES = {role.value for role in Role}


def permission_names(group: Group) -> set[str]:
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def role_groups() -> dict[str, set[str]]:
    return {group.name: permission_names(group) for group in Group.objects.all()}


def expected_role_groups() -> dict[str, set[str]]:
    return {role.value: set(names) for role, names in ROLE_PERMISSIONS.items()}


def role_events(user) -> list[SecurityEvent]:
    return list(
        SecurityEvent.objects.filter(
            action=SecurityAction.ROLE_CHANGED, target_id=str(user.pk)
        ).order_by("id")
    )


def fresh(user):
    return get_user_model().objects.get(pk=user.pk)


def group_names(user) -> set[str]:
    return set(fresh(user).groups.values_list("name", flat=True))


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """The manifest storage needs `collectstatic`, which tests do not run."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


# --- The role groups -------------------------------------------------------------------


def test_the_database_holds_exactly_the_four_role_groups_with_exactly_their_permissions():
    assert role_groups() == expected_role_groups()
    assert set(role_groups()) == ROLE_NAMES
    assert role_groups()["viewer"] == set()
    assert role_groups()["admin"] == set()
    assert "marketdata.sync_market_data" in role_groups()["operator"]
    assert "marketdata.sync_market_data" not in role_groups()["analyst"]


def test_the_role_migration_alone_makes_the_four_groups_from_the_historical_models():
    Group.objects.all().delete()
    executor = MigrationExecutor(connection)
    state = executor.loader.project_state(("accounts", "0003_role_groups"))
    migration = executor.loader.get_migration("accounts", "0003_role_groups")
    (operation,) = migration.operations

    operation.code(state.apps, None)

    assert role_groups() == expected_role_groups()


def test_a_resync_gives_each_group_back_exactly_its_permissions():
    analyst_group = Group.objects.get(name="analyst")
    analyst_group.permissions.add(Permission.objects.get(codename="delete_strategy"))
    analyst_group.permissions.remove(Permission.objects.get(codename="add_strategy"))
    Group.objects.get(name="viewer").delete()
    Group.objects.create(name="desk-a").permissions.add(
        Permission.objects.get(codename="view_strategy")
    )

    sync_role_groups()

    groups = role_groups()
    assert groups.pop("desk-a") == {"backtest.view_strategy"}  # not a role: left alone
    assert groups == expected_role_groups()


# --- set_role --------------------------------------------------------------------------


def test_set_role_moves_a_user_between_roles_keeping_their_other_groups(make_user):
    desk = Group.objects.create(name="desk-a")
    user = make_user("bob")
    user.groups.add(desk)

    steps = [
        (Role.ANALYST, {"analyst", "desk-a"}, False, False),
        (Role.OPERATOR, {"operator", "desk-a"}, True, False),
        (Role.ADMIN, {"admin", "desk-a"}, True, True),
        (Role.VIEWER, {"viewer", "desk-a"}, False, False),
    ]
    for role, groups, is_staff, is_superuser in steps:
        assert set_role(user, role) is True
        stored = fresh(user)
        assert group_names(user) == groups
        assert (stored.is_staff, stored.is_superuser) == (is_staff, is_superuser)
        assert role_of(stored) == role


def test_set_role_leaves_one_role_group_when_a_user_was_in_several(make_user):
    user = make_user("bob")
    user.groups.add(*Group.objects.filter(name__in=["analyst", "operator", "viewer"]))
    assert role_of(fresh(user)) == Role.OPERATOR  # the highest of them

    set_role(user, Role.ANALYST)

    assert group_names(user) == {"analyst"}


@pytest.mark.parametrize(
    ("role", "granted", "refused"),
    [
        (
            Role.VIEWER,
            [],
            ["backtest.add_strategy", "backtest.add_backtest", "marketdata.sync_market_data"],
        ),
        (
            Role.ANALYST,
            ["backtest.add_strategy", "backtest.add_backtest", "marketdata.import_candles"],
            ["marketdata.sync_market_data", "backtest.view_strategy"],
        ),
        (
            Role.OPERATOR,
            ["marketdata.sync_market_data", "backtest.view_backtest", "backtest.add_sweep"],
            ["backtest.delete_strategy", "auth.change_user"],
        ),
        (Role.ADMIN, ["backtest.delete_strategy", "auth.change_user"], []),
    ],
)
def test_a_new_role_s_permissions_apply_at_once(make_user, role, granted, refused):
    user = make_user("bob", role=Role.VIEWER if role != Role.VIEWER else Role.ANALYST)
    user.has_perm("backtest.add_strategy")  # fills the permission cache of this instance

    set_role(user, role)

    for checked in (user, fresh(user)):
        assert all(checked.has_perm(name) for name in granted), granted
        assert not any(checked.has_perm(name) for name in refused), refused


def test_a_role_change_records_one_event_with_from_to_actor_and_target(make_user, operator):
    user = make_user("bob", role="analyst")

    assert set_role(user, "operator", actor=operator) is True

    (event,) = role_events(user)
    assert event.actor == operator
    assert event.actor_username == "ops"
    assert (event.target_type, event.target_id) == ("auth.user", str(user.pk))
    assert event.detail == {"user": "bob", "from": "analyst", "to": "operator"}


def test_a_first_role_records_from_none(make_user):
    user = make_user("bob")

    set_role(user, Role.VIEWER)

    (event,) = role_events(user)
    assert event.actor is None
    assert event.detail == {"user": "bob", "from": None, "to": "viewer"}


def test_setting_the_same_role_again_records_nothing(make_user, operator):
    user = make_user("bob", role="analyst")

    assert set_role(user, Role.ANALYST, actor=operator) is False

    assert role_events(user) == []
    assert group_names(user) == {"analyst"}


def test_an_unknown_role_is_refused_and_changes_nothing(make_user):
    user = make_user("bob", role="analyst")

    with pytest.raises(ValueError, match="boss"):
        set_role(user, "boss")

    assert group_names(user) == {"analyst"}
    assert role_events(user) == []


# --- role_of ---------------------------------------------------------------------------


def test_role_of_a_superuser_is_admin_whatever_their_groups(django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "Root-Pass-1")
    assert role_of(root) == Role.ADMIN
    root.groups.add(Group.objects.get(name="viewer"))
    assert role_of(fresh(root)) == Role.ADMIN


def test_role_of_a_user_in_no_role_group_is_none(make_user):
    user = make_user("bob")
    assert role_of(user) is None
    user.groups.add(Group.objects.create(name="desk-a"))
    assert role_of(fresh(user)) is None


# --- manage.py set_role ----------------------------------------------------------------


def test_the_set_role_command_sets_the_role_and_says_so(make_user):
    user = make_user("bob", role="viewer")
    out = io.StringIO()

    call_command("set_role", "bob", "operator", stdout=out)

    assert "bob is now operator." in out.getvalue()
    stored = fresh(user)
    assert role_of(stored) == Role.OPERATOR
    assert stored.is_staff
    (event,) = role_events(user)
    assert event.detail == {"user": "bob", "from": "viewer", "to": "operator"}
    assert event.actor is None

    again = io.StringIO()
    call_command("set_role", "bob", "operator", stdout=again)
    assert "bob already was operator." in again.getvalue()
    assert len(role_events(user)) == 1


def test_the_set_role_command_names_an_unknown_user():
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("set_role", "nobody", "analyst")


def test_the_set_role_command_names_an_unknown_role(make_user):
    user = make_user("bob", role="viewer")

    with pytest.raises((CommandError, SystemExit)) as refused:
        call_command("set_role", "bob", "boss")

    assert "boss" in str(refused.value)
    assert role_of(fresh(user)) == Role.VIEWER
    assert role_events(user) == []


# --- The admin's user page -------------------------------------------------------------


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "Root-Pass-1")


def change_form(user, groups: list[Group], **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": user.email,
        "is_active": "on",
        "groups": [group.pk for group in groups],
        "user_permissions": [],
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
        "last_login_0": "",
        "last_login_1": "",
        "_save": "Save",
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def test_adding_a_user_to_the_operator_group_in_the_admin_records_the_role_change(
    client: Client, superuser, make_user
):
    user = make_user("bob", role="analyst")
    desk = Group.objects.create(name="desk-a")
    client.force_login(superuser)

    response = client.post(
        f"/admin/auth/user/{user.pk}/change/",
        change_form(user, [Group.objects.get(name="operator"), desk], is_staff="on"),
        REMOTE_ADDR="203.0.113.7",
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert group_names(user) == {"operator", "desk-a"}
    (event,) = role_events(user)
    assert event.actor == superuser
    assert event.actor_username == "root"
    assert event.ip == "203.0.113.7"
    assert (event.target_type, event.target_id) == ("auth.user", str(user.pk))
    assert event.detail == {"user": "bob", "from": "analyst", "to": "operator"}


def test_ticking_superuser_in_the_admin_records_a_change_to_admin(
    client: Client, superuser, make_user
):
    user = make_user("bob", role="operator")
    client.force_login(superuser)

    response = client.post(
        f"/admin/auth/user/{user.pk}/change/",
        change_form(user, [Group.objects.get(name="operator")], is_staff="on", is_superuser="on"),
    )

    assert response.status_code == 302
    (event,) = role_events(user)
    assert event.actor == superuser
    assert event.detail == {"user": "bob", "from": "operator", "to": "admin"}


def test_saving_a_user_in_the_admin_without_a_role_change_records_nothing(
    client: Client, superuser, make_user
):
    user = make_user("bob", role="analyst")
    client.force_login(superuser)

    response = client.post(
        f"/admin/auth/user/{user.pk}/change/",
        change_form(user, [Group.objects.get(name="analyst")], email="bob@example.com"),
    )

    assert response.status_code == 302
    assert fresh(user).email == "bob@example.com"
    assert role_events(user) == []


def test_a_role_given_in_the_admin_is_the_user_s_only_role_with_its_admin_access(
    client: Client, superuser, make_user
):
    """The admin's user page gives roles like `set_role` does (accounts/roles.py): one
    role group at a time, and admin access for operators."""
    user = make_user("bob", role="analyst")
    client.force_login(superuser)

    # The operator box ticked, the analyst box left ticked, "staff status" left alone.
    response = client.post(
        f"/admin/auth/user/{user.pk}/change/",
        change_form(user, list(Group.objects.filter(name__in=["analyst", "operator"]))),
    )

    assert response.status_code == 302
    stored = fresh(user)
    assert role_of(stored) == Role.OPERATOR
    assert group_names(user) == {"operator"}
    assert stored.is_staff
    assert len(role_events(user)) == 1


def test_the_admin_user_list_shows_and_filters_by_role(client: Client, superuser, make_user):
    make_user("bob", role="analyst")
    make_user("vee", role="viewer")
    client.force_login(superuser)

    listing = client.get("/admin/auth/user/", {"role": "analyst"})

    assert listing.status_code == 200
    names = [user.username for user in listing.context["cl"].result_list]
    assert names == ["bob"]


# --- What each role may do -------------------------------------------------------------


def test_viewers_cannot_create_strategies_or_backtests_and_analysts_can(make_user):
    viewer = make_user("vee", role="viewer")
    analyst = make_user("bob", role="analyst")
    for name in ("backtest.add_strategy", "backtest.add_backtest", "backtest.add_sweep"):
        assert not viewer.has_perm(name)
        assert analyst.has_perm(name)

    sma = template_strategy("sma_cross")
    body = {key: sma[key] for key in ("entry_rules", "exit_rules", "config")}
    for user, status in ((viewer, 403), (analyst, 201)):
        client = APIClient()
        client.force_authenticate(user)
        response = client.post("/api/strategies/", {"name": "mine", **body}, format="json")
        assert response.status_code == status, response.content


def test_an_operator_lists_only_their_own_exchange_credentials(operator, analyst):
    mine = credentials.store_credential(
        operator, exchange="binance", label="ops key", api_key="K" * 64, api_secret="S" * 64
    )
    theirs = credentials.store_credential(
        analyst, exchange="binance", label="ana key", api_key="A" * 64, api_secret="B" * 64
    )
    client = APIClient()
    client.force_authenticate(operator)

    listing = client.get("/api/credentials/")

    assert listing.status_code == 200
    assert [row["id"] for row in listing.json()["results"]] == [mine.pk]
    assert "S" * 64 not in listing.content.decode()
    assert client.get(f"/api/credentials/{theirs.pk}/").status_code == 404


def test_seed_demo_makes_the_demo_viewer_with_the_viewer_role():
    call_command("seed_demo", stdout=io.StringIO())

    users = get_user_model().objects.prefetch_related("groups")
    roles = {user.username: role_of(user) for user in users}
    assert {account.username: account.role for account in DEMO_ACCOUNTS}.items() <= roles.items()
    viewer = users.get(username="viewer")
    assert roles["viewer"] == Role.VIEWER
    assert not viewer.is_staff and not viewer.is_superuser
    assert viewer.check_password("central-viewer-demo")
    assert not viewer.has_perm("backtest.add_backtest")
