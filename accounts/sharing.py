"""The one sharing service: owners' object permissions, and sharing with users and groups.

An app makes a model shareable by calling `register_shareable(Model)` in its
`AppConfig.ready()` (the model needs an `owner` foreign key). From then on:
- creating an object gives its owner view, change and delete on it (guardian object
  permissions; `grant_owner_permissions` does the same for rows made by `bulk_create`);
- deleting it removes every object permission on it, so none outlives its object;
- `share` grants a user or a group "view" (read) or "change" (read and change; for runs,
  cancel and re-run), `revoke` takes it back, `shares_of` lists them; each grant and
  revocation is a security event.
Deleting stays with the owner (`accounts.access.owned`); sharing with the owner and
those who administer the model (`can_share`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Model, TextChoices
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_groups_with_perms, get_users_with_perms

from accounts.access import permission_name
from audit.events import record_event
from audit.models import SecurityAction

OWNER_ACTIONS = ("view", "change", "delete")


class Level(TextChoices):
    VIEW = "view"
    CHANGE = "change"


LEVEL_ACTIONS = {Level.VIEW: ("view",), Level.CHANGE: ("view", "change")}


class GranteeType(TextChoices):
    USER = "user"
    GROUP = "group"


@dataclass(frozen=True)
class Share:
    grantee_type: GranteeType
    grantee: str
    permission: Level


class ShareError(Exception):
    """Bad share input: {field: [messages]}."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items()))
        self.errors = errors


_shareable: set[type[Model]] = set()


def register_shareable(model: type[Model]) -> None:
    """Owners get their object permissions on create; permissions go with the object."""
    if model in _shareable:
        return
    _shareable.add(model)
    label = model._meta.label_lower
    post_save.connect(_on_created, sender=model, dispatch_uid=f"sharing-owner-{label}")
    post_delete.connect(_on_deleted, sender=model, dispatch_uid=f"sharing-forget-{label}")


def is_shareable(model: type[Model]) -> bool:
    return model in _shareable


def _on_created(sender: type[Model], instance: Model, created: bool, raw: bool = False, **kw):
    if created and not raw:
        grant_owner_permissions([instance])


def _on_deleted(sender: type[Model], instance: Model, **kwargs) -> None:
    content_type = ContentType.objects.get_for_model(sender)
    for permission_model in (UserObjectPermission, GroupObjectPermission):
        permission_model.objects.filter(
            content_type=content_type, object_pk=str(instance.pk)
        ).delete()


def _permissions(model: type[Model], actions: Iterable[str]) -> dict[str, Permission]:
    content_type = ContentType.objects.get_for_model(model)
    codenames = {f"{action}_{model._meta.model_name}": action for action in actions}
    return {
        codenames[permission.codename]: permission
        for permission in Permission.objects.filter(
            content_type=content_type, codename__in=codenames
        )
    }


def grant_owner_permissions(objects: Iterable[Model]) -> None:
    """Give each object's owner view, change and delete on it, in one insert."""
    by_model: dict[type[Model], list[Model]] = defaultdict(list)
    for obj in objects:
        by_model[type(obj)].append(obj)
    rows = []
    for model, instances in by_model.items():
        content_type = ContentType.objects.get_for_model(model)
        for permission in _permissions(model, OWNER_ACTIONS).values():
            rows.extend(
                UserObjectPermission(
                    permission=permission,
                    content_type=content_type,
                    object_pk=str(obj.pk),
                    user_id=obj.owner_id,
                )
                for obj in instances
            )
    UserObjectPermission.objects.bulk_create(rows, ignore_conflicts=True)


def copy_shares(source: Model, target: Model) -> None:
    """Share `target` with everyone `source` is shared with, at the same level (e.g. a
    re-run is seen by whoever saw the run)."""
    content_type = ContentType.objects.get_for_model(source)
    for permission_model, exclude in (
        (UserObjectPermission, {"user_id": source.owner_id}),
        (GroupObjectPermission, {}),
    ):
        rows = permission_model.objects.filter(
            content_type=content_type, object_pk=str(source.pk)
        ).exclude(**exclude)
        permission_model.objects.bulk_create(
            [_copied(row, target) for row in rows], ignore_conflicts=True
        )


def _copied(row: Model, target: Model) -> Model:
    row.pk = None
    row.object_pk = str(target.pk)
    return row


def _grantee(grantee_type: object, grantee: object, owner_id: int) -> AbstractBaseUser | Group:
    if grantee_type not in GranteeType.values:
        raise ShareError({"grantee_type": ["grantee_type must be 'user' or 'group'"]})
    if not isinstance(grantee, str) or not grantee.strip():
        raise ShareError({"grantee": [f"name the {grantee_type} to share with"]})
    name = grantee.strip()
    if grantee_type == GranteeType.GROUP:
        group = Group.objects.filter(name=name).first()
        if group is None:
            raise ShareError({"grantee": [f"no group named {name!r}"]})
        return group
    user = get_user_model().objects.filter(username=name).first()
    if user is None:
        raise ShareError({"grantee": [f"no user named {name!r}"]})
    if user.pk == owner_id:
        raise ShareError({"grantee": ["the owner already has every permission on it"]})
    return user


