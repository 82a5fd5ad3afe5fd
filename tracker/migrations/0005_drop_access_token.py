# signIn tokens now live in the kernel's ApiToken table; syncsite 0002 copies them there first.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tracker", "0004_edge_indexes"),
        ("syncsite", "0002_import_legacy_tokens"),
    ]

    operations = [
        migrations.DeleteModel(
            name="AccessToken",
        ),
    ]
