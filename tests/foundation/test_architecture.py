"""The layers of docs/architecture.md, held to the source: an import graph over every module of the project.

Every .py file of the kernel, the site wiring, the apps, the facade and the built-in plugins is parsed with
`ast`; each `import x`, `from x import y` (at any depth, also inside functions) and `import_module("x")` with
a literal name is an edge. An edge that crosses a boundary the architecture does not allow fails the test.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("hosts", "tracker", "syncthing_bridge", "synctools", "notifications")
FACADE = "syncerapi"  # syncerapi.v1: re-exports of the hosts app for plugin authors
PLUGINS = "hosts.plugins"  # built-in host plugins: a layer above the facade

# The kernel: the shared modules of the syncsite package. Every app may import them; they import no app.
KERNEL = {
    "syncsite",
    "syncsite.admin",
    "syncsite.admin_site",
    "syncsite.auth",
    "syncsite.config",
    "syncsite.dashboard",
    "syncsite.errors",
    "syncsite.events",
    "syncsite.fields",
    "syncsite.forms",
    "syncsite.heartbeats",
    "syncsite.http",
    "syncsite.models",
    "syncsite.permissions",
    "syncsite.redact",
    "syncsite.schedules",
    "syncsite.taskqueue",
    "syncsite.rest",
    "syncsite.security",
    "syncsite.tokens",
}
# The site wiring: settings, URLs, the dashboard view, the API router, the entry points, the site's own
# AppConfig and management commands. It may import any app; no app imports it.
SITE_WIRING = {
    "syncsite.api",
    "syncsite.apps",
    "syncsite.asgi",
    "syncsite.backup",
    "syncsite.metrics",
    "syncsite.ops",
    "syncsite.settings",
    "syncsite.site_schedules",
    "syncsite.sync_routes",
    "syncsite.urls",
    "syncsite.views",
    "syncsite.wsgi",
}
SITE_WIRING_PACKAGES = ("syncsite.management",)
KERNEL_PACKAGES = ("syncsite.migrations", "syncsite.templatetags")  # the token model's migrations; page formatting

# Doors: what another layer may import of an app.
DOORS = {
    "hosts": ("hosts.services",),
    "tracker": ("tracker.services",),
    "syncthing_bridge": ("syncthing_bridge.services", "syncthing_bridge.client"),
    "synctools": ("synctools.services",),
    "notifications": ("notifications.services",),
}
# Which app may go through which other app's door (DESIGN.md): the bridge feeds the tracker, and hosts
# through the facade; nothing else crosses.
ALLOWED_CROSSINGS = {("syncthing_bridge", "tracker")}
FACADE_USERS = {"syncthing_bridge", PLUGINS}

# Known violations, to be removed by the changes named in the reasons. Keep this list short.
ALLOWED: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for top in ("syncsite", FACADE, *APPS):
        for path in sorted((ROOT / top).rglob("*.py")):
            files[_module_name(path)] = path
    return files


SOURCES = _sources()


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str, path: Path) -> set[str]:
    """The project modules `module` imports, as the most specific module name each import statement names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            origin = _resolve(module, path.name == "__init__.py", node)
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                targets.add(submodule if submodule in SOURCES else origin)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "import_module" and isinstance(node.args[0].value, str):
                targets.add(node.args[0].value)
    return {t for t in targets if t.split(".")[0] in {"syncsite", FACADE, *APPS}}


@dataclass(frozen=True)
class Layer:
    kind: str  # kernel, wiring, app, facade, plugins
    app: str = ""


def layer_of(module: str) -> Layer:
    if module in KERNEL or any(_within(module, p) for p in KERNEL_PACKAGES):
        return Layer("kernel")
    if module in SITE_WIRING or any(_within(module, p) for p in SITE_WIRING_PACKAGES):
        return Layer("wiring")
    if _within(module, FACADE):
        return Layer("facade")
    if _within(module, PLUGINS):
        return Layer("plugins")
    app = module.split(".")[0]
    if app in APPS:
        return Layer("app", app)
    raise AssertionError(f"{module} is in no layer: add it to KERNEL or SITE_WIRING (and docs/architecture.md)")


