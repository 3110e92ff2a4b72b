from __future__ import annotations

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "orchestrator_site.web"
    label = "web"
    verbose_name = "Web interfaces"
