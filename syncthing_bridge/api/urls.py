"""REST endpoints of syncthing_bridge, mounted by syncsite.urls under /api/v1/."""

urlpatterns: list = []