def _through_door(target: str, app: str) -> bool:
    return any(_within(target, door) for door in DOORS[app])


def refusal(source: str, target: str) -> str | None:
    """Why the edge source -> target breaks the architecture, or None when it is allowed."""
    src, dst = layer_of(source), layer_of(target)
    if src.kind == "wiring":
        return None
    if dst.kind == "wiring":
        return "nothing below the site wiring imports it"
    if src.kind == "kernel":
        return None if dst.kind == "kernel" else "the kernel imports no app"
    if src.kind == "facade":
        return None if dst.kind in ("kernel", "facade") or dst.app == "hosts" else "the facade re-exports hosts only"
    if src.kind == "plugins":
        if dst.kind in ("kernel", "facade", "plugins") or _within(target, "hosts.services"):
            return None
        return "built-in plugins use syncerapi.v1 (or the hosts door), not hosts internals"
    # an app
    if dst.kind == "kernel":
        return "synctools depends on Django only" if src.app == "synctools" else None
    if dst.kind == "plugins":
        return "the hosts core never imports the built-in plugins"
    if dst.kind == "facade":
        return None if src.app in FACADE_USERS else f"{src.app} does not use syncerapi.v1"
    if dst.app == src.app:
        return None
    if not _through_door(target, dst.app):
        return f"{target} is not a door of {dst.app} ({', '.join(DOORS[dst.app])})"
    if (src.app, dst.app) not in ALLOWED_CROSSINGS:
        return f"{src.app} may not depend on {dst.app}"
    return None


def import_graph() -> dict[str, set[str]]:
    return {module: imports_of(module, path) for module, path in SOURCES.items()}


def test_every_module_is_in_a_layer():
    for module in SOURCES:
        layer_of(module)
    assert set(SOURCES) >= KERNEL | SITE_WIRING, "KERNEL/SITE_WIRING name modules that do not exist"


def test_imports_follow_the_layers():
    broken = []
    for source, targets in import_graph().items():
        for target in sorted(targets):
            reason = refusal(source, target)
            if reason and (source, target) not in ALLOWED:
                broken.append(f"{source} -> {target}: {reason}")
    assert not broken, "imports across the architecture's boundaries:\n" + "\n".join(broken)


def test_the_allowed_violations_still_exist():
    """An entry of ALLOWED that no longer happens must go, so the list only ever shrinks."""
    graph = import_graph()
    stale = [edge for edge in ALLOWED if edge[1] not in graph.get(edge[0], set()) or refusal(*edge) is None]
    assert not stale, f"remove from ALLOWED: {stale}"


def test_the_checker_sees_what_it_must():
    """The rules themselves, on edges the project must never have."""
    assert refusal("syncsite.rest", "hosts.services") == "the kernel imports no app"
    assert refusal("tracker.views", "hosts.models") == "hosts.models is not a door of hosts (hosts.services)"
    assert refusal("tracker.views", "hosts.services") == "tracker may not depend on hosts"
    assert refusal("syncthing_bridge.services", "tracker.models") is not None
    assert refusal("syncthing_bridge.services", "tracker.services") is None
    assert refusal("syncthing_bridge.plugins.inventory", "syncerapi.v1.core") is None
    assert refusal("hosts.api.views", "hosts.plugins.exports") == "the hosts core never imports the built-in plugins"
    assert refusal("hosts.plugins.sources", "hosts.normalize") is not None
    assert refusal("synctools.client", "syncsite.http") == "synctools depends on Django only"
    assert refusal("hosts.models", "syncsite.settings") == "nothing below the site wiring imports it"
    assert refusal("syncsite.urls", "tracker.views") is None
    tree = ast.parse("def f():\n    from ..services import x\n    import_module('tracker.models')\n")
    path = ROOT / "syncthing_bridge" / "api" / "views.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.add(_resolve("syncthing_bridge.api.views", False, node))
    assert found == {"syncthing_bridge.services"} and path.exists()
