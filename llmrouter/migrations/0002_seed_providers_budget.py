"""The seed's four providers, its $100 daily budget and the default weights."""

from decimal import Decimal

from django.db import migrations

PROVIDERS = [
    # key, name, $/1M, context, latency ms, quality, capabilities
    (
        "claude-sonnet-4",
        "Claude Sonnet 4",
        "15.00",
        200000,
        2000,
        0.95,
        ["coding", "reasoning", "creative", "analysis"],
    ),
    ("gpt-4-turbo", "GPT-4 Turbo", "10.00", 128000, 1500, 0.90, ["coding", "reasoning", "creative"]),
    ("gemini-pro", "Gemini Pro", "7.00", 32000, 1200, 0.85, ["reasoning", "creative", "analysis"]),
    ("local-llama", "Local Llama", "0.00", 8000, 800, 0.75, ["coding", "reasoning"]),
]


def load(apps, schema_editor):
    Provider = apps.get_model("llmrouter", "Provider")
    for order, (key, name, cost, context, latency, quality, caps) in enumerate(PROVIDERS):
        Provider.objects.get_or_create(
            key=key,
            defaults={
                "name": name,
                "cost_per_1m": Decimal(cost),
                "context_window": context,
                "latency_ms": latency,
                "quality": quality,
                "capabilities": caps,
                "display_order": order * 10,
            },
        )
    apps.get_model("llmrouter", "Budget").objects.get_or_create(
        name="Daily", defaults={"amount": Decimal("100.00"), "period": "daily", "timezone": "UTC"}
    )
    apps.get_model("llmrouter", "RouterWeights").objects.get_or_create(pk=1)


def unload(apps, schema_editor):
    apps.get_model("llmrouter", "Provider").objects.filter(key__in=[p[0] for p in PROVIDERS]).delete()
    apps.get_model("llmrouter", "Budget").objects.filter(name="Daily").delete()


class Migration(migrations.Migration):
    dependencies = [("llmrouter", "0001_initial")]
    operations = [migrations.RunPython(load, unload)]
