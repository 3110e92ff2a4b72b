"""Where the gateway calls the seed's four providers (only rows still blank are filled)."""

from django.db import migrations

DEFAULTS = {
    # key: (api_base, api_format, upstream_model, api_key_env)
    "claude-sonnet-4": ("https://api.anthropic.com", "anthropic", "claude-sonnet-4-20250514", "ANTHROPIC_API_KEY"),
    "gpt-4-turbo": ("https://api.openai.com/v1", "openai", "gpt-4-turbo", "OPENAI_API_KEY"),
    "gemini-pro": (
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "openai",
        "gemini-2.5-pro",
        "GEMINI_API_KEY",
    ),
    # Ollama's default address and its OpenAI-compatible API; it needs no key.
    "local-llama": ("http://127.0.0.1:11434/v1", "openai", "llama3.1", ""),
}


def load(apps, schema_editor):
    Provider = apps.get_model("llmrouter", "Provider")
    for key, (base, fmt, model, key_env) in DEFAULTS.items():
        Provider.objects.filter(key=key, api_base="").update(
            api_base=base, api_format=fmt, upstream_model=model, api_key_env=key_env
        )


def unload(apps, schema_editor):
    Provider = apps.get_model("llmrouter", "Provider")
    for key, (base, _fmt, _model, _env) in DEFAULTS.items():
        Provider.objects.filter(key=key, api_base=base).update(api_base="", upstream_model="", api_key_env="")


class Migration(migrations.Migration):
    dependencies = [("llmrouter", "0004_gateway")]
    operations = [migrations.RunPython(load, unload)]
