"""syncerapi.v1.rest: API (register DRF viewsets under /api/v1/) and require_token (authentication)."""

from hosts.api.registry import API, require_token

__all__ = ["API", "require_token"]
