from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit trail: django-auditlog records every change to the registered models,
    with the acting user (AuditlogMiddleware) and remote address; SecurityEvent records
    sign-ins and the other security-relevant actions (audit.events.record_event)."""

    name = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        from audit.registry import register_audited_models
        from audit.signals import connect_auth_signals
        from audit.task_actor import connect_task_actor_signals

        register_audited_models()
        connect_auth_signals()
        connect_task_actor_signals()
