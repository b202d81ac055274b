"""The paper-trading pages through Django's test client: sign-in, visibility (another
user's session is 404), the controls each role gets, the data the page renders."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backtest import paper
from backtest.models import PaperStatus
from tests.backtest.test_paper_sessions import BARS, STORED_FIRST, run_request, store

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(analyst):
    store(0, STORED_FIRST)
    return paper.start_session(analyst, run_request())


def page(client, user, url):
    client.force_login(user)
    return client.get(url)


def test_anonymous_visitors_are_sent_to_sign_in(client, session):
    for url in (reverse("paper-pages"), reverse("paper-page", args=[session.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("login") in response["Location"]


def test_the_list_shows_the_owners_sessions_and_the_start_form(client, analyst, session):
    response = page(client, analyst, reverse("paper-pages"))
    body = response.content.decode()
    assert response.status_code == 200
    assert f'data-session-id="{session.pk}"' in body
    assert 'class="badge running"' in body
    assert 'id="paper-form"' in body
    assert 'name="options.risk.max_drawdown"' in body  # the shared run options
    assert "Paper trading</a>" in body  # the nav link


def test_a_viewer_sees_no_start_form_and_not_others_sessions(client, viewer, session):
    response = page(client, viewer, reverse("paper-pages"))
    body = response.content.decode()
    assert 'id="paper-form"' not in body
    assert f'data-session-id="{session.pk}"' not in body
    assert page(client, viewer, reverse("paper-page", args=[session.pk])).status_code == 404


def test_another_analysts_session_is_404(client, make_user, session):
    other = make_user("other", "analyst")
    assert page(client, other, reverse("paper-page", args=[session.pk])).status_code == 404


def test_the_owner_may_stop_but_not_kill(client, analyst, session):
    body = page(client, analyst, reverse("paper-page", args=[session.pk])).content.decode()
    assert "data-stop" in body
    assert "data-kill" not in body
    assert f"Paper session #{session.pk}" in body
    assert "BTCUSDT 1h" in body


def test_operators_get_the_kill_switch(client, operator, session):
    body = page(client, operator, reverse("paper-page", args=[session.pk])).content.decode()
    assert "data-kill" in body and "data-stop" in body


def test_a_halted_session_shows_its_breaker(client, analyst):
    store(0, STORED_FIRST)
    session = paper.start_session(analyst, run_request(fee=0.01, risk={"max_drawdown": 0.03}))
    store(STORED_FIRST, BARS)
    while paper.advance_session(session) > 0:
        pass
    assert session.status == PaperStatus.HALTED
    body = page(client, analyst, reverse("paper-page", args=[session.pk])).content.decode()
    assert "Circuit breaker: max_drawdown" in body
    assert 'class="badge halted"' in body
    assert "data-halted hidden" not in body
