"""A damas-core style client over real HTTP against a live Syncsite.

`HttpConnection` behaves like damas-core's `http_connection(url)` (py/damas_client.py): requests with JSON
bodies to `<url>/api/<route>/`, `(status_code, parsed JSON)` on success and `(status_code, text)` otherwise.
"""

from __future__ import annotations

import json

import pytest
import requests

from tracker import services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


class HttpConnection:
    def __init__(self, url: str):
        self.serverURL = url
        self.token = None
        self.headers: dict[str, str] = {}

    def _send(self, method: str, route: str, body=None, ok=(200,)):
        headers = {"content-type": "application/json", **self.headers}
        data = None if body is None else json.dumps(body)
        r = requests.request(method, self.serverURL + route, data=data, headers=headers, timeout=30)
        if r.status_code in ok:
            return r.status_code, json.loads(r.text)
        return r.status_code, r.text

    def create(self, keys):
        return self._send("POST", "/api/create/", keys, (201, 207))

    def read(self, id_):
        return self._send("POST", "/api/read/", id_, (200, 207))

    def update(self, keys):
        return self._send("PUT", "/api/update/", keys, (200, 207))

    def upsert(self, keys):
        return self._send("POST", "/api/upsert/", keys, (200, 201))

    def delete(self, id_):
        return self._send("DELETE", "/api/delete/", id_, (200, 207))

    def search(self, query):
        r = requests.get(self.serverURL + "/api/search/" + query, headers=self.headers, timeout=30)
        return (r.status_code, json.loads(r.text)) if r.status_code == 200 else (r.status_code, r.text)

    def search_one(self, query):
        r = requests.get(self.serverURL + "/api/search_one/" + query, headers=self.headers, timeout=30)
        return (r.status_code, json.loads(r.text)) if r.status_code == 200 else (r.status_code, r.text)

    def search_mongo(self, query, sort, limit, skip):
        return self._send("POST", "/api/search_mongo/", {"query": query, "sort": sort, "limit": limit, "skip": skip})

    def graph(self, id_):
        return self._send("POST", "/api/graph/0/", id_, (200, 207))

    def lock(self, id_):
        return self._send("PUT", "/api/lock/", id_)[0] == 200

    def unlock(self, id_):
        return self._send("PUT", "/api/unlock/", id_)[0] == 200

    def publish(self, keys):
        return self._send("POST", "/api/publish/", keys, (201, 207))

    def comment(self, keys):
        return self._send("POST", "/api/comment/", keys, (201, 207))

    def version(self, id_, keys):
        return self._send("POST", f"/api/version/{id_}", keys, (201,))

    def signIn(self, username, password):
        r = requests.post(
            self.serverURL + "/api/signIn/", data={"username": username, "password": password}, timeout=30
        )
        if r.status_code == 200:
            self.token = json.loads(r.text)
            self.headers["Authorization"] = "Bearer " + self.token["token"]
            return r.status_code, True
        return r.status_code, False

    def verify(self):
        r = requests.get(self.serverURL + "/api/verify/", headers=self.headers, timeout=30)
        return r.status_code, r.status_code == 200


def test_damas_client_round_trip(live_server, make_user):
    make_user("studio", "editor")
    for name in ("paris", "tokyo"):
        services.create_volume(name, url=f"ssh://{name}/p/")
    project = HttpConnection(live_server.url)
    assert project.signIn("studio", "wrong") == (401, False)
    assert project.verify() == (401, False)
    assert project.signIn("studio", "pw-Secret-123") == (200, True)
    assert project.verify() == (200, True)

    status, node = project.publish({"_id": "/prj/shots/s01.exr", "comment": "first", "origin": "paris"})
    assert status == 201 and node["author"] == "studio"
    status, nodes = project.publish(
        [{"_id": "/prj/shots/s02.exr", "origin": "paris"}, {"_id": "/prj/shots/s01.exr", "origin": "paris"}]
    )
    assert status == 207 and nodes[1] is None
    assert project.publish({"_id": "/prj/shots/s01.exr", "origin": "paris"})[0] == 409

    assert project.read("/prj/shots/s01.exr")[1]["origin"] == "paris"
    assert project.read(["/prj/shots/s01.exr", "/nope"])[0] == 207
    assert project.search(r"_id:/^\/prj\/shots\// origin:paris") == (200, ["/prj/shots/s01.exr", "/prj/shots/s02.exr"])
    assert project.search_one("origin:paris")[1]["_id"] == "/prj/shots/s01.exr"
    status, found = project.search_mongo(
        {
            "synced_tokyo": {"$exists": False},
            "origin": {"$ne": "tokyo"},
            "deleted": {"$ne": True},
            "_id": "REGEX_^/prj/",
        },
        {"_id": 1},
        10,
        0,
    )
    assert found == {"count": 2, "ids": ["/prj/shots/s01.exr", "/prj/shots/s02.exr"]}

    # Sync keys are the agents' (an editor is refused); the tokyo agent records the delivery.
    assert project.update({"_id": "/prj/shots/s01.exr", "synced_tokyo": 10**13})[0] == 403
    services.mark_synced("/prj/shots/s01.exr", "tokyo", 10**13)
    assert project.search_mongo({"synced_tokyo": {"$exists": False}, "_id": "REGEX_^/prj/"}, None, 0, 0)[1]["ids"] == [
        "/prj/shots/s02.exr"
    ]
    assert project.lock("/prj/shots/s01.exr") is True
    assert project.unlock("/prj/shots/s01.exr") is True
    assert project.unlock("/prj/shots/s01.exr") is False
    status, comments = project.comment({"#parent": ["/prj/shots/s01.exr", "/prj/shots/s02.exr"], "comment": "ok"})
    assert status == 201 and len(comments) == 2
    status, versioned = project.version("/prj/shots/s01.exr", {"file": "v2"})
    assert status == 201 and versioned["version"] == 2
    assert project.upsert({"_id": "/prj/extra", "k": 1})[0] == 200
    assert len(project.graph("/prj/shots/s01.exr")[1]) == 1
    assert project.delete(["/prj/extra", "/nope"]) == (207, ["/prj/extra", None])
    assert project.create({"_id": "/prj/x"})[0] == 201
    status, text = project.create("{not json")
    assert status == 400 and "detail" in json.loads(text)
