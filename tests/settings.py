"""Test suite settings: the site's own plus test-only apps (their tables exist only in test databases)."""

from syncsite.settings import *  # noqa: F403
from syncsite.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.synctools.testapp"]
