"""REST API of syncthing_bridge (/api/v1/syncthing/) against real daemons."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from syncthing_bridge import services
from syncthing_bridge.models import SyncthingInstance
from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

BASE = "/api/v1/syncthing"


def test_instances_crud_with_write_only_api_key(token_client, cluster):
    created = token_client.post(
        f"{BASE}/instances/",
        {"name": "st-a", "url": cluster.a.url, "api_key": cluster.a.api_key, "site": "siteA", "syncthing_only": True},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert "api_key" not in body and body["name"] == "st-a" and body["reachable"] is False
    pk = body["id"]
    assert SyncthingInstance.objects.get(pk=pk).api_key == cluster.a.api_key
    missing_key = token_client.post(f"{BASE}/instances/", {"name": "x", "url": cluster.a.url}, format="json")
    assert missing_key.status_code == 400 and "detail" in missing_key.json()
    bad_url = token_client.post(f"{BASE}/instances/", {"name": "y", "url": "nope", "api_key": "k"}, format="json")
    assert bad_url.status_code == 400
    patched = token_client.patch(f"{BASE}/instances/{pk}/", {"site": "siteA2", "api_key": ""}, format="json")
    assert patched.status_code == 400  # a blank key is refused; leave it out to keep the stored one
    patched = token_client.patch(f"{BASE}/instances/{pk}/", {"site": "siteA2"}, format="json")
    assert patched.status_code == 200 and patched.json()["site"] == "siteA2"
    assert SyncthingInstance.objects.get(pk=pk).api_key == cluster.a.api_key
    tested = token_client.post(f"{BASE}/instances/{pk}/test/")
    assert tested.status_code == 200 and tested.json()["device_id"] == cluster.a.device_id
    refreshed = token_client.post(f"{BASE}/instances/{pk}/refresh/")
    assert refreshed.status_code == 200 and refreshed.json()["reachable"] is True
    assert token_client.post(f"{BASE}/instances/{pk}/rescan/", {}, format="json").status_code == 400
    ok = token_client.post(f"{BASE}/instances/{pk}/rescan/", {"folder": cluster.folder}, format="json")
    assert ok.status_code == 200
    nope = token_client.post(f"{BASE}/instances/{pk}/rescan/", {"folder": "nope"}, format="json")
    assert nope.status_code == 502 and "no such folder" in nope.json()["detail"]
    bogus = token_client.post(f"{BASE}/instances/{pk}/pause/", {"device": "bogus"}, format="json")
    assert bogus.status_code == 502 and "device ID invalid" in bogus.json()["detail"]
    assert token_client.delete(f"{BASE}/instances/{pk}/").status_code == 204
    assert token_client.get(f"{BASE}/instances/{pk}/").status_code == 404


def test_unreachable_daemon_is_a_502_with_detail(token_client):
    down = services.create_instance("down", f"http://127.0.0.1:{free_port()}", "key", timeout=2)
    response = token_client.post(f"{BASE}/instances/{down.pk}/test/")
    assert response.status_code == 502 and "cannot reach Syncthing" in response.json()["detail"]
    assert token_client.post(f"{BASE}/instances/{down.pk}/refresh/").status_code == 502


def test_devices_and_folders_lists_and_permissions(token_client, make_token, cluster, django_assert_max_num_queries):
    for daemon, site in ((cluster.a, "siteA"), (cluster.b, "siteB")):
        services.refresh_instance(
            services.create_instance(f"st-{daemon.name}", daemon.url, daemon.api_key, site=site, syncthing_only=True)
        )
    with django_assert_max_num_queries(6):
        folders = token_client.get(f"{BASE}/folders/").json()
    assert folders["count"] == 2 and folders["results"][0]["completions"][0]["completion"] >= 0
    with django_assert_max_num_queries(6):
        devices = token_client.get(f"{BASE}/devices/?connected=true").json()
    assert {d["instance"] for d in devices["results"]} == {"st-a", "st-b"}
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token('reader')}")
    listed = reader.get(f"{BASE}/instances/")
    assert listed.status_code == 200 and all("api_key" not in i for i in listed.json()["results"])
    pk = listed.json()["results"][0]["id"]
    assert reader.post(f"{BASE}/instances/{pk}/test/").status_code == 403
    assert reader.delete(f"{BASE}/instances/{pk}/").status_code == 403
    assert APIClient().get(f"{BASE}/instances/").status_code == 401
