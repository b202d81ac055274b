"""WebSocket sign-in with an API token, for integrators.

Browsers connect with their session cookie (Channels' AuthMiddlewareStack). Programs
send the same header as the REST API, `Authorization: Token <key>`; the token never goes
in the URL, where proxies and logs would keep it.
"""

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from rest_framework.exceptions import AuthenticationFailed

from central.authentication import AuditedTokenAuthentication


@database_sync_to_async
def _token_user(key: str):
    """The token's user by the REST API's own rule (unknown or inactive: None)."""
    try:
        user, _ = AuditedTokenAuthentication().authenticate_credentials(key)
    except AuthenticationFailed:
        return None
    return user


def _token_from(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() == "token" and key.strip():
                return key.strip()
    return None


class TokenHeaderAuthMiddleware(BaseMiddleware):
    """Signs the connection in as the token's user when the session did not."""

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            key = _token_from(scope.get("headers", []))
            if key:
                token_user = await _token_user(key)
                if token_user is not None:
                    scope = {**scope, "user": token_user}
        return await super().__call__(scope, receive, send)
