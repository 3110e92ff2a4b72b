from django.apps import AppConfig


class SemanticConfig(AppConfig):
    name = "agents.semantic"
    label = "semantic"
    verbose_name = "Semantic agent"
