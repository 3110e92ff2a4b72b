from django.apps import AppConfig


class NamingConfig(AppConfig):
    name = "agents.naming"
    label = "naming"
    verbose_name = "Naming agent"
