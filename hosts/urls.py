"""Pages of hosts, for people."""

from django.urls import path

from hosts import views

app_name = "hosts"

urlpatterns = [
    path("", views.host_list, name="list"),
    path("-/rules/test/", views.rule_tester, name="rule_tester"),
    path("-/accounts/", views.accounts, name="accounts"),
    path("-/runs/<int:pk>/", views.run_detail, name="run"),
    path("-/runs/now/", views.run_now, name="run_now"),
    path("<str:name>/", views.host_detail, name="detail"),
]
