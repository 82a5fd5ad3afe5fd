"""The LDAP source against a real slapd (the session fixture `slapd`): paged search, attributes, errors."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from tests.conftest import LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD, LDAP_ANONYMOUS_SIZE_LIMIT, LDAP_HOSTS, LDAP_SUFFIX

BASE = f"ou=hosts,{LDAP_SUFFIX}"


def test_paged_search_reads_past_the_size_limit(slapd, make_account, run_command):
    import ldap3

    from hosts.models import Host, LogEntry

    with ldap3.Connection(ldap3.Server(slapd), auto_bind=True) as unpaged:  # one unpaged search is cut short
        unpaged.search(BASE, "(objectClass=device)", attributes=["cn"])
        assert unpaged.result["description"] == "sizeLimitExceeded"
        assert len(unpaged.entries) == LDAP_ANONYMOUS_SIZE_LIMIT < LDAP_HOSTS
    make_account("dir", address=slapd, base=BASE, filter="(objectClass=device)", page_size=4,
                 attributes="ipHostNumber,l,description")  # fmt: skip
    out, _ = run_command("import-ldap", "--account", "dir")
    assert f"created {LDAP_HOSTS}" in out
    host = Host.objects.get(hostname="host07.example.com")
    assert host.labels == {"iphostnumber": "10.0.0.8", "l": "dc1", "description": ["rack 7", "managed"]}
    assert not LogEntry.objects.get(source="ldap_import").has_error


def test_bound_search_with_filter_and_scope(slapd, make_account, run_command):
    from hosts.models import Host

    make_account("dir", address=slapd, username=LDAP_ADMIN_DN, password=LDAP_ADMIN_PASSWORD, base=LDAP_SUFFIX,
                 filter="(&(objectClass=ipHost)(l=dc0))", scope="sub", attributes="l")  # fmt: skip
    run_command("import-ldap", "--account", "dir")
    assert Host.objects.count() == len(range(0, LDAP_HOSTS, 3))
    assert {tuple(host.labels.items()) for host in Host.objects.all()} == {(("l", "dc0"),)}
    make_account("one", address=slapd, base=LDAP_SUFFIX, scope="one", filter="(objectClass=device)")
    out, _ = run_command("import-ldap", "--account", "one", "--dry-run")
    assert "created 0" in out  # the hosts are one level further down


def test_dry_run_and_inventorize(slapd, make_account, run_command):
    from hosts.models import Host, LogEntry

    make_account("dir", address=slapd, base=BASE, filter="(objectClass=device)", attributes="l")
    out, _ = run_command("import-ldap", "--account", "dir", "--dry-run")
    assert out.startswith(f"dry run: created {LDAP_HOSTS}")
    assert not Host.objects.exists() and not LogEntry.objects.exists()
    Host.objects.create(hostname="host01.example.com")
    run_command("inventorize-ldap", "--account", "dir")
    assert Host.objects.get().inventory == {"dir__l": "dc1"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": LDAP_ADMIN_DN, "password": "wrong"}, "cannot bind"),
        ({"base": "ou=nowhere,dc=example,dc=com"}, "the search under 'ou=nowhere,dc=example,dc=com' failed"),
        ({"filter": "(objectClass=device"}, "failed"),
        ({"hostname_field": "ou", "filter": "(objectClass=device)"}, "no attribute 'ou'"),
        ({"base": ""}, "has no search base"),
    ],
)
def test_errors_are_clear_and_write_nothing(slapd, make_account, run_command, fields, message):
    from hosts.models import Host

    make_account("dir", address=slapd, **{"base": BASE, **fields})
    with pytest.raises(CommandError, match=message) as raised:
        run_command("import-ldap", "--account", "dir")
    assert fields.get("password", "\0") not in str(raised.value)
    assert not Host.objects.exists()


def test_unreachable_server(make_account, run_command):
    from tests.conftest import free_port

    make_account("dir", address=f"ldap://127.0.0.1:{free_port()}", base=BASE)
    with pytest.raises(CommandError, match="cannot bind"):
        run_command("import-ldap", "--account", "dir")
