"""Admin pages: node browser (prefix/key search, per-site status, lock actions, child nodes) and typed forms."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from tests.tracker.conftest import volume_form
from tracker import services
from tracker.models import GlobalParameters, Node, TrackerProfile, Volume

pytestmark = pytest.mark.django_db


@pytest.fixture
def files(three_sites):
    services.publish_many(
        [{"_id": f"/adm/shots/s{i:02d}.exr", "origin": "paris", "comment": f"c{i}", "size": i} for i in range(30)],
        author="alice",
    )
    node = services.get_node("/adm/shots/s01.exr")
    services.mark_synced("/adm/shots/s01.exr", "tokyo", node["time"])
    services.mark_error("/adm/shots/s02.exr", "tokyo", 23)
    services.pending_for_site("lima", 1)
    return node


def test_changelist_shows_status_per_site_without_n_plus_one(admin_client, files, django_assert_max_num_queries):
    url = reverse("admin:tracker_node_changelist")
    with django_assert_max_num_queries(12):
        response = admin_client.get(url, {"kind__exact": "file"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "tokyo:&nbsp;synced" in html and "tokyo:&nbsp;error" in html
    assert "lima:&nbsp;syncing" in html and "paris:&nbsp;origin" in html and "lima:&nbsp;missing" in html


def test_changelist_search_by_prefix_and_keys(admin_client, files):
    url = reverse("admin:tracker_node_changelist")
    response = admin_client.get(url, {"q": "/adm/shots/s1"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 10
    response = admin_client.get(url, {"q": "origin:paris size>=28"})
    assert {n.node_id for n in response.context["cl"].result_list} == {"/adm/shots/s28.exr", "/adm/shots/s29.exr"}
    response = admin_client.get(url, {"q": "size:/[/"})
    assert response.status_code == 200 and response.context["cl"].result_count == 0


def test_change_page_lists_children_and_site_states(admin_client, files):
    node = Node.objects.get(node_id="/adm/shots/s01.exr")
    response = admin_client.get(reverse("admin:tracker_node_change", args=[node.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "child nodes" in html.lower() and "c1" in html
    assert "synced" in html


def test_lock_and_unlock_actions(admin_client, files):
    url = reverse("admin:tracker_node_changelist")
    pks = list(Node.objects.filter(node_id__startswith="/adm/shots/s0").values_list("pk", flat=True)[:3])
    admin_client.post(url, {"action": "lock_nodes", "_selected_action": pks})
    assert Node.objects.filter(pk__in=pks, data__lock="admin").count() == 3
    admin_client.post(url, {"action": "unlock_nodes", "_selected_action": pks})
    assert not Node.objects.filter(pk__in=pks, data__has_key="lock").exists()


def test_node_add_and_edit_through_services(admin_client, three_sites):
    add = reverse("admin:tracker_node_add")
    response = admin_client.post(add, {"node_id": "/adm/new", "keys": '{"origin": "paris", "a": 1}'})
    assert response.status_code == 302, response.content
    node = Node.objects.get(node_id="/adm/new")
    assert node.data["author"] == "admin" and node.site_states.count() == 2
    response = admin_client.post(add, {"node_id": "/bad//id", "keys": "{}"})
    assert response.status_code == 200 and "must not contain" in response.content.decode()
    response = admin_client.post(add, {"node_id": "/adm/x", "keys": "[1]"})
    assert response.status_code == 200
    for keys in ('{"a": 18446744073709551616}', '{"a": NaN}', '{"a": "\\ud800"}', '{"a": "\\u0000"}', "[" * 3000):
        response = admin_client.post(add, {"node_id": "/adm/x", "keys": keys})
        assert response.status_code == 200 and "Not valid node JSON" in response.content.decode(), keys
    assert not Node.objects.filter(node_id="/adm/x").exists()
    change = reverse("admin:tracker_node_change", args=[node.pk])
    response = admin_client.post(change, {"keys": '{"origin": "paris", "b": 2}'})
    assert response.status_code == 302
    data = services.get_node("/adm/new")
    assert "a" not in data and data["b"] == 2 and data["author"] == "admin"


def test_volume_form_validates_and_creates_a_site(admin_client):
    add = reverse("admin:tracker_volume_add")
    base = volume_form()
    for bad in (
        {"url": "ftp://x"},
        {"rsync_args": "--bwlimit=1; rm -rf /"},
        {"rsync_args": "-e ssh"},
        {"syncAmountReception": "0"},
        {"notifiedEmails": "nope"},
        {"name": "bad name"},
    ):
        response = admin_client.post(add, {**base, **bad})
        assert response.status_code == 200, bad
        assert not Volume.objects.exists()
    response = admin_client.post(add, base)
    assert response.status_code == 302, response.content
    volume = services.get_volume("oslo")
    assert volume["syncAmountReception"] == 25 and volume["enableDiscovery"] is False
    assert volume["notifiedEmails"] == "a@example.com,b@example.com"
    assert services.sites() == ["oslo"]
    assert admin_client.post(add, base).status_code == 200  # the name is taken
    pk = Volume.objects.get().pk
    changelist = admin_client.get(reverse("admin:tracker_volume_changelist"))
    assert changelist.status_code == 200 and "oslo" in changelist.content.decode()
    response = admin_client.post(reverse("admin:tracker_volume_change", args=[pk]), {**base, "syncAmountReception": 5})
    assert response.status_code == 302
    assert services.get_volume("oslo")["syncAmountReception"] == 5


def test_global_parameters_form(admin_client):
    add = reverse("admin:tracker_globalparameters_add")
    response = admin_client.post(add, {"sleepBetweenScans": "30", "rsaPublicKey": "not a key"})
    assert response.status_code == 200 and not GlobalParameters.objects.exists()
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests sync@studio"
    response = admin_client.post(add, {"sleepBetweenScans": "30", "rsaPublicKey": key, "enableScans": "on"})
    assert response.status_code == 302, response.content
    params = services.global_parameters()
    assert params["syncEverywhere"] is False and params["sleepBetweenScans"] == 30 and params["rsaPublicKey"] == key
    assert admin_client.get(add).status_code == 403  # there is only one


def test_user_class_in_admin_updates_user_node(admin_client, django_user_model):
    user = django_user_model.objects.create_user("dora", password="x")
    response = admin_client.post(reverse("admin:tracker_trackerprofile_add"), {"user": user.pk, "user_class": "editor"})
    assert response.status_code == 302, response.content
    assert TrackerProfile.objects.get(user=user).user_class == "editor"
    assert services.get_node("@dora")["class"] == "editor"


# --------------------------------------------------------------------------------------------- the matrix in the admin


@pytest.fixture
def editor_client(client, django_user_model):
    """A staff user with every tracker model permission whose tracker class is only `editor`."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("staffed", "staffed@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="tracker"))
    services.set_user_class(user, "editor")
    client.force_login(user)
    return client


