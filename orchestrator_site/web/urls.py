"""The web app's routes, mounted at the site root by orchestrator_site/urls.py."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from orchestrator_site.web import api, dashboard, docs_view, front, metrics_view

# DRF puts trailing_slash into its URL regexes: "/?" makes the slash optional (the stubs want a bool).
router = SimpleRouter(trailing_slash="/?")  # type: ignore[arg-type]
router.register("api/agents", api.AgentViewSet, basename="agent")
router.register("api/namespaces", api.NamespaceViewSet, basename="namespace")

urlpatterns = [
    path("", front.front_page, name="front"),
    path("api/request", api.AgentRequestView.as_view(), name="agent-request"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", docs_view.api_docs, name="api-docs"),
    path("metrics", metrics_view.metrics, name="metrics"),
    path("admin/dashboard/", dashboard.dashboard, name="admin-dashboard"),
    path("", include(router.urls)),
]
