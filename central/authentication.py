"""API authentication that names its user in the audit trail.

django-auditlog's middleware notes the request's user before DRF authenticates a token,
so a token-authenticated change would be logged without an actor. Once the token is
accepted, the user is written into the audit context the middleware opened.

`Authorization: Token <key>` accepts either kind of token: DRF's own (one per user,
made by `manage.py drf_create_token USER`) or a named `accounts.ApiToken` (several per
user, made and revoked by the user through /api/tokens/; their keys start "ct_").
"""

from auditlog.context import auditlog_value
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from accounts import tokens


def record_audit_actor(user) -> None:
    try:
        context = auditlog_value.get()
    except LookupError:  # outside a request (tests calling views directly)
        return
    context["actor"] = user


class AuditedTokenAuthentication(TokenAuthentication):
    """DRF tokens and named API tokens; `request.auth` is the token object."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            record_audit_actor(result[0])
        return result

    def authenticate_credentials(self, key):
        if not tokens.is_api_token_key(key):
            return super().authenticate_credentials(key)
        token = tokens.authenticate_key(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.owner.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (token.owner, token)
