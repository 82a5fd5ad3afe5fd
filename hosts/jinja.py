"""Jinja rendering for rules and plugins: one sandboxed environment, compiled templates cached by source.

Templates come from admin-edited rules, so they run sandboxed (no attribute access to internals).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


def template_renderer(template: Any) -> Callable[[Mapping[str, Any]], str]:
    """`render_jinja(template, **variables)` as a function, for one template rendered once per record of a run.

    The template is compiled and its globals are read once; each call builds one context from the
    variables (`Template.render` copies them three times and walks the globals' ChainMap per call,
    which dominated a 100,000-record import). Same output and errors as `render_jinja`.
    """
    if not isinstance(template, str) or not is_template(template):
        text = render_jinja(template)
        return lambda variables: text
    try:
        compiled = compile_template(template)
    except TemplateError as exc:
        error = ValueError(f"Jinja template {template!r} failed: {exc}")
        error.__cause__ = exc

        def fail(variables: Mapping[str, Any]) -> str:
            raise error  # at render time, as render_jinja: a run without records renders nothing

        return fail
    flat_globals = dict(compiled.globals)  # a ChainMap over the environment's globals: flattened once
    blocks, name, root, concat = compiled.blocks, compiled.name, compiled.root_render_func, _ENV.concat
    make_context = _ENV.context_class

    def render(variables: Mapping[str, Any]) -> str:
        context = make_context(_ENV, {**flat_globals, **variables}, name, blocks, globals=flat_globals)
        try:
            return concat(root(context))
        except TemplateError as exc:
            raise ValueError(f"Jinja template {template!r} failed: {exc}") from exc

    return render
