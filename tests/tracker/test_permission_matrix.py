"""The permission matrix as a generated table over the real damas routes: every write route x every class
(guest, user, editor, admin, and the agent capability) x every protected key and every kind of node.

The protected keys come from two places: the matrix's own lists (tracker.permissions) and an independent list
written here from the issue and TRACKER.md; the expected answer is computed here, not by the matrix, so the
table is not the matrix checking itself.
"""

from __future__ import annotations

import pytest

from tracker import permissions, services
from tracker.models import Node

pytestmark = pytest.mark.django_db

CLASSES = ["guest", "user", "editor", "admin"]
RANK = {name: i for i, name in enumerate(CLASSES)}
# The least class of each write route (TRACKER.md "Users and permissions").
NEEDS = {
    "create": "user",
    "publish": "user",
    "comment": "user",
    "version": "user",
    "lock": "user",
    "unlock": "user",
    "update": "editor",
    "upsert_new": "editor",
    "upsert": "editor",
    "delete": "editor",
}
SITE = "paris"
# Independent of the matrix: key -> rule ("admin": admins only; "creation": at create/publish only, else
# admins; "lock": only through lock/unlock; "sync": agents or admins).
INDEPENDENT_KEYS = {
    "author": "admin",
    "time": "admin",
    "class": "admin",
    "username": "admin",
    "origin": "creation",
    "lock": "lock",
    f"synced_{SITE}": "sync",
    f"syncing_{SITE}": "sync",
    f"syncError_{SITE}": "sync",
    f"syncErrorMessage_{SITE}": "sync",
    f"syncLastAttempt_{SITE}": "sync",
    f"modified_{SITE}": "sync",
    f"deleted_{SITE}": "sync",
    "file_mtime": "sync",
    "file_size": "sync",
    "deleted": "sync",
}


def _matrix_keys() -> set[str]:
    """Every protected key the matrix lists (per-site prefixes instantiated for one site)."""
    return (
        set(permissions.ADMIN_KEYS)
        | set(permissions.CREATION_KEYS)
        | set(permissions.LOCK_KEYS)
        | set(permissions.SYNC_KEYS)
        | {prefix + SITE for prefix in permissions.SYNC_KEY_PREFIXES}
    )


PROTECTED_KEYS = sorted(_matrix_keys() | set(INDEPENDENT_KEYS))
KEY_ROUTES = ["create", "upsert_new", "upsert", "update", "version", "publish", "comment"]


def test_matrix_lists_and_independent_list_agree():
    assert _matrix_keys() == set(INDEPENDENT_KEYS)
    for key, rule in INDEPENDENT_KEYS.items():
        assert permissions.key_class(key) == rule, key
    # Ordinary damas keys stay ordinary, including the destination filters users set.
    for key in ("comment", "size", f"sync_{SITE}", "syncEverywhere", "sync_priority", "version", "#parent"):
        assert permissions.key_class(key) == "plain", key


def _value(key: str):
    return {"lock": "someone", "deleted": True, "origin": "tokyo"}.get(key, 123456789)


def expected(route: str, who: str, key: str) -> str:
    """'403', 'ok' (written), or 'ignored' (accepted, not written: upsert keeps the stored author and time)."""
    user_class = "editor" if who == "agent" else who
    if RANK[user_class] < RANK[NEEDS[route]]:
        return "403"
    rule = INDEPENDENT_KEYS[key]
    admin = who == "admin"
    if route in ("upsert", "upsert_new") and key in ("author", "time") and not (admin and route == "upsert_new"):
        return "ignored"
    if rule == "admin":
        return "ok" if admin else "403"
    if rule == "creation":
        return "ok" if admin or route in ("create", "publish", "upsert_new") else "403"
    if rule == "lock":
        return "403"
    return "ok" if admin or who == "agent" else "403"


class ServicesCaller:
    """The agent column: an actor with the agent capability calling the services the routes call."""

    def __init__(self, actor: services.Actor):
        self.actor = actor

    def _status(self, results, ok: int):
        result = results[0] if isinstance(results, list) else results
        if isinstance(result, services.TrackerError):
            return result.status, None
        return ok, result

    def route(self, route: str, body, node_id: str | None = None):
        try:
            if route == "create":
                return self._status(services.create_nodes([body], self.actor), 201)
            if route in ("upsert", "upsert_new"):
                return self._status(services.upsert_nodes([body], self.actor), 200)
            if route == "update":
                return self._status(services.update_nodes([body], self.actor), 200)
            if route == "version":
                return 201, services.version_node(node_id, body, self.actor)
            if route == "publish":
                return self._status(services.publish_nodes([body], self.actor), 201)
            if route == "comment":
                return self._status(services.comment_nodes(body, self.actor), 201)
        except services.TrackerError as exc:
            return exc.status, None
        raise AssertionError(route)


