"""URLconf of the source site in the synctools tests: test routes, a control endpoint, media, then the site."""

import json

from django.conf import settings
from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.static import serve

from syncsite.urls import urlpatterns as site_urlpatterns
from tests.synctools import routes, scenarios


@csrf_exempt
def control(request, name):
    """Runs a scenario function of tests.synctools.scenarios in this process (test-only endpoint)."""
    if name.startswith("_") or not hasattr(scenarios, name):
        return JsonResponse({"detail": f"no scenario {name}"}, status=404)
    kwargs = json.loads(request.body or b"{}")
    return JsonResponse({"result": getattr(scenarios, name)(**kwargs)})


urlpatterns = [
    path("test/sync/", include(routes.route.urls)),
    path("test/control/<str:name>", control),
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    *site_urlpatterns,
]
