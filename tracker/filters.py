"""django-filter sets for the tracker's REST views."""

from __future__ import annotations

import django_filters

from tracker.models import Node, NodeKind


class NodeFilter(django_filters.FilterSet):
    prefix = django_filters.CharFilter(field_name="node_id", lookup_expr="startswith", label="_id starts with")
    id = django_filters.CharFilter(field_name="node_id", label="_id")
    kind = django_filters.ChoiceFilter(choices=NodeKind.choices)
    parent = django_filters.CharFilter(field_name="parent", label="#parent")
    origin = django_filters.CharFilter()
    deleted = django_filters.BooleanFilter()
    time_after = django_filters.NumberFilter(field_name="time", lookup_expr="gte", label="time >= (epoch ms)")
    time_before = django_filters.NumberFilter(field_name="time", lookup_expr="lt", label="time < (epoch ms)")
    min_priority = django_filters.NumberFilter(field_name="sync_priority", lookup_expr="gte")

    class Meta:
        model = Node
        fields = ["prefix", "id", "kind", "parent", "origin", "deleted", "time_after", "time_before", "min_priority"]
