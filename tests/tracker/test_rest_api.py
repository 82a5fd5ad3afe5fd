"""The read-only DRF views under /api/v1/tracker/ and their OpenAPI schema."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tracker import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def nodes(three_sites):
    services.publish_many(
        [{"_id": f"/rest/{i:03d}", "origin": "paris" if i % 2 else "tokyo", "sync_priority": i % 3} for i in range(30)],
        author="alice",
    )


def test_nodes_list_filters_and_pagination(token_client, nodes, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        response = token_client.get("/api/v1/tracker/nodes/", {"prefix": "/rest/", "kind": "file", "limit": 10})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 30 and len(body["results"]) == 10 and body["next"]
    first = body["results"][0]
    assert first["_id"] == "/rest/000" and first["data"]["author"] == "alice" and first["kind"] == "file"
    response = token_client.get("/api/v1/tracker/nodes/", {"origin": "paris", "min_priority": 2})
    assert {r["_id"] for r in response.json()["results"]} == {
        "/rest/005",
        "/rest/011",
        "/rest/017",
        "/rest/023",
        "/rest/029",
    }
    response = token_client.get("/api/v1/tracker/nodes/", {"kind": "child", "parent": "/rest/001"})
    assert response.json()["count"] == 1
    response = token_client.get("/api/v1/tracker/nodes/", {"kind": "nonsense"})
    assert response.status_code == 400 and "detail" in response.json()
    pk = first["id"]
    assert token_client.get(f"/api/v1/tracker/nodes/{pk}/").json()["_id"] == "/rest/000"
    assert token_client.post("/api/v1/tracker/nodes/", {}).status_code == 405


def test_nodes_need_authentication_and_accept_sign_in_tokens(api_client, client, make_user, nodes):
    assert api_client.get("/api/v1/tracker/nodes/").status_code in (401, 403)
    make_user("viewer", "guest")
    token = client.post("/api/signIn/", {"username": "viewer", "password": "pw-Secret-123"}).json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api_client.get("/api/v1/tracker/nodes/").status_code == 200
    with override_settings(TRACKER_AUTHOR_MODE=True):
        assert api_client.get("/api/v1/tracker/nodes/", {"kind": "file"}).json()["count"] == 0


def test_sites_overview(token_client, nodes):
    response = token_client.get("/api/v1/tracker/sites/")
    assert response.status_code == 200
    by_name = {row["name"]: row for row in response.json()}
    assert by_name["lima"]["pending"] == 30 and by_name["paris"]["pending"] == 15


def test_schema_has_tracker_paths(token_client):
    response = token_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/tracker/nodes/" in paths and "/api/v1/tracker/sites/" in paths
