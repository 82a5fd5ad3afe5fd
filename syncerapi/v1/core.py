"""syncerapi.v1.core: logger, app, app_config, cli and the Plugin base class.

    from syncerapi.v1.core import logger, app, app_config, cli, Plugin

`app` is Django's application registry; `app_config` a read-only mapping of Django settings;
`cli` adds `manage.py syncer <command>` subcommands (see hosts.cli for an example).
"""

from django.apps import apps as app

from hosts.cli import cli
from hosts.plugin import Plugin, logger
from hosts.settings_view import app_config

__all__ = ["Plugin", "app", "app_config", "cli", "logger"]
