"""Site-wide: every navigation link answers, error pages in the site's layout, API docs from local files,
times and sizes for people, live refresh of the dashboard."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import override_settings
from django.utils import timezone

from syncsite.templatetags import siteformat

pytestmark = pytest.mark.django_db


def nav_links(html: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, flags=re.S).group(1)
    return re.findall(r'href="([^"]+)"', nav)


def test_every_navigation_link_answers(client, admin_user, django_user_model):
    client.force_login(admin_user)
    links = nav_links(client.get("/").content.decode())
    expected = {"/hosts/", "/hosts/-/accounts/", "/tracker/", "/tracker/tree/", "/syncthing/", "/api/docs/", "/admin/"}
    assert expected <= set(links)
    for link in links:
        assert client.get(link).status_code == 200, link
    reader = django_user_model.objects.create_user("reader", password="reader-pass-1234")
    client.force_login(reader)
    links = nav_links(client.get("/").content.decode())
    assert "/admin/" not in links
    for link in links:
        assert client.get(link).status_code == 200, link


def test_error_pages_use_the_site_layout(client, admin_user):
    client.force_login(admin_user)
    html = client.get("/no/such/page/").content.decode()
    assert 'class="brand"' in html and "Page not found" in html and 'href="/hosts/"' in html
    assert client.get("/api/v1/no-such/").json() == {"detail": "Not found."}


def test_forbidden_and_server_error_pages(client, django_user_model):
    from syncsite.views import server_error

    reader = django_user_model.objects.create_user("reader", password="reader-pass-1234")
    client.force_login(reader)
    response = client.post("/hosts/-/runs/now/", {"job": "purge_log_entries"})
    assert response.status_code == 403
    html = response.content.decode()
    assert 'class="brand"' in html and "Not allowed" in html and "Only staff may start a run." in html

    from django.test import RequestFactory

    response = server_error(RequestFactory().get("/hosts/"))
    assert response.status_code == 500 and 'class="brand"' in response.content.decode()
    assert server_error(RequestFactory().get("/api/v1/hosts/")).status_code == 500


def test_api_docs_load_nothing_from_outside(client, admin_user):
    client.force_login(admin_user)
    for url in ("/api/docs/", "/api/redoc/"):
        html = client.get(url).content.decode()
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources, url
        assert all(s.startswith("/") and not s.startswith("//") for s in sources), sources
        assert "cdn" not in html.lower()
    swagger = client.get("/api/docs/").content.decode()
    assert any("drf_spectacular_sidecar" in s for s in re.findall(r'src="([^"]+)"', swagger))


def test_dashboard_refreshes_in_place(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/").content.decode()
    assert 'data-live-url="/?fragment=1"' in page and "data-live-toggle" in page
    assert '<label><input type="checkbox" data-live-toggle checked> Live refresh' in page
    fragment = client.get("/?fragment=1").content.decode()
    assert "<header" not in fragment and "<h1>Dashboard</h1>" in fragment


@override_settings(TIME_ZONE="Europe/Paris")
def test_times_in_the_site_time_zone_with_the_exact_value_on_hover():
    moment = dt.datetime(2026, 7, 1, 10, 0, 0, tzinfo=dt.UTC)
    with timezone.override("Europe/Paris"):
        html = siteformat.when(moment)
        assert 'title="2026-07-01 12:00:00 CEST"' in html and ">2026-07-01 12:00</time>" in html
        assert siteformat.when(1_782_900_000_000).startswith("<time")  # epoch milliseconds, the tracker's wire time
        assert siteformat.when(None) == "-" and siteformat.when("garbage") == "-"
    now = timezone.now()
    assert siteformat.human_time(now - dt.timedelta(minutes=5), now) == "5 min ago"
    assert siteformat.human_time(now - dt.timedelta(seconds=10), now) == "just now"


def test_sizes_and_durations():
    assert siteformat.format_size(512) == "512 B"
    assert siteformat.format_size(1536) == "1.5 KiB"
    assert siteformat.format_size(3 * 1024**2) == "3.0 MiB"
    assert siteformat.format_size("x") == "-"
    assert 'title="1,536 bytes"' in siteformat.size(1536)
    assert siteformat.format_duration(0.25) == "250 ms"
    assert siteformat.format_duration(12.34) == "12.3 s"
    assert siteformat.format_duration(245) == "4 min 5 s"
    assert siteformat.format_duration(7380) == "2 h 3 min"
