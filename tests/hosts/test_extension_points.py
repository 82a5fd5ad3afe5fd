"""Extension points of syncerapi.v1: REST registry, require_token, inventory runs, cli, discovery, app_config."""

from __future__ import annotations

import io
import sys
import textwrap

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import JsonResponse
from rest_framework import serializers, viewsets
from rest_framework.decorators import api_view
from rest_framework.response import Response
from rest_framework.views import APIView

import syncerapi.v1
import syncerapi.v1.core
import syncerapi.v1.exporting
import syncerapi.v1.inventory
import syncerapi.v1.rest
from syncerapi.v1 import Host
from syncerapi.v1.core import app, app_config, cli
from syncerapi.v1.inventory import run_inventory
from syncerapi.v1.rest import API, require_token

SPEC_NAMES = {
    # the spec's names, plus the account field declarations and redact_url that issue 12 adds,
    # and cmdbsyncer's get_import_hosts/update_import_host and inventorize_host (issue 14)
    syncerapi.v1: {
        "get_import_hosts",
        "update_import_host",
        "Host",
        "get_account",
        "register_cronjob",
        "cc",
        "render_jinja",
        "AccountField",
        "declare_account_fields",
        "redact_url",
    },
    syncerapi.v1.core: {"logger", "app", "app_config", "cli", "Plugin"},
    syncerapi.v1.inventory: {"run_inventory", "inventorize_host"},
    syncerapi.v1.rest: {"API", "require_token"},
    # the shared export base (issue 16: read once, diff, bulk, stale limit, dry run, log)
    syncerapi.v1.exporting: {
        "Change",
        "ExportError",
        "ExportPlan",
        "ExportResult",
        "chunked",
        "delete_policy",
        "plan_changes",
    },
}


@pytest.mark.parametrize("module", list(SPEC_NAMES), ids=lambda m: m.__name__)
def test_every_documented_name_is_exported(module):
    assert set(module.__all__) == SPEC_NAMES[module]
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_host_api_methods_exist():
    for name in [
        "get_host",
        "get_export_hosts",
        "rewrite_hostname",
        "update_host",
        "replace_label",
        "get_labels",
        "update_inventory",
        "set_inventory_attribute",
        "get_inventory",
        "set_account",
        "add_log",
        "save",
        "set_labels",
    ]:
        assert callable(getattr(Host, name)), name
    plugin_members = ["inner_request", "get_attributes", "init_custom_attributes", "debug_rules", "get_unique_id"]
    for name in [*plugin_members, "save_log"]:
        assert callable(getattr(syncerapi.v1.core.Plugin, name)), name
    for name in ["name", "source", "config", "debug", "dry_run", "save_requests", "verify"]:
        assert hasattr(syncerapi.v1.core.Plugin, name), name


def test_cc_and_render_jinja():
    from hosts import colors

    assert colors.ColorCodes.FAIL.startswith("\033[") and colors.ColorCodes.ENDC == "\033[0m"
    assert colors.NoColorCodes.FAIL == colors.NoColorCodes.ENDC == ""
    # colour only on a terminal without NO_COLOR (captured under pytest, so usually the empty codes)
    assert syncerapi.v1.cc is (colors.ColorCodes if colors._wants_color() else colors.NoColorCodes)
    assert syncerapi.v1.render_jinja("{{ a }}-{{ b|upper }}", a=1, b="x") == "1-X"
    assert syncerapi.v1.render_jinja("plain") == "plain"
    with pytest.raises(ValueError, match="failed"):
        syncerapi.v1.render_jinja("{{ a.__class__.__mro__[1].__subclasses__() }}", a="")


def test_app_and_app_config():
    assert app.get_app_config("hosts").name == "hosts"
    assert app_config["TIME_ZONE"] == "UTC"
    assert app_config.get("NOT_A_SETTING", 5) == 5
    assert "INSTALLED_APPS" in app_config
    with pytest.raises(TypeError):
        app_config["DEBUG"] = True  # read-only


# --- REST ----------------------------------------------------------------------------------------------------


class HostNameSerializer(serializers.Serializer):
    hostname = serializers.CharField()


class PluginHostViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = HostNameSerializer
    lookup_field = "hostname"

    def get_queryset(self):
        return Host.objects.order_by("hostname")


@require_token
class PingView(APIView):
    def get(self, request):
        return Response({"pong": request.user.username})


