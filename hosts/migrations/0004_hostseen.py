import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hosts", "0003_host_stale"),
    ]

    operations = [
        # Only the Python name changes (the column stays "last_import_seen"); Host.last_import_seen is now a
        # property that also reads HostSeen.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameField(model_name="host", old_name="last_import_seen", new_name="last_import_seen_row"),
                migrations.AlterField(
                    model_name="host",
                    name="last_import_seen_row",
                    field=models.DateTimeField(
                        blank=True,
                        db_column="last_import_seen",
                        editable=False,
                        help_text="Last time an import saw the host.",
                        null=True,
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.CreateModel(
            name="HostSeen",
            fields=[
                (
                    "host",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="import_seen",
                        serialize=False,
                        to="hosts.host",
                    ),
                ),
                ("seen", models.DateTimeField()),
            ],
        ),
    ]
