"""Guardian's per-object "Object permissions" pages, wired to the sharing service.

Any admin of a shareable model subclasses `SharingAdmin`. The pages offer what sharing
means in the app, view or change (delete stays with the owner), and saving goes through
`accounts.sharing`, so the admin's grants are security events like the API's.
"""

from __future__ import annotations

from django import forms
from django.http import HttpRequest
from guardian.admin import (
    AdminGroupObjectPermissionsForm,
    AdminUserObjectPermissionsForm,
    GuardedModelAdmin,
)

from accounts import sharing


class SharingFormMixin:
    """Choices view/change; saving shares at the chosen level, or revokes on none."""

    request: HttpRequest
    grantee_type: sharing.GranteeType

    def get_obj_perms_field_choices(self) -> list[tuple[str, str]]:
        model_name = self.obj._meta.model_name
        wanted = {
            f"{action}_{model_name}" for action in sharing.LEVEL_ACTIONS[sharing.Level.CHANGE]
        }
        return [choice for choice in super().get_obj_perms_field_choices() if choice[0] in wanted]

    def _grantee_name(self) -> str:
        raise NotImplementedError

    def clean(self) -> dict:
        cleaned = super().clean()
        owner = self.obj.owner
        if self.grantee_type == sharing.GranteeType.USER and self._grantee_name() == (
            owner.get_username()
        ):
            raise forms.ValidationError("The owner already has every permission on it.")
        return cleaned

    def save_obj_perms(self) -> None:
        chosen = set(self.cleaned_data[self.get_obj_perms_field_name()])
        model_name = self.obj._meta.model_name
        common = {
            "grantee_type": self.grantee_type,
            "grantee": self._grantee_name(),
            "actor": self.request.user,
            "request": self.request,
        }
        if f"change_{model_name}" in chosen:
            sharing.share(self.obj, permission=sharing.Level.CHANGE, **common)
        elif f"view_{model_name}" in chosen:
            sharing.share(self.obj, permission=sharing.Level.VIEW, **common)
        else:
            sharing.revoke(self.obj, **common)


class UserSharingForm(SharingFormMixin, AdminUserObjectPermissionsForm):
    grantee_type = sharing.GranteeType.USER

    def _grantee_name(self) -> str:
        return self.user.get_username()


class GroupSharingForm(SharingFormMixin, AdminGroupObjectPermissionsForm):
    grantee_type = sharing.GranteeType.GROUP

    def _grantee_name(self) -> str:
        return self.group.name


class SharingAdmin(GuardedModelAdmin):
    """Adds guardian's per-object sharing pages. Guardian lets in whoever holds the
    model-wide change permission (operators, admins). The admin's lists need the
    model-wide view permission (Django's own rule), whose holders see every object by
    `accounts.access` too, so the admin needs no filtering of its own."""

    def get_obj_perms_manage_user_form(self, request: HttpRequest) -> type[forms.Form]:
        return type("UserSharingForm", (UserSharingForm,), {"request": request})

    def get_obj_perms_manage_group_form(self, request: HttpRequest) -> type[forms.Form]:
        return type("GroupSharingForm", (GroupSharingForm,), {"request": request})
