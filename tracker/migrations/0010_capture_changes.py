"""Record every write of nodes and site states in the change log (database triggers, syncsite.changes)."""

from django.db import migrations

from syncsite.changes import CaptureChanges


class Migration(migrations.Migration):
    dependencies = [
        ("tracker", "0009_node_deleted_index"),
        ("syncsite", "0005_change_log"),
    ]

    operations = [
        CaptureChanges("node", natural_key=["node_id"], scope="authors"),
        CaptureChanges("sitestate", natural_key=["path", "site"]),
    ]
