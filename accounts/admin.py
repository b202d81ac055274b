"""The accounts admin: users and their roles, API tokens, exchange credentials.

Exchange credentials are listed for oversight, read-only: no page shows, or has a form
field for, a key or a secret, and listing never decrypts them. Tokens are shown by the
first characters of their key only."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework.authtoken.models import TokenProxy

from accounts import tokens
from accounts.models import ApiToken, ExchangeCredential
from accounts.roles import Role
from accounts.services import ROLE_ORDER, apply_role, record_role_change, role_of
from audit.events import record_event
from audit.models import SecurityAction
from central.admin_mixins import ReadOnlyAdminMixin

SHOWN_FIELDS = ("owner", "exchange", "label", "key_last_four", "created_at", "last_used_at")


@admin.register(ExchangeCredential)
class ExchangeCredentialAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Users store and delete their credentials through the API; here, a list only."""

    list_display = SHOWN_FIELDS
    list_filter = ("exchange", "created_at", "last_used_at")
    search_fields = ("owner__username", "label")
    date_hierarchy = "created_at"
    list_select_related = ("owner",)
    list_display_links = None
    # A detail page reached by its URL shows these, read-only, and nothing else.
    fields = SHOWN_FIELDS
    readonly_fields = SHOWN_FIELDS
    actions = None

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExchangeCredential]:
        return super().get_queryset(request).defer("api_key", "api_secret")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Named API tokens: listed by the first characters of the key (only a hash is
    stored); operators and admins can revoke them, which is audited like the user's own."""

    list_display = ("name", "owner", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at", "last_used_at")
    search_fields = ("owner__username", "name", "prefix")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    fields = list_display
    readonly_fields = list_display
    actions = ("revoke",)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # The model-wide change permission (no object) runs the revoke action; no token
        # is ever edited through a form.
        return obj is None and request.user.has_perm("accounts.change_apitoken")

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        active = list(queryset.filter(revoked_at__isnull=True).select_related("owner"))
        for token in active:
            tokens.revoke_token(token, actor=request.user, request=request)
        self.message_user(request, f"{len(active)} token(s) revoked.", messages.SUCCESS)


class DrfTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """DRF's own tokens (`manage.py drf_create_token`), without their keys: DRF's admin
    lists the full key, which would let whoever reads the page act as the token's user."""

    list_display = ("user", "key_start", "created")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    fields = ("user", "key_start", "created")
    readonly_fields = fields

    @admin.display(description="key")
    def key_start(self, token: TokenProxy) -> str:
        return f"{token.key[:4]}…"

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("authtoken.delete_tokenproxy")


if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)
admin.site.register(TokenProxy, DrfTokenAdmin)


# --- Users and their roles -------------------------------------------------------------


class RoleFilter(admin.SimpleListFilter):
    title = "role"
    parameter_name = "role"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [(role.value, role.value) for role in Role]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == Role.ADMIN:
            return queryset.filter(is_superuser=True)
        if self.value():
            return queryset.filter(groups__name=self.value(), is_superuser=False).distinct()
        return queryset


class CentralUserAdmin(UserAdmin):
    """Django's user admin with the role shown and filterable. A role changed here
    (through the groups or the superuser flag) is recorded as a security event."""

    list_display = ("username", "email", "role", "is_active", "is_staff", "last_login")
    list_filter = (RoleFilter, "is_active", "is_staff", "is_superuser", "groups")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="role")
    def role(self, user) -> str:
        role = role_of(user)
        return role.value if role else "—"

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = ""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = get_user_model().objects.get(pk=id)
            record_event(
                SecurityAction.PASSWORD_CHANGED,
                actor=request.user,
                target=user,
                request=request,
                detail={"user": user.get_username(), "how": "admin"},
            )
        return response

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        before = role_of(type(obj).objects.get(pk=obj.pk)) if change else None
        request.central_role_before = before  # per request: admin instances are shared
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """Ticking a role group (or the superuser flag) gives that role the way
        `set_role` does: the only role group, with its admin access."""
        super().save_related(request, form, formsets, change)
        user = form.instance
        before = getattr(request, "central_role_before", None)
        role = _role_chosen(user, form, before)
        if role is not None:
            apply_role(user, role)
        after = role_of(user)
        if after != before:
            record_role_change(user, before, after, actor=request.user, request=request)


def _role_chosen(user, form, before: Role | None) -> Role | None:
    """The role an admin form asks for: admin when the superuser flag or the admin group
    was just ticked, else the highest role group just ticked, else the highest left."""
    initial = {getattr(group, "pk", group) for group in form.initial.get("groups", [])}
    added = {group.name for group in form.cleaned_data.get("groups", []) if group.pk not in initial}
    if before != Role.ADMIN and (user.is_superuser or Role.ADMIN.value in added):
        return Role.ADMIN
    return next((role for role in ROLE_ORDER if role.value in added), None) or role_of(user)


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), CentralUserAdmin)
