"""The settings page: API tokens, exchange credentials, sharing and the account.

A thin view: tokens and credentials are listed and changed from the browser through
their REST endpoints (/api/tokens/, /api/credentials/), shares through each object's
/api/.../shares/ endpoint, so the API's validation, permissions and audit apply. The
server renders what only it can read in bulk: what the user shares and what others
share with them (accounts.sharing selectors, a fixed number of queries).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from accounts import sharing
from accounts.models import CheckStatus, Exchange
from accounts.services import role_of

# How many of each kind of one's own objects the "share something" form offers (newest
# first); older ones are shared from their own page.
SHARE_CHOICES_PER_KIND = 100


@dataclass(frozen=True)
class Kind:
    """How the page names and links one shareable model."""

    label: str
    page: str  # the object's page, formatted with its pk
    shares_url_name: str  # the URL name of its /api/.../shares/ endpoint


KINDS: dict[str, Kind] = {
    "backtest.strategy": Kind("Strategy", "/strategies/{pk}/", "strategy-shares"),
    "backtest.backtest": Kind("Backtest", "/backtests/{pk}/", "backtest-shares"),
    "backtest.sweep": Kind("Sweep", "/sweeps/{pk}/", "sweep-shares"),
    "replay.importbatch": Kind("Transaction import", "/transactions/", "import-batch-shares"),
    "replay.replayrun": Kind("Replay", "/replays/{pk}/", "replay-shares"),
}


@dataclass(frozen=True)
class Row:
    """One object as the sharing section shows it."""

    kind: str
    name: str
    url: str
    shares_url: str
    owner: str
    shares: tuple[sharing.Share, ...]
    level: str


def _kind(model: type[Model]) -> Kind:
    return KINDS[model._meta.label_lower]


def _name(obj: Model) -> str:
    return getattr(obj, "name", "") or str(obj)


def _row(item: sharing.SharedObject) -> Row:
    obj = item.obj
    kind = _kind(type(obj))
    return Row(
        kind=kind.label,
        name=_name(obj),
        url=kind.page.format(pk=obj.pk),
        shares_url=reverse(kind.shares_url_name, args=[obj.pk]),
        owner=obj.owner.get_username() if item.level else "",
        shares=item.shares,
        level=item.level.value if item.level else "",
    )


KIND_ORDER = [kind.label for kind in KINDS.values()]


def _share_choices(user) -> list[tuple[str, list[tuple[str, str]]]]:
    """The user's own objects to pick from in the share form, grouped by kind: (shares
    URL, name). A backtest of a sweep is shared with its sweep, so it is left out."""
    groups = []
    for model in sharing.shareable_models():
        kind = _kind(model)
        objects = sharing.own_shareable(user, model)
        if model._meta.label_lower == "backtest.backtest":
            objects = objects.filter(sweep__isnull=True)
        choices = [
            (reverse(kind.shares_url_name, args=[obj.pk]), _name(obj))
            for obj in objects[:SHARE_CHOICES_PER_KIND]
        ]
        if choices:
            groups.append((kind.label, choices))
    return sorted(groups, key=lambda group: KIND_ORDER.index(group[0]))


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    """Everything about the signed-in user's own account on one page."""
    user = request.user
    shared_by = sorted(
        (_row(item) for item in sharing.shared_by(user)), key=lambda row: KIND_ORDER.index(row.kind)
    )
    shared_with = sorted(
        (_row(item) for item in sharing.shared_with(user)),
        key=lambda row: KIND_ORDER.index(row.kind),
    )
    role = role_of(user)
    return render(
        request,
        "accounts/settings.html",
        {
            "role": role.value if role else "no role",
            "can_store_credentials": user.has_perm("accounts.add_exchangecredential"),
            "exchanges": Exchange.choices,
            "shared_by": shared_by,
            "shared_with": shared_with,
            "share_choices": _share_choices(user),
            "page_data": {
                "tokens_url": reverse("token-list"),
                "credentials_url": reverse("credential-list"),
                "exchanges": dict(Exchange.choices),
                "check_statuses": {value: str(label) for value, label in CheckStatus.choices},
            },
        },
    )
