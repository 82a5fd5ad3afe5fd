"""What each reader sees: rsync_env only for admins and agents, volume urls and user e-mails not for guests,
in the damas reads, searches and graph, the REST views and the monitoring page; no search probes a hidden key."""

from __future__ import annotations

import pytest
from django.test import Client

from tracker import monitoring, services

pytestmark = pytest.mark.django_db

SECRET_ENV = "RSYNC_PASSWORD=hunter2"


@pytest.fixture
def volume(db):
    services.create_volume("paris", node_id="sit/paris", url="ssh://sync@paris.example/project/", rsync_env=SECRET_ENV)
    return "sit/paris"


@pytest.mark.parametrize(
    ("who", "sees_url", "sees_env"),
    [("guest", False, False), ("user", True, False), ("editor", True, False), ("admin", True, True)],
)
def test_volume_keys_by_class(damas, volume, who, sees_url, sees_env):
    api = damas(f"r-{who}", who)
    status, node = api.read(volume)
    assert status == 200 and node["name"] == "paris"
    assert ("url" in node) == sees_url and ("rsync_env" in node) == sees_env
    one = api.search_one("name:paris")[1]
    assert ("url" in one) == sees_url and ("rsync_env" in one) == sees_env
    graph = api.graph(volume)[1]
    assert ("url" in graph[0]) == sees_url and ("rsync_env" in graph[0]) == sees_env
    assert api.get(f"read/{volume}")[1].get("rsync_env") == (SECRET_ENV if sees_env else None)


def test_agents_read_rsync_env(volume):
    agent = services.Actor("agent-paris", "editor", agent=True)
    assert services.read_nodes([volume], agent)[0]["rsync_env"] == SECRET_ENV
    assert "rsync_env" not in services.read_nodes([volume], services.Actor("ed", "editor"))[0]


def test_user_emails_are_hidden_from_guests(damas):
    guest = damas("g", "guest")
    user = damas("someone", "user")
    assert "email" not in guest.read("@someone")[1]
    assert user.read("@someone")[1]["email"] == "someone@example.com"
    assert guest.get("verify/")[1]["email"] == "g@example.com"  # one's own address


@pytest.mark.parametrize("who", ["guest", "user", "editor"])
def test_searches_cannot_probe_rsync_env(damas, volume, who):
    api = damas(f"s-{who}", who)
    status, body = api.search_mongo({"rsync_env": {"$regex": "^RSYNC_PASSWORD=h"}})
    assert status == 403 and "rsync_env" in body["detail"]
    assert api.search_mongo({"$or": [{"name": "x"}, {"rsync_env": "y"}]})[0] == 403
    assert api.search_mongo({}, {"rsync_env": 1})[0] == 403
    assert api.search("rsync_env:/^RSYNC/")[0] == 403
    assert api.get("search_one/rsync_env:/^RSYNC/")[0] == 403


def test_admins_search_anything(damas, volume):
    admin = damas("boss", "admin")
    assert admin.search_mongo({"rsync_env": {"$regex": "^RSYNC_PASSWORD=h"}})[1]["ids"] == [volume]
    assert admin.search("url:/^ssh/")[1] == [volume]


def test_guests_cannot_probe_volume_urls_or_emails(damas, volume):
    services.create_nodes([{"_id": "/g/f", "url": "ssh://file-level-key"}])
    guest = damas("g", "guest")
    assert guest.search_mongo({"url": {"$regex": "^ssh://sync@paris"}})[1]["ids"] == []
    assert guest.search("url:/^ssh/")[1] == ["/g/f"]  # files keep their own keys searchable
    assert guest.search_mongo({"email": {"$regex": "example"}})[1]["ids"] == []
    user = damas("u", "user")
    assert user.search_mongo({"url": {"$regex": "^ssh://sync@paris"}})[1]["ids"] == [volume]


def test_rest_views_redact_by_class(damas, volume):
    for who, sees_url in (("guest", False), ("user", True)):
        api = damas(f"rest-{who}", who)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {api.token}")
        response = client.get("/api/v1/tracker/nodes/", {"kind": "volume"})
        assert response.status_code == 200
        data = response.json()["results"][0]["data"]
        assert "rsync_env" not in data and ("url" in data) == sees_url
        sites = client.get("/api/v1/tracker/sites/").json()
        assert sites[0]["name"] == "paris" and bool(sites[0]["url"]) == sees_url
        users = client.get("/api/v1/tracker/nodes/", {"kind": "user"}).json()["results"]
        assert all(("email" in u["data"]) == sees_url for u in users)


def test_monitoring_summaries_by_reader(volume):
    sites = services.sites()
    guest = monitoring.site_summaries(sites, services.Actor("g", "guest"))[0]
    user = monitoring.site_summaries(sites, services.Actor("u", "user"))[0]
    admin = monitoring.site_summaries(sites, services.Actor("a", "admin"))[0]
    assert guest["url"] == "" and "url" not in guest["volume"] and "rsync_env" not in guest["volume"]
    assert user["url"].startswith("ssh://") and "rsync_env" not in user["volume"]
    assert admin["volume"]["rsync_env"] == SECRET_ENV
