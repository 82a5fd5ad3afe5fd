"""Pages of hosts, for people: the host list, a host's detail, the rule tester, accounts and runs.

Views parse the request and render; queries live in hosts.pages, writes (run now) go through hosts.services.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import format_html_join
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from hosts import pages, services
from hosts.models import CONDITION_TYPES, MATCH_TYPES, OPERATORS, CronjobRun
from syncsite.redact import scrub


def _query_without(request: HttpRequest, *drop: str) -> list[tuple[str, str]]:
    return [(k, v) for k, values in request.GET.lists() if k not in drop for v in values]


@login_required
def host_list(request: HttpRequest) -> HttpResponse:
    status, error, page = 200, "", None
    try:
        flt = pages.HostFilter.from_query(request.GET)
    except pages.FilterError as exc:
        flt, status, error = pages.HostFilter(), 400, str(exc)
    else:
        page = pages.host_page(flt, request.GET.get("page") or 1)
    base = _query_without(request, "page")
    hosts = list(page.object_list) if page else []
    for host in hosts:  # built here, not in a template loop: a page has hundreds of chips
        host.chips = format_html_join(
            " ",
            '<a class="chip" href="?{}" title="filter by {}">{}</a>',
            ((urlencode({"label": f"{k}={v}"}), f"{k}={v}", f"{k}={v}") for k, v in (host.labels or {}).items()),
        )
    context = {
        "flt": flt,
        "error": error,
        "page": page,
        "hosts": hosts,
        "accounts": pages.account_names(),
        "label_terms": [f"{k}={v}" if v is not None else k for k, v in flt.labels] or [""],
        "page_query": urlencode(base),
        "sort_query": urlencode(_query_without(request, "page", "sort")),
        "sorts": list(pages.SORTS),
    }
    return render(request, "hosts/list.html", context, status=status)


@login_required
def host_detail(request: HttpRequest, name: str) -> HttpResponse:
    detail = pages.host_detail(name)
    if detail is None:
        raise Http404(f"No host named {name}.")
    host = detail["host"]
    phases: dict[str, list[dict]] = {}
    for row in detail["rows"]:
        phases.setdefault(row["phase"], []).append(row)
    result = detail["result"]
    context = {
        **detail,
        "phases": phases,
        "attributes": sorted(result["all"].items()),
        "filtered": set(result["filtered"]),
        "labels": sorted((host.labels or {}).items()),
        "inventory": sorted((host.inventory or {}).items()),
        "can_change": request.user.has_perm("hosts.change_host"),
        "can_delete": request.user.has_perm("hosts.delete_host"),
        "rule_choices": pages.rule_choices() if request.user.is_staff else [],
    }
    return render(request, "hosts/detail.html", context)


@login_required
def rule_tester(request: HttpRequest) -> HttpResponse:
    """Pick a host and a saved rule (a disabled draft too), or type a custom attribute rule: what it would match
    and change on the host. Nothing is saved."""
    hostname, choice = request.GET.get("host", "").strip()[:255], request.GET.get("rule", "")
    draft = pages.DraftRule(
        **{f: request.GET.get(f, getattr(pages.DraftRule, f, ""))[:500] for f in pages.DraftRule.__dataclass_fields__}
    )
    outcome, error, status = None, "", 200
    try:
        if hostname and request.GET.get("draft") == "1":
            outcome = pages.try_draft_rule(draft, hostname)
        elif hostname and choice:
            kind, _, pk = choice.partition(":")
            outcome = pages.try_rule(kind, int(pk), hostname)
    except ValidationError as exc:
        error, status = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()), 400
    except (ValueError, LookupError, pages.RuleError) as exc:
        error, status = str(exc), 400
    context = {
        "host": hostname,
        "rule": choice,
        "choices": pages.rule_choices(),
        "outcome": outcome,
        "error": error,
        "draft": draft,
        "operators": OPERATORS,
        "match_types": MATCH_TYPES,
        "condition_types": CONDITION_TYPES,
    }
    return render(request, "hosts/rule_tester.html", context, status=status)


@login_required
def accounts(request: HttpRequest) -> HttpResponse:
    context = {
        "accounts": pages.accounts_overview(),
        "jobs": services.cronjob_status(),
        "runs": pages.recent_runs(),
        "can_run": request.user.is_staff,
    }
    return render(request, "hosts/accounts.html", context)


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A run's log and error, without credentials (scrubbed as the API shows them)."""
    run = get_object_or_404(CronjobRun, pk=pk)
    return render(request, "hosts/run.html", {"run": run, "log": scrub(run.log), "traceback": scrub(run.traceback)})


@require_POST
@login_required
def run_now(request: HttpRequest) -> HttpResponse:
    """Queue a cronjob through the task queue, as the API's run action does: staff only (cronjobs change what runs)."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff may start a run.")
    job, account = request.POST.get("job", "")[:200], request.POST.get("account", "")[:200] or None
    try:
        services.queue_cronjob(job, account)
    except LookupError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{job} queued{f' for {account}' if account else ''}.")
    return redirect("hosts:accounts")
