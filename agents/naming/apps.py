from django.apps import AppConfig


class NamingConfig(AppConfig):
    name = "agents.naming"
    label = "naming"
    verbose_name = "Naming agent"

    def ready(self) -> None:
        from agents.naming import checks  # noqa: F401 - registers the system checks
