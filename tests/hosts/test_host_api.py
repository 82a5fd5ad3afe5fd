"""The Host object API of syncerapi.v1, as plugins use it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings

from syncerapi.v1 import Host, get_account

pytestmark = pytest.mark.django_db


# --- get_host ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "   ", None, False, "two words", "tab\tname", "-leading-dash", "a/b", "x" * 300])
def test_get_host_rejects_empty_and_invalid_names(bad):
    assert Host.get_host(bad) is False


def test_get_host_normalises_and_creates_unsaved():
    host = Host.get_host("  Server01.Example.COM ")
    assert host.hostname == "server01.example.com"
    assert host.pk is None
    assert not Host.objects.exists()
    host.save()
    again = Host.get_host("SERVER01.example.com")
    assert again.pk == host.pk


def test_get_host_create_false_returns_false_for_unknown():
    assert Host.get_host("nope.example.com", create=False) is False
    Host.get_host("yes.example.com").save()
    assert Host.get_host("yes.example.com", create=False).hostname == "yes.example.com"


@override_settings(HOSTS_LOWERCASE_HOSTNAMES=False)
def test_lowercasing_hostnames_can_be_turned_off():
    assert Host.get_host("MixedCase").hostname == "MixedCase"


def test_get_export_hosts_skips_objects_and_disabled():
    for name, fields in [("a", {}), ("b", {"is_object": True}), ("c", {"disabled": True}), ("d", {})]:
        Host.objects.create(hostname=name, **fields)
    assert [h.hostname for h in Host.get_export_hosts()] == ["a", "d"]


def test_rewrite_hostname():
    attributes = {"site": "DC1", "os": "linux"}
    assert Host.rewrite_hostname("web01", "{{ HOSTNAME }}.{{ site|lower }}", attributes) == "web01.dc1"
    assert Host.rewrite_hostname("web01", "", attributes) == "web01"
    # a template that renders to an invalid name keeps the old one
    assert Host.rewrite_hostname("web01", "{{ missing }}", attributes) == "web01"
    assert Host.rewrite_hostname("web01", "fixed-name", attributes) == "fixed-name"


# --- labels --------------------------------------------------------------------------------------------------


def test_update_host_normalises_keys_and_detects_changes():
    host = Host.get_host("web01")
    assert host.update_host({" OS ": " Linux ", "Data Center": "dc1", "when": dt.date(2024, 1, 2), "": "dropped"})
    assert host.get_labels() == {"os": "Linux", "data_center": "dc1", "when": "2024-01-02"}
    first_sync, first_seen = host.last_import_sync, host.last_import_seen
    assert first_sync is not None and first_seen == first_sync
    host.save()

    host = Host.get_host("web01")
    host.cache = {"rules_version": 0, "x": {"all": {}, "filtered": {}, "ignore": False}}
    # same labels, written differently: no change, sync time kept, cache kept, seen time moves
    assert host.update_host({"os": "Linux", "DATA CENTER": "dc1", "when": "2024-01-02"}) is False
    assert host.last_import_sync == first_sync
    assert host.last_import_seen > first_seen
    assert "x" in host.cache
    # a real change clears the cache and moves the sync time
    assert host.update_host({"os": "BSD"}) is True
    assert host.get_labels() == {"os": "BSD"}
    assert host.cache == {}
    assert host.last_import_sync > first_sync


@override_settings(HOSTS_LABEL_REPLACERS=[(" ", "-"), (".", "_")])
def test_label_replacers_are_configurable():
    host = Host.get_host("web01")
    host.update_host({"Rack Unit.Slot": 1})
    assert host.get_labels() == {"rack-unit_slot": 1}


def test_update_host_and_save_of_unchanged_host_costs_one_query(django_assert_num_queries):
    host = Host.get_host("web01")
    host.update_host({"os": "linux", "site": "dc1"})
    host.save()
    host = Host.get_host("web01")
    with django_assert_num_queries(1):
        host.update_host({"os": "linux", "site": "dc1"})
        host.save()


def test_replace_label():
    host = Host.get_host("web01")
    host.update_host({"os": "linux", "site": "dc1"})
    host.cache = {"rules_version": 0, "k": {}}
    assert host.replace_label("OS", "linux") is False
    assert host.cache
    assert host.replace_label("Site", "dc2") is True
    assert host.get_labels() == {"os": "linux", "site": "dc2"}
    assert host.cache == {}
    assert host.replace_label("new key", "x") is True
    assert host.get_labels()["new_key"] == "x"
    with pytest.raises(ValueError):
        host.replace_label("   ", "x")


def test_get_labels_returns_a_copy():
    host = Host.get_host("web01")
    host.update_host({"os": "linux"})
    host.get_labels()["os"] = "changed"
    assert host.labels == {"os": "linux"}


def test_set_labels_raises_a_clear_error():
    host = Host.get_host("web01")
    with pytest.raises(RuntimeError, match=r"update_host\(labels\)"):
        host.set_labels({"os": "linux"})


# --- inventory -----------------------------------------------------------------------------------------------


def test_update_inventory_replaces_and_clears_a_section():
    host = Host.get_host("web01")
    assert host.update_inventory("cmk", {"state": "up", "agent": "2.3"})
    assert host.update_inventory("other", {"serial": "ABC"})
    assert host.get_inventory() == {"cmk__state": "up", "cmk__agent": "2.3", "other__serial": "ABC"}
    host.cache = {"rules_version": 0, "k": {}}
    assert host.update_inventory("cmk", {"state": "up", "agent": "2.3"}) is False
    assert host.cache
    # replacing drops fields that are no longer sent
    assert host.update_inventory("cmk", {"state": "down"})
    assert host.get_inventory() == {"cmk__state": "down", "other__serial": "ABC"}
    assert host.cache == {}
    assert host.get_inventory(key_filter="cmk") == {"cmk__state": "down"}
    assert host.get_inventory(key_filter="cmk__") == {"cmk__state": "down"}
    # {} clears the section
    assert host.update_inventory("cmk", {})
    assert host.get_inventory() == {"other__serial": "ABC"}
    assert host.update_inventory("cmk", {}) is False


def test_update_inventory_does_not_touch_similarly_named_sections():
    host = Host.get_host("web01")
    host.update_inventory("cmk", {"a": 1})
    host.update_inventory("cmk_extra", {"b": 2})
    host.update_inventory("cmk", {})
    assert host.get_inventory() == {"cmk_extra__b": 2}


def test_set_inventory_attribute_saves_immediately():
    host = Host.get_host("web01")
    host.save()
    assert host.set_inventory_attribute("snmp__uptime", 42) is True
    assert Host.objects.get(pk=host.pk).inventory == {"snmp__uptime": 42}
    assert host.set_inventory_attribute("snmp__uptime", 42) is False


# --- accounts and ownership ----------------------------------------------------------------------------------


def test_get_account_flattens_custom_fields_and_booleans(account):
    config = get_account("source-a")
    assert config["name"] == "source-a"
    assert config["id"] == account.pk
    assert config["password"] == "s3cret-pw"
    assert config["inventorize_key"] == "inv_a"
    assert config["delete_hosts"] is True
    account.custom_fields.create(name="dry", value="false")
    assert get_account("source-a")["dry"] is False
    assert get_account("missing") is None
    assert get_account("") is None


def test_get_account_ignores_disabled_accounts(account):
    account.enabled = False
    account.save()
    assert get_account("source-a") is None


def test_password_is_encrypted_at_rest(account):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM hosts_account WHERE id = %s", [account.pk])
        stored = cursor.fetchone()[0]
    assert "s3cret-pw" not in stored
    assert stored.startswith("fernet:")


def test_set_account_claims_and_takes_over_from_non_master(account):
    from hosts.models import Account

    other = Account.objects.create(name="source-b")
    host = Host.get_host("web01")
    assert host.set_account(account_dict=get_account("source-a")) is True
    assert host.account_id == account.pk
    host.save()
    host = Host.get_host("web01")
    assert host.set_account(account_dict=get_account("source-b")) is True
    assert host.account_id == other.pk
    assert "account changed from source-a to source-b" in host.log[0]["message"]


def test_set_account_refuses_hosts_owned_by_a_master(account, master_account):
    host = Host.get_host("web01")
    assert host.set_account(account_dict=get_account("master")) is True
    host.save()
    host = Host.get_host("web01")
    assert host.set_account(account_dict=get_account("source-a")) is False
    assert host.account_id == master_account.pk
    # the master itself keeps owning it
    assert host.set_account(account_dict=get_account("master")) is True


def test_set_account_refuses_locked_hosts(account, master_account):
    host = Host.get_host("web01")
    host.locked = True
    assert host.set_account(account_dict=get_account("source-a")) is False
    assert host.set_account(account_dict=get_account("master")) is False
    assert host.account_id is None


def test_set_account_needs_an_account_dict():
    with pytest.raises(ValueError):
        Host.get_host("web01").set_account(account_dict=None)


# --- host log ------------------------------------------------------------------------------------------------


@override_settings(HOSTS_HOST_LOG_LENGTH=3)
def test_add_log_is_newest_first_and_capped():
    host = Host.get_host("web01")
    for index in range(5):
        host.add_log(f"entry {index}")
    assert [e["message"] for e in host.log] == ["entry 4", "entry 3", "entry 2"]
    host.save()
    assert Host.objects.get(pk=host.pk).log[0]["message"] == "entry 4"


def test_export_hosts_load_their_log_only_when_used(django_assert_num_queries):
    host = Host.get_host("web01")
    host.add_log("first")
    host.save()
    with django_assert_num_queries(1):
        exported = list(Host.get_export_hosts())
    host = exported[0]
    host.add_log("second")  # loads the log on first use
    host.save()
    assert [e["message"] for e in Host.objects.get(pk=host.pk).log] == ["second", "first"]
