"""Test suite settings: the site's own plus test-only apps (their tables exist only in test databases)."""

import os
import tempfile
from pathlib import Path

from syncsite.settings import *  # noqa: F403
from syncsite.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.synctools.testapp"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and not DATABASES["default"]["TEST"].get("NAME"):
    # A file, as the site's own database is (pytest-django adds each xdist worker's suffix to the name), not
    # Django's shared-cache memory database: there a thread that writes while another one does fails at once
    # with "database table is locked" instead of waiting for its turn (the OPTIONS timeout).
    DATABASES["default"]["TEST"]["NAME"] = str(Path(tempfile.gettempdir()) / f"syncsite-test-{os.getpid()}.sqlite3")

# Messages sent by the process that raises the event, so each test sees them at once; the queued path has its
# own tests (tests/ops/test_notification_queue.py).
NOTIFICATIONS_DELIVERY = "inline"
