"""The tracker tasks a django-q2 schedule may run, with their arguments (see syncsite.schedules)."""

from __future__ import annotations

from rest_framework import serializers

from syncsite.schedules import register_task


def _known_site(value: str) -> str:
    from tracker import services

    if value not in services.sites():
        raise serializers.ValidationError(f"there is no volume named {value!r}.")
    return value


class AgentRoundArguments(serializers.Serializer):
    site = serializers.CharField(max_length=200, validators=[_known_site])


class AgentRoundsArguments(serializers.Serializer):
    sites = serializers.ListField(
        child=serializers.CharField(max_length=200, validators=[_known_site]),
        max_length=1000,
        required=False,
        allow_null=True,
    )


def register() -> None:
    register_task(
        "tracker.tasks.agent_round", label="Tracker agent: one round for a site", arguments=AgentRoundArguments
    )
    register_task(
        "tracker.tasks.agent_rounds", label="Tracker agent: a round for each local site", arguments=AgentRoundsArguments
    )
    register_task("tracker.tasks.check_health", label="Tracker: tell stale agents and files stuck in error")
    register_task("tracker.tasks.sweep_orphan_states", label="Tracker: delete state rows whose file is gone")
