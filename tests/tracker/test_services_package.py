"""The tracker's door is a package: every name it promises is the function or class, not a submodule."""

from __future__ import annotations

import inspect

from tracker import services


def test_every_exported_name_is_no_module():
    shadowed = [name for name in services.__all__ if inspect.ismodule(getattr(services, name))]
    assert not shadowed, f"a submodule of tracker.services hides these names: {shadowed}"


def test_tracker_errors_are_domain_errors_the_kernel_handler_answers():
    from syncsite.errors import DomainError
    from syncsite.rest import exception_handler

    assert issubclass(services.TrackerError, DomainError)
    response = exception_handler(services.NotFound("volume x not found", "x"), {})
    assert response.status_code == 404
    assert response.data == {"detail": "volume x not found"}
    assert exception_handler(services.Forbidden("no"), {}).status_code == 403
