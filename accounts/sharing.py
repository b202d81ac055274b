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
from django.db.models import BooleanField, CharField, ExpressionWrapper, Model, Q, TextChoices
from django.db.models.functions import Cast
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_groups_with_perms, get_users_with_perms

from accounts.access import granted_ids, permission_name
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


# --- Reads for the settings page: what a user shares, and what is shared with them. ----
# Each answers in a fixed number of queries (per shareable model, not per object).


@dataclass(frozen=True)
class SharedObject:
    """An object with who it is shared with (`shared_by`), or with the level it is
    shared with the reader at (`shared_with`)."""

    obj: Model
    shares: tuple[Share, ...] = ()
    level: Level | None = None


def shareable_models() -> list[type[Model]]:
    """The registered shareable models, in a stable order (by app and model label)."""
    return sorted(_shareable, key=lambda model: model._meta.label_lower)


def own_shareable(owner: AbstractBaseUser, model: type[Model]):
    """The `model` objects `owner` owns, newest first: what they may share as an owner
    (unlike `access.owned`, holders of model-wide permissions get only their own)."""
    if not owner.is_authenticated:
        return model.objects.none()
    return model.objects.filter(owner=owner).order_by("-pk")


def shared_by(owner: AbstractBaseUser) -> list[SharedObject]:
    """Objects `owner` owns that are shared with another user or a group, each with its
    shares. Two permission reads over every shareable model, then one read per model
    that has shared objects, whatever their number."""
    if not owner.is_authenticated:
        return []
    models = shareable_models()
    content_types = ContentType.objects.get_for_models(*models)
    owned_rows = Q()
    for model in models:
        owned_pks = (
            own_shareable(owner, model)
            .order_by()
            .annotate(pk_text=Cast("pk", CharField()))
            .values("pk_text")
        )
        owned_rows |= Q(content_type=content_types[model], object_pk__in=owned_pks)
    username = f"user__{get_user_model().USERNAME_FIELD}"
    found: dict[tuple[int, str], dict[tuple[GranteeType, str], set[str]]] = defaultdict(
        lambda: defaultdict(set)
    )
    for grantee_type, rows in (
        (
            GranteeType.USER,
            UserObjectPermission.objects.filter(owned_rows)
            .exclude(user=owner)
            .values_list("content_type_id", "object_pk", username, "permission__codename"),
        ),
        (
            GranteeType.GROUP,
            GroupObjectPermission.objects.filter(owned_rows).values_list(
                "content_type_id", "object_pk", "group__name", "permission__codename"
            ),
        ),
    ):
        for content_type_id, object_pk, name, codename in rows:
            found[(content_type_id, object_pk)][(grantee_type, name)].add(codename)
    result = []
    for model in models:
        content_type_id = content_types[model].pk
        pks = {object_pk for (ct_id, object_pk) in found if ct_id == content_type_id}
        if not pks:
            continue
        change = f"change_{model._meta.model_name}"
        for obj in own_shareable(owner, model).filter(pk__in=pks):
            grants = found[(content_type_id, str(obj.pk))]
            shares = sorted(
                (
                    Share(grantee_type, name, _level(codenames, change))
                    for (grantee_type, name), codenames in grants.items()
                ),
                key=lambda item: (item.grantee_type, item.grantee),
            )
            result.append(SharedObject(obj, tuple(shares)))
    return result


def shared_with(user: AbstractBaseUser) -> list[SharedObject]:
    """Objects other users shared with `user` (directly or through one of their groups),
    newest first per model, their owners loaded; one read per shareable model. Objects
    seen only through a model-wide permission (operators) or being public are not
    shares and are not listed."""
    if not user.is_authenticated:
        return []
    result = []
    for model in shareable_models():
        objects = (
            model.objects.filter(pk__in=granted_ids(user, model, "view"))
            .exclude(owner=user)
            .select_related("owner")
            .annotate(
                shared_for_change=ExpressionWrapper(
                    Q(pk__in=granted_ids(user, model, "change")), output_field=BooleanField()
                )
            )
            .order_by("-pk")
        )
        result += [
            SharedObject(obj, level=Level.CHANGE if obj.shared_for_change else Level.VIEW)
            for obj in objects
        ]
    return result
