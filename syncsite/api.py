"""API views that belong to no single app: who am I, and the task schedules."""

from __future__ import annotations

from typing import Any

from django_q.models import Schedule
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.EmailField()
    is_staff = serializers.BooleanField()
    is_superuser = serializers.BooleanField()


class MeView(APIView):
    """Who the presented credentials belong to: the quickest way for a client to check its token."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class ScheduleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Schedule
        fields = [
            "id",
            "name",
            "func",
            "args",
            "kwargs",
            "schedule_type",
            "minutes",
            "cron",
            "repeats",
            "next_run",
            "cluster",
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        schedule_type = attrs.get("schedule_type", getattr(self.instance, "schedule_type", Schedule.ONCE))
        if schedule_type == Schedule.CRON:
            from croniter import croniter

            cron = attrs.get("cron", getattr(self.instance, "cron", None))
            if not cron or not croniter.is_valid(cron):
                raise serializers.ValidationError({"cron": f"{cron!r} is not a valid cron expression."})
        if schedule_type == Schedule.MINUTES and not attrs.get("minutes", getattr(self.instance, "minutes", None)):
            raise serializers.ValidationError({"minutes": "A MINUTES schedule needs a number of minutes."})
        return attrs


class ScheduleViewSet(viewsets.ModelViewSet):
    """django-q2 schedules: what runs when. Staff only, because a schedule runs code."""

    queryset = Schedule.objects.order_by("id")
    serializer_class = ScheduleSerializer
    permission_classes = [IsAdminUser]
    filterset_fields = ["func", "schedule_type"]
    search_fields = ["name", "func"]
