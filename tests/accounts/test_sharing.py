"""Sharing: owners' object permissions, and `GET/POST/DELETE /api/<resource>/{id}/shares/`
for strategies, backtests and sweeps (the API and `accounts.sharing` behind it)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_perms
from rest_framework.test import APIClient

from accounts import sharing
from audit.models import SecurityAction, SecurityEvent
from backtest import services
from backtest.models import Backtest, Strategy, Sweep
from backtest.strategy_templates import template_strategy
from marketdata.sample_data import kline_rows
from marketdata.services import import_candles

pytestmark = pytest.mark.django_db

START_2024_MS = 1_704_067_200_000
HOUR_MS = 3_600_000
SHARE_ACTIONS = (SecurityAction.SHARE_GRANTED, SecurityAction.SHARE_REVOKED)


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def definition(**changes) -> dict:
    sma = template_strategy("sma_cross")
    return {**{key: sma[key] for key in ("entry_rules", "exit_rules", "config")}, **changes}


def make_strategy(owner, name: str = "SMA cross", **changes) -> Strategy:
    return services.create_strategy(owner, name=name, **definition(**changes))


def request_for(strategy: Strategy) -> services.BacktestRequest:
    return services.BacktestRequest(symbol="BTCUSDT", timeframe="1h", strategy=strategy)


@pytest.fixture
def candles() -> None:
    """600 hourly BTCUSDT candles from 2024-01-01, stored through the importer."""
    data = kline_rows(START_2024_MS, HOUR_MS, 600, 40_000.0, 7)
    import_candles(io.BytesIO(data), symbol="BTCUSDT", timeframe="1h", filename="klines.csv")


@pytest.fixture
def bob(make_user):
    return make_user("bob", role="analyst")


@pytest.fixture
def vee(make_user):
    """A viewer: no model permission, sees only what is shared with them."""
    return make_user("vee", role="viewer")


@pytest.fixture
def stranger(make_user):
    return make_user("zed", role="analyst")


@pytest.fixture
def desk(make_user) -> Group:
    """A team group (not a role) with one viewer in it."""
    group = Group.objects.create(name="desk-a")
    make_user("dee", role="viewer").groups.add(group)
    return group


@pytest.fixture
def strategy(analyst) -> Strategy:
    return make_strategy(analyst)


@pytest.fixture
def backtest(analyst, strategy, candles) -> Backtest:
    """Queued (its task is only sent on commit, which tests do not reach)."""
    return services.submit_backtest(analyst, request_for(strategy))


@pytest.fixture
def sweep(analyst, strategy, candles) -> Sweep:
    return services.submit_sweep(analyst, request_for(strategy), {"fast": [5, 10]})


@dataclass(frozen=True)
class Resource:
    """How to reach a shareable resource in the API, and what 'change' lets one do."""

    path: str  # "strategies"
    fixture: str
    model_name: str

    def detail(self, obj) -> str:
        return f"/api/{self.path}/{obj.pk}/"

    def shares(self, obj) -> str:
        return f"/api/{self.path}/{obj.pk}/shares/"

    def change(self, client: APIClient, obj):
        """The change a share for 'change' allows: edit a strategy, cancel a run."""
        if self.path == "strategies":
            return client.patch(self.detail(obj), {"description": "edited"}, format="json")
        return client.post(f"{self.detail(obj)}cancel/")


STRATEGY = Resource("strategies", "strategy", "strategy")
BACKTEST = Resource("backtests", "backtest", "backtest")
SWEEP = Resource("sweeps", "sweep", "sweep")
RESOURCES = pytest.mark.parametrize("resource", [STRATEGY, BACKTEST, SWEEP], ids=lambda r: r.path)


@pytest.fixture
def shared(request, resource: Resource):
    return request.getfixturevalue(resource.fixture)


def listed_ids(client: APIClient, path: str) -> set[int]:
    response = client.get(f"/api/{path}/")
    assert response.status_code == 200
    return {row["id"] for row in response.json()["results"]}


def permission_rows(obj) -> int:
    content_type = ContentType.objects.get_for_model(obj)
    return sum(
        model.objects.filter(content_type=content_type, object_pk=str(obj.pk)).count()
        for model in (UserObjectPermission, GroupObjectPermission)
    )


def share_events() -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(action__in=SHARE_ACTIONS).order_by("id"))


def perms(user, obj) -> set[str]:
    return set(get_perms(user, obj))


# --- Owners' object permissions --------------------------------------------------------


def test_the_owner_holds_view_change_and_delete_on_everything_they_create(
    analyst, bob, strategy, backtest, sweep
):
    cells = list(sweep.backtests.all())  # made by bulk_create
    assert len(cells) == 2
    for obj in (strategy, backtest, sweep, *cells):
        name = obj._meta.model_name
        assert perms(analyst, obj) == {f"view_{name}", f"change_{name}", f"delete_{name}"}
        assert perms(bob, obj) == set()


def test_grant_owner_permissions_covers_rows_made_by_bulk_create(analyst):
    strategies = Strategy.objects.bulk_create(
        Strategy(owner=analyst, name=f"bulk {i}", **definition()) for i in range(3)
    )
    assert all(perms(analyst, obj) == set() for obj in strategies)  # no post_save

    sharing.grant_owner_permissions(strategies)
    sharing.grant_owner_permissions(strategies)  # twice: no duplicate, no error

    for obj in strategies:
        assert perms(analyst, obj) == {"view_strategy", "change_strategy", "delete_strategy"}
        assert permission_rows(obj) == 3


# --- Sharing for view, then change, then view again ------------------------------------


@RESOURCES
def test_a_view_share_lets_the_grantee_read_it_but_not_change_it(resource, shared, analyst, bob):
    owner, grantee = client_for(analyst), client_for(bob)
    assert grantee.get(resource.detail(shared)).status_code == 404
    assert shared.pk not in listed_ids(grantee, resource.path)

    response = owner.post(
        resource.shares(shared), {"grantee": "bob", "permission": "view"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json() == {"grantee_type": "user", "grantee": "bob", "permission": "view"}
    assert shared.pk in listed_ids(grantee, resource.path)
    assert grantee.get(resource.detail(shared)).status_code == 200
    assert resource.change(grantee, shared).status_code == 403
    assert owner.get(resource.shares(shared)).json() == [
        {"grantee_type": "user", "grantee": "bob", "permission": "view"}
    ]
    assert perms(bob, shared) == {f"view_{resource.model_name}"}


@RESOURCES
def test_sharing_again_for_change_upgrades_and_for_view_downgrades(resource, shared, analyst, bob):
    owner, grantee = client_for(analyst), client_for(bob)
    name = resource.model_name
    owner.post(resource.shares(shared), {"grantee": "bob"}, format="json")  # view by default
    assert perms(bob, shared) == {f"view_{name}"}

    upgrade = owner.post(
        resource.shares(shared), {"grantee": "bob", "permission": "change"}, format="json"
    )

    assert upgrade.status_code == 201
    assert upgrade.json()["permission"] == "change"
    assert perms(bob, shared) == {f"view_{name}", f"change_{name}"}
    assert owner.get(resource.shares(shared)).json() == [
        {"grantee_type": "user", "grantee": "bob", "permission": "change"}
    ]
    changed = resource.change(grantee, shared)
    assert changed.status_code == 200, changed.content
    if resource is STRATEGY:
        assert changed.json()["description"] == "edited"
    else:
        assert changed.json()["status"] == "cancelled"
    # A share for change still leaves deleting to the owner.
    if resource is STRATEGY:
        assert grantee.delete(resource.detail(shared)).status_code == 403

    downgrade = owner.post(
        resource.shares(shared), {"grantee": "bob", "permission": "view"}, format="json"
    )

    assert downgrade.status_code == 201
    assert perms(bob, shared) == {f"view_{name}"}
    assert owner.get(resource.shares(shared)).json() == [
        {"grantee_type": "user", "grantee": "bob", "permission": "view"}
    ]
    assert resource.change(grantee, shared).status_code == 403
    assert grantee.get(resource.detail(shared)).status_code == 200


def test_a_grantee_with_change_can_rerun_a_backtest_when_they_may_run_backtests(
    analyst, bob, backtest
):
    client_for(analyst).post(
        BACKTEST.shares(backtest), {"grantee": "bob", "permission": "change"}, format="json"
    )

    grantee = client_for(bob)

    rerun = grantee.post(f"/api/backtests/{backtest.pk}/rerun/")

    assert rerun.status_code == 202, rerun.content
    copy = Backtest.objects.get(metadata__rerun_of=backtest.pk)
    assert copy.owner == analyst  # a re-run stays the owner's research
    assert rerun.json()["id"] == copy.pk
    # The 202 points at the new run: whoever started it can follow it there.
    assert grantee.get(rerun["Location"]).status_code == 200


def test_a_grantee_with_change_cannot_make_the_owner_s_strategy_public(analyst, bob, strategy):
    """Making a strategy public shares it with every analyst, and sharing stays with the
    owner (accounts/sharing.py)."""
    client_for(analyst).post(
        STRATEGY.shares(strategy), {"grantee": "bob", "permission": "change"}, format="json"
    )

    response = client_for(bob).patch(STRATEGY.detail(strategy), {"is_public": True}, format="json")

    assert response.status_code in (400, 403), response.content
    strategy.refresh_from_db()
    assert not strategy.is_public


# --- Groups ----------------------------------------------------------------------------


@RESOURCES
def test_a_group_share_reaches_every_member_of_the_group(
    resource, shared, analyst, desk, vee, make_user
):
    owner, member, outsider = client_for(analyst), client_for(desk.user_set.get()), client_for(vee)

    response = owner.post(
        resource.shares(shared), {"grantee_type": "group", "grantee": "desk-a"}, format="json"
    )

    assert response.status_code == 201
    assert response.json() == {"grantee_type": "group", "grantee": "desk-a", "permission": "view"}
    assert shared.pk in listed_ids(member, resource.path)
    assert member.get(resource.detail(shared)).status_code == 200
    assert resource.change(member, shared).status_code == 403
    assert outsider.get(resource.detail(shared)).status_code == 404
    assert owner.get(resource.shares(shared)).json() == [
        {"grantee_type": "group", "grantee": "desk-a", "permission": "view"}
    ]

    # A user joining the group later sees it too.
    newcomer = make_user("neo", role="viewer")
    newcomer.groups.add(desk)
    assert client_for(newcomer).get(resource.detail(shared)).status_code == 200

    revoked = owner.delete(f"{resource.shares(shared)}?grantee_type=group&grantee=desk-a")
    assert revoked.status_code == 204
    assert member.get(resource.detail(shared)).status_code == 404


def test_shares_list_users_and_groups_sorted_and_not_the_owner(analyst, bob, vee, desk, strategy):
    owner = client_for(analyst)
    for body in (
        {"grantee": "vee", "permission": "change"},
        {"grantee_type": "group", "grantee": "desk-a", "permission": "change"},
        {"grantee": "bob"},
    ):
        assert owner.post(STRATEGY.shares(strategy), body, format="json").status_code == 201

    assert owner.get(STRATEGY.shares(strategy)).json() == [
        {"grantee_type": "group", "grantee": "desk-a", "permission": "change"},
        {"grantee_type": "user", "grantee": "bob", "permission": "view"},
        {"grantee_type": "user", "grantee": "vee", "permission": "change"},
    ]


# --- Revoking --------------------------------------------------------------------------


@RESOURCES
def test_revoking_takes_the_share_back_and_a_second_revoke_is_refused(
    resource, shared, analyst, bob
):
    owner, grantee = client_for(analyst), client_for(bob)
    owner.post(resource.shares(shared), {"grantee": "bob", "permission": "change"}, format="json")
    assert grantee.get(resource.detail(shared)).status_code == 200

    revoked = owner.delete(f"{resource.shares(shared)}?grantee_type=user&grantee=bob")

    assert revoked.status_code == 204
    assert grantee.get(resource.detail(shared)).status_code == 404
    assert shared.pk not in listed_ids(grantee, resource.path)
    assert perms(bob, shared) == set()
    assert owner.get(resource.shares(shared)).json() == []

    again = owner.delete(f"{resource.shares(shared)}?grantee_type=user&grantee=bob")

    assert again.status_code == 400
    assert "not shared" in " ".join(again.json()["grantee"])


def test_revoking_one_grantee_leaves_the_others(analyst, bob, vee, strategy):
    owner = client_for(analyst)
    for name in ("bob", "vee"):
        owner.post(STRATEGY.shares(strategy), {"grantee": name}, format="json")

    assert owner.delete(f"{STRATEGY.shares(strategy)}?grantee=bob").status_code == 204

    assert client_for(vee).get(STRATEGY.detail(strategy)).status_code == 200
    assert owner.get(STRATEGY.shares(strategy)).json() == [
        {"grantee_type": "user", "grantee": "vee", "permission": "view"}
    ]
    # The owner's own permissions are untouched.
    assert perms(analyst, strategy) == {"view_strategy", "change_strategy", "delete_strategy"}


# --- Refused input: named, and nothing written -----------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"grantee": "nobody"}, "grantee", "no user named 'nobody'"),
        ({"grantee_type": "group", "grantee": "desk-z"}, "grantee", "no group named 'desk-z'"),
        ({"grantee": "bob", "permission": "delete"}, "permission", "delete"),
        ({"grantee": "bob", "permission": "owner"}, "permission", "owner"),
        ({"grantee": "ana"}, "grantee", "owner"),
        ({"grantee_type": "role", "grantee": "analyst"}, "grantee_type", "role"),
        ({"grantee_type": "user"}, "grantee", "required"),
        ({"grantee": ""}, "grantee", "blank"),
    ],
    ids=[
        "unknown-user",
        "unknown-group",
        "delete",
        "owner-permission",
        "the-owner",
        "role-grantee-type",
        "no-grantee",
        "blank-grantee",
    ],
)
def test_a_refused_share_names_the_field_and_writes_nothing(
    analyst, bob, strategy, body, field, message
):
    rows_before = permission_rows(strategy)

    response = client_for(analyst).post(STRATEGY.shares(strategy), body, format="json")

    assert response.status_code == 400, response.content
    errors = response.json()
    assert list(errors) == [field], errors
    assert message in " ".join(errors[field])
    assert permission_rows(strategy) == rows_before
    assert share_events() == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("grantee=nobody", "grantee"),
        ("grantee_type=group&grantee=desk-z", "grantee"),
        ("grantee_type=role&grantee=bob", "grantee_type"),
        ("grantee_type=user", "grantee"),
        ("grantee=ana", "grantee"),  # the owner's own permissions cannot be revoked
    ],
)
def test_a_refused_revoke_names_the_field_and_removes_nothing(analyst, bob, strategy, query, field):
    owner = client_for(analyst)
    owner.post(STRATEGY.shares(strategy), {"grantee": "bob"}, format="json")
    rows_before, events_before = permission_rows(strategy), len(share_events())

    response = owner.delete(f"{STRATEGY.shares(strategy)}?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert permission_rows(strategy) == rows_before
    assert len(share_events()) == events_before
    assert perms(bob, strategy) == {"view_strategy"}
    assert perms(analyst, strategy) == {"view_strategy", "change_strategy", "delete_strategy"}


def test_the_service_refuses_the_same_input_without_the_api(analyst, strategy):
    for kwargs, field in (
        ({"grantee_type": "team", "grantee": "bob"}, "grantee_type"),
        ({"grantee_type": "user", "grantee": "ana"}, "grantee"),
        ({"grantee_type": "user", "grantee": "ana", "permission": "delete"}, "permission"),
    ):
        with pytest.raises(sharing.ShareError) as refused:
            sharing.share(strategy, actor=analyst, **kwargs)
        assert list(refused.value.errors) == [field]
    assert share_events() == []


# --- Security events -------------------------------------------------------------------


@RESOURCES
def test_sharing_records_a_share_granted_event(resource, shared, analyst, bob):
    client_for(analyst).post(
        resource.shares(shared),
        {"grantee": "bob", "permission": "change"},
        format="json",
        REMOTE_ADDR="198.51.100.4",
    )

    (event,) = share_events()
    assert event.action == SecurityAction.SHARE_GRANTED
    assert event.actor == analyst
    assert event.actor_username == "ana"
    assert event.target_type == f"backtest.{resource.model_name}"
    assert event.target_id == str(shared.pk)
    assert event.ip == "198.51.100.4"
    assert event.detail == {"grantee_type": "user", "grantee": "bob", "permission": "change"}


def test_a_group_share_event_names_the_group(analyst, desk, strategy):
    client_for(analyst).post(
        STRATEGY.shares(strategy), {"grantee_type": "group", "grantee": "desk-a"}, format="json"
    )

    (event,) = share_events()
    assert event.detail == {"grantee_type": "group", "grantee": "desk-a", "permission": "view"}


def test_revoking_records_a_share_revoked_event_naming_what_was_taken_back(analyst, bob, strategy):
    owner = client_for(analyst)
    owner.post(STRATEGY.shares(strategy), {"grantee": "bob", "permission": "change"}, format="json")

    owner.delete(f"{STRATEGY.shares(strategy)}?grantee_type=user&grantee=bob")

    granted, revoked = share_events()
    assert granted.action == SecurityAction.SHARE_GRANTED
    assert revoked.action == SecurityAction.SHARE_REVOKED
    assert revoked.actor == analyst
    assert (revoked.target_type, revoked.target_id) == ("backtest.strategy", str(strategy.pk))
    assert revoked.detail == {"grantee_type": "user", "grantee": "bob", "permission": "change"}


def test_a_refused_revoke_records_no_event(analyst, bob, strategy):
    response = client_for(analyst).delete(f"{STRATEGY.shares(strategy)}?grantee=bob")

    assert response.status_code == 400
    assert share_events() == []


# --- Only the owner manages shares -----------------------------------------------------


@RESOURCES
def test_users_it_is_shared_with_do_not_manage_its_shares(resource, shared, analyst, bob, stranger):
    client_for(analyst).post(
        resource.shares(shared), {"grantee": "bob", "permission": "change"}, format="json"
    )
    body = {"grantee": "zed", "permission": "view"}
    revoke = f"{resource.shares(shared)}?grantee=bob"

    for user, status in ((bob, 403), (stranger, 404)):
        client = client_for(user)
        assert client.get(resource.shares(shared)).status_code == status, user
        assert client.post(resource.shares(shared), body, format="json").status_code == status
        assert client.delete(revoke).status_code == status

    refused = client_for(bob).post(resource.shares(shared), body, format="json")
    assert "owner" in refused.json()["detail"]
    assert perms(bob, shared) == {f"view_{resource.model_name}", f"change_{resource.model_name}"}
    assert perms(stranger, shared) == set()
    assert len(share_events()) == 1  # the owner's one grant


def test_an_admin_may_manage_shares_of_anyone_s_strategy(django_user_model, analyst, bob, strategy):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "Root-Pass-1")

    response = client_for(root).post(STRATEGY.shares(strategy), {"grantee": "bob"}, format="json")

    assert response.status_code == 201
    (event,) = share_events()
    assert event.actor == root


def test_shares_need_authentication(strategy):
    assert APIClient().get(STRATEGY.shares(strategy)).status_code == 401


def test_a_viewer_cannot_share_a_cell_of_a_sweep_shared_with_them(analyst, vee, sweep):
    client_for(analyst).post(SWEEP.shares(sweep), {"grantee": "vee"}, format="json")
    cell = sweep.backtests.first()

    response = client_for(vee).post(BACKTEST.shares(cell), {"grantee": "bob"}, format="json")

    assert response.status_code == 403


# --- The admin's "Object permissions" pages --------------------------------------------


@pytest.fixture
def _plain_static_files(settings):
    """The manifest storage needs `collectstatic`, which tests do not run."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def admin_share(client, obj, grantee, permissions: list[str]):
    url = f"/admin/backtest/{obj._meta.model_name}/{obj.pk}/permissions/user-manage/{grantee.pk}/"
    # A browser's form always sends its CSRF token, so none ticked is still a bound form.
    return client.post(url, {"permissions": permissions, "csrfmiddlewaretoken": "unchecked"})


