"""Pages of synctools, for people."""

urlpatterns: list = []
