from django.apps import AppConfig


class ManagerConfig(AppConfig):
    name = "agents.manager"
    label = "manager"
    verbose_name = "Manager agent"
