"""URL configuration: admin, health, REST API, schema, metrics.

Each app owns its own ``urls`` module; this file only mounts them.
"""
from django.contrib import admin
from django.urls import include, path

from orchestrator_site import health

urlpatterns = [
    # Before admin/: it holds /admin/dashboard/, which admin's catch-all would swallow.
    path("", include("orchestrator_site.web.urls")),
    path("admin/", admin.site.urls),
    path("health", health.health, name="health"),
    path("", include("llmrouter.urls")),
]
