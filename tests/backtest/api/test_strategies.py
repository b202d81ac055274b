"""Strategy API: CRUD through the services, visibility, validation, templates."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from backtest.api.permissions import CanEditStrategyOrReadOnly
from backtest.models import Strategy
from backtest.strategy_templates import TEMPLATES, template_strategy
from tests.backtest.api.conftest import cross, sma, sma_cross_definition

pytestmark = pytest.mark.django_db

LIST = "/api/strategies/"


def detail(strategy: Strategy | int) -> str:
    return f"/api/strategies/{getattr(strategy, 'pk', strategy)}/"


def create_body(name: str = "SMA 5/20", **changes: object) -> dict:
    return {"name": name, "description": "long on the cross", **sma_cross_definition(**changes)}


# --- create --------------------------------------------------------------------------


def test_analyst_creates_a_strategy(analyst, analyst_client):
    response = analyst_client.post(LIST, create_body(is_public=True), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    strategy = Strategy.objects.get()
    assert body == {
        "id": strategy.pk,
        "owner": "ana",
        "name": "SMA 5/20",
        "description": "long on the cross",
        "config": sma_cross_definition()["config"],
        "entry_rules": sma_cross_definition()["entry_rules"],
        "exit_rules": sma_cross_definition()["exit_rules"],
        "is_active": True,
        "is_public": True,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    assert strategy.owner == analyst
    assert strategy.is_public


def test_create_reports_every_problem_at_once_and_writes_nothing(analyst_client):
    entry = {
        "long": {
            "all": [
                cross("above"),
                {"left": sma(0), "op": ">", "right": {"price": "close"}},
            ]
        }
    }
    config = {"parameters": {"fast": 5, "slow": 20, "fsat": 3}, "fee": 2}
    body = create_body(entry_rules=entry, config=config)
    body["exit_rules"] = {"long": {"left": {"price": "close"}, "op": "bogus", "right": sma(5)}}

    response = analyst_client.post(LIST, body, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "entry_rules.long.all[1].left.params.window": [
            "must be an integer ≥ 1 and ≤ 100000 (got 0)"
        ],
        "exit_rules.long.op": [
            'must be one of >, <, >=, <=, crosses_above, crosses_below (got "bogus")'
        ],
        "config.parameters.fsat": ["is not used by any rule (used: fast, slow)"],
        "config.fee": ["must be a number ≥ 0 and < 1 (got 2)"],
    }
    assert not Strategy.objects.exists()


def test_duplicate_name_is_a_400_on_name_with_the_rule_problems(analyst, analyst_client):
    analyst_client.post(LIST, create_body(), format="json")

    response = analyst_client.post(LIST, create_body(config={"fee": 3}), format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["name"] == ["you already have a strategy named 'SMA 5/20'"]
    assert "config.fee" in body
    assert Strategy.objects.count() == 1


def test_the_same_name_is_fine_for_another_owner(make_user, make_strategy, analyst_client):
    make_strategy(make_user("bob", role="analyst"), name="SMA 5/20")
    assert analyst_client.post(LIST, create_body(), format="json").status_code == 201


def test_missing_fields_are_named(analyst_client):
    response = analyst_client.post(LIST, {"description": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"name", "entry_rules"}


def test_viewer_without_add_permission_may_not_create(viewer_client):
    response = viewer_client.post(LIST, create_body(), format="json")
    assert response.status_code == 403
    assert not Strategy.objects.exists()


def test_anonymous_gets_401(anon_client):
    assert anon_client.get(LIST).status_code == 401
    assert anon_client.post(LIST, create_body(), format="json").status_code == 401


# --- read ----------------------------------------------------------------------------


@pytest.fixture
def strategies(make_user, make_strategy, analyst):
    """ana's two, bob's private and public ones."""
    bob = make_user("bob", role="analyst")
    return {
        "mine": make_strategy(analyst, name="Mine"),
        "mine_inactive": make_strategy(analyst, name="Old one", is_active=False),
        "bobs_private": make_strategy(bob, name="Bob private"),
        "bobs_public": make_strategy(bob, name="Bob public", is_public=True),
    }


def names(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["name"] for row in response.json()["results"]]


def test_list_shows_own_and_public_strategies(strategies, analyst_client):
    assert names(analyst_client.get(LIST)) == ["Bob public", "Mine", "Old one"]


def test_list_filters(strategies, analyst_client):
    assert names(analyst_client.get(LIST, {"owner": "me"})) == ["Mine", "Old one"]
    assert names(analyst_client.get(LIST, {"owner": "bob"})) == ["Bob public"]
    assert names(analyst_client.get(LIST, {"is_public": "true"})) == ["Bob public"]
    assert names(analyst_client.get(LIST, {"is_active": "false"})) == ["Old one"]
    assert names(analyst_client.get(LIST, {"search": "BOB"})) == ["Bob public"]
    assert names(analyst_client.get(LIST, {"search": "o", "owner": "me"})) == ["Old one"]


def test_shared_strategy_is_visible_read_only(strategies, analyst, analyst_client):
    from guardian.shortcuts import assign_perm

    private = strategies["bobs_private"]
    assert analyst_client.get(detail(private)).status_code == 404

    assign_perm("view_strategy", analyst, private)

    assert analyst_client.get(detail(private)).json()["owner"] == "bob"
    response = analyst_client.patch(detail(private), {"name": "taken"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": CanEditStrategyOrReadOnly.message}


def test_operator_sees_every_strategy(strategies, operator_client):
    assert len(names(operator_client.get(LIST))) == 4


# --- update and delete ---------------------------------------------------------------


def test_owner_updates_with_patch_and_put(strategies, analyst_client):
    mine = strategies["mine"]
    response = analyst_client.patch(
        detail(mine),
        {"description": "tuned", "config": {"parameters": {"fast": 8, "slow": 30}}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    mine.refresh_from_db()
    assert (mine.description, mine.config) == ("tuned", {"parameters": {"fast": 8, "slow": 30}})

    response = analyst_client.put(detail(mine), create_body("Renamed"), format="json")
    assert response.status_code == 200, response.json()
    mine.refresh_from_db()
    assert mine.name == "Renamed"
    assert mine.config == sma_cross_definition()["config"]


def test_update_is_validated_against_the_merged_strategy(strategies, analyst_client):
    mine = strategies["mine"]
    response = analyst_client.patch(
        detail(mine), {"config": {"parameters": {"fast": 0, "slow": 20}}}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == [
        "entry_rules.long.left.params.window",
        "exit_rules.long.left.params.window",
    ]
    mine.refresh_from_db()
    assert mine.config["parameters"] == {"fast": 5, "slow": 20}


def test_rename_to_an_existing_name_is_refused(strategies, analyst_client):
    response = analyst_client.patch(detail(strategies["mine"]), {"name": "Old one"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert (
        analyst_client.patch(
            detail(strategies["mine"]), {"name": "Mine"}, format="json"
        ).status_code
        == 200
    )


def test_others_public_strategy_is_readable_not_editable(strategies, analyst_client):
    public = strategies["bobs_public"]
    assert analyst_client.get(detail(public)).status_code == 200
    assert analyst_client.patch(detail(public), {"name": "x"}, format="json").status_code == 403
    assert analyst_client.delete(detail(public)).status_code == 403
    assert Strategy.objects.filter(pk=public.pk, name="Bob public").exists()


def test_others_private_strategy_is_404_for_every_method(strategies, analyst_client):
    private = strategies["bobs_private"]
    assert analyst_client.get(detail(private)).status_code == 404
    assert analyst_client.patch(detail(private), {"name": "x"}, format="json").status_code == 404
    assert analyst_client.delete(detail(private)).status_code == 404
    assert Strategy.objects.filter(pk=private.pk).exists()


def test_owner_deletes(strategies, analyst_client):
    assert analyst_client.delete(detail(strategies["mine"])).status_code == 204
    assert not Strategy.objects.filter(pk=strategies["mine"].pk).exists()


# --- validate ------------------------------------------------------------------------


def test_validate_a_good_strategy(analyst_client):
    response = analyst_client.post(
        reverse("strategy-validate"), sma_cross_definition(), format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"valid": True, "problems": []}


def test_validate_lists_every_problem_and_saves_nothing(viewer_client):
    definition = sma_cross_definition(config={"parameters": {"fast": -1, "slow": 20}, "fill": "x"})
    response = viewer_client.post("/api/strategies/validate/", definition, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert [p["path"] for p in body["problems"]] == [
        "entry_rules.long.left.params.window",
        "exit_rules.long.left.params.window",
        "config.fill",
    ]
    assert all(p["message"] for p in body["problems"])
    assert not Strategy.objects.exists()


def test_validate_an_empty_body(analyst_client):
    response = analyst_client.post("/api/strategies/validate/", {}, format="json")
    assert response.json() == {
        "valid": False,
        "problems": [
            {
                "path": "entry_rules",
                "message": "must be an object with an optional long and short rule",
            }
        ],
    }


# --- templates -----------------------------------------------------------------------


def test_templates_list_every_template_with_its_defaults(viewer_client):
    response = viewer_client.get("/api/strategies/templates/")
    assert response.status_code == 200
    body = {row["name"]: row for row in response.json()}
    assert set(body) == set(TEMPLATES)
    sma_cross = body["sma_cross"]
    definition = template_strategy("sma_cross")
    assert sma_cross == {
        "name": "sma_cross",
        "title": TEMPLATES["sma_cross"].title,
        "description": TEMPLATES["sma_cross"].description,
        "parameters": {"fast": 10, "slow": 20},
        "entry_rules": definition["entry_rules"],
        "exit_rules": definition["exit_rules"],
        "config": definition["config"],
    }


def test_strategy_from_template(analyst, analyst_client):
    response = analyst_client.post(
        "/api/strategies/from-template/",
        {"template": "sma_cross", "params": {"fast": 7}, "name": "My SMA"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    strategy = Strategy.objects.get(pk=response.json()["id"])
    assert (strategy.owner, strategy.name) == (analyst, "My SMA")
    assert strategy.config["parameters"] == {"fast": 7, "slow": 20}
    assert response.json()["config"] == strategy.config


def test_strategy_from_template_defaults_to_the_template_title(analyst_client):
    url = "/api/strategies/from-template/"
    first = analyst_client.post(url, {"template": "rsi_reversion"}, format="json")
    assert first.status_code == 201
    assert first.json()["name"] == TEMPLATES["rsi_reversion"].title
    again = analyst_client.post(url, {"template": "rsi_reversion"}, format="json")
    assert again.status_code == 400
    assert list(again.json()) == ["name"]
    assert Strategy.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "keys"),
    [
        ({"template": "nope"}, ["template"]),
        (
            {"template": "sma_cross", "params": {"fast": 0}},
            [
                f"{rules}.{side}.left.params.window"
                for rules in ("entry_rules", "exit_rules")
                for side in ("long", "short")
            ],
        ),
        ({"template": "sma_cross", "params": {"speed": 3}}, ["config.parameters.speed"]),
        ({"params": {}}, ["template"]),
    ],
)
def test_strategy_from_template_errors(analyst_client, body, keys):
    response = analyst_client.post("/api/strategies/from-template/", body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == keys
    assert not Strategy.objects.exists()


def test_viewer_may_not_copy_a_template(viewer_client):
    response = viewer_client.post(
        "/api/strategies/from-template/", {"template": "sma_cross"}, format="json"
    )
    assert response.status_code == 403


def test_the_indicator_catalogue_lists_every_indicator_with_its_parameters(analyst_client):
    from backtest.engine.indicators import INDICATORS

    body = analyst_client.get("/api/strategies/indicators/").json()
    assert [entry["name"] for entry in body] == sorted(INDICATORS)
    sma = next(entry for entry in body if entry["name"] == "sma")
    window = next(param for param in sma["params"] if param["name"] == "window")
    assert (window["type"], window["default"], window["minimum"]) == ("integer", 20, 1)
    assert sma["default_lookback"] == 19
    assert APIClient().get("/api/strategies/indicators/").status_code == 401
