from django.db import migrations


class Migration(migrations.Migration):
    """ConsoleEvent now belongs to core (core.0001 took over its table)."""

    dependencies = [
        ("audit", "0006_authentication_login_locked_out"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ConsoleEvent")],
            database_operations=[],
        ),
    ]