def _call(api, route: str, body, node_id: str | None = None):
    if isinstance(api, ServicesCaller):
        return api.route(route, body, node_id)
    if route == "create":
        return api.create(body)
    if route in ("upsert", "upsert_new"):
        return api.upsert(body)
    if route == "update":
        return api.update(body)
    if route == "version":
        return api.version(node_id, body)
    if route == "publish":
        return api.publish(body)
    if route == "comment":
        return api.comment(body)
    raise AssertionError(route)


@pytest.fixture
def caller(damas):
    def make(who: str):
        if who == "agent":
            return ServicesCaller(services.Actor("agent-paris", "editor", agent=True))
        return damas(f"u-{who}", who)

    return make


@pytest.mark.parametrize("key", PROTECTED_KEYS)
@pytest.mark.parametrize("who", [*CLASSES, "agent"])
@pytest.mark.parametrize("route", KEY_ROUTES)
def test_protected_keys_table(caller, route, who, key):
    services.create_volume(SITE, url="/srv/paris")
    services.create_nodes([{"_id": "/m/f", "origin": "paris", "author": "owner", "time": 1}])
    api = caller(who)
    value = _value(key)
    target = "/m/f"
    if route in ("create", "upsert_new"):
        target, body = "/m/new", {"_id": "/m/new", key: value}
    elif route == "publish":
        target, body = "/m/pub", {"_id": "/m/pub", "origin": "paris", key: value}
    elif route == "comment":
        body = {"#parent": "/m/f", "comment": "c", key: value}
    elif route == "version":
        body = {key: value}
    else:
        body = {"_id": "/m/f", key: value}
    before = services.get_node(target)
    children = Node.objects.filter(parent="/m/f").count()
    status, _ = _call(api, route, body, "/m/f")
    outcome = expected(route, who, key)
    if outcome == "403":
        assert status == 403, (route, who, key, status)
        assert services.get_node(target) == before, "a refused write changed nothing"
        assert Node.objects.filter(parent="/m/f").count() == children
    else:
        assert status < 300, (route, who, key, status)
        stored = services.get_node(target)
        if outcome == "ignored":
            assert stored.get(key) == (before or {}).get(key, stored.get(key))
        elif route not in ("comment", "version") or key not in ("author", "time"):
            # comment and version stamp their own author and time; everything else is written as sent.
            written = Node.objects.filter(parent="/m/f").order_by("-pk").first().data if route == "comment" else stored
            assert written[key] == value, (route, who, key)


# --------------------------------------------------------------------------------------------- kinds

KIND_IDS = {
    "file": "/k/f",
    "folder": "/k/d/",
    "child": "k-child",
    "other": "k-other",
    "volume": "k-vol",
    "global": "rsyncGlobalParameters",
    "user": "@u-owner",
}
KIND_OPS = ["update", "upsert", "version", "comment", "lock", "unlock", "delete"]


@pytest.fixture
def kinds(make_user):
    services.create_nodes(
        [
            {"_id": "/k/f", "origin": "paris"},
            {"_id": "/k/d/", "origin": "paris"},
            {"_id": "k-child", "#parent": "/k/f", "comment": "c"},
            {"_id": "k-other", "label": "x"},
        ]
    )
    services.create_volume("kvol", node_id="k-vol", url="/srv/kvol")
    services.set_global_parameters({"sleepBetweenScans": 60})
    make_user("u-owner", "user")
    for kind, node_id in KIND_IDS.items():
        node = Node.objects.get(node_id=node_id)
        assert permissions.kind_of(node.node_id, node.kind) == kind
    return KIND_IDS


def expected_kind(op: str, who: str, kind: str) -> bool:
    if RANK[who] < RANK[NEEDS[op]]:
        return False
    if kind == "user":
        return False  # made from Django users; no route writes them
    if kind in ("volume", "global"):
        return who == "admin"
    return True


