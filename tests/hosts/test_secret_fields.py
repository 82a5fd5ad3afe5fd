"""Account custom fields are secret by declaration, stored encrypted, and the upgrade protects existing ones."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from hosts.accountfields import AccountField, declare_account_fields, declared_fields, declared_secret
from hosts.models import Account, AccountCustomField
from syncerapi.v1 import get_account
from syncerapi.v1.core import Plugin

BEFORE = [("hosts", "0005_hostseen_without_db_constraint")]
AFTER = [("hosts", "0006_account_field_secrets")]


def stored_columns(pk: int) -> tuple[str, str]:
    table = connection.ops.quote_name(AccountCustomField._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT value, secret_value FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_encrypts_fields_whose_names_looked_secret():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_apps = executor.loader.project_state(BEFORE).apps
    account = old_apps.get_model("hosts", "Account").objects.create(name="legacy", type="http")
    old_field = old_apps.get_model("hosts", "AccountCustomField")
    values = {
        "pwd": "p-1",
        "bearer": "b-2",
        "auth_header": "a-3",
        "api_token": "t-4",
        "apikey": "k-5",
        "client_secret": "s-6",
        "delimiter": ";",
        "hostname_field": "fqdn",
    }
    for name, value in values.items():
        old_field.objects.create(account=account, name=name, value=value)
    old_log = old_apps.get_model("hosts", "LogEntry")
    entry = old_log.objects.create(source="x", name="x", details=[["source", "https://u:old-pw@h.example/x?token=t0k"]])

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)

    fields = {f.name: f for f in AccountCustomField.objects.filter(account__name="legacy")}
    secret = {name for name, f in fields.items() if f.secret}
    assert secret == {"pwd", "bearer", "auth_header", "api_token", "apikey", "client_secret"}
    for name, value in values.items():
        assert fields[name].get_value() == value
        plain, encrypted = stored_columns(fields[name].pk)
        if name in secret:
            assert plain == "" and encrypted.startswith("fernet:") and value not in encrypted
        else:
            assert plain == value and encrypted == ""
    from hosts.models import LogEntry

    assert LogEntry.objects.get(pk=entry.pk).details == [["source", "https://h.example/x?token=********"]]
    executor = MigrationExecutor(connection)  # the later migrations, for the current Account model
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert get_account("legacy")["pwd"] == "p-1"


@pytest.mark.django_db
def test_a_plugin_declares_its_fields_and_secrets():
    class CmdbPlugin(Plugin):
        account_type = "test-cmdb"
        account_fields = (AccountField("api_secret_thing", secret=True), "site")

    assert declared_secret("test-cmdb", "api_secret_thing") and not declared_secret("test-cmdb", "site")
    assert set(declared_fields("test-cmdb")) == {"api_secret_thing", "site"}
    declare_account_fields("test-cmdb", AccountField("api_secret_thing"))  # once secret, stays secret
    assert declared_secret("test-cmdb", "api_secret_thing")

    account = Account.objects.create(name="cmdb", type="test-cmdb")
    field = account.custom_fields.create(name="api_secret_thing", value="hunter22")
    assert field.secret and stored_columns(field.pk)[0] == ""
    field.secret = False
    field.save()  # a declared secret cannot be unchecked
    assert AccountCustomField.objects.get(pk=field.pk).secret
    assert get_account("cmdb")["api_secret_thing"] == "hunter22"

    with pytest.raises(TypeError, match="no account_type"):

        class Incomplete(Plugin):
            account_fields = (AccountField("x"),)


@pytest.mark.django_db
def test_fields_declared_after_they_were_stored_are_encrypted_by_migrate():
    from django.core.management import call_command

    account = Account.objects.create(name="late", type="test-late")
    field = account.custom_fields.create(name="late_token", value="late-value")
    assert not field.secret
    declare_account_fields("test-late", AccountField("late_token", secret=True))
    assert AccountCustomField.objects.get(pk=field.pk).is_secret  # never shown, even before migrate
    call_command("migrate", verbosity=0)
    stored = AccountCustomField.objects.get(pk=field.pk)
    assert stored.secret and stored.get_value() == "late-value" and stored_columns(field.pk)[0] == ""


@pytest.mark.django_db
def test_unchecking_secret_keeps_a_new_value():
    account = Account.objects.create(name="acc")
    field = account.custom_fields.create(name="note", value="old", secret=True)
    field.secret, field.value = False, "new"
    field.save()
    assert AccountCustomField.objects.get(pk=field.pk).get_value() == "new"
    assert stored_columns(field.pk) == ("new", "")


@pytest.mark.django_db
def test_admin_secret_checkbox_is_write_only(admin_client):
    account = Account.objects.create(name="adm", type="csv")
    field = account.custom_fields.create(name="bearer", value="tok-secret-value", secret=True)
    url = f"/admin/hosts/account/{account.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "tok-secret-value" not in page
    assert 'type="password" name="custom_fields-0-value"' in page
    form = {
        "name": "adm",
        "type": "csv",
        "address": "https://u:pw-in-address@h.example/",
        "username": "",
        "password": "",
        "enabled": "on",
        "verify_ssl": "on",
        "request_timeout": "",
        "custom_fields-TOTAL_FORMS": "2",
        "custom_fields-INITIAL_FORMS": "1",
        "custom_fields-MIN_NUM_FORMS": "0",
        "custom_fields-MAX_NUM_FORMS": "1000",
        "custom_fields-0-id": str(field.pk),
        "custom_fields-0-account": str(account.pk),
        "custom_fields-0-name": "bearer",
        "custom_fields-0-value": "",
        "custom_fields-0-secret": "on",
        "custom_fields-1-account": str(account.pk),
        "custom_fields-1-name": "pwd",
        "custom_fields-1-value": "new-secret-pwd",
        "custom_fields-1-secret": "on",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    fields = {f.name: f for f in AccountCustomField.objects.filter(account=account)}
    assert fields["bearer"].get_value() == "tok-secret-value"  # left blank: kept
    assert fields["pwd"].secret and fields["pwd"].get_value() == "new-secret-pwd"
    listing = admin_client.get("/admin/hosts/account/").content.decode()
    assert "pw-in-address" not in listing and "https://h.example/" in listing
