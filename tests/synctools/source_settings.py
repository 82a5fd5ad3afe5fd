"""Settings of the second (source) site the synctools tests start as a real process with its own database."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.synctools.urls"
SYNCTOOLS_ROUTE_MODULES = ["tests.synctools.routes"]
# Exact increments in the tests (the overlap itself is tested in-process).
SYNCTOOLS_CURSOR_OVERLAP = 0
