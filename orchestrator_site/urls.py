"""URL configuration: admin, health, REST API, schema, metrics.

Each app owns its own ``urls`` module; this file only mounts them.
"""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
]
