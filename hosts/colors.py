"""Terminal colour codes for plugin output (syncerapi.v1.cc): empty when NO_COLOR is set or stdout is no terminal."""

import os
import sys


class ColorCodes:
    HEADER = "\033[95m"
    OKBLUE = "\033[94m"
    OKCYAN = "\033[96m"
    OKGREEN = "\033[92m"
    WARNING = "\033[93m"
    FAIL = "\033[91m"
    ENDC = "\033[0m"
    BOLD = "\033[1m"
    UNDERLINE = "\033[4m"


class NoColorCodes(ColorCodes):
    HEADER = OKBLUE = OKCYAN = OKGREEN = WARNING = FAIL = ENDC = BOLD = UNDERLINE = ""


def _wants_color() -> bool:
    return not os.environ.get("NO_COLOR") and hasattr(sys.stdout, "isatty") and sys.stdout.isatty()


cc = ColorCodes if _wants_color() else NoColorCodes
