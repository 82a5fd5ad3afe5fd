"""The Syncthing bridge tasks a django-q2 schedule may run, with their arguments (see syncsite.schedules)."""

from __future__ import annotations

from rest_framework import serializers

from syncsite.schedules import register_task


class ListenArguments(serializers.Serializer):
    seconds = serializers.IntegerField(min_value=1, max_value=3600, required=False, allow_null=True)


def register() -> None:
    # exclusive: two listeners would hand on the same events twice; two refreshes would race on the same rows
    register_task("syncthing_bridge.tasks.refresh_all", label="Syncthing: refresh every instance", exclusive=True)
    register_task(
        "syncthing_bridge.tasks.listen", label="Syncthing: tail events", arguments=ListenArguments, exclusive=True
    )
