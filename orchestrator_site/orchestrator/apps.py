from django.apps import AppConfig


class OrchestratorConfig(AppConfig):
    name = "orchestrator_site.orchestrator"
    label = "orchestrator"
    verbose_name = "Orchestrator"

    def ready(self) -> None:
        from orchestrator_site.orchestrator import checks  # noqa: F401  (registers the system checks)