def test_staff_editor_edits_files_but_not_volumes(editor_client, three_sites):
    services.create_nodes([{"_id": "/ed/f", "origin": "paris", "rsync_env": "RSYNC_PASSWORD=x"}])
    node = Node.objects.get(node_id="/ed/f")
    change = reverse("admin:tracker_node_change", args=[node.pk])
    page = editor_client.get(change).content.decode()
    assert "RSYNC_PASSWORD" not in page  # rsync_env is for admins and agents only
    response = editor_client.post(change, {"keys": '{"origin": "paris", "note": 1}'})
    assert response.status_code == 302
    data = services.get_node("/ed/f")
    assert data["note"] == 1 and data["rsync_env"] == "RSYNC_PASSWORD=x"  # a hidden key is kept, not removed
    response = editor_client.post(change, {"keys": '{"origin": "paris", "synced_tokyo": 5}'})
    assert response.status_code == 200 and "sync keys" in response.content.decode()
    assert "synced_tokyo" not in services.get_node("/ed/f")
    volume = Node.objects.get(node_id="tokyo")
    response = editor_client.post(reverse("admin:tracker_node_change", args=[volume.pk]), {"keys": "{}"})
    assert response.status_code == 403 and services.get_volume("tokyo")["url"]
    assert editor_client.get(reverse("admin:tracker_volume_add")).status_code == 403
    add = reverse("admin:tracker_node_add")
    response = editor_client.post(add, {"node_id": "sit/evil", "keys": '{"name": "evil", "url": "/tmp"}'})
    assert response.status_code == 200 and "needs the admin class" in response.content.decode()
    assert services.get_node("sit/evil") is None


def test_staff_editor_cannot_force_locks(editor_client, three_sites):
    services.create_nodes([{"_id": "/ed/l"}])
    services.lock_nodes(["/ed/l"], services.Actor("alice", "user"))
    node = Node.objects.get(node_id="/ed/l")
    url = reverse("admin:tracker_node_changelist")
    editor_client.post(url, {"action": "unlock_nodes", "_selected_action": [node.pk]})
    editor_client.post(url, {"action": "lock_nodes", "_selected_action": [node.pk]})
    assert services.get_node("/ed/l")["lock"] == "alice"


def test_admin_node_form_applies_the_rsync_policy(admin_client, three_sites):
    volume = Node.objects.get(node_id="tokyo")
    change = reverse("admin:tracker_node_change", args=[volume.pk])
    keys = {**volume.data, "rsync_args": "-e 'sh -c id'"}
    response = admin_client.post(change, {"keys": json.dumps(keys)})
    assert response.status_code == 200 and "rsync_args" in response.content.decode()
    assert "rsync_args" not in services.get_volume("tokyo")
