"""A Syncthing instance's timeout and API key are validated on every write path; a bad stored row never gives 500."""

from __future__ import annotations

import json
import threading

import pytest
from django.core.exceptions import ValidationError

from syncthing_bridge import services
from syncthing_bridge.models import SyncthingInstance

pytestmark = pytest.mark.django_db

BASE = "/api/v1/syncthing"
GOOD = {"name": "nas", "url": "http://127.0.0.1:9", "api_key": "Abc-123_xyz"}
BAD_TIMEOUTS = ["0", "-1", "300.5", "1e309", '"nan"', '"inf"', '"ten"', "NaN", "-0.0"]
BAD_KEYS = ["ключ", "has space", "tab\there", "nul\x00", "bell\x07", "nbsp\xa0", "del\x7f", "x" * 201]


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS)
def test_api_refuses_a_bad_timeout(token_client, timeout):
    body = json.dumps(GOOD)[:-1] + f', "timeout": {timeout}}}'
    response = token_client.post(f"{BASE}/instances/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert not SyncthingInstance.objects.exists()


@pytest.mark.parametrize("key", BAD_KEYS)
def test_api_refuses_a_bad_key(token_client, key):
    response = token_client.post(f"{BASE}/instances/", {**GOOD, "api_key": key}, format="json")
    assert response.status_code == 400, response.content
    assert "api_key" in response.json()["errors"]
    assert not SyncthingInstance.objects.exists()


def test_api_accepts_the_bounds_and_latin1(token_client):
    created = token_client.post(f"{BASE}/instances/", {**GOOD, "timeout": 300, "api_key": "clé-Ø"}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    patched = token_client.patch(f"{BASE}/instances/{pk}/", {"timeout": 0}, format="json")
    assert patched.status_code == 400
    assert SyncthingInstance.objects.get(pk=pk).timeout == 300


def test_services_validate_too():
    with pytest.raises(ValidationError, match="timeout"):
        services.create_instance(**GOOD, timeout=0)
    instance = services.create_instance(**GOOD)
    with pytest.raises(ValidationError, match="api_key"):
        services.update_instance(instance, api_key="bad key")


def test_admin_form_refuses_bad_values(admin_client):
    form = {**GOOD, "timeout": "-5", "enabled": "on", "site": "", "ca_certificate": ""}
    for prefix in ("mappings", "devices", "folders"):
        form.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    response = admin_client.post("/admin/syncthing_bridge/syncthinginstance/add/", form)
    assert response.status_code == 200 and "more than 0" in response.content.decode()
    form.update(timeout="10", api_key="ключ")
    response = admin_client.post("/admin/syncthing_bridge/syncthinginstance/add/", form)
    assert response.status_code == 200 and "Latin-1" in response.content.decode()
    assert not SyncthingInstance.objects.exists()


def test_admin_form_site_names_a_volume_or_is_declared_syncthing_only(admin_client):
    from tracker import services as tracker

    form = {**GOOD, "timeout": "10", "enabled": "on", "site": "nowhere", "ca_certificate": ""}
    for prefix in ("mappings", "devices", "folders"):
        form.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    response = admin_client.post("/admin/syncthing_bridge/syncthinginstance/add/", form)
    assert response.status_code == 200 and "no tracker volume named" in response.content.decode()
    tracker.create_volume("paris", url="/tmp/paris")
    assert (
        admin_client.post("/admin/syncthing_bridge/syncthinginstance/add/", {**form, "site": "paris"}).status_code
        == 302
    )
    form.update(name="other", site="nowhere", syncthing_only="on")
    assert admin_client.post("/admin/syncthing_bridge/syncthinginstance/add/", form).status_code == 302
    assert SyncthingInstance.objects.get(name="other").syncthing_only


def test_api_and_services_apply_the_same_site_rule(token_client):
    """The rule is the services' own, so the API (and any other caller) cannot bypass the admin's check."""
    from tracker import services as tracker

    refused = token_client.post(f"{BASE}/instances/", {**GOOD, "site": "nowhere"}, format="json")
    assert refused.status_code == 400 and "no tracker volume named" in json.dumps(refused.json())
    assert not SyncthingInstance.objects.exists()
    with pytest.raises(ValidationError):
        services.create_instance(**GOOD, site="nowhere")
    created = token_client.post(
        f"{BASE}/instances/", {**GOOD, "site": "nowhere", "syncthing_only": True}, format="json"
    )
    assert created.status_code == 201 and created.json()["syncthing_only"] is True
    tracker.create_volume("paris", url="/tmp/paris")
    pk = created.json()["id"]
    moved = token_client.patch(f"{BASE}/instances/{pk}/", {"site": "lyon", "syncthing_only": False}, format="json")
    assert moved.status_code == 400 and SyncthingInstance.objects.get(pk=pk).site == "nowhere"
    moved = token_client.patch(f"{BASE}/instances/{pk}/", {"site": "paris", "syncthing_only": False}, format="json")
    assert moved.status_code == 200 and moved.json()["site"] == "paris"


class StopAfterFirstWait(threading.Event):
    """A stop event that is set by the listener's first backoff wait."""

    def wait(self, timeout: float | None = None) -> bool:
        self.set()
        return True


@pytest.fixture
def bad_row():
    """A row stored before validation existed: a zero timeout and a key no HTTP header can carry."""
    instance = services.create_instance(**GOOD)
    SyncthingInstance.objects.filter(pk=instance.pk).update(timeout=0)
    instance = SyncthingInstance.objects.get(pk=instance.pk)
    instance.api_key = "ключ"
    instance.save(update_fields=["api_key"])
    return SyncthingInstance.objects.get(pk=instance.pk)


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("test", {}),
        ("refresh", {}),
        ("rescan", {"folder": "f"}),
        ("pause", {"device": "D"}),
        ("resume", {"device": "D"}),
    ],
)
def test_actions_on_a_bad_row_answer_409(token_client, bad_row, action, body):
    response = token_client.post(f"{BASE}/instances/{bad_row.pk}/{action}/", body, format="json")
    assert response.status_code == 409, response.content
    detail = response.json()["detail"]
    assert "misconfigured" in detail and "timeout" in detail and "api_key" in detail


