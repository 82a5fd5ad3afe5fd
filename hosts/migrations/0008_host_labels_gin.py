"""A GIN index on Host.labels (PostgreSQL, jsonb_path_ops): the host list's `?label=K=V` filters (`@>`) use it.

jsonb_path_ops indexes each key-value path as one entry: half the size of the default jsonb_ops and several
times faster for `@>` (a bare key's existence, `?label=K`, is not served; that filter scans). SQLite has no
GIN index and compares the key's text; there this migration does nothing.
"""

from django.db import migrations


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE INDEX IF NOT EXISTS hosts_host_labels_gin ON hosts_host USING gin (labels jsonb_path_ops)")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS hosts_host_labels_gin")


class Migration(migrations.Migration):
    dependencies = [("hosts", "0007_account_parent")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
