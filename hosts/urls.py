"""Pages of hosts, for people."""

urlpatterns: list = []
