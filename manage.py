#!/usr/bin/env python
"""Django's command-line entry point for Syncsite."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncsite.settings")
    if "--no-color" in sys.argv[2:] and len(sys.argv) > 1 and sys.argv[1] in {"syncer", "hosts"}:
        sys.argv.remove("--no-color")  # the click commands take it here: every command accepts it
        os.environ["NO_COLOR"] = "1"
    if os.environ.get("NO_COLOR"):  # https://no-color.org: Django's own styles off too
        os.environ["DJANGO_COLORS"] = "nocolor"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