@pytest.mark.usefixtures("_plain_static_files")
def test_an_admin_shares_and_revokes_in_the_admin_through_the_sharing_service(
    client, django_user_model, analyst, bob, strategy
):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "Root-Pass-1")
    client.force_login(root)

    assert admin_share(client, strategy, bob, ["change_strategy"]).status_code == 302
    assert perms(bob, strategy) == {"view_strategy", "change_strategy"}  # change implies view
    assert admin_share(client, strategy, bob, []).status_code == 302
    assert perms(bob, strategy) == set()

    granted, revoked = share_events()
    assert (granted.action, granted.actor) == (SecurityAction.SHARE_GRANTED, root)
    assert granted.detail == {"grantee_type": "user", "grantee": "bob", "permission": "change"}
    assert (revoked.action, revoked.actor) == (SecurityAction.SHARE_REVOKED, root)


@pytest.mark.usefixtures("_plain_static_files")
def test_operators_administer_shares_in_the_api_and_the_admin(
    client, operator, analyst, bob, strategy
):
    """Operators hold the model-wide change permission: they manage anyone's shares, in
    the API as in guardian's admin pages, and each grant is theirs in the trail."""
    api = client_for(operator)
    assert api.get(STRATEGY.shares(strategy)).status_code == 200
    granted = api.post(STRATEGY.shares(strategy), {"grantee": "bob"}, format="json")
    assert granted.status_code == 201
    assert api.delete(f"{STRATEGY.shares(strategy)}?grantee=bob").status_code == 204

    client.force_login(operator)
    admin_share(client, strategy, bob, ["view_strategy"])

    assert perms(bob, strategy) == {"view_strategy"}
    assert [event.actor for event in share_events()] == [operator, operator, operator]


