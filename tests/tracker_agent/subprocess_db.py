"""Run in a child process against its own database (DATABASE_URL): seed volumes and files, or dump nodes.

Used by the kill test, whose agent is a real separate process that must share the database with the test.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> None:
    import django

    django.setup()
    from tracker import services

    command, payload = argv[1], json.loads(argv[2])
    if command == "seed":
        for volume in payload["volumes"]:
            services.create_volume(volume.pop("name"), **volume)
        for item in payload["files"]:
            services.publish(item.pop("_id"), author="alice", **item)
        print(json.dumps({"ok": True}))
    elif command == "seed_many":
        for volume in payload["volumes"]:
            services.create_volume(volume.pop("name"), **volume)
        files = payload["files"]
        for start in range(0, len(files), 1000):
            assert all(services.publish_many(files[start : start + 1000], author="alice"))
        print(json.dumps({"ok": True}))
    elif command == "update_volume":
        services.update_volume(payload["site"], payload["changes"])
        print(json.dumps({"ok": True}))
    elif command == "dump":
        print(
            json.dumps(
                {
                    "nodes": services.get_nodes(payload["paths"]),
                    "volume": services.get_volume(payload["site"]),
                    "now": services.now_ms(),
                }
            )
        )
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv)
