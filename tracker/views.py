"""Monitoring pages for people: where every file is, site by site, and how each site's agent is doing."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from syncsite.redact import redact_urls_in_text
from tracker import monitoring, permissions, services


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


def _live_base(request: HttpRequest) -> str:
    """The content alone for the page's live refresh (`?fragment=1`), else the whole page."""
    return "syncsite/fragment.html" if request.GET.get("fragment") == "1" else "base.html"


def _filtered_page(request: HttpRequest) -> dict:
    """The filter form, one keyset page of files and its per-site cells: what /tracker/ and the tree share."""
    site_names = monitoring.column_sites()
    query = {k: v for k, v in request.GET.items() if k != "fragment"}
    form = FilterForm(query or None, sites=site_names)
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
        next_url = "?" + urlencode({**{k: v for k, v in query.items() if k != "after"}, "after": next_after})
    return {
        "form": form,
        "site_names": site_names,
        "columns": columns,
        "table": table,
        "next_url": next_url,
        "first_url": "?" + urlencode({k: v for k, v in query.items() if k != "after"}),
        "paged": bool(query.get("after")),
        "page_size": monitoring.PAGE_SIZE,
        "live_url": "?" + urlencode({**query, "fragment": "1"}),
        "base_template": _live_base(request),
    }


@login_required
def index(request: HttpRequest) -> HttpResponse:
    context = _filtered_page(request)
    context["summaries"] = monitoring.site_summaries(context["site_names"], services.actor_for(request.user))
    context["tracked_files"] = monitoring.tracked_files()
    return render(request, "tracker/index.html", context)


@login_required
def tree(request: HttpRequest) -> HttpResponse:
    """The path tree: the folders above the prefix as breadcrumbs, then one keyset page of files under it, each
    path's folders linking one level down (same filters and pages as /tracker/)."""
    context = _filtered_page(request)
    prefix = (context["form"].cleaned_data.get("prefix") if context["form"].is_bound else "") or "/"
    crumbs, acc = [], "/"
    for part in [p for p in prefix.split("/") if p]:
        acc = f"{acc}{part}/"
        crumbs.append((part, acc))
    base = prefix if prefix.endswith("/") else prefix.rsplit("/", 1)[0] + "/"
    query = {k: v for k, v in request.GET.items() if k not in {"prefix", "after", "fragment"}}
    for row in context["table"]:
        rest = row["id"][len(base) :] if row["id"].startswith(base) else row["id"]
        parts, acc, links = rest.split("/"), base, []
        for part in parts[:-1]:
            acc = f"{acc}{part}/"
            links.append((part, "?" + urlencode({**query, "prefix": acc})))
        row["folders"], row["name"] = links, parts[-1]
    context.update({"prefix": prefix, "crumbs": crumbs, "crumb_query": urlencode(query)})
    return render(request, "tracker/tree.html", context)


def _file_url(node_id: str) -> str:
    return reverse("tracker:file") + "?" + urlencode({"id": node_id})


def _may(check) -> bool:
    """Whether the permission matrix lets the actor do it (the same check the write will make)."""
    try:
        check()
    except services.TrackerError:
        return False
    return True


@login_required
def file_detail(request: HttpRequest) -> HttpResponse:
    node_id = request.GET.get("id", "")
    actor = services.actor_for(request.user)
    node = services.read_nodes([node_id], actor)[0] if node_id else None
    if node is None or not str(node.get("_id", "")).startswith("/"):
        raise Http404("No such file is tracked.")
    everywhere = services.sync_everywhere()
    children = services.children_of(node_id)
    kind = permissions.kind_of(node_id, monitoring.kind_of(node_id))
    holder = node.get("lock")
    sites = []
    for site in monitoring.column_sites():
        c = monitoring.cell(node, site, everywhere)
        sites.append(
            {
                "cell": c,
                "synced": node.get(f"synced_{site}"),
                "syncing": node.get(f"syncing_{site}"),
                "attempt": node.get(f"syncLastAttempt_{site}"),
                "error_code": node.get(f"syncError_{site}"),
                "error_text": redact_urls_in_text(str(node.get(f"syncErrorMessage_{site}") or "")),
                "conflicts": node.get(f"syncConflict_{site}") or [],
            }
        )
    shown = {"_id", "time", "file_size", "file_mtime", "origin", "author", "comment", "lock"}
    context = {
        "node": node,
        "node_id": node["_id"],
        "sites": sites,
        "keys": [(key, json.dumps(node[key])) for key in sorted(node) if key not in shown],
        "holder": holder,
        "may_lock": holder is None
        and _may(lambda: permissions.check_lock(actor, permissions.Op.LOCK, node_id, kind, node)),
        "may_unlock": holder is not None
        and permissions.may_remove_lock(actor, holder)
        and _may(lambda: permissions.check_lock(actor, permissions.Op.UNLOCK, node_id, kind, node)),
        "may_comment": _may(lambda: permissions.check_comment(actor, ["#parent", "comment"], [(node_id, kind)])),
        "children": [
            {
                "id": child.get("_id"),
                "node": child,
                "extra": json.dumps(
                    {k: v for k, v in child.items() if k not in {"_id", "#parent", "time", "author", "comment"}}
                ),
            }
            for child in children
        ],
    }
    return render(request, "tracker/file.html", context)


@require_POST
@login_required
def file_action(request: HttpRequest) -> HttpResponse:
    """Lock, unlock or comment a file from its page: through tracker.services, which asks the permission matrix."""
    node_id = request.POST.get("id", "")[:4096]
    action = request.POST.get("action", "")
    actor = services.actor_for(request.user)
    try:
        if action == "lock":
            services.lock_nodes([node_id], actor)
            messages.success(request, "Locked.")
        elif action == "unlock":
            if services.unlock_nodes([node_id], actor):
                messages.success(request, "Unlocked.")
            else:
                messages.error(request, "Not unlocked: the file is not locked by you.")
        elif action == "comment":
            text = request.POST.get("comment", "").strip()
            if not text:
                messages.error(request, "A comment needs some text.")
            elif len(text) > 4000:
                messages.error(request, "A comment is at most 4000 characters.")
            else:
                result = services.comment_nodes({"#parent": node_id, "comment": text}, actor)[0]
                if isinstance(result, services.TrackerError):
                    raise result
                messages.success(request, "Comment added.")
        else:
            messages.error(request, "Unknown action.")
    except services.Forbidden as exc:
        return render(request, "403.html", {"exception": str(exc)}, status=403)
    except services.TrackerError as exc:
        messages.error(request, str(exc))
    return redirect(_file_url(node_id))
