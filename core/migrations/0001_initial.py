from django.db import migrations, models


class Migration(migrations.Migration):
    """ConsoleEvent moves from audit to core: its table (audit_consoleevent) stays where it is until 0002."""

    dependencies = [
        ("audit", "0004_consoleevent"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ConsoleEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("payload", models.JSONField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={"ordering": ["id"], "db_table": "audit_consoleevent"},
                ),
            ],
            database_operations=[],
        ),
    ]
