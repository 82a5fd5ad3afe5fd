"""Pages of tracker, for people."""

urlpatterns: list = []
