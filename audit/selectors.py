"""Reads of the audit trail."""

from __future__ import annotations

from datetime import datetime

from auditlog.models import LogEntry
from django.db.models import QuerySet

from audit.models import SecurityEvent

VIEW_PERMISSION = "audit.view_securityevent"


def can_read_audit_trail(user) -> bool:
    """Operators hold `audit.view_securityevent`; analysts and viewers do not."""
    return user.is_authenticated and user.has_perm(VIEW_PERMISSION)


def visible_security_events(user) -> QuerySet[SecurityEvent]:
    """Every event for those who may read the trail, none for anyone else. The actor's
    username is stored on the event, so no join is needed to list them."""
    if not can_read_audit_trail(user):
        return SecurityEvent.objects.none()
    return SecurityEvent.objects.all()


def security_events_before(cutoff: datetime) -> QuerySet[SecurityEvent]:
    return SecurityEvent.objects.filter(created_at__lt=cutoff)


def log_entries_before(cutoff: datetime) -> QuerySet[LogEntry]:
    return LogEntry.objects.filter(timestamp__lt=cutoff)
