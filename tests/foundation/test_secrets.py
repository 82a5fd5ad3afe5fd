"""Secrets at rest: the field-encryption key rotates, and URLs are shown without their credentials."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from hosts.models import Account
from syncsite.fields import DecryptionError, decrypt, encrypt
from syncsite.redact import hide_urls_in_text, redact_url, redact_urls_in_text
from syncthing_bridge.models import SyncthingInstance

KEY_A = "first key material of the tests"
KEY_B = "second key material of the tests"


def stored(model, pk: int, column: str) -> str:
    """The text in the database, not decrypted."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def written_under_a(db, settings):
    settings.FIELD_ENCRYPTION_KEY = KEY_A
    settings.FIELD_ENCRYPTION_OLD_KEYS = []
    accounts = [Account.objects.create(name=f"acc{i}", password=f"pw-{i}") for i in range(7)]
    Account.objects.create(name="no-password")
    instance = SyncthingInstance.objects.create(name="st", url="http://127.0.0.1:8384", api_key="st-key-1")
    field = accounts[0].custom_fields.create(name="bearer", value="bearer-1", secret=True)
    return accounts, instance, field


def run_rotation(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("rotate_encryption_key", *args, stdout=out)
    return out.getvalue()


def test_rotation_keeps_every_secret_readable_after_the_old_key_is_gone(written_under_a, settings):
    accounts, instance, field = written_under_a
    before = stored(Account, accounts[0].pk, "password")

    settings.FIELD_ENCRYPTION_KEY = KEY_B
    settings.FIELD_ENCRYPTION_OLD_KEYS = [KEY_A]
    assert Account.objects.get(pk=accounts[3].pk).password == "pw-3"  # both keys read during the rotation
    assert "9 value(s) to re-encrypt" in run_rotation("--check")
    out = run_rotation("--batch-size", "3")
    assert "hosts.Account: 7 re-encrypted, 0 already current" in out
    assert "syncthing_bridge.SyncthingInstance: 1 re-encrypted" in out
    assert "hosts.AccountCustomField: 1 re-encrypted" in out
    assert stored(Account, accounts[0].pk, "password") != before

    again = run_rotation()  # idempotent: nothing left to do
    assert "done: 0 value(s) re-encrypted, 9 already current" in again

    settings.FIELD_ENCRYPTION_OLD_KEYS = []
    assert [a.password for a in Account.objects.filter(name__startswith="acc")] == [f"pw-{i}" for i in range(7)]
    assert SyncthingInstance.objects.get(pk=instance.pk).api_key == "st-key-1"
    assert type(field).objects.get(pk=field.pk).get_value() == "bearer-1"
    assert Account.objects.get(name="no-password").password == ""


def test_a_value_no_key_decrypts_is_named_and_nothing_changes(written_under_a, settings):
    accounts, _, _ = written_under_a
    settings.FIELD_ENCRYPTION_KEY = "an unrelated key"
    Account.objects.filter(pk=accounts[5].pk).update(password="unused")  # written under the unrelated key
    settings.FIELD_ENCRYPTION_KEY = KEY_B
    settings.FIELD_ENCRYPTION_OLD_KEYS = [KEY_A]
    untouched = stored(Account, accounts[0].pk, "password")
    with pytest.raises(CommandError, match=rf"hosts\.Account pk={accounts[5].pk} field password"):
        run_rotation()
    assert stored(Account, accounts[0].pk, "password") == untouched


def test_rotation_failure_exits_non_zero(written_under_a, settings, capsys):
    from django.core.management import ManagementUtility

    settings.FIELD_ENCRYPTION_KEY = KEY_B  # KEY_A not given as an old key: nothing decrypts
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "rotate_encryption_key"]).execute()
    assert exited.value.code != 0
    assert "hosts.Account pk=" in capsys.readouterr().err


def test_decrypt_uses_old_keys_only_when_configured(settings):
    settings.FIELD_ENCRYPTION_KEY = KEY_A
    value = encrypt("s3cret")
    settings.FIELD_ENCRYPTION_KEY = KEY_B
    with pytest.raises(DecryptionError):
        decrypt(value)
    settings.FIELD_ENCRYPTION_OLD_KEYS = f"{KEY_A}, other"
    assert decrypt(value) == "s3cret"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://user:pa55word@cmdb.example.com/api?token=T0KEN&page=2",
            "https://cmdb.example.com/api?token=********&page=2",
        ),
        (
            "https://cmdb.example.com:8443/x?api_key=k&AccessToken=t",
            "https://cmdb.example.com:8443/x?api_key=********&AccessToken=********",
        ),
        ("http://127.0.0.1:8384", "http://127.0.0.1:8384"),
        ("/srv/data/hosts.csv", "/srv/data/hosts.csv"),
        ("backup:hunter2@nas:/srv/x", "nas:/srv/x"),
        ("https://u@h/", "https://h/"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_urls_inside_text():
    message = "GET https://u:pw@h.example/x?secret=s failed; retried http://h2/ok"
    assert redact_urls_in_text(message) == "GET https://h.example/x?secret=******** failed; retried http://h2/ok"
    assert hide_urls_in_text(message) == "GET <address hidden> failed; retried <address hidden>"
    urllib3 = "HTTPSConnectionPool(host='h', port=443): Max retries exceeded with url: /api?page=2&api_token=T0K"
    assert redact_urls_in_text(urllib3).endswith("url: /api?page=2&api_token=********")
