"""REST endpoints of hosts, mounted by syncsite.urls under /api/v1/."""

urlpatterns: list = []
