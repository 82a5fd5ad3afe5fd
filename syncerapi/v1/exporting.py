"""syncerapi.v1.exporting: the shared base of exports to a remote system.

    from syncerapi.v1.exporting import plan_changes, chunked, delete_policy
    from syncerapi.v1.exporting import Change, ExportPlan, ExportResult, ExportError

Read the target once, `plan_changes` against the desired state (create / update / delete under the
account's stale limit / unchanged), write the plan in `chunked` bulk requests, and record the run with
`ExportResult.log_into(plugin)`.
"""

from hosts.exporting import Change, ExportError, ExportPlan, ExportResult, chunked, delete_policy, plan_changes

__all__ = ["Change", "ExportError", "ExportPlan", "ExportResult", "chunked", "delete_policy", "plan_changes"]
