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
import sys
from typing import Any

from django.apps import apps
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from hosts import conf

logger = logging.getLogger(__name__)

APP_PLUGIN_MODULE = "syncer_plugin"

_loaded: list[str] = []
_failed: dict[str, str] = {}


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


def discover_plugins(*, strict: bool = True) -> list[str]:
    """Import every plugin module once. A module that fails to import is named with its error.

    strict: a failing module listed in SYNCSITE_PLUGINS raises ImproperlyConfigured (any other failing
    module raises its own error). Not strict (at start-up): every failure is recorded, written to stderr
    and the log, and reported by `manage.py check` as hosts.E001 (see `failed_plugins`).
    """
    configured = set(conf.plugin_modules())
    for name in candidate_modules():
        if name in _loaded:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if not strict:
                sys.modules.pop(name, None)
                if name not in _failed:
                    _failed[name] = error
                    logger.error("syncer plugin %r failed to import: %s", name, error)
                    print(f"syncer plugin {name!r} failed to import: {error}", file=sys.stderr)
                continue
            if name in configured:
                raise ImproperlyConfigured(f"SYNCSITE_PLUGINS: cannot import {name!r}: {error}") from exc
            raise
        _failed.pop(name, None)
        _loaded.append(name)
        logger.debug("loaded syncer plugin module %s", name)
    return list(_loaded)


def failed_plugins() -> dict[str, str]:
    """{module: "ErrorType: message"} of the plugin modules that failed to import at start-up."""
    return dict(_failed)


@checks.register()
def check_plugins(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """`manage.py check`: one error per plugin module that failed to import, naming it and the error."""
    return [
        checks.Error(
            f"syncer plugin {name!r} failed to import: {error}",
            hint="fix the module, or remove it from SYNCSITE_PLUGINS / the app's syncer_plugins",
            obj=name,
            id="hosts.E001",
        )
        for name, error in _failed.items()
    ]


def loaded_plugins() -> list[str]:
    return list(_loaded)
