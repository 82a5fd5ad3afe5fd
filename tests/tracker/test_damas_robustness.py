"""Junk bodies on every route: always a JSON 2xx/4xx answer, never a server error."""

from __future__ import annotations

import pytest

from tracker import services

pytestmark = pytest.mark.django_db

ROUTES = [
    ("POST", "create/"),
    ("POST", "read/"),
    ("PUT", "update/"),
    ("POST", "upsert/"),
    ("DELETE", "delete/"),
    ("POST", "search_mongo/"),
    ("POST", "graph/0/"),
    ("PUT", "lock/"),
    ("PUT", "unlock/"),
    ("POST", "publish/"),
    ("POST", "comment/"),
    ("POST", "version//junk/file"),
]
JUNK = [
    "null",
    "true",
    "1",
    '"x"',
    '""',
    "[]",
    "[null]",
    "[[]]",
    "{}",
    '{"_id": null}',
    '{"_id": ["a"]}',
    '[{"_id": {}}]',
    '{"_id": "/junk/file", "#parent": 5}',
    '{"#parent": [1, 2]}',
    '{"#parent": "/junk/file", "comment": {"a": 1}}',
    '{"query": [1]}',
    '{"query": {"a": {"$in": [[1], {"b": 2}]}}}',
    '{"query": {"a": {"$regex": "(?P<x"}}}',
    '{"query": {"$or": [1]}}',
    '{"query": {}, "sort": "x"}',
    '{"query": {}, "sort": {"a": 1, "b": "sideways"}}',
    '{"query": {}, "limit": "many"}',
    '{"query": {"a": {"$not": 5}}}',
    '{"query": {"a": {"$exists": {"$gt": 1}}}}',
    '{"_id": "/junk/new", "origin": ["a"]}',
    '{"_id": "/junk/new", "origin": "x", "comment": 5}',
    '{"_id": "/junk/file", "lock": {"who": 1}}',
    '"/junk/file"',
    '["/junk/file", 5]',
    '{"_id": "/junk/\\u0000"}',
    '{"_id": "@someone"}',
    '{"_id": "/junk/file", "time": "yesterday", "sync_priority": "high"}',
]


@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_junk_never_500(damas, method, route):
    services.create_volume("x", url="ssh://x/p/")
    api = damas("boss", "admin")
    api.create({"_id": "/junk/file", "origin": "x"})
    for raw in JUNK:
        status, body = api.call(method, route, raw=raw)
        assert status < 500, (route, raw, status, body)
        if status >= 400:
            assert isinstance(body, dict | bool) and (body is False or "detail" in body), (route, raw, body)


@pytest.mark.parametrize(
    "query",
    ["a:", ":b", "a<", "a:/x", "a:/(/", "a>=b<c", "_id:/^\\/junk\\//i", "%ZZ", "a:%00", "k:" + "x" * 5000, "a::b"],
)
def test_text_search_junk_never_500(damas, query):
    api = damas("boss", "admin")
    response = api.client.get(f"/api/search/{query}", HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert response.status_code < 500, (query, response.content[:200])
    response = api.client.get(f"/api/search_one/{query}", HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert response.status_code < 500
