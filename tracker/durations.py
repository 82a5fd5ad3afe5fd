"""Token lifetimes as damas-core's clients send them: seconds, or a duration in the `ms` package's format.

damas' signIn passes `expiresIn` to jsonwebtoken, which reads strings with the `ms` package ("30m",
"12h", "1d", "2w", "1.5h", "90 minutes"). Plain numbers are seconds here, as TRACKER.md documents; `0` means
a token that never expires.
"""

from __future__ import annotations

import math
import re

from tracker.services.errors import InvalidInput

MAX_TOKEN_SECONDS = 10 * 366 * 24 * 3600
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365.25 * 86400,
}
_UNITS = {
    "milliseconds": "ms",
    "millisecond": "ms",
    "msecs": "ms",
    "msec": "ms",
    "ms": "ms",
    "seconds": "s",
    "second": "s",
    "secs": "s",
    "sec": "s",
    "s": "s",
    "minutes": "m",
    "minute": "m",
    "mins": "m",
    "min": "m",
    "m": "m",
    "hours": "h",
    "hour": "h",
    "hrs": "h",
    "hr": "h",
    "h": "h",
    "days": "d",
    "day": "d",
    "d": "d",
    "weeks": "w",
    "week": "w",
    "w": "w",
    "years": "y",
    "year": "y",
    "yrs": "y",
    "yr": "y",
    "y": "y",
}
_DURATION = re.compile(r"^(\d*\.?\d+) *([a-z]*)$", re.IGNORECASE)


def parse_expires_in(value: object, *, field: str = "expiresIn") -> int:
    """Seconds of a token lifetime (0 = never); InvalidInput for anything else, negative or over ten years.

    A positive lifetime under one second counts as one second, so it never reads as "never".
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f"{field} must be seconds or a duration such as 30m, 12h, 1d, 2w (0 = never).")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value.strip()) if len(value) <= 32 else None
        unit = _UNITS.get(match[2].lower() if match[2] else "s") if match else None
        if match is None or unit is None:
            raise InvalidInput(
                f"{field} must be seconds or a duration such as 30m, 12h, 1d, 2w (0 = never); got {value[:40]!r}."
            )
        seconds = float(match[1]) * _UNIT_SECONDS[unit]
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_TOKEN_SECONDS:
        raise InvalidInput(f"{field} must be between 0 (never) and {MAX_TOKEN_SECONDS} seconds (ten years).")
    if seconds == 0:
        return 0
    return max(1, math.floor(seconds))
