"""Give a user one of the roles: viewer, analyst, operator or admin."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.roles import Role
from accounts.services import set_role


class Command(BaseCommand):
    help = (
        "Set USERNAME's role (viewer, analyst, operator, admin). Operators and admins get "
        "admin access, admins are superusers. Recorded as a 'role changed' security event."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("role", choices=[role.value for role in Role])

    def handle(self, *args, username: str, role: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        changed = set_role(user, role)
        verb = "is now" if changed else "already was"
        self.stdout.write(self.style.SUCCESS(f"{username} {verb} {role}."))
