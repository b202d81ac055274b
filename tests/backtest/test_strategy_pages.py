"""Strategy pages through the Django test client: sign-in, visibility, read-only views.

What the builder does in a browser is in tests/web/test_strategy_pages.py; here the
server side: who gets which page and which controls.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from guardian.shortcuts import assign_perm

from backtest import services
from backtest.models import Strategy
from tests.backtest.api.conftest import sma_cross_definition

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_strategy(owner, name: str, **changes: object) -> Strategy:
    return services.create_strategy(owner, name=name, **sma_cross_definition(**changes))


def page_data(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="page-data" type="application/json">') + len(
        '<script id="page-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


@pytest.fixture
def bob(make_user):
    return make_user("bob", role="analyst")


@pytest.fixture
def strategies(analyst, bob):
    return {
        "mine": make_strategy(analyst, "Mine"),
        "bobs_private": make_strategy(bob, "Bob private"),
        "bobs_public": make_strategy(bob, "Bob public", is_public=True),
    }


@pytest.mark.parametrize(
    "url",
    [reverse("strategy-pages"), reverse("strategy-new-page"), "/strategies/1/"],
)
def test_pages_need_sign_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_list_shows_own_and_public_strategies_not_others_private(strategies, analyst):
    response = client_for(analyst).get(reverse("strategy-pages"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Mine" in html and "Bob public" in html
    assert "Bob private" not in html
    assert html.count("data-public-badge") == 1
    assert "data-new-strategy" in html
    mine = strategies["mine"].pk
    assert f'data-duplicate="{mine}"' in html
    assert f"/backtests/new/?strategy={mine}" in html


def test_others_private_strategy_is_404(strategies, analyst):
    client = client_for(analyst)

    private = strategies["bobs_private"].pk
    assert client.get(reverse("strategy-page", args=[private])).status_code == 404
    assert client.get(reverse("strategy-page", args=[999_999])).status_code == 404


def test_owner_gets_every_control(strategies, analyst):
    mine = strategies["mine"]
    response = client_for(analyst).get(reverse("strategy-page", args=[mine.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    for control in ('data-action="save"', 'data-action="duplicate"', 'data-action="delete"'):
        assert control in html
    assert "data-public-toggle" in html
    assert "data-share-panel" in html
    assert f'data-strategy-id="{mine.pk}"' in html
    data = page_data(response)
    assert data["editable"] and data["can_delete"] and data["can_publish"]
    assert data["strategy"]["config"] == mine.config
    assert data["strategy"]["entry_rules"] == mine.entry_rules


def test_public_strategy_of_another_analyst_is_read_only(strategies, analyst):
    public = strategies["bobs_public"]
    response = client_for(analyst).get(reverse("strategy-page", args=[public.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-action="save"' not in html and 'data-action="delete"' not in html
    assert "data-share-panel" not in html and "data-public-toggle" not in html
    assert 'data-action="duplicate"' in html  # an analyst may copy it
    assert 'fieldset class="builder" data-builder disabled' in html
    assert page_data(response)["editable"] is False


def test_viewer_with_a_shared_strategy_gets_no_edit_controls(strategies, viewer, bob):
    shared = strategies["bobs_private"]
    assign_perm("view_strategy", viewer, shared)
    client = client_for(viewer)

    detail = client.get(reverse("strategy-page", args=[shared.pk]))
    listing = client.get(reverse("strategy-pages"))

    assert detail.status_code == 200
    html = detail.content.decode()
    for control in ("save", "duplicate", "delete"):
        assert f'data-action="{control}"' not in html
    assert "data-run-backtest" not in html and "data-share-panel" not in html
    assert 'id="strategy-name" name="name"' in html and "disabled" in html
    listed = listing.content.decode()
    assert "Bob private" in listed
    assert "Bob public" not in listed  # public strategies are for analysts
    assert "data-new-strategy" not in listed and "data-duplicate" not in listed
    assert "data-run-backtest" not in listed


def test_shared_for_change_may_edit_but_not_delete_share_or_publish(strategies, analyst, bob):
    shared = strategies["bobs_private"]
    assign_perm("view_strategy", analyst, shared)
    assign_perm("change_strategy", analyst, shared)

    response = client_for(analyst).get(reverse("strategy-page", args=[shared.pk]))

    html = response.content.decode()
    assert 'data-action="save"' in html
    assert 'data-action="delete"' not in html
    assert "data-share-panel" not in html and "data-public-toggle" not in html


def test_new_page_is_for_analysts_and_passes_the_template(analyst, viewer):
    response = client_for(analyst).get(reverse("strategy-new-page"), {"template": "sma_cross"})

    assert response.status_code == 200
    assert "data-template-select" in response.content.decode()
    data = page_data(response)
    assert data["template"] == "sma_cross" and data["strategy"] is None
    assert data["validate_url"] == reverse("strategy-validate")
    assert client_for(viewer).get(reverse("strategy-new-page")).status_code == 403
