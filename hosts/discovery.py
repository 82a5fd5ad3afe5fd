"""Plugin loading: the plugin modules that apps and the site declare are imported once at startup.

Declared are: the `syncer_plugins` attribute of every installed app's AppConfig (hosts declares its
built-in plugins there, the Syncthing bridge its inventory plugin), the module `syncer_plugin` of any
installed app that has one, and every module named in SYNCSITE_PLUGINS. The hosts core names no plugin.

Importing a plugin module is what registers its cronjobs (register_cronjob), CLI commands (cli)
and REST endpoints (API). Plugin modules must not touch the database at import time.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from hosts import conf

logger = logging.getLogger(__name__)

APP_PLUGIN_MODULE = "syncer_plugin"

_loaded: list[str] = []


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def candidate_modules() -> list[str]:
    """Every declared plugin module, apps in INSTALLED_APPS order, then SYNCSITE_PLUGINS."""
    names: list[str] = []
    for app_config in apps.get_app_configs():
        names.extend(getattr(app_config, "syncer_plugins", ()))
        module = f"{app_config.name}.{APP_PLUGIN_MODULE}"
        if _module_exists(module):
            names.append(module)
    names.extend(conf.plugin_modules())
    return list(dict.fromkeys(names))


def discover_plugins() -> list[str]:
    """Import every plugin module; a module listed in SYNCSITE_PLUGINS that fails to import is a config error."""
    configured = set(conf.plugin_modules())
    for name in candidate_modules():
        if name in _loaded:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            if name in configured:
                raise ImproperlyConfigured(f"SYNCSITE_PLUGINS: cannot import {name!r}: {exc}") from exc
            raise
        _loaded.append(name)
        logger.debug("loaded syncer plugin module %s", name)
    return list(_loaded)


def loaded_plugins() -> list[str]:
    return list(_loaded)
