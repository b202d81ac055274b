"""API authentication that names its user in the audit trail.

django-auditlog's middleware notes the request's user before DRF authenticates a token,
so a token-authenticated change would be logged without an actor. Once the token is
accepted, the user is written into the audit context the middleware opened.
"""

from auditlog.context import auditlog_value
from rest_framework.authentication import TokenAuthentication


def record_audit_actor(user) -> None:
    try:
        context = auditlog_value.get()
    except LookupError:  # outside a request (tests calling views directly)
        return
    context["actor"] = user


class AuditedTokenAuthentication(TokenAuthentication):
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            record_audit_actor(result[0])
        return result
