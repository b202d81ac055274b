"""The audit admin: operators read security events; nobody edits history."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import SafeString

from audit.models import SecurityEvent
from central.admin_mixins import ReadOnlyAdminMixin


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "action",
        "actor_username",
        "target_type",
        "target_id",
        "target_repr",
        "ip",
    )
    list_filter = ("action", "target_type")
    date_hierarchy = "created_at"
    search_fields = ("actor_username", "target_repr", "=target_id", "target_type")
    fields = (
        "created_at",
        "action",
        "actor",
        "actor_username",
        "target_type",
        "target_id",
        "target_repr",
        "ip",
        "user_agent",
        "detail_pretty",
    )
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="detail")
    def detail_pretty(self, event: SecurityEvent) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(event.detail, indent=2, sort_keys=True))
