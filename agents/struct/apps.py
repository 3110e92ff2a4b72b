from django.apps import AppConfig


class StructConfig(AppConfig):
    name = "agents.struct"
    label = "struct"
    verbose_name = "Struct agent"
