"""Forms of the accounts pages (sign-in, password change and reset use Django's own)."""

from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts import lockout


class LockoutAwareAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, saying so when a sign-in was refused because of a lockout.

    LockoutModelBackend refuses a locked-out username or address even with the right
    password; without this the page would only say the password was wrong. Unknown
    usernames are locked out the same way, so the message reveals no account."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked_out": (
            "Too many failed sign-in attempts: sign-in is temporarily locked. "
            "Try again in %(minutes)d minutes."
        ),
    }

    def get_invalid_login_error(self) -> ValidationError:
        username = self.cleaned_data.get("username")
        if lockout.is_locked_out(username, lockout.client_address(self.request)):
            return ValidationError(
                self.error_messages["locked_out"],
                code="locked_out",
                params={"minutes": max(1, lockout.lockout_seconds() // 60)},
            )
        return super().get_invalid_login_error()
