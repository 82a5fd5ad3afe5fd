"""Pages of syncthing_bridge, for people."""

from django.urls import path

from syncthing_bridge import views

app_name = "syncthing"

urlpatterns = [path("", views.index, name="index")]
