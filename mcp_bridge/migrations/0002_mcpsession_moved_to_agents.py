from django.db import migrations


class Migration(migrations.Migration):
    """McpSession now belongs to agents (agents.0003 took over its table)."""

    dependencies = [
        ("mcp_bridge", "0001_initial"),
        ("agents", "0003_mcpsession_moved_from_mcp_bridge"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="McpSession")],
            database_operations=[],
        ),
    ]
