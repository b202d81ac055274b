from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit trail: django-auditlog records every change to the registered models,
    with the acting user (AuditlogMiddleware) and remote address."""

    name = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        from audit.registry import register_audited_models

        register_audited_models()
