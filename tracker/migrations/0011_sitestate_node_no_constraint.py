"""Site states keep their node reference without a database foreign key (see SiteState.node): PostgreSQL
checks one row at a time, and a publish writes several state rows per file.

SQLite rebuilds the table to change it, which drops its change-capture triggers: they are installed again
afterwards, in both directions."""

import django.db.models.deletion
from django.db import migrations, models

from syncsite.changes import install, spec_for


def capture_states(apps, schema_editor):
    install(schema_editor.connection, spec_for(apps.get_model("tracker", "SiteState"), ["path", "site"]))


class Migration(migrations.Migration):
    dependencies = [
        ("tracker", "0010_capture_changes"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, capture_states),
        migrations.AlterField(
            model_name="sitestate",
            name="node",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="site_states",
                to="tracker.node",
            ),
        ),
        migrations.RunPython(capture_states, migrations.RunPython.noop),
    ]
