import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """McpSession (who is connected) moves from mcp_bridge to agents; its table is renamed in 0004."""

    dependencies = [
        ("agents", "0002_weekly_reports"),
        ("mcp_bridge", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="McpSession",
                    fields=[
                        ("id", models.CharField(max_length=100, primary_key=True, serialize=False)),
                        (
                            "transport",
                            models.CharField(
                                choices=[("streamable-http", "Streamable Http"), ("sse", "Sse"), ("stdio", "Stdio")],
                                max_length=20,
                            ),
                        ),
                        ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
                        ("user_agent", models.CharField(blank=True, default="", max_length=500)),
                        (
                            "process",
                            models.CharField(
                                blank=True,
                                default="",
                                help_text="host:pid holding the session's state, if any",
                                max_length=100,
                            ),
                        ),
                        ("opened_at", models.DateTimeField()),
                        ("last_activity_at", models.DateTimeField()),
                        ("closed_at", models.DateTimeField(blank=True, null=True)),
                        ("close_reason", models.CharField(blank=True, default="", max_length=100)),
                        (
                            "agent",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="mcp_sessions",
                                to="agents.agent",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-opened_at"],
                        "db_table": "mcp_bridge_mcpsession",
                        "indexes": [
                            models.Index(fields=["closed_at", "agent"], name="mcp_session_open"),
                            models.Index(fields=["closed_at", "last_activity_at"], name="mcp_session_idle"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
