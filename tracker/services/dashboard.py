"""The tracker's cards on the home page."""

from __future__ import annotations

from tracker.models import FILE_KINDS, Node
from tracker.services.sitestate import sites


def dashboard_cards() -> list[dict]:
    """Counts for the home page: {"key", "title", "count", "url", "note"} per card."""
    files = Node.objects.filter(kind__in=FILE_KINDS).count()
    site_names = sites()
    return [
        {
            "key": "tracker-files",
            "title": "Tracked files",
            "count": files,
            "url": "/admin/tracker/node/?kind__exact=file",
            "note": f"{len(site_names)} site{'s' if len(site_names) != 1 else ''}",
        }
    ]


def dashboard_sections() -> list[dict]:
    """Extra home page sections: {"template", "data"} each."""
    return []
