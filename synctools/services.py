"""The only door into synctools: other apps and the views call these functions, never the models directly."""

from __future__ import annotations


def dashboard_cards() -> list[dict]:
    """Counts for the home page: {"key", "title", "count", "url", "note"} per card."""
    return []


def dashboard_sections() -> list[dict]:
    """Extra home page sections: {"template", "data"} each."""
    return []
