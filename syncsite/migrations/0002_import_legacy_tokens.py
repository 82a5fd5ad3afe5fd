"""Existing tokens keep working: DRF's clear-text tokens and the tracker's hashed signIn tokens become ApiTokens.

Both old tables are read with plain SQL where they exist, since their apps' models are gone from the
code: `rest_framework.authtoken` is no longer installed and the tracker drops `AccessToken` right after
this migration (tracker 0005 depends on it). DRF's keys are hashed here and then deleted from their
table, so no clear-text token is left in the database; the tracker's rows only ever held SHA-256
digests, which is the digest ApiToken keeps, so they carry over unchanged (without a prefix).
"""

import hashlib
from datetime import datetime, timezone

from django.db import migrations
from django.utils.dateparse import parse_datetime

BATCH = 1000


def _aware(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def _rows(connection, sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        while chunk := cursor.fetchmany(BATCH):
            yield from chunk


def import_tokens(apps, schema_editor):
    ApiToken = apps.get_model("syncsite", "ApiToken")
    connection = schema_editor.connection
    tables = set(connection.introspection.table_names())
    q = connection.ops.quote_name
    known = set(ApiToken.objects.values_list("digest", flat=True))
    new = []

    def add(**fields):
        if fields["digest"] not in known:
            known.add(fields["digest"])
            new.append(ApiToken(**fields))

    if "authtoken_token" in tables:
        for key, created, user_id in _rows(
            connection, f"SELECT {q('key')}, {q('created')}, {q('user_id')} FROM {q('authtoken_token')}"
        ):
            add(
                user_id=user_id,
                label="API token (before hashing)",
                prefix=key[:8],
                digest=hashlib.sha256(key.encode()).hexdigest(),
                created=_aware(created),
            )
    if "tracker_accesstoken" in tables:
        for key_hash, created, expires, user_id in _rows(
            connection,
            f"SELECT {q('key_hash')}, {q('created')}, {q('expires')}, {q('user_id')} FROM {q('tracker_accesstoken')}",
        ):
            add(
                user_id=user_id,
                label="signIn",
                prefix=None,
                digest=key_hash.lower(),
                created=_aware(created),
                expires=_aware(expires),
            )
    ApiToken.objects.bulk_create(new, batch_size=BATCH)
    if "authtoken_token" in tables:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {q('authtoken_token')}")


class Migration(migrations.Migration):
    dependencies = [
        ("syncsite", "0001_api_token"),
    ]

    operations = [
        # Not reversible in full: the clear-text DRF keys are gone; going back leaves the ApiTokens in place.
        migrations.RunPython(import_tokens, migrations.RunPython.noop),
    ]
