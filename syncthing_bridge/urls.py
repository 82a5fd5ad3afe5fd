"""Pages of syncthing_bridge, for people."""

from django.urls import path

from syncthing_bridge import views

app_name = "syncthing"

urlpatterns = [
    path("", views.index, name="index"),
    path("state/", views.state, name="state"),
    path("instances/<int:pk>/accept-device/", views.accept_device, name="accept_device"),
    path("instances/<int:pk>/accept-folder/", views.accept_folder, name="accept_folder"),
]
