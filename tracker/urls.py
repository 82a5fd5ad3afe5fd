"""Pages of tracker, for people: the monitoring page and a file's history."""

from django.urls import path

from tracker import views

app_name = "tracker"

urlpatterns = [
    path("", views.index, name="index"),
    path("file/", views.file_detail, name="file"),
]
