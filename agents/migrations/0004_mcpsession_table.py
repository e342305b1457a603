from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0003_mcpsession_moved_from_mcp_bridge"),
        ("mcp_bridge", "0002_mcpsession_moved_to_agents"),
    ]

    operations = [
        migrations.AlterModelTable(name="mcpsession", table=None),
    ]
