"""``/rest/svc``: utility services (device id check, languages, random strings, usage report)."""

from __future__ import annotations

from syncthing_bridge.client.base import BaseAPI
from syncthing_bridge.client.errors import SyncthingAPIError


class Misc(BaseAPI):
    """HTTP REST endpoint for Miscellaneous calls."""

    prefix = "/rest/svc/"

    def device_id(self, id_: str) -> str:
        """Verifies and formats a device ID; raises SyncthingError when it is invalid."""
        resp = self.get("deviceid", params={"id": id_})
        if isinstance(resp, dict) and "id" in resp:
            return resp["id"]
        raise SyncthingAPIError(str(resp.get("error") if isinstance(resp, dict) else resp))

    def language(self) -> list[str]:
        """Returns a list of canonicalized localization codes from the Accept-Language header.

        >>> s = _syncthing()
        >>> len(s.misc.language())
        1
        >>> s.misc.language()[0]
        ''
        >>> s.misc.get('lang', headers={'Accept-Language': 'en-us'})
        ['en-us']
        """
        return self.get("lang")

    def random_string(self, length: int | None = 32) -> str:
        """Returns a strong random generated string (alphanumeric) of the specified length.

        >>> s = _syncthing()
        >>> len(s.misc.random_string())
        32
        >>> len(s.misc.random_string(32))
        32
        >>> len(s.misc.random_string(1))
        1
        >>> len(s.misc.random_string(0))
        32
        >>> len(s.misc.random_string(None))
        32
        >>> import string
        >>> all_letters = string.ascii_letters + string.digits
        >>> all([c in all_letters for c in s.misc.random_string(128)])
        True
        >>> all([c in all_letters for c in s.misc.random_string(1024)])
        True
        """
        return self.get("random/string", params={"length": length}).get("random")

    def report(self) -> dict:
        """Returns the data sent in the anonymous usage report.

        >>> s = _syncthing()
        >>> report = s.misc.report()
        >>> 'version' in report
        True
        >>> 'longVersion' in report
        True
        >>> 'syncthing v' in report['longVersion']
        True
        """
        return self.get("report")
