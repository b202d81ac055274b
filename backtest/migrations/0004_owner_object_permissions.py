"""Owners of existing strategies, backtests and sweeps get view, change and delete on
them as guardian object permissions (new rows get them from accounts.sharing)."""

from django.db import migrations

MODELS = ("strategy", "backtest", "sweep")
ACTIONS = ("view", "change", "delete")


def grant_owner_permissions(apps, schema_editor):
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    object_permission_model = apps.get_model("guardian", "UserObjectPermission")
    for model_name in MODELS:
        model = apps.get_model("backtest", model_name)
        content_type, _ = content_type_model.objects.get_or_create(
            app_label="backtest", model=model_name
        )
        permissions = [
            permission_model.objects.get_or_create(
                content_type=content_type,
                codename=f"{action}_{model_name}",
                defaults={"name": f"Can {action} {model_name}"},
            )[0]
            for action in ACTIONS
        ]
        rows = [
            object_permission_model(
                permission=permission,
                content_type=content_type,
                object_pk=str(pk),
                user_id=owner_id,
            )
            for pk, owner_id in model.objects.values_list("pk", "owner_id").iterator()
            for permission in permissions
        ]
        object_permission_model.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("backtest", "0003_trade_quantity_digits"),
        ("guardian", "__latest__"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant_owner_permissions, migrations.RunPython.noop)]
