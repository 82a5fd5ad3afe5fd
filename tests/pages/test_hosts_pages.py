"""The hosts pages: filters build bookmarkable URLs, a fixed number of queries per page, the rules on the web."""

from __future__ import annotations

import re

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def names(html: str) -> list[str]:
    return re.findall(r'<tr data-host="([^"]+)">', html)


@pytest.fixture
def signed_in(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["db01", "misc", "web01", "web02"]),
        ("?label=site=paris", ["db01", "misc", "web01"]),
        ("?label=site=paris&label=role=web", ["web01"]),
        ("?label=site=paris&label=site=lyon", []),
        ("?label=role", ["db01", "web01", "web02"]),
        ("?label=port=5432", ["db01"]),
        ("?account=lyon-csv", ["web02"]),
        ("?q=WEB", ["web01", "web02"]),
        ("?stale=1", ["web02"]),
        ("?sort=-name", ["web02", "web01", "misc", "db01"]),
        ("?label=role&sort=account", ["web02", "db01", "web01"]),
    ],
)
def test_host_list_filters(signed_in, inventory, query, expected):
    response = signed_in.get("/hosts/" + query)
    assert response.status_code == 200
    assert names(response.content.decode()) == expected


def test_host_list_page_queries_do_not_grow(signed_in, inventory, django_assert_max_num_queries):
    from hosts.models import Host

    Host.objects.bulk_create([Host(hostname=f"bulk{i:03}", labels={"site": "paris", "n": str(i)}) for i in range(120)])
    # session + user, the count, the page of hosts (account joined, HostSeen mark as a subquery), the account names
    with django_assert_max_num_queries(6):
        response = signed_in.get("/hosts/?label=site=paris&page=2")
    assert response.status_code == 200
    assert len(names(response.content.decode())) == 50
    assert "Page 2 of 3" in response.content.decode()


def test_host_list_bad_filters_answer_400(signed_in, inventory):
    assert signed_in.get("/hosts/?sort=nope").status_code == 400
    assert signed_in.get("/hosts/?label==x").status_code == 400
    assert signed_in.get("/hosts/?" + "&".join(["label=a"] * 11)).status_code == 400
    assert signed_in.get("/hosts/?page=999").status_code == 200  # clamped to the last page


def test_host_list_needs_sign_in(client, inventory):
    response = client.get("/hosts/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_label_filter_uses_the_gin_index_on_postgresql(require_postgres, inventory):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'hosts_host_labels_gin'")
        assert "gin (labels jsonb_path_ops)" in cursor.fetchone()[0]


def test_host_detail_shows_rules_and_what_they_changed(signed_in, inventory, make_rule, django_assert_max_num_queries):
    make_rule(
        "custom",
        [{"match_type": "attribute", "attribute": "role", "value": "web"}],
        [{"attribute": "monitoring", "value": "http"}],
        name="web gets http checks",
    )
    db_only = [{"match_type": "attribute", "attribute": "role", "value": "db"}]
    make_rule("custom", db_only, [{"attribute": "x"}], name="db")
    make_rule(
        "rewrite",
        [{"match_type": "attribute", "attribute": "site", "value": "paris"}],
        [{"attribute": "site", "value_mode": "string", "new_value": "PAR"}],
        name="site codes",
    )
    # session, user, the host, the rules (version + rules, conditions, outcomes per kind), the tester's rule list
    with django_assert_max_num_queries(18):
        html = signed_in.get("/hosts/web01/").content.decode()
    assert 'data-rule="web gets http checks" data-hit="1"' in html
    assert 'data-rule="db" data-hit="0"' in html
    assert "<code>monitoring</code>: <ins>http</ins>" in html
    assert "<code>site</code>: <del>paris</del> → <ins>PAR</ins>" in html
    assert re.search(r"<td>monitoring</td><td>http</td>", html)
    assert "Edit labels, inventory, account" in html  # a superuser may edit
    assert signed_in.get("/hosts/nope/").status_code == 404


def test_host_detail_hides_edit_actions_from_readers(client, django_user_model, inventory):
    reader = django_user_model.objects.create_user("reader", password="reader-pass-1234")
    client.force_login(reader)
    html = client.get("/hosts/web01/").content.decode()
    assert "<h2>Computed attributes</h2>" in html
    assert 'id="host-actions"' not in html


