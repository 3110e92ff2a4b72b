"""URL configuration: admin, health, REST API, schema, metrics.

Each app owns its own ``urls`` module; this file only mounts them.
"""
from django.contrib import admin
from django.urls import include, path

from orchestrator_site import health

admin.site.site_header = "Orchestrator"
admin.site.site_title = "Orchestrator admin"
admin.site.index_title = "Operations"

urlpatterns = [
    # Before admin/: it holds /admin/dashboard/, which admin's catch-all would swallow.
    path("", include("orchestrator_site.web.urls")),
    path("admin/", admin.site.urls),
    path("health", health.health, name="health"),
    path("", include("llmrouter.urls")),
]
