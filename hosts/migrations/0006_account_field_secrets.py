"""Custom fields are declared secret instead of guessed from their names.

Until now any custom field whose name contained one of the words below was masked when shown, but stored
and replicated in clear. This migration applies that word list one last time, so existing data keeps its
protection: those fields become declared secret fields whose values are stored encrypted. From now on
secrecy is declared (by the plugin of the account's type, or with the admin's checkbox), never guessed.
"""

import syncsite.fields
from django.db import migrations, models


# The former name-guessing list, with the names the old list missed (pwd, bearer, auth headers, cookies).
FORMER_SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "credential",
    "pwd",
    "bearer",
    "auth_header",
    "authorization",
    "cookie",
    "private",
)


def looks_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in FORMER_SECRET_WORDS)


def encrypt_secret_looking_fields(apps, schema_editor):
    field_model = apps.get_model("hosts", "AccountCustomField")
    for field in field_model.objects.using(schema_editor.connection.alias).filter(secret=False).iterator():
        if looks_secret(field.name):
            field.secret, field.secret_value, field.value = True, field.value, ""
            field.save(update_fields=["secret", "secret_value", "value"])


def redact_urls_in_run_logs(apps, schema_editor):
    """Run log entries written before URLs were redacted lose the credentials in their URLs."""
    from syncsite.redact import scrub

    entry_model = apps.get_model("hosts", "LogEntry")
    entries = entry_model.objects.using(schema_editor.connection.alias).filter(details__icontains="://")
    for entry in entries.iterator():
        cleaned = scrub(entry.details)
        if cleaned != entry.details:
            entry.details = cleaned
            entry.save(update_fields=["details"])


def decrypt_secret_fields(apps, schema_editor):
    field_model = apps.get_model("hosts", "AccountCustomField")
    for field in field_model.objects.using(schema_editor.connection.alias).filter(secret=True).iterator():
        field.secret, field.value, field.secret_value = False, field.secret_value, ""
        field.save(update_fields=["secret", "secret_value", "value"])


class Migration(migrations.Migration):

    dependencies = [
        ('hosts', '0005_hostseen_without_db_constraint'),
    ]

    operations = [
        migrations.AddField(
            model_name='accountcustomfield',
            name='secret',
            field=models.BooleanField(default=False, help_text='Stored encrypted and never shown again (API, sync stream, logs, admin).'),
        ),
        migrations.AddField(
            model_name='accountcustomfield',
            name='secret_value',
            field=syncsite.fields.EncryptedTextField(blank=True, default='', help_text='The value of a secret field, encrypted.'),
        ),
        migrations.AlterField(
            model_name='accountcustomfield',
            name='value',
            field=models.TextField(blank=True, default='', help_text='The value of a field that is not secret.'),
        ),
        migrations.RunPython(encrypt_secret_looking_fields, decrypt_secret_fields),
        migrations.RunPython(redact_urls_in_run_logs, migrations.RunPython.noop),
    ]
