"""Django's authentication signals as security events (connected in AuditConfig.ready)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from audit.events import record_event
from audit.models import SecurityAction


def record_login(sender, request, user, **kwargs) -> None:
    record_event(SecurityAction.LOGIN_SUCCEEDED, actor=user, request=request)


def record_logout(sender, request, user, **kwargs) -> None:
    # `user` is None when the session had no signed-in user.
    record_event(SecurityAction.LOGOUT, actor=user, request=request)


def record_login_failure(sender, credentials, request=None, **kwargs) -> None:
    """Only the attempted username is kept; Django has already blanked the password in
    `credentials`, but nothing else from them is recorded either."""
    username_field = get_user_model().USERNAME_FIELD
    attempted = str(credentials.get(username_field) or credentials.get("username") or "")
    record_event(
        SecurityAction.LOGIN_FAILED,
        request=request,
        detail={"attempted_username": attempted[:150]},
    )


def connect_auth_signals() -> None:
    user_logged_in.connect(record_login, dispatch_uid="audit.record_login")
    user_logged_out.connect(record_logout, dispatch_uid="audit.record_logout")
    user_login_failed.connect(record_login_failure, dispatch_uid="audit.record_login_failure")