@pytest.mark.parametrize("kind", list(KIND_IDS))
@pytest.mark.parametrize("who", CLASSES)
@pytest.mark.parametrize("op", KIND_OPS)
def test_kinds_table(damas, kinds, op, who, kind):
    node_id = kinds[kind]
    api = damas(f"u-{who}", who)
    before = services.get_node(node_id)
    if op == "update":
        status, _ = api.update({"_id": node_id, "note": "x"})
    elif op == "upsert":
        status, _ = api.upsert({"_id": node_id, "note": "x"})
    elif op == "version":
        status, _ = api.version(node_id, {"note": "x"})
    elif op == "comment":
        status, _ = api.comment({"#parent": node_id, "comment": "x"})
    elif op == "lock":
        status, _ = api.lock(node_id)
    elif op == "unlock":
        data = {k: v for k, v in before.items() if k != "_id"}
        Node.objects.filter(node_id=node_id).update(data={**data, "lock": f"u-{who}"})
        before = services.get_node(node_id)
        status, _ = api.unlock(node_id)
    else:
        status, _ = api.delete(node_id)
    allowed = expected_kind(op, who, kind)
    assert (status < 300) == allowed, (op, who, kind, status)
    if not allowed:
        assert status == 403
        assert services.get_node(node_id) == before
        assert not Node.objects.filter(parent=node_id, data__comment="x").exists()


@pytest.mark.parametrize("who", CLASSES)
@pytest.mark.parametrize(
    "body",
    [
        {"_id": "sit/new", "name": "new", "url": "/srv/new"},
        {"_id": "sit/new", "name": "new", "rsync_args": "-z"},
        {"_id": "sit/new", "name": "new", "type": "volume"},
        {"_id": "rsyncGlobalParameters", "syncEverywhere": False},
        {"_id": "@someone"},
    ],
    ids=["volume-url", "volume-rsync-args", "volume-type", "global", "user"],
)
def test_creating_admin_kinds(damas, who, body):
    api = damas(f"u-{who}", who)
    status, _ = api.create(body)
    if body["_id"].startswith("@"):
        assert status == 403
    else:
        assert (status == 201) == (who == "admin"), (who, status)
        assert status in (201, 403)
    if status == 403:
        assert services.get_node(body["_id"]) is None
        assert services.sites() == []


@pytest.mark.parametrize("who", ["user", "editor"])
@pytest.mark.parametrize(
    ("start", "change"),
    [
        ({"_id": "named", "name": "named"}, {"url": "/srv/x"}),
        ({"_id": "named", "name": "named"}, {"rsync_args": "-z"}),
        ({"_id": "named", "name": "named"}, {"type": "volume"}),
        ({"_id": "addr", "url": "/srv/x"}, {"name": "addr"}),
    ],
    ids=["url", "rsync_args", "type", "name"],
)
def test_a_write_cannot_turn_a_node_into_a_volume(damas, who, start, change):
    services.create_nodes([start])
    api = damas(f"u-{who}", who)
    routes = [("version", lambda: api.version(start["_id"], change))]
    if who == "editor":
        routes += [
            ("update", lambda: api.update({"_id": start["_id"], **change})),
            ("upsert", lambda: api.upsert({"_id": start["_id"], **change})),
        ]
    for name, call in routes:
        status, body = call()
        assert status == 403, (name, status, body)
        assert "volume" in body["detail"]
    assert services.sites() == []
    node = Node.objects.get(node_id=start["_id"])
    assert node.kind == "other" and not set(change) & set(node.data)


def test_a_volume_cannot_be_demoted_by_a_non_admin(damas):
    services.create_volume("v1", url="/srv/v1")
    editor = damas("ed", "editor")
    assert editor.update({"_id": "v1", "#parent": "/x"})[0] == 403
    assert editor.update({"_id": "v1", "name": None, "url": None})[0] == 403
    assert services.sites() == ["v1"]


# --------------------------------------------------------------------------------------------- locks


def test_a_lock_is_removed_only_by_its_holder_or_an_admin(damas):
    services.create_nodes([{"_id": "/l/f", "origin": "paris"}])
    alice = damas("alice", "editor")
    bob = damas("bob", "editor")
    assert alice.lock("/l/f") == (200, True)
    assert bob.lock("/l/f")[0] == 409
    assert bob.unlock("/l/f") == (409, False)
    assert bob.update({"_id": "/l/f", "lock": None})[0] == 403
    assert bob.upsert({"_id": "/l/f", "lock": None})[0] == 403
    assert bob.version("/l/f", {"lock": None})[0] == 403
    assert bob.version("/l/f", {"lock": "bob"})[0] == 403
    assert bob.delete("/l/f")[0] == 403
    assert services.get_node("/l/f")["lock"] == "alice"
    # Even the holder changes a lock only through lock/ and unlock/.
    assert alice.update({"_id": "/l/f", "lock": None})[0] == 403
    # A node read back and sent again with its lock unchanged is no lock change.
    assert alice.update({"_id": "/l/f", "lock": "alice", "k": 1})[0] == 200
    admin = damas("boss", "admin")
    assert admin.unlock("/l/f") == (200, True)
    assert "lock" not in services.get_node("/l/f")
    assert alice.lock("/l/f") == (200, True)
    assert alice.unlock("/l/f") == (200, True)


