"""Security events: who did what security-relevant thing, from where, and when.

Changes to domain rows are django-auditlog's `LogEntry`; these are the events a row
diff cannot show (sign-ins, tokens, credentials, shares, launched and cancelled jobs).
Every event is written through `audit.events.record_event`.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class SecurityAction(models.TextChoices):
    LOGIN_SUCCEEDED = "login_succeeded", "login succeeded"
    LOGIN_FAILED = "login_failed", "login failed"
    LOGOUT = "logout", "logout"
    LOCKOUT = "lockout", "lockout"
    TOKEN_CREATED = "token_created", "token created"
    TOKEN_REVOKED = "token_revoked", "token revoked"
    CREDENTIAL_STORED = "credential_stored", "credential stored"
    CREDENTIAL_USED = "credential_used", "credential used"
    CREDENTIAL_DELETED = "credential_deleted", "credential deleted"
    SHARE_GRANTED = "share_granted", "share granted"
    SHARE_REVOKED = "share_revoked", "share revoked"
    ROLE_CHANGED = "role_changed", "role changed"
    PASSWORD_CHANGED = "password_changed", "password changed"
    BACKTEST_LAUNCHED = "backtest_launched", "backtest launched"
    BACKTEST_CANCELLED = "backtest_cancelled", "backtest cancelled"
    SYNC_LAUNCHED = "sync_launched", "sync launched"
    SYNC_CANCELLED = "sync_cancelled", "sync cancelled"
    REPLAY_LAUNCHED = "replay_launched", "replay launched"
    REPLAY_CANCELLED = "replay_cancelled", "replay cancelled"
    PAPER_SESSION_STARTED = "paper_session_started", "paper session started"
    PAPER_SESSION_STOPPED = "paper_session_stopped", "paper session stopped"
    PAPER_SESSION_KILLED = "paper_session_killed", "paper session killed"


class SecurityEvent(models.Model):
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="security_events",
    )
    # Kept when the user is deleted: the trail must still name who acted.
    actor_username = models.CharField(max_length=150, blank=True, db_index=True)
    action = models.CharField(max_length=32, choices=SecurityAction.choices, db_index=True)
    target_type = models.CharField(
        max_length=100, blank=True, help_text='"app_label.model", e.g. "backtest.backtest".'
    )
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    detail = models.JSONField(
        default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="Secrets are masked."
    )

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("target_type", "target_id"), name="audit_event_target")]

    def __str__(self) -> str:
        who = self.actor_username or "anonymous"
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {who} {self.action}"
