"""LDAP source: each entry an LDAP search finds is a host, read page by page (the paged-results control).

Account (type `ldap`): `address` is the server (`ldap://host:389`, `ldaps://host:636`), `username` the
bind DN and `password` its password (an anonymous bind without them). Custom fields: `base` (search
base), `filter` (default `(objectClass=*)`), `scope` (sub, one, base; default sub), `attributes`
(comma-separated; default all user attributes), `hostname_field` (the attribute with the hostname,
default `cn`), `page_size` (default 500). A single-valued attribute becomes a text label, a multi-valued
one a list.
"""

from __future__ import annotations

from typing import Any

from hosts.plugins.importers import ImportPlugin, InventorizeMixin, register_source
from hosts.plugins.sources import Row, SourceError, check_hostname
from syncerapi.v1 import AccountField, redact_url

SCOPES = ("sub", "one", "base")


class LdapImport(ImportPlugin):
    """Hosts from an LDAP search, bound with the account's DN and password, read-only."""

    label = "LDAP"
    source = "ldap_import"
    account_type = "ldap"
    account_fields = (
        AccountField("base", help="search base, e.g. ou=hosts,dc=example,dc=com"),
        AccountField("filter", help="search filter (default (objectClass=*))"),
        AccountField("scope", help="sub, one or base (default sub)"),
        AccountField("attributes", help="comma-separated attributes to read (default: all)"),
        AccountField("hostname_field", help="attribute with the hostname (default cn)"),
        AccountField("page_size", help="entries per page (default 500)"),
    )

    def read(self) -> list[Row]:
        import ldap3
        from ldap3.core.exceptions import LDAPException

        url = self.address()
        where = redact_url(url)
        base = str(self.option("base") or "")
        if not base:
            raise SourceError(f"account {self.config.get('name')!r} has no search base (the field base)")
        scope = str(self.option("scope", "sub")).lower()
        if scope not in SCOPES:
            raise SourceError(f"account {self.config.get('name')!r}: unknown scope {scope!r} ({', '.join(SCOPES)})")
        hostname_field = str(self.option("hostname_field", "cn"))
        names = [name.strip() for name in str(self.option("attributes") or "").split(",") if name.strip()]
        attributes = (
            [*names, hostname_field] if names and hostname_field not in names else (names or [ldap3.ALL_ATTRIBUTES])
        )
        try:
            page_size = int(self.option("page_size", 500))
        except (TypeError, ValueError):
            page_size = 0
        if page_size < 1:
            raise SourceError(f"account {self.config.get('name')!r}: page_size must be a whole number >= 1")
        timeout = self.connect_timeout()
        scopes = {"sub": ldap3.SUBTREE, "one": ldap3.LEVEL, "base": ldap3.BASE}
        try:
            server = ldap3.Server(url, connect_timeout=timeout, get_info=ldap3.NONE)
            connection = ldap3.Connection(
                server,
                user=self.config.get("username") or None,
                password=self.config.get("password") or None,
                read_only=True,
                receive_timeout=timeout,
                raise_exceptions=True,
            )
            connection.bind()
        except LDAPException as exc:
            raise SourceError(f"{where}: cannot bind ({exc})") from exc
        rows: list[Row] = []
        try:
            entries = connection.extend.standard.paged_search(
                search_base=base,
                search_filter=str(self.option("filter", "(objectClass=*)")),
                search_scope=scopes[scope],
                attributes=attributes,
                paged_size=page_size,
                generator=True,
            )
            for entry in entries:
                if entry.get("type") != "searchResEntry":
                    continue  # referrals
                rows.append(self.row(entry["dn"], entry["attributes"], hostname_field, names, where))
        except LDAPException as exc:
            raise SourceError(f"{where}: the search under {base!r} failed ({exc})") from exc
        finally:
            connection.unbind()
        return rows

    @staticmethod
    def row(dn: str, attributes: dict[str, Any], hostname_field: str, names: list[str], where: str) -> Row:
        """(hostname, labels) of one entry: the hostname attribute's first value, the others as labels."""
        found = {key.lower(): (key, value) for key, value in attributes.items()}
        if hostname_field.lower() not in found:
            raise SourceError(f"{where} entry {dn!r}: no attribute {hostname_field!r}")
        _key, value = found.pop(hostname_field.lower())
        value = value[0] if isinstance(value, list) and value else value
        hostname = check_hostname(value if value not in ([], None) else "", f"{where} entry {dn!r}")
        labels: dict[str, Any] = {}
        wanted = [name.lower() for name in names if name.lower() != hostname_field.lower()] if names else list(found)
        for name in wanted:
            if name not in found:
                continue
            key, value = found[name]
            if isinstance(value, list):
                value = [_text(item) for item in value]
                value = value[0] if len(value) == 1 else value
            else:
                value = _text(value)
            labels[key] = value
        return hostname, labels


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class LdapInventorize(InventorizeMixin, LdapImport):
    source = "ldap_inventorize"


LDAP_ARGUMENTS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--hostname-field",), {"help": "attribute with the hostname (default 'cn')"}),
    (("--base",), {"help": "search base (default: the account's base field)"}),
    (("--filter",), {"help": "search filter (default: the account's filter field, else (objectClass=*))"}),
]

register_source("import-ldap", LdapImport, LDAP_ARGUMENTS)
register_source("inventorize-ldap", LdapInventorize, LDAP_ARGUMENTS)
