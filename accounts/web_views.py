"""Django's password views, each change recorded as a security event."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpResponse

from audit.events import record_event
from audit.models import SecurityAction


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        record_event(
            SecurityAction.PASSWORD_CHANGED,
            actor=self.request.user,
            target=form.user,
            request=self.request,
            detail={"user": form.user.get_username(), "how": "password change page"},
        )
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        record_event(
            SecurityAction.PASSWORD_CHANGED,
            actor=form.user,
            target=form.user,
            request=self.request,
            detail={"user": form.user.get_username(), "how": "reset link"},
        )
        return response
