"""Credentials never reach a run log, a cronjob run or a request dump, whichever way a plugin fails or talks."""

from __future__ import annotations

import json

import pytest

from hosts.cronjobs import run_cronjob
from hosts.models import CronjobRun, LogEntry
from syncerapi.v1.core import Plugin
from tests.conftest import free_port

pytestmark = pytest.mark.django_db

LEAKS = ("pa55word", "T0KEN", "secret-field-value", "acc-password")


def assert_no_leak(text: str) -> None:
    for secret in LEAKS:
        assert secret not in text, f"{secret} leaked into {text[:400]}"


def test_a_failing_import_logs_no_credentials(settings, make_account):
    settings.HOSTS_HTTP_MAX_RETRIES = 1
    settings.HOSTS_HTTP_BACKOFF_FACTOR = 0.01
    address = f"http://user:pa55word@127.0.0.1:{free_port()}/hosts.json?token=T0KEN&page=1"
    make_account("httpsrc", address=address, password="acc-password", secrets={"bearer": "secret-field-value"})
    with pytest.raises(Exception, match="unreachable"):
        run_cronjob("hosts: import-http", "httpsrc")
    entry = LogEntry.objects.get(source="http_import")
    assert entry.has_error
    assert_no_leak(json.dumps(entry.details))
    assert "token=********" in json.dumps(entry.details)
    run = CronjobRun.objects.get(job="hosts: import-http")
    assert run.status == CronjobRun.FAILED and "unreachable" in run.traceback
    assert_no_leak(run.traceback + run.log)


def test_request_dumps_and_log_details_mask_the_accounts_secrets(source_server, make_account, tmp_path):
    source_server.documents["hosts.json"] = []
    make_account("dumped", password="acc-password", secrets={"bearer": "secret-field-value"})
    dump = tmp_path / "requests.jsonl"
    plugin = Plugin("dumped")
    plugin.save_requests = str(dump)
    bearer = plugin.config["bearer"]
    url = source_server.url("/open/hosts.json").replace("http://", "http://user:pa55word@") + "?access_token=T0KEN"
    response = plugin.inner_request(
        "GET", url, headers={"X-Custom": bearer, "Authorization": "Bearer x"}, params={"q": plugin.config["password"]}
    )
    assert response.status_code == 200
    assert source_server.seen[-1]["path"].endswith("access_token=T0KEN&q=acc-password")  # sent for real
    plugin.log_details.append(("note", f"used {bearer} at {url}"))
    entry = plugin.save_log()
    assert_no_leak(dump.read_text())
    assert_no_leak(json.dumps(LogEntry.objects.get(pk=entry.pk).details))
    assert "********" in dump.read_text()
