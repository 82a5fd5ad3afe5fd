"""JSON numbers of tracker nodes: what the door accepts, and how stored numbers are read back.

damas-core's Node server represents integers exactly only within ±(2^53 - 1) and has no NaN or
Infinity in JSON, so those are the numbers a node may hold. PostgreSQL's jsonb keeps numbers as
`numeric` and prints a float such as 1e308 with all its digits, which Python reads back as a huge
integer; `NodeJSONDecoder` turns such integers back into the float they were, so every reader
(the API, the admin, the replication stream) writes the shortest form again.
"""

from __future__ import annotations

import json
import math
import sys

MAX_SAFE_INTEGER = 2**53 - 1
_MAX_SAFE_DIGITS = len(str(MAX_SAFE_INTEGER))


class NumberOutOfRange(ValueError):
    """A JSON number the tracker does not store (beyond ±(2^53 - 1), NaN, ±Infinity)."""


def strict_int(text: str) -> int:
    """`parse_int` hook of the door: integers outside ±(2^53 - 1) are refused."""
    digits = text.lstrip("-")
    if len(digits) > _MAX_SAFE_DIGITS or abs(int(text)) > MAX_SAFE_INTEGER:
        raise NumberOutOfRange(
            f"integer {text[:40]}{'...' if len(text) > 40 else ''} is outside ±(2^53 - 1); send it as a string"
        )
    return int(text)


def strict_float(text: str) -> float:
    """`parse_float` hook of the door: only finite floats."""
    value = float(text)
    if not math.isfinite(value):
        raise NumberOutOfRange(f"number {text[:40]} is too large for a double")
    return value


def refuse_constant(name: str) -> None:
    """`parse_constant` hook of the door: NaN, Infinity and -Infinity are not JSON."""
    raise NumberOutOfRange(f"{name} is not a JSON number")


def stored_int(text: str) -> int | float:
    """`parse_int` hook of reads: an integer beyond ±(2^53 - 1) was stored as a float (numeric prints it in
    full), so it is read as that float; values too large for a double (old data) are clamped to the largest."""
    digits = text.lstrip("-")
    if len(digits) <= _MAX_SAFE_DIGITS:
        value = int(text)
        if abs(value) <= MAX_SAFE_INTEGER:
            return value
    value = float(text)
    if math.isinf(value):
        return math.copysign(sys.float_info.max, value)
    return value


def stored_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        return math.copysign(sys.float_info.max, value)
    return value


class NodeJSONDecoder(json.JSONDecoder):
    """Decoder of `Node.data`: numbers come back in the form the client sent (shortest float repr)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("parse_int", stored_int)
        kwargs.setdefault("parse_float", stored_float)
        super().__init__(*args, **kwargs)
