"""Account operations shared by the admin, the API, the CLI and the demo data."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from django.http import HttpRequest

from accounts.roles import STAFF_ROLES, Role
from audit.events import record_event
from audit.models import SecurityAction

# Highest first: a user in several role groups holds the highest of them.
ROLE_ORDER = (Role.ADMIN, Role.OPERATOR, Role.ANALYST, Role.VIEWER)


def role_of(user: AbstractUser) -> Role | None:
    """The user's role: admin exactly for superusers, else the highest of the viewer,
    analyst and operator groups they are in (no query when groups were prefetched)."""
    if user.is_superuser:
        return Role.ADMIN
    names = {group.name for group in user.groups.all()}
    return next((role for role in ROLE_ORDER[1:] if role.value in names), None)


def apply_role(user: AbstractUser, role: Role | str) -> None:
    """Make `role` the user's only role: its group (other role groups removed, other
    groups kept), admin access for operators and admins, superuser for admins."""
    role = Role(role)
    user.groups.remove(*Group.objects.filter(name__in=[r.value for r in Role if r != role]))
    user.groups.add(Group.objects.get(name=role.value))
    user.is_staff = role in STAFF_ROLES
    user.is_superuser = role == Role.ADMIN
    user.save(update_fields=["is_staff", "is_superuser"])
    # Cached permissions would otherwise outlive the change within this request.
    for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache, None)


def set_role(
    user: AbstractUser,
    role: Role | str,
    *,
    actor: AbstractUser | None = None,
    request: HttpRequest | None = None,
) -> bool:
    """Give `user` exactly one role (see apply_role). Records a 'role changed' security
    event when the role changes; returns whether it did."""
    role = Role(role)
    with transaction.atomic():
        before = role_of(user)
        apply_role(user, role)
        if before == role:
            return False
        record_role_change(user, before, role, actor=actor, request=request)
    return True


def record_role_change(
    user: AbstractUser,
    before: Role | None,
    after: Role | None,
    *,
    actor: AbstractUser | None,
    request: HttpRequest | None,
) -> None:
    record_event(
        SecurityAction.ROLE_CHANGED,
        actor=actor,
        target=user,
        request=request,
        detail={
            "user": user.get_username(),
            "from": before.value if before else None,
            "to": after.value if after else None,
        },
    )


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: Role


DEMO_ACCOUNTS = (
    DemoAccount("operator", "central-operator-demo", Role.OPERATOR),
    DemoAccount("analyst", "central-analyst-demo", Role.ANALYST),
    DemoAccount("viewer", "central-viewer-demo", Role.VIEWER),
)


def ensure_demo_users() -> list[tuple[DemoAccount, bool]]:
    """Create the demo operator, analyst and viewer if missing; (account, created) each."""
    user_model = get_user_model()
    results = []
    for account in DEMO_ACCOUNTS:
        user, created = user_model.objects.get_or_create(
            username=account.username, defaults={"email": f"{account.username}@central.local"}
        )
        if created:
            user.set_password(account.password)
            user.save()
        set_role(user, account.role)
        results.append((account, created))
    return results
