"""Task functions the worker tests enqueue (a real `manage.py qcluster` imports them by dotted path)."""

from __future__ import annotations

import os
import time


def record_and_sleep(path: str, seconds: float) -> str:
    """Append `start` when it begins and `done` when it finishes, so a test can count runs and completions."""
    with open(path, "a") as handle:
        handle.write(f"start {os.getpid()}\n")
    time.sleep(seconds)
    with open(path, "a") as handle:
        handle.write("done\n")
    return "slept"