# --- Deleting ----------------------------------------------------------------------------


def test_deleting_a_strategy_removes_every_object_permission_on_it(analyst, bob, desk, strategy):
    owner = client_for(analyst)
    owner.post(STRATEGY.shares(strategy), {"grantee": "bob", "permission": "change"}, format="json")
    owner.post(
        STRATEGY.shares(strategy), {"grantee_type": "group", "grantee": "desk-a"}, format="json"
    )
    other = make_strategy(analyst, name="kept")
    content_type = ContentType.objects.get_for_model(Strategy)
    assert (
        UserObjectPermission.objects.filter(
            content_type=content_type, object_pk=str(strategy.pk)
        ).count()
        == 5
    )  # the owner's three, bob's two
    assert GroupObjectPermission.objects.filter(
        content_type=content_type, object_pk=str(strategy.pk)
    ).exists()

    assert owner.delete(STRATEGY.detail(strategy)).status_code == 204

    for model in (UserObjectPermission, GroupObjectPermission):
        assert not model.objects.filter(
            content_type=content_type, object_pk=str(strategy.pk)
        ).exists()
    assert permission_rows(other) == 3


def test_deleting_a_sweep_removes_the_object_permissions_of_its_cells_too(analyst, bob, sweep):
    cells = list(sweep.backtests.all())
    sharing.share(sweep, grantee_type="user", grantee="bob", actor=analyst)

    sweep.delete()

    assert not Backtest.objects.filter(pk__in=[cell.pk for cell in cells]).exists()
    for obj in (sweep, *cells):
        assert permission_rows(obj) == 0


