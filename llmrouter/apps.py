from django.apps import AppConfig


class LlmrouterConfig(AppConfig):
    name = "llmrouter"
    label = "llmrouter"
    verbose_name = "LLM router"