@pytest.mark.parametrize("hostname", ["accounts", "rules", "runs"])
def test_hosts_named_like_a_page_open_their_own_page(signed_in, inventory, hostname):
    """The site's own pages live under /hosts/-/ (no DNS name is "-"), so no host name is shadowed."""
    from hosts.models import Host

    Host.objects.create(hostname=hostname, labels={"site": "paris"}, account=inventory["paris"])
    html = signed_in.get(f"/hosts/{hostname}/").content.decode()
    assert f"<h1>{hostname}</h1>" in html or f">{hostname}</h1>" in html
    assert f'<tr data-host="{hostname}">' in signed_in.get("/hosts/?label=site=paris").content.decode()


def test_debug_host_prints_what_the_page_shows(inventory, make_rule, capsys):
    from hosts.plugin import Plugin

    make_rule("custom", [], [{"attribute": "tier", "value": "gold"}], condition_type="anyway", name="everyone")
    plugin = Plugin()
    try:
        rows = plugin.debug_rules("web01")
    finally:
        plugin.discard()
    assert rows[0]["changes"] == [{"key": "tier", "old": None, "new": "gold"}]
    assert "tier: gold" in capsys.readouterr().out


def test_rule_tester_tries_a_disabled_rule_without_saving(signed_in, inventory, make_rule):
    from hosts.models import Host

    rule = make_rule("custom", [], [{"attribute": "tier", "value": "gold"}], condition_type="anyway", enabled=False)
    before = Host.objects.get(hostname="web01").cache
    html = signed_in.get(f"/hosts/-/rules/test/?host=web01&rule=custom:{rule.pk}").content.decode()
    assert "✓ matches" in html and "<code>tier</code>: <ins>gold</ins>" in html
    assert Host.objects.get(hostname="web01").cache == before
    assert signed_in.get("/hosts/-/rules/test/?host=nope&rule=custom:1").status_code == 400
    assert signed_in.get("/hosts/-/rules/test/?host=web01&rule=custom:x").status_code == 400


def test_accounts_page_and_run_now(signed_in, client, django_user_model, inventory, django_assert_max_num_queries):
    from django_q.models import OrmQ

    from hosts.models import CronjobRun

    CronjobRun.objects.create(
        job="purge_log_entries",
        account="paris-csv",
        status="failed",
        log="boom\r\nline 2",
        traceback="fetching https://bob:hunter2-secret@cmdb.example.com/api failed",
    )
    with django_assert_max_num_queries(10):
        html = signed_in.get("/hosts/-/accounts/").content.decode()
    assert 'data-account="paris-csv"' in html and "✗ failed" in html
    run = CronjobRun.objects.get()
    page = signed_in.get(f"/hosts/-/runs/{run.pk}/").content.decode()
    assert "boom\r\nline 2" in page and "cmdb.example.com" in page and "hunter2-secret" not in page

    queued = OrmQ.objects.count()
    response = signed_in.post("/hosts/-/runs/now/", {"job": "no-such-job"})
    assert response.status_code == 302 and OrmQ.objects.count() == queued

    reader = django_user_model.objects.create_user("reader", password="reader-pass-1234")
    client.force_login(reader)
    assert "Run now" not in client.get("/hosts/-/accounts/").content.decode()
    assert client.post("/hosts/-/runs/now/", {"job": "purge_log_entries"}).status_code == 403
    assert OrmQ.objects.count() == queued


def test_rule_tester_tries_a_rule_that_is_not_saved(signed_in, inventory):
    from hosts.models import CustomAttributeCondition, CustomAttributeRule

    query = "host=web01&draft=1&match_type=attribute&attribute=role&value=web&set_attribute=checks&set_value=http"
    html = signed_in.get("/hosts/-/rules/test/?" + query).content.decode()
    assert "✓ matches" in html and "<code>checks</code>: <ins>http</ins>" in html
    html = signed_in.get("/hosts/-/rules/test/?" + query.replace("value=web", "value=db")).content.decode()
    assert "does not match" in html
    response = signed_in.get("/hosts/-/rules/test/?" + query.replace("match_type=attribute", "match_type=nope"))
    assert response.status_code == 400 and "match_type" in response.content.decode()
    assert not CustomAttributeRule.objects.exists() and not CustomAttributeCondition.objects.exists()
