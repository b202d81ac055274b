from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("backtest", "0006_paper_sessions"),
    ]

    operations = [
        migrations.AddField(
            model_name="papersession",
            name="metrics",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text=(
                    "A backtest's summary metrics over the bars traded so far (after each step)."
                ),
            ),
        ),
    ]
