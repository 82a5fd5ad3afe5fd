"""The tracker's door is a package: every name it promises is the function or class, not a submodule."""

from __future__ import annotations

import inspect

from tracker import services


def test_every_exported_name_is_no_module():
    shadowed = [name for name in services.__all__ if inspect.ismodule(getattr(services, name))]
    assert not shadowed, f"a submodule of tracker.services hides these names: {shadowed}"
