"""Pages of syncthing_bridge, for people."""

urlpatterns: list = []
