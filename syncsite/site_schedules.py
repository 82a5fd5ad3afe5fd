"""Site wiring: schedulable tasks of apps that know only Django (synctools) and so cannot register themselves.

`api_token` is not a schedulable argument of `synctools.tasks.pull`: a schedule's arguments are stored
in clear, so a scheduled pull sends the configured SYNCTOOL_CLIENT_TOKEN.
"""

from __future__ import annotations

from rest_framework import serializers

from syncsite.schedules import register_task


class PullArguments(serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    clean = serializers.BooleanField(required=False)
    reset = serializers.BooleanField(required=False)
    images = serializers.BooleanField(required=False)
    incremental = serializers.BooleanField(required=False)
    api_url = serializers.URLField(max_length=2000, required=False, allow_null=True)
    media_url = serializers.URLField(max_length=2000, required=False, allow_null=True)


def register() -> None:
    # exclusive per URL: two pulls of one URL at once would both apply the same changes from the same cursor
    register_task("synctools.tasks.pull", label="Replication: pull a URL", arguments=PullArguments, exclusive="url")
