"""One way to fail: each app's domain errors are answered by the kernel's one handler as {"detail": ...}."""

from __future__ import annotations

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from syncsite.errors import DomainError, as_domain_error
from syncsite.rest import exception_handler
from syncthing_bridge import services as bridge_services
from syncthing_bridge.client import SyncthingConnectionError, SyncthingError
from syncthing_bridge.errors import DaemonError, InstanceConfigError, SyncthingBridgeError
from syncthing_bridge.models import SyncthingInstance
from synctools import services as synctools_services
from synctools.errors import InvalidCursor, SyncError, SynctoolsError


def _answer(error: Exception):
    request = Request(APIRequestFactory().get("/api/v1/anything/"))
    return exception_handler(error, {"request": request, "view": None})


def test_the_bridge_errors_are_domain_errors_with_their_statuses():
    assert issubclass(SyncthingBridgeError, DomainError)
    assert issubclass(InstanceConfigError, SyncthingBridgeError) and issubclass(InstanceConfigError, SyncthingError)
    response = _answer(InstanceConfigError("Syncthing instance 'a' is misconfigured: zero timeout"))
    assert response.status_code == 409
    assert response.data == {"detail": "Syncthing instance 'a' is misconfigured: zero timeout"}
    response = _answer(DaemonError())
    assert response.status_code == 502 and response.data == {"detail": DaemonError.default_detail}


def test_synctools_errors_are_answered_through_the_site_registration():
    """synctools knows only Django: its base is its own, registered with the kernel by the site wiring."""
    assert not issubclass(SynctoolsError, DomainError)
    response = _answer(InvalidCursor("Invalid cursor 'x'."))
    assert response.status_code == 400 and response.data == {"detail": "Invalid cursor 'x'."}
    # SyncError.status is the remote site's status: the API answers the upstream failure as 502, not as that status
    failed = SyncError("https://a.example/sync/hosts", "HTTP 404: gone", status=404)
    response = _answer(failed)
    assert response.status_code == 502 and response.data == {"detail": "https://a.example/sync/hosts: HTTP 404: gone"}
    assert as_domain_error(ValueError("plain")) is None


def test_parse_cursor_refuses_with_the_domain_error():
    assert synctools_services.parse_cursor("12") == 12
    for bad in ("-1", "x", ""):
        with pytest.raises(InvalidCursor, match="Invalid cursor"):
            synctools_services.parse_cursor(bad)
    assert issubclass(InvalidCursor, ValueError)


@pytest.mark.django_db
def test_daemon_action_turns_daemon_failures_into_domain_errors():
    instance = SyncthingInstance.objects.create(name="a", url="https://u:p@127.0.0.1:9/", api_key="k" * 32)

    def unreachable(inst):
        raise SyncthingConnectionError("cannot reach https://u:p@127.0.0.1:9/rest/system/ping", url=inst.url)

    with pytest.raises(DaemonError) as caught:
        bridge_services.daemon_action(unreachable, instance)
    assert "u:p@" not in caught.value.detail and "127.0.0.1:9" in caught.value.detail
    assert bridge_services.daemon_action(lambda inst, x: (inst.name, x), instance, 7) == ("a", 7)
    instance.timeout = 0
    with pytest.raises(InstanceConfigError, match="misconfigured"):
        bridge_services.daemon_action(unreachable, instance)
