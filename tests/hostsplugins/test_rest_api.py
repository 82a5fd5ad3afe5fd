"""REST API of hosts under /api/v1/: auth, filters, pagination, ownership, bulk atomicity, rules, logs, cronjobs."""

from __future__ import annotations

import json

import pytest

from hosts.models import CronjobRun, Host, LogEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(make_account):
    return {
        "a": make_account("source-a", password="pw-a-secret", secrets={"api_key": "k-123"}, site="dc1"),
        "b": make_account("source-b"),
        "master": make_account("cmdb", is_master=True),
    }


@pytest.fixture
def user_client(make_token):
    """A token without model permissions: may read, may not write hosts."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token('reader')}")
    return client


def test_anonymous_is_refused(api_client):
    response = api_client.get("/api/v1/hosts/")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_list_is_paginated_and_filtered(token_client, accounts):
    for index in range(30):
        account = accounts["a"] if index % 2 else accounts["b"]
        Host.objects.create(
            hostname=f"h{index:02d}", account=account, labels={"os": "linux" if index % 3 else "bsd"}, stale=index < 4
        )
    page = token_client.get("/api/v1/hosts/?limit=10&offset=10").json()
    assert page["count"] == 30 and len(page["results"]) == 10
    assert page["results"][0]["hostname"] == "h10" and page["next"] and page["previous"]
    assert token_client.get("/api/v1/hosts/?account=source-a").json()["count"] == 15
    assert token_client.get("/api/v1/hosts/?label_key=os").json()["count"] == 30
    assert token_client.get("/api/v1/hosts/?label_key=os&label_value=bsd").json()["count"] == 10
    assert token_client.get("/api/v1/hosts/?label_key=os&label_value=bsd&account=source-b").json()["count"] == 5
    assert token_client.get("/api/v1/hosts/?label_key=nope").json()["count"] == 0
    assert token_client.get("/api/v1/hosts/?stale=true").json()["count"] == 4
    assert token_client.get("/api/v1/hosts/?stale=false").json()["count"] == 26
    response = token_client.get("/api/v1/hosts/?label_value=bsd")
    assert response.status_code == 400 and "label_value needs label_key" in json.dumps(response.json())


def test_list_query_count_does_not_grow_with_the_limit(token_client, accounts, django_assert_num_queries):
    Host.objects.bulk_create(
        Host(hostname=f"host{index:04d}", account=accounts["a"], labels={"i": index}) for index in range(1100)
    )
    token_client.get("/api/v1/hosts/?limit=1")  # warm up (content types, etc.)
    with django_assert_num_queries(3):  # token + count + page
        small = token_client.get("/api/v1/hosts/?limit=5")
    with django_assert_num_queries(3):
        large = token_client.get("/api/v1/hosts/?limit=1000")
    assert len(small.json()["results"]) == 5
    assert len(large.json()["results"]) == 1000
    assert large.json()["results"][0]["account"] == "source-a"


def test_read_one_host_by_hostname(token_client, accounts):
    Host.objects.create(hostname="web1.example.com", account=accounts["a"], labels={"os": "linux"})
    body = token_client.get("/api/v1/hosts/web1.example.com/").json()
    assert body["labels"] == {"os": "linux"} and body["account"] == "source-a" and body["log"] == []
    missing = token_client.get("/api/v1/hosts/nope.example.com/")
    assert missing.status_code == 404 and "detail" in missing.json()


def test_create_and_update_labels_for_an_account(token_client, accounts):
    response = token_client.post(
        "/api/v1/hosts/", {"hostname": "Web1", "account": "source-a", "labels": {"OS Name": "linux"}}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["hostname"] == "web1" and response.json()["labels"] == {"os_name": "linux"}
    response = token_client.put("/api/v1/hosts/web1/", {"account": "source-a", "labels": {"os": "bsd"}}, format="json")
    assert response.status_code == 200 and response.json()["labels"] == {"os": "bsd"}
    # another ordinary account takes the host over, like set_account
    response = token_client.put("/api/v1/hosts/web1/", {"account": "source-b", "labels": {"os": "bsd"}}, format="json")
    assert response.status_code == 200 and response.json()["account"] == "source-b"


def test_ownership_conflict_is_403_and_changes_nothing(token_client, accounts):
    Host.objects.create(hostname="db1", account=accounts["master"], labels={"owner": "cmdb"})
    Host.objects.create(hostname="locked1", locked=True, labels={"x": "1"})
    response = token_client.put("/api/v1/hosts/db1/", {"account": "source-a", "labels": {"owner": "me"}}, format="json")
    assert response.status_code == 403
    assert (
        response.json()["detail"]
        == "host 'db1' is owned by master account 'cmdb'; account 'source-a' may not change it"
    )
    response = token_client.put("/api/v1/hosts/locked1/", {"account": "source-a", "labels": {}}, format="json")
    assert response.status_code == 403 and "locked" in response.json()["detail"]
    assert Host.objects.get(hostname="db1").labels == {"owner": "cmdb"}
    response = token_client.put("/api/v1/hosts/db1/", {"account": "cmdb", "labels": {"owner": "cmdb2"}}, format="json")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hostname": "bad name", "account": "source-a", "labels": {}}, "invalid hostname"),
        ({"hostname": "h1", "account": "nope", "labels": {}}, "account 'nope' does not exist"),
        ({"hostname": "h1", "labels": {}}, "account"),
        ({"hostname": "h1", "account": "source-a", "labels": "x"}, "labels"),
        ({"account": "source-a", "labels": {}}, "hostname"),
    ],
)
def test_bad_host_writes_are_400(token_client, accounts, body, field):
    response = token_client.post("/api/v1/hosts/", body, format="json")
    assert response.status_code == 400
    assert field in json.dumps(response.json())
    assert not Host.objects.exists()


def test_writes_need_permissions(user_client, accounts):
    Host.objects.create(hostname="h1", labels={})
    assert user_client.get("/api/v1/hosts/").status_code == 200
    response = user_client.post(
        "/api/v1/hosts/", {"hostname": "h2", "account": "source-a", "labels": {}}, format="json"
    )
    assert response.status_code == 403
    assert user_client.delete("/api/v1/hosts/h1/").status_code == 403
    assert Host.objects.count() == 1


def test_bulk_upsert(token_client, accounts):
    Host.objects.create(hostname="old1", account=accounts["a"], labels={})
    body = {"account": "source-a", "hosts": [{"hostname": "n1", "labels": {"a": 1}}, {"hostname": "N2"}]}
    response = token_client.post("/api/v1/hosts/bulk/", body, format="json")
    assert response.status_code == 200
    assert response.json() | {"created": 2, "updated": 0, "stale": 0} == response.json()
    assert Host.objects.get(hostname="old1").stale is False  # a partial push marks nothing stale
    response = token_client.post("/api/v1/hosts/bulk/", {**body, "mark_stale": True}, format="json")
    assert response.json()["unchanged"] == 2 and response.json()["stale"] == 1
    assert Host.objects.get(hostname="old1").stale is True


def test_bulk_upsert_is_one_transaction(token_client, accounts, settings):
    settings.HOSTS_IMPORT_BATCH_SIZE = 2  # the conflict sits in the last batch, after two batches were written
    Host.objects.create(hostname="z-master", account=accounts["master"], labels={})
    hosts = [{"hostname": f"a{index}", "labels": {}} for index in range(5)] + [{"hostname": "z-master", "labels": {}}]
    response = token_client.post("/api/v1/hosts/bulk/", {"account": "source-a", "hosts": hosts}, format="json")
    assert response.status_code == 403 and "z-master" in response.json()["detail"]
    assert list(Host.objects.values_list("hostname", flat=True)) == ["z-master"]
    hosts[-1] = {"hostname": "bad name!", "labels": {}}
    response = token_client.post("/api/v1/hosts/bulk/", {"account": "source-a", "hosts": hosts}, format="json")
    assert response.status_code == 400 and "invalid hostname 'bad name!'" in response.json()["detail"]
    assert Host.objects.count() == 1
    response = token_client.post("/api/v1/hosts/bulk/", {"account": "source-a", "hosts": []}, format="json")
    assert response.status_code == 400


def test_delete(token_client, accounts):
    Host.objects.create(hostname="h1", labels={})
    assert token_client.delete("/api/v1/hosts/h1/").status_code == 204
    assert token_client.delete("/api/v1/hosts/h1/").status_code == 404


def test_inventory_per_host_and_in_bulk(token_client, accounts):
    Host.objects.create(hostname="h1", labels={"os": "linux"}, inventory={"hw__old": 1, "os__kernel": "6"})
    Host.objects.create(hostname="h2", labels={})
    response = token_client.put("/api/v1/hosts/h1/inventory/", {"key": "hw", "data": {"serial": "A1"}}, format="json")
    assert response.status_code == 200
    assert response.json()["inventory"] == {"os__kernel": "6", "hw__serial": "A1"}
    response = token_client.put("/api/v1/hosts/h1/inventory/", {"key": "bad__key", "data": {}}, format="json")
    assert response.status_code == 400
    assert (
        token_client.put("/api/v1/hosts/nope/inventory/", {"key": "hw", "data": {}}, format="json").status_code == 404
    )
    body = {
        "key": "hw",
        "hosts": [
            {"hostname": "h1", "data": {}},
            {"hostname": "h2", "data": {"ram": 8}},
            {"hostname": "h3", "data": {}},
        ],
    }
    response = token_client.post("/api/v1/hosts/inventory/", body, format="json")
    assert response.status_code == 200
    assert response.json() | {"updated": 2, "skipped": 1} == response.json()
    assert Host.objects.get(hostname="h1").inventory == {"os__kernel": "6"}
    assert Host.objects.get(hostname="h2").inventory == {"hw__ram": 8}


def test_accounts_never_show_passwords(token_client, accounts):
    response = token_client.get("/api/v1/accounts/")
    assert response.status_code == 200
    text = json.dumps(response.json())
    assert "pw-a-secret" not in text and "k-123" not in text and "password" not in text
    detail = token_client.get("/api/v1/accounts/source-a/").json()
    assert detail["custom_fields"] == [
        {"name": "site", "secret": False, "is_set": True, "value": "dc1"},
        {"name": "api_key", "secret": True, "is_set": True, "value": None},
    ]


RULE = {
    "name": "linux hosts get a team",
    "sort_order": 5,
    "conditions": [{"match_type": "attribute", "attribute": "os", "value": "linux"}],
    "outcomes": [{"attribute": "team", "value": "{{ os }}-ops"}],
}


def test_rules_create_list_update(token_client, user_client):
    response = token_client.post("/api/v1/rules/custom_attributes/", RULE, format="json")
    assert response.status_code == 201, response.json()
    rule_id = response.json()["id"]
    listed = token_client.get("/api/v1/rules/custom_attributes/").json()
    assert listed[0]["name"] == RULE["name"] and listed[0]["outcomes"] == [
        {"attribute": "team", "value": "{{ os }}-ops"}
    ]
    response = token_client.put(
        f"/api/v1/rules/custom_attributes/{rule_id}/", {**RULE, "enabled": False}, format="json"
    )
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert user_client.get("/api/v1/rules/custom_attributes/").status_code == 200
    assert user_client.post("/api/v1/rules/custom_attributes/", RULE, format="json").status_code == 403
    bad = {**RULE, "conditions": [{"match_type": "attribute", "attribute_match": "nope"}]}
    response = token_client.post("/api/v1/rules/custom_attributes/", bad, format="json")
    assert response.status_code == 400 and "nope" in json.dumps(response.json())
    assert token_client.get("/api/v1/rules/unknown/").status_code == 404


def test_rules_export_and_import(token_client):
    from hosts.plugin import Plugin

    token_client.post("/api/v1/rules/custom_attributes/", RULE, format="json")
    exported = token_client.get("/api/v1/rules/export/").json()
    assert exported["custom_attributes"][0]["name"] == RULE["name"] and exported["filter"] == []
    response = token_client.post("/api/v1/rules/import/?replace=true", exported, format="json")
    assert response.status_code == 200 and response.json() == {
        "imported": {"custom_attributes": 1, "filter": 0, "rewrite": 0}
    }
    assert token_client.get("/api/v1/rules/export/").json() == exported
    broken = {"custom_attributes": [RULE, {"name": "x", "outcomes": [{"nope": 1}]}]}
    response = token_client.post("/api/v1/rules/import/", broken, format="json")
    assert response.status_code == 400 and "custom_attributes[1]" in json.dumps(response.json())
    assert len(token_client.get("/api/v1/rules/custom_attributes/").json()) == 1  # nothing half-imported
    host = Host.objects.create(hostname="h1", labels={"os": "linux"})
    plugin = Plugin()
    assert plugin.get_attributes(host)["all"]["team"] == "linux-ops"
    plugin.discard()


def test_logs_recent_by_source_and_errors(token_client):
    from hosts.services import write_log

    write_log("CSV import: a", "csv_import", [("created", 3)])
    write_log("CSV import: a", "csv_import", [("error", "bad file")])
    write_log("HTTP import: b", "http_import", [("created", 1)])
    recent = token_client.get("/api/v1/logs/").json()
    assert [item["source"] for item in recent["results"]] == ["http_import", "csv_import", "csv_import"]
    assert token_client.get("/api/v1/logs/?source=csv_import").json()["count"] == 2
    errors = token_client.get("/api/v1/logs/?errors=true").json()
    assert errors["count"] == 1 and errors["results"][0]["details"] == [["error", "bad file"]]
    assert token_client.get("/api/v1/logs/errors/?source=http_import").json()["count"] == 0
    assert LogEntry.objects.count() == 3


def test_cronjob_status_and_run_now(
    token_client, user_client, make_account, tmp_path, django_capture_on_commit_callbacks
):
    path = tmp_path / "hosts.csv"
    path.write_text("host\nh1\nh2\n")
    make_account("csvsrc", address=str(path))
    jobs = {job["name"]: job for job in token_client.get("/api/v1/cronjobs/").json()}
    assert jobs["hosts: import-csv"] == {"name": "hosts: import-csv", "running": False, "last_run": None}
    assert user_client.post("/api/v1/cronjobs/", {"job": "hosts: import-csv", "account": "csvsrc"}).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):  # queued when the (test's) transaction commits
        response = token_client.post(
            "/api/v1/cronjobs/", {"job": "hosts: import-csv", "account": "csvsrc"}, format="json"
        )
    assert response.status_code == 202 and response.json()["job"] == "hosts: import-csv"
    assert Host.objects.count() == 2  # django-q2 runs tasks inline in tests
    last = {job["name"]: job for job in token_client.get("/api/v1/cronjobs/").json()}["hosts: import-csv"]["last_run"]
    assert last["status"] == "success" and last["account"] == "csvsrc"
    runs = token_client.get("/api/v1/cronjob-runs/?job=hosts: import-csv").json()
    assert runs["count"] == 1 and CronjobRun.objects.count() == 1
    assert token_client.post("/api/v1/cronjobs/", {"job": "nope"}, format="json").status_code == 400
    response = token_client.post("/api/v1/cronjobs/", {"job": "hosts: import-csv", "account": "zz"}, format="json")
    assert response.status_code == 400 and "account 'zz' does not exist" in json.dumps(response.json())


def test_openapi_documents_the_hosts_api(client):
    from openapi_spec_validator import validate

    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    validate(schema)
    for path in (
        "/api/v1/hosts/",
        "/api/v1/hosts/{hostname}/",
        "/api/v1/hosts/bulk/",
        "/api/v1/hosts/inventory/",
        "/api/v1/hosts/{hostname}/inventory/",
        "/api/v1/accounts/",
        "/api/v1/logs/",
        "/api/v1/rules/export/",
        "/api/v1/cronjobs/",
        "/api/v1/ansible/inventory",
    ):
        assert any(p.startswith(path.rstrip("/")) for p in schema["paths"]), path
    parameters = {p["name"] for p in schema["paths"]["/api/v1/hosts/"]["get"]["parameters"]}
    assert {"account", "label_key", "label_value", "stale", "limit", "offset"} <= parameters
