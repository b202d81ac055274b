"""Audit API: operators read the security events (thin over audit.selectors)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.permissions import BasePermission, IsAuthenticated

from audit import selectors
from audit.api.serializers import SecurityEventSerializer
from audit.models import SecurityAction, SecurityEvent
from central.api_errors import errors


class CanReadAuditTrail(BasePermission):
    message = "Only operators (permission 'audit.view_securityevent') may read the audit trail."

    def has_permission(self, request, view) -> bool:
        return selectors.can_read_audit_trail(request.user)


class SecurityEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(
        field_name="actor_username", help_text="The acting user's username (exact)."
    )
    action = django_filters.MultipleChoiceFilter(
        choices=SecurityAction.choices,
        help_text="Repeat for several: ?action=login_failed&action=lockout",
    )
    target_type = django_filters.CharFilter(help_text='"app_label.model", e.g. backtest.backtest')
    target_id = django_filters.CharFilter()
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = SecurityEvent
        fields = (
            "actor",
            "action",
            "target_type",
            "target_id",
            "created_after",
            "created_before",
        )


@extend_schema_view(
    get=extend_schema(
        summary="List security events",
        responses={200: SecurityEventSerializer(many=True), **errors(400, 401, 403)},
    ),
)
class SecurityEventListView(generics.ListAPIView):
    """Security events (sign-ins, tokens, credentials, shares, launched and cancelled
    jobs), newest first. Operators only."""

    serializer_class = SecurityEventSerializer
    permission_classes = (IsAuthenticated, CanReadAuditTrail)
    filterset_class = SecurityEventFilter

    def get_queryset(self):
        return selectors.visible_security_events(self.request.user)
