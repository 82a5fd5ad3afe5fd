"""Domain errors: the hosts services raise hosts.errors, and the API answers any app's DomainError in one place."""

from __future__ import annotations

import pytest
from django.http import Http404
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from hosts import services
from hosts.errors import HostsError, NotFound, OwnershipError
from syncsite.errors import DomainError
from syncsite.rest import exception_handler


class Exhausted(DomainError):
    status = 429


def test_any_domain_error_is_answered_with_its_status_and_the_detail_shape():
    request = Request(APIRequestFactory().get("/api/v1/anything/"))
    response = exception_handler(Exhausted("too many runs today"), {"request": request, "view": None})
    assert response.status_code == 429 and response.data == {"detail": "too many runs today"}
    response = exception_handler(NotFound(), {"request": request, "view": None})
    assert response.status_code == 404 and response.data == {"detail": "Not found."}


@pytest.mark.django_db
def test_the_door_raises_not_found_not_http404():
    assert issubclass(NotFound, HostsError) and issubclass(HostsError, DomainError)
    assert not issubclass(NotFound, Http404)
    with pytest.raises(NotFound, match=r"no host 'nope\.example\.com'"):
        services.get_host_or_404("nope.example.com")
    with pytest.raises(NotFound, match="unknown rule kind 'bogus'"):
        services.rule_queryset("bogus")
    with pytest.raises(NotFound, match="no filter rule 99"):
        services.get_rule("filter", 99)


@pytest.mark.django_db
def test_the_api_maps_the_hosts_errors(token_client, account, master_account):
    missing = token_client.delete("/api/v1/hosts/nope.example.com/")
    assert missing.status_code == 404 and missing.json() == {"detail": "no host 'nope.example.com'"}
    rule = token_client.get("/api/v1/rules/filter/99/")
    assert rule.status_code == 404 and rule.json() == {"detail": "no filter rule 99"}
    token_client.put("/api/v1/hosts/db1.example.com/", {"account": "master", "labels": {}}, format="json")
    refused = token_client.put("/api/v1/hosts/db1.example.com/", {"account": "source-a", "labels": {}}, format="json")
    assert refused.status_code == 403 and refused.json() == {
        "detail": "host 'db1.example.com' is owned by master account 'master'; account 'source-a' may not change it"
    }
    assert issubclass(OwnershipError, HostsError)
