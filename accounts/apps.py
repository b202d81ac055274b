from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender: AppConfig, **kwargs) -> None:
    from accounts.roles import sync_role_groups

    # Apps migrated after accounts' own role migration bring new permissions.
    sync_role_groups()


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="accounts-sync-roles")
