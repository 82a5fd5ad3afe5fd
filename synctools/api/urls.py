"""REST endpoints of synctools, mounted by syncsite.urls under /api/v1/."""

urlpatterns: list = []
