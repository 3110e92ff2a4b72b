from django.apps import AppConfig


class LlmrouterConfig(AppConfig):
    name = "llmrouter"
    label = "llmrouter"
    verbose_name = "LLM router"

    def ready(self) -> None:
        from llmrouter import checks  # noqa: F401  (registers the system checks)
