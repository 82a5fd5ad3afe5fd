"""The Plugin base class: HTTP, the run log, cached attributes and rule debugging."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import requests
from django.test import override_settings

from hosts.models import LogEntry, RulesState
from syncerapi.v1 import Host
from syncerapi.v1.core import Plugin
from tests.conftest import free_port

pytestmark = pytest.mark.django_db


class Exporter(Plugin):
    name = "Test exporter"
    source = "test_exporter"


def _host(name="web01", labels=None, **inventory):
    host = Host.get_host(name)
    host.update_host(labels or {"os": "linux", "site": "dc1"})
    for key, data in inventory.items():
        host.update_inventory(key, data)
    host.save()
    return host


# --- account config ------------------------------------------------------------------------------------------


def test_account_by_name_populates_config(account):
    plugin = Exporter("source-a")
    assert plugin.config["address"] == "/tmp/a.csv"
    assert plugin.config["inventorize_key"] == "inv_a"
    assert plugin.verify is True
    assert ("account", "source-a") in plugin.log_details
    plugin.discard()


def test_unknown_account_is_an_error(db):
    with pytest.raises(ValueError, match="does not exist"):
        Exporter("nope")


def test_source_defaults_to_the_class_name(db):
    class MyThing(Plugin):
        pass

    plugin = MyThing()
    assert plugin.source == "MyThing"
    plugin.discard()


def test_verify_and_timeout_come_from_the_account(account):
    account.verify_ssl = False
    account.request_timeout = 0.25
    account.save()
    plugin = Exporter("source-a")
    assert plugin.verify is False
    assert plugin.timeout == 0.25
    plugin.discard()


# --- inner_request -------------------------------------------------------------------------------------------


def test_inner_request_returns_a_response(http_server, db):
    plugin = Exporter()
    response = plugin.inner_request("get", f"{http_server.url}/ok", params={"a": "1"})
    assert isinstance(response, requests.Response)
    assert response.json()["ok"] is True
    assert http_server.requests[-1]["path"] == "/ok?a=1"
    plugin.discard()


@override_settings(HOSTS_HTTP_BACKOFF_FACTOR=0, HOSTS_HTTP_MAX_RETRIES=3)
def test_idempotent_requests_are_retried_on_503(http_server, db):
    plugin = Exporter()
    response = plugin.inner_request("GET", f"{http_server.url}/flaky")
    assert response.status_code == 200
    assert [r["path"] for r in http_server.requests] == ["/flaky"] * 3
    plugin.discard()


@override_settings(HOSTS_HTTP_BACKOFF_FACTOR=0, HOSTS_HTTP_MAX_RETRIES=3)
def test_non_idempotent_requests_are_not_retried_on_503(http_server, db):
    plugin = Exporter()
    response = plugin.inner_request("POST", f"{http_server.url}/flaky", json={"a": 1})
    assert response.status_code == 503
    assert len(http_server.requests) == 1
    plugin.discard()


@override_settings(HOSTS_HTTP_BACKOFF_FACTOR=0, HOSTS_HTTP_MAX_RETRIES=2)
def test_connect_errors_are_retried_then_raised_even_for_post(db, caplog):
    plugin = Exporter()
    closed = f"http://127.0.0.1:{free_port()}/x"
    with caplog.at_level(logging.WARNING, logger="urllib3"), pytest.raises(requests.ConnectionError):
        plugin.inner_request("POST", closed, json={"a": 1})
    retries = [r for r in caplog.records if "Retrying" in r.getMessage()]
    assert len(retries) == 2
    plugin.discard()


@override_settings(HOSTS_HTTP_MAX_RETRIES=0)
def test_timeout_of_the_account_applies(http_server, account):
    account.request_timeout = 0.2
    account.save()
    plugin = Exporter("source-a")
    with pytest.raises(requests.exceptions.ReadTimeout):
        plugin.inner_request("GET", f"{http_server.url}/slow")
    plugin.discard()


def test_dry_run_skips_writes_but_sends_reads(http_server, db):
    plugin = Exporter()
    plugin.dry_run = True
    response = plugin.inner_request("POST", f"{http_server.url}/ok", json={"name": "x"})
    assert isinstance(response, requests.Response)
    assert response.status_code == 200 and response.json() == {}
    assert http_server.requests == []
    plugin.inner_request("DELETE", f"{http_server.url}/ok")
    assert http_server.requests == []
    plugin.inner_request("GET", f"{http_server.url}/ok")
    plugin.inner_request("POST", f"{http_server.url}/ok", json={"q": 1}, read_only=True)
    assert [r["method"] for r in http_server.requests] == ["GET", "POST"]
    plugin.discard()


def test_request_dump_and_debug_output_redact_secrets(http_server, db, tmp_path, capsys, caplog):
    dump = tmp_path / "requests.log"
    plugin = Exporter()
    plugin.save_requests = str(dump)
    plugin.debug = True
    with caplog.at_level(logging.DEBUG, logger="syncerapi"):
        plugin.inner_request(
            "PUT",
            f"{http_server.url}/ok",
            json={"name": "web01", "password": "pw-123", "nested": [{"api_key": "k-456"}]},
            headers={"X-API-Key": "tok-789", "X-Other": "visible"},
            auth=("user", "basic-pw"),
        )
    # the server got the real secrets
    sent = http_server.requests[-1]
    assert json.loads(sent["body"])["password"] == "pw-123"
    assert sent["headers"]["X-API-Key"] == "tok-789"
    printed = capsys.readouterr().out + caplog.text + dump.read_text()
    for secret in ("pw-123", "k-456", "tok-789", "basic-pw"):
        assert secret not in printed
    record = json.loads(dump.read_text().splitlines()[0])
    assert record["method"] == "PUT"
    assert record["headers"]["X-Other"] == "visible"
    assert record["json"]["name"] == "web01"
    plugin.discard()


# --- run log -------------------------------------------------------------------------------------------------


def test_save_log_writes_one_entry(db):
    plugin = Exporter()
    plugin.log_details.append(("hosts_processed", 42))
    entry = plugin.save_log()
    assert plugin.save_log() is None  # only once
    assert LogEntry.objects.count() == 1
    assert entry.source == "test_exporter" and entry.name == "Test exporter"
    details = dict(entry.details)
    assert details["hosts_processed"] == 42
    assert {"started", "ended", "duration"} <= details.keys()
    assert entry.has_error is False
    assert entry.duration >= 0


@pytest.mark.parametrize("name", ["error", "ERROR", "connection_error", "Exception", "unhandled exception"])
def test_error_details_mark_the_entry(db, name):
    plugin = Exporter()
    plugin.log_details.append((name, "boom"))
    assert plugin.save_log().has_error is True


def test_an_unsaved_run_log_is_written_when_the_plugin_goes_away(db):
    import gc

    plugin = Exporter()
    plugin.log_details.append(("note", "written by the finaliser"))
    del plugin
    gc.collect()
    entry = LogEntry.objects.get()
    assert entry.details[1] == ["note", "written by the finaliser"]
    assert entry.source == "test_exporter"


def test_a_plugin_with_a_bad_account_leaves_no_log(db):
    import gc

    with pytest.raises(ValueError):
        Exporter("missing")
    gc.collect()
    assert not LogEntry.objects.exists()


def test_discarded_and_saved_runs_are_not_written_twice(db):
    import gc

    saved, dropped = Exporter(), Exporter()
    saved.save_log()
    dropped.discard()
    del saved, dropped
    gc.collect()
    assert LogEntry.objects.count() == 1


def test_get_unique_id_is_a_uuid():
    first, second = Plugin.get_unique_id(), Plugin.get_unique_id()
    assert first != second
    assert str(uuid.UUID(first)) == first


# --- attributes and the cache --------------------------------------------------------------------------------


def test_get_attributes_without_rules(db):
    host = _host(inv={"serial": "ABC"})
    plugin = Exporter()
    assert plugin.get_attributes(host, False) == {
        "all": {"os": "linux", "site": "dc1", "inv__serial": "ABC", "HOSTNAME": "web01"},
        "filtered": {},
    }
    assert host.cache == {}
    plugin.discard()


def test_warm_cache_costs_no_queries(db, make_rule, django_assert_num_queries):
    make_rule("custom", [], [{"attribute": "role", "value": "{{ os }}-server"}], condition_type="anyway")
    host = _host()
    plugin = Exporter()
    cold = plugin.get_attributes(host, "export")
    with django_assert_num_queries(0):
        warm = plugin.get_attributes(host, "export")
    assert warm == cold
    assert warm["all"]["role"] == "linux-server"
    plugin.discard()


def test_cache_is_persisted_in_batches_and_reused_by_the_next_run(db, make_rule, django_assert_num_queries):
    make_rule("custom", [], [{"attribute": "role", "value": "web"}], condition_type="anyway")
    for index in range(5):
        _host(f"web{index}")
    plugin = Exporter()
    hosts = list(Host.get_export_hosts())
    for host in hosts:
        plugin.get_attributes(host, "export")
    assert plugin.flush_cache() == 5
    plugin.discard()

    fresh = Host.objects.get(hostname="web3")
    assert fresh.cache["export"]["all"]["role"] == "web"
    next_run = Exporter()
    next_run.init_custom_attributes()
    with django_assert_num_queries(0):
        assert next_run.get_attributes(fresh, "export")["all"]["role"] == "web"
    next_run.discard()


@override_settings(HOSTS_CACHE_FLUSH_BATCH=2)
def test_cache_flushes_when_the_batch_is_full(db, django_assert_num_queries):
    hosts = [_host(f"h{index}") for index in range(3)]
    plugin = Exporter()
    plugin.init_custom_attributes()
    plugin.get_attributes(hosts[0], "export")
    assert Host.objects.get(hostname="h0").cache == {}
    plugin.get_attributes(hosts[1], "export")
    assert Host.objects.get(hostname="h0").cache["export"]["all"]["os"] == "linux"
    plugin.get_attributes(hosts[2], "export", persist_cache=False)
    assert plugin.flush_cache() == 0
    plugin.discard()


def test_save_log_flushes_pending_caches(db):
    host = _host()
    plugin = Exporter()
    plugin.get_attributes(host, "export")
    plugin.save_log()
    assert "export" in Host.objects.get(pk=host.pk).cache


def test_cache_is_invalidated_by_label_change(db, make_rule):
    make_rule("custom", [], [{"attribute": "os_copy", "value": "{{ os }}"}], condition_type="anyway")
    host = _host()
    plugin = Exporter()
    assert plugin.get_attributes(host, "export")["all"]["os_copy"] == "linux"
    host.update_host({"os": "bsd", "site": "dc1"})
    assert plugin.get_attributes(host, "export")["all"]["os_copy"] == "bsd"
    host.replace_label("os", "hurd")
    assert plugin.get_attributes(host, "export")["all"]["os_copy"] == "hurd"
    plugin.discard()


def test_cache_is_invalidated_by_inventory_change(db, make_rule):
    make_rule("custom", [], [{"attribute": "state", "value": "{{ cmk__state }}"}], condition_type="anyway")
    host = _host(cmk={"state": "up"})
    plugin = Exporter()
    assert plugin.get_attributes(host, "export")["all"]["state"] == "up"
    host.update_inventory("cmk", {"state": "down"})
    assert plugin.get_attributes(host, "export")["all"]["state"] == "down"
    host.set_inventory_attribute("cmk__state", "gone")
    assert plugin.get_attributes(host, "export")["all"]["state"] == "gone"
    plugin.discard()


@pytest.mark.parametrize("change", ["rule", "condition", "outcome", "disable", "delete"])
def test_cache_is_invalidated_by_any_rule_change(db, make_rule, change):
    from hosts.models import CustomAttributeCondition

    rule = make_rule("custom", [], [{"attribute": "role", "value": "old"}], condition_type="anyway")
    host = _host()
    plugin = Exporter()
    assert plugin.get_attributes(host, "export")["all"]["role"] == "old"
    plugin.flush_cache()
    version = RulesState.objects.get().version
    if change == "rule":
        rule.condition_type = "all"
        rule.save()
        CustomAttributeCondition.objects.create(rule=rule, match_type="hostname", hostname="nomatch")
        expected = None
    elif change == "condition":
        CustomAttributeCondition.objects.create(rule=rule, match_type="hostname", hostname="other")
        rule.condition_type = "all"
        rule.save()
        expected = None
    elif change == "outcome":
        outcome = rule.outcomes.get()
        outcome.value = "new"
        outcome.save()
        expected = "new"
    elif change == "disable":
        rule.enabled = False
        rule.save()
        expected = None
    else:
        rule.delete()
        expected = None
    assert RulesState.objects.get().version > version
    fresh = Host.objects.get(pk=host.pk)
    # the cached result is still there, but a new run sees the new rules version
    assert fresh.cache["export"]["all"]["role"] == "old"
    next_run = Exporter()
    assert next_run.get_attributes(fresh, "export")["all"].get("role") == expected
    plugin.discard()
    next_run.discard()


def test_ignored_hosts_are_cached_as_ignored(db, make_rule, django_assert_num_queries):
    make_rule("filter", [], [{"action": "ignore_host"}], condition_type="anyway")
    host = _host()
    plugin = Exporter()
    assert plugin.get_attributes(host, "export") is False
    with django_assert_num_queries(0):
        assert plugin.get_attributes(host, "export") is False
    plugin.discard()


def test_cache_keys_are_separate(db, make_rule):
    host = _host()
    plugin = Exporter()
    plugin.get_attributes(host, "one")
    plugin.get_attributes(host, True)
    assert {"one", "test_exporter", "rules_version"} <= host.cache.keys()
    plugin.discard()


def test_returned_dicts_do_not_alias_the_cache(db):
    host = _host()
    plugin = Exporter()
    plugin.get_attributes(host, "export")["all"]["os"] = "changed"
    assert plugin.get_attributes(host, "export")["all"]["os"] == "linux"
    plugin.discard()


# --- debug_rules ---------------------------------------------------------------------------------------------


def test_debug_rules_prints_hits_and_reasons(db, make_rule, capsys):
    make_rule(
        "custom",
        [{"match_type": "attribute", "attribute": "os", "value": "bsd"}],
        [{"attribute": "x", "value": "1"}],
        name="bsd only",
    )
    make_rule(
        "rewrite",
        [],
        [{"attribute": "site", "value_mode": "string", "new_value": "DC"}],
        condition_type="anyway",
        name="always rewrite",
        last_match=True,
    )
    make_rule(
        "filter", [], [{"action": "whitelist_attribute", "attribute": "os"}], condition_type="anyway", name="keep os"
    )
    _host()
    plugin = Exporter()
    rows = plugin.debug_rules("WEB01")
    out = capsys.readouterr().out
    assert [(r["phase"], r["rule"], r["hit"]) for r in rows] == [
        ("custom_attributes", "bsd only", False),
        ("rewrite", "always rewrite", True),
        ("filter", "keep os", True),
    ]
    assert "value equal 'bsd'" in rows[0]["reason"]
    assert "bsd only" in out and "always rewrite" in out
    assert " * os: linux" in out
    assert [r["rule"] for r in plugin.debug_rules("web01", "rewrite")] == ["always rewrite"]
    assert plugin.debug_rules("unknown-host") == []
    assert "not found" in capsys.readouterr().out
    with pytest.raises(ValueError):
        plugin.debug_rules("web01", "nonsense")
    plugin.discard()


def test_debug_rules_reports_ignored_hosts(db, make_rule, capsys):
    make_rule("filter", [], [{"action": "ignore_host"}], condition_type="anyway")
    _host()
    plugin = Exporter()
    plugin.debug_rules("web01")
    assert "IGNORED" in capsys.readouterr().out
    plugin.discard()


def test_a_cache_computed_before_a_concurrent_import_is_not_written(db, make_rule):
    make_rule("custom", [], [{"attribute": "os_copy", "value": "{{ os }}"}], condition_type="anyway")
    host = _host()
    other = _host("web02")
    plugin = Exporter()
    plugin.get_attributes(host, "export")
    plugin.get_attributes(other, "export")
    # another process imports new labels for web01 meanwhile
    concurrent = Host.get_host("web01")
    concurrent.update_host({"os": "bsd"})
    concurrent.save()
    plugin.flush_cache()
    assert Host.objects.get(hostname="web01").cache == {}
    assert Host.objects.get(hostname="web02").cache["export"]["all"]["os_copy"] == "linux"
    fresh = Exporter()
    assert fresh.get_attributes(Host.objects.get(hostname="web01"), "export")["all"]["os_copy"] == "bsd"
    plugin.discard()
    fresh.discard()
