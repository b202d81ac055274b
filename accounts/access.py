"""The permission-aware selector layer every app builds its querysets on.

Objects with an `owner` are reachable by:
- their owner (who also holds view, change and delete as guardian object permissions,
  granted by `accounts.sharing`, so the admin's object-permission screens show them);
- users and groups they were shared with (guardian object permissions: view, or view
  and change);
- holders of the model-wide permission (operators' `view_*`/`change_*`, superusers).

Each helper answers with one queryset (the guardian lookup is a subquery, not a loop), so
a list costs the same number of queries whatever its length. Apps wrap these in their
own selectors (`backtest.selectors.visible_backtests`, ...); views never filter by owner
themselves.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Model, Q, QuerySet
from guardian.shortcuts import get_objects_for_user

User = AbstractBaseUser | AnonymousUser


def permission_name(model: type[Model], action: str) -> str:
    """'backtest.view_strategy' for (Strategy, 'view')."""
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def _granted(user: User, model: type[Model], action: str) -> QuerySet:
    """Objects on which the user, or one of their groups, holds the object permission."""
    return get_objects_for_user(
        user,
        permission_name(model, action),
        klass=model,
        use_groups=True,
        with_superuser=False,
        accept_global_perms=False,
    )


def accessible(
    user: User, model: type[Model], action: str = "view", also: Q | None = None
) -> QuerySet:
    """Objects `user` may `action` ('view' or 'change'): owned, shared for that action,
    or all of them for holders of the model-wide permission. `also` widens the set (e.g.
    public strategies)."""
    if not user.is_authenticated or not user.is_active:
        return model.objects.none()
    if user.has_perm(permission_name(model, action)):
        return model.objects.all()
    condition = Q(owner=user) | Q(pk__in=_granted(user, model, action).values("pk"))
    if also is not None:
        condition |= also
    return model.objects.filter(condition)


def granted_ids(user: User, model: type[Model], action: str = "view") -> QuerySet:
    """A subquery of the ids shared with `user` for `action` (not counting ownership)."""
    if not user.is_authenticated:
        return model.objects.none().values("pk")
    return _granted(user, model, action).values("pk")


def owned(user: User, model: type[Model], action: str = "delete") -> QuerySet:
    """Objects only an owner may `action` (delete, share): the user's own, or all of them
    for holders of the model-wide permission."""
    if not user.is_authenticated or not user.is_active:
        return model.objects.none()
    if user.has_perm(permission_name(model, action)):
        return model.objects.all()
    return model.objects.filter(owner=user)