def _object_permissions(grantee: AbstractBaseUser | Group):
    return (
        grantee.groupobjectpermission_set
        if isinstance(grantee, Group)
        else (grantee.userobjectpermission_set)
    )


def _remove(obj: Model, grantee: AbstractBaseUser | Group, actions: Iterable[str]) -> int:
    permissions = _permissions(type(obj), actions).values()
    deleted, _ = (
        _object_permissions(grantee)
        .filter(
            content_type=ContentType.objects.get_for_model(obj),
            object_pk=str(obj.pk),
            permission__in=list(permissions),
        )
        .delete()
    )
    return deleted


def _add(obj: Model, grantee: AbstractBaseUser | Group, actions: Iterable[str]) -> None:
    content_type = ContentType.objects.get_for_model(obj)
    for permission in _permissions(type(obj), actions).values():
        _object_permissions(grantee).get_or_create(
            permission=permission, content_type=content_type, object_pk=str(obj.pk)
        )


def share(
    obj: Model,
    *,
    grantee_type: object,
    grantee: object,
    permission: object = Level.VIEW,
    actor: AbstractBaseUser,
    request: HttpRequest | None = None,
) -> Share:
    """Grant `permission` ('view' or 'change') on `obj`; a second share with the same
    grantee replaces the first (so 'change' then 'view' narrows it)."""
    if permission not in Level.values:
        raise ShareError({"permission": ["permission must be 'view' or 'change'"]})
    level = Level(permission)
    target = _grantee(grantee_type, grantee, obj.owner_id)
    result = Share(GranteeType(grantee_type), _name(target), level)
    with transaction.atomic():
        if _level_of(obj, target) == level:
            return result  # already shared so: nothing changes, nothing to record
        _remove(obj, target, set(LEVEL_ACTIONS[Level.CHANGE]) - set(LEVEL_ACTIONS[level]))
        _add(obj, target, LEVEL_ACTIONS[level])
        record_event(
            SecurityAction.SHARE_GRANTED,
            actor=actor,
            target=obj,
            request=request,
            detail=_detail(result),
        )
    return result


def revoke(
    obj: Model,
    *,
    grantee_type: object,
    grantee: object,
    actor: AbstractBaseUser,
    request: HttpRequest | None = None,
) -> bool:
    """Take back whatever `obj` was shared with; False if it was not shared with them."""
    target = _grantee(grantee_type, grantee, obj.owner_id)
    with transaction.atomic():
        level = _level_of(obj, target)
        if level is None:
            return False
        _remove(obj, target, LEVEL_ACTIONS[Level.CHANGE])
        record_event(
            SecurityAction.SHARE_REVOKED,
            actor=actor,
            target=obj,
            request=request,
            detail=_detail(Share(GranteeType(grantee_type), _name(target), level)),
        )
    return True


def shares_of(obj: Model) -> list[Share]:
    """Who `obj` is shared with (the owner's own permissions are not shares)."""
    change = f"change_{obj._meta.model_name}"
    users = get_users_with_perms(
        obj, attach_perms=True, with_superusers=False, with_group_users=False
    )
    found = [
        Share(GranteeType.USER, user.get_username(), _level(perms, change))
        for user, perms in users.items()
        if user.pk != obj.owner_id
    ]
    found += [
        Share(GranteeType.GROUP, group.name, _level(perms, change))
        for group, perms in get_groups_with_perms(obj, attach_perms=True).items()
    ]
    return sorted(found, key=lambda item: (item.grantee_type, item.grantee))


def _level_of(obj: Model, grantee: AbstractBaseUser | Group) -> Level | None:
    """The level `obj` is shared with `grantee` at (its own rows, not its groups')."""
    codenames = set(
        _object_permissions(grantee)
        .filter(content_type=ContentType.objects.get_for_model(obj), object_pk=str(obj.pk))
        .values_list("permission__codename", flat=True)
    )
    if not codenames:
        return None
    return _level(codenames, f"change_{obj._meta.model_name}")


def _level(perms: Iterable[str], change_codename: str) -> Level:
    return Level.CHANGE if change_codename in perms else Level.VIEW


def _name(grantee: AbstractBaseUser | Group) -> str:
    return grantee.name if isinstance(grantee, Group) else grantee.get_username()


def _detail(item: Share) -> dict[str, str]:
    return {
        "grantee_type": item.grantee_type.value,
        "grantee": item.grantee,
        "permission": item.permission.value,
    }


def can_share(user: AbstractBaseUser, obj: Model) -> bool:
    """The owner shares; so do those who administer every object of the model (operators
    through the model-wide change permission, superusers). Users it is shared with, even
    for change, do not pass it on."""
    return user.is_authenticated and (
        obj.owner_id == user.pk or user.has_perm(permission_name(type(obj), "change"))
    )
