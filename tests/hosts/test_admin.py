"""Admin pages: write-only passwords, host search and filters, rules with inlines, the run log, dashboard."""

from __future__ import annotations

import pytest

from hosts.models import Account, CustomAttributeRule, Host, LogEntry, RewriteRule
from hosts.services import dashboard_cards, write_log

pytestmark = pytest.mark.django_db


def _account_form(**overrides):
    data = {
        "name": "acc",
        "type": "csv",
        "address": "/srv/hosts.csv",
        "username": "u",
        "password": "",
        "enabled": "on",
        "verify_ssl": "on",
        "request_timeout": "",
        "custom_fields-TOTAL_FORMS": "1",
        "custom_fields-INITIAL_FORMS": "0",
        "custom_fields-MIN_NUM_FORMS": "0",
        "custom_fields-MAX_NUM_FORMS": "1000",
        "custom_fields-0-name": "delimiter",
        "custom_fields-0-value": ";",
    }
    data.update(overrides)
    return data


def test_account_password_is_write_only(admin_client):
    response = admin_client.post("/admin/hosts/account/add/", _account_form(password="top-secret-1"))
    assert response.status_code == 302, response.content.decode()[:3000]
    account = Account.objects.get(name="acc")
    assert account.password == "top-secret-1"
    assert account.as_config()["delimiter"] == ";"

    page = admin_client.get(f"/admin/hosts/account/{account.pk}/change/")
    assert page.status_code == 200
    assert b"top-secret-1" not in page.content
    assert b"Leave blank to keep the current value" in page.content

    # saving with the password left blank keeps it
    data = _account_form(address="/srv/other.csv")
    data.update(
        {
            "custom_fields-INITIAL_FORMS": "1",
            "custom_fields-0-id": str(account.custom_fields.get().pk),
            "custom_fields-0-account": str(account.pk),
        }
    )
    response = admin_client.post(f"/admin/hosts/account/{account.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    account.refresh_from_db()
    assert account.address == "/srv/other.csv"
    assert account.password == "top-secret-1"


def test_host_list_search_and_filters(admin_client, account):
    Host.objects.create(hostname="web01", labels={"os": "linux", "site": "dc1"}, account=account)
    Host.objects.create(hostname="web02", labels={"os": "bsd"})
    Host.objects.create(hostname="db01", labels={"role": "db"})

    def names(url):
        response = admin_client.get(url)
        assert response.status_code == 200
        return {h.hostname for h in response.context["cl"].result_list}

    assert names("/admin/hosts/host/") == {"web01", "web02", "db01"}
    assert names("/admin/hosts/host/?q=web") == {"web01", "web02"}
    assert names("/admin/hosts/host/?q=os:bsd") == {"web02"}
    assert names("/admin/hosts/host/?q=web+os:linux") == {"web01"}
    assert names(f"/admin/hosts/host/?account__id__exact={account.pk}") == {"web01"}
    assert names("/admin/hosts/host/?label=role") == {"db01"}


def test_host_change_page_shows_log_and_cache(admin_client):
    host = Host.get_host("web01")
    host.update_host({"os": "linux"})
    host.add_log("imported from test")
    host.save()
    page = admin_client.get(f"/admin/hosts/host/{host.pk}/change/")
    assert page.status_code == 200
    assert b"imported from test" in page.content


def test_rule_admin_with_inline_conditions_and_outcomes(admin_client):
    prefix_c, prefix_o = "conditions", "outcomes"
    data = {
        "name": "tag linux",
        "enabled": "on",
        "sort_order": "5",
        "condition_type": "all",
        f"{prefix_c}-TOTAL_FORMS": "1",
        f"{prefix_c}-INITIAL_FORMS": "0",
        f"{prefix_c}-MIN_NUM_FORMS": "0",
        f"{prefix_c}-MAX_NUM_FORMS": "1000",
        f"{prefix_c}-0-match_type": "attribute",
        f"{prefix_c}-0-hostname_match": "equal",
        f"{prefix_c}-0-attribute": "os",
        f"{prefix_c}-0-attribute_match": "equal",
        f"{prefix_c}-0-value": "lin.*",
        f"{prefix_c}-0-value_match": "regex",
        f"{prefix_c}-0-position": "0",
        f"{prefix_o}-TOTAL_FORMS": "1",
        f"{prefix_o}-INITIAL_FORMS": "0",
        f"{prefix_o}-MIN_NUM_FORMS": "0",
        f"{prefix_o}-MAX_NUM_FORMS": "1000",
        f"{prefix_o}-0-attribute": "family",
        f"{prefix_o}-0-value": "{{ os|upper }}",
        f"{prefix_o}-0-position": "0",
    }
    response = admin_client.post("/admin/hosts/customattributerule/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = CustomAttributeRule.objects.get()
    assert rule.conditions.get().value_match == "regex"
    assert rule.outcomes.get().value == "{{ os|upper }}"

    # a broken regex or template is refused with a message, not stored
    bad = {**data, "name": "broken", f"{prefix_c}-0-value": "(", f"{prefix_o}-0-value": "{{ unclosed"}
    response = admin_client.post("/admin/hosts/customattributerule/add/", bad)
    assert response.status_code == 200
    assert b"invalid regular expression" in response.content
    assert b"invalid Jinja template" in response.content
    assert CustomAttributeRule.objects.count() == 1

    listing = admin_client.get("/admin/hosts/customattributerule/")
    assert b"tag linux" in listing.content


def test_rewrite_outcome_split_is_validated(admin_client):
    data = {
        "name": "split",
        "enabled": "on",
        "sort_order": "0",
        "condition_type": "anyway",
        "conditions-TOTAL_FORMS": "0",
        "conditions-INITIAL_FORMS": "0",
        "outcomes-TOTAL_FORMS": "1",
        "outcomes-INITIAL_FORMS": "0",
        "outcomes-0-attribute": "fqdn",
        "outcomes-0-key_mode": "keep",
        "outcomes-0-value_mode": "split",
        "outcomes-0-new_value": "no index",
        "outcomes-0-position": "0",
    }
    response = admin_client.post("/admin/hosts/rewriterule/add/", data)
    assert response.status_code == 200
    assert b"split needs" in response.content
    response = admin_client.post("/admin/hosts/rewriterule/add/", {**data, "outcomes-0-new_value": ".:0"})
    assert response.status_code == 302
    assert RewriteRule.objects.get().outcomes.get().new_value == ".:0"


def test_rule_enable_disable_actions_bump_the_rules_version(admin_client, make_rule):
    from hosts.services import rules_version

    rule = make_rule("filter", [], [{"action": "ignore_host"}], condition_type="anyway")
    before = rules_version()
    response = admin_client.post("/admin/hosts/filterrule/", {"action": "disable", "_selected_action": [str(rule.pk)]})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.enabled is False
    assert rules_version() > before


def test_log_entries_filter_on_errors(admin_client):
    write_log("ok run", "csv", [("hosts", 3)])
    write_log("bad run", "csv", [("error", "boom")])
    response = admin_client.get("/admin/hosts/logentry/?has_error__exact=1")
    assert [e.name for e in response.context["cl"].result_list] == ["bad run"]
    entry = LogEntry.objects.get(name="bad run")
    detail = admin_client.get(f"/admin/hosts/logentry/{entry.pk}/change/")
    assert detail.status_code == 200
    assert b"boom" in detail.content


def test_dashboard_cards_count_hosts_and_accounts(admin_client, account, django_assert_max_num_queries):
    Host.objects.create(hostname="a")
    Host.objects.create(hostname="b")
    Host.objects.create(hostname="obj", is_object=True)
    with django_assert_max_num_queries(4):
        cards = {card["key"]: card for card in dashboard_cards()}
    assert cards["hosts"]["count"] == 2
    assert cards["hosts"]["note"] == "1 other objects"
    assert cards["hosts"]["url"] == "/hosts/"  # the hosts pages, not the admin
    assert cards["accounts"]["count"] == 1
    home = admin_client.get("/")
    assert home.status_code == 200
    assert b"Hosts" in home.content


def test_editing_labels_in_the_admin_normalises_them_and_clears_the_cache(admin_client):
    host = Host.objects.create(hostname="web01", labels={"os": "linux"}, cache={"rules_version": 0, "x": {}})
    data = {
        "hostname": "web01",
        "account": "",
        "object_type": "",
        "labels": '{"OS": "bsd ", "Data Center": "dc1"}',
        "inventory": "{}",
    }
    response = admin_client.post(f"/admin/hosts/host/{host.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    host.refresh_from_db()
    assert host.labels == {"os": "bsd", "data_center": "dc1"}
    assert host.cache == {}
    assert "edited by admin" in host.log[0]["message"]

    bad = admin_client.post(f"/admin/hosts/host/{host.pk}/change/", {**data, "labels": "[1, 2]"})
    assert bad.status_code == 200
    assert b"Labels must be a JSON object" in bad.content
    bad = admin_client.post(f"/admin/hosts/host/{host.pk}/change/", {**data, "hostname": "two words"})
    assert b"Not a valid hostname" in bad.content


@pytest.mark.parametrize(
    "model",
    [
        "host",
        "account",
        "logentry",
        "customattributerule",
        "rewriterule",
        "filterrule",
        "cronjobschedule",
        "cronjobrun",
    ],
)
def test_every_admin_page_renders(admin_client, model, account, make_rule, django_assert_max_num_queries):
    for index in range(3):
        Host.objects.create(hostname=f"h{index}", account=account, labels={"os": "linux"})
        write_log(f"run {index}", "test", [("n", index)])
        make_rule(
            "custom",
            [{"match_type": "attribute", "attribute": "os", "value": "linux"}],
            [{"attribute": "a", "value": "1"}],
        )
    # the changelist costs the same whatever the number of rows (no query per row)
    with django_assert_max_num_queries(12):
        assert admin_client.get(f"/admin/hosts/{model}/").status_code == 200
    add = admin_client.get(f"/admin/hosts/{model}/add/")
    assert add.status_code in (200, 403)  # log entries and runs are never added by hand
