"""Jinja rendering for rules and plugins: one sandboxed environment, compiled templates cached by source.

Templates come from admin-edited rules, so they run sandboxed (no attribute access to internals).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


def is_template(text: Any) -> bool:
    """Only strings with Jinja markers are rendered; plain text stays plain (and fast)."""
    return isinstance(text, str) and ("{{" in text or "{%" in text or "{#" in text)


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Template:
    return _ENV.from_string(source)


def render_jinja(template: Any, **kwargs: Any) -> str:
    """Render a template string with the given variables; non-template text is returned as is.

    Raises ValueError with the template in the message when it cannot be compiled or rendered.
    """
    if not isinstance(template, str):
        return "" if template is None else str(template)
    if not is_template(template):
        return template
    try:
        return compile_template(template).render(**kwargs)
    except TemplateError as exc:
        raise ValueError(f"Jinja template {template!r} failed: {exc}") from exc
