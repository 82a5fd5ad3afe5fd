"""REST endpoints of tracker, mounted by syncsite.urls under /api/v1/."""

urlpatterns: list = []
