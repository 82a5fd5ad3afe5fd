"""An attacker with the lowest account reads everything a plain token can read: no secret appears anywhere.

Seeded as an operator would: account addresses with `user:password@` and `?token=`, custom fields named
`pwd`, `bearer`, `auth_header`, `api_token` and `apikey` (declared secret by a plugin, by the admin's checkbox,
and by the upgrade migration), a Syncthing instance with credentials in its URL, run logs and cronjob runs
quoting them. Then every GET route of the REST API, the /syncthing/ page and the /sync/hosts stream are read
and their bytes searched.
"""

from __future__ import annotations

import base64
import re
from importlib import import_module

import pytest
from django.test import Client as PageClient
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from hosts.accountfields import AccountField, declare_account_fields
from hosts.models import Account, AccountCustomField, CronjobRun, Host
from hosts.services import write_log
from syncthing_bridge.models import SyncthingDevice, SyncthingFolder, SyncthingInstance

pytestmark = pytest.mark.django_db

SECRETS = {
    "address password": "pa55word",
    "address token": "T0KEN",
    "pwd": "pwd-value-1",
    "bearer": "bearer-value-2",
    "auth_header": "auth-header-value-3",
    "api_token": "api-token-value-4",
    "apikey": "apikey-value-5",
    "account password": "account-password-6",
    "syncthing key": "st-api-key-7",
    "syncthing url password": "stpa55",
}
ACCOUNT_TYPE = "leaktest-cmdb"
declare_account_fields(
    ACCOUNT_TYPE, AccountField("pwd", secret=True), AccountField("bearer", secret=True), AccountField("site")
)


def seed() -> None:
    address = "https://user:pa55word@cmdb.example.com/api/hosts?token=T0KEN&page=1"
    account = Account.objects.create(
        name="cmdb", type=ACCOUNT_TYPE, address=address, password=SECRETS["account password"]
    )
    account.custom_fields.create(name="pwd", value=SECRETS["pwd"])  # declared secret by the plugin
    account.custom_fields.create(name="bearer", value=SECRETS["bearer"])  # declared secret by the plugin
    account.custom_fields.create(name="auth_header", value=SECRETS["auth_header"], secret=True)  # admin checkbox
    account.custom_fields.create(name="api_token", value=SECRETS["api_token"], secret=True)
    account.custom_fields.create(name="site", value="dc1")
    other = Account.objects.create(name="file", type="csv", address="user:pa55word@backup:/srv/hosts.csv")
    other.custom_fields.create(name="apikey", value=SECRETS["apikey"], secret=True)

    host = Host.get_host("web1.example.com")
    host.update_host({"role": "web"})
    host.account = account
    host.save()

    write_log(
        "cmdb import",
        "http_import",
        [("source", address), ("error", f"GET {address} answered 401 for {SECRETS['bearer']}")],
        secrets=[SECRETS["bearer"]],
    )
    CronjobRun.objects.create(job="hosts: import-http", account="cmdb", status=CronjobRun.FAILED, log=address)

    instance = SyncthingInstance.objects.create(
        name="nas",
        url="https://admin:stpa55@nas.example.com:8384/?apikey=st-api-key-7",
        api_key=SECRETS["syncthing key"],
        last_error="GET https://admin:stpa55@nas.example.com:8384/rest/system/version timed out",
    )
    SyncthingDevice.objects.create(instance=instance, device_id="ABC", name="peer", address="tcp://10.0.0.2:22000")
    SyncthingFolder.objects.create(instance=instance, folder_id="shared", label="Shared", state="idle")


def readable_get_routes() -> list[str]:
    """Every route under /api/v1/ (but schedules), its path parameters as `{name}` placeholders."""
    routes: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            text = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, text)
            elif isinstance(pattern, URLPattern):
                routes.append(text)

    walk(get_resolver().url_patterns, "/")
    urls = set()
    for route in routes:
        if not route.startswith("/api/v1/") or route.startswith("/api/v1/schedules"):
            continue  # schedules hold no account data
        if "\\.(?P<format>" in route or "<drf_format_suffix" in route:
            continue
        url = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: f"{{{m.group(1)}}}", route)
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: f"{{{m.group(1)}}}", url)
        url = url.replace("\\.", ".").replace("/?", "/").replace("\\", "")
        urls.add(url)
    return sorted(urls)


def fill(url: str, ids: dict[str, list]) -> list[str]:
    if "{" not in url:
        return [url]
    names = re.findall(r"{(\w+)}", url)
    values = {"hostname": ["web1.example.com"], "name": ["cmdb", "file"], "kind": ["custom_attributes"]}
    if "syncthing/instances" in url:
        values["pk"] = ids["instance"]
    elif "syncthing/devices" in url:
        values["pk"] = ids["device"]
    elif "syncthing/folders" in url:
        values["pk"] = ids["folder"]
    elif "/logs/" in url:
        values["pk"] = ids["log"]
    elif "/cronjob-runs/" in url:
        values["pk"] = ids["run"]
    else:
        values["pk"] = [1]
    out = [url]
    for name in names:
        out = [u.replace(f"{{{name}}}", str(v), 1) for u in out for v in values.get(name, ["1"])]
    return out


