"""API views that belong to no single app: who am I, and the task schedules."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django_q.models import Schedule
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.permissions import DjangoModelPermissions, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from syncsite import schedules


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.EmailField(allow_blank=True)  # "" for an account without one (Django's default)
    is_staff = serializers.BooleanField()
    is_superuser = serializers.BooleanField()


class MeView(APIView):
    """Who the presented credentials belong to: the quickest way for a client to check its token."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)


def _arguments_field(help_text: str) -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=schedules.ARGUMENTS_MAX_LENGTH,
        help_text=help_text,
    )


class ScheduleSerializer(serializers.ModelSerializer):
    """A schedule may only name a registered task (syncsite.schedules) with arguments that task accepts."""

    args = _arguments_field("Positional arguments as a Python literal; stored as the validated keyword arguments.")
    kwargs = _arguments_field("Keyword arguments as a dict literal or name=value pairs.")

    class Meta:
        model = Schedule
        fields = ["id", *schedules.EDITABLE_FIELDS]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        def current(name: str, default: Any = None) -> Any:
            return attrs[name] if name in attrs else getattr(self.instance, name, default)

        try:
            schedules.validate_timing(
                current("schedule_type", Schedule.ONCE), cron=current("cron"), minutes=current("minutes")
            )
            if "args" in attrs or "kwargs" in attrs:
                args, kwargs = attrs.get("args"), attrs.get("kwargs")
            else:
                args, kwargs = current("args"), current("kwargs")
            attrs["args"], attrs["kwargs"] = schedules.clean_schedule_call(current("func"), args, kwargs)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


class SchedulePermissions(DjangoModelPermissions):
    """django-q2's model permissions, reading included: a schedule runs code, so seeing them is a right too."""

    perms_map = {**DjangoModelPermissions.perms_map, "GET": ["%(app_label)s.view_%(model_name)s"]}


class ScheduleViewSet(viewsets.ModelViewSet):
    """django-q2 schedules: what runs when. Staff with the Schedule model permissions only; registered tasks only."""

    queryset = Schedule.objects.order_by("id")
    serializer_class = ScheduleSerializer
    permission_classes = [IsAdminUser, SchedulePermissions]
    filterset_fields = ["func", "schedule_type"]
    search_fields = ["name", "func"]