@require_token
def plain_view(request):
    return JsonResponse({"user": request.user.username})


@require_token
@api_view(["GET"])
def drf_function(request):
    return Response({"user": request.user.username})


class PermissionView(APIView):
    permission_classes = [require_token]

    def get(self, request):
        return Response({"ok": True})


@pytest.fixture
def plugin_routes():
    API.register("plugin-hosts", PluginHostViewSet, basename="plugin-host")
    API.add_namespace(PingView, path="/plugin-ping")
    API.add_path("plugin-plain/", plain_view, name="plugin-plain")
    API.add_path("plugin-drf/", drf_function)
    API.add_namespace([__import__("django.urls").urls.path("", PermissionView.as_view())], path="plugin-perm")
    yield
    for prefix in ["plugin-hosts", "plugin-ping", "plugin-plain", "plugin-drf", "plugin-perm"]:
        API.unregister(prefix)


@pytest.mark.django_db
def test_plugins_register_viewsets_under_api_v1(plugin_routes, token_client, api_client):
    Host.objects.create(hostname="web01")
    listing = token_client.get("/api/v1/plugin-hosts/")
    assert listing.status_code == 200
    assert listing.json()["results"] == [{"hostname": "web01"}]
    assert token_client.get("/api/v1/plugin-hosts/web01/").json() == {"hostname": "web01"}
    assert token_client.get("/api/v1/plugin-hosts/nope/").status_code == 404
    # the default API permission applies: anonymous callers are refused with JSON
    anonymous = api_client.get("/api/v1/plugin-hosts/")
    assert anonymous.status_code == 401
    assert "detail" in anonymous.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/api/v1/plugin-ping/", "/api/v1/plugin-plain/", "/api/v1/plugin-drf/", "/api/v1/plugin-perm/"]
)
def test_require_token_protects_every_kind_of_view(plugin_routes, make_token, api_client, url):
    assert api_client.get(url).status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION="Bearer wrong-token")
    assert api_client.get(url).status_code == 401
    token = make_token("plugin-user")
    for keyword in ("Bearer", "Token"):
        api_client.credentials(HTTP_AUTHORIZATION=f"{keyword} {token}")
        response = api_client.get(url)
        assert response.status_code == 200, response.content
    assert response.json() in ({"pong": "plugin-user"}, {"user": "plugin-user"}, {"ok": True})


@pytest.mark.django_db
def test_unregistered_routes_are_gone(token_client):
    API.register("plugin-gone", PluginHostViewSet, basename="plugin-gone")
    assert token_client.get("/api/v1/plugin-gone/").status_code == 200
    API.unregister("plugin-gone")
    assert token_client.get("/api/v1/plugin-gone/").status_code == 404
    assert "plugin-gone" not in API.prefixes()


def test_api_registry_refuses_duplicates():
    API.register("plugin-dup", PluginHostViewSet, basename="plugin-dup")
    try:
        with pytest.raises(ValueError, match="already registered"):
            API.register("plugin-dup", PluginHostViewSet, basename="plugin-dup2")
        with pytest.raises(ValueError):
            API.register("/", PluginHostViewSet)
        with pytest.raises(TypeError):
            API.add_namespace(object(), path="x")
    finally:
        API.unregister("plugin-dup")


# --- inventory -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_run_inventory_updates_existing_hosts_only(account, django_assert_max_num_queries):
    for name in ("web01", "web02"):
        Host.objects.create(hostname=name, inventory={"inv_a__old": 1, "other__x": 2})
    config = syncerapi.v1.get_account("source-a")
    with django_assert_max_num_queries(6):
        stats = run_inventory(
            config, [("WEB01", {"state": "up"}), ("web02", {"old": 1}), ("ghost", {"a": 1}), ("", {})]
        )
    assert stats["updated"] == 1 and stats["unchanged"] == 1
    assert stats["not_found"] == ["", "ghost"] or sorted(stats["not_found"]) == ["", "ghost"]
    assert Host.objects.get(hostname="web01").inventory == {"inv_a__state": "up", "other__x": 2}
    assert not Host.objects.filter(hostname="ghost").exists()
    # an account name works too; the key falls back to the account name without inventorize_key
    account.custom_fields.filter(name="inventorize_key").delete()
    run_inventory("source-a", [("web01", {"n": 1})])
    assert Host.objects.get(hostname="web01").inventory["source-a__n"] == 1