# --- Public strategies and shared sweeps -----------------------------------------------


def test_a_public_strategy_is_visible_to_other_analysts_but_not_to_viewers(
    analyst, bob, vee, operator
):
    public = make_strategy(analyst, name="open", is_public=True)
    private = make_strategy(analyst, name="closed")

    assert public.pk in listed_ids(client_for(bob), "strategies")
    assert private.pk not in listed_ids(client_for(bob), "strategies")
    assert client_for(bob).get(STRATEGY.detail(public)).status_code == 200
    assert STRATEGY.change(client_for(bob), public).status_code == 403
    assert client_for(bob).get(STRATEGY.shares(public)).status_code == 403

    assert listed_ids(client_for(vee), "strategies") == set()
    assert client_for(vee).get(STRATEGY.detail(public)).status_code == 404

    assert {public.pk, private.pk} <= listed_ids(client_for(operator), "strategies")


def test_sharing_a_sweep_makes_its_cells_visible(analyst, vee, sweep, backtest):
    cells = {cell.pk for cell in sweep.backtests.all()}
    viewer = client_for(vee)
    assert listed_ids(viewer, "backtests") == set()

    client_for(analyst).post(SWEEP.shares(sweep), {"grantee": "vee"}, format="json")

    assert listed_ids(viewer, "backtests") == cells  # not the analyst's other backtest
    assert listed_ids(viewer, "sweeps") == {sweep.pk}
    for pk in cells:
        assert viewer.get(f"/api/backtests/{pk}/").status_code == 200
    assert viewer.get(BACKTEST.detail(backtest)).status_code == 404
    detail = viewer.get(SWEEP.detail(sweep))
    assert detail.status_code == 200

    client_for(analyst).delete(f"{SWEEP.shares(sweep)}?grantee=vee")

    assert listed_ids(viewer, "backtests") == set()
