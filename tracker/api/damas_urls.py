"""The damas-core compatible routes, mounted by syncsite.urls under /api/ (see shared TRACKER.md)."""

urlpatterns: list = []