def assert_clean(where: str, body: bytes) -> None:
    text = body.decode("utf-8", "replace")
    for label, secret in SECRETS.items():
        assert secret not in text, f"{where} shows the {label} ({secret})"
    assert "nas.example.com" not in text, f"{where} shows the Syncthing instance URL to a non-staff reader"
    assert "10.0.0.2" not in text, f"{where} shows a Syncthing peer's address to a non-staff reader"


@pytest.fixture
def seeded():
    seed()
    from hosts.models import LogEntry

    return {
        "instance": list(SyncthingInstance.objects.values_list("pk", flat=True)),
        "device": list(SyncthingDevice.objects.values_list("pk", flat=True)),
        "folder": list(SyncthingFolder.objects.values_list("pk", flat=True)),
        "log": list(LogEntry.objects.values_list("pk", flat=True)),
        "run": list(CronjobRun.objects.values_list("pk", flat=True)),
    }


def test_a_plain_token_reads_no_secret_anywhere(seeded, make_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token('guest')}")
    routes = readable_get_routes()
    assert "/api/v1/accounts/{name}/" in routes and "/api/v1/syncthing/instances/{pk}/" in routes
    read = 0
    for route in routes:
        for url in fill(route, seeded):
            response = client.get(url)
            assert response.status_code < 500, (url, response.status_code)
            body = response.content if not response.streaming else b"".join(response.streaming_content)
            assert_clean(url, body)
            read += response.status_code == 200
    assert read >= 15

    accounts = client.get("/api/v1/accounts/cmdb/").json()
    fields = {item["name"]: item for item in accounts["custom_fields"]}
    assert {name for name, item in fields.items() if item["secret"]} == {"pwd", "bearer", "auth_header", "api_token"}
    assert all(item["is_set"] and item["value"] is None for item in fields.values() if item["secret"])
    assert fields["site"]["value"] == "dc1"
    assert accounts["address"] == "https://cmdb.example.com/api/hosts?token=********&page=1"
    instance = client.get(f"/api/v1/syncthing/instances/{seeded['instance'][0]}/").json()
    assert instance["url"] is None and "<address hidden>" in instance["last_error"]


def test_staff_see_instance_urls_without_credentials(seeded, token_client):
    instance = token_client.get(f"/api/v1/syncthing/instances/{seeded['instance'][0]}/").json()
    assert instance["url"] == "https://nas.example.com:8384/?apikey=********"
    assert "stpa55" not in instance["last_error"] and "nas.example.com" in instance["last_error"]
    assert "api_key" not in instance
    devices = token_client.get("/api/v1/syncthing/devices/").json()["results"]
    assert devices[0]["address"] == "tcp://10.0.0.2:22000"
    accounts = token_client.get("/api/v1/accounts/").content.decode()
    for secret in SECRETS.values():
        assert secret not in accounts


def test_the_syncthing_page_shows_no_url_to_non_staff(seeded, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="viewer-pass-1234")
    page = PageClient()
    page.force_login(user)
    response = page.get("/syncthing/")
    assert response.status_code == 200
    assert_clean("/syncthing/", response.content)


@pytest.fixture
def serving_in_process():
    """Serving a route starts recording changes of its models for the process; stop that afterwards, so the
    query counts of later tests stay what they are in a process that serves nothing."""
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from synctools import tracking

    before = set(tracking._tracked)
    yield
    for model in tracking._tracked - before:
        uid = f"synctools:{model._meta.label_lower}"
        post_save.disconnect(sender=model, dispatch_uid=uid)
        post_delete.disconnect(sender=model, dispatch_uid=uid)
        for field in model._meta.many_to_many:
            m2m_changed.disconnect(sender=field.remote_field.through, dispatch_uid=f"{uid}:{field.name}")
    tracking._tracked.intersection_update(before)


def test_the_sync_stream_sends_no_secret(seeded, settings, serving_in_process):
    settings.SYNCTOOL_API_TOKEN = "sync-token-for-the-leak-test"
    route = import_module("syncsite.sync_routes").route
    view = next(p for p in route.urlpatterns if p.name == "synctools-app-hosts").callback
    auth = base64.b64encode(b"sync-token-for-the-leak-test:").decode()
    response = view(RequestFactory().get("/sync/hosts", HTTP_AUTHORIZATION=f"Basic {auth}"))
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b"hosts.accountcustomfield" in body and b"web1.example.com" in body
    for label, secret in SECRETS.items():
        assert secret.encode() not in body, f"/sync/hosts sends the {label}"
    assert AccountCustomField.objects.filter(secret=True).count() == 5


@pytest.mark.parametrize(
    ("url", "probe"),
    [
        ("/api/v1/accounts/", "search=pa55word"),
        ("/api/v1/accounts/", "search=T0KEN"),
        ("/api/v1/syncthing/instances/", "search=stpa55"),
        ("/api/v1/syncthing/instances/", "search=nas.example"),
    ],
)
def test_search_is_no_oracle_for_credentials(seeded, make_token, url, probe):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token('guest')}")
    response = client.get(f"{url}?{probe}")
    assert response.status_code == 200 and response.json()["count"] == 0


def test_ordering_by_a_hidden_field_is_ignored(seeded, make_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token('guest')}")
    by_name = client.get("/api/v1/accounts/?ordering=name").json()["results"]
    assert client.get("/api/v1/accounts/?ordering=-address").json()["results"] == by_name
    instances = client.get("/api/v1/syncthing/instances/?ordering=-url")
    assert instances.status_code == 200
