"""Pages of tracker, for people: the monitoring page, the path tree and a file's page (history, lock, comment)."""

from django.urls import path

from tracker import views

app_name = "tracker"

urlpatterns = [
    path("", views.index, name="index"),
    path("tree/", views.tree, name="tree"),
    path("file/", views.file_detail, name="file"),
    path("file/action/", views.file_action, name="file_action"),
]