def test_force_lock_and_unlock_need_an_admin():
    services.create_nodes([{"_id": "/fl/f"}])
    with pytest.raises(services.Forbidden):
        services.force_lock(["/fl/f"], "eve", services.Actor("eve", "editor"))
    with pytest.raises(services.Forbidden):
        services.force_unlock(["/fl/f"], services.Actor("eve", "editor"))
    assert services.force_lock(["/fl/f"], "boss", services.Actor("boss", "admin")) == 1
    assert services.force_unlock(["/fl/f"], services.Actor("boss", "admin")) == 1


# --------------------------------------------------------------------------------------------- the issue's cases


def test_the_reported_escalations_are_refused(damas):
    services.create_volume("vol", url="/srv/vol", rsync_args="-z")
    services.create_nodes([{"_id": "/esc/f", "origin": "paris", "author": "alice"}])
    alice = damas("alice", "user")
    services.lock_nodes(["/esc/f"], services.Actor("alice", "user"))
    mallory = damas("mallory", "user")
    assert mallory.version("vol", {"rsync_args": "-e 'sh -c id'"})[0] == 403
    assert mallory.version("/esc/f", {"lock": None})[0] == 403
    assert mallory.version("/esc/f", {"deleted": True})[0] == 403
    assert mallory.version("/esc/f", {"origin": "elsewhere"})[0] == 403
    assert mallory.create({"_id": "evil", "name": "evil", "url": "/tmp"})[0] == 403
    node = services.get_node("/esc/f")
    assert node["lock"] == "alice" and "deleted" not in node and node["origin"] == "paris"
    assert services.get_volume("vol")["rsync_args"] == "-z"
    assert alice.version("/esc/f", {"comment": "mine"})[0] == 201


def test_agent_capability_writes_sync_keys_only():
    services.create_nodes([{"_id": "/ag/f", "origin": "paris"}])
    agent = services.Actor("agent", "editor", agent=True)
    plain = services.Actor("plain", "editor")
    assert isinstance(services.update_nodes([{"_id": "/ag/f", "synced_tokyo": 5}], plain)[0], services.Forbidden)
    assert services.update_nodes([{"_id": "/ag/f", "synced_tokyo": 5}], agent)[0]["synced_tokyo"] == 5
    for key in ("author", "class", "lock"):
        assert isinstance(services.update_nodes([{"_id": "/ag/f", key: "x"}], agent)[0], services.Forbidden)
    services.create_volume("tokyo", url="/srv/tokyo")
    refused = services.update_nodes([{"_id": "tokyo", "agentStatus": "on"}], agent)[0]
    assert isinstance(refused, services.Forbidden)  # volumes are the admin's; agents write them in-process


def test_in_process_callers_keep_full_rights():
    services.create_nodes([{"_id": "/sys/f", "origin": "paris", "synced_x": 1, "author": "support", "deleted": True}])
    services.update_nodes([{"_id": "/sys/f", "lock": "x", "origin": "y", "time": 3}])
    node = services.get_node("/sys/f")
    assert (node["lock"], node["origin"], node["time"], node["synced_x"]) == ("x", "y", 3, 1)


def test_agent_capability_comes_from_the_token_over_http(client, make_user):
    """The agent capability lives on the API token: the same editor writes sync keys only with an agent token."""
    from syncsite.tokens import issue_token
    from tests.tracker.conftest import DamasClient

    editor = make_user("site-agent", "editor")
    services.create_nodes([{"_id": "/ag/http", "origin": "paris"}])
    plain = DamasClient(client, issue_token(editor, label="script")[1])
    agent = DamasClient(client, issue_token(editor, label="agent", agent=True)[1])
    status, _ = plain.call("PUT", "update/", [{"_id": "/ag/http", "synced_tokyo": 5}])
    assert status == 403
    status, body = agent.call("PUT", "update/", [{"_id": "/ag/http", "synced_tokyo": 5}])
    assert status == 200, body
    assert services.get_node("/ag/http")["synced_tokyo"] == 5
    status, _ = agent.call("PUT", "update/", [{"_id": "/ag/http", "author": "someone-else"}])
    assert status == 403
