"""syncerapi.v1: the stable plugin API of the host inventory. Import only from here and its modules.

    from syncerapi.v1 import Host, get_account, register_cronjob, cc, render_jinja

Re-exports only; the implementation lives in the hosts app and may change behind these names.
"""

from hosts.colors import cc
from hosts.cronjobs import register_cronjob
from hosts.jinja import render_jinja
from hosts.models import Host
from hosts.services import get_account

__all__ = ["Host", "cc", "get_account", "register_cronjob", "render_jinja"]
