"""syncerapi.v1: the stable plugin API of the host inventory. Import only from here and its modules.

    from syncerapi.v1 import Host, get_account, register_cronjob, cc, render_jinja
    from syncerapi.v1 import AccountField, declare_account_fields, redact_url
    from syncerapi.v1 import get_import_hosts, update_import_host

Re-exports only; the implementation lives in the hosts app and may change behind these names.
"""

from hosts.accountfields import AccountField, declare_account_fields
from hosts.colors import cc
from hosts.cronjobs import register_cronjob
from hosts.import_hosts import get_import_hosts, update_import_host
from hosts.jinja import render_jinja
from hosts.models import Host
from hosts.services import get_account
from syncsite.redact import redact_url

__all__ = [
    "AccountField",
    "Host",
    "cc",
    "declare_account_fields",
    "get_account",
    "get_import_hosts",
    "redact_url",
    "register_cronjob",
    "render_jinja",
    "update_import_host",
]
