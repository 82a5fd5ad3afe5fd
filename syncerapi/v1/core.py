"""syncerapi.v1.core: logger, app, app_config, cli and the Plugin base class.

    from syncerapi.v1.core import logger, app, app_config, cli, Plugin

`app` is Django's application registry (also offering `app.cli` and `app.config`, as Flask's app
does); `app_config` a read-only mapping of Django settings; `cli` the click group of
`manage.py syncer` that plugins add groups and commands to (see hosts.cli for examples).
"""

from hosts.application import app
from hosts.cli import cli
from hosts.plugin import Plugin, logger
from hosts.settings_view import app_config

__all__ = ["Plugin", "app", "app_config", "cli", "logger"]
