"""Monitoring pages for people: where every file is, site by site, and how each site's agent is doing."""

from __future__ import annotations

import json

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode

from tracker import monitoring, services


class FilterForm(forms.Form):
    prefix = forms.CharField(required=False, max_length=4096, label="Path prefix")
    site = forms.ChoiceField(required=False, label="Site")
    state = forms.ChoiceField(
        required=False,
        label="State at site",
        choices=[("", "any"), *[(s, "not wanted" if s == "unwanted" else s) for s in monitoring.STATES]],
    )
    after = forms.CharField(required=False, max_length=4096, widget=forms.HiddenInput)

    def __init__(self, *args, sites: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [("", "all sites"), *[(s, s) for s in sites]]

    def clean_prefix(self) -> str:
        prefix = self.cleaned_data.get("prefix") or "/"
        if not prefix.startswith("/"):
            raise forms.ValidationError("A path starts with /.")
        return prefix

    def clean(self) -> dict:
        data = super().clean()
        if data.get("state") and not data.get("site"):
            self.add_error("state", "Choose a site to filter by state.")
        return data


@login_required
def index(request: HttpRequest) -> HttpResponse:
    site_names = services.sites()
    form = FilterForm(request.GET or None, sites=site_names)
    rows: list[dict] = []
    next_after = None
    site = state = ""
    if not form.is_bound or form.is_valid():
        data = form.cleaned_data if form.is_bound else {}
        site, state = data.get("site") or "", data.get("state") or ""
        rows, next_after = monitoring.file_page(
            data.get("prefix") or "/",
            site or None,
            state or None,
            data.get("after") or None,
            actor=services.actor_for(request.user),
        )
    columns = [site] if site else site_names
    everywhere = services.sync_everywhere()
    table = [
        {
            "id": node["_id"],
            "node": node,
            "time": monitoring.format_ms(node.get("time")),
            "cells": [monitoring.cell(node, column, everywhere) for column in columns],
        }
        for node in rows
    ]
    next_url = None
    if next_after:
        query = {k: v for k, v in request.GET.items() if k != "after"}
        next_url = "?" + urlencode({**query, "after": next_after})
    context = {
        "form": form,
        "columns": columns,
        "table": table,
        "next_url": next_url,
        "first_url": "?" + urlencode({k: v for k, v in request.GET.items() if k != "after"}),
        "paged": bool(request.GET.get("after")),
        "summaries": monitoring.site_summaries(site_names, services.actor_for(request.user)),
        "tracked_files": monitoring.tracked_files(),
        "page_size": monitoring.PAGE_SIZE,
    }
    return render(request, "tracker/index.html", context)


@login_required
def file_detail(request: HttpRequest) -> HttpResponse:
    node_id = request.GET.get("id", "")
    node = services.read_nodes([node_id], services.actor_for(request.user))[0] if node_id else None
    if node is None or not str(node.get("_id", "")).startswith("/"):
        raise Http404("No such file is tracked.")
    everywhere = services.sync_everywhere()
    children = services.children_of(node_id)
    context = {
        "node": node,
        "node_id": node["_id"],
        "cells": [monitoring.cell(node, site, everywhere) for site in services.sites()],
        "keys": [(key, json.dumps(node[key])) for key in sorted(node) if key != "_id"],
        "children": [
            {
                "id": child.get("_id"),
                "time": monitoring.format_ms(child.get("time")),
                "node": child,
                "extra": json.dumps(
                    {k: v for k, v in child.items() if k not in {"_id", "#parent", "time", "author", "comment"}}
                ),
            }
            for child in children
        ],
    }
    return render(request, "tracker/file.html", context)
