"""How the pages show times, sizes and durations: the site's time zone in human form, exact value on hover.

`{{ value|when }}` takes an aware datetime, an ISO string or epoch milliseconds (the tracker's wire times) and
renders a `<time>` element whose text is human ("3 min ago", or the local date for older times) and whose title
is the exact local time with its zone; `{{ n|size }}` renders bytes in KiB/MiB/GiB; `{{ s|duration }}` rounds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

register = template.Library()

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def as_datetime(value: Any) -> dt.datetime | None:
    """An aware datetime from a datetime, an ISO string or epoch milliseconds; None for anything else."""
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        parsed = parse_datetime(value)
        if parsed is not None:
            return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)
    return None


def human_time(moment: dt.datetime, now: dt.datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', 'in 2 min', else the local date and minute."""
    now = now or timezone.now()
    seconds = (now - moment).total_seconds()
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        amount = f"{round(seconds / 60)} min"
    elif seconds < 86400:
        amount = f"{round(seconds / 3600)} h"
    else:
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")
    return f"in {amount}" if ahead else f"{amount} ago"


def exact_time(moment: dt.datetime) -> str:
    """The local time to the second, with the zone's name (what a person hovering wants to see)."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z")


@register.filter
def when(value: Any) -> str:
    """A <time> element: human text, exact local time on hover, ISO in `datetime`; '-' when there is no time."""
    moment = as_datetime(value)
    if moment is None:
        return "-"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', moment.isoformat(), exact_time(moment), human_time(moment)
    )


@register.filter
def exact(value: Any) -> str:
    """The exact local time as plain text (for titles and tables that must not change as time passes)."""
    moment = as_datetime(value)
    return exact_time(moment) if moment else "-"


def format_size(value: Any) -> str:
    """Bytes in binary units with one decimal: 1536 -> '1.5 KiB'."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return "-"
    amount = float(value)
    for unit in _UNITS:
        if abs(amount) < 1024 or unit == _UNITS[-1]:
            return f"{int(amount)} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return "-"  # pragma: no cover


@register.filter
def size(value: Any) -> str:
    """Bytes in KiB/MiB/GiB, the exact count on hover."""
    text = format_size(value)
    if text == "-":
        return text
    return format_html('<span title="{} bytes">{}</span>', f"{int(float(value)):,}", text)


def format_duration(seconds: Any) -> str:
    """Rounded: '850 ms', '12.3 s', '4 min 5 s', '2 h 3 min'."""
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return "-"
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def duration(value: Any) -> str:
    return format_duration(value)
