"""The dashboard's registry: each app says, in its AppConfig.ready(), which functions give its home page cards.

A card is {"key", "title", "count", "url", "note"}; a section is {"template", "data"}, rendered with the
section's own template. The dashboard asks these functions, never the apps' models, and shows the apps in
INSTALLED_APPS order whatever order they registered in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps


@dataclass(frozen=True)
class DashboardEntry:
    cards: Callable[[], list[dict]]
    sections: Callable[[], list[dict]]


_entries: dict[str, DashboardEntry] = {}


def _none() -> list[dict]:
    return []


def register(
    app_label: str,
    *,
    cards: Callable[[], list[dict]] = _none,
    sections: Callable[[], list[dict]] = _none,
) -> None:
    """Offer an app's cards and sections (registering an app again replaces its entry)."""
    _entries[app_label] = DashboardEntry(cards=cards, sections=sections)


def unregister(app_label: str) -> None:
    _entries.pop(app_label, None)


def registered() -> list[str]:
    """The labels of the apps that offer cards, in INSTALLED_APPS order."""
    order = [config.label for config in apps.get_app_configs()]
    return sorted(_entries, key=lambda label: order.index(label) if label in order else len(order))


def collect() -> tuple[list[dict], list[dict]]:
    """Every registered app's cards and sections, app by app."""
    cards: list[dict] = []
    sections: list[dict] = []
    for label in registered():
        entry = _entries[label]
        cards.extend(entry.cards())
        sections.extend(entry.sections())
    return cards, sections


def collect_cards() -> list[dict]:
    """Only the cards (what /metrics exports), without computing the sections."""
    return [card for label in registered() for card in _entries[label].cards()]
