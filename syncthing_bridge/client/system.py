"""``/rest/system``: the daemon itself (status, connections, errors, log, restart, upgrade...)."""

from __future__ import annotations

from collections import namedtuple

from syncthing_bridge.client.base import BaseAPI, keys_to_datetime, parse_datetime


class ErrorEvent(namedtuple("ErrorEvent", "when, message")):
    """tuple[datetime.datetime,str]: used to process error lists more easily, instead of by two-key dictionaries."""

    __slots__ = ()


class System(BaseAPI):
    """HTTP REST endpoint for System calls."""

    prefix = "/rest/system/"

    def browse(self, path: str | None = None) -> list[str]:
        """Returns a list of directories matching the path given (a glob pattern)."""
        params = None
        if path:
            assert isinstance(path, str)
            params = {"current": path}
        return self.get("browse", params=params)

    def config(self) -> dict:
        """Returns the current configuration.

        >>> s = _syncthing().system
        >>> config = s.config()
        >>> config
        ...
        {...}
        >>> 'version' in config and config['version'] >= 15
        True
        >>> 'folders' in config
        True
        >>> 'devices' in config
        True
        """
        return self.get("config")

    def set_config(self, config: dict, and_restart: bool = False) -> None:
        """Post the full configuration; saved to disk, configInSync becomes False until restarted."""
        assert isinstance(config, dict)
        self.post("config", data=config)
        if and_restart:
            self.restart()

    def config_insync(self) -> bool:
        """Returns whether the running configuration is the same as that on disk."""
        status = self.get("config/insync").get("configInSync", False)
        return bool(status)

    def connections(self) -> dict:
        """Returns the list of configured devices and some metadata associated with them.

        >>> s = _syncthing().system
        >>> connections = s.connections()
        >>> sorted([k for k in connections.keys()])
        ['connections', 'total']
        >>> isinstance(connections['connections'], dict)
        True
        >>> isinstance(connections['total'], dict)
        True
        """
        return self.get("connections")

    def debug(self) -> dict:
        """Returns the set of debug facilities and which of them are currently enabled.

        >>> s = _syncthing().system
        >>> debug = s.debug()
        >>> debug
        ...
        {...}
        >>> len(debug.keys())
        2
        >>> 'enabled' in debug and 'facilities' in debug
        True
        >>> isinstance(debug['enabled'], list) or debug['enabled'] is None
        True
        >>> isinstance(debug['facilities'], dict)
        True
        """
        return self.get("debug")

    def disable_debug(self, *on: str) -> None:
        """Disables debugging for specified facilities."""
        self.post("debug", params={"disable": ",".join(on)})

    def enable_debug(self, *on: str) -> None:
        """Enables debugging for specified facilities."""
        self.post("debug", params={"enable": ",".join(on)})

    def discovery(self) -> dict:
        """Returns the contents of the local discovery cache."""
        return self.get("discovery")

    def add_discovery(self, device: str, address: str) -> None:
        """Add an entry to the discovery cache."""
        self.post("discovery", params={"device": device, "addr": address})

    def clear(self) -> None:
        """Remove all recent errors."""
        self.post("error/clear")

    def clear_errors(self) -> None:
        """Alias function for clear()."""
        self.clear()

    def errors(self) -> list[ErrorEvent]:
        """Returns the list of recent errors as ErrorEvent tuples."""
        errors = self.get("error").get("errors") or []
        return [ErrorEvent(parse_datetime(err.get("when")), err.get("message", "")) for err in errors]

    def show_error(self, message: str) -> None:
        """Send an error message to the active client; shown on any active GUI clients.

        >>> s = _syncthing()
        >>> s.system.show_error('my error msg')
        >>> s.system.errors()[0]
        ...
        ErrorEvent(when=datetime.datetime(...), message='"my error msg"')
        >>> s.system.clear_errors()
        >>> s.system.errors()
        []
        """
        assert isinstance(message, str)
        self.post("error", data=message)

    def log(self) -> dict:
        """Returns the list of recent log entries."""
        return self.get("log")

    def pause(self, device: str) -> dict:
        """Pause the given device; returns {"success": bool, "error": str | None}."""
        return self._device_action("pause", device)

    def resume(self, device: str) -> dict:
        """Resume the given device; returns {"success": bool, "error": str | None}."""
        return self._device_action("resume", device)

    def _device_action(self, action: str, device: str) -> dict:
        resp = self.post(action, params={"device": device}, return_response=True)
        if resp.status_code in (401, 403):
            raise self._http_error(resp, "POST", resp.url)
        error = resp.text.strip() or None
        return {"success": resp.status_code == 200, "error": error}

    def ping(self, with_method: str = "GET") -> dict:
        """Pings the Syncthing server (GET or POST)."""
        assert with_method in ("GET", "POST")
        if with_method == "GET":
            return self.get("ping")
        return self.post("ping")

    def reset(self) -> None:
        """Erase the current index database and restart Syncthing."""
        self.post("reset")

    def reset_folder(self, folder: str) -> None:
        """Erase the database index from a given folder and restart Syncthing."""
        self.post("reset", params={"folder": folder})

    def restart(self) -> None:
        """Immediately restart Syncthing."""
        self.post("restart")

    def shutdown(self) -> None:
        """Causes Syncthing to exit and not restart."""
        self.post("shutdown")

    def status(self) -> dict:
        """Returns information about current system status and resource usage (``startTime`` as a datetime)."""
        return keys_to_datetime(self.get("status"), "startTime")

    def upgrade(self) -> dict:
        """Checks for a possible upgrade and returns an object describing the newest version."""
        return self.get("upgrade")

    def can_upgrade(self) -> bool:
        """Returns when there's a newer version than the instance running."""
        return bool(self.upgrade().get("newer", False))

    def do_upgrade(self) -> None:
        """Perform an upgrade to the newest released version and restart."""
        self.post("upgrade")

    def version(self) -> dict:
        """Returns the current Syncthing version information."""
        return self.get("version")

    # -- newer daemons ------------------------------------------------------------------------------------------

    def paths(self) -> dict:
        """Where the daemon keeps its config, database, certificates (Syncthing >= 1.21)."""
        return self.get("paths")

    def loglevels(self) -> dict:
        """Log levels per facility (Syncthing >= 2.0; older daemons: use debug())."""
        return self.get("loglevels")

    def set_loglevels(self, levels: dict[str, str]) -> None:
        """Set log levels per facility, e.g. {"model": "DEBUG"} (Syncthing >= 2.0)."""
        self.post("loglevels", data=levels)

    def config_restart_required(self) -> bool:
        """True when a config change waits for a restart to take effect."""
        return bool(self._request("GET", "/rest/config/restart-required").get("requiresRestart", False))