@pytest.mark.django_db
def test_run_inventory_rejects_unknown_accounts():
    with pytest.raises(ValueError):
        run_inventory("nope", [])
    with pytest.raises(ValueError):
        run_inventory({}, [])


# --- cli -----------------------------------------------------------------------------------------------------


@pytest.fixture
def cli_command():
    @cli.command("plugin-greet", help="Say hello")
    @cli.argument("name")
    @cli.argument("--times", type=int, default=1)
    @cli.argument("--shout", action="store_true")
    def greet(name, times=1, shout=False):
        text = " ".join([f"hello {name}"] * times)
        if name == "bad":
            raise ValueError("bad name")
        return text.upper() if shout else text

    yield
    cli.remove("plugin-greet")


def test_plugins_add_manage_py_subcommands(cli_command):
    out = io.StringIO()
    call_command("syncer", "plugin-greet", "bob", "--times", "2", "--shout", stdout=out)
    assert out.getvalue().strip() == "HELLO BOB HELLO BOB"
    with pytest.raises(CommandError, match="bad name"):
        call_command("syncer", "plugin-greet", "bad")
    with pytest.raises(CommandError):
        call_command("syncer", "no-such-command")


def test_add_command_without_decorators():
    calls = []
    cli.add_command("plugin-plain", lambda path: calls.append(path), help="x", arguments=[(("path",), {})])
    try:
        call_command("syncer", "plugin-plain", "/tmp/x")
        assert calls == ["/tmp/x"]
        assert "plugin-plain" in cli
    finally:
        cli.remove("plugin-plain")


# --- discovery -----------------------------------------------------------------------------------------------


def test_plugins_named_in_settings_are_imported(settings, tmp_path, monkeypatch):
    from hosts import cronjobs, discovery

    module = tmp_path / "my_site_plugin.py"
    module.write_text(
        textwrap.dedent(
            """
            from syncerapi.v1 import register_cronjob

            def nightly(account=None):
                return "ran"

            register_cronjob("my site: nightly", nightly)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.SYNCSITE_PLUGINS = ["my_site_plugin"]
    try:
        assert "my_site_plugin" in discovery.discover_plugins()
        assert "my site: nightly" in cronjobs.registered_cronjobs()
        # importing twice does nothing
        discovery.discover_plugins()
    finally:
        cronjobs.unregister_cronjob("my site: nightly")
        discovery._loaded.remove("my_site_plugin")
        sys.modules.pop("my_site_plugin", None)


def test_a_missing_configured_plugin_is_a_configuration_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    from hosts import discovery

    settings.SYNCSITE_PLUGINS = ["no_such_plugin_module_here"]
    with pytest.raises(ImproperlyConfigured, match="no_such_plugin_module_here"):
        discovery.discover_plugins()


def test_app_plugin_modules_are_found(monkeypatch):
    from hosts import discovery

    monkeypatch.setattr(discovery, "APP_PLUGIN_MODULE", "apps")  # every app has an apps module
    found = discovery.candidate_modules()
    assert "hosts.apps" in found and "tracker.apps" in found


@pytest.mark.django_db
def test_builtin_syncer_commands(capsys, make_rule):
    from hosts import cronjobs

    Host.objects.create(hostname="web01", labels={"os": "linux"})
    make_rule("custom", [], [{"attribute": "role", "value": "web"}], condition_type="anyway", name="everyone")
    call_command("syncer", "debug-rules", "web01")
    out = capsys.readouterr().out
    assert "everyone" in out and "role: web" in out
    with pytest.raises(CommandError, match="does not exist"):
        call_command("syncer", "debug-rules", "nope")
    with pytest.raises(CommandError):
        call_command("syncer", "debug-rules", "web01", "--model", "bogus")

    listing = io.StringIO()
    call_command("syncer", "list-cronjobs", stdout=listing)
    assert "Purge old log entries" in listing.getvalue()

    calls = []
    cronjobs.register_cronjob("test: cli job", lambda account=None: calls.append(account) or 7)
    try:
        out = io.StringIO()
        call_command("syncer", "run-cronjob", "test: cli job", "--account", "acc", stdout=out)
        assert calls == ["acc"] and "test: cli job: 7" in out.getvalue()
        with pytest.raises(CommandError, match="no cronjob named"):
            call_command("syncer", "run-cronjob", "test: missing")
    finally:
        cronjobs.unregister_cronjob("test: cli job")
