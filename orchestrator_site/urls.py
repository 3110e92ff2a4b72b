"""URL configuration: admin, health, REST API, schema, metrics.

The web package's ``urls`` (agents, requests, schema, metrics) and ``router_urls`` (the router's
REST API) hold the routes; this file only mounts them.
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
    path("", include("orchestrator_site.web.router_urls")),
]
