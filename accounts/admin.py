"""The accounts admin. Exchange credentials are listed for oversight, read-only: no page
shows, or has a form field for, a key or a secret, and listing never decrypts them."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ExchangeCredential
from central.admin_mixins import ReadOnlyAdminMixin

SHOWN_FIELDS = ("owner", "exchange", "label", "key_last_four", "created_at", "last_used_at")


@admin.register(ExchangeCredential)
class ExchangeCredentialAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Users store and delete their credentials through the API; here, a list only."""

    list_display = SHOWN_FIELDS
    list_filter = ("exchange", "created_at", "last_used_at")
    search_fields = ("owner__username", "label")
    list_select_related = ("owner",)
    list_display_links = None
    # A detail page reached by its URL shows these, read-only, and nothing else.
    fields = SHOWN_FIELDS
    readonly_fields = SHOWN_FIELDS
    actions = None

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExchangeCredential]:
        return super().get_queryset(request).defer("api_key", "api_secret")