def test_reading_a_bad_row_still_works(token_client, bad_row):
    assert token_client.get(f"{BASE}/instances/").status_code == 200
    assert token_client.get(f"{BASE}/instances/{bad_row.pk}/").status_code == 200


def test_background_paths_report_a_bad_row(bad_row, admin_client):
    assert services.refresh_instance(bad_row) is False
    assert "misconfigured" in SyncthingInstance.objects.get(pk=bad_row.pk).last_error
    assert services.refresh_all()["failed"] == ["nas"]

    response = admin_client.post(
        "/admin/syncthing_bridge/syncthinginstance/",
        {"action": "test_connection", "_selected_action": [str(bad_row.pk)], "argument": ""},
        follow=True,
    )
    assert response.status_code == 200 and "misconfigured" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_listener_reports_a_bad_row(bad_row):
    listener = services.InstanceListener(bad_row, StopAfterFirstWait(), poll_timeout=1)
    thread = threading.Thread(target=listener.run)  # one turn of its loop: the error, then the backoff ends it
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    assert "misconfigured" in SyncthingInstance.objects.get(pk=bad_row.pk).listener_error


def test_an_unreadable_api_key_is_a_state_to_fix_not_a_500(token_client, admin_client, settings):
    """A key stored under an encryption key this site no longer has: every listing works and says "re-enter it";
    the actions answer 409; saving other fields keeps the stored text; re-entering the key fixes it."""
    settings.FIELD_ENCRYPTION_KEY = "the key this site had before"
    lost = services.create_instance(**GOOD)
    settings.FIELD_ENCRYPTION_KEY = "the key this site has now"
    fine = services.create_instance(name="fine", url="http://127.0.0.1:9", api_key="still-readable")

    listed = token_client.get(f"{BASE}/instances/")
    assert listed.status_code == 200, listed.content
    assert {i["name"]: i["api_key_readable"] for i in listed.json()["results"]} == {"nas": False, "fine": True}
    assert token_client.get(f"{BASE}/instances/{lost.pk}/").json()["api_key_readable"] is False
    changelist = admin_client.get("/admin/syncthing_bridge/syncthinginstance/")
    assert changelist.status_code == 200 and "unreadable, re-enter it" in changelist.content.decode()
    assert admin_client.get(f"/admin/syncthing_bridge/syncthinginstance/{lost.pk}/change/").status_code == 200
    page = admin_client.get("/syncthing/")
    assert page.status_code == 200 and "data-key-unreadable" in page.content.decode()

    tested = token_client.post(f"{BASE}/instances/{lost.pk}/test/")
    assert tested.status_code == 409 and "re-enter it" in tested.json()["detail"]
    assert services.refresh_all()["failed"] == ["fine", "nas"]  # fine's daemon is down; nas is not even asked
    assert "key unreadable" in SyncthingInstance.objects.get(pk=lost.pk).last_error

    # the admin form asks for the key; another field saved through the API keeps the stored text as it was
    form = {"name": "nas", "url": GOOD["url"], "api_key": "", "site": "", "enabled": "on", "timeout": "10"}
    answer = admin_client.post(f"/admin/syncthing_bridge/syncthinginstance/{lost.pk}/change/", form)
    assert "The stored key is unreadable: re-enter it." in answer.content.decode()
    assert (
        token_client.patch(
            f"{BASE}/instances/{lost.pk}/", {"site": "s", "syncthing_only": True}, format="json"
        ).status_code
        == 200
    )
    settings.FIELD_ENCRYPTION_OLD_KEYS = ["the key this site had before"]
    assert SyncthingInstance.objects.get(pk=lost.pk).api_key == GOOD["api_key"]
    settings.FIELD_ENCRYPTION_OLD_KEYS = []

    fixed = token_client.patch(f"{BASE}/instances/{lost.pk}/", {"api_key": "re-entered"}, format="json")
    assert fixed.status_code == 200 and fixed.json()["api_key_readable"] is True
    assert SyncthingInstance.objects.get(pk=lost.pk).api_key == "re-entered"
    assert fine.pk
