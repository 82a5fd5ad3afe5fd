"""What a django-q2 schedule may run: an allow-list of registered tasks, each with its declared arguments.

A schedule runs code in the worker with the worker's rights, so a schedule may only name a task an app
registered here (in its `AppConfig.ready()`), and its arguments must pass the serializer the task
declares. The REST API, the admin and the scheduler itself (a `pre_enqueue` guard) ask this one
registry; the cron-expression check lives here too so every schedule form uses the same one.
"""

from __future__ import annotations

import ast
import logging
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import serializers

logger = logging.getLogger(__name__)

# Bounds on the Python-literal text a schedule stores for its arguments (django-q2's format).
ARGUMENTS_MAX_LENGTH = 10_000

CRON = "C"
MINUTES = "I"

# The Schedule fields the API and the admin let users set (django-q2's `hook`, `task` and
# `intended_date_kwarg` stay out of reach: a hook is another function call).
EDITABLE_FIELDS = [
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


class TaskRefused(RuntimeError):
    """Raised in the worker instead of running a scheduled function that is not allowed."""


@dataclass(frozen=True)
class SchedulableTask:
    """A dotted path a schedule may name, and the serializer its arguments must pass (None: no arguments)."""

    path: str
    label: str
    arguments: type[serializers.Serializer] | None = None
    # True: runs never overlap; an argument's name: runs with the same value of it never overlap (a lease each)
    exclusive: bool | str = False

    def argument_names(self) -> list[str]:
        """Parameter names in declaration order: positional arguments bind to them in this order."""
        if self.arguments is None:
            return []
        return [name for name, field in self.arguments().fields.items() if not field.read_only]

    def clean_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The validated keyword arguments the worker will pass; ValidationError for anything else."""
        names = self.argument_names()
        if len(args) > len(names):
            raise ValidationError(
                {"args": f"{self.path} takes at most {len(names)} positional argument(s), got {len(args)}."}
            )
        data = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if not isinstance(key, str):
                raise ValidationError({"kwargs": "Argument names must be strings."})
            if key in data:
                raise ValidationError({"kwargs": f"{key!r} is given both by position and by name."})
            data[key] = value
        unknown = sorted(set(data) - set(names))
        if unknown:
            allowed = ", ".join(names) or "none"
            raise ValidationError(
                {"kwargs": f"{self.path} takes no argument {', '.join(unknown)} (allowed: {allowed})."}
            )
        if self.arguments is None:
            return {}
        serializer = self.arguments(data=data)
        if not serializer.is_valid():
            raise ValidationError({"kwargs": _flatten_errors(serializer.errors)})
        return dict(serializer.validated_data)


_REGISTRY: dict[str, SchedulableTask] = {}


def register_task(
    path: str,
    *,
    label: str = "",
    arguments: type[serializers.Serializer] | None = None,
    exclusive: bool | str = False,
) -> SchedulableTask:
    """Allow schedules to run the function at `path` with arguments that pass `arguments` (a DRF serializer).

    The serializer's field names are the function's parameter names; positional arguments bind to
    them in declaration order. Registering the same path twice replaces the earlier entry.
    `exclusive`: every queued run (scheduled or not) runs under a task lease (`syncsite.taskqueue`), so two
    runs never overlap: True for one lease, or the name of the argument whose value names the lease.
    """
    if not path or "." not in path:
        raise ValueError(f"register_task needs a dotted path to a function, not {path!r}")
    if arguments is not None and not (isinstance(arguments, type) and issubclass(arguments, serializers.Serializer)):
        raise ValueError("arguments must be a rest_framework Serializer class")
    task = SchedulableTask(path=path, label=label or path, arguments=arguments, exclusive=exclusive)
    if isinstance(exclusive, str) and exclusive not in task.argument_names():
        raise ValueError(f"exclusive={exclusive!r} names no argument of {path}")
    _REGISTRY[path] = task
    return task


def unregister_task(path: str) -> None:
    _REGISTRY.pop(path, None)


def registered_tasks() -> dict[str, SchedulableTask]:
    return dict(sorted(_REGISTRY.items()))


def get_task(path: str) -> SchedulableTask:
    """The registered task at `path`; ValidationError naming the allowed ones otherwise."""
    task = _REGISTRY.get(path or "")
    if task is None:
        allowed = ", ".join(sorted(_REGISTRY)) or "none"
        raise ValidationError({"func": f"{path!r} is not a registered task (allowed: {allowed})."})
    return task


# --- arguments as django-q2 stores them (Python literals in text fields) -------------------------------------


def parse_args(text: str | None) -> tuple[Any, ...]:
    """A schedule's `args` text (a Python literal; a single value means one argument) as a tuple."""
    if text is None or not text.strip():
        return ()
    value = _literal(text, "args")
    return value if isinstance(value, tuple) else (value,)


def parse_kwargs(text: str | None) -> dict[str, Any]:
    """A schedule's `kwargs` text: a dict literal or `name=value, ...`, as django-q2's scheduler reads it."""
    if text is None or not text.strip():
        return {}
    try:
        value = _literal(text, "kwargs")
    except ValidationError:
        value = _keyword_literals(text)
    if not isinstance(value, dict):
        raise ValidationError({"kwargs": "kwargs must be a dict literal or name=value pairs."})
    return value


def _literal(text: str, field: str) -> Any:
    if len(text) > ARGUMENTS_MAX_LENGTH:
        raise ValidationError({field: f"{field} is longer than {ARGUMENTS_MAX_LENGTH} characters."})
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ValidationError({field: f"{field} is not a Python literal: {exc.__class__.__name__}."}) from exc


def _keyword_literals(text: str) -> dict[str, Any]:
    if len(text) > ARGUMENTS_MAX_LENGTH:
        raise ValidationError({"kwargs": f"kwargs is longer than {ARGUMENTS_MAX_LENGTH} characters."})
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        if not isinstance(call, ast.Call) or call.args:
            raise ValueError("not name=value pairs")
        if any(keyword.arg is None for keyword in call.keywords):
            raise ValueError("** is not allowed")
        return {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ValidationError({"kwargs": "kwargs must be a dict literal or name=value pairs."}) from exc


def clean_schedule_call(func: str, args: str | None, kwargs: str | None) -> tuple[str | None, str | None]:
    """Check a schedule's func and arguments against the registry; returns the (args, kwargs) texts to store.

    Arguments are stored as validated keyword arguments, so what runs is exactly what was checked.
    """
    task = get_task(func)
    cleaned = task.clean_arguments(parse_args(args), parse_kwargs(kwargs))
    if not cleaned:
        return None, None
    text = repr(cleaned)
    try:
        same = ast.literal_eval(text) == cleaned
    except (ValueError, SyntaxError):
        same = False
    if not same:  # a serializer field produced a value a schedule cannot store (e.g. a datetime)
        raise ValidationError({"kwargs": f"{func}: the arguments cannot be stored as Python literals."})
    return None, text


# --- timing ---------------------------------------------------------------------------------------------------


def validate_cron(expression: str | None) -> str:
    """A valid five-field cron expression, or ValidationError on `cron`."""
    from croniter import croniter

    if not expression or not croniter.is_valid(expression):
        raise ValidationError({"cron": f"{expression!r} is not a valid cron expression."})
    return expression


def validate_timing(schedule_type: str | None, *, cron: str | None, minutes: int | None) -> None:
    """A CRON schedule needs a valid expression, a MINUTES schedule a number of minutes."""
    if schedule_type == CRON:
        validate_cron(cron)
    if schedule_type == MINUTES and not minutes:
        raise ValidationError({"minutes": "A MINUTES schedule needs a number of minutes."})


# --- run time: the scheduler's guard --------------------------------------------------------------------------


def refuse(func: str, reason: str) -> None:
    """What the worker runs instead of a refused scheduled function: a failure the admin lists."""
    raise TaskRefused(f"{func} was not run: {reason}")


def guard_enqueued_task(sender: Any, task: dict[str, Any], **kwargs: Any) -> None:
    """django-q2 `pre_enqueue` receiver: a function a schedule names must be registered, and no hook is set.

    Schedules written before the allow-list (or straight into the database) thus fail visibly in
    the worker instead of running; tasks that code enqueues itself are not schedules and pass.
    """
    from django_q.models import Schedule

    func = task.get("func")
    hook = task.get("hook")
    reason = ""
    if isinstance(func, str) and func not in _REGISTRY and Schedule.objects.filter(func=func).exists():
        reason = "it is not a registered task"
    elif isinstance(hook, str) and Schedule.objects.filter(hook=hook).exists():
        reason = f"schedules may not set a hook ({hook})"
    if not reason:
        _run_exclusive_if_registered(task)
        return
    logger.error("refused scheduled task %s: %s", func, reason)
    task["func"] = f"{__name__}.refuse"
    task["args"] = (str(func), reason)
    task["kwargs"] = {}
    task.pop("hook", None)


def _run_exclusive_if_registered(task: dict[str, Any]) -> None:
    """Queue a task registered as exclusive as `syncsite.taskqueue.run_exclusive`, which runs it under its lease."""
    func = task.get("func")
    registered = _REGISTRY.get(func) if isinstance(func, str) else None
    if registered is None or not registered.exclusive:
        return
    args = tuple(task.get("args") or ())
    kwargs = dict(task.get("kwargs") or {})
    key = None
    if isinstance(registered.exclusive, str):
        names = registered.argument_names()
        position = names.index(registered.exclusive)
        key = args[position] if position < len(args) else kwargs.get(registered.exclusive)
    task["func"] = "syncsite.taskqueue.run_exclusive"
    task["args"] = (func, key, *args)


def _flatten_errors(errors: Any, prefix: str = "") -> list[str]:
    if isinstance(errors, dict):
        return [message for key, value in errors.items() for message in _flatten_errors(value, f"{prefix}{key}: ")]
    if isinstance(errors, list):
        return [message for item in errors for message in _flatten_errors(item, prefix)]
    return [f"{prefix}{errors}"]
