"""Where plugins add REST endpoints under /api/v1/ (syncerapi.v1.rest.API) and how they protect them.

hosts/api/urls.py includes `API.urlpatterns`, a live list: routes registered later (after the URLconf
was first loaded) are appended to it and Django's resolver caches are cleared.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, clear_url_caches, include, path
from rest_framework import exceptions
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.routers import SimpleRouter
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework.viewsets import ViewSetMixin


class ApiRegistry:
    """Plugins' REST endpoints: viewsets (router-style routes) or any list of URL patterns."""

    def __init__(self) -> None:
        self.urlpatterns: list[URLPattern | URLResolver] = []
        self._prefixes: set[str] = set()

    def _claim(self, prefix: str) -> str:
        prefix = prefix.strip("/")
        if not prefix:
            raise ValueError("a plugin endpoint needs a non-empty prefix")
        if prefix in self._prefixes:
            raise ValueError(f"the API prefix {prefix!r} is already registered")
        self._prefixes.add(prefix)
        return prefix

    def register(self, prefix: str, viewset: type, basename: str | None = None) -> None:
        """Route a DRF viewset at /api/v1/<prefix>/ like a DRF router would."""
        prefix = self._claim(prefix)
        router = SimpleRouter()
        router.register(prefix, viewset, basename=basename)
        self.urlpatterns.extend(router.urls)
        clear_url_caches()

    def add_path(self, route: str, view: Callable[..., Any], name: str | None = None) -> None:
        """Route one view (function or APIView.as_view()) at /api/v1/<route>."""
        self._claim(route)
        self.urlpatterns.append(path(route, view, name=name))
        clear_url_caches()

    def add_namespace(self, namespace: Any, path: str) -> None:
        """The Flask-RESTX-style entry point: a viewset class, an APIView class, or a list of URL patterns."""
        if isinstance(namespace, type) and issubclass(namespace, ViewSetMixin):
            self.register(path, namespace)
        elif isinstance(namespace, type) and issubclass(namespace, APIView):
            self.add_path(path.strip("/") + "/", namespace.as_view())
        elif isinstance(namespace, list | tuple):
            prefix = self._claim(path)
            self.urlpatterns.append(_include_path(prefix + "/", list(namespace)))
            clear_url_caches()
        else:
            raise TypeError("add_namespace takes a ViewSet class, an APIView class or a list of URL patterns")

    def prefixes(self) -> list[str]:
        return sorted(self._prefixes)

    def unregister(self, prefix: str) -> None:
        """Remove a plugin's routes (mostly for tests)."""
        prefix = prefix.strip("/")
        self._prefixes.discard(prefix)
        self.urlpatterns[:] = [p for p in self.urlpatterns if not str(p.pattern).lstrip("^").startswith(prefix)]
        clear_url_caches()


def _include_path(route: str, patterns: list) -> URLResolver:
    return path(route, include(patterns))


API = ApiRegistry()


class TokenPermission(IsAuthenticated):
    """Authenticated like the rest of the API: token (Bearer/Token) or session."""


def _protect_function(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any):
        drf_request = Request(request, authenticators=[auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES])
        try:
            user = drf_request.user
        except exceptions.APIException as exc:
            return JsonResponse({"detail": str(exc.detail)}, status=exc.status_code)
        if not user or not user.is_authenticated:
            return JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
        request.user = user
        return view(request, *args, **kwargs)

    wrapper.csrf_exempt = getattr(view, "csrf_exempt", False)
    return wrapper


class require_token(BasePermission):
    """Use as a DRF permission (`permission_classes = [require_token]`) or as a decorator on a view.

    Decorating an APIView/ViewSet class adds the permission; decorating a function view checks the
    token (or session) before calling it and answers 401 `{"detail": ...}` otherwise.
    """

    def __new__(cls, view: Any = None):
        if view is None:
            return super().__new__(cls)
        if isinstance(view, type) and issubclass(view, APIView):
            view.permission_classes = [*view.permission_classes, TokenPermission]
            return view
        if callable(view):
            if hasattr(view, "cls") and issubclass(view.cls, APIView):  # an @api_view function
                view.cls.permission_classes = [*view.cls.permission_classes, TokenPermission]
                return view
            return _protect_function(view)
        raise TypeError("require_token decorates a view or is used as a permission class")

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)
