from django.apps import AppConfig


class OrchestratorConfig(AppConfig):
    name = "orchestrator_site.orchestrator"
    label = "orchestrator"
    verbose_name = "Orchestrator"
