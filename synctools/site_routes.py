"""Routes for Syncsite's own data, so a second site can replicate this one (mounted under /sync/).

Only imported when `SYNCTOOL_API_TOKEN` is set: without a token nothing is served or recorded.
"""

from synctools.routing import Route

route = Route()
route.app("hosts", "hosts")
route.app("tracker", "tracker")
